package io.ferry.cli;

import static io.ferry.cli.Files2.t;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import io.ferry.format.safetensors.SafetensorsHeader;
import io.ferry.format.safetensors.SafetensorsReader;
import io.ferry.read.ModelReader;
import io.ferry.repo.Repository;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import io.ferry.testkit.TestRandom;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** push then pull gives back byte-identical files, for every kind of input the issue lists. */
class RoundTripTest {
  @RegisterExtension final TestRandom random = new TestRandom();

  @TempDir Path tmp;

  private Cli cli() {
    return new Cli(tmp.resolve("store")).init();
  }

  private void roundTrip(Cli cli, Path src, String model, String... pushArgs) {
    cli.push(src, model, pushArgs);
    Path out = tmp.resolve("out-" + model);
    cli.run("pull", model, out.toString(), "--verify").ok();
    if (Files.isDirectory(src)) {
      Cli.assertSameTree(src, out);
    } else {
      assertThat(Cli.state(out)).hasSize(1);
      assertThat(out.resolve(src.getFileName())).hasSameBinaryContentAs(src);
    }
    cli.run("verify").ok();
  }

  @Test
  void singleSafetensorsFile() throws IOException {
    Path f = Files2.safetensors(tmp.resolve("model.safetensors"), t("a", DType.F32, 1, 64, 32),
        t("b", DType.BF16, 2, 1000), t("c", DType.I64, 3, 3, 3));
    roundTrip(cli(), f, "single");
  }

  @Test
  void shardedHuggingFaceDirectory() throws IOException {
    Path dir = tmp.resolve("hf");
    ModelGenerator.writeHfModel(dir, ModelGenerator.transformer(3 << 20, DType.BF16, random.seed()), 1 << 20);
    try (var s = Files.list(dir)) {
      assertThat(s.filter(p -> p.toString().endsWith(".safetensors")).count()).isGreaterThan(2);
    }
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"model_max_length\": 4096}");
    Files.writeString(dir.resolve("generation_config.json"), "{}");
    roundTrip(cli(), dir, "hf");
  }

  @Test
  void everyDtypeEmptyTensorsAndScalars() throws IOException {
    List<Tensor> ts = new ArrayList<>();
    long seed = random.seed();
    for (DType d : DType.values()) {
      if (!d.isSafetensors()) {
        continue; // ggml block types and ONNX's U4, I4, U2, I2, C128 are not safetensors dtypes (their formats' tests)
      }
      long[] shape = d.bits() == 4 ? new long[] {6, 10} : d.bits() == 6 ? new long[] {4, 8} : new long[] {7, 5};
      ts.add(new Tensor("w." + d.name(), d, shape, seed++));
      if (d.bits() % 8 == 0) {
        ts.add(new Tensor("scalar." + d.name(), d, new long[] {}, seed++));
      }
      ts.add(new Tensor("empty." + d.name(), d, new long[] {0, 3}, seed++));
    }
    ts.add(new Tensor("empty.1d", DType.F32, new long[] {0}, seed++));
    Path dir = tmp.resolve("dtypes");
    ModelGenerator.writeSafetensors(dir.resolve("all.safetensors"), ts, Map.of("format", "pt", "note", "ü"));
    Cli cli = cli();
    roundTrip(cli, dir, "dtypes");
    JsonNode show = cli.run("show", "dtypes", "--json").ok().json();
    JsonNode tensors = show.get("files").get(0).get("tensors");
    assertThat(tensors).hasSize(ts.size());
    List<String> dtypes = new ArrayList<>();
    tensors.forEach(n -> dtypes.add(n.get("dtype").asText()));
    for (DType d : DType.values()) {
      if (d.isSafetensors()) {
        assertThat(dtypes).contains(d.name());
      }
    }
  }

  @Test
  void unicodeNamesNestedDirectoriesEmptyFilesAndZeroTensorFile() throws IOException {
    Path dir = tmp.resolve("mixed");
    Files2.safetensors(dir.resolve("权重/ü-model.safetensors"), t("层.0.权重", DType.F16, 1, 16, 16),
        t("emoji.🙂.bias", DType.F32, 2, 16), t("naïve", DType.U8, 3, 5));
    Files2.safetensors(dir.resolve("a/b/c/d/deep.safetensors"), t("x", DType.I8, 4, 100));
    ModelGenerator.writeSafetensors(dir.resolve("empty-model.safetensors"), List.of(), Map.of());
    Files2.write(dir.resolve("empty.txt"), new byte[0]);
    Files2.write(dir.resolve("a/b/also-empty"), new byte[0]);
    Files2.write(dir.resolve("日本語/説明.md"), "こんにちは\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
    Cli cli = cli();
    roundTrip(cli, dir, "mixed");
    assertThat(cli.run("show", "mixed", "--json").ok().json().get("tensorCount").asLong()).isEqualTo(4);
  }

  @Test
  void opaqueFilesOfBoundarySizes() throws IOException {
    Path dir = tmp.resolve("opaque");
    int k256 = 256 * 1024;
    int[] sizes = {0, 1, k256 - 1, k256, k256 + 1, 5 << 20};
    for (int n : sizes) {
      Files2.write(dir.resolve("blob-" + n + ".bin"), Files2.random(random.random(), n));
    }
    Cli cli = cli();
    roundTrip(cli, dir, "opaque");
    JsonNode files = cli.run("show", "opaque", "--json").ok().json().get("files");
    for (JsonNode f : files) {
      if (f.get("path").asText().equals("blob-" + (5 << 20) + ".bin")) {
        assertThat(f.get("chunkCount").asInt()).as("CDC chunks of 5 MiB (min 256 KiB, max 4 MiB)").isBetween(2, 20);
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"none", "zstd", "auto"})
  void codecs(String codec) throws IOException {
    Path dir = tmp.resolve("hf-" + codec);
    ModelGenerator.writeHfModel(dir, ModelGenerator.transformer(2 << 20, DType.BF16, random.seed()), 1 << 20);
    Files2.write(dir.resolve("zeros.bin"), new byte[600_000]);
    roundTrip(cli(), dir, "m-" + codec, "--codec", codec);
  }

  @Test
  void badCodecIsRejected() throws IOException {
    Cli cli = cli();
    Path f = Files2.safetensors(tmp.resolve("m.safetensors"), t("a", DType.F32, 1, 4));
    Map<String, String> before = cli.state();
    assertThat(cli.run("push", f.toString(), "m", "--codec", "lz4").exits(2).err())
        .contains("--codec lz4: unknown codec, expected none, zstd, float or auto");
    assertThat(cli.state()).isEqualTo(before);
  }

  @Test
  void catOfAFileEqualsTheFile() throws Exception {
    Path dir = tmp.resolve("hf");
    ModelGenerator.writeHfModel(dir, ModelGenerator.transformer(2 << 20, DType.BF16, random.seed()), 1 << 20);
    Cli cli = cli();
    cli.push(dir, "catme:prod");
    String shard;
    try (var s = Files.list(dir)) {
      shard = s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".safetensors")).findFirst().orElseThrow();
    }
    for (String file : List.of("config.json", shard, "tokenizer.json")) {
      Path out = tmp.resolve("cat-" + file);
      // cat writes to the process's stdout (fd 1), so run it in a child JVM
      ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), FerryCli.class.getName(), "cat", "catme:prod//" + file,
          "--store", cli.store.toString());
      pb.redirectOutput(out.toFile()).redirectError(ProcessBuilder.Redirect.INHERIT);
      Process p = pb.start();
      assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
      assertThat(p.exitValue()).isZero();
      assertThat(out).hasSameBinaryContentAs(dir.resolve(file));
    }
    try (Repository repo = Ferry.open(cli.store.toString())) {
      ByteBuffer b = repo.readFile("catme:prod//config.json");
      byte[] got = new byte[b.remaining()];
      b.get(got);
      assertThat(got).isEqualTo(Files.readAllBytes(dir.resolve("config.json")));
    }
    cli.run("cat", "catme:prod//nope.json").exits(1).oneLineError("nope.json");
    cli.run("cat", "catme:prod").exits(1).oneLineError("catme:prod");
  }

  @Test
  void pullOfOneFileWithRefPath() throws IOException {
    Path dir = tmp.resolve("hf");
    ModelGenerator.writeHfModel(dir, ModelGenerator.transformer(2 << 20, DType.BF16, random.seed()), 1 << 20);
    Cli cli = cli();
    cli.push(dir, "one:prod");
    Path out = tmp.resolve("one");
    cli.run("pull", "one:prod//config.json", out.toString()).ok();
    assertThat(Cli.state(out)).containsOnlyKeys("config.json");
    assertThat(out.resolve("config.json")).hasSameBinaryContentAs(dir.resolve("config.json"));
  }

  /** A 70 MiB tensor is split at 64 MiB on a row boundary; every read path gives the source bytes. */
  @Test
  void bigTensorSplitByRowsAndModelReader() throws IOException {
    Path dir = tmp.resolve("big");
    // 35840 rows x 1024 BF16 = 70 MiB; 64 MiB = 32768 rows
    Path f = Files2.safetensors(dir.resolve("model.safetensors"), t("norm", DType.BF16, 1, 1024),
        t("big", DType.BF16, random.seed(), 35840, 1024), t("scalar", DType.F32, 3), t("empty", DType.F16, 4, 0, 8),
        t("f4", DType.F4, 5, 8, 6));
    Cli cli = cli();
    roundTrip(cli, dir, "big");
    JsonNode files = cli.run("show", "big", "--json").ok().json().get("files");
    assertThat(files.get(0).get("chunkCount").asInt()).as("header, norm, big x2, scalar, f4").isEqualTo(6);

    SafetensorsHeader h = SafetensorsReader.read(f);
    byte[] src = Files.readAllBytes(f);
    try (Repository repo = Ferry.open(cli.store.toString()); ModelReader r = repo.open("big")) {
      r.verifying(true);
      assertThat(r.tensors()).hasSize(5);
      for (TensorInfo ti : h.tensors()) {
        ByteBuffer got = r.read(ti.name());
        assertThat(got.remaining()).isEqualTo((int) ti.byteLength());
        assertThat(slice(got)).as(ti.name()).isEqualTo(slice(src, h.dataStart() + ti.begin(), ti.byteLength()));
      }
      TensorInfo big = h.tensors().stream().filter(x -> x.name().equals("big")).findFirst().orElseThrow();
      long base = h.dataStart() + big.begin();
      long row = 2048;
      long[][] ranges = {{0, 1}, {32760, 32780}, {32767, 32768}, {32768, 32769}, {0, 35840}, {35839, 35840},
          {100, 100}, {32768, 32768}, {35840, 35840}};
      for (long[] rg : ranges) {
        ByteBuffer got = r.readRows("big", rg[0], rg[1]);
        assertThat(slice(got)).as("rows [%d, %d)", rg[0], rg[1])
            .isEqualTo(slice(src, base + rg[0] * row, (rg[1] - rg[0]) * row));
      }
      assertThatThrownBy(() -> r.readRows("big", 35840, 35841)).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("big");
      assertThatThrownBy(() -> r.readRows("big", -1, 2)).isInstanceOf(InvalidInputException.class);
      assertThatThrownBy(() -> r.readRows("big", 5, 4)).isInstanceOf(InvalidInputException.class);
      assertThatThrownBy(() -> r.read("nope")).hasMessageContaining("nope");
      List<String> streamed = new ArrayList<>();
      r.forEachTensor((t, data) -> {
        streamed.add(t.info().name());
        assertThat(slice(data)).as(t.info().name())
            .isEqualTo(slice(src, t.fileOffset(), t.info().byteLength()));
      });
      assertThat(streamed).containsExactly("norm", "big", "scalar", "empty", "f4");
      ByteBuffer whole = r.readFile("model.safetensors");
      assertThat(slice(whole)).isEqualTo(src);
    }
  }

  private static byte[] slice(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  private static byte[] slice(byte[] b, long from, long n) {
    return java.util.Arrays.copyOfRange(b, (int) from, (int) (from + n));
  }
}
