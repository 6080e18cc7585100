package io.ferry.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Training checkpoints as a trainer writes them: ten consecutive steps of one bf16 safetensors checkpoint in a
 * directory of its own per step, a fifth of the tensors changing per step. Each step is pushed with a fresh {@code
 * ./ferry checkpoint push} (the default codec) against {@code cp -r} of the step's directory, both followed by {@code
 * sync}; then the same ten steps with {@code --async}, whose wall time is what a training loop stalls for.
 */
final class CheckpointBenchmarks {
  private static final int STEPS = 10;
  private static final int TENSORS = 50;
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Proc proc;
  private final String ferry;
  private final Path work;
  private final long size;
  private final BiConsumer<String, Figure> add;
  private final Consumer<String> say;

  CheckpointBenchmarks(Proc proc, String ferry, Path work, long size, BiConsumer<String, Figure> add,
      Consumer<String> say) {
    this.proc = proc;
    this.ferry = ferry;
    this.work = work.resolve("ckpt");
    this.size = size;
    this.add = add;
    this.say = say;
  }

  void run() throws IOException {
    say.accept("checkpoints: " + STEPS + " steps of a " + Benchmarks.human(size) + " checkpoint, 20% of tensors"
        + " changing per step");
    List<Path> steps = writeSteps();
    long logical = 0;
    for (Path s : steps) {
      logical += dirBytes(s);
    }
    Path store = work.resolve("store-sync");
    Path storeAsync = work.resolve("store-async");
    Path dst = work.resolve("cp-dst");
    for (Path p : List.of(store, storeAsync, dst)) {
      proc.quiet("rm", "-rf", p.toString());
    }
    proc.run(List.of(ferry, "init", "--store", store.toString()), Map.of(), null);
    proc.run(List.of(ferry, "init", "--store", storeAsync.toString()), Map.of(), null);
    Files.createDirectories(dst);
    double cpTotal = 0;
    double pushTotal = 0;
    double stallTotal = 0;
    List<Double> pushes = new ArrayList<>();
    List<Double> stalls = new ArrayList<>();
    long rss = 0;
    for (int k = 1; k <= STEPS; k++) {
      Path step = steps.get(k - 1);
      proc.quiet("sync");
      cpTotal += proc.sh("cp -r '" + step + "' '" + dst.resolve("step-" + k) + "' && sync").wallS();
      proc.quiet("sync");
      Proc.Run p = proc.run(List.of("sh", "-c", "'" + ferry + "' checkpoint push --store '" + store + "' '" + step
          + "' run --step " + k + " && sync"), Map.of(), null);
      pushTotal += p.wallS();
      pushes.add(p.wallS());
      rss = Math.max(rss, p.maxRssKb());
      proc.quiet("sync");
      Proc.Run a = proc.run(List.of(ferry, "checkpoint", "push", "--store", storeAsync.toString(), step.toString(),
          "run", "--step", Integer.toString(k), "--async"), Map.of(), null);
      stallTotal += a.wallS();
      stalls.add(a.wallS());
      waitForStep(storeAsync, k);
      say.accept(String.format(Locale.ROOT, "  step %d: push %.2f s, --async stall %.2f s", k, p.wallS(),
          a.wallS()));
    }
    long stored = dirBytes(store.resolve("objects"));
    long copied = dirBytes(dst);
    proc.quiet("rm", "-rf", dst.toString());
    String what = STEPS + " training checkpoints (" + Benchmarks.human(dirBytes(steps.get(0))) + " each, bf16, 20% of"
        + " tensors changing per step), fresh `./ferry checkpoint push` per step, default codec";
    add.accept(what, new Figure("`cp -r && sync` of each step, total", cpTotal,
        "`ferry checkpoint push && sync` of each step, total", pushTotal, false, Double.NaN,
        String.format(Locale.ROOT, "stored %s for %s of checkpoints (%.3f of their sum; cp keeps %.3f); first step"
            + " %.2f s, later steps median %.2f s; peak RSS %d MiB", Benchmarks.human(stored),
            Benchmarks.human(logical), (double) stored / logical, (double) copied / logical, pushes.get(0),
            median(pushes.subList(1, pushes.size())), rss >> 10)));
    add.accept(what, new Figure("synchronous `checkpoint push`, total", pushTotal,
        "`checkpoint push --async`: the training loop's stall, total", stallTotal, false, Double.NaN,
        String.format(Locale.ROOT, "median stall %.2f s against a median push of %.2f s (the stall stages the files"
            + " with hard links, or copies them across file systems)", median(stalls), median(pushes))));
  }

  /** Waits until the run's latest checkpoint is {@code step} (the background push of {@code --async} published it). */
  private void waitForStep(Path store, int step) throws IOException {
    long deadline = System.nanoTime() + 600_000_000_000L;
    Path out = work.resolve("latest.txt");
    while (System.nanoTime() < deadline) {
      try {
        proc.run(List.of(ferry, "checkpoint", "latest", "--store", store.toString(), "run"), Map.of(), out.toFile());
        String text = Files.readString(out).trim();
        if (text.startsWith(step + " ")) {
          return;
        }
      } catch (IOException notYet) {
        // no checkpoint published yet
      }
    }
    throw new IOException("the --async push of step " + step + " did not publish within 10 minutes");
  }

  /** Writes the steps, each in its own directory as trainers do, reusing what an earlier run wrote. */
  private List<Path> writeSteps() throws IOException {
    List<Path> steps = new ArrayList<>();
    long per = Math.max(1 << 16, size / TENSORS) & ~1L;
    for (int k = 1; k <= STEPS; k++) {
      Path dir = work.resolve("steps-" + (size >> 20) + "m").resolve("checkpoint-" + k);
      steps.add(dir);
      if (Files.exists(dir.resolve(".complete"))) {
        continue;
      }
      proc.quiet("rm", "-rf", dir.toString());
      Files.createDirectories(dir);
      writeCheckpoint(dir.resolve("model.safetensors"), k, per);
      Files.writeString(dir.resolve("trainer_state.json"), "{\"global_step\": " + k + "}\n");
      Files.createFile(dir.resolve(".complete"));
    }
    return steps;
  }

  /** Tensor i holds the values it was given at the last step that changed it: steps k with k % 5 == i % 5. */
  private static void writeCheckpoint(Path file, int step, long per) throws IOException {
    ObjectNode header = JSON.createObjectNode();
    long at = 0;
    for (int i = 0; i < TENSORS; i++) {
      ObjectNode t = header.putObject(String.format(Locale.ROOT, "model.layers.%d.weight", i));
      t.put("dtype", "BF16");
      t.putArray("shape").add(per / 2);
      t.putArray("data_offsets").add(at).add(at + per);
      at += per;
    }
    byte[] h = JSON.writeValueAsBytes(header);
    int pad = (8 - h.length % 8) % 8;
    try (OutputStream out = Files.newOutputStream(file)) {
      out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length + pad).array());
      out.write(h);
      out.write(" ".repeat(pad).getBytes(StandardCharsets.US_ASCII));
      byte[] buf = new byte[1 << 20];
      for (int i = 0; i < TENSORS; i++) {
        int changedAt = step - Math.floorMod(step - i, 5);
        SplittableRandom r = new SplittableRandom(i * 1_000_003L + Math.max(0, changedAt));
        for (long done = 0; done < per; ) {
          int n = (int) Math.min(buf.length, per - done);
          for (int j = 0; j + 1 < n; j += 2) {
            // bf16 weights of magnitude 2^-9 .. 2^-3 with random signs and mantissas, like trained layers
            int v = r.nextInt();
            int bits = (v & 0x8000) | ((118 + ((v >>> 8) & 7) % 7) << 7) | (v & 0x7F);
            buf[j] = (byte) bits;
            buf[j + 1] = (byte) (bits >>> 8);
          }
          out.write(buf, 0, n);
          done += n;
        }
      }
    }
  }

  private static double median(List<Double> xs) {
    List<Double> s = new ArrayList<>(xs);
    Collections.sort(s);
    return s.isEmpty() ? Double.NaN : s.get(s.size() / 2);
  }

  private static long dirBytes(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().startsWith("."))
          .mapToLong(p -> p.toFile().length()).sum();
    }
  }
}
