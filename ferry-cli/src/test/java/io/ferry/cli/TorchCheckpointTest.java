package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PyTorch checkpoints written by real PyTorch (Debian's python3-torch through /usr/bin/python3): pushed tensor-aware,
 * listed by {@code show}, pulled byte-identical and as safetensors that PyTorch reads back equal; malicious pickles
 * in real zip containers refused at push with nothing stored and nothing run.
 */
class TorchCheckpointTest {
  private static final Path PYTHON = Path.of("/usr/bin/python3");

  @TempDir static Path written;
  @TempDir Path tmp;

  /** Writes the checkpoints once (one start of python with torch: about 5 s on a loaded machine). */
  @BeforeAll
  static void writeCheckpoints() throws Exception {
    boolean python = Files.isExecutable(PYTHON);
    String[] result = python ? run("write", written.toString()) : new String[] {"1", "no " + PYTHON};
    boolean noTorch = !result[0].equals("0") && result[1].contains("No module named 'torch'") || !python;
    if ("true".equals(System.getenv("CI"))) {
      assertThat(noTorch).as("CI=true: /usr/bin/python3 with torch is required (apt-get install python3-torch): %s",
          result[1]).isFalse();
    }
    assumeTrue(!noTorch, "torch through /usr/bin/python3 is not available");
    assertThat(result[0]).as("python write failed: %s", result[1]).isEqualTo("0");
  }

  /** Runs torch_check.py: {exit code, stderr, stdout}. */
  private static String[] run(String... args) throws Exception {
    Path script = written.resolve("torch_check.py");
    if (!Files.exists(script)) {
      try (InputStream in = TorchCheckpointTest.class.getResourceAsStream("torch_check.py")) {
        Files.copy(in, script);
      }
    }
    List<String> cmd = new ArrayList<>(List.of(PYTHON.toString(), script.toString()));
    cmd.addAll(List.of(args));
    Path err = Files.createTempFile(written, "python", ".err");
    Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("python finished").isTrue();
    return new String[] {Integer.toString(p.exitValue()), Files.readString(err), out};
  }

  private static String python(String... args) throws Exception {
    String[] r = run(args);
    assertThat(r[0]).as("python %s failed: %s", args[0], r[1]).isEqualTo("0");
    return r[2];
  }

  @Test
  void trainingCheckpointIsStoredTensorAwarePulledIdenticalAndConvertedToSafetensors() throws Exception {
    Path src = written;
    Cli cli = new Cli(tmp.resolve("store")).init();
    String first = cli.push(src.resolve("model"), "run");

    JsonNode file = cli.run("show", "run", "--json").ok().json().get("files").get(0);
    assertThat(file.get("path").asText()).isEqualTo("ckpt.pt");
    assertThat(file.get("format").asText()).isEqualTo("torch");
    Map<String, JsonNode> tensors = new LinkedHashMap<>();
    file.get("tensors").forEach(t -> tensors.put(t.get("name").asText(), t));
    assertThat(tensors).containsKeys("model.emb.weight", "model.head.weight", "model.fc.weight", "model.fc.bias",
        "optimizer.state.0.exp_avg", "optimizer.state.0.exp_avg_sq", "optimizer.state.0.step",
        "extra.transposed", "extra.strided", "extra.row", "extra.bf16", "extra.f16", "extra.i64", "extra.bool");
    assertThat(tensors.get("extra.bf16").get("dtype").asText()).isEqualTo("BF16");
    assertThat(tensors.get("extra.transposed").get("shape").toString()).isEqualTo("[6,4]");
    assertThat(tensors.get("model.head.weight").get("shape").toString()).isEqualTo("[10,4]");
    JsonNode md = file.get("metadata");
    assertThat(md.get("value.epoch").asText()).isEqualTo("3");
    assertThat(md.get("value.note").asText()).isEqualTo("\"hello\"");
    assertThat(md.get("value.optimizer.param_groups").asText()).contains("\"lr\":0.001");
    assertThat(md.get("strides.extra.transposed").asText()).isEqualTo("[1,6]");
    assertThat(md.has("strides.extra.row")).as("a contiguous view has no strides entry").isFalse();

    // the tied weights share one storage: one region, so both names have the same chunks
    Path out = tmp.resolve("out");
    cli.run("pull", "run", out.toString()).ok();
    Cli.assertSameTree(src.resolve("model"), out);

    Path st = tmp.resolve("st");
    JsonNode pulled = cli.run("pull", "run", st.toString(), "--as", "safetensors", "--verify", "--json").ok().json();
    assertThat(pulled.get("convertedTensorCount").asLong()).isEqualTo(tensors.size());
    assertThat(st.resolve("ckpt.safetensors")).exists();
    // the same checkpoint in the legacy (non-zip) format: same tensors and values, byte-identical pull, same export
    cli.push(src.resolve("legacy"), "old");
    JsonNode old = cli.run("show", "old", "--json").ok().json().get("files").get(0);
    assertThat(old.get("format").asText()).isEqualTo("torch");
    List<String> oldNames = new ArrayList<>();
    old.get("tensors").forEach(t -> oldNames.add(t.get("name").asText()));
    assertThat(oldNames).containsExactlyInAnyOrderElementsOf(tensors.keySet());
    assertThat(old.get("metadata").get("value.epoch").asText()).isEqualTo("3");
    Path oldOut = tmp.resolve("old-out");
    cli.run("pull", "old", oldOut.toString()).ok();
    Cli.assertSameTree(src.resolve("legacy"), oldOut);
    Path oldSt = tmp.resolve("old-st");
    cli.run("pull", "old", oldSt.toString(), "--as", "safetensors", "--fsync").ok();
    // and written with pickle protocol 4: it was taken for an opaque file (only protocol 2 was recognised), so its
    // pickle was never checked
    cli.push(src.resolve("legacy4"), "old4");
    JsonNode old4 = cli.run("show", "old4", "--json").ok().json().get("files").get(0);
    assertThat(old4.get("format").asText()).as("pytorch_model.bin, legacy, protocol 4").isEqualTo("torch");
    List<String> old4Names = new ArrayList<>();
    old4.get("tensors").forEach(t -> old4Names.add(t.get("name").asText()));
    assertThat(old4Names).containsExactlyInAnyOrderElementsOf(tensors.keySet());
    Path old4Out = tmp.resolve("old4-out");
    cli.run("pull", "old4", old4Out.toString(), "--verify").ok();
    Cli.assertSameTree(src.resolve("legacy4"), old4Out);

    assertThat(python("check", src.resolve("model/ckpt.pt").toString(), st.resolve("ckpt.safetensors").toString(),
        src.resolve("legacy/old.pt").toString(), oldSt.resolve("old.safetensors").toString()))
        .isEqualTo("ok " + tensors.size() + " tensors\nok " + tensors.size() + " tensors\n");

    // tensor-level diff between two checkpoints of the run
    cli.push(src.resolve("model2"), "run");
    JsonNode diff = cli.run("diff", "run@" + first, "run", "--json").ok().json();
    List<String> changed = new ArrayList<>();
    diff.get("tensors").forEach(t -> changed.add(t.get("name").asText() + " " + t.get("change").asText()));
    assertThat(changed).containsExactly("model.fc.weight changed");
    assertThat(diff.get("unchangedTensorCount").asLong()).isEqualTo(tensors.size() - 1);

    // the pulled safetensors is itself a valid safetensors file for Ferry, and pulled --as torch it loads in
    // PyTorch with weights_only=True holding the same tensors
    cli.push(st, "as-safetensors");
    Path pt = tmp.resolve("pt");
    JsonNode asTorch = cli.run("pull", "as-safetensors", pt.toString(), "--as", "torch", "--json").ok().json();
    assertThat(asTorch.get("as").asText()).isEqualTo("torch");
    assertThat(asTorch.get("convertedTensorCount").asLong()).isEqualTo(tensors.size());
    assertThat(python("check-torch", st.resolve("ckpt.safetensors").toString(), pt.resolve("ckpt.bin").toString()))
        .isEqualTo("ok " + tensors.size() + " tensors\n");
    // an unknown format is a usage error, like any bad option value
    assertThat(cli.run("pull", "run", tmp.resolve("avro").toString(), "--as", "avro").exits(2).err())
        .contains("--as avro").contains("safetensors").contains("Try 'ferry pull --help'");
  }

  /**
   * A checkpoint that records a {@code torch.Size}, a device, a dtype, bytes and a set beside its tensors, as torch
   * pickles them: it was refused at push (the globals were not on the allow-list), though torch 2's weights_only loader
   * reads it. Now pushed tensor-aware with the values in the metadata, and pulled byte-identical.
   */
  @Test
  void valuesTheWeightsOnlyLoaderReadsArePushed() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    cli.push(written.resolve("values"), "values");
    JsonNode files = cli.run("show", "values", "--json").ok().json().get("files");
    JsonNode file = files.get(0);
    assertThat(file.get("path").asText()).isEqualTo("ckpt.pt");
    assertThat(file.get("format").asText()).isEqualTo("torch");
    assertThat(files.get(1).get("metadata").get("value.hist").asText())
        .as("proto5.pt: a numpy array through _frombuffer").isEqualTo(
            "{\"dtype\":\"<u2\",\"shape\":[3],\"hex\":\"010002000300\"}");
    assertThat(file.get("tensors").get(0).get("name").asText()).isEqualTo("w");
    JsonNode md = file.get("metadata");
    assertThat(md.get("value.shape").asText()).isEqualTo("[2,3]");
    assertThat(md.get("value.device").asText()).isEqualTo("\"cuda:1\"");
    assertThat(md.get("value.dtype").asText()).isEqualTo("\"torch.bfloat16\"");
    assertThat(md.get("value.blob").asText()).isEqualTo("\"00ff\"");
    assertThat(md.get("value.tags").asText()).isEqualTo("[\"ft\"]");
    assertThat(md.get("value.best").asText()).isEqualTo("0.5");
    assertThat(md.get("value.steps").asText()).isEqualTo("7");
    assertThat(md.get("value.hist").asText()).isEqualTo("{\"dtype\":\"<u2\",\"shape\":[3],\"hex\":\"010002000300\"}");
    // numpy complex scalars, recorded as Python complex numbers are (they were bare [real, imag] lists)
    assertThat(md.get("value.phase").asText()).isEqualTo("{\"complex\":[1.0,-2.5]}");
    assertThat(md.get("value.phase64").asText()).isEqualTo("{\"complex\":[0.5,1.0]}");
    Path out = tmp.resolve("out");
    cli.run("pull", "values", out.toString(), "--verify").ok();
    Cli.assertSameTree(written.resolve("values"), out);
  }

  /**
   * complex128 tensors, which torch.save writes as {@code torch.ComplexDoubleStorage} and torch.load(weights_only=True)
   * reads, were refused at push ("Ferry has no element type for it"). They are listed as C128 beside complex64's C64,
   * pulled byte-identical and read by name; {@code pull --as safetensors} is refused naming the tensor and its dtype
   * (safetensors has C64 but no complex128), writing nothing.
   */
  @Test
  void complexTensorsArePushedListedAndPulledIdentical() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    cli.push(written.resolve("complex"), "c");
    JsonNode file = cli.run("show", "c", "--json").ok().json().get("files").get(0);
    Map<String, String> tensors = new LinkedHashMap<>();
    file.get("tensors").forEach(t -> tensors.put(t.get("name").asText(),
        t.get("dtype").asText() + " " + t.get("shape")));
    assertThat(tensors).containsOnly(Map.entry("z", "C128 [2,2]"), Map.entry("zt", "C128 [2,2]"),
        Map.entry("y", "C64 [2]"));
    Path out = tmp.resolve("out");
    cli.run("pull", "c", out.toString(), "--verify").ok();
    Cli.assertSameTree(written.resolve("complex"), out);
    try (io.ferry.repo.Repository repo = io.ferry.Ferry.open(cli.store.toString(),
        io.ferry.store.StoreOptions.existing(), io.ferry.repo.RepositoryOptions.defaults());
        io.ferry.read.ModelReader r = repo.open("c")) {
      assertThat(r.read("z").array()).isEqualTo(Files.readAllBytes(written.resolve("complex.bin")));
    }
    Path st = tmp.resolve("st");
    cli.run("pull", "c", st.toString(), "--as", "safetensors").exits(1).oneLineError("ckpt.pt: tensor 'z' is C128"
        + " (torch.complex128), which safetensors has no dtype for");
    assertThat(st).doesNotExist();
  }

  /**
   * A Hugging Face Trainer checkpoint directory: {@code rng_state.pth} (numpy's random state: number arrays, read as
   * data) is read like any checkpoint; {@code training_args.bin} pickles a class of the training script, so a push
   * refuses it naming the file and the class and says how to store such a file; with {@code --opaque} it is stored as
   * its bytes, unread, beside the tensor-aware files, by push and by checkpoint push.
   */
  @Test
  void trainerCheckpointPicklesAreStoredUnreadWithOpaque() throws Exception {
    Path dir = written.resolve("trainer/checkpoint-500");
    Cli cli = new Cli(tmp.resolve("store")).init();
    Map<String, String> before = cli.state();
    cli.run("push", dir.toString(), "ft").exits(1).oneLineError("training_args.bin: ",
        "TrainingArguments' is not allowed", "push --opaque GLOB");
    assertThat(cli.state()).isEqualTo(before);

    cli.run("push", dir.toString(), "ft", "--opaque", "training_args.bin").ok();
    Map<String, JsonNode> files = new LinkedHashMap<>();
    cli.run("show", "ft", "--json").ok().json().get("files").forEach(f -> files.put(f.get("path").asText(), f));
    assertThat(files.get("pytorch_model.bin").get("format").asText()).isEqualTo("torch");
    assertThat(files.get("training_args.bin").get("format").asText()).isEqualTo("opaque");
    JsonNode rng = files.get("rng_state.pth");
    assertThat(rng.get("format").asText()).isEqualTo("torch");
    assertThat(rng.get("tensors").get(0).get("name").asText()).isEqualTo("cpu");
    assertThat(rng.get("metadata").get("value.numpy").asText()).startsWith("[\"MT19937\",{\"dtype\":\"<u4\","
        + "\"shape\":[624],\"hex\":\"");
    // the random state is KiB of JSON: the text listing shows its start and its length, --json all of it
    int numpyChars = rng.get("metadata").get("value.numpy").asText().length();
    assertThat(cli.run("show", "ft").ok().out()).contains("  metadata value.numpy = [\"MT19937\",")
        .contains("... (" + numpyChars + " characters; --json shows it whole)");
    Path out = tmp.resolve("out");
    cli.run("pull", "ft", out.toString(), "--verify").ok();
    Cli.assertSameTree(dir, out);

    cli.run("checkpoint", "push", dir.toString(), "run", "--step", "500", "--opaque", "training_args.bin").ok();
    assertThat(cli.run("checkpoint", "latest", "run").ok().out()).contains("500");
  }

  /**
   * A Triton model repository holds TorchScript models as {@code model.pt}: a zip like a checkpoint, with code and
   * constants instead of a pickled state dict. The push refused it ("compressed (method 8)"); it is now stored as an
   * opaque file and pulled byte-identical.
   */
  @Test
  void aTorchScriptModelPtIsStoredOpaque() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path repoDir = written.resolve("triton");
    cli.push(repoDir, "triton");
    Map<String, String> formats = new LinkedHashMap<>();
    cli.run("show", "triton", "--json").ok().json().get("files")
        .forEach(f -> formats.put(f.get("path").asText(), f.get("format").asText()));
    assertThat(formats).containsEntry("linear/1/model.pt", "opaque").containsKey("linear/config.pbtxt");
    Path out = tmp.resolve("out");
    cli.run("pull", "triton", out.toString(), "--verify").ok();
    Cli.assertSameTree(repoDir, out);
  }

  /**
   * A pickle that leaves other values or an open mark below its result at STOP is read by torch.load, which returns
   * the value on top (torch_check.py checks that it does): Ferry refused it, and now reads its tensors and pulls it
   * byte-identical. A STOP with nothing above its open mark stays refused, as torch.load refuses it.
   */
  @Test
  void aPickleThatLeavesValuesBelowItsResultIsReadAsTorchReadsIt() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    cli.push(written.resolve("stacked"), "stacked");
    JsonNode files = cli.run("show", "stacked", "--json").ok().json().get("files");
    assertThat(files).hasSize(2);
    for (JsonNode file : files) {
      assertThat(file.get("format").asText()).as(file.get("path").asText()).isEqualTo("torch");
      assertThat(file.get("tensors").get(0).get("name").asText()).isEqualTo("w");
    }
    Path out = tmp.resolve("out");
    cli.run("pull", "stacked", out.toString(), "--verify").ok();
    Cli.assertSameTree(written.resolve("stacked"), out);

    Map<String, String> before = cli.state();
    Cli.Result r = cli.run("push", written.resolve("stacked-refused").toString(), "refused");
    assertThat(r.code()).isNotZero();
    r.oneLineError("ckpt.pt: ", "STOP with an open mark and no value above it");
    assertThat(cli.state()).isEqualTo(before);
  }

  @Test
  void maliciousPicklesInRealZipsAreRefusedAtPushAndNothingRuns() throws Exception {
    Path evil = written.resolve("evil");
    Cli cli = new Cli(tmp.resolve("store")).init();
    Map<String, String> expected = new LinkedHashMap<>();
    expected.put("os-system", "global 'os.system' is not allowed");
    expected.put("posix-system", "global 'posix.system' is not allowed");
    expected.put("exec", "global 'builtins.exec' is not allowed");
    expected.put("eval", "global 'builtins.eval' is not allowed");
    expected.put("getattr", "global 'builtins.getattr' is not allowed");
    expected.put("memo", "global 'os.system' is not allowed");
    expected.put("nested", "global 'os.system' is not allowed");
    expected.put("inst", "opcode INST is not allowed");
    expected.put("obj", "global 'os.system' is not allowed");
    expected.put("huge", "length 4294967280 runs past the end of the pickle");
    expected.put("deep", "containers nest deeper than 100 levels");
    expected.put("truncated", "no zip end-of-central-directory record");
    expected.put("dotdot", "has a '..' segment");
    expected.put("absolute", "is an absolute path");
    Map<String, String> before = cli.state();
    for (Map.Entry<String, String> e : expected.entrySet()) {
      Cli.Result r = cli.run("push", evil.resolve(e.getKey()).toString(), "evil-" + e.getKey());
      assertThat(r.code()).as("push of %s: %s", e.getKey(), r.out()).isNotZero();
      r.oneLineError("ckpt.pt: ", e.getValue());
      if (e.getKey().equals("os-system")) {
        r.oneLineError("ckpt.pt: archive/data.pkl: ", "(opcode GLOBAL at byte 2)");
      }
      assertThat(cli.state()).as("store after the push of %s", e.getKey()).isEqualTo(before);
    }
    try (var markers = Files.list(evil.resolve("markers"))) {
      assertThat(markers.toList()).as("marker files the payloads would have created").isEmpty();
    }
    assertThat(cli.run("ls", "--json").ok().out()).doesNotContain("evil-");
  }
}
