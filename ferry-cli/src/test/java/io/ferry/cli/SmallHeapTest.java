package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import io.ferry.testkit.RedisServer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A CLI process with a small heap: the default codec adapts to it (a 32 MiB float chunk needs about 96 MiB to encode
 * with the float codec, more than a 64 MiB heap holds), and a codec the user forces that does not fit ends with one
 * line on stderr and exit 1, never a stack trace.
 */
class SmallHeapTest {
  @TempDir Path tmp;

  @Test
  void theDefaultCodecFitsASixtyFourMebibyteHeap() throws Exception {
    Path store = tmp.resolve("store");
    Path model = model();
    pushAndPullWithASixtyFourMebibyteHeap(store, model);
  }

  @Test
  void aForcedCodecThatDoesNotFitIsOneLineAndExitOne() throws Exception {
    Path store = tmp.resolve("store");
    Path model = model();
    assertThat(ferry("-Xmx40m", "init", "--store", store.toString()).code).isZero();
    Run push = ferry("-Xmx40m", "push", model.toString(), "m:v1", "--codec", "float", "--store", store.toString());
    assertThat(push.code).as("stderr: %s", push.err).isEqualTo(1);
    String err = push.err.strip();
    assertThat(err).doesNotContain("\n").doesNotContain("\tat ").contains("out of memory").contains("-Xmx");
    Run ls = ferry("-Xmx64m", "ls", "--store", store.toString());
    assertThat(ls.code).as("ls after the push that ran out of memory: %s", ls.err).isZero();
    assertThat(ls.out).contains("no models");
  }

  /**
   * The default codec at {@code -Xmx64m} with a 28 MiB bf16 tensor: too big for the float codec in that heap, it was
   * read into a heap array all the same (the float codec encodes from arrays) and then given to zstd, which made an
   * output array of the chunk's size beside it, and the push ran out of heap. A chunk on the heap is given to zstd
   * only when its array and zstd's output fit the heap's half together; else it is stored as it is.
   */
  @Test
  void aChunkTooBigForTheFloatCodecPushesInASixtyFourMebibyteHeap() throws Exception {
    Path store = tmp.resolve("store");
    Path model = tmp.resolve("one");
    ModelGenerator.writeSafetensors(model.resolve("model.safetensors"),
        List.of(new Tensor("w", DType.BF16, new long[] {1792, 8192}, 7)), Map.of());
    pushAndPullWithASixtyFourMebibyteHeap(store, model);
  }

  /**
   * A push of many small tensors (6,000 of 4 KiB: chunks that go into packs) in a 64 MiB heap. A pack of 16 MiB was
   * made through a growing buffer and then copied out of it, beside its frames: three times the pack at its end, while
   * the other worker filled the next pack, and the push ran out of memory. A model of 300,000 tiny tensors (an
   * optimizer state) ran out of the launcher's default heap so. A pack is now written into one array of its size.
   */
  @Test
  void manySmallTensorsPushInASixtyFourMebibyteHeap() throws Exception {
    Path store = tmp.resolve("store");
    Path model = tmp.resolve("small");
    List<Tensor> ts = new ArrayList<>();
    for (int i = 0; i < 6_000; i++) {
      ts.add(new Tensor("state." + i + ".exp_avg", DType.F32, new long[] {1024}, i));
    }
    ModelGenerator.writeSafetensors(model.resolve("model.safetensors"), ts, Map.of());
    assertThat(ferry("-Xmx64m", "init", "--store", store.toString()).code).isZero();
    Run push = ferry("-Xmx64m", "push", model.toString(), "m:v1", "--store", store.toString());
    assertThat(push.code).as("push with -Xmx64m: %s", push.err).isZero();
    assertThat(push.err).contains("6001 new chunks");
  }

  /**
   * {@code ferry warm} of chunks of 48 MiB through Redis in a 192 MiB heap: every worker held a whole frame twice (the
   * parts from Redis or the store, and their copy in one buffer) and its thread's last part kept a 64 MiB run of
   * parts alive, so the default 384 MiB heap ran out with chunks of 64 MiB. Checks now share buffers bounded by the
   * heap.
   */
  @Test
  void warmingBigChunksThroughRedisFitsASmallHeap() throws Exception {
    RedisServer.assumeInstalled();
    Path store = tmp.resolve("store");
    Path model = tmp.resolve("big");
    List<Tensor> ts = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      ts.add(new Tensor("layer." + i, DType.BF16, new long[] {2048, 12288}, 40 + i));
    }
    ModelGenerator.writeSafetensors(model.resolve("model.safetensors"), ts, Map.of());
    assertThat(ferry("-Xmx192m", "init", "--store", store.toString()).code).isZero();
    assertThat(ferry("-Xmx192m", "push", model.toString(), "m:v1", "--store", store.toString()).code).isZero();
    try (RedisServer redis = RedisServer.start(tmp.resolve("redis"))) {
      for (int round = 0; round < 2; round++) {
        // what is tested is memory: a generous timeout, so that a busy machine's slow Redis write does not bypass
        // the cache (which a warm reports as exit 1)
        Run warm = ferry("-Xmx192m", "warm", "m:v1", "--cache", redis.uri(), "--store", store.toString(),
            "--store-option", "redis.timeout=60s");
        assertThat(warm.code).as("warm %d with -Xmx192m: %s", round, warm.err).isZero();
        assertThat(warm.err).as("round %d", round).isEmpty();
        assertThat(warm.out).contains("warmed m:v1").contains(round == 0 ? ", 0 not written" : "0 parts written");
      }
    }
  }

  /**
   * {@code ferry log --json} of a long history in a 48 MiB heap, as {@code ferry log} prints it: the JSON was built as
   * one tree and then one string of the whole log before a byte was printed, several times the log's size, and ran
   * out of memory where the text log did not.
   */
  @Test
  void aLongLogPrintsAsJsonInTheHeapItsTextNeeds() throws Exception {
    Path store = tmp.resolve("store");
    Path src = Files.createDirectories(tmp.resolve("src"));
    String message = "m".repeat(io.ferry.limits.Limits.MAX_MESSAGE_CHARS - 16);
    int versions = 300;
    try (io.ferry.repo.Repository repo = io.ferry.Ferry.open(store.toString(),
        io.ferry.store.StoreOptions.createIfMissing(), io.ferry.repo.RepositoryOptions.defaults())) {
      for (int i = 1; i <= versions; i++) {
        Files.writeString(src.resolve("config.json"), "{\"v\": " + i + "}");
        repo.push(src, "m", io.ferry.repo.PushOptions.builder().message(message + i).build());
      }
    }
    Run text = ferry("-Xmx48m", "log", "m", "--store", store.toString());
    assertThat(text.code).as("log with -Xmx48m: %s", text.err).isZero();
    Run json = ferry("-Xmx48m", "log", "m", "--json", "--store", store.toString());
    assertThat(json.code).as("log --json with -Xmx48m: %s", json.err).isZero();
    com.fasterxml.jackson.databind.JsonNode all = StoreCommand.json().readTree(json.out);
    assertThat(all.size()).isEqualTo(versions);
    assertThat(all.get(0).get("message").asText()).isEqualTo(message + versions);
  }

  /**
   * {@code ferry show --json} of a file of 100,000 tensors in the heap its text listing needs: the JSON was built as
   * one tree and then one string before a byte was printed, and needed 192 MiB where the text needed 96.
   */
  @Test
  void aVersionOfManyTensorsShowsAsJsonInTheHeapItsTextNeeds() throws Exception {
    Path store = tmp.resolve("store");
    Path src = tmp.resolve("many");
    int count = 100_000;
    List<Tensor> tensors = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      tensors.add(new Tensor(String.format("model.layers.%06d.self_attn.q_proj.weight_with_a_long_name", i),
          DType.F32, new long[] {1}, i));
    }
    ModelGenerator.writeSafetensors(src.resolve("model.safetensors"), tensors, Map.of());
    assertThat(ferry("-Xmx256m", "init", "--store", store.toString()).code).isZero();
    assertThat(ferry("-Xmx256m", "push", src.toString(), "m:v1", "--store", store.toString()).code).isZero();
    Run text = ferry("-Xmx112m", "show", "m:v1", "--store", store.toString());
    assertThat(text.code).as("show with -Xmx112m: %s", text.err).isZero();
    Run json = ferry("-Xmx112m", "show", "m:v1", "--json", "--store", store.toString());
    assertThat(json.code).as("show --json with -Xmx112m: %s", json.err).isZero();
    com.fasterxml.jackson.databind.JsonNode tree = StoreCommand.json().readTree(json.out);
    com.fasterxml.jackson.databind.JsonNode ts = tree.get("files").get(0).get("tensors");
    assertThat(ts.size()).isEqualTo(count);
    assertThat(ts.get(count - 1).get("name").asText()).endsWith("099999.self_attn.q_proj.weight_with_a_long_name");
    assertThat(ts.get(0).get("shape").get(0).asLong()).isEqualTo(1);
  }

  /**
   * A non-contiguous view of a PyTorch checkpoint (a transposed F32 tensor of 24 MiB) pulled as safetensors with
   * {@code -Xmx64m}: its elements were gathered whole beside its storage, twice its size on the heap, and the pull ran
   * out of memory; they go out 4 MiB at a time.
   */
  @Test
  void aTransposedViewIsPulledAsSafetensorsInASixtyFourMebibyteHeap() throws Exception {
    Path model = Files.createDirectories(tmp.resolve("pt"));
    // w[i][j] = j * 2048 + i: a view of shape [2048, 3072] with strides [1, 2048]; every value exact in F32
    Run py = python("import sys, torch\n"
        + "torch.save({'w': torch.arange(3072 * 2048, dtype=torch.float32).reshape(3072, 2048).t()}, sys.argv[1])\n",
        model.resolve("ckpt.pt").toString());
    boolean noTorch = py.code != 0 && py.err.contains("No module named 'torch'");
    if ("true".equals(System.getenv("CI"))) {
      assertThat(noTorch).as("CI=true: python3 with torch is required (python3-torch): %s", py.err).isFalse();
    }
    org.junit.jupiter.api.Assumptions.assumeFalse(noTorch, "torch through python3 is not available");
    assertThat(py.code).as("python: %s", py.err).isZero();
    Path store = tmp.resolve("store");
    assertThat(ferry("-Xmx64m", "init", "--store", store.toString()).code).isZero();
    Run push = ferry("-Xmx64m", "push", model.toString(), "pt:v1", "--store", store.toString());
    assertThat(push.code).as("push with -Xmx64m: %s", push.err).isZero();
    Path out = tmp.resolve("st");
    Run pull = ferry("-Xmx64m", "pull", "pt:v1", out.toString(), "--as", "safetensors", "--store", store.toString());
    assertThat(pull.code).as("pull --as safetensors with -Xmx64m: %s", pull.err).isZero();

    byte[] file = Files.readAllBytes(out.resolve("ckpt.safetensors"));
    java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(file).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    int headerLength = (int) b.getLong(0);
    com.fasterxml.jackson.databind.JsonNode w = new com.fasterxml.jackson.databind.ObjectMapper()
        .readTree(new String(file, 8, headerLength, StandardCharsets.UTF_8)).get("w");
    assertThat(w.get("dtype").asText()).isEqualTo("F32");
    assertThat(w.get("shape").toString()).isEqualTo("[2048,3072]");
    long begin = 8 + headerLength + w.get("data_offsets").get(0).asLong();
    assertThat(w.get("data_offsets").get(1).asLong() - w.get("data_offsets").get(0).asLong()).isEqualTo(24L << 20);
    for (int i = 0; i < 2048; i++) {
      for (int j = 0; j < 3072; j++) {
        float got = b.getFloat((int) (begin + 4L * (i * 3072L + j)));
        if (got != j * 2048 + i) {
          assertThat(got).as("w[%s][%s]", i, j).isEqualTo((float) (j * 2048 + i));
        }
      }
    }
  }

  /** Runs {@code script} with /usr/bin/python3 (Debian's, where python3-torch installs torch) and {@code args}. */
  private Run python(String script, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("/usr/bin/python3", "-c", script));
    cmd.addAll(List.of(args));
    Path err = Files.createTempFile(tmp, "python", ".txt");
    Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(5, TimeUnit.MINUTES)).as("python finished").isTrue();
    return new Run(p.exitValue(), out, Files.readString(err));
  }

  private Path model() throws Exception {
    Path model = tmp.resolve("model");
    ModelGenerator.writeSafetensors(model.resolve("model.safetensors"),
        List.of(new Tensor("w", DType.F32, new long[] {2048, 4096}, 7)), Map.of());
    return model;
  }

  private record Run(int code, String out, String err) {}

  private Run ferry(String heap, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        heap, "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), FerryCli.class.getName()));
    cmd.addAll(List.of(args));
    Path err = Files.createTempFile(tmp, "err", ".txt");
    Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(5, TimeUnit.MINUTES)).as("ferry %s finished", String.join(" ", args)).isTrue();
    return new Run(p.exitValue(), out, Files.readString(err));
  }

  /** Pushes {@code model} (one model.safetensors) into a new store and pulls it back, both with -Xmx64m. */
  private void pushAndPullWithASixtyFourMebibyteHeap(Path store, Path model) throws Exception {
    assertThat(ferry("-Xmx64m", "init", "--store", store.toString()).code).isZero();
    Run push = ferry("-Xmx64m", "push", model.toString(), "m:v1", "--store", store.toString());
    assertThat(push.code).as("push with -Xmx64m: %s", push.err).isZero();
    Path out = tmp.resolve("out");
    Run pull = ferry("-Xmx64m", "pull", "m:v1", out.toString(), "--store", store.toString(), "--verify");
    assertThat(pull.code).as("pull with -Xmx64m: %s", pull.err).isZero();
    assertThat(Files.mismatch(out.resolve("model.safetensors"), model.resolve("model.safetensors"))).isEqualTo(-1);
  }
}
