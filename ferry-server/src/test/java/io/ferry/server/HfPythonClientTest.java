package io.ferry.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Results.PushResult;
import io.ferry.testkit.NodePackages;
import io.ferry.testkit.NodePackages.Run;
import java.io.InputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hugging Face's own Python client, {@code huggingface_hub}, reads a model from the server with {@code HF_ENDPOINT}
 * set to it, as the promise goes ("without a line of code changed"): downloads by every kind of revision, the typed
 * errors its users catch ({@code RepositoryNotFoundError}, {@code RevisionNotFoundError}, {@code
 * RemoteEntryNotFoundError}, which depend on the server's status codes and {@code X-Error-Code}), listings, trees,
 * paths-info, safetensors headers by ranged reads, refs and commits, snapshots to the cache and to a directory, offline
 * mode from the cache, and tokens. Every downloaded file must have the SHA-256 of the file pushed.
 *
 * <p>The model ({@code org/py}) is the fixture's sharded safetensors layout with a tokenizer, a file two directories
 * down, a file with a space, a unicode name and an empty file; tag {@code prod} is its first version, the head a second
 * one with another {@code config.json}. {@code check.py} ({@code src/test/resources/hfpy}) runs one group of calls per
 * process and prints a result per call.
 *
 * <p>{@code huggingface_hub} is installed once into a venv in {@code target/hfpy} with {@code pip install --retries 0
 * --timeout 3 huggingface_hub} (the index is pip's own configuration's). Where python3's venv or pip cannot install
 * it, the test is skipped, except under {@code CI=true}, where that fails naming what is missing.
 */
@Timeout(300)
class HfPythonClientTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final String REPO = "org/py";
  @TempDir static Path tmp;
  static Path python;
  static Path script;
  static ServerFixture fx;
  static Path model;
  static PushResult tagged;
  static PushResult head;
  static Map<String, String> taggedFiles;

  @BeforeAll
  static void setUp() throws Exception {
    Path work = Path.of("target", "hfpy").toAbsolutePath();
    python = installHuggingFaceHub(work);
    script = work.resolve("check.py");
    try (InputStream in = HfPythonClientTest.class.getResourceAsStream("/hfpy/check.py")) {
      Files.write(script, in.readAllBytes());
    }
    fx = new ServerFixture(tmp);
    model = tmp.resolve("py-model");
    io.ferry.testkit.DirectoryState.copy(fx.dir.resolve("model"), model);
    Files.writeString(model.resolve("config.json"), "{\"model_type\": \"llama\", \"v\": 1}");
    Files.writeString(model.resolve("tokenizer.json"), "{\"version\": \"1.0\", \"model\": {}}");
    Files.writeString(model.resolve("tokenizer_config.json"), "{}");
    Files.writeString(Files.createDirectories(model.resolve("sub/deep")).resolve("notes.txt"), "deep\n");
    Files.writeString(model.resolve("sub/a b.txt"), "a space\n");
    Files.writeString(model.resolve("h\u00e9llo w\u00f6rld.txt"), "unicode\n");
    Files.writeString(model.resolve("100%.txt"), "percent\n");
    Files.write(model.resolve("empty.txt"), new byte[0]);
    tagged = fx.repo.push(model, REPO + ":prod", PushOptions.builder().message("first\n\nthe body").author("test")
        .build());
    taggedFiles = digests(model);
    Path second = tmp.resolve("py-model-2");
    io.ferry.testkit.DirectoryState.copy(model, second);
    Files.writeString(second.resolve("config.json"), "{\"model_type\": \"llama\", \"v\": 2}");
    head = fx.repo.push(second, REPO, PushOptions.builder().message("second").author("test").build());
    // org/py-old, renamed twice since: its old name must lead to org/py-now
    fx.repo.push(model, "org/py-old:prod", PushOptions.builder().message("old name").author("test").build());
    fx.repo.renameModel("org/py-old", "org/py-mid");
    fx.repo.renameModel("org/py-mid", "org/py-now");
  }

  @AfterAll
  static void stop() throws Exception {
    if (fx != null) {
      fx.close();
    }
  }

  @Test
  void huggingFaceHubDownloadsListsAndRaisesItsTypedErrors() throws Exception {
    URI base = fx.start(ServerOptions.builder()).uri();
    Path home = tmp.resolve("hf-home-open");
    JsonNode r = run("open", base.toString(), home, null);
    String sha = taggedFiles.get("config.json");
    String headSha = sha256(("{\"model_type\": \"llama\", \"v\": 2}").getBytes(StandardCharsets.UTF_8));
    assertThat(r.get("config@main").asText()).isEqualTo(headSha);
    for (String rev : List.of("tag", "id", "idUpper", "idShort", "refsTags")) {
      assertThat(r.get("config@" + rev).asText()).as(rev + ": " + r.get("config@" + rev)).isEqualTo(sha);
    }
    assertThat(r.get("config@refsHeads").asText()).as(r.get("config@refsHeads").toString()).isEqualTo(headSha);
    for (Map.Entry<String, String> f : taggedFiles.entrySet()) {
      assertThat(r.get("file:" + f.getKey()).asText()).as(f.getKey()).isEqualTo(f.getValue());
    }
    assertThat(r.get("subfolder").asText()).isEqualTo(taggedFiles.get("sub/deep/notes.txt"));

    assertError(r, "missingFile", "RemoteEntryNotFoundError", 404);
    assertError(r, "missingRevision", "RevisionNotFoundError", 404);
    assertError(r, "missingId", "RevisionNotFoundError", 404);
    assertError(r, "missingShortId", "RevisionNotFoundError", 404);
    // refs/pr/1 arrives as refs%2Fpr%2F1: a revision Ferry does not have, not a refused path (which the client took
    // for a network failure: LocalEntryNotFoundError "check your connection")
    assertError(r, "prRevision", "RevisionNotFoundError", 404);
    assertError(r, "missingModel", "RepositoryNotFoundError", 404);
    // Ferry holds models only: a dataset is a repository it does not have (was a 404 without a code, which
    // hf_hub_download reported as a network failure)
    assertError(r, "dataset", "RepositoryNotFoundError", 404);
    assertError(r, "datasetInfo", "RepositoryNotFoundError", 404);
    assertThat(r.get("dataset").get("message").asText()).contains("models only");
    assertError(r, "infoMissingModel", "RepositoryNotFoundError", 404);
    assertError(r, "infoMissingRevision", "RevisionNotFoundError", 404);
    assertError(r, "snapshotMissingRevision", "RevisionNotFoundError", 404);
    assertError(r, "treeMissing", "RemoteEntryNotFoundError", 404);

    assertThat(r.get("info").get("sha").asText()).isEqualTo(tagged.versionId().hex());
    Map<String, List<Object>> listed = new TreeMap<>();
    r.get("info").get("files").fields().forEachRemaining(e -> listed.put(e.getKey(),
        List.of(e.getValue().get(0).asLong(), e.getValue().get(1).asText())));
    Map<String, List<Object>> want = new TreeMap<>();
    for (Map.Entry<String, String> f : taggedFiles.entrySet()) {
      want.put(f.getKey(), List.of(Files.size(model.resolve(f.getKey())), f.getValue()));
    }
    assertThat(listed).isEqualTo(want);
    assertThat(r.get("infoShort").asText()).as(r.get("infoShort").toString()).isEqualTo(tagged.versionId().hex());
    assertThat(strings(r.get("listFiles"))).containsExactlyElementsOf(taggedFiles.keySet());

    assertThat(r.get("treeTop").toString()).contains("[\"sub\",\"RepoFolder\"]", "[\"config.json\",\"RepoFile\"]")
        .doesNotContain("sub/a b.txt");
    assertThat(r.get("treeRecursive").toString()).contains("[\"sub/deep\",\"RepoFolder\"]",
        "[\"sub/deep/notes.txt\",\"RepoFile\"]");
    String sub = "[[\"sub/a b.txt\",\"RepoFile\"],[\"sub/deep\",\"RepoFolder\"]]";
    assertThat(r.get("treeSub").toString()).isEqualTo(sub);
    // huggingface_hub sends the path as one segment, its '/' encoded: sub%2Fdeep, sub%2F (were 400 Bad Request)
    assertThat(r.get("treeSubSlash").toString()).isEqualTo(sub);
    assertThat(r.get("treeDeep").toString()).isEqualTo("[[\"sub/deep/notes.txt\",\"RepoFile\"]]");
    assertThat(r.get("pathsInfo").toString()).isEqualTo("[[\"config.json\",\"RepoFile\"],[\"sub\",\"RepoFolder\"],"
        + "[\"sub/deep/notes.txt\",\"RepoFile\"]]");
    assertThat(r.get("fileExists").toString()).isEqualTo("[true,false,false]");
    assertThat(r.get("repoExists").toString()).isEqualTo("[true,false]");
    // an abbreviated version id is a revision, as an abbreviated commit hash is on the Hub
    assertThat(r.get("revisionExists").toString()).isEqualTo("[true,false,true,true]");

    JsonNode st = r.get("safetensors");
    List<String> shards = taggedFiles.keySet().stream().filter(p -> p.endsWith(".safetensors")).toList();
    assertThat(st.get("sharded").asBoolean()).as(st.toString()).isEqualTo(shards.size() > 1);
    assertThat(strings(st.get("files"))).containsExactlyElementsOf(shards);
    assertThat(st.get("parameters").get("BF16").asLong()).isPositive();

    assertThat(r.get("refs").toString()).as("list_repo_refs").isEqualTo("{\"branches\":[[\"main\",\"refs/heads/main\",\""
        + head.versionId().hex() + "\"]],\"tags\":[[\"prod\",\"refs/tags/prod\",\"" + tagged.versionId().hex()
        + "\"]]}");
    assertThat(strings(r.get("commits"))).as("list_repo_commits").containsExactly(head.versionId().hex(),
        tagged.versionId().hex());
    assertThat(r.get("commitsTag").toString()).isEqualTo("[[\"" + tagged.versionId().hex()
        + "\",\"first\",[\"test\"]]]");

    byte[] shard = Files.readAllBytes(model.resolve(shards.get(0)));
    assertThat(r.get("rangedRead").asText()).isEqualTo(HexFormat.of().formatHex(shard, 3, 23));

    Map<String, String> json = new TreeMap<>(taggedFiles);
    json.keySet().removeIf(p -> !p.endsWith(".json"));
    assertThat(files(r.get("snapshotJson"))).isEqualTo(json);
    Map<String, String> noWeights = new TreeMap<>(taggedFiles);
    noWeights.keySet().removeIf(p -> p.endsWith(".safetensors"));
    assertThat(files(r.get("snapshotNoWeights"))).isEqualTo(noWeights);
    assertThat(files(r.get("snapshot"))).isEqualTo(taggedFiles);
    assertThat(r.get("snapshotPath").asText()).endsWith("/snapshots/" + tagged.versionId().hex())
        .isEqualTo(r.get("snapshotAgainPath").asText());
    Map<String, String> headFiles = new TreeMap<>(taggedFiles);
    headFiles.put("config.json", headSha);
    assertThat(files(r.get("snapshotHead"))).isEqualTo(headFiles);
    assertThat(files(r.get("localDir"))).isEqualTo(taggedFiles);
    // a renamed model's old name answers 307 to the present one, as the Hub for a renamed repository
    assertThat(r.get("renamedFile").asText()).as(r.get("renamedFile").toString()).isEqualTo(sha);
    assertThat(r.get("renamedInfo").asText()).isEqualTo("org/py-now");
    assertThat(files(r.get("renamedSnapshot"))).isEqualTo(taggedFiles);

    // offline, nobody listening at the endpoint: everything from the cache the calls above filled
    JsonNode off = run("offline", "http://127.0.0.1:9", home, Map.of("HF_HUB_OFFLINE", "1"));
    assertThat(files(off.get("offlineSnapshot"))).isEqualTo(taggedFiles);
    assertThat(off.get("offlineFile").asText()).isEqualTo(sha);
    assertThat(off.get("offlineHead").asText()).isEqualTo(headSha);
  }

  @Test
  void tokensAreSentAndRefusalsRaiseTheClientsErrors() throws Exception {
    String reader = fx.token("py-reader", "read:org/*");
    String other = fx.token("py-other", "read:other/*");
    URI base = fx.startWithTokens().uri();
    Map<String, String> env = new HashMap<>(Map.of("HF_TOKEN", reader));
    JsonNode r = run("tokens", base.toString(), tmp.resolve("hf-home-tokens"), env, Map.of("token", reader,
        "otherToken", other));
    assertThat(r.get("withToken").asText()).isEqualTo(taggedFiles.get("config.json"));
    assertThat(r.get("withEnvToken").asText()).isEqualTo(head.versionId().hex());
    // no token: the Hub's answer for a private repository (401 RepoNotFound), whether or not the model exists
    assertError(r, "withoutToken", "RepositoryNotFoundError", 401);
    assertError(r, "infoWithoutToken", "RepositoryNotFoundError", 401);
    assertError(r, "missingModelWithoutToken", "RepositoryNotFoundError", 401);
    // a token without read on the model: 403 GatedRepo saying why, the same whether or not the model exists
    for (String call : List.of("otherScope", "infoOtherScope", "missingModelOtherScope")) {
      assertError(r, call, "GatedRepoError", 403);
      assertThat(r.get(call).get("message").asText()).as(call).contains("needs read access to model 'org/");
    }
    assertError(r, "badToken", "HfHubHTTPError", 401);
    // login and whoami read the token's name and role; list_models lists what the token may read
    assertThat(r.get("whoami").get("name").asText()).isEqualTo("py-reader");
    assertThat(r.get("whoami").get("auth").get("accessToken").get("role").asText()).isEqualTo("read");
    assertThat(r.get("login").asText()).as(r.get("login").toString()).isEqualTo("logged in");
    assertThat(strings(r.get("listModels"))).containsExactly("org/py", "org/py-now", "org/tiny");
    assertThat(r.get("listSearch").toString()).isEqualTo("[[\"org/py-now\",\""
        + fx.repo.resolve("org/py-now").id().hex() + "\"]]");
    assertThat(strings(r.get("listAuthorLimit"))).containsExactly("org/py");
    assertThat(r.get("listOtherScope")).as("a token reading other/* sees none of org/*").isEmpty();
    assertError(r, "whoamiBad", "HfHubHTTPError", 401);
    assertThat(r.toString()).doesNotContain(reader);
  }

  /**
   * A download that finds the server's memory budget taken (a 64 MiB upload holds it here) is refused as busy, and
   * huggingface_hub must come back for it: it retries a download answered 408 or 429, after {@code Retry-After}, and
   * never one answered 503, so the {@code 503 busy} that the rest of the API gives failed {@code hf_hub_download} (as
   * it failed a snapshot of many files pulled by many clients at once). A client that waits longer than the server
   * (HF_HUB_DOWNLOAD_TIMEOUT) sees the answer; the budget is given back once the test has seen the refusal.
   */
  @Test
  void aDownloadThatFindsTheServerBusyIsRetriedByTheClient() throws Exception {
    URI small = fx.start(ServerOptions.builder().memoryBudget(64 << 20).maxObjectSize(64 << 20)
        .idleTimeout(Duration.ofMinutes(2))).uri();
    CompletableFuture<JsonNode> download;
    try (Socket hold = new Socket(small.getHost(), small.getPort())) {
      hold.getOutputStream().write(("PUT /v1/store/chunks/" + sha256("held".getBytes(StandardCharsets.UTF_8))
          + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + (64 << 20) + "\r\nExpect: 100-continue\r\n\r\n")
          .getBytes(StandardCharsets.US_ASCII));
      hold.setSoTimeout(30_000);
      // the server asks for the body once it holds the body's share: the whole budget
      assertThat(new String(hold.getInputStream().readNBytes(12), StandardCharsets.US_ASCII))
          .isEqualTo("HTTP/1.1 100");
      download = CompletableFuture.supplyAsync(() -> {
        try {
          return run("busy", small.toString(), tmp.resolve("hf-home-busy"), Map.of("HF_HUB_DOWNLOAD_TIMEOUT", "90"));
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      });
      assertThat(fx.accessLog.await(l -> l.contains(" GET /" + REPO + "/resolve/")
          && (l.contains(" 429 ") || l.contains(" 503 ")), 1)).as("a download refused as busy").isNotEmpty();
    }
    JsonNode r = download.get(120, TimeUnit.SECONDS);
    assertThat(r.get("busyFile").asText()).as(r.get("busyFile").toString()).isEqualTo(taggedFiles.get("config.json"));
  }

  // ------------------------------------------------------------------------------------------------ helpers

  /**
   * Runs {@code check.py SCENARIO} against {@code endpoint} with its own {@code HF_HOME}; the result of each call, by
   * name.
   */
  static JsonNode run(String scenario, String endpoint, Path home, Map<String, String> env) throws Exception {
    return run(scenario, endpoint, home, env, Map.of());
  }

  static JsonNode run(String scenario, String endpoint, Path home, Map<String, String> env,
      Map<String, String> extra) throws Exception {
    ObjectNode spec = JSON.createObjectNode().put("repo", REPO).put("tag", "prod")
        .put("tagged", tagged.versionId().hex()).put("head", head.versionId().hex())
        .put("localDir", tmp.resolve("local-" + scenario).toString())
        .put("safetensorsFile", taggedFiles.keySet().stream().filter(p -> p.endsWith(".safetensors")).findFirst()
            .orElseThrow());
    extra.forEach(spec::put);
    spec.putArray("files").addAll(taggedFiles.keySet().stream().map(spec::textNode).toList());
    Path specFile = tmp.resolve("spec-" + scenario + ".json");
    Files.writeString(specFile, spec.toString());
    Map<String, String> all = new HashMap<>(Map.of("HF_ENDPOINT", endpoint, "HF_HOME", home.toString(),
        "HF_HUB_DISABLE_TELEMETRY", "1", "HF_HUB_DISABLE_PROGRESS_BARS", "1", "HF_HUB_ETAG_TIMEOUT", "10",
        "PYTHONIOENCODING", "utf-8"));
    if (env != null) {
      all.putAll(env);
    }
    Run run = NodePackages.run(tmp, 120, all, python.toString(), script.toString(), scenario, specFile.toString());
    assertThat(run.code()).as(run.output()).isZero();
    String last = run.output().strip().lines().filter(l -> l.startsWith("{")).reduce((a, b) -> b).orElse("{}");
    return JSON.readTree(last);
  }

  static void assertError(JsonNode results, String call, String type, int status) {
    JsonNode r = results.get(call);
    assertThat(r).as(call).isNotNull();
    assertThat(r.path("error").asText()).as(call + ": " + r).isEqualTo(type);
    assertThat(r.path("status").asInt()).as(call + ": " + r).isEqualTo(status);
  }

  static List<String> strings(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.asText()));
    return out;
  }

  static Map<String, String> files(JsonNode tree) {
    Map<String, String> out = new TreeMap<>();
    assertThat(tree.isObject()).as(tree.toString()).isTrue();
    tree.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue().asText()));
    return out;
  }

  static Map<String, String> digests(Path dir) throws Exception {
    Map<String, String> out = new TreeMap<>();
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.filter(Files::isRegularFile).toList()) {
        out.put(dir.relativize(p).toString().replace('\\', '/'), sha256(Files.readAllBytes(p)));
      }
    }
    return out;
  }

  static String sha256(byte[] bytes) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
  }

  /**
   * A venv in {@code work} with huggingface_hub, made once (a later run finds it); its python. Skips the test where
   * it cannot be made, or fails under {@code CI=true}.
   */
  static Path installHuggingFaceHub(Path work) throws Exception {
    Path venv = work.resolve("venv");
    Path py = venv.resolve("bin").resolve("python");
    if (Files.isExecutable(py)
        && NodePackages.run(work, 60, py.toString(), "-c", "import huggingface_hub").code() == 0) {
      return py;
    }
    Files.createDirectories(work);
    Run made = NodePackages.run(work, 120, "python3", "-m", "venv", "--clear", venv.toString());
    if (made.code() != 0) {
      missing("python3 with its venv module (apt-get install python3-venv)", made);
    }
    Run pip = NodePackages.run(work, 300, py.toString(), "-m", "pip", "install", "--retries", "0", "--timeout", "3",
        "huggingface_hub");
    if (pip.code() != 0) {
      missing("huggingface_hub from pip's index (pip install --retries 0 --timeout 3 huggingface_hub)", pip);
    }
    return py;
  }

  private static void missing(String what, Run run) {
    if ("true".equalsIgnoreCase(System.getenv("CI"))) {
      throw new AssertionError("CI=true and HfPythonClientTest needs " + what + ": " + run.output());
    }
    assumeTrue(false, "HfPythonClientTest needs " + what + ", missing here: " + run.output());
  }
}
