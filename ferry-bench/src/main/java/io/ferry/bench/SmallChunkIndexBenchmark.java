package io.ferry.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.Ferry;
import io.ferry.dedup.SmallChunkIndex;
import io.ferry.format.DType;
import io.ferry.id.ChunkId;
import io.ferry.pack.PackIndex;
import io.ferry.pack.PackWriter;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.PushResult;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Section "smallidx": what the store-wide small-chunk index costs a push (docs/small-chunk-index.md). The index of a
 * store with {@code versions} versions and {@code smallChunks} small chunks is built synthetically but through the
 * real code path (each "version" adds the index of a pack of its chunks as a push does, and merges when a push would),
 * then a 300-tensor model of small tensors is pushed under a new name, against the same push into an empty store in
 * the same run; the lookup itself (loading the index and looking up the model's chunks, cold, one task per chunk on
 * the repository's workers as a push's chunk tasks do) is timed apart.
 */
final class SmallChunkIndexBenchmark {
  private static final int TENSORS = 300;
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path work;
  private final int versions;
  private final int smallChunks;
  private final int runs;
  private final Consumer<String> say;
  private final BiConsumer<String, Figure> add;
  private final BiConsumer<String, String> note;
  private final Proc proc;
  private final String ferry;

  SmallChunkIndexBenchmark(Path work, int versions, int smallChunks, int runs, Proc proc, String ferry,
      Consumer<String> say, BiConsumer<String, Figure> add, BiConsumer<String, String> note) {
    this.work = work;
    this.proc = proc;
    this.ferry = ferry;
    this.versions = versions;
    this.smallChunks = smallChunks;
    this.runs = Math.max(runs, 5);
    this.say = say;
    this.add = add;
    this.note = note;
  }

  void run() throws IOException {
    say.accept("8. small-chunk index: " + versions + " versions, " + smallChunks + " small chunks");
    Path store = work.resolve("store-smallidx-" + versions + "-" + smallChunks);
    double buildS = ensureIndex(store);
    Path scratch = work.resolve("scratch").resolve("smallidx");
    clean(scratch);
    Files.createDirectories(scratch);
    Path hitModel = model(scratch.resolve("hit"), 1);
    int earlier;
    try (Repository repo = open(store)) {
      if (repo.models().isEmpty()) {
        repo.push(hitModel, "in-the-index", PushOptions.builder().message("its chunks are in the index").build());
      }
      earlier = repo.models().size(); // models that earlier runs pushed: fresh models must differ from theirs
    }
    cli(store, scratch, hitModel, earlier);
    double empty = Double.MAX_VALUE;
    double indexed = Double.MAX_VALUE;
    double lookupMiss = Double.MAX_VALUE;
    double lookupHit = Double.MAX_VALUE;
    double firstMiss = Double.NaN; // the first round: this JVM has pushed once, the lookup's own code is not compiled
    double firstHit = Double.NaN;
    long hits = 0;
    long entries = 0;
    int tables = 0;
    for (int i = 0; i < runs; i++) {
      Path fresh = model(scratch.resolve("fresh-" + i), 1000 + earlier + i);
      Path emptyStore = scratch.resolve("empty-" + i);
      try (Repository repo = open(emptyStore)) {
        long t = System.nanoTime();
        repo.push(fresh, "m", PushOptions.builder().message("baseline").build());
        empty = Math.min(empty, secsSince(t));
      }
      // cold: a new repository (no cached base, no cached pack index), as each CLI push is
      List<Chunk> freshChunks = smallChunks(fresh);
      try (Repository repo = open(store)) {
        long t = System.nanoTime();
        SmallChunkIndex.View view = repo.smallChunks().load();
        long found = lookUp(repo, view, freshChunks);
        double took = secsSince(t);
        lookupMiss = Math.min(lookupMiss, took);
        firstMiss = i == 0 ? took : firstMiss;
        entries = view.entries();
        tables = view.tables();
        if (found > 1) { // the safetensors header (names, dtypes, shapes) is the indexed model's: one hit
          throw new IllegalStateException("the fresh model found " + found + " of its chunks in the index");
        }
      }
      List<Chunk> hitChunks = smallChunks(hitModel);
      try (Repository repo = open(store)) {
        long t = System.nanoTime();
        SmallChunkIndex.View view = repo.smallChunks().load();
        hits = lookUp(repo, view, hitChunks);
        double took = secsSince(t);
        lookupHit = Math.min(lookupHit, took);
        firstHit = i == 0 ? took : firstHit;
      }
      try (Repository repo = open(store)) {
        long t = System.nanoTime();
        PushResult r = repo.push(fresh, "fresh-" + (earlier + i),
            PushOptions.builder().message("a new model into the indexed store").build());
        indexed = Math.min(indexed, secsSince(t));
        if (r.newChunks() < TENSORS) {
          throw new IllegalStateException("the fresh model found " + (TENSORS + 1 - r.newChunks())
              + " of its chunks in the index");
        }
      }
      say.accept(String.format(Locale.ROOT, "  round %d: push into empty %.1f ms, into indexed %.1f ms, lookup"
          + " (miss) %.1f ms, lookup (hit) %.1f ms", i + 1, empty * 1e3, indexed * 1e3, lookupMiss * 1e3,
          lookupHit * 1e3));
    }
    if (hits != TENSORS + 1) {
      throw new IllegalStateException("the indexed model's lookups found " + hits + " of " + (TENSORS + 1));
    }
    long baseBytes = baseBytes(store);
    long deltaBytes = dirBytes(store.resolve("records").resolve("dedup").resolve("deltas"));
    String what = String.format(Locale.ROOT, "store-wide small-chunk index: %,d versions, %,d small chunks;"
        + " push of a %d-tensor model (16 KiB tensors), in-process, best of %d", versions, smallChunks, TENSORS, runs);
    String onWorkers = ", one task per chunk on the push's workers";
    add.accept(what, new Figure("push into an empty store", empty, "index lookup, cold: load + " + (TENSORS + 1)
        + " lookups (" + TENSORS + " misses, 1 hit: the header)" + onWorkers, lookupMiss, false, Double.NaN,
        "absolute target < 50 ms: " + (lookupMiss < 0.05 ? "pass" : "**FAIL**") + first(firstMiss)));
    add.accept(what, new Figure("push into an empty store", empty, "index lookup, cold: load + " + (TENSORS + 1)
        + " hits (each checked against its pack's index, its frame decoded and compared with the pushed bytes)"
        + onWorkers, lookupHit, false, Double.NaN,
        "absolute target < 50 ms: " + (lookupHit < 0.05 ? "pass" : "**FAIL**") + first(firstHit)));
    add.accept(what, new Figure("push into an empty store", empty, "the same push into the indexed store", indexed,
        false, Double.NaN, "includes writing the push's delta (and a merge, one push in "
        + SmallChunkIndex.DEFAULT_MERGE_THRESHOLD + ")"));
    note.accept(what, String.format(Locale.ROOT, "Index on disk: base %s (%d entries read in %d tables by a push,"
        + " %.1f bytes an entry), unmerged deltas %s. %s", human(baseBytes), entries, tables,
        entries == 0 ? 0.0 : (double) baseBytes / entries, human(deltaBytes), buildS < 0
        ? "The indexed store was reused from an earlier run."
        : String.format(Locale.ROOT, "Building it (%d deltas through `SmallChunkIndex.add`, merged every %d as"
            + " pushes do) took %.1f s.", versions, SmallChunkIndex.DEFAULT_MERGE_THRESHOLD, buildS)));
  }

  /**
   * The path users run first: fresh {@code ferry push} processes with default options, each against the same push
   * into a twin of the indexed store without its index (the same objects, hard-linked; no {@code dedup/} records, as
   * before the index existed), interleaved. A new 300-tensor model: every small chunk a miss in the index (it is
   * loaded and searched, and the push's delta written), stored in both. The indexed model under a new name: every
   * chunk a hit (checked against its pack's index, its frame decoded and compared), nothing stored; the twin stores
   * all of it again.
   */
  private void cli(Path store, Path scratch, Path hitModel, int earlier) throws IOException {
    Path twin = unindexedTwin(store);
    double missBase = Double.MAX_VALUE;
    double miss = Double.MAX_VALUE;
    double hitBase = Double.MAX_VALUE;
    double hit = Double.MAX_VALUE;
    for (int i = 0; i < runs; i++) {
      Path fresh = model(scratch.resolve("cli-fresh-" + i), 2_000_000 + earlier + i);
      String name = "cli-fresh-" + (earlier + i);
      proc.quiet("sync");
      clean(twin.resolve("records").resolve("dedup")); // the twin's own pushes must not build it an index
      double mb = push(twin, fresh, name, TENSORS + 1);
      double m = push(store, fresh, name, TENSORS); // the header chunk (names, shapes) is the indexed model's: a hit
      clean(twin.resolve("records").resolve("dedup"));
      double hb = push(twin, hitModel, "cli-hit-" + (earlier + i), TENSORS + 1);
      double h = push(store, hitModel, "cli-hit-" + (earlier + i), 0);
      say.accept(String.format(Locale.ROOT, "  cli round %d: new model %.0f ms without the index, %.0f ms with it"
          + " (misses); indexed model under a new name %.0f ms without, %.0f ms with (hits)", i + 1, mb * 1e3,
          m * 1e3, hb * 1e3, h * 1e3));
      missBase = Math.min(missBase, mb);
      miss = Math.min(miss, m);
      hitBase = Math.min(hitBase, hb);
      hit = Math.min(hit, h);
    }
    String what = "store-wide small-chunk index: " + String.format(Locale.ROOT, "%,d", versions) + " versions, "
        + String.format(Locale.ROOT, "%,d", smallChunks) + " small chunks; a fresh `ferry push` process of a"
        + " 300-tensor model (16 KiB tensors), default options, best of " + runs + ", interleaved";
    add.accept(what, new Figure("`ferry push` of a new model, the store without its index", missBase, "the same push,"
        + " the store with its index (" + TENSORS + " misses)", miss, false, Double.NaN, String.format(Locale.ROOT,
        "the index costs the push %+.0f ms: target < 50 ms: %s", (miss - missBase) * 1e3,
        miss - missBase < 0.05 ? "pass" : "**FAIL**")));
    add.accept(what, new Figure("`ferry push` of the indexed model under a new name, the store without its index"
        + " (stores it all again)", hitBase, "the same push, the store with its index (" + (TENSORS + 1) + " hits)",
        hit, false, Double.NaN, String.format(Locale.ROOT, "%+.0f ms: each hit checked (its pack's index, its frame"
        + " decoded and compared with the pushed bytes) instead of encoded and written", (hit - hitBase) * 1e3)));
  }

  /**
   * A twin of the store without its small-chunk index, made once: objects hard-linked (they are immutable and named
   * by their content), refs and records copied, {@code records/dedup} left out.
   */
  private static Path unindexedTwin(Path store) throws IOException {
    Path twin = store.resolveSibling(store.getFileName() + "-unindexed");
    Path done = twin.resolve(".bench-complete");
    if (Files.exists(done)) {
      return twin;
    }
    clean(twin);
    Path dedup = store.resolve("records").resolve("dedup");
    try (Stream<Path> s = Files.walk(store)) {
      for (Path p : s.toList()) {
        if (p.startsWith(dedup) || p.getFileName().toString().equals(".bench-complete")) {
          continue;
        }
        Path to = twin.resolve(store.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(to);
        } else if (p.startsWith(store.resolve("objects"))) {
          Files.createLink(to, p);
        } else {
          Files.copy(p, to);
        }
      }
    }
    Files.createFile(done);
    return twin;
  }

  /** One fresh {@code ferry push}, checked to have stored the expected number of new chunks; its wall time. */
  private double push(Path store, Path model, String name, int newChunks) throws IOException {
    java.io.File out = scratch().resolve("push.json").toFile();
    Proc.Run r = proc.run(List.of(ferry, "push", "--store", store.toString(), model.toString(), name, "--json"),
        Map.of(), out);
    long stored = JSON.readTree(out).path("pushedChunkCount").asLong(-1);
    if (stored != newChunks) {
      throw new IllegalStateException("ferry push " + name + " stored " + stored + " new chunks, expected "
          + newChunks);
    }
    return r.wallS();
  }

  private Path scratch() {
    return work.resolve("scratch");
  }

  /**
   * Looks the chunks up as a push does: one task per chunk on the repository's worker pool (the pool a push's chunk
   * tasks run on, of the same parallelism), each calling the view's {@code locate}; returns how many were found.
   */
  private static long lookUp(Repository repo, SmallChunkIndex.View view, List<Chunk> chunks) throws IOException {
    List<CompletableFuture<Boolean>> tasks = new ArrayList<>();
    for (Chunk c : chunks) {
      tasks.add(CompletableFuture.supplyAsync(() -> {
        try {
          return view.locate(c.id(), c.content()).isPresent();
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }, repo.workers()));
    }
    long found = 0;
    for (CompletableFuture<Boolean> task : tasks) {
      try {
        found += task.join() ? 1 : 0;
      } catch (CompletionException e) {
        if (e.getCause() instanceof UncheckedIOException io) {
          throw io.getCause();
        }
        throw e;
      }
    }
    return found;
  }

  /** Builds the index of {@code versions} synthetic pushes, each adding one pack of its small chunks. */
  private double ensureIndex(Path store) throws IOException {
    Path done = store.resolve(".bench-complete");
    if (Files.exists(done)) {
      return -1;
    }
    clean(store);
    long t = System.nanoTime();
    SplittableRandom r = new SplittableRandom(17);
    int perVersion = Math.max(1, smallChunks / versions);
    try (Repository repo = open(store)) {
      SmallChunkIndex idx = repo.smallChunks();
      for (int v = 0; v < versions; v++) {
        PackWriter w = new PackWriter();
        for (int c = 0; c < perVersion; c++) {
          ChunkId id = new ChunkId(r.nextLong(), r.nextLong(), r.nextLong(), r.nextLong());
          w.add(id, ByteBuffer.wrap(id.toBytes()));
        }
        PackIndex pack = w.finish().index();
        idx.add(List.of(pack));
        if (idx.mergeDue()) {
          idx.merge(p -> true, false);
        }
        if ((v + 1) % 1000 == 0) {
          say.accept("  indexed " + (v + 1) + " versions, " + Math.round(secsSince(t)) + " s");
        }
      }
    }
    Files.createFile(done);
    return secsSince(t);
  }

  private static Repository open(Path store) throws IOException {
    return Ferry.open(store.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
  }

  private static Path model(Path dir, long seed) throws IOException {
    List<ModelGenerator.Tensor> ts = new ArrayList<>();
    for (int i = 0; i < TENSORS; i++) {
      ts.add(new ModelGenerator.Tensor("layers." + i + ".weight", DType.F32, new long[] {64, 64}, seed * 10_000 + i));
    }
    Files.createDirectories(dir);
    ModelGenerator.writeSafetensors(dir.resolve("model.safetensors"), ts, Map.of());
    return dir;
  }

  private static String first(double s) {
    return String.format(Locale.ROOT, "; first round (lookup code not yet compiled by the JIT) %.1f ms: %s", s * 1e3,
        s < 0.05 ? "pass" : "**FAIL**");
  }

  /** A chunk as a push cuts it: its id and its bytes. */
  private record Chunk(ChunkId id, ByteBuffer content) {}

  /** The small chunks of a model, as a push cuts them. */
  private static List<Chunk> smallChunks(Path model) throws IOException {
    Path store = model.resolveSibling(model.getFileName() + "-ids");
    clean(store);
    try (Repository repo = open(store)) {
      PushResult r = repo.push(model, "ids", PushOptions.builder().message("ids").build());
      List<Chunk> out = new ArrayList<>();
      for (FileEntry f : repo.snapshot(repo.resolve("ids")).files()) {
        byte[] file = Files.readAllBytes(model.resolve(f.path()));
        int at = 0;
        for (ChunkRef c : f.chunks()) {
          if (c.length() < 256 * 1024) {
            out.add(new Chunk(c.id(), ByteBuffer.wrap(file, at, (int) c.length()).slice()));
          }
          at += (int) c.length();
        }
      }
      if (r.newChunks() != out.size()) {
        throw new IllegalStateException("expected " + out.size() + " small chunks, got " + r.newChunks());
      }
      return out;
    } finally {
      clean(store);
    }
  }

  /** Size of the current base: the biggest that a pointer names (the older pointer kept names a smaller one). */
  private static long baseBytes(Path store) throws IOException {
    try (Repository repo = open(store)) {
      long n = 0;
      for (ChunkId id : repo.smallChunks().baseObjects()) {
        n = Math.max(n, repo.backend().chunks().size(id));
      }
      return n;
    }
  }

  private static void clean(Path dir) throws IOException {
    if (Files.exists(dir)) {
      try (Stream<Path> s = Files.walk(dir)) {
        for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
  }

  private static long dirBytes(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return 0;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      long n = 0;
      for (Path p : s.filter(Files::isRegularFile).toList()) {
        n += Files.size(p);
      }
      return n;
    }
  }

  private static double secsSince(long t) {
    return (System.nanoTime() - t) / 1e9;
  }

  private static String human(long bytes) {
    return bytes >= 1 << 20 ? String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0)
        : String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
  }
}
