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
    return io.ferry.derive.FloatBits.floatToBf16(Float.floatToRawIntBits(x));
  }

  static short toHalf(float x) {
    return io.ferry.derive.FloatBits.floatToHalf(x);
  }

  static byte toE4m3(float x) {
    return io.ferry.derive.FloatBits.floatToE4m3Truncating(x);
  }
}
