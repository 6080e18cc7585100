package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import io.ferry.testkit.Mutations;
import io.ferry.testkit.Mutations.Mutant;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A store damaged at random: one of its files (a chunk, a pack, a snapshot, a version, a ref log, a record, the store
 * marker) gets a malformed variant ({@link Mutations}), then the everyday commands run on it. Whatever the damage,
 * a pull either writes the version's files byte-identical or fails with a one-line error and writes nothing; a
 * pull that reports damage (exit 3) is matched by {@code verify}; no command ends in an internal error. Nothing a
 * user stored comes back silently altered.
 *
 * <p>Deterministic: {@code -Dferry.fuzz.seed} and {@code -Dferry.fuzz.storeRounds} change what runs.
 */
class StoreCorruptionFuzzTest {
  private static final long SEED = Mutations.SEED;
  private static final int ROUNDS = Integer.getInteger("ferry.fuzz.storeRounds", 60);

  @TempDir Path tmp;

  @Test
  void damageIsReportedOrHarmlessNeverSilentlyWrongBytes() throws Exception {
    Path pristine = tmp.resolve("pristine");
    Cli setup = new Cli(pristine).init();
    List<Tensor> base = List.of(new Tensor("a", DType.BF16, new long[] {64, 64}, 1),
        new Tensor("b", DType.F32, new long[] {64}, 2), new Tensor("c", DType.I64, new long[0], 3),
        new Tensor("d", DType.BF16, new long[] {32, 64}, 4));
    Path v1 = tmp.resolve("v1");
    ModelGenerator.writeHfModel(v1, base, 12 << 10);
    Files.writeString(v1.resolve("config.json"), "{\"model_type\":\"llama\",\"name\":\"ünï\"}");
    String first = setup.push(v1, "m", "-m", "first");
    Path v2 = tmp.resolve("v2");
    ModelGenerator.writeHfModel(v2, ModelGenerator.finetune(base, 0.5, 9), 12 << 10);
    Files.writeString(v2.resolve("config.json"), "{\"model_type\":\"llama\",\"name\":\"ünï\"}");
    setup.push(v2, "m:prod", "-m", "second");
    Map<String, String> expected = Cli.state(v2);

    List<Path> files;
    try (Stream<Path> s = Files.walk(pristine)) {
      files = s.filter(Files::isRegularFile).sorted(Comparator.naturalOrder()).toList();
    }
    assertThat(files).hasSizeGreaterThan(5);
    SplittableRandom pick = new SplittableRandom(SEED);
    Path store = tmp.resolve("store");
    Cli cli = new Cli(store);
    List<String> failures = new ArrayList<>();
    int damaged = 0;
    for (int round = 0; round < ROUNDS && failures.isEmpty(); round++) {
      copy(pristine, store);
      Path victim = files.get(pick.nextInt(files.size()));
      Path rel = pristine.relativize(victim);
      byte[] valid = Files.readAllBytes(victim);
      if (valid.length == 0) {
        continue;
      }
      Mutant mutant = new Mutations(valid, Math.min(valid.length, 256), pick.nextLong()).next();
      Files.write(store.resolve(rel), mutant.bytes());
      String what = "round " + round + " of seed " + SEED + ", " + rel + ": " + mutant.what();

      Path out = tmp.resolve("out" + round);
      Cli.Result pull = cli.run("pull", "m:prod", out.toString());
      if (pull.code() == 0) {
        if (!Cli.state(out).equals(expected)) {
          failures.add(what + ": the pull succeeded with other files than were pushed");
        }
      } else {
        damaged++;
        clean(what, pull, failures);
        if (Files.exists(out) && !Cli.state(out).isEmpty()) {
          failures.add(what + ": a failed pull left files " + Cli.state(out).keySet());
        }
        if (pull.code() == 3) {
          Cli.Result verify = cli.run("verify");
          if (verify.code() == 0) {
            failures.add(what + ": the pull found damage (" + pull.err().strip() + ") but verify passed");
          }
        }
      }
      for (String[] args : List.of(new String[] {"ls"}, new String[] {"log", "m"}, new String[] {"show", "m"},
          new String[] {"diff", "m@" + first, "m"}, new String[] {"verify", "m@" + first},
          new String[] {"tag", "m", "later"})) {
        Cli.Result r = cli.run(args);
        if (r.code() != 0) {
          clean(what + ", ferry " + String.join(" ", args), r, failures);
        }
      }
    }
    assertThat(failures).isEmpty();
    assertThat(damaged).as("rounds whose damage a pull reported").isGreaterThan(ROUNDS / 10);
  }

  /**
   * A failed command's stderr: no stack trace, no internal error, one line (verify: a line per damaged object and
   * how to repair them).
   */
  private static void clean(String what, Cli.Result r, List<String> failures) {
    String err = r.err().strip();
    boolean verify = "verify".equals(r.args()[0]);
    if (err.isEmpty() || !verify && err.contains("\n") || err.contains("\tat ") || err.contains("internal error")
        || err.contains("Exception")) {
      failures.add(what + ": exit " + r.code() + ", stderr: " + err);
    }
  }

  private static void copy(Path from, Path to) throws IOException {
    if (Files.exists(to)) {
      try (Stream<Path> s = Files.walk(to)) {
        for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
    io.ferry.testkit.DirectoryState.copy(from, to);
  }
}
