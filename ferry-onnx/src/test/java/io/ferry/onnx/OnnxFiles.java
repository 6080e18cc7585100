package io.ferry.onnx;

import com.google.protobuf.CodedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Writes small ONNX models (ModelProto bytes) field by field, as the ONNX schema numbers them. */
final class OnnxFiles {
  private OnnxFiles() {}

  /** One initializer (TensorProto) of the graph. */
  static final class Init {
    final String name;
    final int dataType;
    final long[] dims;
    byte[] raw;
    float[] floats;
    long[] int64s;
    String[] strings;
    Map<String, String> external;
    boolean markedExternal;

    Init(String name, int dataType, long... dims) {
      this.name = name;
      this.dataType = dataType;
      this.dims = dims;
    }

    /** raw_data of {@code n} pseudo-random bytes. */
    Init raw(int n, long seed) {
      raw = new byte[n];
      new SplittableRandom(seed).nextBytes(raw);
      return this;
    }

    Init floats(float... v) {
      floats = v;
      return this;
    }

    Init int64s(long... v) {
      int64s = v;
      return this;
    }

    /** string_data: one entry per value. */
    Init strings(String... v) {
      strings = v;
      return this;
    }

    Init external(Map<String, String> entries) {
      external = entries;
      markedExternal = true;
      return this;
    }

    /** external_data entries without data_location EXTERNAL. */
    Init externalEntriesOnly(Map<String, String> entries) {
      external = entries;
      markedExternal = false;
      return this;
    }

    byte[] bytes() {
      return message(o -> {
        for (long d : dims) {
          o.writeInt64(1, d);
        }
        o.writeInt32(2, dataType);
        if (floats != null) {
          o.writeTag(4, 2);
          o.writeUInt32NoTag(floats.length * 4);
          for (float f : floats) {
            o.writeFloatNoTag(f);
          }
        }
        if (strings != null) {
          for (String v : strings) {
            o.writeString(6, v);
          }
        }
        if (int64s != null) {
          ByteArrayOutputStream packed = new ByteArrayOutputStream();
          CodedOutputStream p = CodedOutputStream.newInstance(packed);
          for (long v : int64s) {
            p.writeInt64NoTag(v);
          }
          p.flush();
          o.writeByteArray(7, packed.toByteArray());
        }
        o.writeString(8, name);
        if (raw != null) {
          o.writeByteArray(9, raw);
        }
        o.writeString(12, "doc of " + name);
        if (external != null) {
          for (Map.Entry<String, String> e : external.entrySet()) {
            o.writeByteArray(13, message(x -> {
              x.writeString(1, e.getKey());
              x.writeString(2, e.getValue());
            }));
          }
          if (markedExternal) {
            o.writeInt32(14, 1);
          }
        }
      });
    }
  }

  /** A model: ir_version 8, opset ai.onnx 17, a producer, one metadata property, a node, then the initializers. */
  static byte[] model(List<Init> inits) {
    return message(o -> {
      o.writeInt64(1, 8);
      o.writeString(2, "ferry-test");
      o.writeByteArray(7, graph(inits));
      o.writeByteArray(8, message(x -> x.writeInt64(2, 17)));
      o.writeByteArray(14, message(x -> {
        x.writeString(1, "author");
        x.writeString(2, "ferry");
      }));
    });
  }

  static byte[] graph(List<Init> inits) {
    return message(o -> {
      o.writeByteArray(1, message(n -> {
        n.writeString(1, "x");
        n.writeString(2, "y");
        n.writeString(4, "Relu");
      }));
      o.writeString(2, "g");
      for (Init i : inits) {
        o.writeByteArray(5, i.bytes());
      }
    });
  }

  interface Body {
    void write(CodedOutputStream o) throws IOException;
  }

  static byte[] message(Body b) {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      CodedOutputStream o = CodedOutputStream.newInstance(out);
      b.write(o);
      o.flush();
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static List<Init> list(Init... inits) {
    return new ArrayList<>(List.of(inits));
  }
}
