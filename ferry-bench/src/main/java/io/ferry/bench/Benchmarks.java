package io.ferry.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.Ferry;
import io.ferry.codec.CodecPolicy;
import io.ferry.format.DType;
import io.ferry.read.ModelReader;
import io.ferry.read.SpareBuffers;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.transfer.TransferListener;
import java.io.File;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * End-to-end benchmarks of Ferry against the tools and plain-Java reads they replace; writes BENCHMARKS.md. Every
 * figure is a ratio against a baseline measured in the same run, interleaved with it, best of N. Not a test: run it by
 * hand ({@code bench/run.sh}, or see {@link #usage()}).
 */
public final class Benchmarks {
  private static final long GIB = 1L << 30;
  private static final ObjectMapper JSON = new ObjectMapper();
  /** The kept section a full run puts first: the summary of where each goal stands, written by hand. */
  static final String LEAD = "status";

  private final Path root;
  private final Path work;
  private final long size;
  private final long bigSize;
  private final int runs;
  private final int versions;
  private final int smallChunks;
  private final boolean quick;
  private final Proc proc;
  private final String ferry;
  private final String javaBin;
  private final Map<String, List<Figure>> figures = new LinkedHashMap<>();
  private final Map<String, List<String>> notes = new LinkedHashMap<>();
  private final List<String> log = new ArrayList<>();
  private final String commandLine;

  private Benchmarks(Path root, Path work, long size, long bigSize, int runs, int versions, int smallChunks,
      boolean quick, String commandLine) throws IOException {
    this.smallChunks = smallChunks;
    this.root = root;
    this.work = work;
    this.size = size;
    this.bigSize = bigSize;
    this.runs = runs;
    this.versions = versions;
    this.quick = quick;
    this.commandLine = commandLine;
    Files.createDirectories(work.resolve("scratch"));
    this.proc = new Proc(work.resolve("scratch"));
    this.ferry = root.resolve("ferry").toString();
    this.javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  static String usage() {
    return "usage: Benchmarks [--quick] [--size 2g] [--big-size 4g] [--runs 3] [--versions 10000]\n"
        + "                  [--repo DIR] [--work DIR] [--out FILE] [--small-chunks 1000000]\n"
        + "                  [--only user,pull,push,cat,read,big,versions,startup,checkpoints,torch,smallidx,web,serve]";
  }

  public static void main(String[] args) throws Exception {
    Path root = Path.of("").toAbsolutePath();
    Path work = null;
    Path out = null;
    long size = 2 * GIB + (64L << 20);
    long big = 4 * GIB + (64L << 20);
    int runs = 3;
    int versions = 10_000;
    boolean quick = false;
    boolean partial = false;
    String only = "user,pull,push,cat,read,big,versions,startup,checkpoints,torch,smallidx,web,serve";
    int smallChunks = 1_000_000;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--quick" -> {
          quick = true;
          size = 256L << 20;
          big = 512L << 20;
          versions = 500;
          smallChunks = 50_000;
        }
        case "--small-chunks" -> smallChunks = Integer.parseInt(args[++i]);
        case "--size" -> size = parseSize(args[++i]);
        case "--big-size" -> big = parseSize(args[++i]);
        case "--runs" -> runs = Integer.parseInt(args[++i]);
        case "--versions" -> versions = Integer.parseInt(args[++i]);
        case "--repo" -> root = Path.of(args[++i]).toAbsolutePath();
        case "--work" -> work = Path.of(args[++i]).toAbsolutePath();
        case "--out" -> out = Path.of(args[++i]).toAbsolutePath();
        case "--only" -> {
          only = args[++i];
          partial = true;
        }
        default -> {
          System.err.println(usage());
          System.exit(2);
        }
      }
    }
    if (!Files.isExecutable(root.resolve("ferry"))) {
      System.err.println("no ./ferry launcher in " + root + ": run from the repository root or pass --repo");
      System.exit(2);
    }
    if (work == null) {
      work = root.resolve("bench-work");
    }
    if (out == null) {
      // a run of some sections writes only those: into BENCHMARKS.md it would drop every other section, so it goes
      // beside the work files, to be merged by hand
      out = root.resolve(quick ? "bench-work/BENCHMARKS-quick.md"
          : partial ? "bench-work/BENCHMARKS-partial.md" : "BENCHMARKS.md");
    }
    List<String> shown = new ArrayList<>(List.of(args)); // the command to print, without run.sh's own --repo
    int repoAt = shown.indexOf("--repo");
    if (repoAt >= 0 && repoAt + 1 < shown.size()) {
      shown.subList(repoAt, repoAt + 2).clear();
    }
    Benchmarks b = new Benchmarks(root, work, size, big, Math.max(1, runs), versions, smallChunks, quick,
        String.join(" ", shown));
    b.run(List.of(only.split(",")), out);
  }

  static long parseSize(String s) {
    String t = s.trim().toLowerCase(Locale.ROOT);
    long mul = 1;
    char last = t.charAt(t.length() - 1);
    if (last == 'g' || last == 'm' || last == 'k') {
      mul = last == 'g' ? GIB : last == 'm' ? 1L << 20 : 1L << 10;
      t = t.substring(0, t.length() - 1);
    }
    return (long) (Double.parseDouble(t) * mul);
  }

  private void say(String s) {
    System.err.println("[bench] " + s);
    log.add(s);
  }

  // ------------------------------------------------------------------ orchestration

  private void run(List<String> only, Path out) throws Exception {
    long t0 = System.nanoTime();
    say("work dir " + work + ", model " + human(size) + ", big model " + human(bigSize) + ", best of " + runs);
    boolean needsModel = only.stream().anyMatch(List.of("user", "pull", "push", "cat", "read", "big", "serve", "torch")::contains);
    Path model = needsModel ? ensureModel(work.resolve("model-" + (size >> 20) + "m"), size, 42) : null;
    Path storeNone = needsModel
        ? ensurePushed(work.resolve("store-none-" + (size >> 20) + "m"), model, "bench", CodecPolicy.NONE) : null;
    String shard = needsModel ? firstShard(model) : null;
    if (only.contains("user")) {
      userPath(model, storeNone, shard);
    }
    if (only.contains("pull")) {
      pull(model, storeNone);
    }
    if (only.contains("push")) {
      push(model);
    }
    if (only.contains("cat")) {
      cat(model, storeNone, shard);
    }
    if (only.contains("read")) {
      Path storeAuto = ensurePushed(work.resolve("store-auto-" + (size >> 20) + "m"), model, "bench", CodecPolicy.AUTO);
      read(model, storeAuto, storeNone);
    }
    if (only.contains("big")) {
      big(model);
    }
    if (only.contains("versions")) {
      versions();
    }
    if (only.contains("startup")) {
      startup();
    }
    if (only.contains("checkpoints")) {
      new CheckpointBenchmarks(proc, ferry, work, Math.max(64L << 20, size / 4), this::add, this::say).run();
    }
    if (only.contains("torch")) {
      new TorchBenchmarks(proc, ferry, work, runs, this::add, this::say,
          (section, note) -> notes.computeIfAbsent(section, k -> new ArrayList<>()).add(note))
          .run(model, dirBytes(model));
    }
    if (only.contains("web")) {
      new WebBenchmarks(work, versions, runs, this::say, this::add,
          (section, note) -> notes.computeIfAbsent(section, k -> new ArrayList<>()).add(note)).run();
    }
    if (only.contains("serve")) {
      long small = Math.max(16L << 20, size / 16);
      Path smallModel = ensureModel(work.resolve("model-" + (small >> 20) + "m"), small, 43);
      Path smallStore = ensurePushed(work.resolve("store-none-" + (small >> 20) + "m"), smallModel, "bench",
          CodecPolicy.NONE);
      new ServeBenchmarks(proc, ferry, work, runs, this::say, this::add,
          (section, note) -> notes.computeIfAbsent(section, k -> new ArrayList<>()).add(note))
          .run(model, storeNone, dirBytes(model), smallStore, dirBytes(smallModel));
    }
    if (only.contains("smallidx")) {
      new SmallChunkIndexBenchmark(work, versions, smallChunks, runs, proc, ferry, this::say, this::add,
          (section, note) -> notes.computeIfAbsent(section, k -> new ArrayList<>()).add(note)).run();
    }
    double total = (System.nanoTime() - t0) / 1e9;
    String old = Files.exists(out) ? Files.readString(out) : "";
    Files.writeString(out, report(total, keptSections(old, true)) + keptSections(old, false));
    say("wrote " + out + " in " + Math.round(total) + " s");
  }

  // ------------------------------------------------------------------ 0. the path users run first

  /**
   * What a user runs: fresh {@code ./ferry} processes with the default options ({@code --codec auto}, the launcher's
   * heap), each against the shell command that does the same job, with the bytes on disk ({@code sync}) for both.
   */
  private void userPath(Path model, Path storeNone, String shard) throws IOException {
    say("0. the user's path: fresh ./ferry, default codec");
    Path store = work.resolve("store-user");
    Path dst = work.resolve("user-dst");
    double cpSync = Double.MAX_VALUE;
    double push = Double.MAX_VALUE;
    double pull = Double.MAX_VALUE;
    double pullNone = Double.MAX_VALUE;
    double cat = Double.MAX_VALUE;
    double ferryCat = Double.MAX_VALUE;
    double ferryCatNone = Double.MAX_VALUE;
    // start-up: the same command on the same store, of the model's smallest file (config.json), so that what is
    // subtracted is exactly what a cat pays before its first byte (JVM, CLI, opening the store and the snapshot)
    double catStart = Double.MAX_VALUE;
    double catStartNone = Double.MAX_VALUE;
    Proc.Run pushBest = null;
    Proc.Run pullBest = null;
    Proc.Run catBest = null;
    long pushRss = 0;
    long pullRss = 0;
    long pullNoneRss = 0;
    long catRss = 0;
    long stored = 0;
    Path shardFile = model.resolve(shard);
    // Each command that writes the model's 1.94 GiB (cp, both pulls) starts right after the model's last copy in DEST
    // was deleted, so each gets the pages that deletion freed. On this virtual machine a page the guest freed a few
    // seconds earlier has been handed back to the host (free page reporting), and writing into such pages costs far
    // more kernel time than into pages freed a moment ago: a default-codec pull run right after the push (nothing
    // freed for seconds) took 4.1-4.2 s with 4.9-5.0 CPU-seconds in the kernel; the same pull right after 1.94 GiB
    // was deleted, 1.6-2.2 s with 0.9-1.7 (2026-12-05). The push comes first in a round, after its store is deleted.
    for (int i = 0; i < runs; i++) {
      clean(store);
      proc.quiet("sync");
      proc.run(List.of(ferry, "init", "--store", store.toString()), Map.of(), null);
      Proc.Run p = proc.run(List.of("sh", "-c", "'" + ferry + "' push --store '" + store + "' '" + model
          + "' bench -m bench && sync"), Map.of(), null);
      check(p, "ferry push");
      if (p.wallS() < push) {
        push = p.wallS();
        pushBest = p;
      }
      pushRss = Math.max(pushRss, p.maxRssKb());
      stored = dirBytes(store.resolve("objects"));
      clean(dst);
      proc.quiet("sync");
      cpSync = Math.min(cpSync, proc.sh("cp -r '" + model + "' '" + dst + "' && sync").wallS());
      clean(dst);
      proc.quiet("sync");
      Proc.Run f = proc.run(List.of("sh", "-c", "'" + ferry + "' pull --store '" + store + "' bench '" + dst
          + "' && sync"), Map.of(), null);
      check(f, "ferry pull");
      if (f.wallS() < pull) {
        pull = f.wallS();
        pullBest = f;
      }
      pullRss = Math.max(pullRss, f.maxRssKb());
      clean(dst);
      proc.quiet("sync");
      Proc.Run n = proc.run(List.of("sh", "-c", "'" + ferry + "' pull --store '" + storeNone + "' bench '" + dst
          + "' && sync"), Map.of(), null);
      check(n, "ferry pull (codec none)");
      pullNone = Math.min(pullNone, n.wallS());
      pullNoneRss = Math.max(pullNoneRss, n.maxRssKb());
      // DEST stays until the next round's cp deletes it (see above)
      cat = Math.min(cat, proc.sh("cat '" + shardFile + "' > /dev/null").wallS());
      Proc.Run c = proc.run(List.of("sh", "-c", "'" + ferry + "' cat --store '" + store + "' 'bench//" + shard
          + "' > /dev/null"), Map.of(), null);
      check(c, "ferry cat");
      if (c.wallS() < ferryCat) {
        ferryCat = c.wallS();
        catBest = c;
      }
      catRss = Math.max(catRss, c.maxRssKb());
      ferryCatNone = Math.min(ferryCatNone, proc.run(List.of("sh", "-c", "'" + ferry + "' cat --store '" + storeNone
          + "' 'bench//" + shard + "' > /dev/null"), Map.of(), null).wallS());
      catStart = Math.min(catStart, catStartUp(store));
      catStartNone = Math.min(catStartNone, catStartUp(storeNone));
      say(String.format(Locale.ROOT, "  round %d: cp -r+sync %.2f s, push %.2f, pull %.2f, pull(none) %.2f, cat %.2f,"
          + " ferry cat %.2f (start-up %.2f)", i + 1, cpSync, p.wallS(), f.wallS(), n.wallS(), cat, c.wallS(),
          catStart));
    }
    clean(dst);
    long bytes = dirBytes(model);
    long shardBytes = Files.size(shardFile);
    String what = "the user's path: a " + human(bytes) + " bf16 model, fresh `./ferry` processes, default options";
    add(what, new Figure("`cp -r && sync`", cpSync, "`ferry push` (auto codec) `&& sync`", push, false, 1.5,
        String.format(Locale.ROOT, "stored %.3f of the size; CPU %s; peak RSS %s", (double) stored / bytes,
            cpu(pushBest), mb(pushRss))));
    add(what, new Figure("`cp -r && sync`", cpSync, "`ferry pull` (stored with auto) `&& sync`", pull, false, 1.3,
        "CPU " + cpu(pullBest) + "; peak RSS " + mb(pullRss)));
    add(what, new Figure("`cp -r && sync`", cpSync, "`ferry pull` (stored with `--codec none`) `&& sync`", pullNone,
        false, 1.1, "peak RSS " + mb(pullNoneRss)));
    add(what, new Figure("`cat` of one shard (" + human(shardBytes) + ")", cat, "`ferry cat` (auto), start-up"
        + " excluded", Math.max(1e-3, ferryCat - catStart), true, 0.5, String.format(Locale.ROOT,
        "with start-up %.2f s (start-up: `ferry cat` of config.json, %.2f s); CPU %s; peak RSS %s", ferryCat,
        catStart, cpu(catBest), mb(catRss))));
    add(what, new Figure("`cat` of one shard", cat, "`ferry cat` (codec none), start-up excluded",
        Math.max(1e-3, ferryCatNone - catStartNone), true, 0.8, String.format(Locale.ROOT,
        "with start-up %.2f s (start-up %.2f s)", ferryCatNone, catStartNone)));
  }

  /** Wall time of a fresh {@code ferry cat} of the bench model's config.json from {@code store}. */
  private double catStartUp(Path store) throws IOException {
    Proc.Run r = proc.run(List.of("sh", "-c", "'" + ferry + "' cat --store '" + store + "' 'bench//config.json'"
        + " > /dev/null"), Map.of(), null);
    check(r, "ferry cat config.json");
    return r.wallS();
  }

  private static void check(Proc.Run r, String what) {
    if (r.exit() != 0) {
      throw new IllegalStateException(what + " exited " + r.exit());
    }
  }

  // ------------------------------------------------------------------ 1. pull

  private void pull(Path model, Path store) throws IOException {
    say("1. pull vs cp -r");
    Path dst = work.resolve("pull-dst");
    double cp = Double.MAX_VALUE;
    double cpSync = Double.MAX_VALUE;
    double cli = Double.MAX_VALUE;
    double api = Double.MAX_VALUE;
    Proc.Run cliBest = null;
    long cliRss = 0;
    long cpRss = 0;
    try (Repository repo = Ferry.open(store.toString())) {
      for (int i = 0; i < runs; i++) {
        clean(dst);
        proc.quiet("sync");
        Proc.Run c = proc.run(List.of("cp", "-r", model.toString(), dst.toString()), Map.of(), null);
        cp = Math.min(cp, c.wallS());
        cpRss = Math.max(cpRss, c.maxRssKb());
        clean(dst);
        proc.quiet("sync");
        cpSync = Math.min(cpSync, proc.sh("cp -r '" + model + "' '" + dst + "' && sync").wallS());
        clean(dst);
        proc.quiet("sync");
        Proc.Run f = proc.run(List.of(ferry, "pull", "--store", store.toString(), "bench", dst.toString()),
            Map.of(), null);
        if (f.wallS() < cli) {
          cli = f.wallS();
          cliBest = f;
        }
        cliRss = Math.max(cliRss, f.maxRssKb());
        clean(dst);
        proc.quiet("sync");
        long s = System.nanoTime();
        repo.pull("bench", dst, io.ferry.transfer.PullOptions.defaults());
        api = Math.min(api, (System.nanoTime() - s) / 1e9);
        say(String.format(Locale.ROOT, "  round %d: cp %.2f s, cp+sync %.2f, ferry pull (CLI) %.2f, in-process %.2f",
            i + 1, c.wallS(), cpSync, f.wallS(), (System.nanoTime() - s) / 1e9));
      }
    }
    clean(dst);
    String what = "pull of a " + human(dirBytes(model)) + " model (codec none), page cache warm";
    add(what, new Figure("`cp -r`", cp, "`ferry pull` (launcher, child JVM)", cli, false, 1.1,
        "CPU " + cpu(cliBest) + "; peak RSS Ferry " + mb(cliRss) + ", cp " + mb(cpRss)));
    add(what, new Figure("`cp -r`", cp, "`Repository.pull` in-process", api, false, 1.1,
        "JVM start-up and class loading excluded"));
    add(what, new Figure("`cp -r && sync`", cpSync, "`ferry pull` (launcher, child JVM)", cli, false, Double.NaN,
        "Ferry fsyncs only with `--fsync`; shown for scale"));
    pullAnatomy(store);
  }

  /**
   * Times the steps a codec-none pull is made of, each alone over the same stored objects: the frame CRC32C, a
   * positional write from the memory map (what Puller does), an in-kernel copy (transferTo), and the final fsync.
   */
  private void pullAnatomy(Path store) throws IOException {
    List<Path> objects = new ArrayList<>();
    try (Stream<Path> s = Files.walk(store.resolve("objects"))) {
      s.filter(Files::isRegularFile).forEach(objects::add);
    }
    Path dst = work.resolve("anatomy");
    double crc = Double.MAX_VALUE;
    double write = Double.MAX_VALUE;
    double transfer = Double.MAX_VALUE;
    double fsync = Double.MAX_VALUE;
    double read = Double.MAX_VALUE;
    long bytes = 0;
    ByteBuffer buf = ByteBuffer.allocateDirect(16 << 20);
    for (int r = 0; r < runs; r++) {
      bytes = 0;
      long t = System.nanoTime();
      for (Path p : objects) {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
          CRC32C c = new CRC32C();
          c.update(ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()));
          bytes += ch.size();
        }
      }
      crc = Math.min(crc, secsSince(t));
      t = System.nanoTime();
      for (Path p : objects) {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
          while (true) {
            buf.clear();
            if (ch.read(buf) < 0) {
              break;
            }
          }
        }
      }
      read = Math.min(read, secsSince(t));
      for (int mode = 0; mode < 2; mode++) {
        Files.deleteIfExists(dst);
        t = System.nanoTime();
        try (FileChannel out = FileChannel.open(dst, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
          long at = 0;
          for (Path p : objects) {
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
              long n = ch.size();
              if (mode == 0) {
                MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_ONLY, 0, n);
                long pos = at;
                while (m.hasRemaining()) {
                  pos += out.write(m, pos);
                }
              } else {
                long done = 0;
                out.position(at);
                while (done < n) {
                  done += ch.transferTo(done, n - done, out);
                }
              }
              at += n;
            }
          }
          double w = secsSince(t);
          if (mode == 0) {
            write = Math.min(write, w);
            t = System.nanoTime();
            out.force(true);
            fsync = Math.min(fsync, secsSince(t));
          } else {
            transfer = Math.min(transfer, w);
          }
        }
        Files.deleteIfExists(dst);
        proc.quiet("sync");
      }
    }
    String what = "anatomy of a codec-none pull (in-process, single thread, " + human(bytes) + " of stored objects)";
    add(what, new Figure("read into a direct buffer", read, "CRC32C over the memory map", crc, false, Double.NaN,
        String.format(Locale.ROOT, "%.2f GB/s", bytes / crc / 1e9)));
    add(what, new Figure("read into a direct buffer", read, "positional write from the memory map", write, false,
        Double.NaN, "what Puller does per chunk, without the CRC"));
    add(what, new Figure("read into a direct buffer", read, "`transferTo` (in-kernel copy)", transfer, false,
        Double.NaN, "what DESIGN.md proposes for codec none"));
    add(what, new Figure("read into a direct buffer", read, "`force(true)` after the write", fsync, false,
        Double.NaN, "durability: flush " + human(bytes) + " of dirty pages to the disk"));
  }

  // ------------------------------------------------------------------ 2. push

  private void push(Path model) throws IOException {
    say("2. push vs cp -r && sync");
    Path dst = work.resolve("push-cp");
    Path store = work.resolve("push-store");
    double cp = Double.MAX_VALUE;
    double none = Double.MAX_VALUE;
    double auto = Double.MAX_VALUE;
    Proc.Run bestNone = null;
    Proc.Run bestAuto = null;
    long rssNone = 0;
    long rssAuto = 0;
    long storedNone = 0;
    long storedAuto = 0;
    for (int i = 0; i < runs; i++) {
      clean(dst);
      proc.quiet("sync");
      cp = Math.min(cp, proc.sh("cp -r '" + model + "' '" + dst + "' && sync").wallS());
      clean(dst);
      for (String codec : List.of("none", "auto")) {
        clean(store);
        init(store);
        proc.quiet("sync");
        Proc.Run r = proc.run(List.of(ferry, "push", "--store", store.toString(), model.toString(), "bench", "-m",
            "bench", "--codec", codec), Map.of(), null);
        long stored = dirBytes(store.resolve("objects"));
        if (codec.equals("none")) {
          if (r.wallS() < none) {
            none = r.wallS();
            bestNone = r;
          }
          rssNone = Math.max(rssNone, r.maxRssKb());
          storedNone = stored;
        } else {
          if (r.wallS() < auto) {
            auto = r.wallS();
            bestAuto = r;
          }
          rssAuto = Math.max(rssAuto, r.maxRssKb());
          storedAuto = stored;
        }
        say(String.format(Locale.ROOT, "  round %d: push --codec %s %.2f s (cp+sync best %.2f)", i + 1, codec,
            r.wallS(), cp));
      }
    }
    clean(store);
    String what = "push of a new " + human(dirBytes(model)) + " model (fresh store each time)";
    add(what, new Figure("`cp -r && sync`", cp, "`ferry push --codec none`", none, false, 1.3,
        "CPU " + cpu(bestNone) + "; peak RSS " + mb(rssNone) + "; stored " + human(storedNone)));
    add(what, new Figure("`cp -r && sync`", cp, "`ferry push` (default `auto`)", auto, false, 1.3,
        "CPU " + cpu(bestAuto) + "; peak RSS " + mb(rssAuto) + "; stored " + human(storedAuto) + " ("
            + Figure.fmt((double) storedAuto / storedNone) + " of none)"));
  }

  // ------------------------------------------------------------------ 3. cat

  private void cat(Path model, Path store, String shard) throws IOException {
    say("3. cat of one shard");
    Path file = model.resolve(shard);
    File devNull = new File("/dev/null");
    double cat = Double.MAX_VALUE;
    double fc = Double.MAX_VALUE;
    double catPipe = Double.MAX_VALUE;
    double fcPipe = Double.MAX_VALUE;
    long rss = 0;
    Proc.Run best = null;
    String ref = "bench//" + shard;
    for (int i = 0; i < runs; i++) {
      cat = Math.min(cat, proc.run(List.of("cat", file.toString()), Map.of(), devNull).wallS());
      Proc.Run f = proc.run(List.of(ferry, "cat", "--store", store.toString(), ref), Map.of(), devNull);
      if (f.wallS() < fc) {
        fc = f.wallS();
        best = f;
      }
      rss = Math.max(rss, f.maxRssKb());
      catPipe = Math.min(catPipe, proc.sh("cat '" + file + "' | cat > /dev/null").wallS());
      fcPipe = Math.min(fcPipe, proc.sh("'" + ferry + "' cat --store '" + store + "' '" + ref
          + "' | cat > /dev/null").wallS());
    }
    long n = Files.size(file);
    String what = "cat of one shard (" + human(n) + "), page cache warm; throughput ratio";
    add(what, new Figure("`cat shard > /dev/null`", cat, "`ferry cat > /dev/null`", fc, true, 0.8,
        "CPU " + cpu(best) + "; peak RSS " + mb(rss) + "; Ferry " + gbps(n, fc) + ", cat " + gbps(n, cat)));
    add(what, new Figure("`cat shard | cat > /dev/null`", catPipe, "`ferry cat | cat > /dev/null`", fcPipe, true,
        0.8, "through a pipe, so the bytes are really delivered"));
  }

  // ------------------------------------------------------------------ 4. reader

  private void read(Path model, Path storeAuto, Path storeNone) throws IOException {
    say("4. ModelReader.forEachTensor vs FileChannel");
    List<Path> shards = shards(model);
    double base = Double.MAX_VALUE;
    double auto = Double.MAX_VALUE;
    double fer = Double.MAX_VALUE;
    double ferSha = Double.MAX_VALUE;
    double ferKept = Double.MAX_VALUE;
    double ferFresh = Double.MAX_VALUE;
    long bytesBase = 0;
    long bytesFerry = 0;
    ByteBuffer buf = ByteBuffer.allocateDirect(16 << 20).order(ByteOrder.LITTLE_ENDIAN);
    try (Repository repoAuto = Ferry.open(storeAuto.toString()); Repository repo = Ferry.open(storeNone.toString());
        ModelReader kept = repo.open("bench")) {
      int rounds = Math.max(runs, 5) + 1; // in-process and cheap: more rounds against the noise
      for (int i = 0; i < rounds; i++) {
        long t = System.nanoTime();
        long sum = 0;
        bytesBase = 0;
        for (Path p : shards) {
          try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            while (true) {
              buf.clear();
              int n = ch.read(buf);
              if (n < 0) {
                break;
              }
              buf.flip();
              sum += checksum(buf);
              bytesBase += n;
            }
          }
        }
        double b = secsSince(t);
        long[] acc = new long[2];
        t = System.nanoTime();
        try (ModelReader r = repoAuto.open("bench")) {
          r.forEachTensor((tensor, data) -> acc[0] += checksum(data.order(ByteOrder.LITTLE_ENDIAN)));
        }
        double fa = secsSince(t);
        t = System.nanoTime();
        try (ModelReader r = repo.open("bench")) {
          r.forEachTensor((tensor, data) -> {
            acc[0] += checksum(data.order(ByteOrder.LITTLE_ENDIAN));
            acc[1] += data.remaining();
          });
        }
        double f = secsSince(t);
        t = System.nanoTime();
        try (ModelReader r = repo.open("bench")) {
          r.verifying(true).forEachTensor((tensor, data) -> acc[0] += checksum(data));
        }
        double fs = secsSince(t);
        t = System.nanoTime();
        kept.forEachTensor((tensor, data) -> acc[0] += checksum(data.order(ByteOrder.LITTLE_ENDIAN)));
        double fk = secsSince(t);
        SpareBuffers.release(); // this stream makes new buffers, as the first read of a process does
        t = System.nanoTime();
        try (Repository fresh = Ferry.open(storeNone.toString()); ModelReader r = fresh.open("bench")) {
          r.forEachTensor((tensor, data) -> acc[0] += checksum(data.order(ByteOrder.LITTLE_ENDIAN)));
        }
        double ff = secsSince(t);
        bytesFerry = acc[1];
        if (i > 0) { // the first round warms the JIT for both sides
          base = Math.min(base, b);
          auto = Math.min(auto, fa);
          fer = Math.min(fer, f);
          ferSha = Math.min(ferSha, fs);
          ferKept = Math.min(ferKept, fk);
          ferFresh = Math.min(ferFresh, ff);
        }
        say(String.format(Locale.ROOT, "  round %d: FileChannel %.2f s, forEachTensor (auto) %.2f s, (none) %.2f s,"
            + " +sha256 %.2f s, (none, one reader for every round) %.2f s, (none, new buffers) %.2f s (%d)", i, b, fa,
            f, fs, fk, ff, sum ^ acc[0]));
      }
    }
    String what = "Java reader, every tensor of " + human(bytesFerry) + " (in-process, warm JIT); throughput ratio";
    add(what, new Figure("FileChannel → direct buffer", base, "`ModelReader.forEachTensor` (stored with the default"
        + " codec, auto)", auto, true, 0.5, "decodes every chunk; both sum one long per 64 bytes"));
    add(what, new Figure("FileChannel → direct buffer", base, "`ModelReader.forEachTensor` (stored with `--codec"
        + " none`)", fer, true, 0.8, "a new reader each round, which takes the direct buffers the last reader closed"
        + " left (`SpareBuffers`); both sum one long per 64 bytes; baseline reads " + human(bytesBase)));
    add(what, new Figure("FileChannel → direct buffer", base, "`forEachTensor` (`--codec none`), new buffers each"
        + " round", ferFresh, true, Double.NaN, "kept buffers released first (`SpareBuffers.release`), so the reader"
        + " allocates, zeroes and faults in new ones, as a process's first read does (the JVM's default 4 KiB pages,"
        + " not the launcher's huge pages)"));
    add(what, new Figure("FileChannel → direct buffer", base, "`forEachTensor` (`--codec none`), one reader for every"
        + " round", ferKept, true, Double.NaN, "the reader's buffers (chunk pool, the biggest cut tensor's) reused"));
    add(what, new Figure("FileChannel → direct buffer", base, "`forEachTensor` with `verifying(true)`", ferSha, true,
        Double.NaN, "adds SHA-256 of every chunk"));
  }

  private static long checksum(ByteBuffer b) {
    long s = 0;
    int end = b.limit() - 8;
    for (int i = b.position(); i <= end; i += 64) {
      s += b.getLong(i);
    }
    return s;
  }

  // ------------------------------------------------------------------ 5. big model, small heap

  private void big(Path model) throws IOException, InterruptedException {
    say("5. pull of a " + human(bigSize) + " model with -Xmx256m");
    Path bigModel = ensureBigModel(model);
    long logical = dirBytes(bigModel);
    Path store = ensurePushed(work.resolve("store-big-" + (bigSize >> 20) + "m"), bigModel, "big", CodecPolicy.NONE);
    Path dst = work.resolve("big-dst");
    clean(dst);
    proc.quiet("sync");
    double cp = proc.run(List.of("cp", "-r", bigModel.toString(), dst.toString()), Map.of(), null).wallS();
    clean(dst);
    proc.quiet("sync");
    ProcessBuilder pb = new ProcessBuilder(ferry, "pull", "--store", store.toString(), "big", dst.toString());
    pb.environment().put("FERRY_JAVA_OPTS", "-XX:+UseSerialGC -Xshare:auto -Xmx256m");
    pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
    pb.redirectError(work.resolve("scratch/big-stderr.txt").toFile());
    long t = System.nanoTime();
    Process p = pb.start();
    long hwm = 0;
    long anon = 0;
    Path status = Path.of("/proc/" + p.pid() + "/status");
    while (p.isAlive()) {
      try {
        for (String line : Files.readAllLines(status)) {
          if (line.startsWith("VmHWM:")) {
            hwm = Math.max(hwm, kb(line));
          } else if (line.startsWith("RssAnon:")) {
            anon = Math.max(anon, kb(line));
          }
        }
      } catch (IOException gone) {
        break;
      }
      Thread.sleep(20);
    }
    int exit = p.waitFor();
    double wall = secsSince(t);
    long pulled = exit == 0 ? dirBytes(dst) : -1;
    clean(dst);
    boolean ok = exit == 0 && pulled == logical;
    String what = "pull of a " + human(logical) + " model in a child JVM with `-Xmx256m` (codec none)";
    add(what, new Figure("`cp -r` (single run)", cp, "`ferry pull`, `-Xmx256m`", wall, false, Double.NaN,
        (ok ? "succeeded, " : "**failed (exit " + exit + ")**, ") + human(pulled) + " written; peak RSS (VmHWM) "
            + mb(hwm) + ", of which anonymous (heap, metaspace, threads) ≤ " + mb(anon)
            + "; the rest is file pages of memory-mapped chunks, which the kernel reclaims"));
    notes.computeIfAbsent(what, k -> new ArrayList<>()).add("Target: succeeds with a 256 MiB heap — "
        + (ok ? "pass" : "**FAIL**") + ".");
  }

  private static long kb(String statusLine) {
    String[] f = statusLine.trim().split("\\s+");
    return Long.parseLong(f[1]);
  }

  /**
   * A model twice the size of {@code model}: its shards (hard links) plus copies under new tensor names whose bf16
   * values have their sign flipped, so the copy is new content with the same normal(0, 0.02) distribution.
   */
  private Path ensureBigModel(Path model) throws IOException {
    Path dir = work.resolve("model-" + (bigSize >> 20) + "m");
    Path done = dir.resolve(".complete");
    if (Files.exists(done)) {
      return dir;
    }
    clean(dir);
    Files.createDirectories(dir);
    List<Path> shards = shards(model);
    JsonNode index = JSON.readTree(model.resolve("model.safetensors.index.json").toFile());
    ObjectNode weightMap = ((ObjectNode) index.get("weight_map")).deepCopy();
    long total = index.get("metadata").get("total_size").asLong();
    long have = dirBytes(model);
    int copy = 0;
    for (Path s : shards) {
      Files.createLink(dir.resolve(s.getFileName()), s);
    }
    while (have < bigSize) {
      copy++;
      for (Path s : shards) {
        if (have >= bigSize) {
          break;
        }
        String name = "model-copy" + copy + "-" + s.getFileName();
        total += flippedCopy(s, dir.resolve(name), "copy" + copy + ".", weightMap, name);
        have += Files.size(s);
      }
    }
    ObjectNode idx = JSON.createObjectNode();
    idx.putObject("metadata").put("total_size", total);
    idx.set("weight_map", weightMap);
    Files.writeString(dir.resolve("model.safetensors.index.json"),
        JSON.writerWithDefaultPrettyPrinter().writeValueAsString(idx));
    for (String other : List.of("config.json", "tokenizer.json")) {
      Files.copy(model.resolve(other), dir.resolve(other));
    }
    Files.createFile(done);
    return dir;
  }

  private long flippedCopy(Path src, Path dst, String prefix, ObjectNode weightMap, String shardName)
      throws IOException {
    try (FileChannel in = FileChannel.open(src, StandardOpenOption.READ);
        FileChannel out = FileChannel.open(dst, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      in.read(len, 0);
      long n = len.flip().getLong();
      ByteBuffer hb = ByteBuffer.allocate((int) n);
      in.read(hb, 8);
      ObjectNode header = (ObjectNode) JSON.readTree(new String(hb.array(), StandardCharsets.UTF_8).trim());
      ObjectNode renamed = JSON.createObjectNode();
      long data = 0;
      for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (e.getKey().equals("__metadata__")) {
          renamed.set(e.getKey(), e.getValue());
        } else {
          renamed.set(prefix + e.getKey(), e.getValue());
          weightMap.put(prefix + e.getKey(), shardName);
          JsonNode off = e.getValue().get("data_offsets");
          data += off.get(1).asLong() - off.get(0).asLong();
        }
      }
      byte[] json = JSON.writeValueAsBytes(renamed);
      int pad = (8 - json.length % 8) % 8;
      ByteBuffer prefixBuf = ByteBuffer.allocate(8 + json.length + pad).order(ByteOrder.LITTLE_ENDIAN);
      prefixBuf.putLong(json.length + pad).put(json);
      while (prefixBuf.hasRemaining()) {
        prefixBuf.put((byte) ' ');
      }
      prefixBuf.flip();
      while (prefixBuf.hasRemaining()) {
        out.write(prefixBuf);
      }
      ByteBuffer buf = ByteBuffer.allocateDirect(16 << 20).order(ByteOrder.LITTLE_ENDIAN);
      long at = 8 + n;
      long end = in.size();
      while (at < end) {
        buf.clear().limit((int) Math.min(buf.capacity(), end - at));
        int r = in.read(buf, at);
        at += r;
        buf.flip();
        for (int i = 0; i + 8 <= buf.limit(); i += 8) {
          buf.putLong(i, buf.getLong(i) ^ 0x8000_8000_8000_8000L);
        }
        while (buf.hasRemaining()) {
          out.write(buf);
        }
      }
      return data;
    }
  }

  // ------------------------------------------------------------------ 6. many versions

  /**
   * The store of {@code versions} versions of one tiny model {@code tiny} (tagged {@code prod} at its head) under
   * {@code work}, made once and reused by later runs and sections ("versions", "web").
   *
   * @return seconds the pushes took, or -1 when the store was reused
   */
  static double ensureVersionsStore(Path work, int versions, java.util.function.Consumer<String> say)
      throws IOException {
    Path store = work.resolve("store-versions-" + versions);
    Path done = store.resolve(".bench-complete");
    if (Files.exists(done)) {
      return -1;
    }
    deleteTree(store);
    Path src = work.resolve("tiny.safetensors");
    long t = System.nanoTime();
    try (Repository repo = Ferry.open(store.toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      for (int i = 0; i < versions; i++) {
        ModelGenerator.writeSafetensors(src, List.of(new ModelGenerator.Tensor("w", DType.F32, new long[] {16},
            i)), Map.of());
        repo.push(src, "tiny", PushOptions.builder().message("v" + i).codec(CodecPolicy.NONE).build());
        if ((i + 1) % 1000 == 0) {
          say.accept("  pushed " + (i + 1) + " versions, " + Math.round(secsSince(t)) + " s");
        }
      }
      repo.tag("tiny", "prod", null);
    }
    double pushS = secsSince(t);
    Files.createFile(done);
    return pushS;
  }

  private void versions() throws IOException {
    say("6. " + versions + " versions: log, ls, resolve");
    Path store = work.resolve("store-versions-" + versions);
    double pushS = ensureVersionsStore(work, versions, this::say);
    Path headLog = store.resolve("refs/tiny/head.log");
    double ref = Double.MAX_VALUE;
    double log20 = Double.MAX_VALUE;
    double ls = Double.MAX_VALUE;
    double resolve = Double.MAX_VALUE;
    double logCold = Double.MAX_VALUE;
    int n = Math.max(runs, 5);
    // warm up the JIT and class loading on one repository, then measure on fresh ones (empty caches)
    try (Repository repo = Ferry.open(store.toString())) {
      for (int i = 0; i < 20; i++) {
        repo.log("tiny", 20);
        repo.models();
        repo.resolve("tiny:prod");
      }
    }
    for (int i = 0; i < n; i++) {
      long t = System.nanoTime();
      try (FileChannel ch = FileChannel.open(headLog, StandardOpenOption.READ)) {
        long sz = ch.size();
        ByteBuffer tail = ByteBuffer.allocate((int) Math.min(4096, sz));
        ch.read(tail, sz - tail.capacity());
      }
      ref = Math.min(ref, secsSince(t));
      try (Repository repo = Ferry.open(store.toString())) {
        t = System.nanoTime();
        int got = repo.log("tiny", 20).size();
        logCold = Math.min(logCold, secsSince(t));
        if (got != Math.min(20, versions)) {
          throw new IllegalStateException("log returned " + got + " versions");
        }
      }
      try (Repository repo = Ferry.open(store.toString())) {
        t = System.nanoTime();
        repo.models();
        ls = Math.min(ls, secsSince(t));
      }
      try (Repository repo = Ferry.open(store.toString())) {
        t = System.nanoTime();
        repo.resolve("tiny:prod");
        resolve = Math.min(resolve, secsSince(t));
        t = System.nanoTime();
        repo.log("tiny:prod", 20);
        log20 = Math.min(log20, secsSince(t));
      }
    }
    String what = versions + " versions of one model, in-process, fresh Repository each time (warm JIT)";
    add(what, new Figure("read the tail of one ref file", ref, "`log(\"tiny\", 20)`", logCold, false, Double.NaN,
        "absolute target < 100 ms: " + (logCold < 0.1 ? "pass" : "**FAIL**")));
    add(what, new Figure("read the tail of one ref file", ref, "`models()` (ls)", ls, false, Double.NaN,
        "absolute target < 100 ms: " + (ls < 0.1 ? "pass" : "**FAIL**")));
    add(what, new Figure("read the tail of one ref file", ref, "`resolve(\"tiny:prod\")`", resolve, false,
        Double.NaN, "absolute target < 100 ms: " + (resolve < 0.1 ? "pass" : "**FAIL**")));
    add(what, new Figure("read the tail of one ref file", ref, "`log(\"tiny:prod\", 20)` after resolve", log20,
        false, Double.NaN, "absolute target < 100 ms: " + (log20 < 0.1 ? "pass" : "**FAIL**")));
    if (pushS > 0) {
      notes.computeIfAbsent(what, k -> new ArrayList<>()).add(String.format(Locale.ROOT,
          "Making the %d versions through `Repository.push` took %.1f s (%.1f ms a push).", versions, pushS,
          pushS * 1000 / versions));
    } else {
      notes.computeIfAbsent(what, k -> new ArrayList<>()).add("The versioned store was reused from an earlier run.");
    }
  }

  // ------------------------------------------------------------------ 7. start-up

  private void startup() throws IOException {
    say("7. JVM start-up");
    Path store = work.resolve("store-user");
    double jv = Double.MAX_VALUE;
    double launcher = Double.MAX_VALUE;
    double ls = Double.MAX_VALUE;
    long rss = 0;
    long lsRss = 0;
    int n = Math.max(10, runs);
    for (int i = 0; i < n; i++) {
      jv = Math.min(jv, proc.run(List.of(javaBin, "-XX:+UseSerialGC", "-version"), Map.of(), null).wallS());
      Proc.Run l = proc.run(List.of(ferry, "--version"), Map.of(), null);
      launcher = Math.min(launcher, l.wallS());
      rss = Math.max(rss, l.maxRssKb());
      if (Files.isDirectory(store)) {
        Proc.Run r = proc.run(List.of(ferry, "ls", "--store", store.toString()), Map.of(), null);
        ls = Math.min(ls, r.wallS());
        lsRss = Math.max(lsRss, r.maxRssKb());
      }
    }
    String what = "JVM start-up, best of " + n + " (goal: 0.15 s)";
    add(what, new Figure("`java -version`", jv, "`./ferry --version` (launcher, class-data archive)", launcher, false,
        Double.NaN, String.format(Locale.ROOT, "%.3f s; costs %.0f ms more than a bare JVM; peak RSS %s", launcher,
            (launcher - jv) * 1000, mb(rss))));
    if (ls < Double.MAX_VALUE) {
      add(what, new Figure("`java -version`", jv, "`./ferry ls` of a local store", ls, false, Double.NaN,
          String.format(Locale.ROOT, "%.3f s; peak RSS %s", ls, mb(lsRss))));
    }
  }

  // ------------------------------------------------------------------ helpers

  private Path ensureModel(Path dir, long bytes, long seed) throws IOException {
    Path done = dir.resolve(".complete");
    if (Files.exists(done)) {
      say("reusing " + dir);
      return dir;
    }
    say("generating a " + human(bytes) + " BF16 model in " + dir);
    clean(dir);
    long shard = Math.max(64L << 20, Math.min(GIB, bytes / 2));
    ModelGenerator.writeHfModel(dir, ModelGenerator.transformer(bytes, DType.BF16, seed), shard);
    Files.createFile(done);
    return dir;
  }

  private Path ensurePushed(Path store, Path model, String name, CodecPolicy codec) throws IOException {
    Path done = store.resolve(".bench-complete");
    if (Files.exists(done)) {
      return store;
    }
    say("pushing " + model + " into " + store + " (codec " + codec + ")");
    clean(store);
    try (Repository repo = Ferry.open(store.toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(model, name, PushOptions.builder().message("bench").codec(codec).build());
    }
    Files.createFile(done);
    return store;
  }

  private void init(Path store) throws IOException {
    try (Repository repo = Ferry.open(store.toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.uri();
    }
  }

  private static List<Path> shards(Path model) throws IOException {
    try (Stream<Path> s = Files.list(model)) {
      return s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
    }
  }

  private static String firstShard(Path model) throws IOException {
    return shards(model).get(0).getFileName().toString();
  }

  private void clean(Path dir) throws IOException {
    if (Files.exists(dir)) {
      proc.quiet("rm", "-rf", dir.toString());
    }
  }

  /** Deletes a directory tree (a half-made store of an interrupted run), as Ferry deletes the trees it made. */
  static void deleteTree(Path dir) throws IOException {
    io.ferry.scan.LocalTrees.delete(dir);
  }

  static long dirBytes(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).mapToLong(p -> {
        try {
          return Files.size(p);
        } catch (IOException e) {
          return 0;
        }
      }).sum();
    }
  }

  private static double secsSince(long t) {
    return (System.nanoTime() - t) / 1e9;
  }

  private void add(String section, Figure f) {
    figures.computeIfAbsent(section, k -> new ArrayList<>()).add(f);
    say("  " + section + ": " + f.ferry() + " / " + f.baseline() + " = " + Figure.fmt(f.ratio()) + " "
        + f.verdict());
  }

  static String human(long b) {
    if (b >= GIB) {
      return String.format(Locale.ROOT, "%.2f GiB", b / (double) GIB);
    }
    return (b >> 20) + " MiB";
  }

  private static String mb(long kb) {
    return kb < 0 ? "?" : (kb >> 10) + " MiB";
  }

  private static String gbps(long bytes, double s) {
    return String.format(Locale.ROOT, "%.2f GB/s", bytes / s / 1e9);
  }

  private static String cpu(Proc.Run r) {
    if (r == null || r.userS() < 0) {
      return "?";
    }
    return String.format(Locale.ROOT, "user %.2f s + sys %.2f s over %.2f s wall (%.0f%% of one core)", r.userS(),
        r.sysS(), r.wallS(), 100 * r.cpuS() / r.wallS());
  }

  // ------------------------------------------------------------------ report

  /** @param lead kept sections that go right after the reproduce line (the goals' summary) */
  private String report(double totalS, String lead) throws IOException {
    StringBuilder b = new StringBuilder();
    b.append("# Ferry benchmarks\n\n");
    b.append("Generated by `io.ferry.bench.Benchmarks` (ferry-bench) on ")
        .append(LocalDateTime.now().format(DateTimeFormatter.ISO_LOCAL_DATE_TIME).substring(0, 16))
        .append(". Every figure is a ratio against a baseline measured in the same run, interleaved with it, best of ")
        .append(runs).append(" (start-up: best of 10). Page cache warm unless said otherwise")
        .append(quick ? ". **Quick mode: small sizes, a smoke test only.**" : ".").append("\n\n");
    b.append("Reproduce (from the repository root; ~15 minutes, ~20 GB of disk under `bench-work/`):\n\n```\n")
        .append("bench/run.sh ").append(commandLine).append("\n```\n\n");
    b.append(lead);
    b.append("## Machine\n\n");
    b.append("- cores: ").append(Runtime.getRuntime().availableProcessors()).append(" (")
        .append(cpuModel()).append(")\n");
    b.append("- RAM: ").append(memTotal()).append("\n");
    b.append("- JDK: ").append(System.getProperty("java.vm.name")).append(' ')
        .append(System.getProperty("java.runtime.version")).append("\n");
    b.append("- OS: ").append(System.getProperty("os.name")).append(' ').append(System.getProperty("os.version"))
        .append("\n");
    b.append("- disk (work dir): `").append(Proc.capture("bash", "-c", "df -hT '" + work + "' | tail -1"))
        .append("`\n");
    b.append("- load when the run started and ended: `").append(Proc.capture("cat", "/proc/loadavg"))
        .append("` (other builds share this machine, so absolute times are noisy; the ratios are interleaved)\n\n");
    Figure.appendSections(b, "##", figures, notes);
    b.append(Why.text(root));
    b.append("\nWhole run: ").append(Math.round(totalS)).append(" s.\n");
    return b.toString();
  }

  private static String cpuModel() {
    try {
      for (String l : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
        if (l.startsWith("model name")) {
          return l.substring(l.indexOf(':') + 1).trim();
        }
      }
    } catch (IOException ignored) {
      // not Linux
    }
    return "?";
  }

  private static String memTotal() {
    try {
      for (String l : Files.readAllLines(Path.of("/proc/meminfo"))) {
        if (l.startsWith("MemTotal")) {
          return (kb(l) >> 20) + " GiB";
        }
      }
    } catch (IOException ignored) {
      // not Linux
    }
    return "?";
  }

  /**
   * The sections other benchmark programs, or people, wrote into the report (between {@code <!-- name:start -->} and
   * {@code <!-- name:end -->} markers), kept so that rerunning this program does not erase their figures. The
   * {@value #LEAD} section (the summary of where each goal stands) is the lead one: with {@code lead} only it, without
   * every other one.
   */
  static String keptSections(String old, boolean lead) {
    StringBuilder kept = new StringBuilder();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile(
        "<!-- (\\w+):start -->.*?<!-- \\1:end -->", java.util.regex.Pattern.DOTALL).matcher(old);
    while (m.find()) {
      if (m.group(1).equals(LEAD) == lead) {
        kept.append(lead ? "" : "\n").append(m.group()).append("\n");
      }
    }
    return lead && kept.length() > 0 ? kept.append("\n").toString() : kept.toString();
  }

}
