package io.ferry.server.web;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.Ferry;
import io.ferry.derive.DeriveSpec;
import io.ferry.derive.Deriver;
import io.ferry.derive.TensorFilter;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.VersionRef;
import io.ferry.server.FerryServer;
import io.ferry.server.ServerOptions;
import io.ferry.server.auth.Scope;
import io.ferry.server.auth.TokenFile;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import io.ferry.transfer.TransferListener;
import io.ferry.version.FileEntry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.WebDriverException;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The store browser in a real browser (Debian's Chromium through chromedriver): the models list, a model, a version
 * with hostile names, the diff of a fine-tune against its base, the lineage of a quantized model, and login with read
 * and admin tokens. One browser and one store for the class; one screenshot per page under target/screenshots.
 */
@Timeout(180)
class WebUiBrowserTest {
  static final ObjectMapper JSON = new ObjectMapper();
  /** A tensor name that would run script if it were not escaped. */
  static final String HOSTILE = "x.<img src=x onerror=\"window.pwned=1\">'q'.ünï模型";
  static final String MESSAGE = "<script>window.pwned=2</script> \"quoted\" 'single' ünïcødé 模型";
  /** A message whose right-to-left override would show the text after it reversed ("exe.txt" as "txt.exe"). */
  static final String BIDI = "fine-tune \u202Etxt.exe";
  /** A run with no place to break: a page must wrap it, not grow wider than the window. */
  static final String UNBROKEN = "w".repeat(1000);
  static final Set<Integer> CHANGED_LAYERS = Set.of(1, 3);

  @TempDir static Path tmp;
  static Repository repo;
  static FerryServer dev;
  static FerryServer secured;
  static ChromeDriver browser;
  static String readToken;
  static String adminToken;
  static String narrowToken;
  static VersionRef base;
  static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .followRedirects(HttpClient.Redirect.NEVER).connectTimeout(Duration.ofSeconds(10)).build();

  static List<Tensor> model(Set<Integer> reseeded) {
    List<Tensor> out = new ArrayList<>();
    out.add(new Tensor("model.embed_tokens.weight", DType.F32, new long[] {64, 32}, 1));
    for (int l = 0; l < 4; l++) {
      long s = 100 + 10L * l + (reseeded.contains(l) ? 5000 : 0);
      String p = "model.layers." + l + ".";
      out.add(new Tensor(p + "input_layernorm.weight", DType.F32, new long[] {32}, s));
      out.add(new Tensor(p + "self_attn.q_proj.weight", DType.F32, new long[] {32, 32}, s + 1));
      out.add(new Tensor(p + "mlp.up_proj.weight", DType.F32, new long[] {64, 32}, s + 2));
    }
    out.add(new Tensor(HOSTILE, DType.F32, new long[] {4}, 7));
    out.add(new Tensor("lm_head.weight", DType.F32, new long[] {64, 32}, 9));
    return out;
  }

  static Path write(String name, List<Tensor> tensors) throws Exception {
    Path dir = Files.createDirectories(tmp.resolve(name));
    ModelGenerator.writeSafetensors(dir.resolve("model.safetensors"), tensors, Map.of("note", "<b>meta</b>",
        "k" + UNBROKEN, "v" + UNBROKEN));
    Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"llama\", \"name\": \"</pre><i>x</i>\"}");
    return dir;
  }

  @BeforeAll
  static void start() throws Exception {
    browser = Browser.start(); // first: skips (or fails under CI) before any work when there is no browser
    repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    repo.push(write("base", model(Set.of())), "org/base:prod", PushOptions.builder().message(MESSAGE)
        .author("<b>eve</b>").build());
    base = repo.resolve("org/base:prod");
    repo.push(write("ft", model(CHANGED_LAYERS)), "org/base-ft:prod", PushOptions.builder().message(BIDI)
        .author("ann" + UNBROKEN).build());
    new Deriver(repo, 2, tmp).derive("org/base-ft:prod", "org/base-ft-q4:prod",
        DeriveSpec.Quantize.of(4, 32, false, TensorFilter.ALL), "4-bit", new TransferListener() {});
    dev = FerryServer.start(repo, ServerOptions.builder().listen("127.0.0.1", 0).accessLog(l -> { }).build());
    Path tokens = tmp.resolve("tokens.json");
    SecureRandom r = new SecureRandom();
    readToken = TokenFile.create(tokens, "reader", List.of(Scope.parse("read:org/*")), Clock.systemUTC(), r).token();
    adminToken = TokenFile.create(tokens, "root", List.of(Scope.parse("admin")), Clock.systemUTC(), r).token();
    narrowToken = TokenFile.create(tokens, "q4-only", List.of(Scope.parse("read:org/base-ft-q4")), Clock.systemUTC(),
        r).token();
    secured = FerryServer.start(repo, ServerOptions.builder().listen("127.0.0.1", 0).tokens(TokenFile.open(tokens))
        .accessLog(l -> { }).build());
  }

  @AfterAll
  static void stop() throws Exception {
    if (browser != null) {
      browser.quit();
    }
    if (dev != null) {
      dev.close();
    }
    if (secured != null) {
      secured.close();
    }
    if (repo != null) {
      repo.close();
    }
  }

  /**
   * How long a page a click leads to may take to appear: Chromium on a machine busy with other tests can take longer
   * than the usual second, as its 30 s page-load timeout allows.
   */
  static final Duration PAGE = Duration.ofSeconds(60);

  static void open(FerryServer s, String path) {
    browser.get(s.uri() + path);
  }

  static List<String> texts(String css) {
    return browser.findElements(By.cssSelector(css)).stream().map(WebElement::getText).toList();
  }

  static List<String> attrs(String css, String attr) {
    return browser.findElements(By.cssSelector(css)).stream().map(e -> e.getAttribute(attr)).toList();
  }

  static void notPwned() {
    assertThat(browser.executeScript("return window.pwned === undefined")).isEqualTo(true);
  }

  @Test
  void modelsListFiltersAndLinks() throws Exception {
    open(dev, "/");
    assertThat(attrs("tr.model", "data-model")).containsExactly("org/base", "org/base-ft", "org/base-ft-q4");
    assertThat(browser.findElement(By.cssSelector("tr.model[data-model='org/base'] .tag")).getText())
        .isEqualTo("prod");
    Browser.screenshot(browser, "models");
    browser.findElement(By.id("filter")).sendKeys("ft-q");
    browser.findElement(By.cssSelector("form.filter button")).click();
    new WebDriverWait(browser, PAGE).until(ExpectedConditions.urlContains("q=ft-q"));
    assertThat(attrs("tr.model", "data-model")).containsExactly("org/base-ft-q4");
    browser.findElement(By.linkText("org/base-ft-q4")).click();
    new WebDriverWait(browser, PAGE).until(ExpectedConditions.presenceOfElementLocated(
        By.id("model-name")));
    assertThat(browser.getCurrentUrl()).endsWith("/ui/models/org/base-ft-q4");
    // a model with many tags shows the first few (by name) and a link to the rest
    for (int i = 0; i < 12; i++) {
      repo.tag("org/base-ft-q4:prod", "build-" + (100 + i), null);
    }
    open(dev, "/?q=ft-q4");
    assertThat(texts("tr.model .tag")).hasSize(ModelPages.TAGS_SHOWN).startsWith("build-100")
        .doesNotContain("prod");
    browser.findElement(By.linkText("+3 more")).click();
    new WebDriverWait(browser, PAGE).until(ExpectedConditions.presenceOfElementLocated(By.id("model-name")));
    assertThat(texts("#refs .tag")).contains("build-111", "prod");
    // a page past the last shows the last, not an empty table counted "showing 4–3"
    open(dev, "/?page=7");
    assertThat(browser.findElement(By.cssSelector("p.count")).getText()).isEqualTo("3 models, showing 1–3");
    assertThat(attrs("tr.model", "data-model")).hasSize(3);
    assertThat(browser.findElements(By.linkText("← previous"))).isEmpty();
  }

  @Test
  void modelPageShowsRefsHistoryAndRefLog() throws Exception {
    open(dev, "/ui/models/org/base");
    assertThat(browser.findElement(By.id("model-name")).getText()).isEqualTo("org/base");
    assertThat(texts("#refs .tag")).contains("head", "prod");
    List<WebElement> rows = browser.findElements(By.cssSelector("#history tr.version"));
    assertThat(rows).hasSize(1);
    assertThat(rows.get(0).getAttribute("data-id")).isEqualTo(base.id().hex());
    assertThat(rows.get(0).getText()).contains(MESSAGE).contains("<b>eve</b>");
    assertThat(browser.findElements(By.cssSelector("#history svg.hist circle"))).hasSize(1);
    assertThat(texts("#reflog tbody tr")).anyMatch(t -> t.contains("prod") && t.contains("none"));
    notPwned();
    Browser.screenshot(browser, "model");
  }

  @Test
  void versionPageEscapesHostileNamesAndDownloads() throws Exception {
    open(dev, "/ui/models/org/base/-/versions/prod");
    assertThat(browser.findElement(By.id("version-id")).getText()).isEqualTo(base.id().shortHex(12));
    assertThat(browser.findElement(By.id("message")).getText()).isEqualTo(MESSAGE);
    assertThat(texts("#tensors tr.tensor td:first-child")).contains(HOSTILE, "lm_head.weight").hasSize(15);
    assertThat(browser.findElement(By.id("config")).getText()).contains("</pre><i>x</i>");
    assertThat(browser.findElement(By.id("metadata")).getText()).contains("<b>meta</b>");
    assertThat(browser.findElement(By.id("params")).getText()).contains("parameters");
    assertThat(browser.findElements(By.tagName("img"))).isEmpty();
    notPwned();
    Browser.screenshot(browser, "version");

    // the whole version as a tar: every file whole, named under one directory
    HttpResponse<byte[]> tar = http.send(HttpRequest.newBuilder(URI.create(dev.uri()
        + "/ui/models/org/base/-/archive/" + base.id().hex())).build(), HttpResponse.BodyHandlers.ofByteArray());
    assertThat(tar.statusCode()).isEqualTo(200);
    Map<String, String> shas = untarSha256(tar.body());
    Map<String, String> expected = new HashMap<>();
    for (FileEntry f : repo.snapshot(base).files()) {
      expected.put("org_base-" + base.id().shortHex(12) + "/" + f.path(), f.sha256());
    }
    assertThat(shas).isEqualTo(expected);
    HttpResponse<byte[]> file = http.send(HttpRequest.newBuilder(URI.create(dev.uri()
        + "/ui/models/org/base/-/files/" + base.id().hex() + "/config.json")).build(),
        HttpResponse.BodyHandlers.ofByteArray());
    assertThat(file.statusCode()).isEqualTo(200);
    assertThat(new String(file.body(), StandardCharsets.UTF_8)).contains("model_type");
    HttpResponse<byte[]> head = http.send(HttpRequest.newBuilder(URI.create(dev.uri() + "/ui/models/org/base"))
        .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofByteArray());
    assertThat(head.statusCode()).isEqualTo(200);
    assertThat(head.body()).isEmpty();
    assertThat(head.headers().firstValue("Content-Security-Policy")).hasValueSatisfying(v -> assertThat(v)
        .contains("script-src 'self'"));
  }

  @Test
  void bidiOverridesShowAsCodePointsAndReverseNothing() throws Exception {
    open(dev, "/ui/models/org/base-ft/-/versions/prod");
    assertThat(browser.findElement(By.id("message")).getText()).isEqualTo("fine-tune U+202Etxt.exe");
    open(dev, "/ui/models/org/base-ft");
    assertThat(browser.findElement(By.cssSelector("#history tr.version")).getText()).contains("U+202Etxt.exe")
        .doesNotContain("\u202E");
  }

  @Test
  void longUnbrokenTextWrapsWithinTheWindow() throws Exception {
    for (String page : List.of("/ui/models/org/base-ft/-/versions/prod", "/ui/models/org/base-ft")) {
      open(dev, page);
      assertThat(browser.findElement(By.tagName("main")).getText()).as(page).contains("ann" + UNBROKEN);
      assertThat(browser.executeScript("return document.documentElement.scrollWidth"
          + " - document.documentElement.clientWidth")).as(page).isEqualTo(0L);
    }
    open(dev, "/ui/models/org/base-ft/-/versions/prod");
    assertThat(browser.findElement(By.id("metadata")).getText()).contains("k" + UNBROKEN, "v" + UNBROKEN);
  }

  /** Reads a tar: entry name to the SHA-256 of its content (pax path records honoured). */
  static Map<String, String> untarSha256(byte[] tar) throws Exception {
    Map<String, String> out = new HashMap<>();
    String paxPath = null;
    int at = 0;
    while (at + 512 <= tar.length) {
      byte[] h = java.util.Arrays.copyOfRange(tar, at, at + 512);
      if (h[0] == 0) {
        break;
      }
      String name = new String(h, 0, 100, StandardCharsets.US_ASCII).replace("\0", "");
      long size = Long.parseLong(new String(h, 124, 11, StandardCharsets.US_ASCII).trim(), 8);
      long sum = 0;
      for (int i = 0; i < 512; i++) {
        sum += i >= 148 && i < 156 ? ' ' : h[i] & 0xff;
      }
      assertThat(Long.parseLong(new String(h, 148, 6, StandardCharsets.US_ASCII), 8)).isEqualTo(sum);
      byte[] body = java.util.Arrays.copyOfRange(tar, at + 512, at + 512 + (int) size);
      at += 512 + (int) ((size + 511) / 512 * 512);
      if (h[156] == 'x') {
        String rec = new String(body, StandardCharsets.UTF_8);
        paxPath = rec.substring(rec.indexOf("path=") + 5, rec.indexOf('\n', rec.indexOf("path=")));
        continue;
      }
      out.put(paxPath != null ? paxPath : name,
          HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(body)));
      paxPath = null;
    }
    return out;
  }

  @Test
  void diffMarksTheChangedLayersOnly() throws Exception {
    open(dev, "/ui/diff?a=org/base:prod&b=org/base-ft:prod");
    Set<String> changed = new TreeSet<>(attrs("#layers tr.changed", "data-layer"));
    assertThat(changed).containsExactly("1", "3");
    assertThat(new TreeSet<>(attrs("#layer-chart g.bar.changed", "data-layer"))).containsExactly("1", "3");
    for (WebElement row : browser.findElements(By.cssSelector("#layers tr.unchanged"))) {
      assertThat(row.findElement(By.cssSelector("td.rel")).getText()).as(row.getText()).isEqualTo("0");
    }
    assertThat(new TreeSet<>(attrs("#layers tr.unchanged", "data-layer"))).containsExactly("0", "2", "other");
    for (WebElement row : browser.findElements(By.cssSelector("#layers tr.changed"))) {
      assertThat(Double.parseDouble(row.findElement(By.cssSelector("td.rel")).getText())).isGreaterThan(0.1);
    }
    assertThat(browser.findElements(By.cssSelector("#diff-tensors tr.changed"))).hasSize(6);
    assertThat(browser.findElements(By.cssSelector("#heat-strip rect"))).hasSize(15);
    notPwned();
    Browser.screenshot(browser, "diff");

    // the JSON API gives the same numbers, from the same cached computation
    HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(URI.create(dev.uri()
        + "/v1/diff?a=org/base:prod&b=org/base-ft:prod")).build(), HttpResponse.BodyHandlers.ofByteArray());
    assertThat(r.statusCode()).as(new String(r.body(), StandardCharsets.UTF_8)).isEqualTo(200);
    JsonNode d = JSON.readTree(r.body());
    assertThat(d.get("changedTensorCount").asInt()).isEqualTo(6);
    for (JsonNode t : d.get("tensors")) {
      int layer = t.get("layer").asInt();
      if (CHANGED_LAYERS.contains(layer) && !t.get("name").asText().contains("layernorm")) {
        assertThat(t.get("change").asText()).isEqualTo("changed");
        assertThat(t.get("relFrobenius").asDouble()).isGreaterThan(0.1);
        assertThat(t.get("cosine").asDouble()).isLessThan(0.9);
      } else if (!CHANGED_LAYERS.contains(layer)) {
        assertThat(t.get("change").asText()).as(t.get("name").asText()).isEqualTo("unchanged");
        assertThat(t.get("relFrobenius").asDouble()).isZero();
      }
    }
  }

  @Test
  void lineageOfAQuantizedModel() throws Exception {
    open(dev, "/ui/models/org/base-ft-q4/-/lineage/prod");
    List<WebElement> nodes = browser.findElements(By.cssSelector("#lineage-graph g.node"));
    Map<String, String> methods = nodes.stream().collect(Collectors.toMap(n -> n.getAttribute("data-model"),
        n -> n.getAttribute("data-method")));
    assertThat(methods).containsEntry("org/base-ft", "version").containsEntry("org/base-ft-q4", "quantize");
    assertThat(browser.findElements(By.cssSelector("#lineage-graph g.edge.derived"))).isNotEmpty();
    WebElement row = browser.findElement(By.cssSelector("#derivations tr.derivation[data-method='quantize']"));
    List<String> cells = row.findElements(By.tagName("td")).stream().map(WebElement::getText).toList();
    assertThat(cells.get(1)).isEqualTo("org/base-ft-q4");
    assertThat(cells.get(4)).startsWith("org/base-ft@");
    assertThat(cells.get(5)).contains("rel frobenius error");
    assertThat(cells.get(7)).isEqualTo("4");
    Browser.screenshot(browser, "lineage");

    // a token that may read only the quantized model sees nothing of the model it came from
    HttpResponse<byte[]> narrow = http.send(HttpRequest.newBuilder(URI.create(secured.uri()
        + "/ui/models/org/base-ft-q4/-/lineage/prod")).header("Authorization", "Bearer " + narrowToken).build(),
        HttpResponse.BodyHandlers.ofByteArray());
    String page = new String(narrow.body(), StandardCharsets.UTF_8);
    assertThat(narrow.statusCode()).as(page).isEqualTo(200);
    assertThat(page).contains("data-model=\"org/base-ft-q4\"").doesNotContain("data-model=\"org/base-ft\"")
        .doesNotContain("fine-tune").doesNotContain("org/base-ft@").contains("left out");
    HttpResponse<byte[]> other = http.send(HttpRequest.newBuilder(URI.create(secured.uri()
        + "/ui/models/org/base-ft")).header("Authorization", "Bearer " + narrowToken).build(),
        HttpResponse.BodyHandlers.ofByteArray());
    assertThat(other.statusCode()).isEqualTo(403);
    assertThat(new String(other.body(), StandardCharsets.UTF_8)).contains("<h1>403 forbidden</h1>");
  }

  @Test
  void loginReadTokenAndAdminButtons() throws Exception {
    // no token: the login prompt, also on a deep page
    open(secured, "/ui/models/org/base");
    assertThat(browser.findElements(By.id("login"))).hasSize(1);
    Browser.screenshot(browser, "login");
    browser.findElement(By.id("token")).sendKeys("ferry_not_a_token");
    browser.findElement(By.cssSelector("#login button")).click();
    new WebDriverWait(browser, PAGE).until(ExpectedConditions.presenceOfElementLocated(
        By.id("login-problem")));

    // a read token: pages work, no admin buttons
    browser.findElement(By.id("token")).sendKeys(readToken);
    browser.findElement(By.cssSelector("#login button")).click();
    new WebDriverWait(browser, PAGE).until(ExpectedConditions.presenceOfElementLocated(
        By.id("model-name")));
    assertThat(browser.getCurrentUrl()).endsWith("/ui/models/org/base");
    open(secured, "/ui/health");
    assertThat(browser.findElements(By.id("stats"))).hasSize(1);
    assertThat(browser.findElements(By.id("admin"))).isEmpty();
    assertThat(browser.findElements(By.id("run-verify"))).isEmpty();
    Browser.screenshot(browser, "health-read");

    String origin = "http://127.0.0.1:" + secured.port();
    // the read token's admin POST is refused, from the site itself
    assertThat(post("/ui/admin/verify", "ferry_token=" + readToken, origin).statusCode()).isEqualTo(403);
    // an admin cookie sent by another site, or with no origin at all, is refused too (CSRF)
    assertThat(post("/ui/admin/verify", "ferry_token=" + adminToken, "http://evil.example").statusCode())
        .isEqualTo(403);
    assertThat(post("/ui/admin/gc", "ferry_token=" + adminToken, null).statusCode()).isEqualTo(403);
    // the API's Bearer header keeps working on the pages
    HttpResponse<byte[]> bearer = http.send(HttpRequest.newBuilder(URI.create(secured.uri() + "/"))
        .header("Authorization", "Bearer " + readToken).build(), HttpResponse.BodyHandlers.ofByteArray());
    assertThat(bearer.statusCode()).isEqualTo(200);
    assertThat(new String(bearer.body(), StandardCharsets.UTF_8)).contains("org/base-ft-q4");
    // the login cookie is the pages' only: the JSON API still wants the Bearer header
    HttpResponse<byte[]> api = http.send(HttpRequest.newBuilder(URI.create(secured.uri() + "/v1/models"))
        .header("Cookie", "ferry_token=" + adminToken).build(), HttpResponse.BodyHandlers.ofByteArray());
    assertThat(api.statusCode()).isEqualTo(401);

    // sign out, sign in as admin: the buttons are there and verify runs to its result
    browser.findElement(By.id("logout")).click();
    new WebDriverWait(browser, PAGE).until(ExpectedConditions.presenceOfElementLocated(
        By.id("login")));
    open(secured, "/ui/login?next=/ui/health");
    browser.findElement(By.id("token")).sendKeys(adminToken);
    browser.findElement(By.cssSelector("#login button")).click();
    new WebDriverWait(browser, PAGE).until(ExpectedConditions.presenceOfElementLocated(
        By.id("run-verify")));
    browser.findElement(By.id("run-verify")).click();
    // the page writes the state again as verify runs: a read of the node it replaced is then answered "Node with
    // given id does not belong to the document", chromedriver's unknown error rather than a stale element (seen once
    // on a loaded machine): the wait reads the state again
    new WebDriverWait(browser, Duration.ofSeconds(60)).ignoring(WebDriverException.class)
        .until(ExpectedConditions.textToBePresentInElementLocated(By.id("verify-state"), "OK"));
    assertThat(browser.findElement(By.id("verify-state")).getText()).contains("no errors").contains("root");
    Browser.screenshot(browser, "health-admin");
  }

  /** Fetches {@code url} from the page open in the browser, with a token; what the page could read of the answer. */
  @SuppressWarnings("unchecked")
  static Map<String, Object> fetchFromPage(String url, String token, String range) {
    browser.manage().timeouts().scriptTimeout(PAGE);
    return (Map<String, Object>) browser.executeAsyncScript("""
        const [url, token, range, done] = arguments;
        const headers = {Authorization: 'Bearer ' + token};
        if (range) headers.Range = range;
        fetch(url, {headers}).then(async r => done({status: r.status, body: await r.text(),
            commit: r.headers.get('X-Repo-Commit'), size: r.headers.get('X-Linked-Size'),
            etag: r.headers.get('ETag'), contentRange: r.headers.get('Content-Range')}))
          .catch(e => done({error: String(e)}));""", url, token, range);
  }

  @Test
  void aPageOfAnAllowedOriginLoadsAModelsFilesAndAPageOfAnotherCannot() throws Exception {
    // a page of the development server (origin http://127.0.0.1:<its port>) calls a server with tokens on another
    // port, as a page running transformers.js with its remote host set to the server does; the page is its health
    // answer, which has no content security policy (the store browser's pages allow no calls to other origins)
    String origin = "http://127.0.0.1:" + dev.port();
    try (FerryServer cors = FerryServer.start(repo, ServerOptions.builder().listen("127.0.0.1", 0)
        .tokens(TokenFile.open(tmp.resolve("tokens.json"))).accessLog(l -> { })
        .crossOrigin(io.ferry.server.http.CrossOrigin.of(List.of(origin))).build())) {
      String config = cors.uri() + "/org/base/resolve/prod/config.json";
      String weights = cors.uri() + "/org/base/resolve/prod/model.safetensors";
      open(dev, "/v1/health");
      Map<String, Object> got = fetchFromPage(config, readToken, null);
      assertThat(got).containsEntry("status", 200L).containsEntry("commit", base.id().hex());
      assertThat((String) got.get("body")).isEqualTo(Files.readString(tmp.resolve("base").resolve("config.json")));
      Map<String, Object> part = fetchFromPage(weights, readToken, "bytes=0-7");
      long size = Files.size(tmp.resolve("base").resolve("model.safetensors"));
      assertThat(part).containsEntry("status", 206L).containsEntry("contentRange", "bytes 0-7/" + size)
          .containsEntry("size", String.valueOf(size));
      assertThat((String) part.get("etag")).startsWith("\"");
      // a token outside its scope: the page reads the refusal (403), not a network error
      assertThat(fetchFromPage(config, narrowToken, null)).containsEntry("status", 403L);

      // a page of another origin, and a server that lets no origin call it: the browser gives the page nothing
      open(secured, "/v1/health");
      assertThat(fetchFromPage(config, readToken, null)).containsOnlyKeys("error");
      open(dev, "/v1/health");
      assertThat(fetchFromPage(secured.uri() + "/org/base/resolve/prod/config.json", readToken, null))
          .containsOnlyKeys("error");
    }
  }

  static HttpResponse<byte[]> post(String path, String cookie, String origin) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(secured.uri() + path))
        .header("Content-Type", "application/x-www-form-urlencoded").header("Cookie", cookie)
        .POST(HttpRequest.BodyPublishers.ofString("grace=1h"));
    if (origin != null) {
      b.header("Origin", origin);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
  }
}
