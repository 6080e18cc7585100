package io.ferry.spark;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

/**
 * A {@link MiniYARNCluster} (one ResourceManager, one NodeManager, on loopback with ephemeral ports) run as its own
 * process for {@link YarnClusterTest}: {@code YarnClusterMain CONF_DIR}. Once the NodeManager has registered it writes
 * the cluster's effective {@code yarn-site.xml} and a {@code core-site.xml} ({@code fs.defaultFS=file:///}, so
 * staging and localization use the local file system) into {@code CONF_DIR}, then {@code CONF_DIR/ready}; it stops
 * the cluster (and so its containers) when its standard input closes. Its work directories go under {@code target/}
 * of the working directory the caller gives it.
 */
public final class YarnClusterMain {
  private YarnClusterMain() {}

  /**
   * Starts the cluster, publishes its configuration and runs until standard input closes; exits with 1 (stack
   * trace on standard error) if the cluster cannot start.
   *
   * @param args the configuration directory to write
   */
  public static void main(String[] args) {
    try {
      run(args);
    } catch (Throwable t) {
      t.printStackTrace();
      // a cluster that failed half-way leaves non-daemon threads behind: the caller must see this process end
      System.exit(1);
    }
    System.exit(0);
  }

  private static void run(String[] args) throws Exception {
    if (args.length != 1) {
      throw new IllegalArgumentException("usage: YarnClusterMain CONF_DIR; got " + args.length + " arguments");
    }
    Path confDir = Files.createDirectories(Path.of(args[0]));
    YarnConfiguration conf = new YarnConfiguration();
    conf.set("fs.defaultFS", "file:///");
    // a test machine: no memory policing of containers, no disk-full verdict on a busy shared disk
    conf.setBoolean(YarnConfiguration.NM_VMEM_CHECK_ENABLED, false);
    conf.setBoolean(YarnConfiguration.NM_PMEM_CHECK_ENABLED, false);
    conf.setFloat(YarnConfiguration.NM_MAX_PER_DISK_UTILIZATION_PERCENTAGE, 100.0f);
    conf.setLong(YarnConfiguration.NM_MIN_PER_DISK_FREE_SPACE_MB, 0);
    // room for a Spark application master and one small executor, allocated in 128 MiB steps
    conf.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, 128);
    conf.setInt(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB, 2048);
    conf.setInt(YarnConfiguration.YARN_MINICLUSTER_NM_PMEM_MB, 3072); // the minicluster overrides NM_PMEM_MB
    conf.setInt(YarnConfiguration.NM_VCORES, 2);
    // the capacity scheduler: the shaded minicluster ships no capacity-scheduler.xml, so one queue is declared here;
    // its default lets application masters use 10 % of the cluster, too little here
    conf.set("yarn.scheduler.capacity.root.queues", "default");
    conf.setFloat("yarn.scheduler.capacity.root.default.capacity", 100f);
    conf.setFloat("yarn.scheduler.capacity.maximum-am-resource-percent", 1.0f);
    // keep the containers' directories and logs after the application ends, for the test to read
    conf.setInt(YarnConfiguration.DEBUG_NM_DELETE_DELAY_SEC, 600);

    MiniYARNCluster cluster = new MiniYARNCluster("ferry-yarn", 1, 1, 1);
    try {
      cluster.init(conf);
      cluster.start();
      if (!cluster.waitForNodeManagersToConnect(60_000)) {
        throw new IllegalStateException("MiniYARNCluster: the NodeManager did not register with the"
            + " ResourceManager within 60 s");
      }
      Configuration effective = cluster.getConfig();
      write(confDir.resolve("yarn-site.xml"), effective);
      Configuration core = new Configuration(false);
      core.set("fs.defaultFS", "file:///");
      write(confDir.resolve("core-site.xml"), core);
      Files.writeString(confDir.resolve("ready.tmp"), effective.get(YarnConfiguration.RM_ADDRESS));
      Files.move(confDir.resolve("ready.tmp"), confDir.resolve("ready"), StandardCopyOption.ATOMIC_MOVE);
      while (System.in.read() >= 0) {
        // runs until the test closes our standard input
      }
    } finally {
      cluster.stop();
    }
  }

  private static void write(Path file, Configuration conf) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (OutputStream out = Files.newOutputStream(tmp)) {
      conf.writeXml(out);
    }
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
  }
}
