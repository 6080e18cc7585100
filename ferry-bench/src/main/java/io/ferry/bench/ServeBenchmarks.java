package io.ferry.bench;

import io.ferry.Ferry;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.PullOptions;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Section "serve": {@code ferry serve} on loopback. (1) A fresh {@code ./ferry pull} through one server against the
 * same pull from the store directly (the issue asks ≥ 0.8×). (2) Three servers and 32 Java API clients in this JVM
 * pulling one model at once: aggregate throughput against one client pulling from the store directly, p50/p99 of the
 * chunk requests (server side, from the access logs) and the servers' peak RSS (from /proc). (3) One of three servers
 * slowed by a fault proxy in this JVM that holds back the start of each of its answers: p99 of a pull with hedging
 * against the same pulls without ({@code hedge=false}). Servers are {@code ./ferry serve} child processes without
 * tokens (a development server: loopback only).
 */
final class ServeBenchmarks {
  static final int CLIENTS = 32;
  private static final Pattern LISTENING = Pattern.compile("listening on (https?://\\S+)");

  private final Proc proc;
  private final String ferry;
  private final Path work;
  private final int runs;
  private final Consumer<String> say;
  private final BiConsumer<String, Figure> add;
  private final BiConsumer<String, String> note;

  ServeBenchmarks(Proc proc, String ferry, Path work, int runs, Consumer<String> say, BiConsumer<String, Figure> add,
      BiConsumer<String, String> note) {
    this.proc = proc;
    this.ferry = ferry;
    this.work = work;
    this.runs = runs;
    this.say = say;
    this.add = add;
    this.note = note;
  }

  /**
   * @param model the model directory the store holds as {@code bench}
   * @param store a local store holding it (codec none)
   * @param small a smaller model's store (as {@code bench}), pulled by the 32 clients and the hedging runs
   * @param smallBytes that model's size
   */
  void run(Path model, Path store, long modelBytes, Path small, long smallBytes) throws Exception {
    say.accept("10. serving: ferry serve on loopback");
    onePull(store, modelBytes);
    threeServers(small, smallBytes);
    hedging(small, smallBytes);
  }

  // ------------------------------------------------------------------ one server vs the store

  private void onePull(Path store, long bytes) throws Exception {
    Path dst = work.resolve("serve-dst");
    double direct = Double.MAX_VALUE;
    double served = Double.MAX_VALUE;
    Proc.Run directBest = null;
    Proc.Run servedBest = null;
    try (Server s = Server.start(ferry, work, store, "one")) {
      clean(dst);
      proc.run(List.of(ferry, "pull", "--store", s.url, "bench", dst.toString()), Map.of(), null); // warms the server
      for (int i = 0; i < runs; i++) {
        clean(dst);
        Proc.Run d = proc.run(List.of(ferry, "pull", "--store", store.toString(), "bench", dst.toString()), Map.of(),
            null);
        if (d.wallS() < direct) {
          direct = d.wallS();
          directBest = d;
        }
        clean(dst);
        Proc.Run h = proc.run(List.of(ferry, "pull", "--store", s.url, "bench", dst.toString()), Map.of(), null);
        if (h.wallS() < served) {
          served = h.wallS();
          servedBest = h;
        }
        say.accept(String.format(Locale.ROOT, "  round %d: pull from the store %.2f s, through one server %.2f s",
            i + 1, d.wallS(), h.wallS()));
      }
      clean(dst);
      String what = "serving: pull of a " + Benchmarks.human(bytes) + " model (codec none) through `ferry serve`"
          + " on loopback";
      add.accept(what, new Figure("`ferry pull --store DIR` (fresh process)", direct,
          "`ferry pull --store http://…` (fresh process, one server)", served, true, 0.8,
          String.format(Locale.ROOT, "%s through the server; client CPU %.2f s (direct %.2f s); client peak RSS %s;"
              + " server peak RSS %s", gbps(bytes, served), servedBest.cpuS(), directBest.cpuS(),
              mb(servedBest.maxRssKb()), mb(s.peakRssKb()))));
    }
  }

  // ------------------------------------------------------------------ three servers, 32 clients

  private void threeServers(Path store, long bytes) throws Exception {
    double one = Double.MAX_VALUE;
    try (Repository direct = Ferry.open(store.toString())) {
      for (int i = 0; i < runs; i++) {
        Path dst = work.resolve("serve-one");
        clean(dst);
        long t = System.nanoTime();
        direct.pull("bench", dst, PullOptions.defaults());
        one = Math.min(one, (System.nanoTime() - t) / 1e9);
        clean(dst);
      }
    }
    double all = Double.MAX_VALUE;
    double serverCpu = 0;
    long[] rss = new long[3];
    List<Long> latencies = new ArrayList<>();
    try (Server a = Server.start(ferry, work, store, "a"); Server b = Server.start(ferry, work, store, "b");
        Server c = Server.start(ferry, work, store, "c")) {
      String uri = a.url + "," + b.url + "," + c.url;
      List<Repository> clients = new ArrayList<>();
      ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
      try {
        for (int i = 0; i < CLIENTS; i++) {
          clients.add(Ferry.open(uri, StoreOptions.existing(), RepositoryOptions.defaults().withParallelism(2)));
        }
        for (int r = 0; r < runs + 1; r++) { // the first round warms the servers' JIT and is not counted
          List<Future<?>> pulls = new ArrayList<>();
          long[] before = {a.chunkLines(), b.chunkLines(), c.chunkLines()};
          double cpuBefore = a.cpuSeconds() + b.cpuSeconds() + c.cpuSeconds();
          long t = System.nanoTime();
          for (int i = 0; i < CLIENTS; i++) {
            Repository client = clients.get(i);
            Path dst = work.resolve("serve-c" + i);
            clean(dst);
            pulls.add(pool.submit(() -> client.pull("bench", dst, PullOptions.defaults())));
          }
          for (Future<?> f : pulls) {
            f.get(30, TimeUnit.MINUTES);
          }
          double wall = (System.nanoTime() - t) / 1e9;
          say.accept(String.format(Locale.ROOT, "  round %d: %d pulls through three servers in %.2f s%s", r,
              CLIENTS, wall, r == 0 ? " (warm-up)" : ""));
          if (r > 0 && wall < all) {
            all = wall;
            serverCpu = a.cpuSeconds() + b.cpuSeconds() + c.cpuSeconds() - cpuBefore;
            latencies.clear();
            latencies.addAll(a.chunkMillis(before[0]));
            latencies.addAll(b.chunkMillis(before[1]));
            latencies.addAll(c.chunkMillis(before[2]));
          }
          for (int i = 0; i < CLIENTS; i++) {
            clean(work.resolve("serve-c" + i));
          }
        }
      } finally {
        pool.shutdownNow();
        for (Repository r : clients) {
          r.close();
        }
      }
      rss = new long[] {a.peakRssKb(), b.peakRssKb(), c.peakRssKb()};
    }
    long[] ms = latencies.stream().mapToLong(Long::longValue).sorted().toArray();
    String what = "serving: " + CLIENTS + " clients pulling a " + Benchmarks.human(bytes) + " model at once through"
        + " three servers (loopback, one machine)";
    add.accept(what, new Figure("one `Repository.pull` from the store directly", one,
        CLIENTS + " `Repository.pull` through `http://a,http://b,http://c`, per model", all / CLIENTS, true,
        Double.NaN, String.format(Locale.ROOT, "aggregate %s (one direct client %s); %d chunk requests, p50 %d ms,"
            + " p99 %d ms (server side, access logs, frame-header reads included); server CPU %.2f s in all, %.2f ms"
            + " per chunk request, %.2f s per GB served; server peak RSS %s", gbps(bytes * CLIENTS, all),
            gbps(bytes, one), ms.length, pct(ms, 0.50), pct(ms, 0.99), serverCpu,
            ms.length == 0 ? 0 : 1000 * serverCpu / ms.length, serverCpu / (bytes * CLIENTS / 1e9),
            Arrays.stream(rss).mapToObj(ServeBenchmarks::mb).toList())));
    note.accept(what, "The clients are threads of the bench's JVM (each its own `Repository` over the three servers,"
        + " two workers each), so clients and servers share this machine's cores: the aggregate is a lower bound of"
        + " what three servers on their own machines deliver. Server CPU is user + system time of the three server"
        + " processes (/proc) over the measured round.");
  }

  // ------------------------------------------------------------------ one slow server: hedging

  private void hedging(Path store, long bytes) throws Exception {
    int pulls = Math.max(20, runs * 10);
    int delayMs = 50;
    double[] p99 = new double[2];
    double[] p50 = new double[2];
    try (Server a = Server.start(ferry, work, store, "slow"); Server b = Server.start(ferry, work, store, "fast1");
        Server c = Server.start(ferry, work, store, "fast2");
        SlowProxy slow = new SlowProxy(a.port(), delayMs)) {
      String servers = "http://127.0.0.1:" + slow.port() + "," + b.url + "," + c.url;
      for (int mode = 0; mode < 2; mode++) {
        boolean hedge = mode == 1;
        List<Double> times = new ArrayList<>();
        try (Repository client = Ferry.open(servers + "?hedge=" + hedge + "&balance=round-robin",
            StoreOptions.existing(), RepositoryOptions.defaults())) {
          Path dst = work.resolve("serve-hedge");
          for (int i = 0; i < pulls + 2; i++) {
            clean(dst);
            long t = System.nanoTime();
            client.pull("bench", dst, PullOptions.defaults());
            if (i >= 2) { // two warm-up pulls fill the latency window the hedging reads from
              times.add((System.nanoTime() - t) / 1e9);
            }
          }
          clean(dst);
        }
        double[] sorted = times.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        p99[mode] = sorted[Math.min(sorted.length - 1, (int) Math.ceil(0.99 * sorted.length) - 1)];
        p50[mode] = sorted[sorted.length / 2];
        say.accept(String.format(Locale.ROOT, "  hedge=%s: %d pulls, p50 %.3f s, p99 %.3f s", hedge, pulls,
            p50[mode], p99[mode]));
      }
    }
    String what = "serving: one of three servers slowed by a fault proxy (each answer starts "
        + delayMs + " ms late), pulls of a " + Benchmarks.human(bytes) + " model, round-robin";
    add.accept(what, new Figure("p99 of a pull, `hedge=false`", p99[0], "p99 of a pull, hedging (default)", p99[1],
        false, Double.NaN, String.format(Locale.ROOT, "p50 %.3f s without, %.3f s with; %d pulls each", p50[0],
        p50[1], pulls)));
    note.accept(what, "The fault proxy forwards requests at once and holds back the start of each of the slow"
        + " server's answers by " + delayMs + " ms, so that server's chunk reads run far past the recent p95"
        + " and a hedged read asks another server. Round-robin sends a third of the reads to it either way, so"
        + " the figure isolates hedging from least-outstanding balancing (which also steers around a slow"
        + " server).");
  }

  // ------------------------------------------------------------------ helpers

  private void clean(Path dir) throws IOException {
    if (Files.exists(dir)) {
      proc.quiet("rm", "-rf", dir.toString());
    }
  }

  private static long pct(long[] sorted, double p) {
    if (sorted.length == 0) {
      return -1;
    }
    return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1)];
  }

  private static String gbps(long bytes, double s) {
    return String.format(Locale.ROOT, "%.2f GB/s", bytes / s / 1e9);
  }

  private static String mb(long kb) {
    return kb < 0 ? "?" : (kb >> 10) + " MiB";
  }

  /** A {@code ./ferry serve} child process (development server on a free loopback port) with its access log. */
  private static final class Server implements AutoCloseable {
    final Process process;
    final Path accessLog;
    final String url;

    private Server(Process process, Path accessLog, String url) {
      this.process = process;
      this.accessLog = accessLog;
      this.url = url;
    }

    static Server start(String ferry, Path work, Path store, String name) throws IOException {
      Path dir = Files.createDirectories(work.resolve("scratch").resolve("serve-" + name));
      Path log = dir.resolve("access.log");
      Path out = dir.resolve("out.txt");
      Files.deleteIfExists(log);
      Process p = new ProcessBuilder(ferry, "serve", "--store", store.toString(), "--listen", "127.0.0.1:0",
          "--access-log", log.toString()).redirectErrorStream(true).redirectOutput(out.toFile()).start();
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (System.nanoTime() < end) {
        String text = Files.readString(out, StandardCharsets.UTF_8);
        Matcher m = LISTENING.matcher(text);
        if (m.find()) {
          return new Server(p, log, m.group(1).replaceAll("/+$", ""));
        }
        if (!p.isAlive()) {
          throw new IOException("ferry serve exited " + p.exitValue() + ": " + text);
        }
        try {
          Thread.sleep(20);
        } catch (InterruptedException e) {
          p.destroyForcibly();
          Thread.currentThread().interrupt();
          throw new InterruptedIOException("waiting for ferry serve");
        }
      }
      p.destroyForcibly();
      throw new IOException("ferry serve did not say where it listens within 120 s: "
          + Files.readString(out, StandardCharsets.UTF_8));
    }

    int port() {
      return Integer.parseInt(url.substring(url.lastIndexOf(':') + 1));
    }

    /** User + system CPU seconds of the server process so far (/proc/PID/stat, in clock ticks of 1/100 s). */
    double cpuSeconds() {
      try {
        String stat = Files.readString(Path.of("/proc", Long.toString(process.pid()), "stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0; // utime, stime: fields 14 and 15
      } catch (IOException | RuntimeException e) {
        return 0;
      }
    }

    /** Peak resident set of the server process so far (VmHWM), in KiB; -1 if unknown. */
    long peakRssKb() {
      try {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(process.pid()), "status"))) {
          if (line.startsWith("VmHWM:")) {
            return Long.parseLong(line.replaceAll("[^0-9]", ""));
          }
        }
      } catch (IOException | NumberFormatException e) {
        return -1;
      }
      return -1;
    }

    private List<String[]> chunkRequests() throws IOException {
      List<String[]> out = new ArrayList<>();
      if (!Files.exists(accessLog)) {
        return out;
      }
      for (String line : Files.readAllLines(accessLog, StandardCharsets.UTF_8)) {
        String[] w = line.split(" "); // time remote who method path status bytes ms
        if (w.length == 8 && w[4].startsWith("/v1/store/chunks/") && w[5].startsWith("2")) {
          out.add(w);
        }
      }
      return out;
    }

    long chunkLines() throws IOException {
      return chunkRequests().size();
    }

    /** The durations of the successful chunk requests after the first {@code skip}, in ms. */
    List<Long> chunkMillis(long skip) throws IOException {
      return chunkRequests().stream().skip(skip).map(w -> Long.parseLong(w[7].replace("ms", ""))).toList();
    }

    @Override
    public void close() throws IOException {
      process.destroy();
      try {
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
          process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * A TCP proxy on loopback in front of one server: bytes from the client go through at once; bytes from the server
   * that follow a pause of more than 2 ms (the start of an answer) wait {@code delayMs} before they are passed on, so
   * each answer starts late and then streams at full speed. One thread pair per connection.
   */
  private static final class SlowProxy implements AutoCloseable {
    private static final long IDLE_NANOS = TimeUnit.MILLISECONDS.toNanos(2);
    private final ServerSocket listener;
    private final int target;
    private final int delayMs;
    private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "slow-proxy");
      t.setDaemon(true);
      return t;
    });
    private final List<Socket> open = new ArrayList<>();

    SlowProxy(int target, int delayMs) throws IOException {
      this.target = target;
      this.delayMs = delayMs;
      this.listener = new ServerSocket();
      listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
      threads.submit(this::accept);
    }

    int port() {
      return listener.getLocalPort();
    }

    private void accept() {
      while (!listener.isClosed()) {
        try {
          Socket client = listener.accept();
          Socket server = new Socket(InetAddress.getLoopbackAddress(), target);
          client.setTcpNoDelay(true);
          server.setTcpNoDelay(true);
          synchronized (open) {
            open.add(client);
            open.add(server);
          }
          threads.submit(() -> pipe(client, server, 0));
          threads.submit(() -> pipe(server, client, delayMs));
        } catch (IOException e) {
          return; // closed
        }
      }
    }

    private static void pipe(Socket from, Socket to, int delayMs) {
      byte[] buf = new byte[64 << 10];
      try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
        int n;
        long last = 0;
        while ((n = in.read(buf)) >= 0) {
          long now = System.nanoTime();
          if (delayMs > 0 && now - last > IDLE_NANOS) {
            Thread.sleep(delayMs); // the first bytes after a pause: a new answer starts
          }
          out.write(buf, 0, n);
          out.flush();
          last = System.nanoTime();
        }
      } catch (IOException | InterruptedException e) {
        // a side closed: close both
      } finally {
        try {
          from.close();
          to.close();
        } catch (IOException ignored) {
          // closing
        }
      }
    }

    @Override
    public void close() throws IOException {
      listener.close();
      synchronized (open) {
        for (Socket s : open) {
          s.close();
        }
      }
      threads.shutdownNow();
    }
  }
}
