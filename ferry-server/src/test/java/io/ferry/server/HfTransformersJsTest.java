package io.ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.ferry.repo.PushOptions;
import io.ferry.server.http.CrossOrigin;
import io.ferry.server.web.Browser;
import io.ferry.server.auth.Scope;
import io.ferry.server.auth.TokenFile;
import io.ferry.testkit.NodePackages;
import io.ferry.testkit.NodePackages.Run;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * Hugging Face's transformers.js loads a model from the server and runs it: npm's {@code @huggingface/transformers}
 * with {@code env.remoteHost} set to the server and a read token sent through {@code env.fetch} (transformers.js sends
 * {@code HF_TOKEN} to huggingface.co only), onnxruntime on CPU. The model is
 * a Hugging Face layout pushed to Ferry ({@code config.json} of a BERT, {@code onnx/model.onnx}: an embedding lookup
 * masked by the attention mask, {@link TinyOnnx}); the output for a fixed input must be the table's rows, so every
 * weight came through Ferry intact. Installed by npm into {@code target/hfjs-transformers} (with {@code
 * --ignore-scripts}: onnxruntime-node's install script fetches GPU providers from NuGet; the CPU binary is in the
 * package). Skipped where node or npm (or the npm registry) is missing, except under {@code CI=true}, where that fails.
 * The same package's web build loads and runs the model in Chromium too, from a page of another origin.
 */
@Timeout(400)
class HfTransformersJsTest {
  static final String TRANSFORMERS_VERSION = "4.3.1";
  static final int VOCAB = 16;
  static final int HIDDEN = 8;
  /** The embedding table of the model: row i is token i's output. */
  static final float[] TABLE = new float[VOCAB * HIDDEN];
  @TempDir static Path tmp;
  static ServerFixture fx;
  static Path work;

  @BeforeAll
  static void install() throws Exception {
    work = Path.of("target", "hfjs-transformers").toAbsolutePath();
    Files.createDirectories(work);
    try (InputStream in = HfTransformersJsTest.class.getResourceAsStream("/hfjs/run-model.mjs")) {
      Files.write(work.resolve("run-model.mjs"), in.readAllBytes());
    }
    // --ignore-scripts: onnxruntime-node's install script fetches GPU providers; the CPU binary is in the package
    NodePackages.install(work, "@huggingface/transformers", TRANSFORMERS_VERSION, "--ignore-scripts");
    fx = new ServerFixture(tmp);
    SplittableRandom rnd = new SplittableRandom(13);
    for (int i = 0; i < TABLE.length; i++) {
      TABLE[i] = (float) (rnd.nextDouble() * 2 - 1);
    }
    Path model = Files.createDirectories(tmp.resolve("embed"));
    Files.writeString(model.resolve("config.json"), "{\"model_type\": \"bert\", \"architectures\": [\"BertModel\"],"
        + " \"vocab_size\": " + VOCAB + ", \"hidden_size\": " + HIDDEN + ", \"num_attention_heads\": 1,"
        + " \"num_hidden_layers\": 0}");
    Files.write(Files.createDirectories(model.resolve("onnx")).resolve("model.onnx"),
        TinyOnnx.embedding(TABLE, VOCAB, HIDDEN));
    fx.repo.push(model, "org/embed:prod", PushOptions.builder().message("embedding").author("test").build());
  }

  @AfterAll
  static void stop() throws Exception {
    if (fx != null) {
      fx.close();
    }
  }

  @Test
  void transformersJsLoadsAnOnnxModelFromTheServerAndRunsIt() throws Exception {
    Path tokens = tmp.resolve("tokens.json");
    String token = TokenFile.create(tokens, "tjs", List.of(Scope.parse("read:org/*")), Clock.systemUTC(),
        new SecureRandom()).token();
    URI base = fx.start(ServerOptions.builder().tokens(TokenFile.open(tokens))).uri();
    Path cache = Files.createDirectories(tmp.resolve("tjs-cache"));
    Run r = node(Map.of("FERRY_TOKEN", "hf_" + token), base.toString(), "org/embed", "prod", cache.toString());
    assertThat(r.code()).as(r.output()).isZero();
    checkOutput(HfJsClientTest.JSON.readTree(r.output().strip().lines().reduce((a, b) -> b).orElse("{}")));
    assertThat(fx.accessLog.await(l -> l.contains(" tjs GET /org/embed/resolve/prod/onnx/model.onnx 200 "), 1))
        .isNotEmpty();

    Run denied = node(Map.of(), base.toString(), "org/embed", "prod",
        Files.createDirectories(tmp.resolve("tjs-cache-2")).toString());
    assertThat(denied.code()).as("without a token: %s", denied.output()).isNotZero();
  }

  /**
   * The same model loaded and run by transformers.js in a browser (Debian's Chromium), on a page of another origin
   * than the server's, as a web application loads a model: the page's script is transformers.js's web build, its
   * onnxruntime the WebAssembly one, both served to the page by a plain file server on another port; the server
   * lets that origin call it (--cors-origin) and the page sends its token through {@code env.fetch}.
   */
  @Test
  void transformersJsInABrowserLoadsTheModelFromAServerThatAllowsThePagesOrigin() throws Exception {
    Path dist = work.resolve("node_modules/@huggingface/transformers/dist");
    Path ort = work.resolve("node_modules/onnxruntime-web/dist");
    assertThat(dist.resolve("transformers.js")).isRegularFile();
    assertThat(ort.resolve("ort-wasm-simd-threaded.jsep.wasm")).isRegularFile();
    Path tokens = tmp.resolve("tokens-web.json");
    String token = TokenFile.create(tokens, "page", List.of(Scope.parse("read:org/*")), Clock.systemUTC(),
        new SecureRandom()).token();
    HttpServer files = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    files.createContext("/tjs/", e -> serveFile(e, dist));
    files.createContext("/ort/", e -> serveFile(e, ort));
    files.createContext("/page", e -> {
      byte[] page = PAGE.getBytes(StandardCharsets.UTF_8);
      e.getResponseHeaders().set("Content-Type", "text/html; charset=utf-8");
      e.sendResponseHeaders(200, page.length);
      e.getResponseBody().write(page);
      e.close();
    });
    files.start();
    ChromeDriver browser = Browser.start();
    try {
      String origin = "http://127.0.0.1:" + files.getAddress().getPort();
      URI allowing = fx.start(ServerOptions.builder().tokens(TokenFile.open(tokens))
          .crossOrigin(CrossOrigin.of(List.of(origin)))).uri();
      URI refusing = fx.start(ServerOptions.builder().tokens(TokenFile.open(tokens))).uri();
      checkOutput(runInPage(browser, origin, allowing, token));
      assertThat(fx.accessLog.await(l -> l.contains(" page GET /org/embed/resolve/prod/onnx/model.onnx 200 "), 1))
          .isNotEmpty();
      // a server that lets no other origin call it: the browser gives the page nothing, so the model does not load
      JsonNode refused = runInPage(browser, origin, refusing, token);
      assertThat(refused.has("error")).as(refused.toString()).isTrue();
    } finally {
      browser.quit();
      files.stop(0);
    }
  }

  /** The page: loads the model from the server given in its query string and runs it; the outcome in a global. */
  static final String PAGE = """
      <!doctype html><meta charset="utf-8"><title>transformers.js</title>
      <script type="module">
      const q = new URLSearchParams(location.search);
      try {
        const { env, AutoConfig, AutoModel, Tensor } = await import("/tjs/transformers.js");
        env.remoteHost = q.get("host");
        env.remotePathTemplate = "{model}/resolve/{revision}/";
        env.allowLocalModels = false;
        env.useBrowserCache = false;
        env.backends.onnx.wasm.wasmPaths = "/ort/";
        env.backends.onnx.wasm.numThreads = 1;
        const plain = env.fetch;
        env.fetch = (url, init = {}) => {
          const headers = new Headers(init.headers);
          headers.set("Authorization", "Bearer " + q.get("token"));
          return plain(url, { ...init, headers });
        };
        const config = await AutoConfig.from_pretrained("org/embed", { revision: "prod" });
        const model = await AutoModel.from_pretrained("org/embed", { revision: "prod", dtype: "fp32", device: "wasm" });
        const ids = new Tensor("int64", BigInt64Array.from([1n, 2n, 3n, 4n]), [1, 4]);
        const mask = new Tensor("int64", BigInt64Array.from([1n, 1n, 1n, 0n]), [1, 4]);
        const h = (await model({ input_ids: ids, attention_mask: mask })).last_hidden_state;
        window.ferryResult = JSON.stringify({ modelType: config.model_type, dims: h.dims, data: Array.from(h.data) });
      } catch (e) {
        window.ferryResult = JSON.stringify({ error: String(e && e.stack || e) });
      }
      </script>
      """;

  /** Opens the page against {@code server} and waits for its outcome (the model's output, or an error). */
  static JsonNode runInPage(ChromeDriver browser, String origin, URI server, String token) throws Exception {
    browser.get(origin + "/page?host=" + URLEncoder.encode(server + "/", StandardCharsets.UTF_8) + "&token="
        + token);
    Object result = new WebDriverWait(browser, Duration.ofSeconds(180))
        .until(d -> browser.executeScript("return window.ferryResult"));
    return HfJsClientTest.JSON.readTree((String) result);
  }

  /** Serves a file of {@code dir} named by the path's last segment, with the type a module script or wasm needs. */
  private static void serveFile(HttpExchange e, Path dir) throws IOException {
    String path = e.getRequestURI().getPath();
    String name = path.substring(path.lastIndexOf('/') + 1);
    Path f = dir.resolve(name);
    if (name.isEmpty() || name.startsWith(".") || !Files.isRegularFile(f)) {
      e.sendResponseHeaders(404, -1);
      e.close();
      return;
    }
    String type = name.endsWith(".wasm") ? "application/wasm" : name.endsWith(".js") || name.endsWith(".mjs")
        ? "text/javascript" : "application/octet-stream";
    e.getResponseHeaders().set("Content-Type", type);
    e.sendResponseHeaders(200, Files.size(f));
    try (OutputStream out = e.getResponseBody()) {
      Files.copy(f, out);
    }
  }

  /** The model's output for input_ids [[1, 2, 3, 4]] and attention_mask [[1, 1, 1, 0]]: rows of the table, masked. */
  static void checkOutput(JsonNode got) {
    assertThat(got.get("modelType")).as(got.toString()).isNotNull();
    assertThat(got.get("modelType").asText()).isEqualTo("bert");
    assertThat(got.get("dims").toString()).isEqualTo("[1,4," + HIDDEN + "]");
    long[] ids = {1, 2, 3, 4};
    long[] mask = {1, 1, 1, 0};
    JsonNode data = got.get("data");
    assertThat(data).hasSize(4 * HIDDEN);
    for (int s = 0; s < 4; s++) {
      for (int h = 0; h < HIDDEN; h++) {
        float want = TABLE[(int) ids[s] * HIDDEN + h] * mask[s];
        assertThat((float) data.get(s * HIDDEN + h).asDouble()).as("last_hidden_state[0, %d, %d]", s, h)
            .isEqualTo(want);
      }
    }
  }

  private static Run node(Map<String, String> env, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("node", "run-model.mjs"));
    cmd.addAll(List.of(args));
    return NodePackages.run(work, 120, env, cmd.toArray(String[]::new));
  }
}
