package io.ferry.format;

import java.util.List;
import java.util.Objects;

/**
 * One byte range {@code [start, end)} of a file's {@link FileLayout}, in absolute file offsets: a header (bytes that
 * describe the file), padding (bytes a format inserts for alignment), or a tensor. Immutable.
 */
public sealed interface Region permits Region.Header, Region.Padding, Region.Tensor {
  /** First byte, an absolute offset in the file. */
  long start();

  /** One past the last byte. */
  long end();

  /** {@code end - start}. */
  default long length() {
    return end() - start();
  }

  /**
   * Bytes that describe the file: a length field and JSON, magic and key-value pairs, a table of contents. A layout may
   * hold several (a trailer, the graph bytes between ONNX initializers); each run of header and padding regions
   * between two tensors is cut as one chunk, never split.
   */
  record Header(long start, long end) implements Region {
    /** @throws IllegalArgumentException unless {@code 0 <= start <= end} */
    public Header {
      checkRange("header", start, end);
    }
  }

  /** Bytes a format inserts only to align what follows (GGUF's alignment, zip entries in 64-byte steps). */
  record Padding(long start, long end) implements Region {
    /** @throws IllegalArgumentException unless {@code 0 <= start <= end} */
    public Padding {
      checkRange("padding", start, end);
    }
  }

  /**
   * The bytes of one tensor.
   *
   * @param name the tensor's name in the file
   * @param dtype its element type
   * @param shape its dimensions, outermost first; empty for a scalar
   * @param start first byte in the file
   * @param end one past the last byte
   * @param rowBytes the bytes of one index of the outermost dimension, so that a big tensor can be cut on row
   *     boundaries; -1 when it cannot be cut by rows (a scalar, rows that are not whole bytes)
   */
  record Tensor(String name, DType dtype, List<Long> shape, long start, long end, long rowBytes) implements Region {
    /**
     * Validates and copies the shape.
     *
     * @throws NullPointerException if name, dtype, shape or a dimension is null
     * @throws IllegalArgumentException if the range is invalid, a dimension is negative, or {@code rowBytes} is neither
     *     -1 nor a positive divisor of the length
     */
    public Tensor {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(dtype, "dtype");
      shape = List.copyOf(Objects.requireNonNull(shape, "shape"));
      checkRange("tensor '" + name + "'", start, end);
      for (Long d : shape) {
        if (d < 0) {
          throw new IllegalArgumentException("tensor '" + name + "': negative dimension in shape " + shape);
        }
      }
      if (rowBytes != -1 && (rowBytes <= 0 || (end - start) % rowBytes != 0)) {
        throw new IllegalArgumentException("tensor '" + name + "': row size " + rowBytes + " does not divide its "
            + (end - start) + " bytes (expected a positive divisor, or -1 for no rows)");
      }
    }

    /**
     * The region of a tensor whose offsets are relative to {@code dataStart}, with rows as
     * {@link TensorInfo#rowBytes()} gives them (a row of 0 bytes, in a tensor with no elements, counts as no rows).
     */
    public static Tensor of(TensorInfo t, long dataStart) {
      long row = t.rowBytes();
      return new Tensor(t.name(), t.dtype(), t.shape(), dataStart + t.begin(), dataStart + t.end(),
          row > 0 ? row : -1);
    }

    /** The tensor with its offsets relative to {@code dataStart}, as snapshots record it. */
    public TensorInfo info(long dataStart) {
      return new TensorInfo(name, dtype, shape, start - dataStart, end - dataStart);
    }
  }

  private static void checkRange(String what, long start, long end) {
    if (start < 0 || end < start) {
      throw new IllegalArgumentException(what + ": invalid byte range [" + start + ", " + end + ")");
    }
  }
}
