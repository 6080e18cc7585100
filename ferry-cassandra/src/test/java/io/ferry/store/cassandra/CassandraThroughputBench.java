package io.ferry.store.cassandra;

import static org.assertj.core.api.Assertions.assertThat;

import com.datastax.oss.driver.api.core.CqlSession;
import com.datastax.oss.driver.api.core.DefaultConsistencyLevel;
import com.datastax.oss.driver.api.core.cql.AsyncResultSet;
import com.datastax.oss.driver.api.core.cql.PreparedStatement;
import com.datastax.oss.driver.api.core.cql.Row;
import com.datastax.oss.driver.api.core.cql.SimpleStatement;
import io.ferry.Ferry;
import io.ferry.codec.CodecPolicy;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.DirectoryState;
import io.ferry.testkit.ModelGenerator;
import io.ferry.transfer.PullOptions;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Not a test: a measurement, run only with {@code -Dferry.bench.cassandra=true} (size with {@code
 * -Dferry.bench.cassandra.mib=N}, default 64; rounds with {@code -Dferry.bench.cassandra.rounds=N}, default 3).
 * Ferry's push and pull of a model through {@code cassandra://} (codec none, so that both sides move the same bytes)
 * against the driver writing and reading the same bytes as 1 MiB blobs in the simplest parallel loop (one row per
 * MiB, as many requests in flight as the store allows, {@code max_requests} = 64), on the module's test node,
 * interleaved, best of the rounds; prints ratios.
 */
class CassandraThroughputBench {
  private static final int BLOB = 1 << 20;
  private static final int IN_FLIGHT = 64;
  /** Ferry's request timeout ({@code request_timeout_ms}), not the driver's 2 s. */
  private static final Duration TIMEOUT = Duration.ofSeconds(30);

  private static final int FERRY_PUSH = 0;
  private static final int FERRY_PULL = 1;
  private static final int DRIVER_WRITE = 2;
  private static final int DRIVER_READ = 3;
  private static final int DRIVER_COPY = 4;
  private static final int FERRY_OPEN = 5;

  @TempDir Path scratch;
  /** Best seconds of each timed step over the rounds. */
  private final double[] best = new double[6];
  /** This JVM's CPU seconds in the best round of each step (the node is another process): what the client spends. */
  private final double[] cpu = new double[6];

  @Test
  void pushAndPullAgainstTheDriversOwnLoop() throws Exception {
    Assumptions.assumeTrue(Boolean.getBoolean("ferry.bench.cassandra"), "a benchmark: -Dferry.bench.cassandra=true");
    long mib = Long.getLong("ferry.bench.cassandra.mib", 64);
    int rounds = Integer.getInteger("ferry.bench.cassandra.rounds", 3);
    LocalCassandra node = LocalCassandra.shared();
    Path src = scratch.resolve("model");
    Files.createDirectories(src);
    Path file = src.resolve("model.safetensors");
    ModelGenerator.writeSafetensors(file, ModelGenerator.transformer(mib << 20, DType.BF16, 1), Map.of());
    long bytes = Files.size(file);
    Arrays.fill(best, Double.MAX_VALUE);
    // the file writes of the driver's copy loop run here, off the driver's I/O threads, as many as a pull's workers
    ExecutorService fileWriters = Executors.newFixedThreadPool(RepositoryOptions.defaults().parallelism());
    try (CqlSession cql = CqlSession.builder().addContactPoint(new InetSocketAddress(node.address(),
        node.nativePort())).withLocalDatacenter("datacenter1").build()) {
      String ks = LocalCassandra.freshKeyspace("bench_raw");
      ddl(cql, "CREATE KEYSPACE " + ks + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
      for (int round = 0; round < rounds; round++) {
        // each side goes first in every other round: the node still flushes and compacts what the side before wrote
        if (round % 2 == 0) {
          ferryRound(node, src, round);
          driverRound(cql, ks, file, bytes, round, fileWriters);
        } else {
          driverRound(cql, ks, file, bytes, round, fileWriters);
          ferryRound(node, src, round);
        }
      }
    } finally {
      fileWriters.shutdownNow();
    }
    double ferryPush = best[FERRY_PUSH];
    double ferryPull = best[FERRY_PULL];
    double ferryOpen = best[FERRY_OPEN];
    double driverWrite = best[DRIVER_WRITE];
    double driverRead = best[DRIVER_READ];
    double driverCopy = best[DRIVER_COPY];
    System.out.printf("model %d MiB (bf16, codec none), one local node, best of %d (test JVM options: %s):%n",
        bytes >> 20, rounds, java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
    System.out.printf("  Ferry push %.2f s (%.0f MB/s)  driver 1 MiB-blob writes %.2f s (%.0f MB/s)  ratio %.2f%n",
        ferryPush, bytes / ferryPush / 1e6, driverWrite, bytes / driverWrite / 1e6, driverWrite / ferryPush);
    System.out.printf("  Ferry pull %.2f s (%.0f MB/s)  driver 1 MiB-blob reads  %.2f s (%.0f MB/s)  ratio %.2f%n",
        ferryPull, bytes / ferryPull / 1e6, driverRead, bytes / driverRead / 1e6, driverRead / ferryPull);
    System.out.printf("  Ferry pull %.2f s (%.0f MB/s)  driver 1 MiB-blob reads written to a file  %.2f s (%.0f MB/s)"
        + "  ratio %.2f%n", ferryPull, bytes / ferryPull / 1e6, driverCopy, bytes / driverCopy / 1e6,
        driverCopy / ferryPull);
    System.out.printf("  client CPU (this JVM) in those rounds: Ferry push %.2f s, driver writes %.2f s, Ferry pull %.2f s,"
        + " driver reads %.2f s, driver reads to a file %.2f s%n", cpu[FERRY_PUSH], cpu[DRIVER_WRITE], cpu[FERRY_PULL],
        cpu[DRIVER_READ], cpu[DRIVER_COPY]);
    System.out.printf("  opening the store (a driver session, schema check, prepared statements): best %.2f s%n",
        ferryOpen);
  }

  /** Ferry: a fresh store (its schema made before the clock starts), a push into it, then a pull of it. */
  private void ferryRound(LocalCassandra node, Path src, int round) throws Exception {
    java.net.URI uri = node.freshUri("bench_ferry");
    try (Repository repo = Ferry.open(uri.toString(), StoreOptions.createIfMissing(),
        options())) {
      long t0 = System.nanoTime();
      double c0 = cpuSeconds();
      repo.push(src, "m:prod", PushOptions.builder().message("bench").codec(CodecPolicy.NONE).build());
      record(FERRY_PUSH, t0, c0);
    }
    Path dest = scratch.resolve("out-" + round);
    // the store is opened before the clock starts, as the push's was and as the driver's session is: both sides
    // time moving the bytes, not connecting (Ferry's open, a session and its prepared statements, printed apart)
    long t1 = System.nanoTime();
    try (Repository repo = Ferry.open(uri.toString(), StoreOptions.existing(), options())) {
      best[FERRY_OPEN] = Math.min(best[FERRY_OPEN], seconds(t1));
      long t1b = System.nanoTime();
      double c1 = cpuSeconds();
      repo.pull("m:prod", dest, PullOptions.defaults());
      record(FERRY_PULL, t1b, c1);
    }
    assertThat(DirectoryState.of(dest)).as("pulled").isEqualTo(DirectoryState.of(src));
    delete(dest);
  }

  /** The driver: a fresh table, the file's bytes as 1 MiB blobs, 64 requests in flight, then read back twice. */
  private void driverRound(CqlSession cql, String ks, Path file, long bytes, int round, ExecutorService fileWriters)
      throws Exception {
    String table = ks + ".blobs_" + round;
    ddl(cql, "CREATE TABLE " + table + " (k int PRIMARY KEY, data blob) WITH compression = {'enabled': false}");
    PreparedStatement insert = cql.prepare("INSERT INTO " + table + " (k, data) VALUES (?, ?)");
    PreparedStatement select = cql.prepare("SELECT data FROM " + table + " WHERE k = ?");
    int blobs = (int) ((bytes + BLOB - 1) / BLOB);
    long t2 = System.nanoTime();
    double c2 = cpuSeconds();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      Semaphore slots = new Semaphore(IN_FLIGHT);
      List<CompletableFuture<AsyncResultSet>> writes = new ArrayList<>();
      for (int k = 0; k < blobs; k++) {
        ByteBuffer b = ByteBuffer.allocate((int) Math.min(BLOB, bytes - (long) k * BLOB));
        while (b.hasRemaining()) {
          ch.read(b, (long) k * BLOB + b.position());
        }
        slots.acquire();
        CompletionStage<AsyncResultSet> w = cql.executeAsync(insert.bind(k, b.flip())
            .setConsistencyLevel(DefaultConsistencyLevel.QUORUM).setTimeout(TIMEOUT));
        writes.add(w.whenComplete((r, e) -> slots.release()).toCompletableFuture());
      }
      CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).get();
    }
    record(DRIVER_WRITE, t2, c2);
    long t3 = System.nanoTime();
    double c3 = cpuSeconds();
    Semaphore slots = new Semaphore(IN_FLIGHT);
    List<CompletableFuture<Integer>> reads = new ArrayList<>();
    for (int k = 0; k < blobs; k++) {
      slots.acquire();
      reads.add(cql.executeAsync(select.bind(k).setConsistencyLevel(DefaultConsistencyLevel.QUORUM)
          .setTimeout(TIMEOUT))
          .thenApply(rs -> {
            Row row = rs.one();
            return row.getByteBuffer(0).remaining();
          }).whenComplete((r, e) -> slots.release()).toCompletableFuture());
    }
    long read = 0;
    for (CompletableFuture<Integer> r : reads) {
      read += r.get();
    }
    record(DRIVER_READ, t3, c3);
    assertThat(read).isEqualTo(bytes);

    // the same reads, each blob written at its place in a file as it arrives: what a pull must also do with the
    // bytes (the write loop above reads them from a file), no sync, as the pull is timed without one
    Path copy = scratch.resolve("driver-copy-" + round);
    long t4 = System.nanoTime();
    double c4 = cpuSeconds();
    try (FileChannel out = FileChannel.open(copy, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      Semaphore fileSlots = new Semaphore(IN_FLIGHT);
      List<CompletableFuture<Integer>> copies = new ArrayList<>();
      for (int k = 0; k < blobs; k++) {
        fileSlots.acquire();
        long at = (long) k * BLOB;
        copies.add(cql.executeAsync(select.bind(k).setConsistencyLevel(DefaultConsistencyLevel.QUORUM)
            .setTimeout(TIMEOUT)).toCompletableFuture()
            .thenApplyAsync(rs -> writeAt(out, rs.one().getByteBuffer(0), at), fileWriters)
            .whenComplete((r, e) -> fileSlots.release()));
      }
      long copied = 0;
      for (CompletableFuture<Integer> c : copies) {
        copied += c.get();
      }
      assertThat(copied).isEqualTo(bytes);
    }
    record(DRIVER_COPY, t4, c4);
    assertThat(Files.mismatch(copy, file)).isEqualTo(-1L);
    Files.delete(copy);
  }

  /** Keeps the time since {@code t0} and this JVM's CPU seconds since {@code c0} if the time is the best yet. */
  private void record(int what, long t0, double c0) {
    if (seconds(t0) < best[what]) {
      best[what] = seconds(t0);
      cpu[what] = cpuSeconds() - c0;
    }
  }

  /** The repository's defaults, or {@code -Dferry.bench.cassandra.parallelism=N} workers. */
  private static RepositoryOptions options() {
    RepositoryOptions o = RepositoryOptions.defaults();
    Integer n = Integer.getInteger("ferry.bench.cassandra.parallelism");
    return n == null ? o : o.withParallelism(n);
  }

  /** Writes all of {@code data} at {@code at} in {@code out}; returns how many bytes. */
  private static int writeAt(FileChannel out, ByteBuffer data, long at) {
    int n = data.remaining();
    try {
      for (long pos = at; data.hasRemaining(); ) {
        pos += out.write(data, pos);
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return n;
  }

  private static void ddl(CqlSession s, String cql) {
    s.execute(SimpleStatement.newInstance(cql).setTimeout(Duration.ofMinutes(1)));
  }

  private static double cpuSeconds() {
    return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
        .getOperatingSystemMXBean()).getProcessCpuTime() / 1e9;
  }

  private static double seconds(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }

  private static void delete(Path dir) throws java.io.IOException {
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
