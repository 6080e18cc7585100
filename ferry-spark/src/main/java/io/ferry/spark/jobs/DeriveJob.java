package io.ferry.spark.jobs;

import io.ferry.chunk.ChunkPlanner;
import io.ferry.codec.CodecPolicy;
import io.ferry.derive.DeriveResult;
import io.ferry.derive.DeriveSpec;
import io.ferry.derive.Deriver;
import io.ferry.derive.ErrorMetrics;
import io.ferry.id.ChunkId;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.VersionRef;
import io.ferry.spark.store.StoreCache;
import io.ferry.spark.store.StoreSpec;
import io.ferry.transfer.Pusher;
import io.ferry.transfer.TransferListener;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Stream;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * {@code derive} (cast, quantize, prune, dequantize) on a Spark cluster, with core's {@link Deriver} on both sides:
 *
 * <ol>
 *   <li>the driver plans the whole derivation ({@link Deriver#tensorFiles}: bad input fails here, before any task);
 *   <li>each task takes one tensor file, writes its derived version into a scratch directory of its executor ({@link
 *       Deriver#writeTensorFiles}), stores its chunks in the store with core's pusher (content-addressed: a retried
 *       task stores the same objects again, harmlessly), and returns the file's entry (as a snapshot object in the
 *       store) and the error metrics of its tensors;
 *   <li>the driver writes the other files and the report from every task's metrics, and publishes one version with
 *       the tasks' files ({@link Deriver#publish}): the same snapshot, derivation record and report as a local {@code
 *       ferry derive}, published once, by compare-and-swap of the ref.
 * </ol>
 *
 * <p>Nothing is visible before the last step: a killed task or job leaves only unreferenced chunks, which gc removes
 * after its grace period.
 */
public final class DeriveJob {
  private final SparkSession spark;
  private final StoreSpec store;

  public DeriveJob(SparkSession spark, StoreSpec store) {
    this.spark = Objects.requireNonNull(spark, "spark");
    this.store = Objects.requireNonNull(store, "store");
  }

  /**
   * What was derived.
   *
   * @param derive what core reports, as for a local derive
   * @param tasks Spark tasks (one per tensor file)
   */
  public record Result(DeriveResult derive, int tasks) {}

  /** The error metrics of a tensor, as a task returns them. */
  record Metrics(long elements, double maxAbs, ErrorMetrics.Sum sumSqErr, ErrorMetrics.Sum sumSqA,
      ErrorMetrics.Sum sumSqB, ErrorMetrics.Sum dot, long zeros, long nonFinite, long overflow, long uncompared,
      boolean unchanged) implements Serializable {
    static Metrics of(ErrorMetrics m) {
      return new Metrics(m.elements(), m.maxAbs(), m.sumSqErr(), m.sumSqA(), m.sumSqB(), m.dot(), m.zeros(),
          m.nonFinite(), m.overflow(), m.uncompared(), m.unchanged());
    }

    ErrorMetrics metrics() {
      return new ErrorMetrics(elements, maxAbs, sumSqErr, sumSqA, sumSqB, dot, zeros, nonFinite, overflow,
          uncompared, unchanged);
    }
  }

  /** What one task stored: a snapshot object holding its file's entry, its packs, and its tensors' metrics. */
  record Done(String snapshot, List<String> packs, Map<String, Metrics> metrics) implements Serializable {}

  /**
   * Derives {@code target} ({@code model} or {@code model:tag}) from {@code sourceRef}.
   *
   * @param message the version message; null for one that describes the derivation
   */
  public Result run(String sourceRef, String target, DeriveArgs args, String message) throws IOException {
    // before any task stores a chunk, as a local derive refuses it before it writes
    Deriver.checkTarget(target);
    Repository repo = StoreCache.repository(store);
    // a name that differs only in case from one in the store: refused by the publish's push, after the tasks stored
    repo.checkPushTarget(target);
    DeriveSpec spec = args.spec();
    VersionRef src = repo.resolve(sourceRef);
    String exact = src.version().model() + "@" + src.id().hex();
    Deriver deriver = Deriver.of(repo);
    List<String> files = deriver.tensorFiles(exact, spec);
    StoreSpec where = store;
    List<Done> done = files.isEmpty() ? List.of()
        : JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(files, files.size())
            .map(file -> deriveFile(where, exact, args, file)).collect();
    Map<String, ErrorMetrics> metrics = new HashMap<>();
    List<FileEntry> stored = new ArrayList<>();
    Set<ChunkId> packs = new TreeSet<>();
    for (Done d : done) {
      d.metrics().forEach((k, v) -> metrics.put(k, v.metrics()));
      stored.addAll(repo.objects().snapshot(ChunkId.parse(d.snapshot())).files());
      d.packs().forEach(p -> packs.add(ChunkId.parse(p)));
    }
    // the version the tasks derived, even if sourceRef's tag has moved since
    DeriveResult r = deriver.publish(src, sourceRef, target, spec, message, TransferListener.NONE, metrics, stored,
        new ArrayList<>(packs));
    return new Result(r, files.size());
  }

  /**
   * The threads a task runs: the cores Spark gave it ({@code spark.task.cpus}), not the machine's, which the other
   * tasks of its executor share; every core outside a task.
   */
  static int taskThreads() {
    TaskContext task = TaskContext.get();
    return task == null ? Runtime.getRuntime().availableProcessors() : Math.max(1, task.cpus());
  }

  /** Runs on an executor: derives one tensor file and stores it. */
  private static Done deriveFile(StoreSpec where, String exact, DeriveArgs args, String file) throws IOException {
    Repository repo = StoreCache.repository(where);
    int threads = taskThreads();
    Path dir = Files.createTempDirectory("ferry-spark-derive-");
    ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
      Thread t = new Thread(r, "ferry-spark-derive");
      t.setDaemon(true);
      return t;
    });
    try {
      Map<String, ErrorMetrics> m = new Deriver(repo, threads, dir.getParent())
          .writeTensorFiles(exact, args.spec(), dir, Set.of(file));
      // objects of a failed task stay for gc: another task or push may already use them
      Pusher pusher = new Pusher(repo.objects(), ChunkPlanner.standard(), pool, CodecPolicy.AUTO,
          TransferListener.NONE, (created, cause) -> { });
      Pusher.Staged staged = pusher.store(pusher.prepare(dir), repo.objects().locator(List.of()));
      Snapshot s = staged.snapshot();
      if (s.files().size() != 1 || !s.files().get(0).path().equals(file)) {
        throw new IllegalStateException("derive of " + exact + ": task for '" + file + "' stored " + s.files());
      }
      Map<String, Metrics> out = new HashMap<>();
      m.forEach((k, v) -> out.put(k, Metrics.of(v)));
      return new Done(staged.snapshotId().hex(), staged.packs().stream().map(ChunkId::hex).toList(), out);
    } finally {
      pool.shutdownNow();
      try (Stream<Path> walk = Files.walk(dir)) {
        for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(p);
        }
      }
    }
  }
}
