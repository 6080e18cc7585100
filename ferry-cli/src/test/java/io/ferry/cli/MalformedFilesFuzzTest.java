package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.format.FormatInput;
import io.ferry.format.registry.FormatRegistry;
import io.ferry.testkit.GgufWriter;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import io.ferry.testkit.Mutations;
import io.ferry.testkit.Mutations.Mutant;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Thousands of malformed variants of valid safetensors, GGUF, PyTorch and Hugging Face index files (bits flipped,
 * integers set to their limits, files cut short, bytes inserted, deleted and repeated; {@link Mutations}), each read
 * as a push reads it. A variant is either read, or refused with an {@link IOException} that names the file: never a
 * {@link RuntimeException} or an {@link Error} (an index out of bounds, a negative array size, a division by zero, a
 * heap exhausted by a length nobody checked), which the CLI would report as an internal error. A smaller number of
 * variants goes through {@code ferry push} itself: stored and pulled back byte-identical, or refused with a one-line
 * error and the store's files exactly as they were.
 *
 * <p>Deterministic: {@code -Dferry.fuzz.seed} and {@code -Dferry.fuzz.rounds} (per seed file) change what runs; a
 * failure names the seed file, the mutation and its seed.
 */
class MalformedFilesFuzzTest {
  private static final long SEED = Mutations.SEED;
  private static final int ROUNDS = Integer.getInteger("ferry.fuzz.rounds", 1500);
  private static final int PUSH_ROUNDS = Integer.getInteger("ferry.fuzz.pushRounds", 40);

  @TempDir static Path seeds;
  @TempDir Path tmp;

  private static Path safetensors;
  private static Path gguf;
  private static Path torch;
  private static Path hfIndex;
  private static Path ggufSplits;

  /** A valid file of each format, made once. */
  @org.junit.jupiter.api.BeforeAll
  static void validFiles() throws IOException {
    List<Tensor> ts = List.of(new Tensor("w", DType.BF16, new long[] {4, 8}, 1),
        new Tensor("bias", DType.F32, new long[] {3}, 2), new Tensor("step", DType.I64, new long[0], 3),
        new Tensor("empty", DType.U8, new long[] {0}, 4), new Tensor("ünïcödé.名前", DType.F16, new long[] {2, 2}, 5));
    safetensors = seeds.resolve("model.safetensors");
    ModelGenerator.writeSafetensors(safetensors, ts, Map.of("format", "pt"));

    gguf = new GgufWriter().str("general.architecture", "llama").u32("llama.context_length", 4096)
        .strings("tokenizer.ggml.tokens", List.of("a", "b", "ç")).floats("scores", 1f, 2f)
        .tensor("token_embd.weight", DType.F32, 8, 2).tensor("blk.0.attn_q.weight", DType.Q4_0, 32, 2)
        .tensor("output_norm.weight", DType.F16, 8).write(seeds.resolve("model.gguf"));

    // a PyTorch checkpoint as Ferry writes it (pull --as torch), which torch.load reads
    Cli cli = new Cli(seeds.resolve("store")).init();
    Path st = seeds.resolve("st");
    Files.createDirectories(st);
    Files.copy(safetensors, st.resolve("ckpt.safetensors"));
    cli.push(st, "st");
    Path pt = seeds.resolve("pt");
    cli.run("pull", "st", pt.toString(), "--as", "torch").ok();
    torch = pt.resolve("ckpt.bin");
    assertThat(torch).exists();

    Path hf = seeds.resolve("hf");
    ModelGenerator.writeHfModel(hf, List.of(new Tensor("a", DType.BF16, new long[] {64, 64}, 6),
        new Tensor("b", DType.F32, new long[] {64}, 7), new Tensor("c", DType.BF16, new long[] {64, 64}, 8)), 8 << 10);
    hfIndex = hf;
    assertThat(hf.resolve("model.safetensors.index.json")).exists();

    // a GGUF in two splits, as llama.cpp's gguf-split names and keys them
    ggufSplits = seeds.resolve("split");
    Files.createDirectories(ggufSplits);
    for (int n = 1; n <= 2; n++) {
      GgufWriter w = new GgufWriter();
      if (n == 1) {
        w.str("general.architecture", "llama");
      }
      w.kv("split.no", GgufWriter.U16, new byte[] {(byte) (n - 1), 0})
          .kv("split.count", GgufWriter.U16, new byte[] {2, 0}).i32("split.tensors.count", 4)
          .seeded("t" + n + "a", DType.F16, n, 64, 4).seeded("t" + n + "b", DType.Q8_0, n + 10, 64, 2);
      w.write(ggufSplits.resolve(String.format("m-%05d-of-00002.gguf", n)));
    }
  }

  static Stream<String> formats() {
    return Stream.of("safetensors", "gguf", "torch");
  }

  private static Path valid(String format) {
    switch (format) {
      case "safetensors":
        return safetensors;
      case "gguf":
        return gguf;
      default:
        return torch;
    }
  }

  /** The bytes mutations aim at: the header, or all of a small zip (its directory is at its end). */
  private static int hot(String format, byte[] valid) {
    switch (format) {
      case "safetensors":
        return 8 + (int) java.nio.ByteBuffer.wrap(valid, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
      case "gguf":
        return valid.length - 256;
      default:
        return valid.length;
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("formats")
  void readersRefuseMalformedFilesWithAnErrorNamingThem(String format) throws Exception {
    Path src = valid(format);
    byte[] valid = Files.readAllBytes(src);
    long seed = SEED ^ format.hashCode();
    FormatRegistry registry = FormatRegistry.standard();
    Path file = tmp.resolve(src.getFileName());
    String name = file.getFileName().toString();
    Mutations.Outcome o = new Mutations(valid, hot(format, valid), seed).feed(ROUNDS, name, bytes -> {
      Files.write(file, bytes);
      try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
        registry.read(new FormatInput(name, ch, ch.size()));
      }
    });
    assertThat(o.failures()).as("malformed %s files read with %s rounds of seed %d", format, ROUNDS, seed).isEmpty();
    assertThat(o.refused()).as("variants refused").isGreaterThan(ROUNDS / 4);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("formats")
  void pushStoresAMalformedFileWholeOrChangesNothing(String format) throws Exception {
    Path src = valid(format);
    byte[] valid = Files.readAllBytes(src);
    long seed = SEED ^ format.hashCode() ^ 0x5eed;
    pushes(new Mutations(valid, hot(format, valid), seed), src.getFileName().toString(), null, format, seed);
  }

  /** A Hugging Face directory whose index is malformed: pushed as it is, or refused naming the index. */
  @Test
  void pushOfAMalformedHuggingFaceIndex() throws Exception {
    byte[] valid = Files.readAllBytes(hfIndex.resolve("model.safetensors.index.json"));
    long seed = SEED ^ 0x1de;
    pushes(new Mutations(valid, valid.length, seed), "model.safetensors.index.json", hfIndex, "hf-index", seed);
  }

  /** The second split of a split GGUF is malformed: pushed as it is, or refused naming it. */
  @Test
  void pushOfAMalformedGgufSplit() throws Exception {
    String name = "m-00002-of-00002.gguf";
    byte[] valid = Files.readAllBytes(ggufSplits.resolve(name));
    long seed = SEED ^ 0x6606;
    Path others = tmp.resolve("split-others");
    Files.createDirectories(others);
    Files.copy(ggufSplits.resolve("m-00001-of-00002.gguf"), others.resolve("m-00001-of-00002.gguf"));
    pushes(new Mutations(valid, valid.length - 256, seed), name, others, "gguf-split", seed);
  }

  private void pushes(Mutations m, String name, Path siblings, String format, long seed) throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<String> failures = new ArrayList<>();
    for (int i = 0; i < PUSH_ROUNDS && failures.isEmpty(); i++) {
      Mutant mutant = m.next();
      Path dir = tmp.resolve("src" + i);
      Files.createDirectories(dir);
      if (siblings != null) {
        try (Stream<Path> s = Files.list(siblings)) {
          for (Path p : (Iterable<Path>) s::iterator) {
            Files.copy(p, dir.resolve(p.getFileName()));
          }
        }
      }
      Files.write(dir.resolve(name), mutant.bytes());
      Map<String, String> before = cli.state();
      Cli.Result r = cli.run("push", dir.toString(), "m");
      String what = format + " round " + i + " of seed " + seed + ": " + mutant.what();
      if (r.code() == 0) {
        Path out = tmp.resolve("out" + i);
        Cli.Result pull = cli.run("pull", "m", out.toString());
        if (pull.code() != 0) {
          failures.add(what + ": pushed, but the pull failed: " + pull.err());
        } else if (!java.util.Arrays.equals(Files.readAllBytes(out.resolve(name)), mutant.bytes())) {
          failures.add(what + ": pushed, but pulled back different bytes");
        }
      } else {
        String err = r.err().strip();
        if (err.isEmpty() || err.contains("\n") || err.contains("Exception") || !err.contains(name)
            || err.contains("internal error")) {
          failures.add(what + ": exit " + r.code() + ", stderr: " + err);
        } else if (!cli.state().equals(before)) {
          failures.add(what + ": refused (" + err + ") but the store changed");
        }
      }
    }
    assertThat(failures).isEmpty();
  }

}
