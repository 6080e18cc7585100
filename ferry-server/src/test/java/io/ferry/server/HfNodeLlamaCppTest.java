package io.ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.testkit.GgufWriter;
import io.ferry.testkit.NodePackages;
import io.ferry.testkit.NodePackages.Run;
import io.ferry.version.FileEntry;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * node-llama-cpp (llama.cpp's JavaScript package) resolves a model URI by quantization, {@code hf:org/name:Q8_0},
 * against the server as its Hugging Face endpoint: it asks the manifest which file the tag names, downloads that file
 * through {@code resolve}, reads it with its GGUF reader, and on Linux x64 loads it with llama.cpp (a tiny llama with a
 * vocabulary) and tokenizes with it. Before the server answered {@code /v2/.../manifests/}, this failed with "Cannot
 * get quantization". Installed by npm into {@code target/hfllama} without its install script and optional
 * dependencies, with llama.cpp's prebuilt CPU binary for Linux x64 named explicitly; skipped where node or npm is
 * missing, except under {@code CI=true}.
 */
@Timeout(300)
class HfNodeLlamaCppTest {
  /** The version ferry-testkit's GgufLlamaCppTest checks Ferry's GGUF reader against. */
  static final String NODE_LLAMA_CPP = "3.22.1";
  static final ObjectMapper JSON = new ObjectMapper();
  /** Where llama.cpp's prebuilt CPU binary for Linux x64 loads the model. */
  static final boolean LINUX_X64 = System.getProperty("os.name").equals("Linux")
      && List.of("amd64", "x86_64").contains(System.getProperty("os.arch"));
  @TempDir static Path tmp;
  static ServerFixture fx;
  static Path work;

  @BeforeAll
  static void install() throws Exception {
    work = Path.of("target", "hfllama").toAbsolutePath();
    Files.createDirectories(work);
    try (InputStream in = HfNodeLlamaCppTest.class.getResourceAsStream("/hfllama/resolve-model.mjs")) {
      Files.write(work.resolve("resolve-model.mjs"), in.readAllBytes());
    }
    NodePackages.requireNode(20);
    if (LINUX_X64) {
      // one npm command for both: npm --no-save removes what an earlier one installed
      NodePackages.install(work, "@node-llama-cpp/linux-x64", NODE_LLAMA_CPP, "--ignore-scripts", "--omit=optional",
          "node-llama-cpp@" + NODE_LLAMA_CPP);
    } else {
      NodePackages.install(work, "node-llama-cpp", NODE_LLAMA_CPP, "--ignore-scripts", "--omit=optional");
    }
    fx = new ServerFixture(tmp);
  }

  @AfterAll
  static void stop() throws Exception {
    if (fx != null) {
      fx.close();
    }
  }

  @Test
  void nodeLlamaCppDownloadsTheFileOfAQuantization() throws Exception {
    Path repository = ModelAndHfApiTest.ggufRepository(tmp.resolve("gguf"));
    tinyLlama().write(repository.resolve("tiny-Q8_0.gguf"));
    fx.repo.push(repository, "org/tiny-gguf", PushOptions.builder().message("m").author("test").build());
    List<FileEntry> files = fx.repo.snapshot(fx.repo.resolve("org/tiny-gguf")).files();
    URI base = fx.startDev().uri();
    for (String[] t : new String[][] {{"hf:org/tiny-gguf:Q8_0", "tiny-Q8_0.gguf", "tiny"},
        {"hf:org/tiny-gguf", "tiny-Q4_K_M.gguf", "Q4_K_M"}}) {
      Path dir = Files.createDirectories(tmp.resolve("models-" + t[2]));
      boolean load = LINUX_X64 && t[2].equals("tiny");
      Run r = NodePackages.run(work, 120, Map.of("LOAD", load ? "1" : "0"), "node", "resolve-model.mjs",
          base.toString(), t[0], dir.toString());
      assertThat(r.code()).as(r.output()).isZero();
      JsonNode got = JSON.readTree(r.output().strip().lines().reduce((a, b) -> b).orElse("{}"));
      String sha = files.stream().filter(f -> f.path().equals(t[1])).findFirst().orElseThrow().sha256();
      assertThat(got.get("sha256").asText()).as(t[0]).isEqualTo(sha);
      assertThat(got.get("name").asText()).as(t[0]).isEqualTo(t[2]);
      assertThat(got.get("tensors").get(0).asText()).as(t[0]).isEqualTo("token_embd.weight");
      if (load) {
        // llama.cpp loaded it: the context it was made for, and "abc" as three of its tokens
        assertThat(got.get("trainContextSize").asInt()).isEqualTo(32);
        assertThat(got.get("tokens").asInt()).isEqualTo(3);
      }
    }
    Run missing = NodePackages.run(work, 120, "node", "resolve-model.mjs", base.toString(), "hf:org/tiny-gguf:Q5_K_M",
        Files.createDirectories(tmp.resolve("none")).toString());
    assertThat(missing.code()).isNotZero();
    assertThat(missing.output()).contains("Cannot get quantization \"Q5_K_M\"");
  }

  /**
   * The smallest llama llama.cpp loads: one layer of width 8, random f32 weights, and a SentencePiece vocabulary of
   * the control tokens, the 256 byte tokens and "▁a" to "▁m" (llama.cpp needs the byte token of a newline).
   */
  static GgufWriter tinyLlama() {
    List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
    for (int b = 0; b < 256; b++) {
      tokens.add(String.format("<0x%02X>", b));
    }
    "abcdefghijklm".chars().forEach(c -> tokens.add("\u2581" + (char) c));
    int[] types = new int[tokens.size()];
    Arrays.fill(types, 1); // normal
    types[0] = 2; // unknown
    types[1] = 3; // control
    types[2] = 3;
    Arrays.fill(types, 3, 259, 6); // byte
    long vocab = tokens.size();
    GgufWriter w = new GgufWriter().str("general.architecture", "llama")
        .str("general.name", "tiny").u32("llama.context_length", 32).u32("llama.embedding_length", 8)
        .u32("llama.block_count", 1).u32("llama.feed_forward_length", 16).u32("llama.attention.head_count", 2)
        .u32("llama.attention.head_count_kv", 2).f32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
        .u32("llama.rope.dimension_count", 4).str("tokenizer.ggml.model", "llama")
        .strings("tokenizer.ggml.tokens", tokens).floats("tokenizer.ggml.scores", new float[tokens.size()])
        .ints("tokenizer.ggml.token_type", types).u32("tokenizer.ggml.bos_token_id", 1)
        .u32("tokenizer.ggml.eos_token_id", 2).u32("tokenizer.ggml.unknown_token_id", 0);
    w.seeded("token_embd.weight", DType.F32, 1, 8, vocab);
    w.seeded("output.weight", DType.F32, 2, 8, vocab);
    w.seeded("output_norm.weight", DType.F32, 3, 8);
    w.seeded("blk.0.attn_norm.weight", DType.F32, 4, 8);
    w.seeded("blk.0.ffn_norm.weight", DType.F32, 5, 8);
    int seed = 6;
    for (String m : List.of("attn_q", "attn_k", "attn_v", "attn_output")) {
      w.seeded("blk.0." + m + ".weight", DType.F32, seed++, 8, 8);
    }
    w.seeded("blk.0.ffn_gate.weight", DType.F32, seed++, 8, 16);
    w.seeded("blk.0.ffn_up.weight", DType.F32, seed++, 8, 16);
    return w.seeded("blk.0.ffn_down.weight", DType.F32, seed, 16, 8);
  }
}
