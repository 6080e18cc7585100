import io.ferry.format.DType;
import io.ferry.testkit.GgufWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Writes, with Ferry's GgufWriter, a tiny llama model that llama.cpp can load and run (one block, 32-wide, a 260-token
 * SentencePiece vocabulary of byte tokens, F32/F16/Q8_0 tensors), and variants of it that break one rule each. Ferry
 * refuses every variant but nested.gguf, nul-align-64.gguf and key-not-utf8.gguf (GgufReaderTest), and reads every
 * type-*.gguf; run.sh shows what llama.cpp does with them. Variants that add
 * a tensor (badtype, retired, gap, rowblock, emptyname) would also fail llama.cpp's count of expected tensors, so the
 * reason it prints matters, not only that it refuses.
 */
public class GgufSamples {
  static GgufWriter llama() {
    return tensors(header());
  }

  /** The model's key-value pairs, without its tensors. */
  static GgufWriter header() {
    int embd = 32;
    int ff = 64;
    int vocab = 260;
    List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
    for (int i = 0; i < 256; i++) {
      tokens.add(String.format("<0x%02X>", i));
    }
    tokens.add("\u2581");
    float[] scores = new float[vocab];
    int[] types = new int[vocab];
    types[0] = 2; // unknown
    types[1] = 3; // control
    types[2] = 3;
    Arrays.fill(types, 3, 259, 6); // byte tokens
    types[259] = 1; // normal
    GgufWriter w = new GgufWriter().str("general.architecture", "llama").str("general.name", "ferry-tiny")
        .u32("llama.context_length", 128).u32("llama.embedding_length", embd).u32("llama.block_count", 1)
        .u32("llama.feed_forward_length", ff).u32("llama.attention.head_count", 2)
        .u32("llama.attention.head_count_kv", 2).u32("llama.rope.dimension_count", 16)
        .f32("llama.attention.layer_norm_rms_epsilon", 1e-5f).u32("llama.vocab_size", vocab)
        .str("tokenizer.ggml.model", "llama").strings("tokenizer.ggml.tokens", tokens)
        .floats("tokenizer.ggml.scores", scores).ints("tokenizer.ggml.token_type", types)
        .u32("tokenizer.ggml.bos_token_id", 1).u32("tokenizer.ggml.eos_token_id", 2)
        .u32("tokenizer.ggml.unknown_token_id", 0);
    return w;
  }

  /** Adds the model's tensors. */
  static GgufWriter tensors(GgufWriter w) {
    int embd = 32;
    int ff = 64;
    int vocab = 260;
    long seed = 1;
    w.seeded("token_embd.weight", DType.F32, seed++, embd, vocab);
    w.seeded("output_norm.weight", DType.F32, seed++, embd);
    w.seeded("output.weight", DType.F32, seed++, embd, vocab);
    w.seeded("blk.0.attn_norm.weight", DType.F32, seed++, embd);
    w.seeded("blk.0.attn_q.weight", DType.Q8_0, seed++, embd, embd);
    w.seeded("blk.0.attn_k.weight", DType.F16, seed++, embd, embd);
    w.seeded("blk.0.attn_v.weight", DType.F32, seed++, embd, embd);
    w.seeded("blk.0.attn_output.weight", DType.F32, seed++, embd, embd);
    w.seeded("blk.0.ffn_norm.weight", DType.F32, seed++, embd);
    w.seeded("blk.0.ffn_gate.weight", DType.F32, seed++, embd, ff);
    w.seeded("blk.0.ffn_down.weight", DType.F32, seed++, ff, embd);
    w.seeded("blk.0.ffn_up.weight", DType.F32, seed++, embd, ff);
    return w;
  }

  public static void main(String[] args) throws Exception {
    Path d = Files.createDirectories(Path.of(args[0]));
    byte[] ok = llama().bytes();
    Files.write(d.resolve("ok.gguf"), ok);
    Files.write(d.resolve("truncated.gguf"), Arrays.copyOf(ok, ok.length - 100));
    Files.write(d.resolve("trailing.gguf"), Arrays.copyOf(ok, ok.length + 64));
    Files.write(d.resolve("align48.gguf"), llama().u32("general.alignment", 48).bytes());
    Files.write(d.resolve("v1.gguf"), llama().version(1).bytes());
    Files.write(d.resolve("dupkey.gguf"), llama().u32("llama.block_count", 1).bytes());
    Files.write(d.resolve("badtype.gguf"), llama().tensor("x", 99, 4, null, 1).bytes());
    Files.write(d.resolve("retired.gguf"), llama().tensor("x", 31, 18, null, 32).bytes());
    Files.write(d.resolve("gap.gguf"), llama().tensor("x", 0, 4, null, 1).tensor("y", 0, 4, 1L << 20, 1).bytes());
    Files.write(d.resolve("rowblock.gguf"), llama().tensor("x", 2, 18, null, 48, 1).bytes());
    Files.write(d.resolve("bool2.gguf"), llama().kv("flag", GgufWriter.BOOL, new byte[] {2}).bytes());
    Files.write(d.resolve("nested.gguf"), llama().kv("n", GgufWriter.ARR, new GgufWriter.Enc().u32(GgufWriter.ARR)
        .u64(1).u32(GgufWriter.U32).u64(1).u32(5).bytes()).bytes());
    Files.write(d.resolve("emptyname.gguf"), llama().tensor("", 0, 4, null, 1).bytes());
    // ggml looks keys up and compares tensor names as C strings, up to a NUL byte
    Files.write(d.resolve("nul-align-str.gguf"), llama().str("general.alignment\0x", "64").bytes());
    Files.write(d.resolve("nul-align-64.gguf"), tensors(header().alignment(64).u32("general.alignment\0", 64))
        .bytes());
    Files.write(d.resolve("nul-dupname.gguf"), llama().tensor("output.weight\0x", 0, 4, null, 1).bytes());
    byte[] key = llama().u32("general.kX", 1).bytes();
    for (int i = 0; ; i++) {
      if (key[i] == 'k' && key[i + 1] == 'X' && key[i - 1] == '.') {
        key[i + 1] = (byte) 0xff;
        break;
      }
    }
    Files.write(d.resolve("key-not-utf8.gguf"), key);
    // each ggml type's size: its tensor comes first and the alignment is 1, so llama.cpp finds the next tensor
    // where Ferry put it only if both count the same bytes (then it refuses only the extra tensor: "wrong number of
    // tensors"); a wrong size shows as "tensor 'token_embd.weight' has offset ..."
    for (DType t : DType.values()) {
      int id;
      try {
        id = GgufWriter.ggmlId(t);
      } catch (IllegalArgumentException e) {
        continue;
      }
      GgufWriter w = header().alignment(1).u32("general.alignment", 1).tensor("x", t, 3L * t.blockSize(), 1);
      Files.write(d.resolve(String.format("type-%02d-%s.gguf", id, t)), tensors(w).bytes());
    }
  }
}
