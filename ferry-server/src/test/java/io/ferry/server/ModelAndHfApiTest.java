package io.ferry.server;

import static io.ferry.server.ServerFixture.get;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.id.ChunkId;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.testkit.GgufWriter;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The model API and the Hugging Face-compatible endpoint, read with plain HTTP requests. */
@Timeout(120)
class ModelAndHfApiTest {
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir static Path tmp;
  static ServerFixture fx;
  static URI base;
  static String v1;
  static String v2;

  @BeforeAll
  static void start() throws Exception {
    fx = new ServerFixture(tmp);
    v1 = fx.pushed.versionId().hex();
    Files.writeString(fx.dir.resolve("model/config.json"), "{\"model_type\": \"llama\", \"v\": 2}");
    v2 = fx.repo.push(fx.dir.resolve("model"), "org/tiny", PushOptions.builder().message("second").author("t")
        .build()).versionId().hex();
    base = fx.startDev().uri();
  }

  @AfterAll
  static void stop() throws Exception {
    fx.close();
  }

  static JsonNode json(HttpResponse<byte[]> r) throws Exception {
    assertThat(r.statusCode()).as(new String(r.body())).isEqualTo(200);
    return JSON.readTree(r.body());
  }

  static String sha256(byte[] b) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
  }

  static List<Path> localFiles() throws Exception {
    try (Stream<Path> s = Files.list(fx.dir.resolve("model"))) {
      return s.sorted().toList();
    }
  }

  @Test
  void modelsVersionsAndRefs() throws Exception {
    JsonNode models = json(fx.send(get(base, "/v1/models")));
    assertThat(models.get("models")).hasSize(1);
    JsonNode m = models.get("models").get(0);
    assertThat(m.get("name").asText()).isEqualTo("org/tiny");
    assertThat(m.get("head").asText()).isEqualTo(v2);
    assertThat(m.get("tags").get("prod").asText()).isEqualTo(v1);
    assertThat(m.get("versions").asLong()).isEqualTo(2);

    JsonNode page1 = json(fx.send(get(base, "/v1/models/org/tiny/versions?limit=1")));
    assertThat(page1.get("versions").get(0).get("id").asText()).isEqualTo(v2);
    assertThat(page1.get("versions").get(0).get("message").asText()).isEqualTo("second");
    assertThat(page1.get("next").asText()).isEqualTo(v2);
    JsonNode page2 = json(fx.send(get(base, "/v1/models/org/tiny/versions?limit=1&after=" + v2)));
    assertThat(page2.get("versions").get(0).get("id").asText()).isEqualTo(v1);
    assertThat(page2.get("next").isNull()).isTrue();

    JsonNode refs = json(fx.send(get(base, "/v1/models/org/tiny/refs")));
    assertThat(refs.get("head").asText()).isEqualTo(v2);
    assertThat(refs.get("tags").get("prod").asText()).isEqualTo(v1);
    assertThat(fx.send(get(base, "/v1/models/no/such/thing/refs")).statusCode()).isEqualTo(404);
    assertThat(fx.send(get(base, "/v1/models/-bad/refs")).statusCode()).isEqualTo(400);
  }

  @Test
  void aVersionTellsWhereEveryTensorLiesSoAClientCanReadItFromChunks() throws Exception {
    JsonNode v = json(fx.send(get(base, "/v1/versions/main?model=org/tiny")));
    assertThat(v.get("id").asText()).isEqualTo(v2);
    int tensors = 0;
    for (JsonNode f : v.get("files")) {
      byte[] local = Files.readAllBytes(fx.dir.resolve("model").resolve(f.get("path").asText()));
      assertThat(f.get("size").asLong()).isEqualTo(local.length);
      for (JsonNode t : f.get("tensors")) {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        for (JsonNode piece : t.get("chunks")) {
          JsonNode c = f.get("chunks").get(piece.get("chunk").asInt());
          String url = "/v1/store/chunks/" + c.get("id").asText() + "?decoded=1"
              + (c.get("pack").isNull() ? "" : "&pack=" + c.get("pack").asText());
          HttpResponse<byte[]> r = fx.send(get(base, url).header("Range", "bytes=" + piece.get("from").asLong() + "-"
              + (piece.get("to").asLong() - 1)));
          assertThat(r.statusCode()).isEqualTo(206);
          got.write(r.body());
        }
        long off = t.get("offset").asLong();
        assertThat(got.toByteArray()).as(t.get("name").asText())
            .isEqualTo(Arrays.copyOfRange(local, (int) off, (int) (off + t.get("length").asLong())));
        tensors++;
      }
    }
    assertThat(tensors).isGreaterThan(3);
    assertThat(json(fx.send(get(base, "/v1/versions/" + v2 + "?model=org/tiny"))).get("id").asText()).isEqualTo(v2);
    assertThat(json(fx.send(get(base, "/v1/versions/prod?model=org/tiny"))).get("id").asText()).isEqualTo(v1);
    assertThat(fx.send(get(base, "/v1/versions/nope?model=org/tiny")).statusCode()).isEqualTo(404);
    assertThat(fx.send(get(base, "/v1/versions/prod")).statusCode()).isEqualTo(400);
  }

  @Test
  void aVersionByIdPrefixIsFoundAsFerryShowFindsIt() throws Exception {
    // "@" and 4 to 64 hex digits: a prefix of a version id, resolved as ferry show MODEL@PREFIX resolves it
    assertThat(json(fx.send(get(base, "/v1/versions/%40" + v1.substring(0, 6) + "?model=org/tiny"))).get("id")
        .asText()).isEqualTo(v1);
    String missing = v1.startsWith("0000") || v2.startsWith("0000") ? "ffff" : "0000";
    var none = fx.send(get(base, "/v1/versions/@" + missing + "?model=org/tiny"));
    assertThat(none.statusCode()).isEqualTo(404);
    assertThat(new String(none.body(), StandardCharsets.UTF_8)).contains("RevisionNotFound").contains(missing);
    assertThat(fx.send(get(base, "/v1/versions/@zz?model=org/tiny")).statusCode()).isEqualTo(400);
    assertThat(fx.send(get(base, "/v1/versions/@abcd?model=org/nosuch")).statusCode()).isEqualTo(404);
  }

  @Test
  void huggingFaceModelInfoAndTree() throws Exception {
    JsonNode info = json(fx.send(get(base, "/api/models/org/tiny")));
    assertThat(info.get("id").asText()).isEqualTo("org/tiny");
    assertThat(info.get("sha").asText()).isEqualTo(v2);
    List<Path> files = localFiles();
    assertThat(info.get("siblings")).hasSize(files.size());
    for (JsonNode s : info.get("siblings")) {
      byte[] local = Files.readAllBytes(fx.dir.resolve("model").resolve(s.get("rfilename").asText()));
      assertThat(s.get("size").asLong()).isEqualTo(local.length);
      assertThat(s.get("lfs").get("oid").asText()).isEqualTo(sha256(local));
      // huggingface_hub's model_info (so snapshot_download) needs lfs.size, lfs.sha256 and lfs.pointerSize
      String pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + sha256(local) + "\nsize "
          + local.length + "\n";
      assertThat(s.get("lfs").get("sha256").asText()).isEqualTo(sha256(local));
      assertThat(s.get("lfs").get("size").asLong()).isEqualTo(local.length);
      assertThat(s.get("lfs").get("pointerSize").asInt()).isEqualTo(pointer.length());
      MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
      sha1.update(("blob " + pointer.length() + "\0" + pointer).getBytes(StandardCharsets.US_ASCII));
      assertThat(s.get("blobId").asText()).isEqualTo(HexFormat.of().formatHex(sha1.digest()));
    }
    assertThat(json(fx.send(get(base, "/api/models/org/tiny/revision/prod"))).get("sha").asText()).isEqualTo(v1);
    JsonNode tree = json(fx.send(get(base, "/api/models/org/tiny/tree/main?recursive=true")));
    assertThat(tree).hasSize(files.size());
    // as on the Hub, a tree entry's oid is the Git blob id (the sibling's blobId), its lfs.oid the SHA-256
    java.util.Map<String, String> blobIds = new java.util.HashMap<>();
    info.get("siblings").forEach(s -> blobIds.put(s.get("rfilename").asText(), s.get("blobId").asText()));
    for (JsonNode e : tree) {
      assertThat(e.get("oid").asText()).as(e.get("path").asText()).isEqualTo(blobIds.get(e.get("path").asText()));
    }
    HttpResponse<byte[]> noRev = fx.send(get(base, "/api/models/org/tiny/revision/nope"));
    assertThat(noRev.statusCode()).isEqualTo(404);
    assertThat(noRev.headers().firstValue("x-error-code")).hasValue("RevisionNotFound");
    HttpResponse<byte[]> noRepo = fx.send(get(base, "/api/models/org/nothing"));
    assertThat(noRepo.headers().firstValue("x-error-code")).hasValue("RepoNotFound");
  }

  /** huggingface_hub's get_paths_info and HfFileSystem POST a form of paths; those that are not there are left out. */
  @Test
  void huggingFacePathsInfoAnswersForTheFilesAskedFor() throws Exception {
    byte[] config = Files.readAllBytes(fx.dir.resolve("model/config.json"));
    HttpResponse<byte[]> r = fx.send(get(base, "/api/models/org/tiny/paths-info/" + v2)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .POST(HttpRequest.BodyPublishers.ofString("paths=config.json&paths=no%2Fsuch.bin&expand=True")));
    JsonNode got = json(r);
    assertThat(got).hasSize(1);
    assertThat(got.get(0).get("type").asText()).isEqualTo("file");
    assertThat(got.get(0).get("path").asText()).isEqualTo("config.json");
    assertThat(got.get(0).get("size").asLong()).isEqualTo(config.length);
    assertThat(got.get(0).get("lfs").get("oid").asText()).isEqualTo(sha256(config));
    assertThat(got.get(0).get("lfs").get("pointerSize").asInt()).isPositive();
    assertThat(fx.send(get(base, "/api/models/org/tiny/paths-info/nope")
        .POST(HttpRequest.BodyPublishers.ofString("paths=config.json"))).statusCode()).isEqualTo(404);
    HttpResponse<byte[]> many = fx.send(get(base, "/api/models/org/tiny/paths-info/main")
        .POST(HttpRequest.BodyPublishers.ofString("paths=x&".repeat(10_001))));
    assertThat(many.statusCode()).isEqualTo(400);
    // the code docs/http-api.md lists for a malformed query or body, as on every other path ("BadRequest" before)
    assertThat(JSON.readTree(many.body()).get("error").asText()).isEqualTo("bad-request");
    assertThat(fx.send(get(base, "/api/models/org/tiny/tree/main")
        .POST(HttpRequest.BodyPublishers.ofString("paths=x"))).statusCode()).isEqualTo(405);
  }

  @Test
  void huggingFaceResolveServesFilesWithTheHeadersClientsRead() throws Exception {
    for (Path p : localFiles()) {
      byte[] local = Files.readAllBytes(p);
      String name = p.getFileName().toString();
      HttpResponse<byte[]> r = fx.send(get(base, "/org/tiny/resolve/" + v2 + "/" + name));
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).isEqualTo(local);
      assertThat(r.headers().firstValue("x-repo-commit")).hasValue(v2);
      assertThat(r.headers().firstValue("x-linked-etag")).hasValue("\"" + sha256(local) + "\"");
      assertThat(r.headers().firstValue("etag")).hasValue("\"" + sha256(local) + "\"");
      assertThat(r.headers().firstValue("x-linked-size")).hasValue(Long.toString(local.length));
      HttpResponse<byte[]> head = fx.send(get(base, "/org/tiny/resolve/main/" + name).method("HEAD",
          HttpRequest.BodyPublishers.noBody()));
      assertThat(head.statusCode()).isEqualTo(200);
      assertThat(head.headers().firstValueAsLong("content-length").getAsLong()).isEqualTo(local.length);
      if (local.length > 3_000_000) {
        HttpResponse<byte[]> part = fx.send(get(base, "/org/tiny/resolve/prod/" + name)
            .header("Range", "bytes=1000-2999999"));
        assertThat(part.statusCode()).isEqualTo(206);
        assertThat(part.body()).isEqualTo(Arrays.copyOfRange(local, 1000, 3_000_000));
      }
    }
    HttpResponse<byte[]> none = fx.send(get(base, "/org/tiny/resolve/main/missing.bin"));
    assertThat(none.statusCode()).isEqualTo(404);
    assertThat(none.headers().firstValue("x-error-code")).hasValue("EntryNotFound");
    HttpResponse<byte[]> old = fx.send(get(base, "/org/tiny/resolve/prod/config.json"));
    assertThat(new String(old.body())).isEqualTo("{\"model_type\": \"llama\"}");
    assertThat(old.headers().firstValue("x-repo-commit")).hasValue(v1);
    for (String bad : List.of("/org/tiny/resolve/main/../x", "/org/tiny/resolve/main/%2e%2e/x",
        "/org/tiny/resolve/main/a%2Fb", "/org/tiny/resolve/ma%00in/config.json")) {
      assertThat(fx.send(get(base, bad)).statusCode()).as(bad).isEqualTo(400);
    }
    assertThat(ChunkId.isValid(v2)).isTrue();
  }
  /**
   * The 404s of missing things carry what the Hub's carry: {@code X-Error-Code}, {@code X-Error-Message}, and for a
   * file missing from a version that version ({@code X-Repo-Commit}, which huggingface_hub caches as the file's
   * absence). A revision name no ref can have is a revision that does not exist, as on the Hub, not a 400.
   */
  @Test
  void huggingFaceNotFoundsCarryTheHubsHeaders() throws Exception {
    for (String method : List.of("GET", "HEAD")) {
      HttpResponse<byte[]> file = fx.send(get(base, "/org/tiny/resolve/prod/generation_config.json")
          .method(method, HttpRequest.BodyPublishers.noBody()));
      assertThat(file.statusCode()).isEqualTo(404);
      assertThat(file.headers().firstValue("x-error-code")).hasValue("EntryNotFound");
      assertThat(file.headers().firstValue("x-repo-commit")).hasValue(v1);
      assertThat(file.headers().firstValue("x-error-message").orElse("")).contains("generation_config.json");
    }
    // a file's path with a slash after it names a directory of that name, which no version has: it served the file
    HttpResponse<byte[]> slashed = fx.send(get(base, "/org/tiny/resolve/prod/config.json/"));
    assertThat(slashed.statusCode()).isEqualTo(404);
    assertThat(slashed.headers().firstValue("x-error-code")).hasValue("EntryNotFound");
    assertThat(slashed.headers().firstValue("x-repo-commit")).hasValue(v1);
    assertThat(slashed.headers().firstValue("x-error-message").orElse("")).contains("'config.json/'");
    HttpResponse<byte[]> dir = fx.send(get(base, "/api/models/org/tiny/tree/main/nothing"));
    assertThat(dir.statusCode()).isEqualTo(404);
    assertThat(dir.headers().firstValue("x-repo-commit")).hasValue(v2);
    for (String path : List.of("/org/tiny/resolve/v1+x/config.json", "/api/models/org/tiny/revision/v1+x",
        "/api/models/org/tiny/tree/.hidden", "/org/tiny/resolve/nothing/config.json")) {
      HttpResponse<byte[]> r = fx.send(get(base, path));
      assertThat(r.statusCode()).as(path).isEqualTo(404);
      assertThat(r.headers().firstValue("x-error-code")).as(path).hasValue("RevisionNotFound");
      assertThat(r.headers().firstValue("x-error-message")).as(path).isPresent();
    }
    HttpResponse<byte[]> repo = fx.send(get(base, "/org/none/resolve/v1+x/config.json"));
    assertThat(repo.statusCode()).isEqualTo(404);
    assertThat(repo.headers().firstValue("x-error-code")).hasValue("RepoNotFound");
    // a path that ends at the revision names no file: a plain 404 without the Hub's code, which clients read as a
    // failure of the network rather than a missing file
    for (String[] p : new String[][] {{"/org/tiny/resolve/main/", "EntryNotFound"},
        {"/org/tiny/resolve/main", "EntryNotFound"}, {"/org/tiny/resolve/v1+x/", "RevisionNotFound"},
        {"/org/none/resolve/main/", "RepoNotFound"}, {"/datasets/org/none/resolve/main/", "RepoNotFound"}}) {
      HttpResponse<byte[]> r = fx.send(get(base, p[0]));
      assertThat(r.statusCode()).as(p[0]).isEqualTo(404);
      assertThat(r.headers().firstValue("x-error-code")).as(p[0]).hasValue(p[1]);
    }
    assertThat(fx.send(get(base, "/org/tiny/resolve/main/")).headers().firstValue("x-repo-commit")).hasValue(v2);
    // a path of the model API that names nothing (a tree without its revision): the Hub's codes too, which clients
    // turn into their typed errors; it was a 404 without them (huggingface_hub: a bare HfHubHTTPError)
    for (String[] p : new String[][] {{"/api/models/org/tiny/tree", "EntryNotFound"},
        {"/api/models/org/tiny/nothing/main", "EntryNotFound"}, {"/api/models/org/none/tree", "RepoNotFound"},
        {"/api/models/org/none/x/y/z", "RepoNotFound"}}) {
      HttpResponse<byte[]> r = fx.send(get(base, p[0]));
      assertThat(r.statusCode()).as(p[0]).isEqualTo(404);
      assertThat(r.headers().firstValue("x-error-code")).as(p[0]).hasValue(p[1]);
      assertThat(r.headers().firstValue("x-error-message").orElse("")).as(p[0]).contains(p[0]);
    }
  }

  /**
   * huggingface_hub's {@code list_repo_refs} and {@code list_repo_commits} (404 before); {@code /api/models/a/refs} is
   * also the info of a model named {@code a/refs}, and is that when the model exists.
   */
  @Test
  void huggingFaceRefsAndCommits(@TempDir Path own) throws Exception {
    JsonNode refs = json(fx.send(get(base, "/api/models/org/tiny/refs")));
    assertThat(refs.get("branches").toString()).isEqualTo("[{\"name\":\"main\",\"ref\":\"refs/heads/main\","
        + "\"targetCommit\":\"" + v2 + "\"}]");
    assertThat(refs.get("tags").toString()).isEqualTo("[{\"name\":\"prod\",\"ref\":\"refs/tags/prod\","
        + "\"targetCommit\":\"" + v1 + "\"}]");
    HttpResponse<byte[]> commits = fx.send(get(base, "/api/models/org/tiny/commits/main"));
    List<String> ids = new java.util.ArrayList<>();
    json(commits).forEach(c -> ids.add(c.get("id").asText()));
    assertThat(ids).containsExactly(v2, v1);
    assertThat(commits.headers().firstValue("link")).isEmpty();
    assertThat(json(fx.send(get(base, "/api/models/org/tiny/commits/prod?p=1")))).isEmpty();
    // a sign, or digits of another script ("١", Arabic-Indic one), were read as a page number
    for (String bad : List.of("p=-1", "p=1000", "p=x", "limit=0", "limit=101", "p=%2B1", "p=%D9%A1", "limit=%D9%A1",
        "p=99999999999", "p=")) {
      HttpResponse<byte[]> r = fx.send(get(base, "/api/models/org/tiny/commits/main?" + bad));
      assertThat(r.statusCode()).as(bad).isEqualTo(400);
      assertThat(JSON.readTree(r.body()).get("error").asText()).as(bad).isEqualTo("bad-request");
    }
    // list_models' limit: a whole number past a long's range is no limit, and was said not to be a whole number
    // from 1; a sign or digits of another script were taken as digits
    assertThat(json(fx.send(get(base, "/api/models?limit=99999999999999999999"))).size())
        .isEqualTo(json(fx.send(get(base, "/api/models"))).size()).isPositive();
    assertThat(json(fx.send(get(base, "/api/models?limit=1"))).size()).isEqualTo(1);
    for (String bad : List.of("limit=%2B1", "limit=%D9%A1", "limit=0", "limit=-1", "limit=", "limit=1x")) {
      HttpResponse<byte[]> r = fx.send(get(base, "/api/models?" + bad));
      assertThat(r.statusCode()).as(bad).isEqualTo(400);
      assertThat(new String(r.body(), StandardCharsets.UTF_8)).as(bad).contains("limit must be a whole number");
    }
    HttpResponse<byte[]> none = fx.send(get(base, "/api/models/org/none/refs"));
    assertThat(none.statusCode()).isEqualTo(404);
    assertThat(none.headers().firstValue("x-error-code")).hasValue("RepoNotFound");
    try (ServerFixture other = new ServerFixture(own)) {
      URI at = other.startDev().uri();
      other.repo.push(other.dir.resolve("model"), "org/refs", PushOptions.builder().message("m").author("test")
          .build());
      assertThat(json(other.send(get(at, "/api/models/org/refs"))).get("id").asText()).isEqualTo("org/refs");
      assertThat(json(other.send(get(at, "/api/models/org/refs/refs"))).get("branches").get(0).get("name").asText())
          .isEqualTo("main");
      // a renamed model: 307 to the same path under its present name, query kept; a name never used stays a 404
      other.repo.renameModel("org/tiny", "org/moved");
      for (String[] p : new String[][] {{"/org/tiny/resolve/main/config.json", "/org/moved/resolve/main/config.json"},
          {"/api/models/org/tiny?a=1", "/api/models/org/moved?a=1"},
          {"/api/models/org/tiny/tree/main", "/api/models/org/moved/tree/main"}}) {
        HttpResponse<byte[]> r = other.send(get(at, p[0]));
        assertThat(r.statusCode()).as(p[0]).isEqualTo(307);
        assertThat(r.headers().firstValue("location")).as(p[0]).hasValue(p[1]);
      }
      assertThat(other.send(get(at, "/api/models/org/never")).statusCode()).isEqualTo(404);

      // pages (of 2 here; 100 by default): a Link to the next, absolute as the Hub's (huggingface_hub follows it as is)
      Path small = Files.createDirectories(own.resolve("small"));
      for (int i = 0; i < 3; i++) {
        Files.writeString(small.resolve("config.json"), "{\"v\": " + i + "}");
        other.repo.push(small, "org/many", PushOptions.builder().message("v" + i).author("test").build());
      }
      HttpResponse<byte[]> first = other.send(get(at, "/api/models/org/many/commits/main?limit=2"));
      assertThat(json(first)).hasSize(2);
      assertThat(json(first).get(0).get("title").asText()).isEqualTo("v2");
      String next = first.headers().firstValue("link").orElse("");
      assertThat(next).isEqualTo("<" + at.resolve("/api/models/org/many/commits/main?p=1&limit=2") + ">; rel=\"next\"");
      HttpResponse<byte[]> last = other.send(HttpRequest.newBuilder(URI.create(next.substring(1, next.indexOf('>')))));
      assertThat(json(last)).hasSize(1);
      assertThat(json(last).get(0).get("title").asText()).isEqualTo("v0");
      assertThat(last.headers().firstValue("link")).isEmpty();
      // behind a proxy that ends TLS, the Link names the server as its clients reach it (--public-url), not as the
      // proxy reached it: it named the inner scheme, host and port, which huggingface_hub then asked with its token
      URI behind = other.start(ServerOptions.builder().publicUrl("https://models.example.com:8443/")).uri();
      assertThat(other.send(get(behind, "/api/models/org/many/commits/main?limit=2")).headers().firstValue("link"))
          .hasValue("<https://models.example.com:8443/api/models/org/many/commits/main?p=1&limit=2>; rel=\"next\"");
    }
  }

  /** A GGUF model as a quantized repository on the Hub holds it: quantizations, a split one, a projector. */
  static Path ggufRepository(Path dir) throws Exception {
    Files.createDirectories(dir.resolve("Q2_K"));
    for (String quant : List.of("Q4_K_M", "Q8_0", "F16")) {
      new GgufWriter().str("general.architecture", "llama").str("general.name", quant)
          .seeded("token_embd.weight", DType.F32, quant.length(), 8, 4).write(dir.resolve("tiny-" + quant + ".gguf"));
    }
    for (int n = 1; n <= 2; n++) {
      GgufWriter w = new GgufWriter();
      if (n == 1) {
        w.str("general.architecture", "llama");
      }
      w.kv("split.no", GgufWriter.U16, new byte[] {(byte) (n - 1), 0})
          .kv("split.count", GgufWriter.U16, new byte[] {2, 0}).i32("split.tensors.count", 2)
          .seeded("blk." + n + ".weight", DType.F32, n, 8, 4)
          .write(dir.resolve("Q2_K/tiny-Q2_K-0000" + n + "-of-00002.gguf"));
    }
    new GgufWriter().str("general.architecture", "clip").seeded("v.weight", DType.F32, 9, 8)
        .write(dir.resolve("mmproj-tiny-F16.gguf"));
    Files.writeString(dir.resolve("README.md"), "tiny\n");
    return dir;
  }

  /**
   * {@code /v2/{org}/{name}/manifests/{tag}}, where llama.cpp's {@code -hf org/name:QUANT} and node-llama-cpp's {@code
   * hf:org/name:QUANT} ask which GGUF file a quantization names (a 404 before): the file by quantization in any case,
   * by file name, the first split of a split one, {@code latest} as {@code Q4_K_M}, the projector beside it; the Hub's
   * 404s for a tag no file has, a model without GGUF files and a model that does not exist.
   */
  @Test
  void ggufManifestNamesTheFileOfAQuantization(@TempDir Path own) throws Exception {
    try (ServerFixture other = new ServerFixture(own)) {
      URI at = other.startDev().uri();
      other.repo.push(ggufRepository(own.resolve("gguf")), "org/tiny-gguf", PushOptions.builder().message("m")
          .author("test").build());
      java.util.Map<String, String> sha = new java.util.HashMap<>();
      other.repo.snapshot(other.repo.resolve("org/tiny-gguf")).files().forEach(f -> sha.put(f.path(), f.sha256()));
      for (String[] t : new String[][] {{"Q8_0", "tiny-Q8_0.gguf"}, {"q8_0", "tiny-Q8_0.gguf"},
          {"latest", "tiny-Q4_K_M.gguf"}, {"f16", "tiny-F16.gguf"}, {"Q2_K", "Q2_K/tiny-Q2_K-00001-of-00002.gguf"},
          {"tiny-F16.gguf", "tiny-F16.gguf"}, {"Q2_K%2Ftiny-Q2_K-00001-of-00002.gguf",
              "Q2_K/tiny-Q2_K-00001-of-00002.gguf"}}) {
        HttpResponse<byte[]> r = other.send(get(at, "/v2/org/tiny-gguf/manifests/" + t[0])
            .header("User-Agent", "llama-cpp"));
        JsonNode m = json(r);
        assertThat(m.get("ggufFile").get("rfilename").asText()).as(t[0]).isEqualTo(t[1]);
        assertThat(m.get("ggufFile").get("lfs").get("sha256").asText()).as(t[0]).isEqualTo(sha.get(t[1]));
        assertThat(m.get("ggufFile").get("size").asLong()).as(t[0])
            .isEqualTo(Files.size(own.resolve("gguf").resolve(t[1])));
        assertThat(m.get("mmprojFile").get("rfilename").asText()).as(t[0]).isEqualTo("mmproj-tiny-F16.gguf");
        assertThat(r.headers().firstValue("content-type").orElse("")).startsWith("application/json");
      }
      for (String[] p : new String[][] {{"/v2/org/tiny-gguf/manifests/Q5_K_M", "EntryNotFound", "Q5_K_M"},
          {"/v2/org/tiny-gguf/manifests/K_M", "EntryNotFound", "K_M"},
          {"/v2/org/tiny-gguf/manifests/mmproj-tiny-F16.gguf", "EntryNotFound", "mmproj"},
          {"/v2/org/tiny-gguf/manifests/Q2_K%2Ftiny-Q2_K-00002-of-00002.gguf", "EntryNotFound", "tiny-Q2_K"},
          {"/v2/org/tiny/manifests/latest", "EntryNotFound", "no GGUF file"},
          {"/v2/org/none/manifests/latest", "RepoNotFound", "org/none"}}) {
        HttpResponse<byte[]> r = other.send(get(at, p[0]));
        assertThat(r.statusCode()).as(p[0]).isEqualTo(404);
        assertThat(r.headers().firstValue("x-error-code")).as(p[0]).hasValue(p[1]);
        assertThat(r.headers().firstValue("x-error-message").orElse("")).as(p[0]).contains(p[2]);
      }
      assertThat(other.send(get(at, "/v2/org/tiny-gguf/manifests/latest").method("DELETE",
          HttpRequest.BodyPublishers.noBody())).statusCode()).isEqualTo(405);
      other.repo.renameModel("org/tiny-gguf", "org/moved-gguf");
      HttpResponse<byte[]> moved = other.send(get(at, "/v2/org/tiny-gguf/manifests/Q8_0"));
      assertThat(moved.statusCode()).isEqualTo(307);
      assertThat(moved.headers().firstValue("location")).hasValue("/v2/org/moved-gguf/manifests/Q8_0");
    }
  }

  /**
   * {@code GET /v2/}, the registry ping that a client of {@code /v2/.../manifests/...} may send first, was a plain 404:
   * it is 200 {@code {}} as a registry answers it, and without a token on a server with tokens 401 with {@code
   * WWW-Authenticate: Bearer}.
   */
  @Test
  void registryPingIsAnsweredAsARegistryAnswersIt(@TempDir Path own) throws Exception {
    HttpResponse<byte[]> dev = fx.send(get(base, "/v2/"));
    assertThat(dev.statusCode()).isEqualTo(200);
    assertThat(json(dev).size()).isZero();
    assertThat(dev.headers().firstValue("docker-distribution-api-version")).hasValue("registry/2.0");
    assertThat(fx.send(get(base, "/v2")).statusCode()).isEqualTo(200);
    assertThat(fx.send(get(base, "/v2/").method("HEAD", HttpRequest.BodyPublishers.noBody())).statusCode())
        .isEqualTo(200);
    assertThat(fx.send(get(base, "/v2/").method("DELETE", HttpRequest.BodyPublishers.noBody())).statusCode())
        .isEqualTo(405);
    try (ServerFixture other = new ServerFixture(own)) {
      String token = other.token("ping", "read:org/*");
      URI at = other.startWithTokens().uri();
      HttpResponse<byte[]> anonymous = other.send(get(at, "/v2/"));
      assertThat(anonymous.statusCode()).isEqualTo(401);
      assertThat(anonymous.headers().firstValue("www-authenticate").orElse("")).startsWith("Bearer ");
      HttpResponse<byte[]> signed = other.send(get(at, "/v2/").header("Authorization", "Bearer " + token));
      assertThat(signed.statusCode()).isEqualTo(200);
      assertThat(json(signed).size()).isZero();
    }
  }

  /**
   * {@code refs/tags/NAME} is the tag NAME and nothing else, as {@code list_repo_refs} lists it: a tag named {@code
   * main} was answered with the head's files (the branch {@code main}), and {@code refs/tags/HEAD}, {@code
   * refs/tags/<version id or a prefix of it>} with that version, though the model has no such tag.
   */
  @Test
  void aFullTagNameIsAlwaysATag(@TempDir Path own) throws Exception {
    try (ServerFixture other = new ServerFixture(own)) {
      URI at = other.startDev().uri();
      String first = other.pushed.versionId().hex();
      Files.writeString(other.dir.resolve("model/config.json"), "{\"v\": 2}");
      String head = other.repo.push(other.dir.resolve("model"), "org/tiny", PushOptions.builder().message("second")
          .author("test").build()).versionId().hex();
      other.repo.tag("org/tiny@" + first, "main", null);
      HttpResponse<byte[]> tag = other.send(get(at, "/org/tiny/resolve/refs%2Ftags%2Fmain/config.json"));
      assertThat(tag.statusCode()).isEqualTo(200);
      assertThat(tag.headers().firstValue("x-repo-commit")).hasValue(first);
      assertThat(json(other.send(get(at, "/api/models/org/tiny/revision/refs%2Ftags%2Fmain"))).get("sha").asText())
          .isEqualTo(first);
      assertThat(other.send(get(at, "/org/tiny/resolve/main/config.json")).headers().firstValue("x-repo-commit"))
          .hasValue(head);
      for (String rev : List.of("HEAD", "head", first.substring(0, 8), first)) {
        HttpResponse<byte[]> r = other.send(get(at, "/org/tiny/resolve/refs%2Ftags%2F" + rev + "/config.json"));
        assertThat(r.statusCode()).as(rev).isEqualTo(404);
        assertThat(r.headers().firstValue("x-error-code")).as(rev).hasValue("RevisionNotFound");
      }
    }
  }

  /**
   * huggingface_hub sends a revision and a tree path as one segment each, slashes encoded ({@code refs%2Fpr%2F1},
   * {@code sub%2Fdeep}): the Hugging Face paths take that (Jetty refused every {@code %2F} with 400, which
   * hf_hub_download reported as a network failure), each piece still checked; every other path with one stays a 400.
   */
  @Test
  void encodedSlashesReachOnlyTheHuggingFaceRevisionsAndTreePaths() throws Exception {
    HttpResponse<byte[]> pr = fx.send(get(base, "/org/tiny/resolve/refs%2Fpr%2F1/config.json"));
    assertThat(pr.statusCode()).isEqualTo(404);
    assertThat(pr.headers().firstValue("x-error-code")).hasValue("RevisionNotFound");
    HttpResponse<byte[]> tag = fx.send(get(base, "/org/tiny/resolve/refs%2Ftags%2Fprod/config.json"));
    assertThat(tag.statusCode()).isEqualTo(200);
    assertThat(tag.headers().firstValue("x-repo-commit")).hasValue(v1);
    assertThat(fx.send(get(base, "/api/models/org/tiny/revision/refs%2Fheads%2Fmain")).statusCode()).isEqualTo(200);
    for (String bad : List.of("/v1/models/org%2Ftiny/refs", "/v1/versions/main%2Fx?model=org/tiny",
        "/org/tiny/resolve/main/a%2Fconfig.json", "/org%2Ftiny/resolve/main/config.json",
        "/api/models/org/tiny/tree/main/x%2F..", "/api/models/org/tiny/tree/main/%2Fx",
        "/api/models/org/tiny/revision/refs%2F%2Fx", "/org/tiny/resolve/a%2F.%2Fb/config.json")) {
      HttpResponse<byte[]> r = fx.send(get(base, bad));
      assertThat(r.statusCode()).as(bad).isEqualTo(400);
    }
  }

  /**
   * File names as Hugging Face clients send them: huggingface_hub quotes a file name with Python's {@code quote}
   * (every byte but letters, digits, {@code _.-~} and {@code /} percent-encoded), so a '%' in a name arrives as
   * {@code %25}, which Jetty refuses by default as an ambiguous encoding. Each segment is decoded exactly once, so an
   * encoded {@code %2e%2e} is a name, never a parent directory.
   */
  @Test
  void huggingFaceResolveServesFileNamesWithPercentSpacesAndUnicode(@TempDir Path own) throws Exception {
    try (ServerFixture fx = new ServerFixture(own)) {
      URI base = fx.startDev().uri();
      resolveOddNames(fx, base, own.resolve("odd-names"));
    }
  }

  private static void resolveOddNames(ServerFixture fx, URI base, Path dir) throws Exception {
    Files.createDirectories(dir.resolve("sub"));
    List<String> names = List.of("100%.txt", "sub/h\u00e9llo w\u00f6rld #1?.txt", "a%2Fb.txt", "%2e%2e", "50%25off.txt");
    for (String n : names) {
      Files.writeString(dir.resolve(n), "bytes of " + n);
    }
    String v = fx.repo.push(dir, "org/odd", PushOptions.builder().message("odd").author("t").build())
        .versionId().hex();
    for (String n : names) {
      HttpResponse<byte[]> r = fx.send(get(base, "/org/odd/resolve/" + v + "/" + hfQuote(n)));
      assertThat(r.statusCode()).as(n).isEqualTo(200);
      assertThat(new String(r.body(), java.nio.charset.StandardCharsets.UTF_8)).isEqualTo("bytes of " + n);
    }
    assertThat(fx.send(get(base, "/org/odd/resolve/main/%252e%252e/x")).statusCode()).isEqualTo(404);
    assertThat(fx.send(get(base, "/org/odd/resolve/main/%2e%2e/x")).statusCode()).isEqualTo(400);
  }

  /** Python's {@code urllib.parse.quote(s)}: UTF-8, every byte but {@code A-Za-z0-9_.-~/} as {@code %XX}. */
  static String hfQuote(String s) {
    StringBuilder b = new StringBuilder();
    for (byte x : s.getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
      int c = x & 0xff;
      if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || "_.-~/".indexOf(c) >= 0) {
        b.append((char) c);
      } else {
        b.append('%').append(String.format("%02X", c));
      }
    }
    return b.toString();
  }
}
