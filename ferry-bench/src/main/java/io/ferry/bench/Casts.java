package io.ferry.bench;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * fp32 to BF16, F16 (both round to nearest even) and F8_E4M3 (truncated from the F16 value: a realistic byte stream,
 * not a conforming cast), as little-endian bytes. Same arithmetic as ferry-core's test helper
 * {@code io.ferry.codec.FloatData}.
 */
final class Casts {
  private Casts() {}

  /** Element width in bytes of the dtypes this class produces. */
  static int width(String dtype) {
    switch (dtype) {
      case "F32":
        return 4;
      case "BF16":
      case "F16":
        return 2;
      case "F8_E4M3":
        return 1;
      default:
        throw new IllegalArgumentException("no cast to " + dtype);
    }
  }

  /** The remaining little-endian fp32 bytes of {@code f32} cast to {@code dtype}, into a new direct buffer. */
  static ByteBuffer cast(ByteBuffer f32, String dtype) {
    ByteBuffer src = f32.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    int n = src.remaining() / 4;
    ByteBuffer out = ByteBuffer.allocateDirect(n * width(dtype)).order(ByteOrder.LITTLE_ENDIAN);
    int at = src.position();
    for (int i = 0; i < n; i++) {
      float x = src.getFloat(at + 4 * i);
      switch (dtype) {
        case "F32":
          out.putFloat(x);
          break;
        case "BF16":
          out.putShort(toBf16(x));
          break;
        case "F16":
          out.putShort(toHalf(x));
          break;
        default:
          out.put(toE4m3(x));
      }
    }
    return out.flip();
  }

  static short toBf16(float x) {
    int b = Float.floatToRawIntBits(x);
    if (Float.isNaN(x)) {
      return (short) ((b >>> 16) | 0x40);
    }
    return (short) ((b + 0x7FFF + ((b >>> 16) & 1)) >>> 16);
  }

  static short toHalf(float x) {
    int b = Float.floatToRawIntBits(x);
    int sign = (b >>> 16) & 0x8000;
    int e = (b >>> 23) & 0xFF;
    int m = b & 0x7FFFFF;
    if (e == 0xFF) {
      return (short) (sign | 0x7C00 | (m != 0 ? 0x200 | m >>> 13 : 0));
    }
    int he = e - 127 + 15;
    if (he >= 0x1F) {
      return (short) (sign | 0x7C00);
    }
    if (he <= 0) {
      if (he < -10) {
        return (short) sign;
      }
      m |= 0x800000;
      int shift = 14 - he;
      int r = m >> shift;
      int rem = m & ((1 << shift) - 1);
      int half = 1 << (shift - 1);
      if (rem > half || (rem == half && (r & 1) != 0)) {
        r++;
      }
      return (short) (sign | r);
    }
    int r = he << 10 | m >>> 13;
    int rem = m & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1) != 0)) {
      r++;
    }
    return (short) (sign | r);
  }

  static byte toE4m3(float x) {
    int h = toHalf(x) & 0xFFFF;
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
