package io.ferry.spark;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.repo.Repository;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One job on a real YARN cluster: a {@link YarnClusterMain} process runs a MiniYARNCluster (ResourceManager and one
 * NodeManager) on loopback, and a second process is {@code spark-submit --master yarn --deploy-mode cluster} of
 * {@code FerrySparkJobs verify}, with {@code HADOOP_CONF_DIR} pointing at the configuration the cluster wrote. The
 * ResourceManager grants the containers and the NodeManager starts Spark's application master (which runs the
 * driver) and an executor in them, as processes; the executor opens the store itself.
 *
 * <p>The two processes keep the class paths apart: the cluster gets the test class path without Spark and Scala,
 * spark-submit (and so the containers) gets it without the Hadoop minicluster. Both sides use Hadoop's shaded 3.4
 * client, which spark-yarn takes as its Hadoop dependency. 49–85 s, by the load of the machine.
 */
class YarnClusterTest {
  private static final long CLUSTER_TIMEOUT_S = 90;
  private static final long SUBMIT_TIMEOUT_S = 180;
  private static final Pattern APP_ID =
      Pattern.compile("Submitting application (application_\\d+_\\d+) to ResourceManager");

  @TempDir
  Path tmp;

  @Test
  void verifyRunsOnAMiniYarnCluster() throws Exception {
    for (String needed : List.of("org.apache.hadoop.yarn.server.MiniYARNCluster",
        "org.apache.spark.deploy.yarn.Client", "org.bouncycastle.cert.X509v3CertificateBuilder")) {
      try {
        Class.forName(needed, false, getClass().getClassLoader());
      } catch (ClassNotFoundException e) {
        throw new AssertionError("the YARN test needs " + needed + " on the test class path; it is missing", e);
      }
    }
    List<String> cp = Arrays.asList(System.getProperty("java.class.path").split(File.pathSeparator));
    List<String> clusterCp = cp.stream().filter(e -> !name(e).startsWith("spark-") && !name(e).startsWith("scala-"))
        .toList();
    List<String> submitCp = cp.stream().filter(e -> !name(e).startsWith("hadoop-client-minicluster")).toList();
    // several JVMs on two cores, each with a small job: the serial collector and C1 alone keep their CPU down
    List<String> flags = new ArrayList<>(List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
    flags.addAll(Stream.of(System.getProperty("ferry.spark.flags", "").trim().split("\\s+"))
        .filter(f -> !f.isEmpty()).toList());
    String javaHome = System.getProperty("java.home");

    Path yarnDir = Files.createDirectories(tmp.resolve("yarn"));
    Path conf = tmp.resolve("hadoop-conf");
    Path clusterLog = tmp.resolve("cluster.log");
    Process cluster = null;
    Process submit = null;
    try {
      // the NodeManager starts containers with $JAVA_HOME/bin/java; its work and log directories go under yarnDir
      cluster = java(flags, String.join(File.pathSeparator, clusterCp), "512m", clusterLog, yarnDir,
          Map.of("JAVA_HOME", javaHome), YarnClusterMain.class.getName(), conf.toString());
      // the model is written while the cluster starts
      String store = tmp.resolve("store").toUri().toString();
      try (Repository repo = SparkTests.open(store)) {
        SparkTests.push(repo, SparkTests.write(tmp, "v1", SparkTests.model(DType.BF16, 37)), "yarn:prod");
      }
      awaitFile(conf.resolve("ready"), cluster, clusterLog);

      Path log4j = Files.writeString(tmp.resolve("submit-log4j2.properties"), String.join("\n",
          "rootLogger.level = warn", "rootLogger.appenderRef.console.ref = console",
          "appender.console.type = Console", "appender.console.name = console",
          "appender.console.layout.type = PatternLayout", "appender.console.layout.pattern = %p %c{1}: %m%n",
          // the line naming the application YARN accepted
          "logger.yarn.name = org.apache.spark.deploy.yarn.Client", "logger.yarn.level = info", ""));
      List<String> jars = submitCp.stream().filter(e -> e.endsWith(".jar")).map(e -> "local:" + e).toList();
      String dirs = String.join(File.pathSeparator, submitCp.stream().filter(e -> !e.endsWith(".jar")).toList());
      String containerFlags = String.join(" ", flags);
      List<String> submitFlags = new ArrayList<>(flags);
      submitFlags.add("-Dlog4j2.configurationFile=" + log4j.toUri());
      Path submitLog = tmp.resolve("submit.log");
      submit = java(submitFlags, conf + File.pathSeparator + String.join(File.pathSeparator, submitCp), "512m",
          submitLog, tmp, Map.of("HADOOP_CONF_DIR", conf.toString(), "YARN_CONF_DIR", conf.toString()),
          "org.apache.spark.deploy.SparkSubmit", "--master", "yarn", "--deploy-mode", "cluster",
          "--class", "io.ferry.spark.jobs.FerrySparkJobs",
          "--conf", "spark.yarn.jars=" + String.join(",", jars),
          "--conf", "spark.driver.extraClassPath=" + dirs,
          "--conf", "spark.executor.extraClassPath=" + dirs,
          "--conf", "spark.yarn.populateHadoopClasspath=false",
          "--conf", "spark.yarn.stagingDir=" + tmp.resolve("staging").toUri(),
          "--conf", "spark.yarn.maxAppAttempts=1",
          "--conf", "spark.driver.memory=512m", "--conf", "spark.driver.memoryOverhead=128m",
          "--conf", "spark.driver.extraJavaOptions=" + containerFlags,
          "--conf", "spark.executor.instances=1", "--conf", "spark.executor.cores=1",
          "--conf", "spark.executor.memory=512m", "--conf", "spark.executor.memoryOverhead=128m",
          "--conf", "spark.executor.extraJavaOptions=" + containerFlags,
          // the containers get no environment from the NodeManager: bind them to loopback
          "--conf", "spark.yarn.appMasterEnv.SPARK_LOCAL_IP=127.0.0.1",
          "--conf", "spark.executorEnv.SPARK_LOCAL_IP=127.0.0.1",
          "--conf", "spark.ui.enabled=false",
          "spark-internal", "verify", "--store", store, "--task-bytes", "1048576", "yarn:prod");
      boolean done = submit.waitFor(SUBMIT_TIMEOUT_S, TimeUnit.SECONDS);
      String out = Files.readString(submitLog, StandardCharsets.UTF_8);
      // the descriptions are built only when an assertion fails: the NodeManager is still deleting the
      // application's files while a passing test goes on
      assertThat(done).as(() -> String.format("spark-submit finished within %d s; its output:%n%s%ncluster:%n%s%n"
          + "containers:%n%s", SUBMIT_TIMEOUT_S, tail(out), tail(read(clusterLog)), containerLogs(yarnDir))).isTrue();
      assertThat(submit.exitValue()).as(() -> String.format("spark-submit exit; its output:%n%s%ncontainers:%n%s",
          tail(out), containerLogs(yarnDir))).isZero();
      Matcher app = APP_ID.matcher(out);
      assertThat(app.find()).as("spark-submit names the application YARN accepted:\n%s", tail(out)).isTrue();
      assertThat(out).as("spark-submit's output").contains("final status: SUCCEEDED")
          .containsPattern("ApplicationMaster host: (localhost|127\\.0\\.0\\.1)\n");
      List<Path> containers = containers(yarnDir, app.group(1));
      // the application master (with the driver in it) and at least one executor ran as containers of that
      // application on the NodeManager; the driver's results are in the first container's stdout
      assertThat(containers).as("containers of %s under %s", app.group(1), yarnDir).hasSizeGreaterThanOrEqualTo(2);
      Path am = containers.stream().filter(c -> c.getFileName().toString().endsWith("_000001")).findFirst()
          .orElseThrow(() -> new AssertionError("no application master container among " + containers));
      String results = Files.readString(am.resolve("stdout"), StandardCharsets.UTF_8);
      assertThat(results).as("the driver's stdout in %s", am).contains("errors=0").contains("versions=1")
          .containsPattern("tasks=[2-9]");
      assertThat(containers.stream().anyMatch(c -> logContains(c, "CoarseGrainedExecutorBackend")))
          .as(() -> "an executor ran in a container:\n" + containerLogs(yarnDir)).isTrue();
    } finally {
      if (submit != null) {
        stop(submit);
      }
      if (cluster != null) {
        // the application has ended: its containers and the cluster are ended at once (a graceful stop of the
        // MiniYARNCluster took 18 s here); were this JVM to die first, the cluster stops as its stdin closes
        stop(cluster);
      }
    }
  }

  private static String name(String classPathEntry) {
    return Path.of(classPathEntry).getFileName().toString();
  }

  private static Process java(List<String> flags, String cp, String heap, Path log, Path dir, Map<String, String> env,
      String main, String... args) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx" + heap);
    cmd.addAll(flags);
    cmd.add("-cp");
    cmd.add(cp);
    cmd.add(main);
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    // else Spark binds to the address the host name resolves to, not loopback
    pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
    pb.environment().putAll(env);
    return pb.start();
  }

  private static void stop(Process p) throws InterruptedException {
    p.descendants().forEach(ProcessHandle::destroyForcibly);
    p.destroyForcibly();
    p.waitFor(20, TimeUnit.SECONDS);
  }

  /** Waits until the cluster wrote its configuration, or fails if it died or time ran out. */
  private static void awaitFile(Path file, Process p, Path log) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(CLUSTER_TIMEOUT_S);
    while (System.nanoTime() < deadline) {
      if (Files.exists(file)) {
        return;
      }
      if (p.waitFor(200, TimeUnit.MILLISECONDS)) {
        throw new AssertionError("the YARN cluster process exited with " + p.exitValue() + " before writing "
            + file + "; its output:\n" + tail(Files.readString(log)));
      }
    }
    throw new AssertionError("the YARN cluster did not write " + file + " within " + CLUSTER_TIMEOUT_S
        + " s; its output:\n" + tail(Files.readString(log)));
  }

  /** The container directories the NodeManager kept for the application (its log directories). */
  private static List<Path> containers(Path yarnDir, String appId) throws IOException {
    return files(yarnDir).stream().map(Path::getParent).distinct()
        .filter(d -> d.getFileName().toString().startsWith("container_")
            && d.getParent().getFileName().toString().equals(appId) && d.toString().contains("logDir")).toList();
  }

  /**
   * The regular files under a directory, passing over those deleted while it is walked: the NodeManager removes an
   * application's local files (its appcache) as the application ends.
   */
  private static List<Path> files(Path root) throws IOException {
    List<Path> found = new ArrayList<>();
    Files.walkFileTree(root, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
        if (attrs.isRegularFile()) {
          found.add(file);
        }
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
        if (e instanceof NoSuchFileException) {
          return FileVisitResult.CONTINUE;
        }
        throw e;
      }
    });
    return found;
  }

  private static boolean logContains(Path container, String text) {
    try (Stream<Path> files = Files.list(container)) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        if (Files.readString(f, StandardCharsets.ISO_8859_1).contains(text)) {
          return true;
        }
      }
      return false;
    } catch (IOException e) {
      throw new AssertionError("reading the logs of container " + container + ": " + e, e);
    }
  }

  private static String containerLogs(Path yarnDir) {
    StringBuilder b = new StringBuilder();
    try {
      for (Path p : files(yarnDir)) {
        if (p.getFileName().toString().equals("stderr")) {
          b.append(p).append(":\n").append(tail(read(p))).append('\n');
        }
      }
    } catch (IOException e) {
      b.append("(listing the container logs failed: ").append(e).append(")\n");
    }
    return b.length() == 0 ? "(no container logs)" : b.toString();
  }

  private static String read(Path file) {
    try {
      return Files.readString(file, StandardCharsets.ISO_8859_1);
    } catch (IOException e) {
      return "(" + file + " could not be read: " + e + ")";
    }
  }

  private static String tail(String s) {
    return s.length() > 4000 ? s.substring(s.length() - 4000) : s;
  }
}
