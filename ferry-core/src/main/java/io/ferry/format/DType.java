package io.ferry.format;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The element types of safetensors files, spelled exactly as in the format, with their size in bits.
 *
 * <p>Sub-byte types ({@link #F4}: 4 bits, {@link #F6_E2M3} and {@link #F6_E3M2}: 6 bits) are packed. The reference
 * implementation ({@code huggingface/safetensors}, {@code Metadata::validate} and {@code TensorView::new} in
 * {@code safetensors/src/tensor.rs}) computes a tensor's size as {@code elements × bits} and rejects the tensor with
 * {@code MisalignedSlice} when that is not a multiple of 8; it never rounds a partial byte up. {@link #byteLength}
 * follows the same rule and throws instead of rounding.
 */
public enum DType {
  /** Boolean, one byte per element. */
  BOOL(8, false),
  /** Unsigned 8-bit integer. */
  U8(8, false),
  /** Signed 8-bit integer. */
  I8(8, false),
  /** Unsigned 16-bit integer. */
  U16(16, false),
  /** Signed 16-bit integer. */
  I16(16, false),
  /** IEEE half precision. */
  F16(16, true),
  /** bfloat16. */
  BF16(16, true),
  /** Unsigned 32-bit integer. */
  U32(32, false),
  /** Signed 32-bit integer. */
  I32(32, false),
  /** IEEE single precision. */
  F32(32, true),
  /** Unsigned 64-bit integer. */
  U64(64, false),
  /** Signed 64-bit integer. */
  I64(64, false),
  /** IEEE double precision. */
  F64(64, true),
  /** Complex number of two 32-bit floats. Not reported by {@link #isFloat()}: it is not a real-valued float. */
  C64(64, false),
  /** FP8 with 4 exponent and 3 mantissa bits. */
  F8_E4M3(8, true),
  /** FP8 with 5 exponent and 2 mantissa bits. */
  F8_E5M2(8, true),
  /** OCP microscaling scale type: 8 exponent bits, no mantissa. */
  F8_E8M0(8, true),
  /** FP8 E4M3, finite with unsigned zero (FNUZ). */
  F8_E4M3FNUZ(8, true),
  /** FP8 E5M2, finite with unsigned zero (FNUZ). */
  F8_E5M2FNUZ(8, true),
  /** OCP MXFP4 (E2M1), 4 bits, two elements per byte. */
  F4(4, true),
  /** OCP MXFP6 with 2 exponent and 3 mantissa bits, 6 bits per element. */
  F6_E2M3(6, true),
  /** OCP MXFP6 with 3 exponent and 2 mantissa bits, 6 bits per element. */
  F6_E3M2(6, true);

  private static final Map<String, DType> BY_NAME;

  static {
    Map<String, DType> m = new HashMap<>();
    for (DType t : values()) {
      m.put(t.name(), t);
    }
    BY_NAME = Map.copyOf(m);
  }

  private final int bits;
  private final boolean isFloat;

  DType(int bits, boolean isFloat) {
    this.bits = bits;
    this.isFloat = isFloat;
  }

  /** The size of one element in bits: 4 for F4, 6 for F6_*, 8 for BOOL and the 8-bit types, 64 for C64. */
  public int bits() {
    return bits;
  }

  /**
   * Whether this is a real floating-point type: F16, BF16, F32, F64, the F8_* types, F4 and the F6_* types. C64 is
   * complex and reports false, so that code that treats floats element by element (casts, byte planes) never takes
   * a complex pair for a single value.
   */
  public boolean isFloat() {
    return isFloat;
  }

  /**
   * The type with exactly this safetensors spelling (case-sensitive, as the reference implementation reads it).
   *
   * @return the type, or empty for an unknown or null name
   */
  public static Optional<DType> parse(String name) {
    return name == null ? Optional.empty() : Optional.ofNullable(BY_NAME.get(name));
  }

  /**
   * The number of bytes that {@code elements} elements of this type occupy: {@code elements × bits / 8}. As in the
   * reference implementation, a count whose bits are not a whole number of bytes is an error rather than rounded
   * (so an odd number of F4 elements, or F6 counts that are not a multiple of 4, are rejected).
   *
   * @throws IllegalArgumentException if {@code elements} is negative or {@code elements × bits} is not a multiple of 8
   * @throws ArithmeticException if {@code elements × bits} overflows a long
   */
  public long byteLength(long elements) {
    if (elements < 0) {
      throw new IllegalArgumentException("negative element count " + elements);
    }
    long totalBits = Math.multiplyExact(elements, (long) bits);
    if (totalBits % 8 != 0) {
      throw new IllegalArgumentException(
          elements + " elements of " + name() + " are " + totalBits + " bits, not a whole number of bytes");
    }
    return totalBits / 8;
  }
}
