package io.ferry.store.cassandra;

import io.ferry.testkit.FreePort;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assumptions;

/**
 * A real Cassandra node for the tests: {@code org.apache.cassandra.service.CassandraDaemon} of {@code cassandra-all}
 * run as its own JVM (JDK 17) with a generated {@code cassandra.yaml}: free ports, data, commit log, caches and hints
 * under {@code target/}, settings that make a test server quick (periodic commit log sync, no auto snapshots, few
 * threads). One node (1 GiB heap, {@link #SHARED_HEAP_MIB}) is shared by every test class of the module ({@link
 * #shared()}); each test uses its own keyspace ({@link #freshKeyspace}). The node is stopped by a shutdown hook.
 * {@link #cluster} makes the nodes of a cluster on loopback addresses for the fault tests, which start and stop them.
 *
 * <p>Readiness is the native port accepting connections, polled with a deadline. If the node does not start, the
 * tests are skipped with the reason, except when {@code CI=true}, where they fail.
 *
 * <p>The server runs on the test class path minus {@code slf4j-nop}: Cassandra 5.0.6 and the 4.19 driver agree on
 * Netty (4.1.119), the driver shades its Guava, and Jackson is held at the project's version, which Cassandra runs
 * with. Its logback 1.2 binding is ignored by the project's SLF4J 2, so the server logs nothing; its standard output
 * goes to {@code logs/stdout.log} next to its data, and is quoted when it fails to start.
 */
public final class LocalCassandra {
  /** How long a node may take to accept CQL connections. */
  private static final Duration START_TIMEOUT = Duration.ofSeconds(120);
  /**
   * The shared node's heap. Every test's keyspace stays on the node with its tables (each table holds Cassandra's
   * per-table metrics and memtables), so the live heap grows with the module's tests: with 512 MiB it reached 420 MiB,
   * and the node ran a full collection every few seconds (26 s of pauses in one run of the module, most of them while
   * the node-loss test ran beside it). With 1 GiB (the memtables kept at 102 MiB, {@link #memtableMiB}) it ran five.
   */
  private static final int SHARED_HEAP_MIB = Integer.getInteger("ferry.cassandra.heap-mib", 1024);
  private static final AtomicInteger KEYSPACES = new AtomicInteger();
  private static volatile LocalCassandra shared;
  private static volatile Throwable sharedFailure;

  private final String address;
  private final int nativePort;
  private final int storagePort;
  private final Path dir;
  private final String seeds;
  private final int heapMiB;
  private Process process;

  private LocalCassandra(String address, int nativePort, int storagePort, Path dir, String seeds, int heapMiB) {
    this.address = address;
    this.nativePort = nativePort;
    this.storagePort = storagePort;
    this.dir = dir;
    this.seeds = seeds;
    this.heapMiB = heapMiB;
  }

  /** The node all test classes of the module share, started on first use; skips or fails the test if it can't. */
  public static LocalCassandra shared() {
    synchronized (LocalCassandra.class) {
      if (shared == null && sharedFailure == null) {
        try {
          int nativePort = freePort();
          int storagePort = freePort(nativePort);
          Path dir = Path.of("target", "cassandra-" + nativePort).toAbsolutePath();
          LocalCassandra node = new LocalCassandra("127.0.0.1", nativePort, storagePort, dir,
              "127.0.0.1:" + storagePort, SHARED_HEAP_MIB);
          node.start();
          Runtime.getRuntime().addShutdownHook(new Thread(node::stop, "stop-cassandra"));
          shared = node;
        } catch (Throwable t) {
          sharedFailure = t;
        }
      }
    }
    if (sharedFailure != null) {
      notStarted("the test Cassandra did not start: " + sharedFailure, sharedFailure);
    }
    return shared;
  }

  /** Skips the test with the reason, or fails it when {@code CI=true}, where a missing service must be loud. */
  static void notStarted(String why, Throwable cause) {
    if ("true".equalsIgnoreCase(System.getenv("CI"))) {
      throw new AssertionError(why, cause);
    }
    Assumptions.abort(why);
  }

  /**
   * The nodes of a cluster on loopback addresses, one node per address, all on the same two ports, every node a seed
   * (seeds join without bootstrapping, so the nodes of a new cluster can start together): not started. Each node has
   * a heap of {@code heapMiB} MiB and its data under {@code base/<address>}.
   *
   * @param addresses e.g. {@code 127.0.0.1, 127.0.0.2, 127.0.0.3} (Linux routes all of 127/8 to the loopback)
   */
  public static List<LocalCassandra> cluster(List<String> addresses, Path base, int heapMiB) {
    int nativePort = freePort();
    int storagePort = freePort(nativePort);
    String seeds = addresses.stream().map(a -> a + ":" + storagePort).collect(Collectors.joining(","));
    List<LocalCassandra> nodes = new ArrayList<>();
    for (String a : addresses) {
      nodes.add(new LocalCassandra(a, nativePort, storagePort, base.resolve(a), seeds, heapMiB));
    }
    return nodes;
  }

  /**
   * Starts the nodes at once, each from its own thread, and waits until each accepts CQL connections; the first
   * failure is thrown once every start returned.
   */
  public static void startAll(List<LocalCassandra> nodes) throws IOException, InterruptedException {
    ExecutorService starters = Executors.newFixedThreadPool(nodes.size());
    try {
      List<Future<?>> started = new ArrayList<>();
      for (LocalCassandra n : nodes) {
        started.add(starters.submit(() -> {
          n.start();
          return null;
        }));
      }
      IOException first = null;
      for (Future<?> f : started) {
        try {
          f.get();
        } catch (ExecutionException e) {
          if (first == null) {
            first = e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
          } else {
            first.addSuppressed(e.getCause());
          }
        }
      }
      if (first != null) {
        throw first;
      }
    } finally {
      starters.shutdownNow();
    }
  }

  /** A keyspace name no other test used in this JVM. */
  public static String freshKeyspace(String prefix) {
    return prefix + "_" + ProcessHandle.current().pid() + "_" + KEYSPACES.incrementAndGet();
  }

  /** {@code cassandra://127.0.0.1:<port>/<keyspace>} with the given query (may be empty). */
  public URI uri(String keyspace, String query) {
    return URI.create("cassandra://" + address + ":" + nativePort + "/" + keyspace
        + (query.isEmpty() ? "" : "?" + query));
  }

  /** A fresh keyspace's URI with replication factor 1 (one node). */
  public URI freshUri(String prefix) {
    return uri(freshKeyspace(prefix), "replication_factor=1");
  }

  public String address() {
    return address;
  }

  public int nativePort() {
    return nativePort;
  }

  private boolean clustered() {
    return seeds.contains(",");
  }

  /** Whether the node's process runs. */
  public synchronized boolean isRunning() {
    return process != null && process.isAlive();
  }

  /** Starts the node and waits until it accepts CQL connections. */
  public synchronized void start() throws IOException, InterruptedException {
    if (process != null && process.isAlive()) {
      return;
    }
    for (String sub : List.of("data", "commitlog", "saved_caches", "hints", "cdc_raw", "logs")) {
      Files.createDirectories(dir.resolve(sub));
    }
    Path yaml = dir.resolve("cassandra.yaml");
    Files.writeString(yaml, yaml(), StandardCharsets.UTF_8);
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(List.of("-Xms" + Math.min(256, heapMiB) + "m", "-Xmx" + heapMiB + "m", "-Xss512k",
        "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-XX:ActiveProcessorCount=2",
        // what the heap does, next to the node's output: a heap too small for the module's tests showed as a full
        // collection every few seconds
        "-Xlog:gc:file=" + dir.resolve("logs").resolve("gc.log"),
        "-Djava.net.preferIPv4Stack=true",
        "-Dcassandra.config=" + yaml.toUri(),
        "-Dcassandra-foreground=yes",
        "-Dcassandra.storagedir=" + dir,
        "-Dcassandra.logdir=" + dir.resolve("logs"),
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        "-Dcassandra.ring_delay_ms=1000",
        "-Dcassandra.superuser_setup_delay_ms=0",
        "-Dcassandra.available_processors=2",
        "-Djdk.attach.allowAttachSelf=true"));
    if (!clustered()) {
      // what Cassandra's own tests use: schema tables are not synced or flushed on every change, which makes the
      // keyspace and tables each test creates cheap. Not on a cluster's nodes, which the tests kill: a node would
      // come back without the schema its peers have, and fail reads until it pulled it again.
      command.addAll(List.of("-Dcassandra.unsafesystem=true", "-Dcassandra.test.flush_local_schema_changes=false"));
    } else {
      // a node that missed a schema push (a message dropped on loaded cores) pulls the schema after a second, not
      // after Cassandra's default minute, and checks its peers' versions every 5 s, not every minute: with the
      // defaults, two missed pushes outlasted a store init's two-minute wait for schema agreement
      command.addAll(List.of("-Dcassandra.migration_delay_ms=1000", "-Dcassandra.schema_pull_interval_ms=5000"));
    }
    command.addAll(JDK17_FLAGS);
    String jamm = classPath().stream().filter(p -> p.contains("jamm")).findFirst().orElse(null);
    if (jamm != null) {
      command.add("-javaagent:" + jamm);
    }
    command.addAll(List.of("-cp", String.join(File.pathSeparator, classPath()),
        "org.apache.cassandra.service.CassandraDaemon"));
    Path out = dir.resolve("logs").resolve("stdout.log");
    process = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(out.toFile())).start();
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (true) {
      if (!process.isAlive()) {
        throw new IOException("Cassandra at " + address + ":" + nativePort + " exited with " + process.exitValue()
            + " while starting; its output: " + out + "\n" + tail(out));
      }
      if (accepts()) {
        return;
      }
      if (System.nanoTime() > deadline) {
        stop();
        throw new IOException("Cassandra at " + address + ":" + nativePort + " did not accept CQL connections within "
            + START_TIMEOUT + "; its output: " + out + "\n" + tail(out));
      }
      process.waitFor(100, java.util.concurrent.TimeUnit.MILLISECONDS);
    }
  }

  /** Stops the node (SIGTERM, then SIGKILL after 30 s) and waits for it to exit. */
  public synchronized void stop() {
    if (process == null) {
      return;
    }
    process.destroy();
    try {
      if (!process.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Freezes the node (SIGSTOP), as a long GC pause or a hung machine would: its sockets stay open and nothing answers
   * until {@link #thaw()}.
   */
  public synchronized void freeze() throws IOException, InterruptedException {
    signal("STOP");
  }

  /** Lets a frozen node run again (SIGCONT). */
  public synchronized void thaw() throws IOException, InterruptedException {
    signal("CONT");
  }

  private void signal(String name) throws IOException, InterruptedException {
    if (process == null || !process.isAlive()) {
      throw new IllegalStateException("node " + address + " is not running");
    }
    Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).inheritIO().start();
    if (kill.waitFor() != 0) {
      throw new IOException("kill -" + name + " " + process.pid() + " failed");
    }
  }

  /** Kills the node at once (SIGKILL), as a crash would. */
  public synchronized void kill() throws InterruptedException {
    if (process != null) {
      process.destroyForcibly().waitFor(30, java.util.concurrent.TimeUnit.SECONDS);
    }
  }

  private boolean accepts() {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(address, nativePort), 500);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** Memtable space on and off the heap each: a fifth of the heap, at most 102 MiB (a fifth of 512 MiB). */
  private int memtableMiB() {
    return Math.min(heapMiB, 512) / 5;
  }

  private String yaml() {
    return String.join("\n",
        "cluster_name: ferry-test",
        "num_tokens: 16",
        "partitioner: org.apache.cassandra.dht.Murmur3Partitioner",
        "data_file_directories:",
        "  - " + dir.resolve("data"),
        "commitlog_directory: " + dir.resolve("commitlog"),
        "saved_caches_directory: " + dir.resolve("saved_caches"),
        "hints_directory: " + dir.resolve("hints"),
        "cdc_raw_directory: " + dir.resolve("cdc_raw"),
        "commitlog_sync: periodic",
        "commitlog_sync_period: 10000ms",
        "seed_provider:",
        "  - class_name: org.apache.cassandra.locator.SimpleSeedProvider",
        "    parameters:",
        "      - seeds: \"" + seeds + "\"",
        "listen_address: " + address,
        "rpc_address: " + address,
        "storage_port: " + storagePort,
        "native_transport_port: " + nativePort,
        "start_native_transport: true",
        "endpoint_snitch: SimpleSnitch",
        "dynamic_snitch: false",
        "auto_snapshot: false",
        "snapshot_on_duplicate_row_detection: false",
        "concurrent_reads: 8",
        "concurrent_writes: 8",
        "concurrent_counter_writes: 2",
        "concurrent_materialized_view_writes: 2",
        "concurrent_compactors: 1",
        "memtable_heap_space: " + memtableMiB() + "MiB",
        "memtable_offheap_space: " + memtableMiB() + "MiB",
        "key_cache_size: 8MiB",
        "authenticator: AllowAllAuthenticator",
        "authorizer: AllowAllAuthorizer",
        "disk_failure_policy: stop",
        "commit_failure_policy: stop",
        "read_request_timeout: 10000ms",
        "range_request_timeout: 20000ms",
        "write_request_timeout: 10000ms",
        "cas_contention_timeout: 5000ms",
        // v1 is Cassandra 5.0's default; -Dferry.cassandra.paxos=v2 runs the suite on the newer protocol
        "paxos_variant: " + System.getProperty("ferry.cassandra.paxos", "v1"),
        "hinted_handoff_enabled: true",
        "");
  }

  private static List<String> classPath() {
    return Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
        .filter(p -> !p.contains("slf4j-nop"))
        .collect(Collectors.toList());
  }

  private static String tail(Path file) {
    try {
      List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(unreadable: " + e + ")";
    }
  }

  /**
   * A port for the node to bind seconds later, out of the way of other processes' ports ({@link FreePort}), and not
   * one of {@code taken} (picked for the node too, and free until it starts). {@code -Dferry.cassandra.ports=LOW-HIGH}
   * takes the first free one of that range instead, for a machine whose users share out ports (the shared node's heap
   * is {@code -Dferry.cassandra.heap-mib}, 1024 by default, for the same reason).
   */
  private static int freePort(int... taken) {
    String range = System.getProperty("ferry.cassandra.ports");
    if (range != null) {
      String[] ends = range.split("-", 2);
      for (int port = Integer.parseInt(ends[0].trim()); port <= Integer.parseInt(ends[1].trim()); port++) {
        int p = port;
        if (Arrays.stream(taken).noneMatch(t -> t == p) && FreePort.isFree(p)) {
          return p;
        }
      }
      throw new IllegalStateException("no free port in -Dferry.cassandra.ports=" + range);
    }
    try {
      while (true) {
        int port = FreePort.pick();
        if (Arrays.stream(taken).noneMatch(t -> t == port)) {
          return port;
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Cassandra's {@code jvm17-server.options}: the module exports and opens it needs on JDK 17. */
  private static final List<String> JDK17_FLAGS = List.of(
      "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
      "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
      "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
      "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
      "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
      "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
      "--add-exports=java.sql/java.sql=ALL-UNNAMED",
      "--add-exports=java.base/java.lang.ref=ALL-UNNAMED",
      "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
      "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
      "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
      "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
      "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
      "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
      "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
      "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
      "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
      "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
      "--add-opens=java.base/java.io=ALL-UNNAMED",
      "--add-opens=java.base/java.nio=ALL-UNNAMED",
      "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
      "--add-opens=java.base/java.util=ALL-UNNAMED",
      "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
      "--add-opens=java.base/java.lang=ALL-UNNAMED",
      "--add-opens=java.base/java.math=ALL-UNNAMED",
      "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
      "--add-opens=java.base/java.net=ALL-UNNAMED");
}
