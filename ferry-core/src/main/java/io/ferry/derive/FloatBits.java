package io.ferry.derive;

import io.ferry.format.DType;
import java.nio.ByteBuffer;

/**
 * Conversions between IEEE single precision and the 16-bit float formats, with round-to-nearest-even, as bits. Java
 * 17 has no {@code Float.floatToFloat16}; these follow IEEE 754 (and agree with numpy's {@code astype(float16)} and
 * PyTorch's {@code to(torch.bfloat16)}): subnormals are produced and read, values that round past the largest finite
 * value become infinity, NaN stays NaN (quiet, sign kept, top payload bits kept). Stateless and thread-safe.
 */
public final class FloatBits {
  private FloatBits() {}

  /** bfloat16 bits of a float given by its bits: round to nearest, ties to even, on the upper 16 bits. */
  public static short floatToBf16(int bits) {
    if ((bits & 0x7fffffff) > 0x7f800000) {
      return (short) ((bits >>> 16) | 0x0040);
    }
    int lsb = (bits >>> 16) & 1;
    return (short) ((bits + 0x7fff + lsb) >>> 16);
  }

  /** The float a bfloat16 holds (exact). */
  public static float bf16ToFloat(short h) {
    return Float.intBitsToFloat((h & 0xffff) << 16);
  }

  /** IEEE half bits of a float: round to nearest, ties to even, subnormals, overflow to infinity. */
  public static short floatToHalf(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int abs = bits & 0x7fffffff;
    if (abs > 0x7f800000) {
      return (short) (sign | 0x7e00 | ((abs >>> 13) & 0x3ff));
    }
    if (abs >= 0x477ff000) { // 65520 and above (and infinity) round to infinity
      return (short) (sign | 0x7c00);
    }
    if (abs >= 0x38800000) { // 2^-14 and above: a normal half
      int mant = abs & 0x7fffff;
      int h = ((((abs >>> 23) - 127 + 15)) << 10) | (mant >>> 13);
      int rem = mant & 0x1fff;
      if (rem > 0x1000 || (rem == 0x1000 && (h & 1) != 0)) {
        h++;
      }
      return (short) (sign | h);
    }
    if (abs <= 0x33000000) { // 2^-25 and below round to zero (2^-25 is a tie, and 0 is even)
      return (short) sign;
    }
    int e = abs >>> 23;
    int mant = (abs & 0x7fffff) | 0x800000;
    int shift = 126 - e;
    int h = mant >>> shift;
    int rem = mant & ((1 << shift) - 1);
    int half = 1 << (shift - 1);
    if (rem > half || (rem == half && (h & 1) != 0)) {
      h++;
    }
    return (short) (sign | h);
  }

  /**
   * The float an IEEE half holds (exact); a NaN becomes a quiet NaN with its sign and payload, as an IEEE widening
   * (and numpy's and PyTorch's) makes it.
   */
  public static float halfToFloat(short h) {
    int s = (h & 0x8000) << 16;
    int e = (h >>> 10) & 0x1f;
    int m = h & 0x3ff;
    if (e == 0) {
      float v = m * 0x1p-24f;
      return s != 0 ? -v : v;
    }
    if (e == 31) {
      return Float.intBitsToFloat(s | 0x7f800000 | (m << 13) | (m != 0 ? 0x400000 : 0));
    }
    return Float.intBitsToFloat(s | ((e - 15 + 127) << 23) | (m << 13));
  }

  /**
   * A double rounded to float with round-to-odd: exact values stay, inexact ones get the neighbour whose last bit is
   * 1. Rounding that result again to a format of at most 22 significant bits (bf16, half) equals rounding the double
   * directly to it, so F64 sources are not rounded twice.
   */
  public static float roundToOdd(double d) {
    float f = (float) d;
    if (Float.isNaN(f) || Float.isInfinite(f) || (double) f == d) {
      return f;
    }
    int b = Float.floatToRawIntBits(f);
    if ((b & 1) == 0) {
      b += Math.abs((double) f) > Math.abs(d) ? -1 : 1;
    }
    return Float.intBitsToFloat(b);
  }

  /**
   * Decodes {@code n} little-endian values of float type {@code t} at {@code in}'s position (absolute reads; the
   * position does not move) into {@code dst}, exactly.
   *
   * @throws IllegalArgumentException if {@code t} is not F32, F64, F16 or BF16
   */
  static void decode(ByteBuffer in, DType t, double[] dst, int n) {
    int p = in.position();
    switch (t) {
      case F32 -> {
        for (int i = 0; i < n; i++) {
          dst[i] = in.getFloat(p + 4 * i);
        }
      }
      case F64 -> {
        for (int i = 0; i < n; i++) {
          dst[i] = in.getDouble(p + 8 * i);
        }
      }
      case F16 -> {
        for (int i = 0; i < n; i++) {
          dst[i] = halfToFloat(in.getShort(p + 2 * i));
        }
      }
      case BF16 -> {
        for (int i = 0; i < n; i++) {
          dst[i] = bf16ToFloat(in.getShort(p + 2 * i));
        }
      }
      default -> throw new IllegalArgumentException("not a float type handled here: " + t);
    }
  }

  /**
   * Writes {@code v} as {@code to} (F32, BF16 or F16, round to nearest even) at {@code out}'s position, advancing it,
   * and returns the value written.
   *
   * @throws IllegalArgumentException if {@code to} is not one of those
   */
  static double encode(float v, DType to, ByteBuffer out) {
    switch (to) {
      case F32 -> {
        out.putFloat(v);
        return v;
      }
      case BF16 -> {
        short h = floatToBf16(Float.floatToRawIntBits(v));
        out.putShort(h);
        return bf16ToFloat(h);
      }
      case F16 -> {
        short h = floatToHalf(v);
        out.putShort(h);
        return halfToFloat(h);
      }
      default -> throw new IllegalArgumentException("cannot write " + to);
    }
  }

  /**
   * F8_E4M3 bits of a float, simply: through half precision, mantissa truncated to 3 bits, exponents below the range
   * flushed to signed zero, above it saturated to the largest finite value (0x7E). Good enough to make realistic
   * test data and benchmark inputs; it is not a round-to-nearest cast.
   */
  public static byte floatToE4m3Truncating(float x) {
    int h = floatToHalf(x) & 0xFFFF;
    int sign = (h >>> 8) & 0x80;
    int e = ((h >>> 10) & 0x1F) - 15 + 7;
    if (e <= 0) {
      return (byte) sign;
    }
    if (e > 15) {
      return (byte) (sign | 0x7E);
    }
    return (byte) (sign | e << 3 | (h >>> 7) & 7);
  }
}
