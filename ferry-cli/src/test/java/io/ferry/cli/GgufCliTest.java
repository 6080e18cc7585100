package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.format.DType;
import io.ferry.testkit.GgufWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GGUF files through the CLI: push and pull byte-identical, show, diff, a renamed file, a refused one, derive. */
class GgufCliTest {
  /**
   * The snapshot id of {@link #model} pushed with {@code --codec none}, taken from the first run of this test: it
   * must never change (DESIGN invariant 10), or stores stop deduplicating GGUF files pushed before.
   */
  private static final String SNAPSHOT = "c823ef4f9e34d3a5ebdc0813d5664b29671a4f6898de9e13d7665512628a61bd";

  @TempDir Path tmp;

  private static GgufWriter model(DType attn, long attnSeed) {
    List<String> vocab = IntStream.range(0, 300).mapToObj(i -> "tok" + i).toList();
    return new GgufWriter().str("general.architecture", "llama").str("general.name", "tiny\u001b[2J")
        .u32("llama.context_length", 4096).f32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
        .strings("tokenizer.ggml.tokens", vocab)
        .seeded("token_embd.weight", DType.Q4_K, 1, 256, 8)
        .seeded("blk.0.attn_q.weight", attn, attnSeed, 256, 4)
        .seeded("blk.0.attn_norm.weight", DType.F32, 3, 256)
        .seeded("output.weight", DType.F16, 4, 256, 8);
  }

  @Test
  void pushPullShowDiff() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path v1 = model(DType.Q4_K, 2).write(tmp.resolve("v1/tiny.gguf"));
    cli.push(v1.getParent(), "tiny:v1", "--codec", "none");
    Path out = tmp.resolve("out");
    cli.run("pull", "tiny:v1", out.toString(), "--verify").ok();
    assertThat(out.resolve("tiny.gguf")).hasSameBinaryContentAs(v1);

    String show = cli.run("show", "tiny:v1").ok().out();
    assertThat(show).contains("tiny.gguf", "  gguf  ")
        .contains("metadata general.architecture = llama")
        .contains("metadata general.name = tiny\\x1b[2J")
        .contains("metadata llama.attention.layer_norm_rms_epsilon = 0.00001")
        .contains("metadata tokenizer.ggml.tokens = <arr[str], 300 elements, sha256 ")
        .containsPattern("token_embd\\.weight +Q4_K +\\[8, 256\\]")
        .containsPattern("blk\\.0\\.attn_norm\\.weight +F32 +\\[256\\]")
        .doesNotContain("\u001b");
    JsonNode json = cli.run("show", "tiny:v1", "--json").ok().json();
    JsonNode file = json.get("files").get(0);
    assertThat(file.get("format").asText()).isEqualTo("gguf");
    assertThat(file.get("metadata").get("llama.context_length").asText()).isEqualTo("4096");
    assertThat(file.get("metadata").get("general.name").asText()).isEqualTo("tiny\u001b[2J");
    List<String> tensors = new ArrayList<>();
    file.get("tensors").forEach(t -> tensors.add(t.get("name").asText() + " " + t.get("dtype").asText() + " "
        + t.get("shape") + " " + t.get("bytes").asLong()));
    assertThat(tensors).containsExactly("token_embd.weight Q4_K [8,256] 1152", "blk.0.attn_q.weight Q4_K [4,256] 576",
        "blk.0.attn_norm.weight F32 [256] 1024", "output.weight F16 [8,256] 4096");
    // header and padding as one chunk, then each tensor (all four end on the alignment: no padding between them)
    assertThat(file.get("chunkCount").asInt()).isEqualTo(5);
    assertThat(json.get("snapshot").asText()).isEqualTo(SNAPSHOT);

    // requantize one tensor, change nothing else
    Path v2 = model(DType.Q8_0, 2).write(tmp.resolve("v2/tiny.gguf"));
    cli.push(v2.getParent(), "tiny:v2", "--codec", "none");
    String diff = cli.run("diff", "tiny:v1", "tiny:v2").ok().out();
    assertThat(diff).containsPattern("~ blk\\.0\\.attn_q\\.weight +dtype Q4_K -> Q8_0")
        .contains("1 tensor changed, 3 unchanged");
    Path v3 = model(DType.Q4_K, 99).write(tmp.resolve("v3/tiny.gguf"));
    cli.push(v3.getParent(), "tiny:v3", "--codec", "none");
    assertThat(cli.run("diff", "tiny:v1", "tiny:v3").ok().out())
        .containsPattern("~ blk\\.0\\.attn_q\\.weight +Q4_K \\[4, 256\\] \\(values changed\\)");
    cli.run("verify").ok();
  }

  /**
   * A GGUF file whose tensors are the same but whose metadata changed (a longer context, a key added, one removed):
   * diff said only "~ file tiny.gguf" and "0 tensors changed", so which value changed was nowhere. Each key that
   * differs is listed, in the text and under {@code metadata} in the JSON.
   */
  @Test
  void aDiffListsTheMetadataKeysThatChanged() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path v1 = model(DType.Q4_K, 2).write(tmp.resolve("v1/tiny.gguf"));
    cli.push(v1.getParent(), "tiny:v1");
    List<String> vocab = IntStream.range(0, 300).mapToObj(i -> "tok" + i).toList();
    Path v2 = new GgufWriter().str("general.architecture", "llama").str("general.name", "tiny\u001b[2J")
        .u32("llama.context_length", 8192).u32("llama.block_count", 1)
        .strings("tokenizer.ggml.tokens", vocab)
        .seeded("token_embd.weight", DType.Q4_K, 1, 256, 8)
        .seeded("blk.0.attn_q.weight", DType.Q4_K, 2, 256, 4)
        .seeded("blk.0.attn_norm.weight", DType.F32, 3, 256)
        .seeded("output.weight", DType.F16, 4, 256, 8).write(tmp.resolve("v2/tiny.gguf"));
    cli.push(v2.getParent(), "tiny:v2");

    String diff = cli.run("diff", "tiny:v1", "tiny:v2").ok().out();
    assertThat(diff).contains("~ metadata tiny.gguf llama.context_length: 4096 -> 8192")
        .contains("+ metadata tiny.gguf llama.block_count = 1")
        .contains("- metadata tiny.gguf llama.attention.layer_norm_rms_epsilon = 0.00001")
        .contains("0 tensors changed, 4 unchanged; 1 file differs")
        .doesNotContain("general.name").doesNotContain("tokenizer");
    JsonNode json = cli.run("diff", "tiny:v1", "tiny:v2", "--json").ok().json();
    List<String> keys = new ArrayList<>();
    json.get("metadata").forEach(m -> keys.add(m.get("path").asText() + " " + m.get("key").asText() + " "
        + m.get("change").asText() + " " + m.get("valueA") + " " + m.get("valueB")));
    assertThat(keys).containsExactly("tiny.gguf llama.attention.layer_norm_rms_epsilon removed \"0.00001\" null",
        "tiny.gguf llama.block_count added null \"1\"", "tiny.gguf llama.context_length changed \"4096\" \"8192\"");
  }

  /** Split {@code n} (from 1) of {@code count} as llama.cpp's gguf-split writes it: split keys, then its tensors. */
  private static GgufWriter split(int n, int count, int tensorsInAll, String... tensors) {
    GgufWriter w = new GgufWriter();
    if (n == 1) {
      w.str("general.architecture", "llama");
    }
    w.kv("split.no", GgufWriter.U16, new byte[] {(byte) (n - 1), 0})
        .kv("split.count", GgufWriter.U16, new byte[] {(byte) count, 0}).i32("split.tensors.count", tensorsInAll);
    for (int i = 0; i < tensors.length; i++) {
      w.seeded(tensors[i], DType.F16, 10L * n + i, 256, 4);
    }
    return w;
  }

  @Test
  void aSplitGgufIsCheckedAcrossItsSplitsAndKeptPerFile() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path dir = tmp.resolve("split");
    split(1, 3, 5, "token_embd.weight", "blk.0.attn_q.weight").write(dir.resolve("m-00001-of-00003.gguf"));
    split(2, 3, 5, "blk.1.attn_q.weight", "blk.2.attn_q.weight").write(dir.resolve("m-00002-of-00003.gguf"));
    split(3, 3, 5, "output.weight").write(dir.resolve("m-00003-of-00003.gguf"));
    cli.push(dir, "split:v1");
    JsonNode files = cli.run("show", "split:v1", "--json").ok().json().get("files");
    assertThat(files).hasSize(3);
    assertThat(files.get(1).get("metadata").get("split.no").asText()).isEqualTo("1");
    assertThat(files.get(1).get("tensors")).hasSize(2);
    Path out = tmp.resolve("out");
    cli.run("pull", "split:v1", out.toString(), "--verify").ok();
    Cli.assertSameTree(dir, out);

    // every defect llama.cpp's loader would meet is refused at push, naming the file, and the store is unchanged
    var before = cli.state();
    Path bad = tmp.resolve("bad");
    Files.createDirectories(bad);
    Files.copy(dir.resolve("m-00001-of-00003.gguf"), bad.resolve("m-00001-of-00003.gguf"));
    Files.copy(dir.resolve("m-00003-of-00003.gguf"), bad.resolve("m-00003-of-00003.gguf"));
    cli.run("push", bad.toString(), "bad").exits(1).oneLineError("m-00001-of-00003.gguf",
        "split in 3 files and 1 is missing: m-00002-of-00003.gguf");
    // present under its name but without split keys (llama.cpp: "missing key split.no in GGUF split"): not missing
    new GgufWriter().seeded("blk.1.attn_q.weight", DType.F16, 20, 256, 4).seeded("blk.2.attn_q.weight", DType.F16,
        21, 256, 4).write(bad.resolve("m-00002-of-00003.gguf"));
    cli.run("push", bad.toString(), "bad").exits(1).oneLineError("m-00002-of-00003.gguf: is named as split 2 of 3"
        + " but has no split keys (split.no, split.count), which every split of a set carries (llama.cpp refuses a"
        + " split without split.no)");
    assertThat(cli.state()).isEqualTo(before);
    Files.delete(bad.resolve("m-00002-of-00003.gguf"));
    split(2, 3, 5, "blk.1.attn_q.weight", "blk.2.attn_q.weight").write(bad.resolve("m-00002-of-00003.gguf"));
    cli.push(bad, "good-again");
    before = cli.state();
    Files.delete(bad.resolve("m-00002-of-00003.gguf"));
    split(3, 3, 5, "blk.1.attn_q.weight", "blk.2.attn_q.weight").write(bad.resolve("m-00002-of-00003.gguf"));
    cli.run("push", bad.toString(), "bad").exits(1).oneLineError("m-00002-of-00003.gguf",
        "its name says split 2, its split.no says 2");
    Files.delete(bad.resolve("m-00002-of-00003.gguf"));
    split(2, 3, 6, "blk.1.attn_q.weight", "blk.2.attn_q.weight").write(bad.resolve("m-00002-of-00003.gguf"));
    cli.run("push", bad.toString(), "bad").exits(1).oneLineError("m-00002-of-00003.gguf",
        "split.tensors.count = 6", "says 5");
    Files.delete(bad.resolve("m-00002-of-00003.gguf"));
    split(2, 3, 5, "blk.1.attn_q.weight", "output.weight").write(bad.resolve("m-00002-of-00003.gguf"));
    cli.run("push", bad.toString(), "bad").exits(1).oneLineError("m-00001-of-00003.gguf",
        "tensor 'output.weight' is in two splits");
    Files.delete(bad.resolve("m-00002-of-00003.gguf"));
    split(2, 3, 4, "blk.1.attn_q.weight").write(bad.resolve("m-00002-of-00003.gguf"));
    Files.delete(bad.resolve("m-00001-of-00003.gguf"));
    Files.delete(bad.resolve("m-00003-of-00003.gguf"));
    split(1, 3, 4, "token_embd.weight", "blk.0.attn_q.weight").write(bad.resolve("m-00001-of-00003.gguf"));
    split(3, 3, 4, "output.weight", "extra.weight").write(bad.resolve("m-00003-of-00003.gguf"));
    cli.run("push", bad.toString(), "bad").exits(1).oneLineError("m-00001-of-00003.gguf",
        "split.tensors.count = 4, but the 3 splits hold 5 tensors");
    // the split keys of another type than gguf-split writes: llama.cpp refuses the file whatever the value
    Path typed = tmp.resolve("typed");
    new GgufWriter().str("split.no", "0").kv("split.count", GgufWriter.U16, new byte[] {1, 0})
        .seeded("a.weight", DType.F16, 1, 256, 4).write(typed.resolve("m-00001-of-00001.gguf"));
    cli.run("push", typed.toString(), "bad").exits(1).oneLineError("m-00001-of-00001.gguf",
        "split.no is of type str", "u16");
    new GgufWriter().kv("split.no", GgufWriter.U16, new byte[] {0, 0}).kv("split.count", GgufWriter.U16,
        new byte[] {1, 0}).kv("split.tensors.count", GgufWriter.U64, new byte[] {1, 0, 0, 0, 0, 0, 0, 0})
        .seeded("a.weight", DType.F16, 1, 256, 4).write(typed.resolve("m-00001-of-00001.gguf"));
    cli.run("push", typed.toString(), "bad").exits(1).oneLineError("m-00001-of-00001.gguf",
        "split.tensors.count is of type u64", "i32");
    Path misnamed = tmp.resolve("misnamed");
    split(1, 2, 2, "a.weight").write(misnamed.resolve("model.gguf"));
    cli.run("push", misnamed.toString(), "bad").exits(1).oneLineError("model.gguf",
        "is split 1 of 2", "PREFIX-00001-of-00002.gguf");
    assertThat(cli.state()).isEqualTo(before);
  }

  @Test
  void aRenamedGgufIsStillReadAsGguf() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path f = model(DType.Q4_K, 2).write(tmp.resolve("m/model.bin"));
    cli.push(f.getParent(), "renamed");
    JsonNode file = cli.run("show", "renamed", "--json").ok().json().get("files").get(0);
    assertThat(file.get("format").asText()).isEqualTo("gguf");
    assertThat(file.get("tensors")).hasSize(4);
  }

  @Test
  void aRenamedGgufOfAnotherVersionIsKeptAsOpaqueBytesAndRefusedUnderItsName() throws IOException {
    // llama.cpp reads neither; under another name it is not claimed as GGUF and is kept whole
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path f = model(DType.Q4_K, 2).version(4).write(tmp.resolve("v4/model.bin"));
    cli.push(f.getParent(), "v4");
    JsonNode file = cli.run("show", "v4", "--json").ok().json().get("files").get(0);
    assertThat(file.get("format").asText()).isEqualTo("opaque");
    Path out = tmp.resolve("v4-out");
    cli.run("pull", "v4", out.toString(), "--verify").ok();
    Cli.assertSameTree(f.getParent(), out);
    refusedAndStoreUnchanged(cli, tmp, "v4-named", model(DType.Q4_K, 2).version(4),
        "GGUF version 4 is newer than version 3");
  }

  @Test
  void aMalformedGgufIsRefusedAndTheStoreUnchanged() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    byte[] b = model(DType.Q4_K, 2).bytes();
    Path f = Files2.write(tmp.resolve("bad/tiny.gguf"), java.util.Arrays.copyOf(b, b.length - 100));
    var before = cli.state();
    cli.run("push", f.getParent().toString(), "bad").exits(1)
        .oneLineError("tiny.gguf: tensor 'output.weight'", "ends past the end of the file", "truncated");
    assertThat(cli.state()).isEqualTo(before);
  }

  /** Pushes one file that llama.cpp's ggml loads, pulls it back byte-identical. */
  private static void pushedAndPulledBack(Cli cli, Path tmp, String name, GgufWriter w) throws IOException {
    Path f = w.write(tmp.resolve(name + "/model.gguf"));
    cli.push(f.getParent(), name);
    Path out = tmp.resolve(name + "-out");
    cli.run("pull", name, out.toString(), "--verify").ok();
    Cli.assertSameTree(f.getParent(), out);
  }

  /** Refuses one file that llama.cpp's ggml refuses, naming it and the defect, and leaves the store as it was. */
  private static void refusedAndStoreUnchanged(Cli cli, Path tmp, String name, GgufWriter w, String... message)
      throws IOException {
    Path f = w.write(tmp.resolve(name + "/model.gguf"));
    var before = cli.state();
    String[] parts = new String[message.length + 1];
    parts[0] = "model.gguf: ";
    System.arraycopy(message, 0, parts, 1, message.length);
    cli.run("push", f.getParent().toString(), name).exits(1).oneLineError(parts);
    assertThat(cli.state()).isEqualTo(before);
  }

  @Test
  void keysAndNamesAreReadAsGgmlReadsThemUpToANulByte() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    // ggml (checked with node-llama-cpp 3.22.1) takes general.alignment\0x for general.alignment
    refusedAndStoreUnchanged(cli, tmp, "nul-alignment-str", model(DType.Q4_K, 2).str("general.alignment\0x", "64"),
        "general.alignment\\x00x", "must be of type u32 but is str");
    refusedAndStoreUnchanged(cli, tmp, "nul-alignment-48", model(DType.Q4_K, 2).u32("general.alignment\0x", 48),
        "general.alignment\\x00x", "48 is not a power of two");
    pushedAndPulledBack(cli, tmp, "nul-alignment-64", new GgufWriter().alignment(64).u32("general.alignment\0", 64)
        .seeded("a", DType.F32, 1, 4).seeded("b", DType.F32, 2, 4));
    // ggml names a tensor up to its NUL byte: 'output.weight\0x' is a second 'output.weight'
    refusedAndStoreUnchanged(cli, tmp, "nul-name-twice", model(DType.Q4_K, 2).seeded("output.weight\0x", DType.F32,
        5, 4), "tensor 'output.weight\\x00x'", "appears twice", "both 'output.weight'");
    pushedAndPulledBack(cli, tmp, "nul-name", new GgufWriter().seeded("w\0junk", DType.F32, 1, 4));
    // llama.cpp takes split.count\0x for split.count, then refuses the file: "key not found in model: split.no"
    refusedAndStoreUnchanged(cli, tmp, "nul-split-count", model(DType.Q4_K, 2).kv("split.count\0x", GgufWriter.U16,
        new byte[] {2, 0}), "has split keys but no split.no");
  }

  @Test
  void aKeyThatIsNotUtf8IsPushedShownAndPulled() throws IOException {
    // ggml keeps a key's bytes and llama.cpp loads a model with such a key; Ferry refused it
    Cli cli = new Cli(tmp.resolve("store")).init();
    byte[] b = new GgufWriter().u32("kX", 1).seeded("t", DType.F32, 1, 4).bytes();
    b[33] = (byte) 0xff;
    Path f = Files2.write(tmp.resolve("m/model.gguf"), b);
    cli.push(f.getParent(), "m");
    assertThat(cli.run("show", "m").ok().out()).contains("k\uFFFD <not UTF-8: 6bff>");
    Path out = tmp.resolve("out");
    cli.run("pull", "m", out.toString(), "--verify").ok();
    Cli.assertSameTree(f.getParent(), out);
  }

  @Test
  void anEmptyTensorWithHugeOtherDimensionsIsPushedShownAndPulled() throws IOException {
    // ggml reads it (no elements, no bytes); Ferry said its shape had more than 2^63 elements
    Cli cli = new Cli(tmp.resolve("store")).init();
    pushedAndPulledBack(cli, tmp, "empty", new GgufWriter().tensor("z", 0, 0, null, 4, 1L << 62, 4, 0)
        .tensor("y", 0, 0, null, 0, 1L << 62, 4).seeded("after", DType.F32, 1, 2));
    assertThat(cli.run("show", "empty").ok().out()).contains("[4, 4611686018427387904, 0]");
  }

  @Test
  void aQ8_1TensorIsReadWithGgmlsBlocksOf36Bytes() throws IOException {
    // eight blocks of ggml's Q8_1 (two F16s and 32 int8s): 288 bytes, so the next tensor is at 288. Ferry counted 40
    // bytes a block and refused the file ("tensor 'after' at offset 288 overlaps tensor 'q'"), which llama.cpp loads
    Cli cli = new Cli(tmp.resolve("store")).init();
    pushedAndPulledBack(cli, tmp, "q8_1", new GgufWriter().tensor("q", 9, 288, null, 256).seeded("after",
        DType.F32, 1, 8));
    JsonNode q = cli.run("show", "q8_1", "--json").ok().json().get("files").get(0).get("tensors").get(0);
    assertThat(q.get("dtype").asText()).isEqualTo("Q8_1");
    assertThat(q.get("bytes").asLong()).isEqualTo(288);
  }

  @Test
  void deriveRefusesGgufTensors() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path f = model(DType.Q4_K, 2).write(tmp.resolve("d/tiny.gguf"));
    cli.push(f.getParent(), "tiny:v1");
    var before = cli.state();
    cli.run("derive", "cast", "tiny:v1", "--to", "bf16", "--as", "tiny:bf16").exits(1)
        .oneLineError("tiny.gguf is a gguf file of 4 tensors: derive transforms the tensors of safetensors files "
            + "only");
    assertThat(cli.state()).isEqualTo(before);
    assertThat(Files.exists(f)).isTrue();
  }
}
