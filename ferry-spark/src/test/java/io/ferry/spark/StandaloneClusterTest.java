package io.ferry.spark;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.repo.Repository;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One job on a real Spark standalone cluster: a Master and a Worker started as processes on loopback from the test
 * class path, with Spark's JVM flags, and the driver as a third process running {@code FerrySparkJobs} as {@code
 * spark-submit} would; the Worker starts the executor as a fourth. So the read plan and the job's closures really
 * cross process boundaries, serialized, and the executor opens the store itself.
 *
 * <p>Four Spark JVMs start here (148–168 s at a load average of 25–36 on 2 cores; most of it JVM and Spark start-up).
 */
class StandaloneClusterTest {
  private static final long TIMEOUT_S = 150;

  @TempDir
  Path tmp;

  @Test
  void verifyRunsOnAStandaloneMasterAndWorker() throws Exception {
    String store = tmp.resolve("store").toUri().toString();
    try (Repository repo = SparkTests.open(store)) {
      SparkTests.push(repo, SparkTests.write(tmp, "v1", SparkTests.model(DType.BF16, 31)), "solo:prod");
    }
    String cp = System.getProperty("java.class.path");
    // four JVMs on two cores, each with a small job: the serial collector and C1 alone keep their CPU down
    List<String> flags = new ArrayList<>(List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
    flags.addAll(List.of(System.getProperty("ferry.spark.flags", "").trim().split("\\s+")));
    int masterPort = freePort();
    List<Process> started = new ArrayList<>();
    try {
      started.add(java(flags, cp, "256m", tmp.resolve("master.log"), List.of(), "org.apache.spark.deploy.master.Master",
          "--host", "127.0.0.1", "--port", String.valueOf(masterPort), "--webui-port", String.valueOf(freePort())));
      awaitPort(masterPort, started.get(0));
      Path home = Files.createDirectories(tmp.resolve("spark-home"));
      started.add(java(flags, cp, "256m", tmp.resolve("worker.log"), List.of("SPARK_HOME=" + home,
          "SPARK_SCALA_VERSION=2.13", "SPARK_TESTING=1"), "org.apache.spark.deploy.worker.Worker",
          "spark://127.0.0.1:" + masterPort, "--host", "127.0.0.1", "--cores", "1", "--memory", "512m",
          "--webui-port", String.valueOf(freePort()), "--work-dir", tmp.resolve("work").toString()));
      List<String> driverFlags = new ArrayList<>(flags);
      driverFlags.addAll(List.of("-Dspark.master=spark://127.0.0.1:" + masterPort,
          "-Dspark.driver.host=127.0.0.1", "-Dspark.driver.bindAddress=127.0.0.1", "-Dspark.ui.enabled=false",
          "-Dspark.executor.memory=512m", "-Dspark.cores.max=1", "-Dspark.executor.extraClassPath=" + cp,
          "-Dspark.executor.extraJavaOptions=" + String.join(" ", flags),
          "-Dspark.local.dir=" + tmp.resolve("local")));
      Path out = tmp.resolve("driver.log");
      Process driver = java(driverFlags, cp, "512m", out, List.of(), "io.ferry.spark.jobs.FerrySparkJobs", "verify",
          "--store", store, "--task-bytes", "1048576", "solo:prod");
      started.add(driver);
      boolean done = driver.waitFor(TIMEOUT_S, TimeUnit.SECONDS);
      String log = Files.readString(out, StandardCharsets.UTF_8);
      assertThat(done).as("driver finished within %d s; its output:\n%s\nworker:\n%s\nexecutors:\n%s", TIMEOUT_S,
          tail(log), tail(Files.readString(tmp.resolve("worker.log"))), executorLogs(tmp.resolve("work"))).isTrue();
      assertThat(driver.exitValue()).as(tail(log)).isZero();
      assertThat(log).contains("errors=0").contains("versions=1").containsPattern("tasks=[2-9]");
    } finally {
      for (int i = started.size() - 1; i >= 0; i--) {
        Process p = started.get(i);
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        p.waitFor(20, TimeUnit.SECONDS);
      }
    }
  }

  private static Process java(List<String> flags, String cp, String heap, Path log, List<String> env, String main,
      String... args) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx" + heap);
    cmd.addAll(flags.stream().filter(f -> !f.isEmpty()).toList());
    cmd.add("-cp");
    cmd.add(cp);
    cmd.add(main);
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    // else Spark binds to the address the host name resolves to, not loopback
    pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
    for (String e : env) {
      int eq = e.indexOf('=');
      pb.environment().put(e.substring(0, eq), e.substring(eq + 1));
    }
    return pb.start();
  }

  /**
   * A port for a Spark JVM to bind once it has started, out of the way of other processes' ports ({@link
   * io.ferry.testkit.FreePort}): a Master finding its port taken moves to the next one, and the worker would look for
   * it where something else listens.
   */
  private static int freePort() throws IOException {
    return io.ferry.testkit.FreePort.pick();
  }

  /** Waits until something listens on the port (the Master is up), or fails if the process died or time ran out. */
  private static void awaitPort(int port, Process p) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      assertThat(p.isAlive()).as("master process alive").isTrue();
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 500);
        return;
      } catch (IOException notYet) {
        p.waitFor(200, TimeUnit.MILLISECONDS);
      }
    }
    throw new AssertionError("master did not listen on port " + port + " within 60 s");
  }

  private static String executorLogs(Path work) throws IOException {
    if (!Files.isDirectory(work)) {
      return "(no executor was started)";
    }
    StringBuilder b = new StringBuilder();
    try (var files = Files.walk(work)) {
      for (Path p : files.filter(f -> f.getFileName().toString().equals("stderr")).toList()) {
        b.append(p).append(":\n").append(tail(Files.readString(p))).append('\n');
      }
    }
    return b.toString();
  }

  private static String tail(String s) {
    return s.length() > 4000 ? s.substring(s.length() - 4000) : s;
  }
}
