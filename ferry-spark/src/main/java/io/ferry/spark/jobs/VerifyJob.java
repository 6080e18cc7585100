package io.ferry.spark.jobs;

import io.ferry.error.FerryException;
import io.ferry.id.ChunkId;
import io.ferry.objects.ObjectDatabase;
import io.ferry.pack.PackIndex;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.VersionRef;
import io.ferry.spark.store.StoreCache;
import io.ferry.spark.store.StoreSpec;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * {@code verify} on a Spark cluster: every stored copy of every chunk of the given versions (or of every version
 * reachable from any ref) is checked completely on an executor, through core's {@link
 * io.ferry.read.ChunkReader#verify} (frame, length against the snapshot, CRC, decoding, SHA-256), chunk-parallel. The
 * driver reads the versions, snapshots and pack indexes (checked as they are read) and plans; executors open the
 * store themselves. Like {@code ferry verify}, a bad chunk is an error in the result, not an exception, and checking
 * goes on past it.
 */
public final class VerifyJob {
  /** At most this many errors are kept in the result; every chunk is still checked. */
  public static final int MAX_ERRORS = 100;

  private final SparkSession spark;
  private final StoreSpec store;
  private final long taskBytes;

  /**
   * @param taskBytes raw bytes of chunks per Spark task (a bigger chunk is a task of its own)
   */
  public VerifyJob(SparkSession spark, StoreSpec store, long taskBytes) {
    this.spark = Objects.requireNonNull(spark, "spark");
    this.store = Objects.requireNonNull(store, "store");
    if (taskBytes < 1) {
      throw new IllegalArgumentException("taskBytes must be positive, got " + taskBytes);
    }
    this.taskBytes = taskBytes;
  }

  /**
   * What was checked and found.
   *
   * @param versions versions whose chunks were checked
   * @param chunks stored copies checked
   * @param bytes raw bytes checked
   * @param tasks Spark tasks the checks ran in
   * @param errors at most {@link #MAX_ERRORS} errors, each naming the chunk, where it is used and the store
   * @param errorCount all errors found
   */
  public record Result(long versions, long chunks, long bytes, int tasks, List<String> errors, long errorCount)
      implements Serializable {
    public boolean ok() {
      return errorCount == 0;
    }
  }

  /** What one task checked. */
  private record Partial(long chunks, long bytes, List<String> errors, long errorCount) implements Serializable {}

  /**
   * Checks the versions {@code refs} name ({@code model}, {@code model:tag}, {@code model@id}), with their history;
   * with no refs, every version reachable from any ref of the store.
   */
  public Result run(List<String> refs) throws IOException {
    Repository repo = StoreCache.repository(store);
    List<ChunkId> starts = new ArrayList<>();
    if (refs.isEmpty()) {
      for (var m : repo.models()) {
        starts.addAll(repo.refsOf(m.model()).keySet());
      }
    } else {
      for (String r : refs) {
        starts.add(repo.resolve(r).id());
      }
    }
    // damaged versions, snapshots and pack indexes are errors of the report, as ferry verify reports them: checking
    // goes on with everything else
    List<String> found = new ArrayList<>();
    Map<ChunkId, Version> versions = history(repo, starts, found);
    List<ChunkTask> tasks = plan(repo.objects(), versions, found);
    List<List<ChunkTask>> groups = ChunkTask.groups(tasks, ChunkTask::weight, taskBytes);
    StoreSpec spec = store;
    List<Partial> parts = groups.isEmpty() ? List.of()
        : JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(groups, groups.size())
            .map(group -> check(spec, group)).collect();
    long chunks = 0;
    long bytes = 0;
    long errorCount = found.size();
    List<String> errors = new ArrayList<>();
    for (String e : found) {
      if (errors.size() < MAX_ERRORS) {
        errors.add(e + " in " + store.uri());
      }
    }
    for (Partial p : parts) {
      chunks += p.chunks();
      bytes += p.bytes();
      errorCount += p.errorCount();
      for (String e : p.errors()) {
        if (errors.size() < MAX_ERRORS) {
          errors.add(e);
        }
      }
    }
    return new Result(versions.size(), chunks, bytes, groups.size(), List.copyOf(errors), errorCount);
  }

  /** Every readable version reachable from {@code starts} through parents; an unreadable one is an error. */
  static Map<ChunkId, Version> history(Repository repo, List<ChunkId> starts, List<String> errors)
      throws IOException {
    Map<ChunkId, Version> out = new LinkedHashMap<>();
    Set<ChunkId> seen = new HashSet<>();
    Deque<ChunkId> todo = new ArrayDeque<>(starts);
    while (!todo.isEmpty()) {
      ChunkId id = todo.pop();
      if (seen.add(id)) {
        Version v;
        try {
          v = repo.objects().version(id);
        } catch (FerryException e) {
          errors.add("version " + id.shortHex(12) + ": " + e.getMessage());
          continue;
        }
        out.put(id, v);
        todo.addAll(v.parents());
      }
    }
    return out;
  }

  /** One task per stored copy: every entry of every pack the versions list, and every loose chunk, once. */
  private static List<ChunkTask> plan(ObjectDatabase db, Map<ChunkId, Version> versions, List<String> errors)
      throws IOException {
    Map<String, ChunkTask> tasks = new LinkedHashMap<>();
    Map<ChunkId, String> packWhere = new HashMap<>();
    for (Map.Entry<ChunkId, Version> e : versions.entrySet()) {
      Version v = e.getValue();
      String at = v.model() + "@" + e.getKey().shortHex(12);
      Snapshot s;
      try {
        s = db.snapshot(v.snapshot());
      } catch (FerryException ex) {
        errors.add("snapshot " + v.snapshot().shortHex(12) + " of " + at + ": " + ex.getMessage());
        s = null;
      }
      Map<ChunkId, PackIndex.Entry> packed = new HashMap<>();
      Map<ChunkId, PackIndex> indexes = new LinkedHashMap<>();
      for (ChunkId pack : v.packs()) {
        PackIndex index;
        try {
          index = db.packIndex(pack);
        } catch (FerryException ex) {
          errors.add("pack " + pack.hex() + " of " + at + ": " + ex.getMessage());
          continue;
        }
        indexes.put(pack, index);
        packWhere.putIfAbsent(pack, at);
        index.entries().forEach(packed::putIfAbsent);
      }
      Map<ChunkId, Long> lengths = new HashMap<>();
      Map<ChunkId, String> paths = new HashMap<>();
      for (FileEntry f : s == null ? List.<FileEntry>of() : s.files()) {
        for (ChunkRef c : f.chunks()) {
          lengths.putIfAbsent(c.id(), c.length());
          paths.putIfAbsent(c.id(), at + "//" + f.path());
          if (!packed.containsKey(c.id())) {
            tasks.putIfAbsent(c.id().hex(), ChunkTask.loose(c.id(), c.length(), at + "//" + f.path()));
          }
        }
      }
      for (PackIndex index : indexes.values()) {
        for (Map.Entry<ChunkId, PackIndex.Entry> pe : index.entries().entrySet()) {
          ChunkId c = pe.getKey();
          PackIndex.Entry at2 = pe.getValue();
          String key = c.hex() + "/" + index.pack().hex();
          tasks.putIfAbsent(key, new ChunkTask(c.hex(), index.pack().hex(), at2.offset(), at2.length(),
              lengths.getOrDefault(c, -1L), paths.getOrDefault(c, "pack " + index.pack().shortHex(12) + " of "
                  + at)));
        }
      }
    }
    return new ArrayList<>(tasks.values());
  }

  /** Runs on an executor: checks each copy, collecting errors. */
  private static Partial check(StoreSpec spec, List<ChunkTask> group) throws IOException {
    Repository repo = StoreCache.repository(spec);
    long chunks = 0;
    long bytes = 0;
    long errorCount = 0;
    List<String> errors = new ArrayList<>();
    for (ChunkTask t : group) {
      try {
        bytes += repo.objects().reader().verify(t.location(), t.rawLength() < 0 ? -1 : t.rawLength());
        chunks++;
      } catch (IOException | RuntimeException e) {
        errorCount++;
        if (errors.size() < MAX_ERRORS) {
          errors.add("chunk " + t.chunk() + (t.chunk().equals(t.object()) ? "" : " in pack " + t.object()) + " ("
              + t.where() + ") in " + spec.uri() + ": " + e.getMessage());
        }
      }
    }
    return new Partial(chunks, bytes, errors, errorCount);
  }
}
