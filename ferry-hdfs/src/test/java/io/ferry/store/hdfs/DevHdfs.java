package io.ferry.store.hdfs;

import java.io.PrintStream;
import java.util.concurrent.CountDownLatch;

/**
 * Developer command: starts a local HDFS (MiniDFSCluster, 3 DataNodes, WebHDFS on) in this JVM, prints the store
 * URIs to use with {@code ferry --store ...}, and runs until Ctrl-C. Lives in test scope so that the CLI never
 * depends on the minicluster; run it with {@code dev/hdfs.sh}.
 */
public final class DevHdfs {
  private DevHdfs() {}

  /** Starts the cluster and waits for Ctrl-C. */
  public static void main(String[] args) throws Exception {
    PrintStream out = System.out;
    MiniHdfs hdfs = MiniHdfs.startOrThrow(java.nio.file.Path.of("target/minihdfs"));
    CountDownLatch stop = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      hdfs.close();
      stop.countDown();
    }, "dev-hdfs-shutdown"));
    out.println("HDFS is up (3 DataNodes, replication 3). Stores:");
    out.println("  " + hdfs.hdfs("/ferry"));
    out.println("  " + hdfs.webhdfs("/ferry"));
    out.println("e.g.  ./ferry --store " + hdfs.hdfs("/ferry") + " init");
    out.println("Ctrl-C stops it (its data, under ferry-hdfs/target/minihdfs, is removed).");
    out.flush();
    stop.await();
  }
}
