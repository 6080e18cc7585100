package io.ferry.server;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Writes one small runnable ONNX model, field by field as onnx.proto numbers them: a BERT-shaped embedding lookup,
 * {@code last_hidden_state[b, s, :] = embeddings[input_ids[b, s], :] * attention_mask[b, s]} (opset 13: Gather, Cast,
 * Unsqueeze, Mul), with the embedding table as an initializer in the file.
 */
final class TinyOnnx {
  private static final int FLOAT = 1;
  private static final int INT64 = 7;

  private TinyOnnx() {}

  /** The model file for an embedding table of {@code vocab} rows of {@code hidden} floats. */
  static byte[] embedding(float[] table, int vocab, int hidden) {
    ByteBuffer raw = ByteBuffer.allocate(table.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    raw.asFloatBuffer().put(table);
    Msg graph = new Msg()
        .msg(1, node("gather", "Gather", new String[] {"embeddings.weight", "input_ids"}, "gathered"))
        .msg(1, node("cast", "Cast", new String[] {"attention_mask"}, "mask_f").msg(5, new Msg().str(1, "to")
            .varint(3, FLOAT).varint(20, 2)))
        .msg(1, node("unsqueeze", "Unsqueeze", new String[] {"mask_f", "last_axis"}, "mask_3d"))
        .msg(1, node("mul", "Mul", new String[] {"gathered", "mask_3d"}, "last_hidden_state"))
        .str(2, "tiny-embedding")
        .msg(5, tensor("embeddings.weight", FLOAT, raw.array(), vocab, hidden))
        .msg(5, tensor("last_axis", INT64, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(-1)
            .array(), 1))
        .msg(11, value("input_ids", INT64, "batch", "sequence"))
        .msg(11, value("attention_mask", INT64, "batch", "sequence"))
        .msg(12, value("last_hidden_state", FLOAT, "batch", "sequence", String.valueOf(hidden)));
    return new Msg().varint(1, 8).str(2, "ferry-test").msg(7, graph)
        .msg(8, new Msg().str(1, "").varint(2, 13)).bytes();
  }

  private static Msg node(String name, String op, String[] inputs, String output) {
    Msg n = new Msg();
    for (String i : inputs) {
      n.str(1, i);
    }
    return n.str(2, output).str(3, name).str(4, op);
  }

  private static Msg tensor(String name, int type, byte[] raw, long... dims) {
    Msg t = new Msg();
    for (long d : dims) {
      t.varint(1, d);
    }
    return t.varint(2, type).str(8, name).raw(9, raw);
  }

  /** A graph input or output; a dimension that is all digits is fixed, any other is named (dynamic). */
  private static Msg value(String name, int type, String... dims) {
    Msg shape = new Msg();
    for (String d : dims) {
      shape.msg(1, d.chars().allMatch(Character::isDigit) ? new Msg().varint(1, Long.parseLong(d))
          : new Msg().str(2, d));
    }
    return new Msg().str(1, name).msg(2, new Msg().msg(1, new Msg().varint(1, type).msg(2, shape)));
  }

  /** A protobuf message being written: varint and length-delimited fields only. */
  private static final class Msg {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    Msg varint(int field, long v) {
      tag(field, 0);
      write(v);
      return this;
    }

    Msg str(int field, String s) {
      return raw(field, s.getBytes(StandardCharsets.UTF_8));
    }

    Msg msg(int field, Msg m) {
      return raw(field, m.bytes());
    }

    Msg raw(int field, byte[] b) {
      tag(field, 2);
      write(b.length);
      out.writeBytes(b);
      return this;
    }

    byte[] bytes() {
      return out.toByteArray();
    }

    private void tag(int field, int wire) {
      write(((long) field << 3) | wire);
    }

    private void write(long v) {
      while ((v & ~0x7FL) != 0) {
        out.write((int) ((v & 0x7F) | 0x80));
        v >>>= 7;
      }
      out.write((int) v);
    }
  }
}
