package io.ferry.format.onnx;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * The fp32 initializers of an ONNX model, read straight from its protobuf: {@code ModelProto.graph = 7},
 * {@code GraphProto.initializer = 5}, {@code TensorProto}: dims = 1, data_type = 2 (1 = FLOAT), name = 8,
 * raw_data = 9. Initializers stored as {@code float_data} or external data are skipped (and counted). Enough to read
 * the real trained weights that Maven Central ships inside jars, for codec tests and benchmarks; a full ONNX format
 * (tensor tables, external data, every dtype) is a later issue. Stateless.
 */
public final class OnnxWeights {
  /** One initializer: its name, shape and little-endian fp32 bytes (a view of the model bytes). */
  public record Tensor(String name, long[] dims, ByteBuffer f32) {}

  /** The tensors found, and how many FLOAT initializers had no raw_data. */
  public record Model(List<Tensor> tensors, int skipped) {
    public long elements() {
      long n = 0;
      for (Tensor t : tensors) {
        n += t.f32().remaining() / 4;
      }
      return n;
    }
  }

  private OnnxWeights() {}

  /** The FLOAT initializers of the first {@code .onnx} entry of a jar, or null if the jar has none. */
  public static Model fromJar(Path jar) throws IOException {
    byte[] model = null;
    try (ZipFile zip = new ZipFile(jar.toFile())) {
      for (ZipEntry e : Collections.list(zip.entries())) {
        if (e.getName().endsWith(".onnx")) {
          try (InputStream in = zip.getInputStream(e)) {
            model = in.readAllBytes();
          }
          break;
        }
      }
    }
    return model == null ? null : parse(ByteBuffer.wrap(model));
  }

  public static Model fromFile(Path onnx) throws IOException {
    return parse(ByteBuffer.wrap(Files.readAllBytes(onnx)));
  }

  public static Model parse(ByteBuffer m) {
    List<Tensor> out = new ArrayList<>();
    int[] skipped = {0};
    forEachField(m, 0, m.limit(), (field, graphAt, graphLen) -> {
      if (field != 7) {
        return;
      }
      forEachField(m, graphAt, graphAt + graphLen, (f2, tAt, tLen) -> {
        if (f2 != 5) {
          return;
        }
        int[] type = {0};
        int[] raw = {-1, 0};
        String[] name = {""};
        List<Long> dims = new ArrayList<>();
        forEachField(m, tAt, tAt + tLen, (f3, at, len) -> {
          if (f3 == 9) {
            raw[0] = at;
            raw[1] = len;
          } else if (f3 == 8) {
            byte[] b = new byte[len];
            m.get(at, b);
            name[0] = new String(b, java.nio.charset.StandardCharsets.UTF_8);
          } else if (f3 == 1) { // packed dims
            int[] p = {at};
            while (p[0] < at + len) {
              dims.add(varint(m, p));
            }
          }
        }, (f3, value) -> {
          if (f3 == 2) {
            type[0] = (int) value;
          } else if (f3 == 1) {
            dims.add(value);
          }
        });
        if (type[0] == 1) {
          if (raw[0] >= 0) {
            long[] d = dims.stream().mapToLong(Long::longValue).toArray();
            out.add(new Tensor(name[0], d, m.slice(raw[0], raw[1])));
          } else {
            skipped[0]++;
          }
        }
      }, (f, v) -> {});
    }, (f, v) -> {});
    return new Model(out, skipped[0]);
  }

  private interface LenField {
    void on(int field, int at, int len);
  }

  private interface VarintField {
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
}
