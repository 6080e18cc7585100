package io.ferry.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.Ferry;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.server.FerryServer;
import io.ferry.server.ServerOptions;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * Section "web": the store browser served by {@code ferry serve} (docs/web.md), timed in Debian's Chromium through
 * chromedriver (spoken to over the W3C WebDriver protocol directly, so the bench needs no Selenium): time to first
 * byte and navigation to the load event, from the browser's Navigation Timing, for the models list over the store of
 * {@code versions} versions (the "versions" section's store) and for the diff of two 300-tensor versions where a
 * third of the layers changed, cold (a fresh server, so the diff is measured from the weights) and cached. The JSON API
 * requests that return the same content are the baselines. Servers run in this JVM on loopback.
 */
final class WebBenchmarks {
  private static final int LAYERS = 100; // 3 tensors a layer: 300 tensors
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path work;
  private final int versions;
  private final int runs;
  private final Consumer<String> say;
  private final BiConsumer<String, Figure> add;
  private final BiConsumer<String, String> note;
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(10)).build();

  WebBenchmarks(Path work, int versions, int runs, Consumer<String> say, BiConsumer<String, Figure> add,
      BiConsumer<String, String> note) {
    this.work = work;
    this.versions = versions;
    this.runs = Math.max(runs, 3);
    this.say = say;
    this.add = add;
    this.note = note;
  }

  void run() throws Exception {
    say.accept("9. store browser: models list over " + versions + " versions, 300-tensor diff");
    Benchmarks.ensureVersionsStore(work, versions, say);
    Path diffStore = ensureDiffStore();
    try (Driver browser = Driver.start(work.resolve("scratch"))) {
      // models list over the store of many versions
      double json = Double.MAX_VALUE;
      double[] page = {Double.MAX_VALUE, Double.MAX_VALUE};
      try (Repository repo = Ferry.open(work.resolve("store-versions-" + versions).toString());
          FerryServer s = FerryServer.start(repo, ServerOptions.builder().listen("127.0.0.1", 0).accessLog(l -> { })
              .build())) {
        browser.navigate(s.uri() + "/"); // warm up JIT and class loading
        get(s.uri() + "/v1/models");
        for (int i = 0; i < runs; i++) {
          json = Math.min(json, get(s.uri() + "/v1/models"));
          double[] t = browser.navigate(s.uri() + "/");
          page[0] = Math.min(page[0], t[0]);
          page[1] = Math.min(page[1], t[1]);
        }
      }
      String what = "store browser: models list, one model of " + versions + " versions (Chromium, loopback)";
      add.accept(what, new Figure("`GET /v1/models` (JSON)", json, "`/` time to first byte", page[0], false,
          Double.NaN, String.format(Locale.ROOT, "%.0f ms", page[0] * 1000)));
      add.accept(what, new Figure("`GET /v1/models` (JSON)", json, "`/` navigation to load event", page[1], false,
          Double.NaN, String.format(Locale.ROOT, "%.0f ms; absolute target < 1 s: %s", page[1] * 1000,
              page[1] < 1 ? "pass" : "**FAIL**")));

      // a 300-tensor diff, cold (fresh server: measured from the weights) and cached
      String diffPath = "/ui/diff?a=base:prod&b=tuned:prod";
      double jsonCold = Double.MAX_VALUE;
      double[] cold = {Double.MAX_VALUE, Double.MAX_VALUE};
      double[] warm = {Double.MAX_VALUE, Double.MAX_VALUE};
      try (Repository repo = Ferry.open(diffStore.toString())) {
        for (int i = 0; i < runs + 1; i++) {
          try (FerryServer s = FerryServer.start(repo, ServerOptions.builder().listen("127.0.0.1", 0)
              .accessLog(l -> { }).build())) {
            double j = get(s.uri() + "/v1/diff?a=base:prod&b=tuned:prod");
            if (i > 0) { // the first round warms up
              jsonCold = Math.min(jsonCold, j);
            }
          }
          try (FerryServer s = FerryServer.start(repo, ServerOptions.builder().listen("127.0.0.1", 0)
              .accessLog(l -> { }).build())) {
            double[] c = browser.navigate(s.uri() + diffPath);
            double[] w = browser.navigate(s.uri() + diffPath);
            int rows = browser.count("#diff-tensors tbody tr");
            if (rows != LAYERS * 3) {
              throw new IllegalStateException("the diff page lists " + rows + " tensors, expected " + LAYERS * 3);
            }
            if (i > 0) {
              cold[0] = Math.min(cold[0], c[0]);
              cold[1] = Math.min(cold[1], c[1]);
              warm[0] = Math.min(warm[0], w[0]);
              warm[1] = Math.min(warm[1], w[1]);
            }
          }
        }
      }
      what = "store browser: diff of two 300-tensor versions, a third of the layers changed (Chromium, loopback)";
      add.accept(what, new Figure("`GET /v1/diff` cold (measures the weights)", jsonCold, "diff page cold: first byte",
          cold[0], false, Double.NaN, String.format(Locale.ROOT, "%.0f ms", cold[0] * 1000)));
      add.accept(what, new Figure("`GET /v1/diff` cold (measures the weights)", jsonCold, "diff page cold: load event",
          cold[1], false, Double.NaN, String.format(Locale.ROOT, "%.0f ms", cold[1] * 1000)));
      add.accept(what, new Figure("`GET /v1/diff` cold (measures the weights)", jsonCold,
          "diff page cached (same pair): load event", warm[1], false, Double.NaN, String.format(Locale.ROOT,
              "first byte %.0f ms, load %.0f ms; absolute target < 1 s: %s", warm[0] * 1000, warm[1] * 1000,
              warm[1] < 1 ? "pass" : "**FAIL**")));
      note.accept(what, "Times from the browser's Navigation Timing (responseStart and loadEventEnd), best of " + runs
          + "; the browser is Debian's Chromium, headless, driven by chromedriver over the WebDriver protocol.");
    }
  }

  private double get(String url) throws IOException, InterruptedException {
    long t = System.nanoTime();
    HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofMinutes(2))
        .build(), HttpResponse.BodyHandlers.ofByteArray());
    double s = (System.nanoTime() - t) / 1e9;
    if (r.statusCode() != 200) {
      throw new IOException("GET " + url + " answered " + r.statusCode());
    }
    return s;
  }

  /** Two versions of a model of 100 layers × 3 F32 tensors (300 in all); every third layer changes. */
  private Path ensureDiffStore() throws IOException {
    Path store = work.resolve("store-web-diff");
    Path done = store.resolve(".bench-complete");
    if (Files.exists(done)) {
      return store;
    }
    Benchmarks.deleteTree(store);
    Path dir = work.resolve("scratch").resolve("web-diff");
    Benchmarks.deleteTree(dir);
    try (Repository repo = Ferry.open(store.toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      for (String name : List.of("base", "tuned")) {
        List<Tensor> ts = new ArrayList<>();
        for (int l = 0; l < LAYERS; l++) {
          long seed = 10L * l + (name.equals("tuned") && l % 3 == 0 ? 1_000_000 : 0);
          String p = "model.layers." + l + ".";
          ts.add(new Tensor(p + "self_attn.q_proj.weight", DType.BF16, new long[] {128, 128}, seed));
          ts.add(new Tensor(p + "mlp.up_proj.weight", DType.BF16, new long[] {256, 128}, seed + 1));
          ts.add(new Tensor(p + "input_layernorm.weight", DType.BF16, new long[] {128}, seed + 2));
        }
        Path m = dir.resolve(name);
        ModelGenerator.writeSafetensors(m.resolve("model.safetensors"), ts, Map.of());
        repo.push(m, name + ":prod", PushOptions.builder().message(name).build());
      }
    }
    Benchmarks.deleteTree(dir);
    Files.createFile(done);
    return store;
  }

  /** Debian's chromedriver and Chromium, over the W3C WebDriver protocol. */
  static final class Driver implements AutoCloseable {
    private final Process process;
    private final String base;
    private final String session;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private Driver(Process process, String base, String session) {
      this.process = process;
      this.base = base;
      this.session = session;
    }

    static Path onPath(String... names) {
      for (String name : names) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(File.pathSeparator)) {
          Path p = Path.of(d, name);
          if (Files.isExecutable(p)) {
            return p;
          }
        }
      }
      throw new IllegalStateException("no " + String.join(" or ", names) + " on the PATH: apt-get install chromium"
          + " chromium-driver");
    }

    static Driver start(Path scratch) throws Exception {
      Path chromium = onPath("chromium", "chromium-browser");
      Path driver = onPath("chromedriver");
      int port;
      try (ServerSocket s = new ServerSocket(0)) {
        port = s.getLocalPort();
      }
      Files.createDirectories(scratch);
      Process p = new ProcessBuilder(driver.toString(), "--port=" + port).redirectErrorStream(true)
          .redirectOutput(scratch.resolve("chromedriver.log").toFile()).start();
      String base = "http://127.0.0.1:" + port;
      HttpClient http = HttpClient.newHttpClient();
      long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
      while (true) {
        try {
          HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/status")).build(),
              HttpResponse.BodyHandlers.ofString());
          if (r.statusCode() == 200 && JSON.readTree(r.body()).path("value").path("ready").asBoolean()) {
            break;
          }
        } catch (IOException e) {
          // not listening yet
        }
        if (System.nanoTime() > deadline || !p.isAlive()) {
          p.destroyForcibly();
          throw new IOException("chromedriver did not become ready on port " + port);
        }
        Thread.sleep(50);
      }
      ObjectNode caps = JSON.createObjectNode();
      ObjectNode opts = caps.putObject("capabilities").putObject("alwaysMatch").put("browserName", "chrome")
          .putObject("goog:chromeOptions").put("binary", chromium.toString());
      var args = opts.putArray("args");
      for (String a : List.of("--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
          "--window-size=1280,1000", "--disable-extensions", "--disable-background-networking")) {
        args.add(a);
      }
      if ("root".equals(System.getProperty("user.name"))) {
        args.add("--no-sandbox");
      }
      JsonNode r = call(http, "POST", base + "/session", caps);
      return new Driver(p, base, r.path("value").path("sessionId").asText());
    }

    private static JsonNode call(HttpClient http, String method, String url, JsonNode body)
        throws IOException, InterruptedException {
      HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofMinutes(2))
          .header("Content-Type", "application/json");
      b.method(method, body == null ? HttpRequest.BodyPublishers.noBody()
          : HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
      HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 200) {
        throw new IOException("WebDriver " + method + " " + url + " answered " + r.statusCode() + ": " + r.body());
      }
      return JSON.readTree(r.body());
    }

    /** Navigates and waits for the load event; returns {time to first byte, time to load event end} in seconds. */
    double[] navigate(String url) throws IOException, InterruptedException {
      call(http, "POST", base + "/session/" + session + "/url", JSON.createObjectNode().put("url", url));
      JsonNode v = script("const t = performance.getEntriesByType('navigation')[0];"
          + " return [t.responseStart - t.startTime, t.loadEventEnd - t.startTime];");
      return new double[] {v.get(0).asDouble() / 1000, v.get(1).asDouble() / 1000};
    }

    int count(String css) throws IOException, InterruptedException {
      return script("return document.querySelectorAll(arguments[0]).length;", css).asInt();
    }

    private JsonNode script(String js, String... args) throws IOException, InterruptedException {
      ObjectNode b = JSON.createObjectNode().put("script", js);
      var a = b.putArray("args");
      for (String s : args) {
        a.add(s);
      }
      return call(http, "POST", base + "/session/" + session + "/execute/sync", b).path("value");
    }

    @Override
    public void close() throws Exception {
      try {
        call(http, "DELETE", base + "/session/" + session, null);
      } finally {
        process.destroy();
        process.waitFor();
      }
    }
  }
}
