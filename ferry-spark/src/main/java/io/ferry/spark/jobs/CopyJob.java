package io.ferry.spark.jobs;

import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.objects.ObjectDatabase;
import io.ferry.read.ChunkReader;
import io.ferry.repo.Repository;
import io.ferry.repo.Results;
import io.ferry.scan.LocalTrees;
import io.ferry.spark.store.StoreCache;
import io.ferry.spark.store.StoreSpec;
import io.ferry.transfer.TransferListener;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Version;
import java.io.IOException;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * {@code copy} of a version between stores on a Spark cluster (for example HDFS in one datacenter to S3): executors
 * copy the big chunks (every chunk stored as an object of its own, which is nearly all the bytes) that the target
 * lacks, straight from store to store, each frame checked on the way (its CRC, or its SHA-256 with {@code verify});
 * then the driver runs core's copy ({@link Repository#copyTo}), which finds those chunks present, sends the packs,
 * snapshots and versions, and moves the target's refs last, under its push lease. Until then nothing is visible in
 * the target: a task that fails and is retried only puts objects again (puts are idempotent), and a job that dies
 * leaves unreferenced chunks that the target's gc removes after its grace period. A job that fails removes the local
 * target store it created (as {@code ferry copy} does).
 */
public final class CopyJob {
  private final SparkSession spark;
  private final StoreSpec from;
  private final StoreSpec to;
  private final long taskBytes;

  /** @param taskBytes raw bytes of chunks per Spark task (a bigger chunk is a task of its own) */
  public CopyJob(SparkSession spark, StoreSpec from, StoreSpec to, long taskBytes) {
    this.spark = Objects.requireNonNull(spark, "spark");
    this.from = Objects.requireNonNull(from, "from");
    this.to = Objects.requireNonNull(to, "to");
    if (taskBytes < 1) {
      throw new IllegalArgumentException("taskBytes must be positive, got " + taskBytes);
    }
    this.taskBytes = taskBytes;
  }

  /**
   * What was copied.
   *
   * @param copy what core's copy on the driver did (versions sent, refs moved; its objects and bytes exclude the
   *     chunks executors sent)
   * @param chunksByExecutors chunks the executors put into the target
   * @param bytesByExecutors stored bytes of those chunks
   * @param tasks Spark tasks
   */
  public record Result(Results.CopyResult copy, long chunksByExecutors, long bytesByExecutors, int tasks)
      implements Serializable {}

  private record Sent(long chunks, long bytes) implements Serializable {}

  /** Copies the version {@code ref} names, with the history the target lacks, and moves the target's refs. */
  public Result run(String ref, boolean verify) throws IOException {
    Repository source = StoreCache.repository(from);
    // as ferry copy: a ref that names nothing fails here, before a missing target store is created for it
    source.resolve(ref);
    Path made = Ferry.absentLocalStore(to.uri());
    try {
      return copy(source, StoreCache.repository(to, true), ref, verify);
    } catch (Exception e) {
      // also Spark's checked exception for a failed task, thrown undeclared: rethrown as it is
      if (made != null) {
        discard(made, e);
      }
      throw e;
    }
  }

  /** Closes and removes the store a failed job created; a failure to remove it is added to the job's own error. */
  private void discard(Path store, Exception cause) {
    StoreCache.close(to);
    try {
      LocalTrees.delete(store);
    } catch (IOException | RuntimeException e) {
      cause.addSuppressed(new IOException("could not remove the store " + store + " that this copy created: " + e, e));
    }
  }

  private Result copy(Repository source, Repository target, String ref, boolean verify) throws IOException {
    // core's copy refuses a head on another history, and a model or tag name that differs only in case from one in
    // the target, before it sends anything; the executors send first, so the job makes the same checks before them
    ChunkId root = source.checkCopyTo(ref, target).id();
    Map<ChunkId, Long> loose = new LinkedHashMap<>();
    Set<ChunkId> seen = new HashSet<>();
    Deque<ChunkId> todo = new ArrayDeque<>(List.of(root));
    while (!todo.isEmpty()) {
      ChunkId id = todo.pop();
      if (!seen.add(id) || target.backend().chunks().contains(id)) {
        continue;
      }
      Version v = source.objects().version(id);
      for (FileEntry f : source.objects().snapshot(v.snapshot()).files()) {
        for (ChunkRef c : f.chunks()) {
          if (c.length() >= ObjectDatabase.PACK_THRESHOLD) {
            loose.putIfAbsent(c.id(), c.length());
          }
        }
      }
      todo.addAll(v.parents());
    }
    List<ChunkTask> tasks = new ArrayList<>();
    for (ChunkId id : target.backend().chunks().missing(new ArrayList<>(loose.keySet()))) {
      tasks.add(ChunkTask.loose(id, loose.get(id), ref));
    }
    List<List<ChunkTask>> groups = ChunkTask.groups(tasks, ChunkTask::weight, taskBytes);
    StoreSpec src = from;
    StoreSpec dst = to;
    List<Sent> sent = groups.isEmpty() ? List.of()
        : JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(groups, groups.size())
            .map(group -> send(src, dst, group, verify)).collect();
    // the version the executors sent, even if the ref's tag has moved since
    Results.CopyResult copy = source.copyTo(ref, root, target, verify, TransferListener.NONE);
    return new Result(copy, sent.stream().mapToLong(Sent::chunks).sum(), sent.stream().mapToLong(Sent::bytes).sum(),
        groups.size());
  }

  /** Runs on an executor: copies each chunk's frame as stored, after checking it. */
  private static Sent send(StoreSpec from, StoreSpec to, List<ChunkTask> group, boolean verify) throws IOException {
    Repository source = StoreCache.repository(from);
    Repository target = StoreCache.repository(to);
    ChunkReader.Check check = verify ? ChunkReader.Check.CONTENT : ChunkReader.Check.FRAME;
    long chunks = 0;
    long bytes = 0;
    for (ChunkTask t : group) {
      ByteBuffer frame = source.objects().reader().storedFrame(t.location(), t.rawLength(), check);
      long n = frame.remaining();
      if (target.backend().chunks().put(ChunkId.parse(t.chunk()), frame)) {
        chunks++;
        bytes += n;
      }
    }
    return new Sent(chunks, bytes);
  }
}
