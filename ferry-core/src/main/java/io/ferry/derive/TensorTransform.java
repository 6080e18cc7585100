package io.ferry.derive;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One derivation method applied tensor by tensor ({@link CastTransform}, {@link QuantizeTransform}, {@link
 * DequantizeTransform}, {@link PruneTransform}). The {@link Deriver} first plans every source tensor with {@link
 * #plan} (before anything is read or written, so that bad input fails early), places the outputs, then streams each
 * changed tensor through a {@link Worker} in blocks of whole rows: the transform never reads or writes storage
 * itself. A transform is immutable once built and thread-safe; a worker serves one tensor on one thread.
 */
interface TensorTransform {
  /** The float dtypes that cast, quantize and prune read. */
  Set<DType> FLOATS = Set.of(DType.F32, DType.F16, DType.BF16, DType.F64);

  /**
   * What happens to a tensor that the derivation's filter lets through.
   *
   * @return the plan, or null for a tensor that belongs to another one and is neither written nor reported (the
   *     scales and zero points of a tensor being dequantized)
   * @throws InvalidInputException if the tensor cannot be planned (a companion tensor that the plan needs is missing)
   */
  TensorPlan plan(TensorInfo tensor) throws InvalidInputException;

  /** The {@code __metadata__} of an output file, given its source file's and the plans of its tensors. */
  default Map<String, String> fileMetadata(Map<String, String> source, List<TensorPlan> plans) {
    return source;
  }

  /**
   * The error for a source in which no tensor changes.
   *
   * @param what the source version and a count of its tensors by dtype, for the message
   * @param plans the plans of every tensor
   */
  DerivationInputException nothingToDo(String what, List<TensorPlan> plans);

  /**
   * The elements of the plan's logical shape that the workers treat on their own, as a run in row-major order: one
   * for a cast or a prune (each element on its own), a group for a quantization; by default a row. It divides a row.
   * A tensor whose rows are longer than a block is handed to the workers as runs of units, in blocks of whole units;
   * a unit longer than a block comes in parts (see {@link Block}), so that memory stays bounded whatever the rows.
   */
  default long unit(TensorPlan plan) {
    return plan.shape().isEmpty() ? 1 : plan.elements() / plan.shape().get(0);
  }

  /**
   * Why a tensor planned as changed is reported as kept when its worker wrote it byte for byte as it was (a prune that
   * found nothing to zero).
   */
  default String unchanged(TensorPlan plan) {
    return "its values are unchanged";
  }

  /**
   * A worker for one changed tensor.
   *
   * @param maxElements the most elements (of the plan's logical shape) a block will hold
   */
  Worker worker(TensorPlan plan, int maxElements);

  /**
   * Transforms one tensor, block by block in row order: first {@link #scanPasses()} read-only passes over every
   * block (each followed by {@link #endScan}), then one pass of {@link #apply}. Holds per-tensor scratch space and
   * state; not thread-safe.
   */
  interface Worker {
    /** Read-only passes needed before the writing pass (pruning to a sparsity finds its threshold so). */
    default int scanPasses() {
      return 0;
    }

    /** Reads one block during read-only pass {@code pass} (from 0); the block has no outputs. */
    default void scan(int pass, Block block) {}

    /** Called after the last block of read-only pass {@code pass}. */
    default void endScan(int pass) {}

    /**
     * Writes the outputs of one block and adds each element's source and derived value to {@code metrics}.
     *
     * @throws InvalidInputException if the block holds a value the method cannot take (a NaN to quantize)
     */
    void apply(Block block, ErrorMetrics.Accumulator metrics) throws InvalidInputException;
  }

  /**
   * Consecutive elements of one tensor: whole rows, whole units ({@link TensorTransform#unit}), or a part of one unit
   * larger than a block.
   *
   * @param firstElement the index of the first element in the tensor's logical shape, in row-major order
   * @param rows the rows or units of the block, each of {@code elements / rows} elements; 1 for a part of a unit
   * @param elements elements of the plan's logical shape in the block
   * @param in one buffer per plan input holding exactly these elements, little-endian, from its position; for a part
   *     of a unit, an input with one element per unit (a group's scale or zero point) holds that unit's
   * @param reference these elements of the plan's reference tensor in the same form, or null
   * @param out one buffer per plan output, little-endian, position 0 and limit at the bytes of these elements (for a
   *     part of a unit, an output with one element per unit holds that unit's, and is written for every part): the
   *     worker fills every byte of it (relative or absolute writes); empty during read-only passes
   */
  record Block(long firstElement, int rows, int elements, List<ByteBuffer> in, ByteBuffer reference,
      List<ByteBuffer> out) {}
}
