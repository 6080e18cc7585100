package io.ferry.testkit;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A real {@code redis-server} (Debian's package) started by a test on a free loopback port, without persistence
 * ({@code --save '' --appendonly no}), bounded ({@code --maxmemory}, {@code allkeys-lru}), and stopped or killed by
 * the test. {@link #startCluster} makes a Redis Cluster of several such servers with {@code redis-cli --cluster
 * create}. Readiness is awaited by polling (PING until PONG, cluster_state:ok) with a deadline, never by sleeping.
 *
 * <p>Where {@code redis-server} is not installed a test is skipped with a message, except under CI ({@code CI=true}),
 * where that is a failure: CI installs it ({@code .ci/run}).
 */
public final class RedisServer implements Closeable {
  private static final Duration READY = Duration.ofSeconds(20);

  private final Process process;
  private final int port;
  private final Path dir;

  private RedisServer(Process process, int port, Path dir) {
    this.process = process;
    this.port = port;
    this.dir = dir;
  }

  /** The {@code redis-server} executable on the PATH, or null. */
  public static Path executable(String name) {
    String path = System.getenv("PATH");
    for (String d : (path == null ? "/usr/bin:/usr/local/bin" : path).split(File.pathSeparator)) {
      Path p = Path.of(d, name);
      if (Files.isExecutable(p)) {
        return p;
      }
    }
    return null;
  }

  /** Skips the calling test if redis-server and redis-cli are missing, or fails it under CI. */
  public static void assumeInstalled() {
    if (executable("redis-server") != null && executable("redis-cli") != null) {
      return;
    }
    String msg = "redis-server and redis-cli are not installed (apt-get install redis-server redis-tools)";
    if ("true".equalsIgnoreCase(System.getenv("CI"))) {
      throw new AssertionError(msg + ": CI must install them (.ci/run)");
    }
    Assumptions.abort(msg + "; skipping the Redis tests");
  }

  /** Starts a server with 256 MiB of maxmemory and {@code allkeys-lru}; {@code extra} adds or overrides options. */
  public static RedisServer start(Path dir, String... extra) throws IOException {
    return onFreePort(port -> startOn(port, dir, extra));
  }

  /** As {@link #start}, on a given port: to bring a killed server back where its clients look for it. */
  public static RedisServer startOn(int port, Path dir, String... extra) throws IOException {
    assumeInstalled();
    Files.createDirectories(dir);
    List<String> cmd = new ArrayList<>(List.of(executable("redis-server").toString(), "--port",
        Integer.toString(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
        dir.toString(), "--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru", "--protected-mode", "no"));
    cmd.addAll(List.of(extra));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(dir.resolve("redis-" + port + ".log").toFile()).start();
    RedisServer s = new RedisServer(p, port, dir);
    try {
      s.awaitReady();
    } catch (IOException | RuntimeException e) {
      s.kill();
      throw e;
    }
    return s;
  }

  /**
   * Starts a Sentinel ({@code redis-server sentinel.conf --sentinel}) watching the master at {@code masterPort} under
   * {@code masterName}, with a quorum of one, and waits until it knows the master.
   */
  public static RedisServer startSentinel(Path dir, int masterPort, String masterName) throws IOException {
    return onFreePort(port -> startSentinelOn(port, dir, masterPort, masterName));
  }

  private static RedisServer startSentinelOn(int port, Path dir, int masterPort, String masterName)
      throws IOException {
    assumeInstalled();
    Files.createDirectories(dir);
    Path conf = dir.resolve("sentinel-" + port + ".conf");
    Files.writeString(conf, "port " + port + "\nbind 127.0.0.1\ndir " + dir + "\nsentinel monitor " + masterName
        + " 127.0.0.1 " + masterPort + " 1\nsentinel down-after-milliseconds " + masterName + " 1000\n");
    Process p = new ProcessBuilder(executable("redis-server").toString(), conf.toString(), "--sentinel")
        .redirectErrorStream(true).redirectOutput(dir.resolve("redis-" + port + ".log").toFile()).start();
    RedisServer s = new RedisServer(p, port, dir);
    try {
      s.awaitReady();
      long deadline = System.nanoTime() + READY.toNanos();
      while (!String.valueOf(s.command("SENTINEL", "get-master-addr-by-name", masterName))
          .endsWith(Integer.toString(masterPort))) {
        if (System.nanoTime() > deadline) {
          throw new IOException("sentinel on port " + port + " does not know master " + masterName);
        }
        Thread.onSpinWait();
      }
    } catch (IOException | RuntimeException e) {
      s.kill();
      throw e;
    }
    return s;
  }

  /** Starts {@code masters} cluster-enabled servers and joins them into one cluster with no replicas. */
  public static List<RedisServer> startCluster(Path dir, int masters) throws IOException {
    List<RedisServer> nodes = new ArrayList<>();
    try {
      for (int i = 0; i < masters; i++) {
        nodes.add(startClusterNode(dir.resolve("node" + i)));
      }
      List<String> cmd = new ArrayList<>(List.of(executable("redis-cli").toString(), "--cluster", "create"));
      for (RedisServer n : nodes) {
        cmd.add("127.0.0.1:" + n.port);
      }
      cmd.addAll(List.of("--cluster-replicas", "0", "--cluster-yes"));
      Process create = new ProcessBuilder(cmd).redirectErrorStream(true)
          .redirectOutput(dir.resolve("cluster-create.log").toFile()).start();
      if (!create.waitFor(60, TimeUnit.SECONDS) || create.exitValue() != 0) {
        create.destroyForcibly();
        throw new IOException("redis-cli --cluster create failed: " + Files.readString(dir.resolve(
            "cluster-create.log")));
      }
      long deadline = System.nanoTime() + READY.toNanos();
      for (RedisServer n : nodes) {
        while (!n.command("CLUSTER", "INFO").contains("cluster_state:ok")) {
          if (System.nanoTime() > deadline) {
            throw new IOException("cluster node " + n.port + " not ok within " + READY + ": "
                + n.command("CLUSTER", "INFO"));
          }
          Thread.onSpinWait();
        }
      }
      return nodes;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      nodes.forEach(RedisServer::kill);
      throw new IOException("interrupted while creating the cluster", e);
    } catch (IOException | RuntimeException e) {
      nodes.forEach(RedisServer::kill);
      throw e;
    }
  }

  /**
   * A cluster node listens on its port and on its cluster bus port, each a free port; a start that loses either to
   * another process is tried again on other ports.
   */
  private static RedisServer startClusterNode(Path d) throws IOException {
    return onFreePort(port -> {
      // the bus port picked as the node's own is (--cluster-port), so that both stay in the range of ports the
      // tests may use; by default it is the port 10000 above
      int bus = FreePort.pick();
      if (bus == port) {
        throw new PortTaken("cluster bus port " + bus + " is the node's own port");
      }
      return startOn(port, d, "--cluster-enabled", "yes", "--cluster-port", Integer.toString(bus),
          "--cluster-config-file", d.resolve("nodes-" + port + ".conf").toString(), "--cluster-node-timeout", "2000",
          "--cluster-require-full-coverage", "no");
    });
  }

  /** A start on one port, which may lose that port to another process. */
  private interface Start {
    RedisServer on(int port) throws IOException;
  }

  /** A port another process took between the check that it was free and the server's bind. */
  private static final class PortTaken extends IOException {
    PortTaken(String message) {
      super(message);
    }
  }

  /**
   * Starts a server on a free port, and on another one when a process took that port between the check and the
   * server's bind ({@link FreePort} checks a port, but cannot hold it for a server in another process): a test then
   * failed with "Address already in use", or, when another Redis had taken the port, talked to that server.
   */
  private static RedisServer onFreePort(Start start) throws IOException {
    IOException last = null;
    for (int attempt = 0; attempt < 20; attempt++) {
      try {
        return start.on(FreePort.pick());
      } catch (PortTaken e) {
        last = e;
      }
    }
    throw new IOException("no Redis server started after 20 ports were taken by other processes", last);
  }

  private void awaitReady() throws IOException {
    long deadline = System.nanoTime() + READY.toNanos();
    IOException last = null;
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        String log = log();
        String m = "redis-server on port " + port + " exited with " + process.exitValue() + ": " + log;
        throw log.contains("Address already in use") ? new PortTaken(m) : new IOException(m);
      }
      String pid;
      try {
        pid = command("PING").equals("PONG") ? processId() : null;
      } catch (IOException notYet) {
        last = notYet;
        pid = null;
      }
      if (pid != null) {
        if (pid.equals(Long.toString(process.pid()))) {
          return;
        }
        // another process's server answers on this port: this one cannot bind it, and exits
        throw new PortTaken("port " + port + " is taken: the Redis server of process " + pid + " answers there");
      }
      Thread.onSpinWait();
    }
    throw new IOException("redis-server on port " + port + " did not answer PING within " + READY + ": " + log(),
        last);
  }

  /** The process id of the server answering on the port ({@code INFO server}), or null when it does not say. */
  private String processId() throws IOException {
    for (String line : command("INFO", "server").split("\r?\n")) {
      if (line.startsWith("process_id:")) {
        return line.substring("process_id:".length()).trim();
      }
    }
    return null;
  }

  private String log() {
    try {
      return Files.readString(dir.resolve("redis-" + port + ".log"));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  /** The port it listens on (127.0.0.1). */
  public int port() {
    return port;
  }

  /** {@code redis://127.0.0.1:<port>}. */
  public String uri() {
    return "redis://127.0.0.1:" + port;
  }

  /** Whether the process runs. */
  public boolean alive() {
    return process.isAlive();
  }

  /**
   * Sends one command over a fresh connection (RESP) and returns the reply: a simple or bulk string, an integer as
   * text, {@code null} for a null bulk, or the elements of an array joined by newlines.
   *
   * @throws IOException on a connection failure or an error reply (its message)
   */
  public String command(String... args) throws IOException {
    return command(args.length == 0 ? new byte[0][] : toBytes(args));
  }

  private static byte[][] toBytes(String... args) {
    byte[][] b = new byte[args.length][];
    for (int i = 0; i < args.length; i++) {
      b[i] = args[i].getBytes(StandardCharsets.UTF_8);
    }
    return b;
  }

  /** As {@link #command(String...)}, with binary arguments (e.g. a value to SET). */
  public String command(byte[]... args) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 2000);
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      ByteArrayOutputStream req = new ByteArrayOutputStream();
      req.write(("*" + args.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
      for (byte[] a : args) {
        req.write(("$" + a.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
        req.write(a);
        req.write("\r\n".getBytes(StandardCharsets.US_ASCII));
      }
      out.write(req.toByteArray());
      out.flush();
      return reply(new BufferedInputStream(s.getInputStream()));
    }
  }

  /** The raw value of a key (GET), or null. */
  public byte[] getBytes(String key) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 2000);
      s.setSoTimeout(10_000);
      byte[][] args = toBytes("GET", key);
      ByteArrayOutputStream req = new ByteArrayOutputStream();
      req.write(("*2\r\n").getBytes(StandardCharsets.US_ASCII));
      for (byte[] a : args) {
        req.write(("$" + a.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
        req.write(a);
        req.write("\r\n".getBytes(StandardCharsets.US_ASCII));
      }
      s.getOutputStream().write(req.toByteArray());
      InputStream in = new BufferedInputStream(s.getInputStream());
      String head = line(in);
      if (head.startsWith("-")) {
        throw new IOException(head.substring(1));
      }
      int n = Integer.parseInt(head.substring(1));
      if (n < 0) {
        return null;
      }
      byte[] v = in.readNBytes(n);
      line(in);
      return v;
    }
  }

  private static String reply(InputStream in) throws IOException {
    String head = line(in);
    char t = head.charAt(0);
    String rest = head.substring(1);
    switch (t) {
      case '+', ':' -> {
        return rest;
      }
      case '-' -> throw new IOException(rest);
      case '$' -> {
        int n = Integer.parseInt(rest);
        if (n < 0) {
          return null;
        }
        byte[] v = in.readNBytes(n);
        line(in);
        return new String(v, StandardCharsets.UTF_8);
      }
      case '*' -> {
        int n = Integer.parseInt(rest);
        List<String> items = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          items.add(reply(in));
        }
        return String.join("\n", items);
      }
      default -> throw new IOException("unexpected RESP reply: " + head);
    }
  }

  private static String line(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int c;
    while ((c = in.read()) != -1) {
      if (c == '\r') {
        in.read();
        return b.toString(StandardCharsets.UTF_8);
      }
      b.write(c);
    }
    throw new IOException("connection closed in the middle of a reply");
  }

  /** Kills the server at once (SIGKILL), as a crash would, and waits for the process to end. */
  public void kill() {
    process.destroyForcibly();
    try {
      process.waitFor(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Stops the server (kill: it holds nothing worth saving). */
  @Override
  public void close() {
    kill();
  }
}
