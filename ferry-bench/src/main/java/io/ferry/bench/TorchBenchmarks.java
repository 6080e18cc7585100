package io.ferry.bench;

import io.ferry.format.DType;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.registry.FormatRegistry;
import io.ferry.format.torch.TorchZipWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * PyTorch checkpoints (issue 11): converting on pull both ways against a plain pull of the same version, each in a
 * fresh {@code ./ferry} process with the default codec and followed by {@code sync}; and listing the tensors of a
 * 10 GB torch checkpoint, which must read only its index (the zip's central directory and {@code data.pkl}).
 */
final class TorchBenchmarks {
  private static final String SECTION = "PyTorch checkpoints (issue 11)";

  private final Proc proc;
  private final String ferry;
  private final Path work;
  private final int runs;
  private final BiConsumer<String, Figure> add;
  private final Consumer<String> say;
  private final BiConsumer<String, String> note;

  TorchBenchmarks(Proc proc, String ferry, Path work, int runs, BiConsumer<String, Figure> add, Consumer<String> say,
      BiConsumer<String, String> note) {
    this.proc = proc;
    this.ferry = ferry;
    this.work = work.resolve("torch");
    this.runs = runs;
    this.add = add;
    this.say = say;
    this.note = note;
  }

  void run(Path model, long modelBytes) throws IOException {
    proc.quiet("rm", "-rf", work.toString());
    Files.createDirectories(work);
    Path store = work.resolve("store");
    proc.run(List.of(ferry, "init", "--store", store.toString()), Map.of(), null);
    say.accept("torch: pushing " + model + " (default codec)");
    proc.run(List.of(ferry, "push", "--store", store.toString(), model.toString(), "st"), Map.of(), null);

    // safetensors → torch on pull, against a plain pull of the same version
    double[] toTorch = pullBothWays(store, "st", "torch");
    Path pt = work.resolve("converted");
    long ptBytes = Benchmarks.dirBytes(pt);
    add.accept(SECTION, new Figure("`ferry pull` of a safetensors model (" + Benchmarks.human(modelBytes) + ")",
        toTorch[0], "`ferry pull --as torch` of it", toTorch[1], false, Double.NaN, String.format(Locale.ROOT,
            "wrote %s of pytorch_model*.bin; peak RSS %d MiB", Benchmarks.human(ptBytes), (long) toTorch[2] >> 10)));

    // torch → safetensors on pull: the converted checkpoint pushed, then pulled both ways
    proc.run(List.of(ferry, "push", "--store", store.toString(), pt.toString(), "pt"), Map.of(), null);
    double[] toSt = pullBothWays(store, "pt", "safetensors");
    add.accept(SECTION, new Figure("`ferry pull` of a torch checkpoint (" + Benchmarks.human(ptBytes) + ")",
        toSt[0], "`ferry pull --as safetensors` of it", toSt[1], false, Double.NaN,
        String.format(Locale.ROOT, "peak RSS %d MiB", (long) toSt[2] >> 10)));
    proc.quiet("rm", "-rf", work.resolve("plain").toString(), pt.toString());

    listing();
    proc.quiet("rm", "-rf", work.toString());
  }

  /**
   * Best of the runs of a plain pull of {@code ref} and of a pull {@code --as} (left in {@code converted/}), each
   * followed by {@code sync}: {plain s, converted s, converted peak RSS KiB}.
   */
  private double[] pullBothWays(Path store, String ref, String as) throws IOException {
    double plain = Double.MAX_VALUE;
    double converted = Double.MAX_VALUE;
    long rss = 0;
    for (int i = 0; i < runs; i++) {
      proc.quiet("rm", "-rf", work.resolve("plain").toString(), work.resolve("converted").toString());
      proc.quiet("sync");
      plain = Math.min(plain, pull(store, ref, work.resolve("plain"), null).wallS());
      proc.quiet("sync");
      Proc.Run r = pull(store, ref, work.resolve("converted"), as);
      converted = Math.min(converted, r.wallS());
      rss = Math.max(rss, r.maxRssKb());
    }
    return new double[] {plain, converted, rss};
  }

  private Proc.Run pull(Path store, String ref, Path dest, String as) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(ferry, "pull", "--store", store.toString(), ref, dest.toString()));
    if (as != null) {
      cmd.addAll(List.of("--as", as));
    }
    String line = String.join(" ", cmd.stream().map(a -> "'" + a + "'").toList());
    return proc.run(List.of("bash", "-c", line + " && sync"), Map.of(), null);
  }

  /**
   * A 10 GB torch checkpoint (40 bf16 tensors of 256 MiB, written with Ferry's torch writer) listed by the format
   * reader that push and show use: its wall time, and the bytes the process read meanwhile (/proc/self/io rchar).
   */
  private void listing() throws IOException {
    Path file = work.resolve("big.pt");
    int tensors = 40;
    long each = 256L << 20;
    List<TorchZipWriter.Tensor> table = new ArrayList<>();
    for (int i = 0; i < tensors; i++) {
      table.add(new TorchZipWriter.Tensor("model.layers." + i + ".weight", DType.BF16, List.of(8192L, each / 2
          / 8192)));
    }
    say.accept("torch: writing a " + Benchmarks.human(tensors * each) + " torch checkpoint");
    ByteBuffer zeros = ByteBuffer.allocateDirect(8 << 20);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
        StandardOpenOption.WRITE)) {
      TorchZipWriter w = TorchZipWriter.start(ch, file.toString(), table);
      for (int i = 0; i < tensors; i++) {
        w.tensor(out -> {
          for (long left = each; left > 0; ) {
            ByteBuffer b = zeros.clear().limit((int) Math.min(zeros.capacity(), left));
            while (b.hasRemaining()) {
              left -= out.write(b);
            }
          }
        });
      }
      w.finish();
    }
    long size = Files.size(file);
    double best = Double.MAX_VALUE;
    long read = 0;
    int listed = 0;
    for (int i = 0; i < Math.max(runs, 3); i++) {
      long before = rchar();
      long t0 = System.nanoTime();
      try (FileChannel ch = FileChannel.open(file)) {
        FileLayout l = FormatRegistry.standard().read(new FormatInput(file.getFileName().toString(), ch, size))
            .orElseThrow(() -> new IOException(file + ": not recognised"));
        listed = l.tensors().size();
      }
      best = Math.min(best, (System.nanoTime() - t0) / 1e9);
      read = rchar() - before;
    }
    if (listed != tensors) {
      throw new IOException(file + ": listed " + listed + " tensors, wrote " + tensors);
    }
    double cat = Double.MAX_VALUE;
    for (int i = 0; i < runs; i++) {
      cat = Math.min(cat, proc.sh("cat '" + file + "' > /dev/null").wallS());
    }
    add.accept(SECTION, new Figure("`cat` of the file (every byte)", cat, "listing the tensors of the "
        + Benchmarks.human(size)
        + " torch checkpoint (in-process, the format reader push and show use)", best, false, Double.NaN,
        String.format(Locale.ROOT, "goal < 1 s and no tensor bytes read: %s; read %d bytes of the file (%d tensors)",
            best < 1 && read < (1 << 20) ? "pass" : "FAIL", read, listed)));
    note.accept(SECTION, "The listing reads the zip's end records, its central directory and `data.pkl`: the bytes"
        + " read are counted by the kernel (`rchar` of /proc/self/io, every read call of the bench's JVM meanwhile).");
    Files.deleteIfExists(file);
  }

  private static long rchar() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/io"))) {
      if (line.startsWith("rchar:")) {
        return Long.parseLong(line.substring(6).trim());
      }
    }
    throw new IOException("/proc/self/io has no rchar");
  }
}
