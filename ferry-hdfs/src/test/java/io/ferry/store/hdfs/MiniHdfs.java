package io.ferry.store.hdfs;

import io.ferry.concurrent.Futures;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.FutureTask;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.Assumptions;

/**
 * A real HDFS in this JVM for tests: a {@link MiniDFSCluster} with a NameNode (RPC and WebHDFS) and 3 DataNodes;
 * stores opened with {@link #settings()} write 3 replicas. {@link #shared()} starts one per test JVM, shut down when the JVM exits; {@link #start()} starts a
 * private one for tests that stop DataNodes.
 *
 * <p>Where its files are: under {@code -Dminihdfs.basedir} if set, else in a memory file system ({@code /dev/shm})
 * where there is one with 2 GiB free, else under {@code target/minihdfs}. Ferry creates objects with {@code
 * SYNC_BLOCK}, so every put makes each DataNode of the pipeline force the block to disk; on a disk, DataNode threads
 * waited 155 s for that in one run of the module's tests, in memory the same calls return at once. The code path is
 * the same either way. Directories a killed test JVM left in memory are removed by the next start.
 *
 * <p>The cluster runs without the DataNodes' block scanner and directory scanner (background threads that re-read
 * every block and directory to find damage on disk: no test here relies on them, and they cost CPU beside the tests).
 *
 * <p>If the cluster cannot start, tests are skipped with the reason, except with {@code CI=true}, where they fail:
 * CI must never pass by skipping the real engine.
 */
public final class MiniHdfs implements AutoCloseable {
  /**
   * Settings that cut Hadoop's waits between its own tries of a block no DataNode gives (3 s windows by default, about
   * 20 s in all) to 50 ms windows: for tests of what Ferry says once Hadoop gives up, not of how long Hadoop waits.
   */
  public static final Map<String, String> QUICK_RETRIES = Map.of("dfs.client.retry.window.base", "50");

  /** DataNodes of every test cluster, and the replication of {@link #settings()}. */
  public static final int DATANODES = 3;

  /** Memory directories are named this plus the test JVM's pid, so that the next start can tell leftovers. */
  private static final String MEMORY_PREFIX = "ferry-minihdfs-";
  /** Free memory file system space below which the cluster goes to disk (a container's /dev/shm may be 64 MiB). */
  private static final long MEMORY_NEEDED = 2L << 30;

  private static MiniHdfs shared;
  private static Throwable sharedFailure;

  private static final Object STARTING = new Object();

  private final MiniDFSCluster cluster;
  private final File baseDir;

  private MiniHdfs(MiniDFSCluster cluster, File baseDir) {
    this.cluster = cluster;
    this.baseDir = baseDir;
  }

  /** The cluster shared by all tests of this JVM, started on first use. */
  public static synchronized MiniHdfs shared() {
    if (shared == null && sharedFailure == null) {
      try {
        shared = startOrThrow();
        MiniHdfs s = shared;
        Runtime.getRuntime().addShutdownHook(new Thread(s::close, "minihdfs-shutdown"));
      } catch (Throwable t) {
        sharedFailure = t;
      }
    }
    if (sharedFailure != null) {
      unavailable(sharedFailure);
    }
    return shared;
  }

  /** A private cluster; the caller closes it. */
  public static MiniHdfs start() {
    try {
      return startOrThrow();
    } catch (Throwable t) {
      unavailable(t);
      throw new AssertionError("unreachable");
    }
  }

  private static void unavailable(Throwable t) {
    String why = "MiniDFSCluster did not start: " + t;
    if ("true".equalsIgnoreCase(System.getenv("CI"))) {
      throw new AssertionError(why + " (CI=true: HDFS tests must run, not skip)", t);
    }
    Assumptions.abort(why);
  }

  /** Starts a cluster, with its files where the class comment says, and waits until every DataNode has registered. */
  public static MiniHdfs startOrThrow() throws IOException {
    String configured = System.getProperty("minihdfs.basedir");
    if (configured != null) {
      return startOrThrow(Path.of(configured));
    }
    Path shm = Path.of("/dev/shm");
    if (Files.isDirectory(shm) && Files.isWritable(shm)
        && Files.getFileStore(shm).getUsableSpace() >= MEMORY_NEEDED) {
      removeLeftovers(shm);
      return startOrThrow(shm.resolve(MEMORY_PREFIX + ProcessHandle.current().pid()));
    }
    return startOrThrow(Path.of("target/minihdfs"));
  }

  /** Starts a cluster with its files in a fresh directory under {@code parent}. */
  public static MiniHdfs startOrThrow(Path parent) throws IOException {
    Files.createDirectories(parent);
    File base = parent.resolve(UUID.randomUUID().toString().substring(0, 8)).toAbsolutePath().toFile();
    Configuration conf = new Configuration();
    // background verification of blocks and directories on disk: nothing here waits for it
    conf.setLong("dfs.block.scanner.volume.bytes.per.second", 0);
    conf.setInt("dfs.datanode.directoryscan.interval", -1);
    conf.setBoolean("dfs.webhdfs.enabled", true);
    conf.setInt("dfs.replication", DATANODES);
    conf.set("dfs.namenode.http-address", "127.0.0.1:0");
    // a close may complete before the DataNodes' block reports arrive; else it often sleeps 400 ms waiting for them
    conf.setInt("dfs.namenode.file.close.num-committed-allowed", 1);
    // the clients inside the cluster (WebHDFS writes through one in the DataNode) wait as Ferry's own do
    conf.setInt(HdfsSettings.CLOSE_DELAY, 20);
    conf.setInt(HdfsSettings.CLOSE_RETRIES, 10);
    // and give up on a block without Hadoop's waits of seconds between rounds (a WebHDFS read of damaged replicas)
    conf.set("dfs.client.retry.window.base", QUICK_RETRIES.get("dfs.client.retry.window.base"));
    MiniDFSCluster cluster;
    // one start at a time: formatting a NameNode fills process-wide tables without a lock (Hadoop's
    // ErasureCodingPolicyManager, a TreeMap), and a private cluster started beside the shared one corrupted it
    // (a NullPointerException in TreeMap.rotateLeft, and no HDFS test of the module ran)
    synchronized (STARTING) {
      cluster = offTestPool(() -> new MiniDFSCluster.Builder(conf, base).numDataNodes(DATANODES).build());
    }
    try {
      cluster.waitActive();
    } catch (IOException | RuntimeException e) {
      cluster.shutdown();
      throw e;
    }
    return new MiniHdfs(cluster, base);
  }

  /** A cluster start, for {@link #offTestPool}. */
  private interface Start {
    MiniDFSCluster run() throws IOException;
  }

  /**
   * Runs {@code start} on a thread of its own and waits for it.
   *
   * <p>JUnit runs concurrent tests on the workers of a {@code ForkJoinPool}, and on JDK 17 a worker that joins a
   * {@code ForkJoinTask}, even one of another pool, runs other tasks of its own pool while it waits. The NameNode's
   * start joins one (it counts quotas in a pool of its own), so the test worker starting the shared cluster ran the
   * next test's set-up meanwhile, which asked for the shared cluster on the same thread: the locks here are
   * re-entrant, so it started a second cluster inside the first, whose NameNode did the same. One run of this module
   * started 22 clusters nested in the shared one's start (five minutes, the WebHDFS tests 10 to 17 times slower than
   * alone, 3,000 threads); whether it happened depended on which tests were queued, so only some runs were slow. A
   * thread outside any pool runs nothing else while it waits.
   */
  private static MiniDFSCluster offTestPool(Start start) throws IOException {
    FutureTask<MiniDFSCluster> task = new FutureTask<>(start::run);
    Thread t = new Thread(task, "minihdfs-start");
    t.setDaemon(true);
    t.start();
    return Futures.await(task, "starting a MiniDFSCluster");
  }

  /** Removes the memory directories of test JVMs that are gone (a JVM killed before its shutdown hook ran). */
  private static void removeLeftovers(Path shm) {
    try (DirectoryStream<Path> dirs = Files.newDirectoryStream(shm, MEMORY_PREFIX + "*")) {
      for (Path dir : dirs) {
        String pid = dir.getFileName().toString().substring(MEMORY_PREFIX.length());
        if (pid.chars().allMatch(Character::isDigit) && !pid.isEmpty()
            && ProcessHandle.of(Long.parseLong(pid)).isEmpty()) {
          FileUtil.fullyDelete(dir.toFile());
        }
      }
    } catch (IOException | RuntimeException e) {
      // best effort: a leftover only takes memory until the machine restarts
    }
  }

  /** The cluster, for fault injection. */
  public MiniDFSCluster cluster() {
    return cluster;
  }

  /** {@code hdfs://localhost:port} + path. */
  public URI hdfs(String path) {
    return URI.create("hdfs://localhost:" + cluster.getNameNodePort() + path);
  }

  /** {@code webhdfs://localhost:httpport} + path. */
  public URI webhdfs(String path) {
    return URI.create("webhdfs://localhost:" + cluster.getNameNode().getHttpAddress().getPort() + path);
  }

  /** A fresh store path, unique per call. */
  public static String freshPath(String what) {
    return "/t/" + what + "-" + UUID.randomUUID().toString().substring(0, 12);
  }

  /** Settings to open stores of this cluster with: replication {@value #DATANODES}, a replica on every DataNode. */
  public Map<String, String> settings() {
    return settings(DATANODES);
  }

  /**
   * Settings to open stores of this cluster with, their files written with {@code replication} replicas. The contract
   * tests use 1: what they check is Ferry's use of the NameNode's namespace (create, rename, attributes, listings),
   * which is the same for any replication, and a pipeline through one DataNode costs a third of one through three;
   * the tests of DataNode failures and the end-to-end test keep 3.
   */
  public Map<String, String> settings(int replication) {
    if (replication < 1 || replication > DATANODES) {
      throw new IllegalArgumentException("replication " + replication + " is not in [1, " + DATANODES + "]");
    }
    return Map.of("dfs.replication", Integer.toString(replication));
  }

  @Override
  public void close() {
    try {
      cluster.shutdown(true);
    } finally {
      FileUtil.fullyDelete(baseDir);
      // the JVM's directory, once its last cluster is gone (delete() leaves a directory that is not empty)
      baseDir.getParentFile().delete();
    }
  }

  @Override
  public String toString() {
    return "MiniHdfs[" + hdfs("") + ", " + webhdfs("") + ", " + baseDir + "]";
  }

  /** Every file under {@code root} with its length: a store's files, to compare before and after a failed command. */
  static Map<String, Long> files(org.apache.hadoop.fs.FileSystem fs, org.apache.hadoop.fs.Path root)
      throws java.io.IOException {
    Map<String, Long> out = new java.util.TreeMap<>();
    org.apache.hadoop.fs.RemoteIterator<org.apache.hadoop.fs.LocatedFileStatus> it = fs.listFiles(root, true);
    while (it.hasNext()) {
      org.apache.hadoop.fs.LocatedFileStatus st = it.next();
      out.put(st.getPath().toUri().getPath(), st.getLen());
    }
    return out;
  }
}
