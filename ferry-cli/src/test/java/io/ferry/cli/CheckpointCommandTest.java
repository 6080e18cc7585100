package io.ferry.cli;

import static io.ferry.cli.Files2.t;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ferry checkpoint push|ls|latest|pull}: steps of a run, dedup between steps, retention and gc, errors. */
class CheckpointCommandTest {
  @TempDir Path tmp;

  /** Ten 16 KiB tensors; each step after the first gives new data to about a fifth of them (seeded). */
  private static List<List<Tensor>> steps(int n) {
    List<Tensor> base = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      base.add(t("layers." + i + ".weight", DType.F32, 100 + i, 64, 64));
    }
    List<List<Tensor>> out = new ArrayList<>();
    out.add(base);
    for (int s = 1; s < n; s++) {
      List<Tensor> next = ModelGenerator.finetune(out.get(s - 1), 0.2, s);
      if (next.equals(out.get(s - 1))) { // the draw changed nothing: change one tensor so every step differs
        next = new ArrayList<>(next);
        Tensor first = next.get(0);
        next.set(0, new Tensor(first.name(), first.dtype(), first.shape(), first.seed() + 7919L * s));
      }
      out.add(next);
    }
    return out;
  }

  private Path write(String name, List<Tensor> tensors) throws IOException {
    Path dir = tmp.resolve("src").resolve(name);
    Files.createDirectories(dir);
    ModelGenerator.writeSafetensors(dir.resolve("model.safetensors"), tensors, Map.of());
    Files.writeString(dir.resolve("trainer_state.json"), "{\"name\": \"" + name + "\"}");
    return dir;
  }

  private static JsonNode push(Cli cli, Path dir, String run, long step, String... more) {
    List<String> args = new ArrayList<>(List.of("checkpoint", "push", dir.toString(), run, "--step",
        Long.toString(step), "--json"));
    args.addAll(List.of(more));
    return cli.run(args.toArray(new String[0])).ok().json();
  }

  private static void assertSameFiles(Path expected, Path actual) throws IOException {
    try (Stream<Path> s = Files.list(expected)) {
      for (Path f : s.toList()) {
        assertThat(Files.readAllBytes(actual.resolve(f.getFileName().toString())))
            .as("%s pulled into %s", f.getFileName(), actual).isEqualTo(Files.readAllBytes(f));
      }
    }
    try (Stream<Path> s = Files.list(actual)) {
      assertThat(s.count()).isEqualTo(Files.list(expected).count());
    }
  }

  private static long objectBytes(Cli cli) {
    return Cli.bytesUnder(cli.store.resolve("objects"));
  }

  /**
   * Copying a run's head into a target whose head is another step of it is refused: the refusal said "copy a tag
   * instead" without saying which; it now gives the command that copies the step's tag. A copied step's line in the
   * target's ls shows the bytes its push stored in the source, as the version records them.
   */
  @Test
  void copyingTheHeadIntoATargetOnAnotherStepGivesTheCommandThatCopiesItsTag() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Cli target = new Cli(tmp.resolve("target")).init();
    List<List<Tensor>> s = steps(2);
    JsonNode first = push(cli, write("s1", s.get(0)), "run", 1);
    push(cli, write("s2", s.get(1)), "run", 2);
    cli.run("copy", "run:step-1", "--to", target.store.toString()).ok();
    String err = cli.run("copy", "run", "--to", target.store.toString()).exits(4).err();
    assertThat(err).contains("not in the history of").contains("copy a tag of it instead, which moves only the tag:"
        + " ferry copy run:step-2 --to " + target.store.toUri() + " --store " + cli.store.toUri() + ",");
    assertThat(target.run("checkpoint", "ls", "run").ok().out()).contains(
        Format.bytes(first.path("newStoredBytes").asLong(-1)) + " new at its push");
  }

  @Test
  void fiveStepsStoreOnlyTheChangedTensorsAndRestoreAnyStep() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<List<Tensor>> steps = steps(5);
    List<Path> dirs = new ArrayList<>();
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      Path dir = write("s" + i, steps.get(i));
      dirs.add(dir);
      JsonNode r = push(cli, dir, "run1", (i + 1) * 100L);
      assertThat(r.get("upToDate").asBoolean()).isFalse();
      ids.add(r.get("version").asText());
      long logical = r.get("logicalBytes").asLong();
      if (i == 0) {
        assertThat(r.get("newStoredBytes").asLong()).as("first step").isGreaterThan(logical / 2);
      } else {
        assertThat(r.get("newStoredBytes").asLong()).as("new bytes of step %d of %d logical", i, logical)
            .isLessThan(logical / 2);
      }
    }
    JsonNode ls = cli.run("checkpoint", "ls", "run1", "--json").ok().json();
    assertThat(ls).hasSize(5);
    for (int i = 0; i < 5; i++) {
      assertThat(ls.get(i).get("step").asLong()).isEqualTo((i + 1) * 100L);
      assertThat(ls.get(i).get("version").asText()).isEqualTo(ids.get(i));
    }
    assertThat(cli.run("checkpoint", "ls", "run1").ok().out().strip().split("\n")).hasSize(5);
    assertThat(cli.run("checkpoint", "latest", "run1").ok().line()).isEqualTo("500 " + ids.get(4));
    assertThat(cli.run("show", "run1:latest", "--json").ok().out()).contains(ids.get(4));
    // each step is its own line of history: the head's log is the latest step alone
    assertThat(cli.run("log", "run1", "--json").ok().json()).hasSize(1);

    Path latest = tmp.resolve("out-latest");
    assertThat(cli.run("checkpoint", "pull", "run1", latest.toString()).ok().line()).isEqualTo("500 " + ids.get(4));
    assertSameFiles(dirs.get(4), latest);
    Path third = tmp.resolve("out-300");
    cli.run("checkpoint", "pull", "run1", "--step", "300", third.toString(), "--verify").ok();
    assertSameFiles(dirs.get(2), third);
  }

  @Test
  void retentionDropsStepTagsAndGcFreesTheirBytesWhileKeptStepsStayIntact() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<List<Tensor>> steps = steps(7);
    List<Path> dirs = new ArrayList<>();
    for (int i = 1; i <= 7; i++) {
      Path dir = write("s" + i, steps.get(i - 1));
      dirs.add(dir);
      JsonNode r = push(cli, dir, "run2", i, "--keep-last", "2", "--keep-every", "3");
      if (i == 4) {
        assertThat(r.get("dropped").toString()).isEqualTo("[2]"); // 1 went at step 3, 3 is a multiple of 3
      }
    }
    JsonNode ls = cli.run("checkpoint", "ls", "run2", "--json").ok().json();
    List<Long> kept = new ArrayList<>();
    ls.forEach(n -> kept.add(n.get("step").asLong()));
    assertThat(kept).containsExactly(3L, 6L, 7L);
    assertThat(cli.run("checkpoint", "latest", "run2").ok().line()).startsWith("7 ");
    cli.run("checkpoint", "pull", "run2", "--step", "4", tmp.resolve("gone").toString()).exits(1)
        .oneLineError("ferry checkpoint pull: ", "step 4");

    long before = objectBytes(cli);
    cli.run("gc", "--grace", "PT0S").ok();
    long after = objectBytes(cli);
    assertThat(after).as("stored bytes after gc (before: %d)", before).isLessThan(before);
    cli.run("verify").ok();
    for (long step : kept) {
      Path out = tmp.resolve("kept-" + step);
      cli.run("checkpoint", "pull", "run2", "--step", Long.toString(step), out.toString(), "--verify").ok();
      assertSameFiles(dirs.get((int) step - 1), out);
    }
  }

  /**
   * --keep-every alone keeps the multiples of M and the highest step, the one a crashed run resumes from: a step that
   * was no multiple lost its tag as it was pushed, so latest fell back to an older multiple or, with none, was deleted.
   * The steps it drops are freed by gc.
   */
  @Test
  void keepEveryAloneKeepsTheHighestStep() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<List<Tensor>> steps = steps(5);
    push(cli, write("a", steps.get(0)), "run7", 150);
    assertThat(push(cli, write("b", steps.get(1)), "run7", 151, "--keep-every", "100").get("dropped").toString())
        .isEqualTo("[150]");
    assertThat(cli.run("checkpoint", "latest", "run7").ok().out()).startsWith("151 ");
    cli.run("pull", "run7:latest", tmp.resolve("out").toString()).ok();
    assertThat(push(cli, write("c", steps.get(2)), "run7", 200, "--keep-every", "100").get("dropped").toString())
        .isEqualTo("[151]");
    assertThat(push(cli, write("d", steps.get(3)), "run7", 201, "--keep-every", "100").get("dropped").toString())
        .isEqualTo("[]");
    assertThat(push(cli, write("e", steps.get(4)), "run7", 202, "--keep-every", "100").get("dropped").toString())
        .isEqualTo("[201]");
    assertThat(cli.run("checkpoint", "latest", "run7").ok().out()).startsWith("202 ");
    long before = objectBytes(cli);
    cli.run("gc", "--grace", "PT0S").ok();
    assertThat(objectBytes(cli)).as("stored bytes after gc (before: %d)", before).isLessThan(before);
    cli.run("verify").ok();
    for (long step : new long[] {200, 202}) {
      cli.run("checkpoint", "pull", "run7", "--step", Long.toString(step), tmp.resolve("s" + step).toString()).ok();
    }
  }

  /**
   * Resuming into a directory that holds an earlier step: the refusal tells the user to add --force or --merge, which
   * checkpoint pull did not take ("Unknown option"). Both work as for pull. The refusal names the command the user ran
   * (it said "pull --force", which pulls a version, not a step).
   */
  @Test
  void pullIntoADirectoryHoldingAnotherStepTakesForceOrMerge() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<List<Tensor>> steps = steps(2);
    Path a = write("a", steps.get(0));
    Path b = write("b", steps.get(1));
    push(cli, a, "run8", 1);
    push(cli, b, "run8", 2);
    Path resume = tmp.resolve("resume");
    cli.run("checkpoint", "pull", "run8", "--step", "1", resume.toString()).ok();
    Files.writeString(resume.resolve("notes.txt"), "mine");
    cli.run("checkpoint", "pull", "run8", resume.toString()).exits(1)
        .oneLineError("ferry checkpoint pull: ", "model.safetensors", "notes.txt",
            "nothing was written: checkpoint pull --force makes", "--merge");
    cli.run("checkpoint", "pull", "run8", resume.toString(), "--force", "--merge").exits(FerryCli.USAGE);
    cli.run("checkpoint", "pull", "run8", resume.toString(), "--merge").ok();
    assertThat(Files.readString(resume.resolve("notes.txt"))).isEqualTo("mine");
    assertThat(Files.readAllBytes(resume.resolve("model.safetensors")))
        .isEqualTo(Files.readAllBytes(b.resolve("model.safetensors")));
    cli.run("checkpoint", "pull", "run8", "--step", "1", resume.toString(), "--force").ok();
    assertSameFiles(a, resume);
  }

  /**
   * A tag of the user's that starts with step- but names no step (step-best) made every checkpoint command of the run
   * fail, and push published its step before failing, without moving latest or applying retention. It is not a step.
   * A step tag moved onto a version of another step is still refused, and a push then publishes nothing.
   */
  @Test
  void aUserTagNamedStepSomethingIsNotAStep() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<List<Tensor>> steps = steps(3);
    String first = push(cli, write("a", steps.get(0)), "run11", 1).get("version").asText();
    cli.run("tag", "run11:step-1", "step-best").ok();
    cli.run("tag", "run11:step-1", "step-01").ok();
    JsonNode r = push(cli, write("b", steps.get(1)), "run11", 2, "--keep-last", "1");
    assertThat(r.get("dropped").toString()).isEqualTo("[1]");
    assertThat(cli.run("checkpoint", "ls", "run11", "--json").ok().json()).hasSize(1);
    assertThat(cli.run("checkpoint", "latest", "run11").ok().line()).startsWith("2 ");
    assertThat(cli.run("show", "run11:step-best", "--json").ok().json().get("version").asText()).isEqualTo(first);

    cli.run("tag", "run11:step-best", "step-7").ok();
    java.util.Map<String, String> before = cli.state();
    cli.run("checkpoint", "push", write("c", steps.get(2)).toString(), "run11", "--step", "3").exits(1)
        .oneLineError("ferry checkpoint push: ", "tag run11:step-7", "checkpoint.step is '1'", "tag -d run11:step-7");
    assertThat(cli.state()).as("nothing published").isEqualTo(before);
  }

  @Test
  void aStepIsPushedOnceAndBadArgumentsAreUsageErrors() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<List<Tensor>> steps = steps(2);
    Path a = write("a", steps.get(0));
    Path b = write("b", steps.get(1));
    String id = push(cli, a, "run3", 10).get("version").asText();

    Cli.Result same = cli.run("checkpoint", "push", a.toString(), "run3", "--step", "10").ok();
    assertThat(same.out()).contains("up to date").contains(id);
    String lsBefore = cli.run("checkpoint", "ls", "run3", "--json").ok().out();
    java.util.Map<String, String> storeBefore = cli.state();
    cli.run("checkpoint", "push", b.toString(), "run3", "--step", "10").exits(1)
        .oneLineError("ferry checkpoint push: ", "run3:step-10 already exists", "nothing was published");
    assertThat(cli.run("checkpoint", "ls", "run3", "--json").ok().out()).isEqualTo(lsBefore);
    // every file of the store as it was: the objects it stored and the index records it added are removed again
    assertThat(cli.state()).isEqualTo(storeBefore);
    cli.run("verify").ok();

    // the same content at a new step is a new checkpoint, not "up to date"
    JsonNode again = push(cli, a, "run3", 20);
    assertThat(again.get("upToDate").asBoolean()).isFalse();
    assertThat(cli.run("checkpoint", "latest", "run3").ok().line()).startsWith("20 ");

    cli.run("checkpoint", "push", a.toString(), "run3", "--step", "-1").exits(FerryCli.USAGE);
    cli.run("checkpoint", "push", a.toString(), "run3", "--step", "30", "--keep-last", "0").exits(FerryCli.USAGE);
    cli.run("checkpoint", "push", a.toString(), "run3", "--step", "30", "--keep-every", "0").exits(FerryCli.USAGE);
    cli.run("checkpoint", "push", a.toString(), "run3").exits(FerryCli.USAGE);
    cli.run("checkpoint", "push", a.toString(), "run3", "--step", "30", "--copy").exits(FerryCli.USAGE);
    cli.run("checkpoint", "pull", "run3", "--step", "-5", tmp.resolve("x").toString()).exits(FerryCli.USAGE);
    cli.run("push", a.toString(), "plain").ok();
    cli.run("checkpoint", "latest", "plain").exits(1).oneLineError("run 'plain' has no checkpoints");
    // a mistyped run is no model: said so, with what it may have meant, not "no checkpoints" or "dropped"
    cli.run("checkpoint", "latest", "run33").exits(1).oneLineError("ferry checkpoint latest: ", "no model 'run33'",
        "did you mean", "run3");
    cli.run("checkpoint", "pull", "run33", "--step", "10", tmp.resolve("x").toString()).exits(1)
        .oneLineError("ferry checkpoint pull: ", "no model 'run33'", "did you mean", "run3");
    // a run that is no model at all is not found (as for log), with the names it may have meant; --json as well
    cli.run("checkpoint", "ls", "run33").exits(1).oneLineError("ferry checkpoint ls: ", "no model 'run33'",
        "did you mean", "run3");
    cli.run("checkpoint", "ls", "run33", "--json").exits(1);
    assertThat(cli.run("checkpoint", "ls", "run3", "--json").ok().json()).hasSize(2);
  }

  /**
   * A step that is not there was "never pushed, or dropped by retention", whichever it was. A dropped step is said to
   * be dropped, with the version its tag named; one never pushed is said so, with the run's steps.
   */
  @Test
  void aMissingStepSaysWhetherItWasDroppedOrNeverPushed() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<List<Tensor>> steps = steps(2);
    String first = push(cli, write("a", steps.get(0)), "run13", 100).get("version").asText();
    push(cli, write("b", steps.get(1)), "run13", 200, "--keep-last", "1");
    cli.run("checkpoint", "pull", "run13", "--step", "100", tmp.resolve("x").toString()).exits(1)
        .oneLineError("ferry checkpoint pull: ", "step 100", "dropped", first.substring(0, 12));
    cli.run("checkpoint", "pull", "run13", "--step", "150", tmp.resolve("y").toString()).exits(1)
        .oneLineError("ferry checkpoint pull: ", "step 150", "never pushed", "steps: 200");
  }

  /** A step of more than 12 digits pushed the other columns of its line to the right of everyone else's. */
  @Test
  void lsAlignsItsColumnsWhateverTheStepsDigits() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<List<Tensor>> steps = steps(2);
    String small = push(cli, write("a", steps.get(0)), "run12", 5).get("version").asText();
    String big = push(cli, write("b", steps.get(1)), "run12", Long.MAX_VALUE).get("version").asText();
    String[] lines = cli.run("checkpoint", "ls", "run12").ok().out().split("\n");
    assertThat(lines).hasSize(2);
    assertThat(lines[0]).startsWith("                  5  " + small.substring(0, 12));
    assertThat(lines[1]).startsWith(Long.MAX_VALUE + "  " + big.substring(0, 12));
    assertThat(lines[0]).hasSameSizeAs(lines[1]);
  }

  /**
   * --async returns once the files are staged; the training then replaces its file (a new file under the same name),
   * and the next push of the run waits for the background one: both steps are stored with their own content.
   */
  @Test
  void asyncPushStagesReturnsAndTheNextPushWaitsForIt() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<List<Tensor>> steps = steps(2);
    Path out = tmp.resolve("train");
    Files.createDirectories(out);
    Path file = out.resolve("model.safetensors");
    ModelGenerator.writeSafetensors(file, steps.get(0), Map.of());
    byte[] first = Files.readAllBytes(file);

    JsonNode r = cli.run("checkpoint", "push", file.toString(), "run4", "--step", "1", "--async", "--json").ok()
        .json();
    assertThat(r.get("linked").asLong() + r.get("copied").asLong()).isEqualTo(1);
    // the trainer writes the next checkpoint to a new file and renames it over the old one
    Path next = out.resolve("model.safetensors.tmp");
    ModelGenerator.writeSafetensors(next, steps.get(1), Map.of());
    Files.move(next, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    byte[] second = Files.readAllBytes(file);

    Cli.Result sync = cli.run("checkpoint", "push", file.toString(), "run4", "--step", "2").ok();
    assertThat(cli.run("checkpoint", "ls", "run4", "--json").ok().json()).as(sync.err()).hasSize(2);
    assertThat(Files.exists(Path.of(r.get("staged").asText()))).as("staged copy removed").isFalse();
    // a successful push's log is removed with its staged copy: one was left behind for every step
    assertThat(Path.of(r.get("log").asText())).as("log of a successful background push").doesNotExist();
    try (Stream<Path> s = Files.list(out.resolve(".ferry-staging"))) {
      assertThat(s.map(p -> p.getFileName().toString())).noneMatch(n -> n.endsWith(".lock") || n.endsWith(".log"));
    }
    Path p1 = tmp.resolve("p1");
    cli.run("checkpoint", "pull", "run4", "--step", "1", p1.toString()).ok();
    assertThat(Files.readAllBytes(p1.resolve("model.safetensors"))).isEqualTo(first);
    Path p2 = tmp.resolve("p2");
    cli.run("checkpoint", "pull", "run4", p2.toString()).ok();
    assertThat(Files.readAllBytes(p2.resolve("model.safetensors"))).isEqualTo(second);

    assertThat(cli.run("checkpoint", "push", file.toString(), "run4", "--step", "3", "--async").ok().out())
        .startsWith("staged run4 step 3: 1 file (1 hard-linked, 0 copied) in ");
    cli.run("checkpoint", "push", file.toString(), "run4", "--step", "3").ok(); // waits for it: up to date
  }

  /**
   * A background push that fails (its step exists with other content) released its lock, and the next push of the run
   * went on without a word: the step was lost unless the user read the log. The next push warns, naming the staged
   * directory, its log and the error the log ends with; the staged files stay.
   */
  @Test
  void aFailedBackgroundPushIsReportedByTheNextPush() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<List<Tensor>> steps = steps(2);
    Path a = write("a", steps.get(0));
    Path b = write("b", steps.get(1));
    push(cli, a, "run9", 1);
    JsonNode r = cli.run("checkpoint", "push", b.toString(), "run9", "--step", "1", "--async", "--json").ok().json();
    Cli.Result next = cli.run("checkpoint", "push", b.toString(), "run9", "--step", "2").ok(); // waits for it
    assertThat(next.err()).contains("warning: a background push of run9 failed or was stopped")
        .contains(r.get("staged").asText()).contains(r.get("log").asText())
        .contains("ends with: ferry checkpoint push: run9:step-1 already exists");
    assertThat(Path.of(r.get("staged").asText())).as("what it staged is kept").isDirectory();
    List<Long> kept = new ArrayList<>();
    cli.run("checkpoint", "ls", "run9", "--json").ok().json().forEach(n -> kept.add(n.get("step").asLong()));
    assertThat(kept).containsExactly(1L, 2L);
  }

  /**
   * The config file named by --config is the background pusher's too: it read only the default one, so a step pushed
   * with --async lost the config's author (and any other setting it held), unlike the same push without --async.
   */
  @Test
  void asyncPushReadsTheConfigFileTheCommandWasGiven() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path config = tmp.resolve("ferry.toml");
    Files.writeString(config, "author = \"alice\"\n");
    List<List<Tensor>> steps = steps(2);
    cli.run("--config", config.toString(), "checkpoint", "push", write("a", steps.get(0)).toString(), "run10",
        "--step", "1", "--async").ok();
    cli.run("--config", config.toString(), "checkpoint", "push", write("b", steps.get(1)).toString(), "run10",
        "--step", "2").ok(); // waits for it
    JsonNode ls = cli.run("checkpoint", "ls", "run10", "--json").ok().json();
    assertThat(ls).hasSize(2);
    ls.forEach(n -> assertThat(n.get("author").asText()).as("author of step %s", n.get("step")).isEqualTo("alice"));
  }

  /**
   * A Trainer's output directory holds the checkpoint-N directories and, once one was pushed with --async, the
   * .ferry-staging area beside them. A push of the whole directory stored the staging area too (staged copies of steps
   * in flight, their logs and the run's lock), and pull --force into it deleted them, the staged copy of a step that
   * was being pushed included. Both leave it alone, as they do .cache/huggingface.
   */
  @Test
  void pushAndPullLeaveTheStagingAreaAlone() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<List<Tensor>> steps = steps(2);
    Path out = tmp.resolve("src");
    write("checkpoint-1", steps.get(0));
    Path staged = Files.createDirectories(out.resolve(".ferry-staging").resolve("run12.step-2-77"));
    Path stagedStep = Files.createDirectories(staged.resolve("checkpoint-2"));
    ModelGenerator.writeSafetensors(stagedStep.resolve("model.safetensors"), steps.get(1), Map.of());
    Path log = out.resolve(".ferry-staging").resolve("run12.step-2-77.log");
    Files.writeString(log, "pushing\n");
    JsonNode r = cli.run("push", out.toString(), "whole", "--json").ok().json();
    assertThat(r.get("fileCount").asLong()).as("files of %s", r).isEqualTo(2);
    cli.run("pull", "whole", out.toString(), "--force").ok();
    assertThat(staged.resolve("checkpoint-2").resolve("model.safetensors")).as("a staged step").isRegularFile();
    assertThat(log).isRegularFile();
  }

  /** A checkpoint of one step: train/model.safetensors. */
  private Path oneStep() throws IOException {
    Path file = Files.createDirectories(tmp.resolve("train")).resolve("model.safetensors");
    ModelGenerator.writeSafetensors(file, steps(1).get(0), Map.of());
    return file;
  }

  /**
   * A .ferry-staging next to SOURCE that is a symbolic link (planted by whoever can write there): --async staged the
   * checkpoint's files into the directory it points to. Refused, naming the link, with nothing written through it.
   */
  @Test
  void asyncPushDoesNotStageThroughALinkedStagingArea() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path file = oneStep();
    Path out = file.getParent();
    Path elsewhere = Files.createDirectories(tmp.resolve("elsewhere"));
    Files.createSymbolicLink(out.resolve(".ferry-staging"), elsewhere);
    cli.run("checkpoint", "push", file.toString(), "run5", "--step", "1", "--async").exits(1)
        .oneLineError(out.resolve(".ferry-staging").toString(), "is a symbolic link (to " + elsewhere,
            "remove the link");
    try (Stream<Path> s = Files.list(elsewhere)) {
      assertThat(s).as("written through the link").isEmpty();
    }
    assertThat(cli.run("ls").ok().out()).doesNotContain("run5");
  }

  /** A .ferry-staging next to SOURCE that is a file or a FIFO: refused naming what it is, not "already exists". */
  @Test
  void asyncPushNamesAStagingAreaThatIsNotADirectory() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path file = oneStep();
    Path area = file.resolveSibling(".ferry-staging");
    Files.writeString(area, "mine");
    cli.run("checkpoint", "push", file.toString(), "run6", "--step", "1", "--async").exits(1)
        .oneLineError(area.toString(), "is a file where checkpoint push --async stages", "move it away");
    assertThat(Files.readString(area)).isEqualTo("mine");
    Files.delete(area);
    assertThat(new ProcessBuilder("mkfifo", area.toString()).start().waitFor()).isZero();
    cli.run("checkpoint", "push", file.toString(), "run6", "--step", "1", "--async").exits(1)
        .oneLineError(area.toString(), "is a FIFO, socket or device");
    assertThat(cli.run("ls").ok().out()).doesNotContain("run6");
  }

  /**
   * A .ferry-staging that others can write (made beforehand by another user in a shared directory): --async staged
   * into it, so they could rename the staged directory and put their own files in its place before the background
   * push read them, which then stored them as the user's step. Refused, naming it; staging goes on once it is private.
   */
  @Test
  void asyncPushDoesNotStageWhereOthersCanWrite() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path file = oneStep();
    Path area = Files.createDirectories(file.resolveSibling(".ferry-staging"));
    Files.setPosixFilePermissions(area, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
    cli.run("checkpoint", "push", file.toString(), "run13", "--step", "1", "--async").exits(1)
        .oneLineError(area.toString(), "others can write to it (rwxrwxrwx)", "chmod go-w");
    try (Stream<Path> s = Files.list(area)) {
      assertThat(s).as("staged into it").isEmpty();
    }
    Files.setPosixFilePermissions(area, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
    cli.run("checkpoint", "push", file.toString(), "run13", "--step", "1", "--async").ok();
    cli.run("checkpoint", "push", file.toString(), "run13", "--step", "1").ok(); // waits for it: up to date
  }

  /**
   * A run's lock in .ferry-staging that is not a regular file: a fifo made every push of the run wait forever, a link
   * to /dev/zero ran it out of memory. Refused, naming the lock.
   */
  @Test
  @org.junit.jupiter.api.Timeout(120)
  void aRunLockThatIsNotAFileIsRefusedNotWaitedOn() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path dir = write("s1", steps(1).get(0));
    Path area = Files.createDirectories(dir.getParent().resolve(".ferry-staging"));
    Path lock = area.resolve("run6.lock");
    Process p = new ProcessBuilder("mkfifo", lock.toString()).inheritIO().start();
    assertThat(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).isZero();
    cli.run("checkpoint", "push", dir.toString(), "run6", "--step", "1").exits(1)
        .oneLineError(lock.toString(), "is not a regular file");
    Files.delete(lock);
    Files.createSymbolicLink(lock, Path.of("/dev/zero"));
    cli.run("checkpoint", "push", dir.toString(), "run6", "--step", "1", "--async").exits(1)
        .oneLineError(lock.toString(), "is not a regular file");
    Files.delete(lock);
    push(cli, dir, "run6", 1);
  }

  /**
   * A background push that died (its lock names a process that is gone) is reported with the step directory it left
   * and that directory's log; the warning named only the staging area.
   */
  @Test
  void aCrashedBackgroundPushIsReportedWithTheDirectoryAndLogItLeft() throws Exception {
    Path area = Files.createDirectories(tmp.resolve("ckpt").resolve(".ferry-staging"));
    Path left = Files.createDirectories(area.resolve("org+run.step-7-123"));
    Files.writeString(area.resolve("org+run.step-7-123.log"), "pushing\n");
    Files.createDirectories(area.resolve("other.step-1-9"));
    Process gone = new ProcessBuilder("true").start();
    gone.waitFor();
    Files.writeString(AsyncCheckpoint.lockOf(area, "org/run"), gone.pid() + "\n");
    java.io.StringWriter text = new java.io.StringWriter();
    AsyncCheckpoint.awaitRun(area, "org/run",
        Notices.to(new java.io.PrintWriter(text), "ferry checkpoint push", false));
    assertThat(text.toString()).startsWith("ferry checkpoint push: warning: the background push of org/run")
        .contains("is gone without finishing").contains(left.toString())
        .contains(area.resolve("org+run.step-7-123.log").toString()).doesNotContain("other.step");
    assertThat(AsyncCheckpoint.lockOf(area, "org/run")).as("the dead holder's lock is removed").doesNotExist();
    assertThat(left).as("what it staged is kept").isDirectory();
  }

  /**
   * A checkpoint whose files are symbolic links (to blobs elsewhere, as in a Hugging Face cache): push follows them
   * and stores what they point at, but --async refused them, so the same checkpoint could be pushed only without it.
   * Staging follows them too: the step stored is the one a synchronous push stores. A dangling link is named.
   */
  @Test
  void asyncPushFollowsSymbolicLinksAsPushDoes() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<List<Tensor>> steps = steps(1);
    Path blobs = Files.createDirectories(tmp.resolve("blobs"));
    ModelGenerator.writeSafetensors(blobs.resolve("b1"), steps.get(0), Map.of());
    Files.writeString(Files.createDirectories(blobs.resolve("tok")).resolve("vocab.txt"), "a b c\n");
    Path ckpt = Files.createDirectories(tmp.resolve("train").resolve("checkpoint-1"));
    Files.createSymbolicLink(ckpt.resolve("model.safetensors"), blobs.resolve("b1"));
    Files.createSymbolicLink(ckpt.resolve("tokenizer"), blobs.resolve("tok"));
    Files.writeString(ckpt.resolve("trainer_state.json"), "{}");
    String synced = push(cli, ckpt, "sync", 1).get("snapshot").asText();

    JsonNode r = cli.run("checkpoint", "push", ckpt.toString(), "run14", "--step", "1", "--async", "--json").ok()
        .json();
    assertThat(r.get("linked").asLong() + r.get("copied").asLong()).isEqualTo(3);
    cli.run("checkpoint", "push", ckpt.toString(), "run14", "--step", "1").ok(); // waits for it: up to date
    JsonNode step = cli.run("show", "run14:step-1", "--json").ok().json();
    assertThat(step.get("snapshot").asText()).as("the step stored by the background push").isEqualTo(synced);

    Files.createSymbolicLink(ckpt.resolve("gone.bin"), tmp.resolve("nothing"));
    cli.run("checkpoint", "push", ckpt.toString(), "run14", "--step", "2", "--async").exits(1)
        .oneLineError(ckpt.resolve("gone.bin").toString(), "dangling symbolic link");
    try (Stream<Path> s = Files.list(ckpt.resolveSibling(".ferry-staging"))) {
      assertThat(s.map(p -> p.getFileName().toString())).as("a partial staging").noneMatch(n -> n.contains("step-2"));
    }
    Files.delete(ckpt.resolve("gone.bin"));
    Files.createSymbolicLink(ckpt.resolve("loop"), ckpt);
    cli.run("checkpoint", "push", ckpt.toString(), "run14", "--step", "2", "--async").exits(1)
        .oneLineError(ckpt.resolve("loop").toString(), "symbolic link loop");
    // a link into the staging area: the walk copied the area into itself while it filled it
    Files.delete(ckpt.resolve("loop"));
    Path area = ckpt.resolveSibling(".ferry-staging");
    Files.createSymbolicLink(ckpt.resolve("staged"), area);
    cli.run("checkpoint", "push", ckpt.toString(), "run14", "--step", "2", "--async").exits(1)
        .oneLineError(ckpt.resolve("staged").toString(), "into the staging area");
    try (Stream<Path> s = Files.list(area)) {
      assertThat(s.map(p -> p.getFileName().toString())).as("a partial staging").noneMatch(n -> n.contains("step-2"));
    }
  }

  /**
   * Runs 'org/run' and 'org_run' had one lock and one name for their staged directories ('/' became '_'): a push of
   * either waited for the other's, and a crashed or failed push of one was reported to the other as its own. Their
   * names differ now; a staged directory an older Ferry named ambiguously is reported to neither.
   */
  @Test
  void runsWhoseNamesDifferOnlyBySlashAndUnderscoreDoNotShareALock() throws Exception {
    Path file = oneStep();
    Path area = Files.createDirectories(file.resolveSibling(".ferry-staging"));
    assertThat(AsyncCheckpoint.lockOf(area, "org/run")).isNotEqualTo(AsyncCheckpoint.lockOf(area, "org_run"));
    Path staged = AsyncCheckpoint.stage(file, area, "org/run", 7, false).dir();
    Path old = Files.createDirectories(area.resolve("org_run-step-3-5")); // an older Ferry's: org/run's or org_run's
    Process gone = new ProcessBuilder("true").start();
    gone.waitFor();
    Files.writeString(AsyncCheckpoint.lockOf(area, "org/run"), gone.pid() + "\n");

    java.io.StringWriter other = new java.io.StringWriter();
    AsyncCheckpoint.awaitRun(area, "org_run",
        Notices.to(new java.io.PrintWriter(other), "ferry checkpoint push", false));
    assertThat(other.toString()).as("warnings of org_run").isEmpty();
    assertThat(AsyncCheckpoint.lockOf(area, "org/run")).as("org/run's lock").exists();

    java.io.StringWriter own = new java.io.StringWriter();
    AsyncCheckpoint.awaitRun(area, "org/run",
        Notices.to(new java.io.PrintWriter(own), "ferry checkpoint push", false));
    assertThat(own.toString()).contains("the background push of org/run").contains(staged.toString())
        .doesNotContain(old.toString());
    assertThat(staged.getFileName().toString()).startsWith("org+run.step-7-");
  }

  /**
   * A lock naming a live process that is no Ferry push of the run (planted, or left with a pid that a reboot gave to
   * another process) made every push of the run wait for that process, for ever if it was pid 1. Such a lock is
   * stale: it is removed with a warning that says why, and the push goes on.
   */
  @Test
  void aLockNamingAProcessThatIsNoPushOfTheRunIsStale() throws Exception {
    Path area = Files.createDirectories(tmp.resolve("ckpt").resolve(".ferry-staging"));
    Process other = new ProcessBuilder("sleep", "600").start();
    try {
      Path lock = AsyncCheckpoint.lockOf(area, "run15");
      long started = other.info().startInstant().orElseThrow().toEpochMilli();
      // a bare pid (as an older Ferry wrote), a pid that started later than the lock says, a lock of another run
      for (String planted : List.of(other.pid() + "\n", other.pid() + " " + (started - 60_000) + " run15\n",
          other.pid() + " " + started + " run1\n")) {
        Files.writeString(lock, planted);
        java.io.StringWriter text = new java.io.StringWriter();
        org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(60),
            () -> AsyncCheckpoint.awaitRun(area, "run15",
                Notices.to(new java.io.PrintWriter(text), "ferry checkpoint push", false)), planted);
        assertThat(text.toString()).as(planted).contains("warning: ").contains(lock.toString())
            .contains("is no Ferry push of run15").contains("stale").doesNotContain("waiting");
        assertThat(lock).as("the stale lock").doesNotExist();
      }
    } finally {
      other.destroy();
      other.waitFor();
    }
  }

  /**
   * A background push that ended once it stored its step but before the lock named it (an older Ferry's launcher
   * recorded it only after starting it; a push killed as it released the lock leaves the same) left a lock naming its
   * dead pid, and the next push warned that it was gone without finishing, although it had stored its step. A lock
   * records the staged directory of its push, which a push removes only once its step is stored: when it is gone, the
   * push is over.
   */
  @Test
  void aBackgroundPushThatEndsBeforeItIsRecordedLeavesNoFalseWarning() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path file = oneStep();
    Path area = AsyncCheckpoint.area(file);
    java.io.StringWriter text = new java.io.StringWriter();
    Path lock = AsyncCheckpoint.lock(area, "run16", Notices.to(new java.io.PrintWriter(text), "push", false));
    AsyncCheckpoint.Staged staged = AsyncCheckpoint.stage(file, area, "run16", 1, false);
    Process p = AsyncCheckpoint.launch(pusherArgs(cli, staged, "run16", 1, lock), Map.of(), lock, "run16", 1, staged,
        (l, h, r, d) -> { }); // the lock keeps naming the launcher while the push runs
    assertThat(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS)).as("the background push ended").isTrue();
    AsyncCheckpoint.handOver(lock, p.toHandle(), "run16", staged.dir()); // the launcher records it only now

    Cli.Result next = cli.run("checkpoint", "push", file.toString(), "run16", "--step", "1").ok();
    assertThat(next.out()).startsWith("up to date");
    assertThat(next.err()).as("stderr of the next push").doesNotContain("warning");
    assertThat(lock).doesNotExist();
    assertThat(text.toString()).isEmpty();
  }
  private static Notices quiet() {
    return Notices.to(new java.io.PrintWriter(new java.io.StringWriter()), "ferry checkpoint push", false);
  }

  /** The command line of the background push of {@code staged} as step {@code step} of {@code run}. */
  private static List<String> pusherArgs(Cli cli, AsyncCheckpoint.Staged staged, String run, long step, Path lock) {
    return List.of("checkpoint", "push", staged.source().toString(), run, "--step", Long.toString(step),
        "--staged-dir", staged.dir().toString(), "--run-lock", lock.toString(), "--store", cli.store.toString());
  }

  /**
   * The launcher failing to hand the run's lock over to the background push it started (a full disk, a staging area
   * made read-only) released the lock and left the push running: it pushed the step without the lock, beside the next
   * push of the run, while the command said it failed. The push is stopped before it read anything, what was staged
   * and its log are removed, and the error names the lock and the push.
   */
  @Test
  void aFailedHandOverStopsTheBackgroundPushAndRemovesWhatItStaged() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path file = oneStep();
    Path area = AsyncCheckpoint.area(file);
    Path lock = AsyncCheckpoint.lock(area, "run17", quiet());
    AsyncCheckpoint.Staged staged = AsyncCheckpoint.stage(file, area, "run17", 1, false);
    java.util.Map<String, String> before = cli.state();
    List<ProcessHandle> pusher = new ArrayList<>();
    try {
      Throwable e = org.assertj.core.api.Assertions.catchThrowable(() -> AsyncCheckpoint.launch(
          pusherArgs(cli, staged, "run17", 1, lock), Map.of(), lock, "run17", 1, staged, (l, h, r, d) -> {
            pusher.add(h);
            throw new IOException(l + ": No space left on device");
          }));
      assertThat(e).isInstanceOf(IOException.class).hasMessageContaining(lock.toString())
          .hasMessageContaining("No space left on device").hasMessageContaining("pid " + pusher.get(0).pid())
          .hasMessageContaining("stopped").hasMessageContaining("nothing was pushed");
      assertThat(pusher.get(0).isAlive()).as("the background push").isFalse();
      assertThat(staged.dir()).as("what was staged").doesNotExist();
      assertThat(AsyncCheckpoint.logOf(staged.dir())).as("its log").doesNotExist();
      assertThat(cli.state()).as("the store").isEqualTo(before);
    } finally {
      pusher.forEach(ProcessHandle::destroyForcibly);
    }
  }

  /** Waits (at most two minutes) until {@code h} ended or wrote to {@code log}. */
  private static void awaitEndOrOutput(ProcessHandle h, Path log) throws Exception {
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MINUTES.toNanos(2);
    while (h.isAlive() && Files.size(log) == 0) {
      assertThat(System.nanoTime()).as("the background push ended or wrote to its log").isLessThan(deadline);
      try {
        h.onExit().get(20, java.util.concurrent.TimeUnit.MILLISECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        // not yet: look at the log again
      }
    }
  }

  /**
   * A background push that failed before its launcher handed it the run's lock (a step pushed with other content
   * fails at once) could not release the lock, which then named its dead pid: the next push warned that it was "gone
   * without finishing", as if it had crashed. The push waits for the hand-over, so it holds the lock when it fails
   * and the next push reports it as failed, with its error.
   */
  @Test
  void aBackgroundPushThatFailsBeforeTheHandOverIsReportedWithItsError() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<List<Tensor>> steps = steps(2);
    push(cli, write("a", steps.get(0)), "run18", 1);
    Path b = write("b", steps.get(1));
    Path area = AsyncCheckpoint.area(b);
    Path lock = AsyncCheckpoint.lock(area, "run18", quiet());
    AsyncCheckpoint.Staged staged = AsyncCheckpoint.stage(b, area, "run18", 1, false);
    Path log = AsyncCheckpoint.logOf(staged.dir());
    // the slowest launcher: it records the push only once the push ended or said something
    Process p = AsyncCheckpoint.launch(pusherArgs(cli, staged, "run18", 1, lock), Map.of(), lock, "run18", 1,
        staged, (l, h, r, d) -> {
          try {
            awaitEndOrOutput(h, log);
          } catch (Exception e) {
            throw new IOException(e);
          }
          AsyncCheckpoint.handOver(l, h, r, d);
        });
    try {
      Cli.Result next = cli.run("checkpoint", "push", b.toString(), "run18", "--step", "2").ok(); // waits for it
      assertThat(next.err()).contains("warning: a background push of run18 failed or was stopped")
          .contains(staged.dir().toString()).contains("ends with: ferry checkpoint push: run18:step-1 already exists")
          .doesNotContain("gone without finishing");
      assertThat(lock).doesNotExist();
    } finally {
      p.destroyForcibly();
    }
  }
  /**
   * A step pushed after higher ones and below those retention keeps is dropped by its own push, but the head kept
   * naming it: 'ferry pull RUN' restored a dropped step, and gc never freed it. The head moves to the highest kept
   * step, latest's, and gc frees the dropped step.
   */
  @Test
  void aStepDroppedByItsOwnPushDoesNotStayTheHead() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<List<Tensor>> steps = steps(4);
    for (int i = 0; i < 3; i++) {
      push(cli, write("s" + i, steps.get(i)), "run19", (i + 1) * 10L, "--keep-last", "2");
    }
    Cli.Result late = cli.run("checkpoint", "push", write("late", steps.get(3)).toString(), "run19", "--step", "5",
        "--keep-last", "2").ok();
    String dropped = late.line();
    assertThat(late.err()).contains("steps [5]").contains("step 5 is below the steps retention keeps");
    String latest = cli.run("checkpoint", "latest", "run19").ok().line();
    assertThat(latest).startsWith("30 ");
    assertThat(cli.run("show", "run19", "--json").ok().json().get("version").asText()).as("the head")
        .isEqualTo(latest.split(" ")[1]);
    cli.run("gc", "--grace", "PT0S").ok();
    cli.run("show", "run19@" + dropped, "--json").exits(1);
    cli.run("verify").ok();
  }
  /**
   * The command killed (SIGKILL) after it started the background push and before it handed it the run's lock: the
   * push went on without the lock (beside any later push of the run), and the next push warned that a background
   * push was gone without finishing, naming the killed command. The push stops without pushing once its input ends
   * (as it does when the command dies), its log says why, and the next push says that the command was stopped before
   * the hand-over, names what it staged and goes on.
   */
  @Test
  void aCommandKilledBeforeTheHandOverLeavesNoPushAndTheNextPushSaysSo() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path file = oneStep();
    Path area = Files.createDirectories(AsyncCheckpoint.area(file));
    Path lock = AsyncCheckpoint.lockOf(area, "run20");
    Process launcher = new ProcessBuilder("sleep", "600").start(); // stands for the command, killed below
    Process p = null;
    try {
      Files.writeString(lock, AsyncCheckpoint.record(launcher.toHandle(), "run20", java.util.Optional.empty()));
      AsyncCheckpoint.Staged staged = AsyncCheckpoint.stage(file, area, "run20", 1, false);
      java.util.Map<String, String> before = cli.state();
      p = AsyncCheckpoint.spawn(pusherArgs(cli, staged, "run20", 1, lock), AsyncCheckpoint.logOf(staged.dir()),
          Map.of());
      launcher.destroyForcibly();
      assertThat(launcher.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      p.getOutputStream().close(); // the end of the command's side of the pipe, as its death gives
      assertThat(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS)).as("the background push ended").isTrue();
      assertThat(p.exitValue()).isEqualTo(1);
      assertThat(cli.state()).as("the store").isEqualTo(before);

      Cli.Result next = cli.run("checkpoint", "push", file.toString(), "run20", "--step", "1").ok();
      assertThat(next.err()).contains("warning: the checkpoint push --async of run20")
          .contains("was stopped before it handed the step to a background push").contains(staged.dir().toString())
          .contains("ended before it handed this background push the run's lock")
          .doesNotContain("gone without finishing");
      assertThat(lock).doesNotExist();
      assertThat(staged.dir()).as("what it staged is kept").isDirectory();
      assertThat(cli.run("checkpoint", "latest", "run20").ok().line()).startsWith("1 ");
    } finally {
      launcher.destroyForcibly();
      if (p != null) {
        p.destroyForcibly();
      }
    }
  }
  /** A look at a background push's process. */
  private interface Look {
    void at(ProcessHandle pusher) throws IOException;
  }

  /**
   * Stages {@code file} as step 1 of {@code run} and launches its background push; once the push runs the CLI (past
   * setsid, and any start-up that sets its session), {@code look} sees its process, and then it is handed the lock.
   */
  private static Process launchAndLook(Cli cli, Path file, String run, Look look) throws IOException {
    Path area = AsyncCheckpoint.area(file);
    Path lock = AsyncCheckpoint.lock(area, run, quiet());
    AsyncCheckpoint.Staged staged = AsyncCheckpoint.stage(file, area, run, 1, false);
    return AsyncCheckpoint.launch(pusherArgs(cli, staged, run, 1, lock), Map.of(), lock, run, 1, staged,
        (l, h, r, d) -> {
          try {
            awaitEndOrOutput(h, AsyncCheckpoint.logOf(d));
          } catch (Exception e) {
            throw new IOException(e);
          }
          look.at(h);
          AsyncCheckpoint.handOver(l, h, r, d);
        });
  }

  /** The session of the process {@code pid} (Linux: /proc/PID/stat). */
  private static long session(long pid) throws IOException {
    String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
    return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[3]);
  }

  /**
   * The background push ran in the session (and process group) of the command that started it, so the Ctrl-C that
   * stops a training run in a terminal, or the terminal closing, stopped the push of its last checkpoint too. It runs
   * in a session of its own.
   */
  @Test
  void theBackgroundPushRunsInASessionOfItsOwn() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.isReadable(Path.of("/proc/self/stat")), "a Linux /proc");
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path file = oneStep();
    List<Long> sessions = new ArrayList<>();
    Process p = launchAndLook(cli, file, "run21", h -> sessions.add(session(h.pid())));
    try {
      assertThat(sessions).as("the push's session").doesNotContain(session(ProcessHandle.current().pid()));
      assertThat(cli.run("checkpoint", "push", file.toString(), "run21", "--step", "1").ok().out())
          .startsWith("up to date"); // it waited for the push
    } finally {
      p.destroyForcibly();
    }
  }
  /**
   * The background push ran with the JVM's defaults, not with the options the launcher gave the command: a heap of a
   * quarter of the machine's memory (of which Ferry's buffer pools take up to half) beside the training, no class-data
   * archive, no native zstd library. It runs with this JVM's options, but for those of one process or a terminal.
   */
  @Test
  void theBackgroundPushRunsWithTheCommandsJvmOptions() throws Exception {
    assertThat(AsyncCheckpoint.pusherJvmOptions(List.of("-Xmx448m", "-XX:+UseSerialGC", "-Dferry.stderr.tty=1",
        "-Dferry.columns=120", "-agentlib:jdwp=transport=dt_socket,server=y,address=5005", "-javaagent:probe.jar",
        "-XX:ArchiveClassesAtExit=x.jsa", "-XX:SharedArchiveFile=ferry.jsa", "-Xlog:gc:file=gc.log",
        "-XX:StartFlightRecording=filename=rec.jfr", "-Djavax.net.ssl.trustStore=ca.p12", "-DZstdNativePath=z.so")))
        .containsExactly("-Xmx448m", "-XX:+UseSerialGC", "-XX:SharedArchiveFile=ferry.jsa",
            "-Djavax.net.ssl.trustStore=ca.p12", "-DZstdNativePath=z.so", "-Dferry.stderr.tty=0");

    org.junit.jupiter.api.Assumptions.assumeTrue(Files.isReadable(Path.of("/proc/self/cmdline")), "a Linux /proc");
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path file = oneStep();
    List<String> command = new ArrayList<>();
    Process p = launchAndLook(cli, file, "run25", h -> command.addAll(
        List.of(Files.readString(Path.of("/proc", Long.toString(h.pid()), "cmdline")).split("\0"))));
    try {
      List<String> mine = java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments();
      assertThat(mine).as("this JVM's options (Surefire's argLine)").contains("-XX:+UseSerialGC");
      assertThat(command).as("the background push's command line")
          .containsSubsequence(AsyncCheckpoint.pusherJvmOptions(mine))
          .containsSubsequence("-cp", System.getProperty("java.class.path"), FerryCli.class.getName());
      assertThat(cli.run("checkpoint", "push", file.toString(), "run25", "--step", "1").ok().out())
          .startsWith("up to date");
    } finally {
      p.destroyForcibly();
    }
  }

  /**
   * The background push was given the cache URI on its command line, a Redis password in it included, where any user
   * of the machine could read it (ps) for as long as the push ran; the store token already went by the environment.
   * The cache URI does too.
   */
  @Test
  void theBackgroundPushGetsTheCacheUriOutsideItsCommandLine() throws IOException {
    Path file = oneStep();
    String cache = "redis://:s3cret@127.0.0.1:42001";
    String[] argv = {"checkpoint", "push", file.toString(), "run22", "--step", "1", "--async", "--cache", cache,
        "--store", tmp.resolve("store").toString()};
    picocli.CommandLine.ParseResult parsed = FerryCli.commandLineFor(argv).parseArgs(argv);
    CheckpointCommand.Push push = (CheckpointCommand.Push) parsed.subcommand().subcommand().commandSpec()
        .userObject();
    Path area = AsyncCheckpoint.area(file);
    Path dir = area.resolve("run22.step-1-1");
    java.util.Map<String, String> env = new java.util.HashMap<>();
    List<String> args = push.pusherArgs(new AsyncCheckpoint.Staged(dir, dir.resolve("model.safetensors"), 1, 1, 0),
        AsyncCheckpoint.lockOf(area, "run22"), env);
    assertThat(String.join(" ", args)).as("the background push's arguments").doesNotContain("s3cret");
    assertThat(env).containsEntry("FERRY_CACHE", cache);
  }
  /**
   * The background push was given the store on its command line, where any user of the machine could read (ps) the
   * user and password of an http(s) store URI for as long as the push ran. The store goes by the environment too.
   */
  @Test
  void theBackgroundPushGetsTheStoreUriOutsideItsCommandLine() throws IOException {
    Path file = oneStep();
    String store = "https://ferry:s3cret@ferry.example:8443/";
    String[] argv = {"checkpoint", "push", file.toString(), "run24", "--step", "1", "--async", "--store", store};
    picocli.CommandLine.ParseResult parsed = FerryCli.commandLineFor(argv).parseArgs(argv);
    CheckpointCommand.Push push = (CheckpointCommand.Push) parsed.subcommand().subcommand().commandSpec()
        .userObject();
    Path area = AsyncCheckpoint.area(file);
    Path dir = area.resolve("run24.step-1-1");
    java.util.Map<String, String> env = new java.util.HashMap<>();
    List<String> args = push.pusherArgs(new AsyncCheckpoint.Staged(dir, dir.resolve("model.safetensors"), 1, 1, 0),
        AsyncCheckpoint.lockOf(area, "run24"), env);
    assertThat(String.join(" ", args)).as("the background push's arguments").doesNotContain("s3cret");
    assertThat(env).containsEntry("FERRY_STORE", store);
  }

  /**
   * A push without --async of a source with no parent directory (the root) failed with "has no parent directory to
   * stage next to", though only --async stages: it waits on no staging area and goes on to the push. Here the store
   * does not exist, so the push fails opening it, before it reads anything of the source.
   */
  @Test
  void aPushWithoutAsyncOfTheRootStagesNothingAndWaitsOnNoArea() throws IOException {
    assertThat(AsyncCheckpoint.existingArea(Path.of("/"))).isEmpty();
    Path ckpt = oneStep();
    assertThat(AsyncCheckpoint.existingArea(ckpt)).isEmpty();
    Files.createDirectories(AsyncCheckpoint.area(ckpt));
    assertThat(AsyncCheckpoint.existingArea(ckpt)).contains(AsyncCheckpoint.area(ckpt));
    Path none = tmp.resolve("no-store");
    String err = new Cli(none).run("checkpoint", "push", "/", "run25", "--step", "1").exits(1).err();
    assertThat(err).contains(none.toString()).doesNotContain("stage");
    assertThat(none).doesNotExist();
  }

  /**
   * The command killed while it staged a step leaves a partial staged directory, without a log (a log is made when the
   * background push starts): the next push named it and advised pushing it again, which stored the step without the
   * files not yet staged. It says that the directory may lack files and must be deleted, not pushed.
   */
  @Test
  void aStagedDirectoryWithoutALogIsNamedAsPossiblyIncomplete() throws Exception {
    Path area = Files.createDirectories(tmp.resolve("ckpt").resolve(".ferry-staging"));
    Path partial = Files.createDirectories(area.resolve("run23.step-4-77"));
    Process gone = new ProcessBuilder("true").start();
    gone.waitFor();
    Files.writeString(AsyncCheckpoint.lockOf(area, "run23"), gone.pid() + " 1 run23\n");
    java.io.StringWriter text = new java.io.StringWriter();
    AsyncCheckpoint.awaitRun(area, "run23", Notices.to(new java.io.PrintWriter(text), "ferry checkpoint push", false));
    assertThat(text.toString()).contains("was stopped before it handed the step").contains(partial.toString())
        .contains("no log: the command was stopped while it staged it, so files may be missing")
        .contains("do not push it").doesNotContain("push it again");
  }
}
