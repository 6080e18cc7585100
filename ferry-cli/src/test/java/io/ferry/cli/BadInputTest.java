package io.ferry.cli;

import static io.ferry.cli.Files2.t;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.FaultyChunkStore;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import io.ferry.testkit.TestRandom;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad input never changes the store: each defect gives a one-line error naming the file and the defect, the right
 * exit code, and a store whose files are byte-identical before and after.
 */
class BadInputTest {
  private static final String SHARD2 = "model-00002-of-00002.safetensors";

  @RegisterExtension final TestRandom random = new TestRandom();

  @TempDir Path tmp;

  private Cli cli;
  private Path good;

  @BeforeEach
  void storeWithOneModel() throws IOException {
    cli = new Cli(tmp.resolve("store")).init();
    good = hf("good");
    cli.push(good, "m:prod", "-m", "base");
  }

  /** A valid HF directory with two shards. */
  private Path hf(String name) throws IOException {
    Path dir = tmp.resolve(name);
    List<Tensor> ts = List.of(t("a", DType.BF16, 1, 128, 256), t("b", DType.F32, 2, 64), t("c", DType.BF16, 3, 128, 256),
        t("d", DType.F32, 4, 64));
    ModelGenerator.writeHfModel(dir, ts, 80 << 10);
    assertThat(dir.resolve(SHARD2)).exists();
    return dir;
  }

  private void rejected(String[] args, int code, String... fragments) {
    Map<String, String> before = cli.state();
    cli.run(args).exits(code).oneLineError(fragments);
    assertThat(cli.state()).as("store files after ferry %s", String.join(" ", args)).isEqualTo(before);
  }

  private void pushRejected(Path src, String... fragments) {
    rejected(new String[] {"push", src.toString(), "m"}, 1, fragments);
  }

  static String hdr(String tensors) {
    return "{" + tensors + "}";
  }

  static Stream<Arguments> malformed() {
    String x = "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    return Stream.of(
        Arguments.of("shorter than 8 bytes", new byte[] {1, 2, 3, 4, 5}, "8"),
        Arguments.of("header length above 100,000,000", bytes(100_000_001L, "{}", 0), "100000000"),
        Arguments.of("header past the end of the file", bytes(1000, "{}", 8), "1000"),
        Arguments.of("header not UTF-8", bytes(4, new byte[] {'{', (byte) 0xff, (byte) 0xfe, '}'}, 0), "UTF-8"),
        Arguments.of("header not JSON", bytes("{not json", 0), "JSON"),
        Arguments.of("header not an object", bytes("[1,2]", 0), "object"),
        Arguments.of("__metadata__ not a map", bytes(hdr("\"__metadata__\":\"x\"," + x), 8), "__metadata__"),
        Arguments.of("__metadata__ value not a string", bytes(hdr("\"__metadata__\":{\"a\":1}," + x), 8),
            "__metadata__"),
        Arguments.of("unknown dtype",
            bytes(hdr("\"x\":{\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,8]}"), 8), "F128"),
        Arguments.of("negative shape",
            bytes(hdr("\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}"), 8), "-2"),
        Arguments.of("overflowing shape", bytes(hdr("\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,"
            + "4611686018427387904],\"data_offsets\":[0,8]}"), 8), "'x'"),
        Arguments.of("byte length mismatch",
            bytes(hdr("\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}"), 8), "'x'"),
        Arguments.of("offsets reversed",
            bytes(hdr("\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}"), 8), "'x'"),
        Arguments.of("gap between tensors", bytes(hdr(x + ",\"y\":{\"dtype\":\"F32\",\"shape\":[2],"
            + "\"data_offsets\":[12,20]}"), 20), "'y'"),
        Arguments.of("overlapping tensors", bytes(hdr(x + ",\"y\":{\"dtype\":\"F32\",\"shape\":[2],"
            + "\"data_offsets\":[4,12]}"), 12), "'y'"),
        Arguments.of("trailing bytes", bytes(hdr(x), 12), "trailing"),
        Arguments.of("data not starting at 0",
            bytes(hdr("\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}"), 12), "'x'"),
        Arguments.of("odd number of F4 elements",
            bytes(hdr("\"x\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}"), 2), "'x'"));
  }

  private static byte[] bytes(String header, int data) {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    return bytes(h.length, h, data);
  }

  private static byte[] bytes(long len, String header, int data) {
    return bytes(len, header.getBytes(StandardCharsets.UTF_8), data);
  }

  private static byte[] bytes(long len, byte[] header, int data) {
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8 + header.length + data)
        .order(java.nio.ByteOrder.LITTLE_ENDIAN);
    b.putLong(len).put(header);
    return b.array();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("malformed")
  void malformedShardInAnHfDirectory(String defect, byte[] content, String keyword) throws IOException {
    Path dir = hf("bad");
    Files.write(dir.resolve(SHARD2), content);
    pushRejected(dir, SHARD2, keyword);
    // the same file on its own
    Path single = Files.write(tmp.resolve("single.safetensors"), content);
    pushRejected(single, "single.safetensors", keyword);
  }

  /** An empty --derivation or --derived-from (an unset shell variable) is named, and nothing is pushed. */
  @Test
  void emptyDerivationOptionsOfPushAreNamed() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path model = Files.createDirectories(tmp.resolve("model"));
    Files.writeString(model.resolve("config.json"), "{}");
    Map<String, String> before = cli.state();
    for (String option : new String[] {"--derivation", "--derived-from"}) {
      assertThat(cli.run("push", model.toString(), "m", option, "").exits(FerryCli.USAGE).err())
          .startsWith("ferry: " + option + " is empty");
    }
    assertThat(cli.state()).isEqualTo(before);
  }

  /**
   * An argument given empty (an unset shell variable) is a usage error naming it, and nothing changes: each command
   * said something of its own ("empty ref", "model name is empty"; exit 1) without naming the argument.
   */
  @Test
  void emptyArgumentsAreNamed() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path model = Files.createDirectories(tmp.resolve("model"));
    Files.writeString(model.resolve("config.json"), "{}");
    cli.run("push", model.toString(), "m").exits(0);
    Map<String, String> before = cli.state();
    String[][] cases = {{"NEW", "mv", "m", ""}, {"OLD", "mv", "", "n"}, {"TARGET", "push", model.toString(), ""},
        {"MODEL[@ID]", "rm", ""}, {"REF", "show", ""}, {"TAG", "tag", "m", ""},
        {"MODEL:TAG|MODEL", "rollback", "", "--to", "abcd"}, {"A", "diff", "", "m"}};
    for (String[] c : cases) {
      String[] args = java.util.Arrays.copyOfRange(c, 1, c.length);
      assertThat(cli.run(args).exits(FerryCli.USAGE).err()).as(String.join(" ", args))
          .startsWith("ferry: " + c[0] + " is empty (an unset shell variable?)");
    }
    assertThat(cli.state()).isEqualTo(before);
  }

  /** A number option's bad value is said in the user's words, not Java's ("'1.5' is not a long"). */
  @Test
  void badNumbersAreNamedWithoutJavaTypes() {
    String[][] cases = {{"--step '1.5' is not a whole number", "checkpoint", "push", "a", "b", "--step", "1.5"},
        {"--max-count '99999999999' is not a whole number up to 2147483647", "log", "m", "-n", "99999999999"},
        {"--parallelism 'abc' is not a whole number", "ls", "--parallelism", "abc"},
        {"--threshold 'abc' is not a number", "derive", "prune", "m", "--threshold", "abc", "--as", "p"}};
    for (String[] c : cases) {
      String[] args = java.util.Arrays.copyOfRange(c, 1, c.length);
      assertThat(Cli.raw(args).exits(FerryCli.USAGE).err()).as("ferry %s", String.join(" ", args))
          .startsWith("ferry: " + c[0]);
    }
  }

  @Test
  void missingAndExtraShards() throws IOException {
    Path missing = hf("missing");
    Files.delete(missing.resolve(SHARD2));
    pushRejected(missing, "model.safetensors.index.json", SHARD2, "missing");

    Path extra = hf("extra");
    Files2.safetensors(extra.resolve("model-00003-of-00002.safetensors"), t("z", DType.F32, 9, 4));
    pushRejected(extra, "model-00003-of-00002.safetensors", "weight_map");

    Path nested = hf("nested");
    Files.createDirectories(nested.resolve("sub"));
    Files.move(nested.resolve(SHARD2), nested.resolve("sub/" + SHARD2));
    pushRejected(nested, SHARD2);

    // a shard that is there but is not safetensors, or that a filter left out, is said to be so, not "missing"
    Path notSafetensors = hf("not-safetensors");
    Files.delete(notSafetensors.resolve(SHARD2));
    Files.writeString(notSafetensors.resolve(SHARD2.replace(".safetensors", ".bin")), "x");
    String index = Files.readString(notSafetensors.resolve("model.safetensors.index.json"));
    Files.writeString(notSafetensors.resolve("model.safetensors.index.json"),
        index.replace(SHARD2, SHARD2.replace(".safetensors", ".bin")));
    pushRejected(notSafetensors, SHARD2.replace(".safetensors", ".bin") + "' is listed in weight_map but is not a"
        + " safetensors file");
    rejected(new String[] {"push", hf("filtered").toString(), "m", "--exclude", SHARD2}, 1,
        SHARD2 + "' is listed in weight_map but is left out by --exclude '" + SHARD2 + "'");
  }

  @Test
  void otherCheckpointsNextToAShardedModelAreNotItsShards() throws IOException {
    // Mistral's repositories keep consolidated.safetensors (other tensor names) next to the sharded model, and a
    // model in a subdirectory the index does not name is another model even with the same tensor names
    Path dir = hf("mistral");
    Files2.safetensors(dir.resolve("consolidated.safetensors"), t("layers.0.wq", DType.F32, 7, 8));
    Files2.safetensors(dir.resolve("draft/model.safetensors"), t("a", DType.F32, 8, 4), t("b", DType.F32, 9, 2));
    cli.push(dir, "mistral");
    cli.run("pull", "mistral", tmp.resolve("out").toString()).ok();
    Cli.assertSameTree(dir, tmp.resolve("out"));

    // still refused: an unlisted file numbered like a shard, or one holding a tensor the weight map names
    Path numbered = hf("numbered");
    Files2.safetensors(numbered.resolve("model-00003-of-00003.safetensors"), t("z", DType.F32, 9, 4));
    pushRejected(numbered, "model-00003-of-00003.safetensors' is in the directory but not in weight_map");
    Path sharing = hf("sharing");
    Files2.safetensors(sharing.resolve("consolidated.safetensors"), t("a", DType.F32, 9, 4));
    pushRejected(sharing, "consolidated.safetensors' is in the directory but not in weight_map",
        "tensor 'a' is in more than one shard");
  }

  @Test
  void diffusersIndexesAreCheckedToo() throws IOException {
    // fp32 and fp16 variants, each sharded with its own index, side by side in one directory
    Path dir = tmp.resolve("diffusers");
    for (String variant : List.of("", ".fp16")) {
      String prefix = "diffusion_pytorch_model" + variant;
      Files2.safetensors(dir.resolve("unet/" + prefix + "-00001-of-00002.safetensors"), t("a", DType.F32, 1, 4));
      Files2.safetensors(dir.resolve("unet/" + prefix + "-00002-of-00002.safetensors"), t("b", DType.F32, 2, 4));
      Files.writeString(dir.resolve("unet/" + prefix + ".safetensors.index.json"), "{\"weight_map\":{\"a\":\""
          + prefix + "-00001-of-00002.safetensors\",\"b\":\"" + prefix + "-00002-of-00002.safetensors\"}}");
    }
    cli.push(dir, "sd");
    cli.run("pull", "sd", tmp.resolve("out").toString()).ok();
    Cli.assertSameTree(dir, tmp.resolve("out"));

    Files.delete(dir.resolve("unet/diffusion_pytorch_model.fp16-00002-of-00002.safetensors"));
    pushRejected(dir, "unet/diffusion_pytorch_model.fp16.safetensors.index.json: shard "
        + "'diffusion_pytorch_model.fp16-00002-of-00002.safetensors' is listed in weight_map but missing");
    Files.writeString(dir.resolve("unet/diffusion_pytorch_model.fp16.safetensors.index.json"), "{\"weight_map\":[]}");
    // an index that cannot be read is named by its path in the model, as every other error of an index is
    pushRejected(dir, "unet/diffusion_pytorch_model.fp16.safetensors.index.json: 'weight_map' is not an object");
    Files.writeString(dir.resolve("unet/diffusion_pytorch_model.fp16.safetensors.index.json"),
        "{\"weight_map\":{\"a\":\"../a.safetensors\"}}");
    pushRejected(dir, "unet/diffusion_pytorch_model.fp16.safetensors.index.json: tensor 'a' maps to shard"
        + " '../a.safetensors', which contains '..'");
    Files.writeString(dir.resolve("unet/pytorch_model.bin.index.json"), "{\"weight_map\":[]}");
    Files.delete(dir.resolve("unet/diffusion_pytorch_model.fp16.safetensors.index.json"));
    pushRejected(dir, "unet/pytorch_model.bin.index.json: 'weight_map' is not an object");
  }

  @Test
  void aPytorchIndexMustNameFilesOfTheModel() throws IOException {
    Path dir = tmp.resolve("pt");
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("a.bin"), "opaque bytes");
    Path index = dir.resolve("pytorch_model.bin.index.json");
    Files.writeString(index, "{\"weight_map\":{\"x\":\"a.bin\",\"y\":\"pytorch_model-00002-of-00002.bin\"}}");
    pushRejected(dir, "pytorch_model.bin.index.json: shard 'pytorch_model-00002-of-00002.bin' is listed in "
        + "weight_map but missing");
    Files.writeString(index, "{\"weight_map\":{\"x\":\"a.bin\",\"y\":\"../outside.bin\"}}");
    pushRejected(dir, "pytorch_model.bin.index.json: tensor 'y' maps to shard '../outside.bin', which contains '..'");
    Files.writeString(index, "{\"weight_map\":{\"x\":\"a.bin\"}}");
    cli.push(dir, "pt");
  }

  @Test
  void unsafePathsAndBadNames() throws IOException {
    rejected(new String[] {"cat", "m:prod//../x"}, 1, "..");
    rejected(new String[] {"cat", "m:prod///etc/passwd"}, 1, "absolute");
    rejected(new String[] {"pull", "m:prod//a/../../x", tmp.resolve("o").toString()}, 1, "..");
    assertThat(tmp.resolve("o")).doesNotExist();
    for (String name : List.of("_under", "with space", "a//b", "x".repeat(129), "a/b/c", ".dot", "a/",
        "caf\u00e9")) {
      rejected(new String[] {"push", good.toString(), name}, 1, name.length() > 40 ? "x".repeat(40) : name);
    }
    for (String tag : List.of("_x", ".x", "head", "a b", "x".repeat(129), "a/b", "\u00fc")) {
      if (!tag.equals("head")) { // m:head names the head, on purpose
        rejected(new String[] {"push", good.toString(), "m:" + tag}, 1, "tag");
      }
      rejected(new String[] {"tag", "m", tag}, 1, "tag");
    }
    Map<String, String> before = cli.state();
    assertThat(cli.run("tag", "m", "prod", "--expect", "nothex").exits(2).err()).contains("--expect 'nothex'");
    assertThat(cli.state()).isEqualTo(before);
    rejected(new String[] {"push", good.toString(), "m@abcd"}, 1, "m@abcd");
  }

  /**
   * A JVM started under the C locale (not through the launcher, which gives Java a UTF-8 locale then) names files in
   * ASCII, so a file name beyond ASCII cannot be read: the push is refused naming the directory, the encoding and the
   * remedy. It failed with Java's bare "Malformed input or input contains unmappable characters".
   */
  @Test
  void aNameTheLocaleCannotEncodeIsRefusedWithTheRemedy() throws Exception {
    Path src = Files.createDirectories(tmp.resolve("unicode"));
    Files.writeString(src.resolve("t\u00f6kenizer.json"), "{}");
    Map<String, String> before = cli.state();
    List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:+UseSerialGC",
        "-cp", System.getProperty("java.class.path"), FerryCli.class.getName(), "push", "--store",
        tmp.resolve("store").toString(), src.toString(), "m");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD);
    pb.environment().put("LC_ALL", "C");
    pb.environment().put("LANG", "C");
    Path err = Files.createTempFile(tmp, "err", ".txt");
    Process p = pb.redirectError(err.toFile()).start();
    assertThat(p.waitFor(5, java.util.concurrent.TimeUnit.MINUTES)).as("ferry push finished").isTrue();
    String message = Files.readString(err, StandardCharsets.UTF_8);
    assertThat(p.exitValue()).as("exit code; stderr: %s", message).isEqualTo(1);
    assertThat(message).contains(src.toString()).contains("holds a file name that is not valid")
        .contains("LC_ALL=C.UTF-8").doesNotContain("Malformed input");
    assertThat(message.strip().lines()).hasSize(1);
    assertThat(cli.state()).as("store files after the push").isEqualTo(before);
  }

  @Test
  void sourceMissingOrUnreadable() throws IOException {
    pushRejected(tmp.resolve("nope"), "nope", "no such file");
    Path dir = hf("unreadable");
    Path shard = dir.resolve(SHARD2);
    Files.setPosixFilePermissions(shard, PosixFilePermissions.fromString("---------"));
    try {
      Assumptions.assumeFalse(Files.isReadable(shard),
          "running as a user that reads files without permission (root): cannot test unreadable files");
      pushRejected(dir, SHARD2, "permission denied");
      Files.writeString(dir.resolve("notes.txt"), "x");
      Files.setPosixFilePermissions(shard, PosixFilePermissions.fromString("rw-r--r--"));
      Files.setPosixFilePermissions(dir.resolve("notes.txt"), PosixFilePermissions.fromString("---------"));
      pushRejected(dir, "notes.txt", "permission denied");
    } finally {
      Files.setPosixFilePermissions(shard, PosixFilePermissions.fromString("rw-r--r--"));
    }
  }

  @Test
  void storeIsARegularFileOrMissing() throws IOException {
    Path file = Files.writeString(tmp.resolve("not-a-store"), "hello");
    for (String[] c : List.of(new String[] {"init"}, new String[] {"ls"}, new String[] {"push", good.toString(), "m"},
        new String[] {"log", "m"}, new String[] {"verify"}, new String[] {"gc"}, new String[] {"stats"})) {
      new Cli(file).run(c).exits(1).oneLineError("not-a-store");
      assertThat(file).hasContent("hello");
    }
    Path missing = tmp.resolve("missing-store");
    for (String[] c : List.of(new String[] {"ls"}, new String[] {"push", good.toString(), "m"},
        new String[] {"log", "m"}, new String[] {"show", "m"}, new String[] {"tag", "m", "x"},
        new String[] {"pull", "m", tmp.resolve("o").toString()}, new String[] {"cat", "m//config.json"},
        new String[] {"verify"}, new String[] {"gc"}, new String[] {"stats"}, new String[] {"rollback", "m:x"},
        new String[] {"diff", "m", "m"})) {
      new Cli(missing).run(c).exits(1).oneLineError("missing-store");
      assertThat(missing).as("after ferry %s", c[0]).doesNotExist();
    }
    Path notEmpty = Files.createDirectories(tmp.resolve("some-dir"));
    Files.writeString(notEmpty.resolve("file"), "x");
    new Cli(notEmpty).run("init").exits(1).oneLineError("some-dir");
    assertThat(Cli.state(notEmpty)).containsOnlyKeys("file");
  }

  @Test
  void pullIntoARegularFile() throws IOException {
    Path file = Files.writeString(tmp.resolve("afile"), "x");
    rejected(new String[] {"pull", "m", file.toString()}, 1, "afile", "not a directory");
    assertThat(file).hasContent("x");
  }

  @Test
  void notFound() {
    rejected(new String[] {"show", "nosuch"}, 1, "nosuch");
    rejected(new String[] {"show", "m:nosuch"}, 1, "nosuch");
    rejected(new String[] {"log", "nosuch"}, 1, "nosuch");
    rejected(new String[] {"pull", "nosuch", tmp.resolve("o").toString()}, 1, "nosuch");
    rejected(new String[] {"diff", "m", "nosuch"}, 1, "nosuch");
    rejected(new String[] {"verify", "nosuch"}, 1, "nosuch");
  }

  @Test
  void usageErrors() {
    Map<String, String> before = cli.state();
    for (String[] c : List.of(new String[] {"push"}, new String[] {"push", good.toString()},
        new String[] {"pull", "m"}, new String[] {"tag", "m"}, new String[] {"diff", "m"}, new String[] {"cat"},
        new String[] {"ls", "--bogus"}, new String[] {"bogus"}, new String[] {"log", "m", "-n", "abc"},
        new String[] {"log", "m", "-n", "-1"},
        new String[] {"ls", "extra-arg"}, new String[] {"push", good.toString(), "m", "--parallelism", "0"},
        new String[] {"ls", "--parallelism", "-1"},
        new String[] {"pull", "m", tmp.resolve("p").toString(), "--parallelism", "5000"},
        new String[] {"push", good.toString(), "m", "--meta", "=v"},
        new String[] {"push", good.toString(), "m", "--metric", "=0.5"})) {
      Cli.Result r = c[0].equals("bogus") ? Cli.raw(c) : cli.run(c);
      r.exits(2);
      assertThat(r.err()).as("stderr of ferry %s", String.join(" ", c)).isNotBlank().doesNotContain("\tat ");
    }
    assertThat(cli.run("ls", "--parallelism", "0").exits(2).err()).contains("--parallelism must be 1 to 1024, not '0'");
    // a number with leading zeros is taken as the decimal it is; a refusal quotes it as typed, not as "0" or "2000"
    assertThat(cli.run("ls", "--parallelism", "02000").exits(2).err())
        .contains("--parallelism must be 1 to 1024, not '02000'");
    assertThat(cli.run("log", "m", "-n", "-01").exits(2).err()).contains("--max-count must be 0 or more, not '-01'");
    assertThat(cli.run("reflog", "m", "--max-count", "-01").exits(2).err())
        .contains("--max-count must be 0 or more, not '-01'");
    assertThat(cli.run("derive", "cast", "m", "--to", "f16", "--as", "c", "--threads", "00").exits(2).err())
        .contains("--threads must be at least 1, got '00'");
    assertThat(cli.run("checkpoint", "push", good.toString(), "run", "--step", "-00001").exits(2).err())
        .contains("--step must be >= 0, got '-00001'");
    assertThat(cli.run("ls", "--parallelism", "010").exits(0).err()).doesNotContain("parallelism");
    assertThat(cli.run("ls", "--parallelism", "0", "--json").exits(2).err()).contains("\"kind\":\"usage\"");
    // an empty path (an unset shell variable) was the working directory: pushed whole, or pulled into
    assertThat(cli.run("push", "", "m").exits(2).err()).contains("(SOURCE): the path is empty");
    assertThat(cli.run("pull", "m", "").exits(2).err()).contains("(DIR): the path is empty");
    // so is an empty option that names where to work; --cache '' and --token '' were taken for not given
    for (String option : List.of("--store", "--cache", "--token", "--s3-endpoint")) {
      assertThat(Cli.raw("ls", option, "").exits(2).err()).as(option)
          .startsWith("ferry: " + option + " is empty (an unset shell variable?)");
      assertThat(Cli.raw(option, "", "ls").exits(2).err()).as("before ls: " + option)
          .startsWith("ferry: " + option + " is empty (an unset shell variable?)");
    }
    assertThat(cli.run("derive", "cast", "m", "--to", "f16", "--as", "").exits(2).err())
        .startsWith("ferry: --as is empty (an unset shell variable?)");
    // a byte the locale cannot decode (Java's U+FFFD in the argument) named another directory, which the pull made
    assertThat(cli.run("pull", "m", tmp.resolve("out\uFFFD").toString()).exits(2).err()).contains("(DIR): '")
        .contains("holds U+FFFD");
    assertThat(tmp.resolve("out\uFFFD")).doesNotExist();
    assertThat(cli.state()).isEqualTo(before);
    assertThat(cli.run("push", good.toString(), "m", "--meta", "=v").exits(2).err())
        .contains("--meta takes KEY=VALUE with a key, not '=v'");
    // a key given twice is refused, not kept with its last value
    assertThat(cli.run("push", good.toString(), "m", "--meta", "k=v", "--meta", "j=x", "--meta", "k=w").exits(2)
        .err()).contains("--meta k is given twice ('k=v' and 'k=w')");
    assertThat(cli.run("push", good.toString(), "m", "--derivation", "finetune", "--metric", "loss=1",
        "--metric", "loss=2").exits(2).err()).contains("--metric loss is given twice");
    assertThat(cli.run("ls", "--store-option", "a=1", "--store-option", "a=2").exits(2).err())
        .contains("--store-option a is given twice");
    // picocli said "Value for option option '--store-option' (KEY=VALUE) should be in KEY=VALUE format but was foo"
    assertThat(cli.run("ls", "--store-option", "foo").exits(2).err())
        .contains("ferry: --store-option foo: expected KEY=VALUE (a '=' between the key and its value)");
    // a key no store module reads (a typo) is refused by name, not ignored; another store's keys and Hadoop's pass
    assertThat(cli.run("ls", "--store-option", "s3.endpiont=http://127.0.0.1:9000").exits(2).err())
        .contains("--store-option s3.endpiont: no store module here reads a setting 's3.endpiont'; did you mean"
            + " 's3.endpoint'?");
    assertThat(cli.run("ls", "--store-option", "replication=3").exits(2).err())
        .contains("--store-option replication: no store module here reads");
    cli.run("ls", "--store-option", "dfs.replication=2", "--store-option", "redis.timeout=1s", "--store-option",
        "cassandra.dc.east=3").exits(0);
    // the version a push derives from names itself: "no model 'nope'" alone read as if the target were missing
    assertThat(cli.run("push", good.toString(), "fresh", "--derived-from", "nope").exits(1).err())
        .contains("derived from nope: no model 'nope' in ");
    // a glob or a format the command cannot take is a usage error like any other bad option value
    assertThat(cli.run("pull", "m", tmp.resolve("p").toString(), "--include", "").exits(2).err())
        .contains("--include: an empty glob").contains("Try 'ferry pull --help'");
    assertThat(cli.run("pull", "m", tmp.resolve("p").toString(), "--exclude", "").exits(2).err())
        .contains("--exclude: an empty glob");
    assertThat(cli.run("pull", "m", tmp.resolve("p").toString(), "--as", "pickle").exits(2).err())
        .contains("--as pickle: pull converts to safetensors or torch");
    assertThat(cli.run("push", good.toString(), "m", "--include", "").exits(2).err())
        .contains("--include: an empty glob").contains("Try 'ferry push --help'");
    assertThat(cli.run("push", good.toString(), "m", "--opaque", "").exits(2).err()).contains("--opaque");
    // a class of characters whose range is reversed printed "Illegal character range near index 8" and a regular
    // expression of Ferry's own, naming neither the option nor the glob
    for (String option : List.of("--include", "--exclude")) {
      assertThat(cli.run("pull", "m", tmp.resolve("p").toString(), option, "*.json", option, "[z-a]").exits(2).err())
          .contains("ferry: " + option + ": glob '[z-a]' holds a class of characters that is not one: [z-a]: illegal"
              + " character range (a range goes from a lower character to a higher one, as in [a-z])")
          .doesNotContain("index", "(?!/)");
    }
    assertThat(cli.run("push", good.toString(), "m", "--opaque", "model-[2-1].bin").exits(2).err())
        .contains("--opaque: glob 'model-[2-1].bin' holds a class of characters that is not one: [2-1]");
    assertThat(tmp.resolve("p")).doesNotExist();
    assertThat(cli.state()).isEqualTo(before);
  }

  @Test
  void anEmptyAuthorOrS3EndpointIsAUsageErrorNotADefault() throws IOException {
    Path other = hf("other");
    Map<String, String> before = cli.state();
    // an empty --author made a version by nobody (git refuses an empty ident); an empty --s3-endpoint meant AWS
    for (String blank : List.of("", " ")) {
      assertThat(cli.run("push", other.toString(), "m", "--author", blank).exits(2).err())
          .contains("--author '" + blank + "' is empty");
      assertThat(cli.run("ls", "--s3-endpoint", blank).exits(2).err()).contains("--s3-endpoint is empty");
      assertThat(Cli.raw("--s3-endpoint", blank, "--store", cli.store.toString(), "ls").exits(2).err())
          .contains("--s3-endpoint is empty");
    }
    // a line break in an author was stored and shown escaped in every log; refused like git's ident rules
    assertThat(cli.run("push", other.toString(), "m", "--author", "ada\nlovelace").exits(2).err())
        .contains("--author 'ada?lovelace' holds the control character U+000A at position 4");
    assertThat(cli.state()).isEqualTo(before);
  }

  /** A disk that fills up mid-push: the push fails, the store is byte-identical and the head has not moved. */
  @Test
  void diskFullMidPush() throws IOException {
    Path ft = tmp.resolve("ft");
    List<Tensor> base = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      base.add(t("big." + i, DType.BF16, i, 512, 512)); // 512 KiB each: loose objects
      base.add(t("small." + i, DType.F32, 100 + i, 256)); // packed
    }
    ModelGenerator.writeHfModel(ft, base, 2 << 20);
    ChunkId head;
    try (Repository repo = Ferry.open(cli.store.toString())) {
      head = repo.resolve("m").id();
    }
    // how much a successful push would write to a store like this one
    long total;
    Path probe = tmp.resolve("probe");
    new Cli(probe).init().push(good, "m:prod");
    try (Backend b = Ferry.openBackend(probe.toString(), StoreOptions.existing());
        Repository repo = Repository.open(b, RepositoryOptions.defaults())) {
      total = repo.push(ft, "m", PushOptions.builder().build()).newStoredBytes();
    }
    assertThat(total).isGreaterThan(3 << 20);
    List<Long> limits = new ArrayList<>(List.of(0L, 1L, total / 2, total - 1));
    for (int i = 0; i < 4; i++) {
      limits.add((long) (random.random().nextDouble() * total));
    }
    for (long limit : new TreeSet<>(limits)) {
      Map<String, String> before = cli.state();
      FaultyChunkStore[] faulty = new FaultyChunkStore[1];
      Backend local = Ferry.openBackend(cli.store.toString(), StoreOptions.existing());
      faulty[0] = new FaultyChunkStore(local.chunks()).failAfterBytes(limit);
      Backend wrapped = io.ferry.store.StoreLayers.layered(local, faulty[0]);
      try (Repository repo = Repository.open(wrapped, RepositoryOptions.defaults())) {
        assertThatThrownBy(() -> repo.push(ft, "m:prod", PushOptions.builder().message("ft").build()))
            .as("push with %d of %d bytes of space", limit, total).hasMessageContaining("No space left on device");
        assertThat(repo.resolve("m").id()).isEqualTo(head);
        assertThat(repo.resolve("m:prod").id()).isEqualTo(head);
      }
      assertThat(cli.state()).as("store after a push that ran out of space at %d of %d bytes", limit, total)
          .isEqualTo(before);
    }
    cli.run("verify").ok();
    // and with space, the same push works
    cli.push(ft, "m");
  }
}
