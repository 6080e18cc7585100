package io.ferry.derive;

import io.ferry.format.DType;
import java.util.List;
import java.util.Objects;

/**
 * What a derivation did to one source tensor. Immutable.
 *
 * @param name the source tensor
 * @param action what was done
 * @param reason why a tensor was kept (null otherwise)
 * @param sourceDtype its dtype in the source
 * @param shape its (logical) shape
 * @param outputs the tensors written for it, each with its dtype, e.g. {@code W} (I8) and {@code W.scale} (F32)
 * @param metrics error against the source as recorded, null for kept tensors
 * @param compared whether metrics compare with source values (false: only sparsity is known)
 */
public record TensorReport(String name, Action action, String reason, DType sourceDtype, List<Long> shape,
    List<Output> outputs, MetricFigures metrics, boolean compared) {
  public TensorReport {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(action, "action");
    Objects.requireNonNull(sourceDtype, "sourceDtype");
    shape = List.copyOf(shape);
    outputs = List.copyOf(outputs);
    if ((action == Action.KEPT) != (reason != null)) {
      throw new IllegalArgumentException("tensor '" + name + "': a reason is given for kept tensors and only for "
          + "them, got " + action + " with reason " + reason);
    }
    if ((action == Action.KEPT) != (metrics == null)) {
      throw new IllegalArgumentException("tensor '" + name + "': metrics are given for changed tensors and only "
          + "for them, got " + action + (metrics == null ? " without metrics" : " with metrics"));
    }
  }

  /** What a derivation did to a tensor; {@link #label()} is how reports and the CLI spell it. */
  public enum Action {
    CAST, QUANTIZED, DEQUANTIZED, PRUNED, KEPT;

    /** The lower-case name used in {@code ferry-derivation.json}. */
    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** One tensor written for a source tensor. */
  public record Output(String name, DType dtype, List<Long> shape) {
    public Output {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(dtype, "dtype");
      shape = List.copyOf(shape);
    }

    /** Bytes of the tensor: its elements (the product of the shape) in its dtype. */
    public long byteLength() {
      long n = 1;
      for (long d : shape) {
        n = Math.multiplyExact(n, d);
      }
      return dtype.byteLength(n);
    }
  }

  public boolean changed() {
    return action != Action.KEPT;
  }
}
