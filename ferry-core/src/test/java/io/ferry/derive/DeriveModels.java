package io.ferry.derive;

import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import io.ferry.format.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Small deterministic models for derivation tests: safetensors files of given tensors, and a sharded HF layout. */
final class DeriveModels {
  private DeriveModels() {}

  /** A tensor to write: values as doubles, rounded to the dtype (ints truncated). */
  record T(String name, DType dtype, long[] shape, double[] values) {
    List<Long> shapeList() {
      List<Long> s = new ArrayList<>();
      for (long d : shape) {
        s.add(d);
      }
      return s;
    }
  }

  static double[] normal(long n, double scale, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    double[] v = new double[Math.toIntExact(n)];
    for (int i = 0; i < v.length; i++) {
      // sum of uniforms: roughly normal, deterministic across JDKs
      v[i] = (r.nextDouble() + r.nextDouble() + r.nextDouble() - 1.5) * 2 * scale;
    }
    return v;
  }

  static long count(long... shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  static T tensor(String name, DType dtype, double scale, long seed, long... shape) {
    return new T(name, dtype, shape, normal(count(shape), scale, seed));
  }

  /** Writes one safetensors file; returns the total bytes of its tensors. */
  static long writeSafetensors(Path file, Map<String, String> metadata, List<T> tensors) throws IOException {
    List<TensorInfo> infos = new ArrayList<>();
    long at = 0;
    for (T t : tensors) {
      long len = t.dtype().byteLength(count(t.shape()));
      infos.add(new TensorInfo(t.name(), t.dtype(), t.shapeList(), at, at + len));
      at += len;
    }
    Files.createDirectories(file.getParent());
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
        StandardOpenOption.WRITE)) {
      ByteBuffer h = SafetensorsWriter.header(metadata, infos);
      while (h.hasRemaining()) {
        ch.write(h);
      }
      for (T t : tensors) {
        ByteBuffer b = encode(t);
        while (b.hasRemaining()) {
          ch.write(b);
        }
      }
    }
    return at;
  }

  static ByteBuffer encode(T t) {
    int size = t.dtype().bits() / 8;
    ByteBuffer b = ByteBuffer.allocate(t.values().length * size).order(ByteOrder.LITTLE_ENDIAN);
    for (double v : t.values()) {
      switch (t.dtype()) {
        case F64 -> b.putDouble(v);
        case F32 -> b.putFloat((float) v);
        case F16 -> b.putShort(FloatBits.floatToHalf((float) v));
        case BF16 -> b.putShort(FloatBits.floatToBf16(Float.floatToRawIntBits((float) v)));
        case I64 -> b.putLong((long) v);
        case I32 -> b.putInt((int) v);
        case U8, I8 -> b.put((byte) v);
        default -> throw new IllegalArgumentException(t.dtype().name());
      }
    }
    return b.flip();
  }

  /**
   * A two-shard Hugging Face model with an index and a config: float tensors of every float dtype, 1-D and scalar and
   * empty tensors, integer tensors, a tensor of special values (NaN, infinities, values past the F16 range,
   * subnormals, signed zeros), an all-zero tensor, a tensor of repeated values (ties for pruning), and one tensor of
   * more than {@link Deriver#BLOCK_ELEMENTS} elements (several blocks).
   */
  static Path hfModel(Path dir) throws IOException {
    double[] special = normal(4 * 64, 1, 99);
    double[] odd = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 1e6, -70000, 65519, 65520,
        1e-8, -1e-8, 5.960464477539063e-8, 2.98023223876953125e-8, -0.0, 0.0, 3.4e38, 1.0000001, 0.1};
    System.arraycopy(odd, 0, special, 0, odd.length);
    double[] ties = new double[8 * 64];
    for (int i = 0; i < ties.length; i++) {
      ties[i] = ((i * 7) % 5 - 2) * 0.25;
    }
    double[] v64 = normal(8 * 64, 0.3, 7);
    v64[3] = 1.0 / 3; // F64 values that F32 cannot hold exactly
    v64[4] = 1e-300;
    v64[5] = 1e300;
    Map<String, String> pt = new LinkedHashMap<>();
    pt.put("format", "pt");
    List<T> a = List.of(
        tensor("model.embed.weight", DType.F32, 0.1, 1, 64, 128),
        tensor("model.layers.0.q.weight", DType.BF16, 0.05, 2, 32, 256),
        tensor("model.layers.0.norm", DType.F32, 1, 3, 128),
        tensor("model.layers.0.odd.weight", DType.F32, 0.2, 4, 8, 200),
        new T("model.ids", DType.I64, new long[] {4, 8}, normal(32, 1000, 5)),
        tensor("model.scalar", DType.F32, 1, 6),
        tensor("model.big.weight", DType.BF16, 0.02, 8, 1200, 2048));
    List<T> b = List.of(
        tensor("model.layers.1.k.weight", DType.F16, 0.05, 9, 16, 128),
        new T("model.layers.1.v.weight", DType.F64, new long[] {8, 64}, v64),
        new T("model.special", DType.F32, new long[] {4, 64}, special),
        new T("model.empty_rows", DType.F32, new long[] {0, 128}, new double[0]),
        new T("model.mask", DType.U8, new long[] {16, 16}, normal(256, 100, 10)),
        new T("model.zeros", DType.F32, new long[] {4, 64}, new double[256]),
        new T("model.ties.weight", DType.F32, new long[] {8, 64}, ties));
    String s1 = "model-00001-of-00002.safetensors";
    String s2 = "model-00002-of-00002.safetensors";
    long total = writeSafetensors(dir.resolve(s1), pt, a) + writeSafetensors(dir.resolve(s2), pt, b);
    StringBuilder index = new StringBuilder("{\n  \"metadata\": {\"total_size\": " + total + "},\n"
        + "  \"weight_map\": {\n");
    List<String> lines = new ArrayList<>();
    a.forEach(t -> lines.add("    \"" + t.name() + "\": \"" + s1 + "\""));
    b.forEach(t -> lines.add("    \"" + t.name() + "\": \"" + s2 + "\""));
    index.append(String.join(",\n", lines)).append("\n  }\n}\n");
    Files.writeString(dir.resolve("model.safetensors.index.json"), index, StandardCharsets.UTF_8);
    Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"Test\"], \"hidden_size\": 128}\n");
    return dir;
  }
}
