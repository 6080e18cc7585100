package io.ferry.format;

import java.util.List;
import java.util.Objects;

/**
 * One tensor of a tensor file: its name, element type, shape and the byte range {@code [begin, end)} it occupies,
 * relative to the start of the file's data section. Immutable.
 *
 * <p>The constructor checks only what holds for any tensor table (no nulls, {@code 0 <= begin <= end}, no negative
 * dimension); format readers check that the range matches the shape and type and that tensors tile the data.
 *
 * @param name the tensor's name in the file
 * @param dtype its element type
 * @param shape its dimensions, outermost first; empty for a scalar
 * @param begin first byte, relative to the data section
 * @param end one past the last byte, relative to the data section
 */
public record TensorInfo(String name, DType dtype, List<Long> shape, long begin, long end) {
  /**
   * Validates and copies the shape.
   *
   * @throws NullPointerException if name, dtype, shape or a dimension is null
   * @throws IllegalArgumentException if begin is negative, end is before begin, or a dimension is negative
   */
  public TensorInfo {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(dtype, "dtype");
    shape = List.copyOf(Objects.requireNonNull(shape, "shape"));
    if (begin < 0 || end < begin) {
      throw new IllegalArgumentException(
          "tensor '" + name + "': invalid byte range [" + begin + ", " + end + ")");
    }
    for (Long d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("tensor '" + name + "': negative dimension in shape " + shape);
      }
    }
  }

  /**
   * The number of elements: the product of the shape, 1 for a scalar ({@code []}), 0 if any dimension is 0.
   *
   * @throws ArithmeticException if the product overflows a long (readers never produce such a tensor)
   */
  public long elements() {
    if (shape.contains(0L)) {
      return 0;
    }
    long n = 1;
    for (long d : shape) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  /** The number of bytes the tensor occupies: {@code end - begin}. */
  public long byteLength() {
    return end - begin;
  }

  /** The size of the first dimension, or 1 for a scalar. */
  public long rows() {
    return shape.isEmpty() ? 1 : shape.get(0);
  }

  /**
   * The bytes of one index along the first dimension (a "row"), so that rows {@code [a, b)} occupy bytes
   * {@code [begin + a * rowBytes, begin + b * rowBytes)}.
   *
   * @return the row size, or -1 meaning "not splittable by rows": for a scalar, when a row of a sub-byte type is
   *     not a whole number of bytes (e.g. a 1-D F4 tensor), when a row of a block type is not a whole number of
   *     blocks (a 1-D Q4_0 tensor), or when the row size does not fit a long
   */
  public long rowBytes() {
    if (shape.isEmpty()) {
      return -1;
    }
    try {
      long perRow = 1;
      for (int i = 1; i < shape.size(); i++) {
        perRow = Math.multiplyExact(perRow, shape.get(i));
      }
      if (perRow % dtype.blockSize() != 0) {
        return -1;
      }
      long bits = Math.multiplyExact(perRow / dtype.blockSize(), (long) dtype.bits());
      return bits % 8 == 0 ? bits / 8 : -1;
    } catch (ArithmeticException e) {
      return -1;
    }
  }
}
