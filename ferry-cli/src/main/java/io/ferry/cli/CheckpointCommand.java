package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import io.ferry.checkpoint.Checkpoints;
import io.ferry.checkpoint.Checkpoints.Checkpoint;
import io.ferry.checkpoint.Checkpoints.Pushed;
import io.ferry.checkpoint.Checkpoints.Retention;
import io.ferry.error.InvalidInputException;
import io.ferry.limits.Limits;
import io.ferry.repo.Repository;
import io.ferry.scan.LocalTrees;
import io.ferry.transfer.PullOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code ferry checkpoint ...}: training checkpoints of a run, one version per step (see docs/checkpoints.md). */
@Command(name = "checkpoint", description = "Store training checkpoints of a run: one version per step, tagged"
    + " step-<N>, unchanged tensors stored once, old steps dropped by retention (see 'ferry checkpoint push').",
    subcommands = {CheckpointCommand.Push.class, CheckpointCommand.Ls.class, CheckpointCommand.Latest.class,
        CheckpointCommand.Pull.class})
final class CheckpointCommand extends GroupCommand {

  /** A usage error unless {@code value} is null or at least {@code min}; it quotes the value as it was typed. */
  static void atLeast(CommandSpec spec, String option, Number value, long min) {
    if (value != null && value.longValue() < min) {
      List<String> typed = spec.commandLine().getParseResult().matchedOption(option).originalStringValues();
      throw new ParameterException(spec.commandLine(), option + " must be >= " + min + ", got '"
          + typed.get(typed.size() - 1) + "'");
    }
  }

  @Command(name = "push", description = "Store a checkpoint directory or file as step N of a run; the run's"
      + " 'latest' tag moves to its highest step. A step already pushed is refused unless its content is the same.",
      footer = {"%nRetention: with --keep-last K and/or --keep-every M, the step-<N> tags of other steps are deleted",
          "(the highest step is always kept); 'ferry gc' frees their bytes once the grace period has passed.",
          "%nExamples:%n  ferry checkpoint push ./ckpt/step-1000 llama-run7 --step 1000 \\",
          "      --keep-last 3 --keep-every 5000",
          "  ferry checkpoint push ./ckpt/model.pt llama-run7 --step 1200 -m \"loss 1.92\""})
  static final class Push extends StoreCommand {
    @Parameters(index = "0", paramLabel = "SOURCE", description = "Checkpoint directory or file.")
    Path source;

    @Parameters(index = "1", paramLabel = "RUN", description = "The run (a model name).")
    String run;

    @Option(names = "--step", required = true, paramLabel = "N", description = "The training step (>= 0).")
    long step;

    @Option(names = "--keep-last", paramLabel = "K", description = "Keep the tags of the K highest steps only.")
    Integer keepLast;

    @Option(names = "--keep-every", paramLabel = "M", description = "Also keep the steps divisible by M.")
    Integer keepEvery;

    @Option(names = {"-m", "--message"}, paramLabel = "TEXT", description = "Version message.", defaultValue = "")
    String message;

    @Option(names = "--async", description = "Stage the files (hard links, else copies, in a directory named"
        + " .ferry-staging next to SOURCE), return, and push in a background process; the next push of the run"
        + " waits for it. Safe only"
        + " if training writes each checkpoint to new files (or replaces them by rename), not in place.")
    boolean async;

    @Option(names = "--copy", description = "With --async: stage copies, never hard links (for trainers that rewrite"
        + " their checkpoint files in place).")
    boolean copy;

    @Option(names = "--opaque", paramLabel = "GLOB", description = {"Store files whose path matches as their bytes,"
        + " unread (repeatable): a pickle that names classes beyond what torch.load(weights_only=True) reads, as a"
        + " Hugging Face Trainer checkpoint's", "  --opaque training_args.bin"})
    java.util.List<String> opaque = new java.util.ArrayList<>();

    /** Set on the background pusher: SOURCE is a staged copy in this directory, removed after a successful push. */
    @Option(names = "--staged-dir", hidden = true)
    Path stagedDir;

    /** Set on the background pusher: the run's lock file it holds, released when it ends. */
    @Option(names = "--run-lock", hidden = true)
    Path runLock;

    @Override
    int run() throws IOException {
      atLeast(spec, "--step", step, 0);
      atLeast(spec, "--keep-last", keepLast, 1);
      atLeast(spec, "--keep-every", keepEvery, 1);
      try {
        Limits.checkText("--message", message, Limits.MAX_MESSAGE_CHARS);
        io.ferry.checkpoint.Checkpoints.check(run, step);
        PushCommand.opaqueFilter(opaque);
      } catch (InvalidInputException e) {
        throw usage(e.getMessage(), e);
      }
      if (copy && !async) {
        throw usage("--copy goes with --async");
      }
      if (async) {
        return startAsync();
      }
      if (runLock == null) {
        java.util.Optional<Path> area = AsyncCheckpoint.existingArea(source);
        if (area.isPresent()) {
          AsyncCheckpoint.awaitRun(area.get(), run, notices());
        }
        return push();
      }
      try {
        AsyncCheckpoint.awaitHandOver(System.in, err(), run, step, stagedDir);
        int code = push();
        if (stagedDir != null) {
          LocalTrees.delete(stagedDir);
          AsyncCheckpoint.removeLog(stagedDir);
        }
        return code;
      } finally {
        AsyncCheckpoint.unlock(runLock);
      }
    }

    private int startAsync() throws IOException {
      Path area = AsyncCheckpoint.area(source);
      Path lock = AsyncCheckpoint.lock(area, run, notices());
      try {
        AsyncCheckpoint.Staged staged = AsyncCheckpoint.stage(source, area, run, step, copy);
        java.util.Map<String, String> env = new java.util.HashMap<>();
        List<String> args = pusherArgs(staged, lock, env);
        Path log = AsyncCheckpoint.logOf(staged.dir());
        Process p = AsyncCheckpoint.launch(args, env, lock, run, step, staged, AsyncCheckpoint::handOver);
        if (json) {
          printJson(object().put("run", run).put("step", step).put("staged", staged.dir().toString())
              .put("linked", staged.linked()).put("copied", staged.copied()).put("pid", p.pid())
              .put("log", log.toString()));
        } else {
          out().println("staged " + run + " step " + step + ": " + Format.count(staged.files(), "file") + " ("
              + staged.linked() + " hard-linked, " + staged.copied() + " copied) in " + staged.dir());
          err().println("pushing in the background (pid " + p.pid() + ", log " + log + "); the next checkpoint"
              + " push of " + run + " waits for it");
        }
        return 0;
      } catch (IOException | RuntimeException e) {
        AsyncCheckpoint.unlock(lock);
        throw e;
      }
    }

    /**
     * The background push's arguments (after the CLI's class name) for what was {@code staged}, holding {@code lock};
     * what other users must not read on its command line (the store URI, a store token, a cache URI, any of them with
     * a password) is put in {@code env} instead.
     */
    List<String> pusherArgs(AsyncCheckpoint.Staged staged, Path lock, java.util.Map<String, String> env)
        throws IOException {
      java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("checkpoint", "push",
          staged.source().toString(), run, "--step", Long.toString(step), "-m", message,
          "--staged-dir", staged.dir().toString(), "--run-lock", lock.toString()));
      if (keepLast != null) {
        args.addAll(java.util.List.of("--keep-last", keepLast.toString()));
      }
      if (keepEvery != null) {
        args.addAll(java.util.List.of("--keep-every", keepEvery.toString()));
      }
      for (String glob : opaque) {
        args.addAll(java.util.List.of("--opaque", glob));
      }
      if (storeLocation() != null) {
        env.put("FERRY_STORE", storeLocation()); // an http(s) URI's user and password stay off the command line
      }
      if (explicitConfig() != null) {
        // the pusher reads the same config file (the author, the store's settings), wherever it runs from
        env.put("FERRY_CONFIG", Path.of(explicitConfig()).toAbsolutePath().toString());
      }
      settings().forEach((k, v) -> {
        if (k.equals("http.token")) {
          env.put("FERRY_TOKEN", v);
        } else {
          args.addAll(java.util.List.of("--store-option", k + "=" + v));
        }
      });
      if (parallelism() != null) {
        args.addAll(java.util.List.of("--parallelism", parallelism().toString()));
      }
      if (cacheUri() != null) {
        env.put("FERRY_CACHE", cacheUri()); // a password in it stays off the command line
      }
      return args;
    }

    private int push() throws IOException {
      Retention retention = new Retention(keepLast == null ? 0 : keepLast, keepEvery == null ? 0 : keepEvery);
      try (Repository repo = openRepo()) {
        Pushed p = new Checkpoints(repo).push(source, run, step, message, retention, progress(),
            PushCommand.opaqueFilter(opaque));
        List<Long> dropped = p.dropped().stream().map(Checkpoint::step).toList();
        if (json) {
          var n = PushCommand.pushJson(object(), repo, run + ":" + Checkpoints.STEP_TAG + step, p.push())
              .put("run", run).put("step", step);
          ArrayNode d = n.putArray("dropped");
          dropped.forEach(d::add);
          printJson(n);
          return 0;
        }
        if (p.push().upToDate()) {
          out().println("up to date: " + run + " step " + step + " is " + p.push().versionId().hex());
        } else {
          out().println(p.push().versionId().hex());
          err().printf("pushed %s step %d: %s logical, %s new in the store%n", run, step,
              Format.bytes(p.push().version().stats().logicalBytes()), Format.bytes(p.push().newStoredBytes()));
        }
        if (!dropped.isEmpty()) {
          err().println("retention dropped the tags of steps " + dropped + " ('ferry gc' frees what only they used)");
        }
        if (dropped.contains(step)) {
          err().println("step " + step + " is below the steps retention keeps: it was dropped as it was pushed, and"
              + " the head and latest stay at the highest kept step");
        }
      }
      return 0;
    }
  }

  @Command(name = "ls",
      description = "List the checkpoints of a run: step, version id, time, size, bytes its push stored.",
      footer = {"%nExample:%n  ferry checkpoint ls llama-run7"})
  static final class Ls extends StoreCommand {
    @Parameters(index = "0", paramLabel = "RUN", description = "The run.")
    String run;

    @Override
    int run() throws IOException {
      try (Repository repo = openRepo()) {
        List<Checkpoint> all = new Checkpoints(repo).list(run);
        if (all.isEmpty() && repo.refsOf(run).isEmpty()) {
          repo.resolve(run); // no such model: "no model 'RUN' in STORE", with the names it may have meant (exit 1)
        }
        if (json) {
          ArrayNode a = json().createArrayNode();
          for (Checkpoint c : all) {
            JsonOut.version(a.addObject(), c.id(), c.version(),
                repo.refsOf(run).getOrDefault(c.id(), List.of())).put("step", c.step());
          }
          printJson(a);
          return 0;
        }
        if (all.isEmpty()) {
          err().println("run '" + run + "' has no checkpoints");
        }
        // as wide as the widest step (19 digits at most), so that the columns after it stay aligned
        int width = 12;
        for (Checkpoint c : all) {
          width = Math.max(width, Long.toString(c.step()).length());
        }
        for (Checkpoint c : all) {
          // the figure the version recorded when it was pushed, in the store it was pushed to: a copied step's is
          // its source push's, not what this store gained by the copy
          out().printf("%" + width + "d  %s  %s  %10s  %10s new at its push%n", c.step(), c.id().shortHex(12),
              Format.time(c.version().time()), Format.bytes(c.version().stats().logicalBytes()),
              Format.bytes(c.version().stats().newStoredBytes()));
        }
      }
      return 0;
    }
  }

  @Command(name = "latest", description = "Print the highest step of a run and its version id.",
      footer = {"%nExample:%n  ferry checkpoint latest llama-run7"})
  static final class Latest extends StoreCommand {
    @Parameters(index = "0", paramLabel = "RUN", description = "The run.")
    String run;

    @Override
    int run() throws IOException {
      try (Repository repo = openRepo()) {
        Checkpoint c = new Checkpoints(repo).latest(run);
        if (json) {
          printJson(object().put("step", c.step()).put("version", c.id().hex()));
        } else {
          out().println(c.step() + " " + c.id().hex());
        }
      }
      return 0;
    }
  }

  @Command(name = "pull", description = {"Restore a step of a run (default: the latest) into DIR.", "",
      "Files already in DIR and identical to the step's are kept; other files make the pull stop unless --force or"
          + " --merge."},
      footer = {"%nExamples:%n  ferry checkpoint pull llama-run7 ./resume", "  ferry checkpoint pull llama-run7"
          + " --step 1000 ./resume-1000", "  ferry checkpoint pull llama-run7 ./resume --force"})
  static final class Pull extends StoreCommand {
    @Parameters(index = "0", paramLabel = "RUN", description = "The run.")
    String run;

    @Parameters(index = "1", paramLabel = "DIR", description = "Where to write the checkpoint.")
    Path dest;

    @Option(names = "--step", paramLabel = "N", description = "The step (default: the latest).")
    Long step;

    @Option(names = "--verify", description = "Re-hash every byte with SHA-256 (frame checksums are always checked).")
    boolean verify;

    @Option(names = "--force", description = "Make DIR exactly the step: replace files that differ and remove files"
        + " the step does not have.")
    boolean force;

    @Option(names = "--merge", description = "Replace files that differ from the step's and keep the others.")
    boolean merge;

    @Override
    int run() throws IOException {
      atLeast(spec, "--step", step, 0);
      if (force && merge) {
        throw usage("--force and --merge exclude each other");
      }
      PullOptions.Existing existing = force ? PullOptions.Existing.FORCE
          : merge ? PullOptions.Existing.MERGE : PullOptions.Existing.REFUSE;
      try (Repository repo = openRepo()) {
        Checkpoint c = new Checkpoints(repo).pull(run, step, dest,
            new PullOptions(verify, false, progress(), existing).withCommand("checkpoint pull"));
        if (json) {
          printJson(object().put("step", c.step()).put("version", c.id().hex()));
        } else {
          out().println(c.step() + " " + c.id().hex());
        }
      }
      return 0;
    }
  }
}
