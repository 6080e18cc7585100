package io.ferry.testkit;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.derive.FloatBits;
import io.ferry.format.DType;
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

/**
 * Writes test models: safetensors files with seeded tensor data, and Hugging Face directories (shards, index,
 * config, tokenizer). Data of a tensor depends only on (seed, tensor name), so a fine-tune can change chosen tensors
 * and leave the rest byte-identical, and a resharded copy holds the same tensor bytes in other files.
 */
public final class ModelGenerator {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A tensor to write. {@code seed} decides its bytes. */
  public record Tensor(String name, DType dtype, long[] shape, long seed) {
    public long byteLength() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return dtype.byteLength(n);
    }
  }

  private ModelGenerator() {}

  /** A transformer-like tensor list of roughly {@code targetBytes} in {@code dtype}. */
  public static List<Tensor> transformer(long targetBytes, DType dtype, long seed) {
    int hidden = 512;
    while ((long) hidden * hidden * 12 * (dtype.bits() / 8) * 8 < targetBytes && hidden < 8192) {
      hidden *= 2;
    }
    long perLayer = (long) hidden * hidden * 12 * dtype.bits() / 8;
    int vocab = 4096;
    long embed = (long) vocab * hidden * dtype.bits() / 8;
    int layers = (int) Math.max(1, (targetBytes - 2 * embed) / perLayer);
    List<Tensor> out = new ArrayList<>();
    long s = seed;
    out.add(new Tensor("model.embed_tokens.weight", dtype, new long[] {vocab, hidden}, s++));
    for (int l = 0; l < layers; l++) {
      String p = "model.layers." + l + ".";
      out.add(new Tensor(p + "input_layernorm.weight", dtype, new long[] {hidden}, s++));
      out.add(new Tensor(p + "self_attn.q_proj.weight", dtype, new long[] {hidden, hidden}, s++));
      out.add(new Tensor(p + "self_attn.k_proj.weight", dtype, new long[] {hidden, hidden}, s++));
      out.add(new Tensor(p + "self_attn.v_proj.weight", dtype, new long[] {hidden, hidden}, s++));
      out.add(new Tensor(p + "self_attn.o_proj.weight", dtype, new long[] {hidden, hidden}, s++));
      out.add(new Tensor(p + "post_attention_layernorm.weight", dtype, new long[] {hidden}, s++));
      out.add(new Tensor(p + "mlp.gate_proj.weight", dtype, new long[] {hidden * 8 / 3, hidden}, s++));
      out.add(new Tensor(p + "mlp.up_proj.weight", dtype, new long[] {hidden * 8 / 3, hidden}, s++));
      out.add(new Tensor(p + "mlp.down_proj.weight", dtype, new long[] {hidden, hidden * 8 / 3}, s++));
    }
    out.add(new Tensor("model.norm.weight", dtype, new long[] {hidden}, s++));
    out.add(new Tensor("lm_head.weight", dtype, new long[] {vocab, hidden}, s));
    return out;
  }

  /** Writes one safetensors file with the tensors in the given order. */
  public static void writeSafetensors(Path file, List<Tensor> tensors, Map<String, String> metadata)
      throws IOException {
    ObjectNode header = JSON.createObjectNode();
    if (metadata != null && !metadata.isEmpty()) {
      ObjectNode md = header.putObject("__metadata__");
      metadata.forEach(md::put);
    }
    long at = 0;
    for (Tensor t : tensors) {
      ObjectNode n = header.putObject(t.name());
      n.put("dtype", t.dtype().name());
      ArrayNode shape = n.putArray("shape");
      for (long d : t.shape()) {
        shape.add(d);
      }
      ArrayNode off = n.putArray("data_offsets");
      off.add(at);
      at += t.byteLength();
      off.add(at);
    }
    byte[] json = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
    int pad = (8 - json.length % 8) % 8;
    ByteBuffer prefix = ByteBuffer.allocate(8 + json.length + pad).order(ByteOrder.LITTLE_ENDIAN);
    prefix.putLong(json.length + pad).put(json);
    for (int i = 0; i < pad; i++) {
      prefix.put((byte) ' ');
    }
    prefix.flip();
    Files.createDirectories(file.toAbsolutePath().getParent());
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      while (prefix.hasRemaining()) {
        ch.write(prefix);
      }
      ByteBuffer buf = ByteBuffer.allocateDirect(4 << 20);
      for (Tensor t : tensors) {
        fill(ch, t, buf);
      }
    }
  }

  private static void fill(FileChannel ch, Tensor t, ByteBuffer buf) throws IOException {
    SplittableRandom r = new SplittableRandom(t.seed() * 0x9E3779B97F4A7C15L + t.name().hashCode());
    long left = t.byteLength();
    boolean floats = t.dtype() == DType.BF16 || t.dtype() == DType.F16 || t.dtype() == DType.F32;
    while (left > 0) {
      buf.clear();
      int n = (int) Math.min(buf.capacity(), left);
      buf.limit(n);
      if (floats) {
        fillFloats(buf, t.dtype(), r);
      } else {
        while (buf.remaining() >= 8) {
          buf.putLong(r.nextLong());
        }
        while (buf.hasRemaining()) {
          buf.put((byte) r.nextInt());
        }
      }
      buf.flip();
      while (buf.hasRemaining()) {
        ch.write(buf);
      }
      left -= n;
    }
  }

  /** Weight-like values: normal(0, 0.02), encoded in the dtype (little endian). */
  private static void fillFloats(ByteBuffer buf, DType dtype, SplittableRandom r) {
    buf.order(ByteOrder.LITTLE_ENDIAN);
    while (buf.hasRemaining()) {
      float v = (float) (gaussian(r) * 0.02);
      switch (dtype) {
        case F32 -> {
          if (buf.remaining() < 4) {
            buf.put((byte) 0);
          } else {
            buf.putFloat(v);
          }
        }
        case BF16 -> {
          if (buf.remaining() < 2) {
            buf.put((byte) 0);
          } else {
            buf.putShort((short) (Float.floatToRawIntBits(v) >>> 16));
          }
        }
        default -> {
          if (buf.remaining() < 2) {
            buf.put((byte) 0);
          } else {
            buf.putShort(FloatBits.floatToHalf(v));
          }
        }
      }
    }
  }

  private static double gaussian(SplittableRandom r) {
    double u = r.nextDouble(1e-12, 1.0);
    double v = r.nextDouble();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /**
   * Writes a Hugging Face directory: tensors split into shards of at most {@code shardBytes}, an index, a config and
   * a tokenizer file.
   */
  public static void writeHfModel(Path dir, List<Tensor> tensors, long shardBytes) throws IOException {
    Files.createDirectories(dir);
    List<List<Tensor>> shards = new ArrayList<>();
    List<Tensor> cur = new ArrayList<>();
    long size = 0;
    for (Tensor t : tensors) {
      if (!cur.isEmpty() && size + t.byteLength() > shardBytes) {
        shards.add(cur);
        cur = new ArrayList<>();
        size = 0;
      }
      cur.add(t);
      size += t.byteLength();
    }
    if (!cur.isEmpty()) {
      shards.add(cur);
    }
    ObjectNode index = JSON.createObjectNode();
    long total = 0;
    for (Tensor t : tensors) {
      total += t.byteLength();
    }
    index.putObject("metadata").put("total_size", total);
    ObjectNode map = index.putObject("weight_map");
    for (int i = 0; i < shards.size(); i++) {
      String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
      writeSafetensors(dir.resolve(name), shards.get(i), Map.of("format", "pt"));
      for (Tensor t : shards.get(i)) {
        map.put(t.name(), name);
      }
    }
    Files.writeString(dir.resolve("model.safetensors.index.json"),
        JSON.writerWithDefaultPrettyPrinter().writeValueAsString(index));
    Map<String, Object> config = new LinkedHashMap<>();
    config.put("architectures", List.of("LlamaForCausalLM"));
    config.put("model_type", "llama");
    config.put("torch_dtype", tensors.isEmpty() ? "float32" : tensors.get(0).dtype() == DType.BF16 ? "bfloat16"
        : "float32");
    Files.writeString(dir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config));
    StringBuilder tok = new StringBuilder("{\"version\":\"1.0\",\"model\":{\"type\":\"BPE\",\"vocab\":{");
    for (int i = 0; i < 2000; i++) {
      tok.append(i == 0 ? "" : ",").append("\"tok").append(i).append("\":").append(i);
    }
    tok.append("}}}");
    Files.writeString(dir.resolve("tokenizer.json"), tok.toString());
  }

  /** A copy of the tensor list where the tensors at the given indexes get new data (a fine-tune). */
  public static List<Tensor> finetune(List<Tensor> base, double fraction, long seed) {
    List<Tensor> out = new ArrayList<>();
    SplittableRandom r = new SplittableRandom(seed);
    for (Tensor t : base) {
      if (r.nextDouble() < fraction) {
        out.add(new Tensor(t.name(), t.dtype(), t.shape(), t.seed() + 1_000_003L * (seed + 1)));
      } else {
        out.add(t);
      }
    }
    return out;
  }
}
