package io.ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.cli.FerryCli;
import io.ferry.codec.CodecPolicy;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.store.http.HttpBackend;
import io.ferry.store.http.HttpSettings;
import io.ferry.testkit.DirectoryState;
import io.ferry.testkit.FreePort;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import io.ferry.transfer.PullOptions;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/**
 * Three {@code ferry serve} processes (child JVMs of the CLI's main class) over one local store, tokens made with
 * {@code ferry token create}; 32 clients pull one model at once through {@code http://a,http://b,http://c}: Java API
 * clients in this JVM, {@code ferry pull} processes and Python client processes. One server is killed (SIGKILL) while
 * the pulls run and later started again on its port. Every pull is byte-identical to the model pushed, the killed
 * server's requests go to the other two while it is away (their access logs), and once back it takes requests again.
 * Without python3 and numpy the test is skipped, except under {@code CI=true}, where it fails.
 */
@Timeout(150)
class ServeProcessesTest {
  static final int CLI_CLIENTS = 3;
  static final int PYTHON_CLIENTS = 3;
  static final int JAVA_CLIENTS = 32 - CLI_CLIENTS - PYTHON_CLIENTS;
  static final String MODEL = "org/m:prod";
  static final String CHUNKS = "/v1/store/chunks/";
  static final Pattern LISTENING = Pattern.compile("listening on (https?://\\S+)");

  private final List<Process> processes = new ArrayList<>();
  private final List<String> phases = new ArrayList<>();
  private long begin;

  private void phase(String what) {
    phases.add(what + " " + (System.nanoTime() - begin) / 1_000_000 + " ms (CPU of this JVM " + cpuMillis() + " ms)");
  }

  @Test
  void thirtyTwoPullsSurviveAServerKilledAndRestarted() throws Exception {
    begin = System.nanoTime();
    phase("start");
    String python = Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
    Path client = PythonClientTest.clientDir();
    Path work = Files.createDirectories(Path.of("target", "serve-processes")).toAbsolutePath();
    deleteTree(work);
    Files.createDirectories(work);
    if (!pythonWithNumpy(python, work)) {
      String why = python + " with numpy is not available";
      assertThat("true".equals(System.getenv("CI"))).as("CI=true needs " + why).isFalse();
      Assumptions.abort(why);
    }

    // a 3 MiB model of 12 tensors of 256 KiB: each tensor is a chunk of its own, read by a few requests
    List<Tensor> tensors = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      tensors.add(new Tensor("layers." + i + ".weight", DType.BF16, new long[] {256, 512}, 100 + i));
    }
    Path src = work.resolve("src");
    ModelGenerator.writeHfModel(src, tensors, 1L << 20);
    Map<String, String> want = DirectoryState.of(src);
    Path store = work.resolve("store");
    try (Repository repo = Ferry.open(store.toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, MODEL, PushOptions.builder().codec(CodecPolicy.parse("none")).message("m").build());
    }

    phase("pushed");
    Path tokens = work.resolve("tokens.json");
    Map<String, String> token = new HashMap<>();
    List<String> names = new ArrayList<>(List.of("java"));
    for (int i = 0; i < CLI_CLIENTS; i++) {
      names.add("cli-" + i);
    }
    for (int i = 0; i < PYTHON_CLIENTS; i++) {
      names.add("py-" + i);
    }
    for (String name : names) {
      token.put(name, tokenCreate(tokens, name));
    }

    Server[] servers = new Server[3];
    ExecutorService pool = Executors.newFixedThreadPool(JAVA_CLIENTS);
    List<Repository> javaClients = new ArrayList<>();
    try {
      for (int i = 0; i < 3; i++) {
        servers[i] = new Server(work, store, tokens, i);
        // the second is killed and started again on its port: one that no other process is handed meanwhile
        servers[i].start(i == 1 ? FreePort.pick() : 0);
      }
      for (Server s : servers) {
        s.awaitListening();
      }
      phase("servers up");
      String uris = servers[0].url + "," + servers[1].url + "," + servers[2].url;
      String storeUri = uris + "?probe_min_ms=20&probe_max_ms=200";

      // the processes first (their JVMs and interpreters take a moment to start), then the Java clients
      List<Process> external = new ArrayList<>();
      List<String> externalNames = new ArrayList<>();
      for (int i = 0; i < CLI_CLIENTS; i++) {
        String name = "cli-" + i;
        external.add(start(work, name, token.get(name), javaCommand(
            "pull", MODEL, work.resolve("out-" + name).toString(), "--store", storeUri)));
        externalNames.add(name);
      }
      for (int i = 0; i < PYTHON_CLIENTS; i++) {
        String name = "py-" + i;
        ProcessBuilder pb = new ProcessBuilder(python, "-c", PYTHON_PULL, uris, MODEL,
            work.resolve("out-" + name).toString());
        pb.environment().put("PYTHONPATH", client.toString());
        pb.environment().put("PYTHONDONTWRITEBYTECODE", "1");
        external.add(start(pb, work, name, token.get(name)));
        externalNames.add(name);
      }
      StoreOptions javaOptions = StoreOptions.existing().withSettings(Map.of(HttpSettings.TOKEN, token.get("java")));
      for (int i = 0; i < JAVA_CLIENTS; i++) {
        javaClients.add(Ferry.open(storeUri, javaOptions, RepositoryOptions.defaults().withParallelism(2)));
      }
      await("every client process to make its first request", 60, () -> {
        for (int i = 0; i < external.size(); i++) {
          if (external.get(i).isAlive() && requests(servers, externalNames.get(i), "") == 0) {
            return false;
          }
        }
        return true;
      });

      phase("processes requesting");
      List<Future<?>> pulls = new ArrayList<>();
      for (int i = 0; i < JAVA_CLIENTS; i++) {
        Repository r = javaClients.get(i);
        Path dest = work.resolve("out-java-" + i);
        pulls.add(pool.submit(() -> r.pull(MODEL, dest, PullOptions.defaults()).id()));
      }
      BooleanSupplier allDone = () -> pulls.stream().allMatch(Future::isDone)
          && external.stream().noneMatch(Process::isAlive);

      // kill the second server once it has served its share of a few pulls
      int perPull = tensors.size();
      await("the second server to serve " + perPull + " chunk requests", 60,
          () -> servers[1].log.count(CHUNKS, null) >= perPull || allDone.getAsBoolean());
      phase("kill");
      long inFlight = pulls.stream().filter(f -> !f.isDone()).count()
          + external.stream().filter(Process::isAlive).count();
      servers[1].kill();
      long[] atKill = chunkCounts(servers);
      await("the two others to serve " + perPull * 8 + " chunk requests after the kill", 60,
          () -> {
            long[] now = chunkCounts(servers);
            return now[0] + now[2] - atKill[0] - atKill[2] >= perPull * 8L || allDone.getAsBoolean();
          });
      phase("restart");
      long[] whileAway = minus(chunkCounts(servers), atKill);
      servers[1].start(servers[1].port);
      servers[1].awaitListening();

      for (Future<?> f : pulls) {
        f.get(90, TimeUnit.SECONDS);
      }
      for (int i = 0; i < external.size(); i++) {
        Process p = external.get(i);
        assertThat(p.waitFor(90, TimeUnit.SECONDS)).as("%s finished", externalNames.get(i)).isTrue();
        assertThat(p.exitValue()).as("exit code of %s; output:%n%s", externalNames.get(i),
            output(work, externalNames.get(i))).isZero();
      }
      phase("pulls done");
      List<String> outs = new ArrayList<>(externalNames);
      for (int i = 0; i < JAVA_CLIENTS; i++) {
        outs.add("java-" + i);
      }
      for (String o : outs) {
        assertThat(DirectoryState.of(work.resolve("out-" + o))).as("the pull of %s", o).isEqualTo(want);
      }
      assertThat(inFlight).as("pulls running when the server was killed").isGreaterThanOrEqualTo(JAVA_CLIENTS / 2);
      assertThat(whileAway[1]).as("chunk requests the killed server served while away").isZero();
      assertThat(whileAway[0]).as("chunk requests the first server served while the second was away").isPositive();
      assertThat(whileAway[2]).as("chunk requests the third server served while the second was away").isPositive();
      assertThat(whileAway[0] + whileAway[2]).as("chunk requests the other two served while the second was away")
          .isGreaterThanOrEqualTo(perPull * 4L);
      for (String name : names) {
        assertThat(requests(servers, name, CHUNKS)).as("chunk requests of %s", name).isPositive();
      }

      // back on its port: the clients' probes find it and it takes requests again
      for (Repository r : javaClients) {
        HttpBackend b = (HttpBackend) r.backend();
        await("the restarted server to be up for every Java client", 30, () -> !b.stats().get(1).down());
      }
      phase("probed back");
      long before = servers[1].log.count(CHUNKS, "java");
      List<Future<?>> again = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        Repository r = javaClients.get(i);
        Path dest = work.resolve("again-" + i);
        again.add(pool.submit(() -> r.pull(MODEL, dest, PullOptions.defaults()).id()));
      }
      for (int i = 0; i < again.size(); i++) {
        again.get(i).get(60, TimeUnit.SECONDS);
        assertThat(DirectoryState.of(work.resolve("again-" + i))).isEqualTo(want);
      }
      // a server writes a request's access-log line after its response is complete: the pulls can end before it does
      await("the restarted server to log a chunk request", 60, () -> servers[1].log.count(CHUNKS, "java") > before);
      assertThat(servers[1].log.count(CHUNKS, "java")).as("chunk requests of the restarted server")
          .isGreaterThan(before);
      List<String> serverCpu = new ArrayList<>();
      for (Server s : servers) {
        serverCpu.add(s.process.info().totalCpuDuration().map(d -> d.toMillis() + " ms").orElse("?"));
      }
      long testCpu = cpuMillis();
      System.out.printf("ServeProcessesTest: %d pulls, %d in flight at the kill; chunk requests per server %s,"
              + " while the second was away %s; CPU of the servers at the end %s, of the test JVM so far %d ms;"
              + " phases %s; whole test %d ms%n", 32, inFlight,
          java.util.Arrays.toString(chunkCounts(servers)), java.util.Arrays.toString(whileAway), serverCpu, testCpu,
          phases,
          (System.nanoTime() - begin) / 1_000_000);
    } finally {
      pool.shutdownNow();
      for (Repository r : javaClients) {
        r.close();
      }
      for (Process p : processes) {
        p.destroyForcibly();
      }
      for (Process p : processes) {
        p.waitFor(30, TimeUnit.SECONDS);
      }
    }
    deleteTree(work);
  }

  /** CPU time of this JVM so far (what the test adds to the module's test JVM, after its start). */
  private static long cpuMillis() {
    return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
        .getOperatingSystemMXBean()).getProcessCpuTime() / 1_000_000;
  }

  /** Downloads a model with the Python client: argv = server URLs, ref, destination; the token from FERRY_TOKEN. */
  static final String PYTHON_PULL = String.join("\n",
      "import os, sys, ferry",
      "c = ferry.Client(sys.argv[1], token=os.environ['FERRY_TOKEN'])",
      "r = c.model(sys.argv[2]).download(sys.argv[3])",
      "print('fetched', len(r['fetched']), 'files,', r['bytes'], 'bytes')");

  /** A {@code ferry serve} child process writing its access log to a file that survives restarts. */
  private final class Server {
    final Path work;
    final Path store;
    final Path tokens;
    final int index;
    final AccessLogs log = new AccessLogs();
    Process process;
    int port;
    String url;
    int starts;

    Server(Path work, Path store, Path tokens, int index) {
      this.work = work;
      this.store = store;
      this.tokens = tokens;
      this.index = index;
    }

    void start(int listenPort) throws IOException {
      String name = "server-" + index + "-" + starts++;
      Path accessLog = work.resolve(name + ".access.log");
      log.add(new AccessLog(accessLog));
      process = ServeProcessesTest.this.start(work, name, null, javaCommand("serve", "--store", store.toString(),
          "--listen", "127.0.0.1:" + listenPort, "--tokens", tokens.toString(), "--access-log", accessLog.toString()));
    }

    void awaitListening() throws Exception {
      Path out = work.resolve("server-" + index + "-" + (starts - 1) + ".out");
      String[] found = new String[1];
      await("server " + index + " to listen", 60, () -> {
        assertThat(process.isAlive()).as("server %d is running; output:%n%s", index, read(out)).isTrue();
        Matcher m = LISTENING.matcher(read(out));
        if (m.find()) {
          found[0] = m.group(1);
          return true;
        }
        return false;
      });
      url = found[0].replaceAll("/+$", "");
      port = Integer.parseInt(url.substring(url.lastIndexOf(':') + 1));
    }

    void kill() throws InterruptedException {
      process.destroyForcibly();
      assertThat(process.waitFor(30, TimeUnit.SECONDS)).as("server %d killed", index).isTrue();
    }
  }

  /** The access logs of one server, one per process it ran (a killed process may leave half a line). */
  private static final class AccessLogs {
    private final List<AccessLog> logs = new java.util.concurrent.CopyOnWriteArrayList<>();

    void add(AccessLog l) {
      logs.add(l);
    }

    long count(String prefix, String who) {
      return logs.stream().mapToLong(l -> l.count(prefix, who)).sum();
    }
  }

  /** Counts the lines of an access log as it grows: all requests and chunk requests, by who (the token's name). */
  private static final class AccessLog {
    final Path file;
    private long position;
    private final StringBuilder partial = new StringBuilder();
    private final Map<String, Long> all = new HashMap<>();
    private final Map<String, Long> chunks = new HashMap<>();

    AccessLog(Path file) {
      this.file = file;
    }

    /** Requests ({@code prefix} "") or chunk requests ({@link #CHUNKS}) of {@code who}, or of everyone if null. */
    synchronized long count(String prefix, String who) {
      refresh();
      Map<String, Long> m = prefix.isEmpty() ? all : chunks;
      return who == null ? m.values().stream().mapToLong(Long::longValue).sum() : m.getOrDefault(who, 0L);
    }

    private void refresh() {
      if (!Files.exists(file)) {
        return;
      }
      try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
        long length = f.length();
        if (length <= position) {
          return;
        }
        byte[] b = new byte[(int) (length - position)];
        f.seek(position);
        f.readFully(b);
        position = length;
        partial.append(new String(b, StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new AssertionError("reading " + file + ": " + e.getMessage(), e);
      }
      int nl;
      while ((nl = partial.indexOf("\n")) >= 0) {
        // time remote who method path status bytes ms
        String[] w = partial.substring(0, nl).split(" ");
        partial.delete(0, nl + 1);
        if (w.length == 8) {
          all.merge(w[2], 1L, Long::sum);
          if (w[4].startsWith(CHUNKS)) {
            chunks.merge(w[2], 1L, Long::sum);
          }
        }
      }
    }
  }

  private static long requests(Server[] servers, String who, String prefix) {
    long n = 0;
    for (Server s : servers) {
      n += s.log.count(prefix, who);
    }
    return n;
  }

  private static long[] chunkCounts(Server[] servers) {
    long[] c = new long[servers.length];
    for (int i = 0; i < servers.length; i++) {
      c[i] = servers[i].log.count(CHUNKS, null);
    }
    return c;
  }

  private static long[] minus(long[] a, long[] b) {
    long[] out = new long[a.length];
    for (int i = 0; i < a.length; i++) {
      out[i] = a[i] - b[i];
    }
    return out;
  }

  /** {@code ferry token create} in this JVM; returns the token, the last word of its output. */
  private static String tokenCreate(Path tokens, String name) {
    CommandLine cmd = FerryCli.commandLine();
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    int code = cmd.execute("token", "create", "--tokens", tokens.toString(), "--scope", "read:org/*", "--name", name);
    assertThat(code).as("ferry token create: %s", err).isZero();
    String[] words = out.toString().strip().split("\\s+");
    return words[words.length - 1];
  }

  /** The CLI's main class in a child JVM, as the launcher runs it (small heap, serial GC, quick start). */
  private static List<String> javaCommand(String... args) {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dferry.stderr.tty=0",
        "-cp", System.getProperty("java.class.path"), FerryCli.class.getName()));
    cmd.addAll(List.of(args));
    return cmd;
  }

  private Process start(Path work, String name, String tokenValue, List<String> command) throws IOException {
    return start(new ProcessBuilder(command), work, name, tokenValue);
  }

  /** Starts a child process, its output in {@code NAME.out}, the token (if any) in its environment. */
  private Process start(ProcessBuilder pb, Path work, String name, String tokenValue) throws IOException {
    pb.directory(work.toFile()).redirectErrorStream(true).redirectOutput(work.resolve(name + ".out").toFile());
    pb.environment().remove("FERRY_TOKEN");
    if (tokenValue != null) {
      pb.environment().put("FERRY_TOKEN", tokenValue);
    }
    for (String proxy : List.of("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")) {
      pb.environment().remove(proxy); // the servers are on loopback
    }
    Process p = pb.start();
    processes.add(p);
    return p;
  }

  private static String output(Path work, String name) {
    return read(work.resolve(name + ".out"));
  }

  private static String read(Path file) {
    try {
      return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
    } catch (IOException e) {
      throw new AssertionError("reading " + file + ": " + e.getMessage(), e);
    }
  }

  private static boolean pythonWithNumpy(String python, Path work) throws Exception {
    try {
      Process p = new ProcessBuilder(python, "-c", "import numpy").redirectErrorStream(true)
          .redirectOutput(work.resolve("probe.out").toFile()).start();
      return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    }
  }

  /** Waits for a condition, polling every 20 ms, failing after {@code seconds}. */
  private static void await(String what, int seconds, BooleanSupplier condition) {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError("timed out after " + seconds + " s waiting for " + what);
      }
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
