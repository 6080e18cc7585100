package io.ferry.format;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The element types of tensors, spelled exactly as in the safetensors format, with their size in bits; the element
 * types of ONNX that safetensors lacks ({@code U4}, {@code I4}, {@code U2}, {@code I2}, {@code C128}; see
 * {@link #isSafetensors()}); and the block-quantized types of ggml (GGUF files), spelled as ggml names them
 * ({@code Q4_K}, {@code IQ2_XXS}).
 *
 * <p>A <b>block type</b> ({@link #isBlock()}) stores {@link #blockSize()} elements together in {@link #blockBytes()}
 * bytes (scales and packed values); its elements have no size of their own, so {@link #bits()} is the size of a whole
 * block and {@link #byteLength} counts whole blocks. Element types have a block size of 1. Block types never appear
 * in safetensors files ({@link #parseSafetensors}) and are never cast, quantized or pruned by {@code derive}.
 *
 * <p>Sub-byte types ({@link #F4}, {@link #U4} and {@link #I4}: 4 bits, {@link #F6_E2M3} and {@link #F6_E3M2}: 6 bits,
 * {@link #U2} and {@link #I2}: 2 bits) are packed. The reference
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
  F6_E3M2(6, true),

  // element types of ONNX that safetensors has not (see isSafetensors)
  /** Unsigned 4-bit integer, two elements per byte (ONNX UINT4: the first element in the low 4 bits). */
  U4(4, false),
  /** Signed 4-bit integer (two's complement), two elements per byte (ONNX INT4: the first in the low 4 bits). */
  I4(4, false),
  /** Unsigned 2-bit integer, four elements per byte (ONNX UINT2: the first element in the lowest 2 bits). */
  U2(2, false),
  /** Signed 2-bit integer (two's complement), four elements per byte (ONNX INT2: the first in the lowest 2 bits). */
  I2(2, false),
  /**
   * Complex number of two 64-bit floats (ONNX COMPLEX128, torch.complex128). Not reported by {@link #isFloat()}, as
   * C64.
   */
  C128(128, false),

  // ggml block types (GGUF), with ggml's block size (elements) and type size (bytes of one block)
  /** ggml Q4_0: 32 elements in 18 bytes. */
  Q4_0(32, 18),
  /** ggml Q4_1: 32 elements in 20 bytes. */
  Q4_1(32, 20),
  /** ggml Q5_0: 32 elements in 22 bytes. */
  Q5_0(32, 22),
  /** ggml Q5_1: 32 elements in 24 bytes. */
  Q5_1(32, 24),
  /** ggml Q8_0: 32 elements in 34 bytes. */
  Q8_0(32, 34),
  /** ggml Q8_1: 32 elements in 36 bytes (two F16s, d and s, and 32 int8s). */
  Q8_1(32, 36),
  /** ggml Q2_K: 256 elements in 84 bytes. */
  Q2_K(256, 84),
  /** ggml Q3_K: 256 elements in 110 bytes. */
  Q3_K(256, 110),
  /** ggml Q4_K: 256 elements in 144 bytes. */
  Q4_K(256, 144),
  /** ggml Q5_K: 256 elements in 176 bytes. */
  Q5_K(256, 176),
  /** ggml Q6_K: 256 elements in 210 bytes. */
  Q6_K(256, 210),
  /** ggml Q8_K: 256 elements in 292 bytes. */
  Q8_K(256, 292),
  /** ggml IQ2_XXS: 256 elements in 66 bytes. */
  IQ2_XXS(256, 66),
  /** ggml IQ2_XS: 256 elements in 74 bytes. */
  IQ2_XS(256, 74),
  /** ggml IQ3_XXS: 256 elements in 98 bytes. */
  IQ3_XXS(256, 98),
  /** ggml IQ1_S: 256 elements in 50 bytes. */
  IQ1_S(256, 50),
  /** ggml IQ4_NL: 32 elements in 18 bytes. */
  IQ4_NL(32, 18),
  /** ggml IQ3_S: 256 elements in 110 bytes. */
  IQ3_S(256, 110),
  /** ggml IQ2_S: 256 elements in 82 bytes. */
  IQ2_S(256, 82),
  /** ggml IQ4_XS: 256 elements in 136 bytes. */
  IQ4_XS(256, 136),
  /** ggml IQ1_M: 256 elements in 56 bytes. */
  IQ1_M(256, 56),
  /** ggml TQ1_0 (ternary): 256 elements in 54 bytes. */
  TQ1_0(256, 54),
  /** ggml TQ2_0 (ternary): 256 elements in 66 bytes. */
  TQ2_0(256, 66),
  /** ggml MXFP4: 32 elements in 17 bytes (one E8M0 scale, 16 bytes of E2M1 pairs). */
  MXFP4(32, 17),
  /** ggml NVFP4: 64 elements in 36 bytes (four E4M3 scales, 32 bytes of E2M1 pairs). */
  NVFP4(64, 36),
  /** ggml Q1_0: 128 elements in 18 bytes. */
  Q1_0(128, 18),
  /** ggml Q2_0 (ternary, 2 bits an element): 64 elements in 18 bytes (an F16 scale, 16 bytes of quants). */
  Q2_0(64, 18);

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
  private final int blockSize;

  DType(int bits, boolean isFloat) {
    this.bits = bits;
    this.isFloat = isFloat;
    this.blockSize = 1;
  }

  /** A block type: {@code blockSize} elements in {@code blockBytes} bytes. */
  DType(int blockSize, int blockBytes) {
    this.bits = blockBytes * 8;
    this.isFloat = false;
    this.blockSize = blockSize;
  }

  /**
   * The size of one element in bits: 2 for U2 and I2, 4 for F4, U4 and I4, 6 for F6_*, 8 for BOOL and the 8-bit
   * types, 64 for C64, 128 for C128; for a block type, the size of one whole block ({@code blockBytes() * 8}).
   */
  public int bits() {
    return bits;
  }

  /** Elements stored together in one block: 1 for element types, 32, 64, 128 or 256 for ggml's block types. */
  public int blockSize() {
    return blockSize;
  }

  /**
   * Whether this is a block type ({@link #blockSize()} above 1): a ggml quantization whose elements exist only in
   * whole blocks, so a tensor's innermost dimension must be a multiple of the block size.
   */
  public boolean isBlock() {
    return blockSize > 1;
  }

  /** Bytes of one block of a block type; -1 for an element type whose size is not a whole number of bytes. */
  public int blockBytes() {
    return bits % 8 == 0 ? bits / 8 : -1;
  }

  /**
   * Whether this is a real floating-point type: F16, BF16, F32, F64, the F8_* types, F4 and the F6_* types. C64 is
   * complex and reports false, so that code that treats floats element by element (casts, byte planes) never takes
   * a complex pair for a single value; so are the block types, whose elements are not stored one by one.
   */
  public boolean isFloat() {
    return isFloat;
  }

  /**
   * The type with exactly this name (case-sensitive), block types included: how snapshots and reports spell it.
   *
   * @return the type, or empty for an unknown or null name
   */
  public static Optional<DType> parse(String name) {
    return name == null ? Optional.empty() : Optional.ofNullable(BY_NAME.get(name));
  }

  /**
   * Whether safetensors has this type, so that a safetensors file may hold it: every element type but the ONNX ones
   * it lacks ({@link #U4}, {@link #I4}, {@link #U2}, {@link #I2}, {@link #C128}); no block type.
   */
  public boolean isSafetensors() {
    return !isBlock() && ordinal() < U4.ordinal();
  }

  /**
   * The element type with exactly this safetensors spelling (case-sensitive, as the reference implementation reads
   * it); block types and the ONNX types safetensors lacks ({@link #isSafetensors()}) are not safetensors dtypes.
   *
   * @return the type, or empty for an unknown or null name or a type safetensors has not
   */
  public static Optional<DType> parseSafetensors(String name) {
    return parse(name).filter(DType::isSafetensors);
  }

  /**
   * The number of bytes that {@code elements} elements of this type occupy: {@code elements × bits / 8}, for a block
   * type {@code elements / blockSize × blockBytes}. As in the reference implementation, a count whose bits are not a
   * whole number of bytes is an error rather than rounded (so an odd number of F4 elements, or F6 counts that are not
   * a multiple of 4, are rejected), and so is a count that is not a whole number of blocks.
   *
   * @throws IllegalArgumentException if {@code elements} is negative, {@code elements × bits} is not a multiple of 8,
   *     or {@code elements} is not a multiple of the block size
   * @throws ArithmeticException if {@code elements × bits} overflows a long
   */
  public long byteLength(long elements) {
    if (elements < 0) {
      throw new IllegalArgumentException("negative element count " + elements);
    }
    if (elements % blockSize != 0) {
      throw new IllegalArgumentException(
          elements + " elements of " + name() + " are not a whole number of blocks of " + blockSize);
    }
    long totalBits = Math.multiplyExact(elements / blockSize, (long) bits);
    if (totalBits % 8 != 0) {
      throw new IllegalArgumentException(
          elements + " elements of " + name() + " are " + totalBits + " bits, not a whole number of bytes");
    }
    return totalBits / 8;
  }
}
