package io.ferry.store.hdfs;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.Assumptions;

/**
 * A real HDFS in this JVM for tests: a {@link MiniDFSCluster} with a NameNode (RPC and WebHDFS) and 3 DataNodes,
 * replication 3. {@link #shared()} starts one per test JVM, shut down when the JVM exits; {@link #start()} starts a
 * private one for tests that stop DataNodes.
 *
 * <p>If the cluster cannot start, tests are skipped with the reason, except with {@code CI=true}, where they fail:
 * CI must never pass by skipping the real engine.
 */
public final class MiniHdfs implements AutoCloseable {
  /** DataNodes and replication of every test cluster. */
  public static final int DATANODES = 3;

  private static MiniHdfs shared;
  private static Throwable sharedFailure;

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

  /** Starts a cluster and waits until every DataNode has registered. */
  public static MiniHdfs startOrThrow() throws IOException {
    Path target = Path.of(System.getProperty("minihdfs.basedir", "target/minihdfs"));
    Files.createDirectories(target);
    File base = target.resolve(UUID.randomUUID().toString().substring(0, 8)).toAbsolutePath().toFile();
    Configuration conf = new Configuration();
    conf.setBoolean("dfs.webhdfs.enabled", true);
    conf.setInt("dfs.replication", DATANODES);
    conf.set("dfs.namenode.http-address", "127.0.0.1:0");
    // a close may complete before the DataNodes' block reports arrive; else it often sleeps 400 ms waiting for them
    conf.setInt("dfs.namenode.file.close.num-committed-allowed", 1);
    MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf, base).numDataNodes(DATANODES).build();
    try {
      cluster.waitActive();
    } catch (IOException | RuntimeException e) {
      cluster.shutdown();
      throw e;
    }
    return new MiniHdfs(cluster, base);
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

  /** Settings to open stores of this cluster with. */
  public Map<String, String> settings() {
    return Map.of("dfs.replication", Integer.toString(DATANODES));
  }

  @Override
  public void close() {
    cluster.shutdown(true);
  }

  @Override
  public String toString() {
    return "MiniHdfs[" + hdfs("") + ", " + webhdfs("") + ", " + baseDir + "]";
  }
}
