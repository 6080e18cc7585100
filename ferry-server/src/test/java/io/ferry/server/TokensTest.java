package io.ferry.server;

import static io.ferry.server.ServerFixture.get;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.ferry.id.ChunkId;
import io.ferry.server.auth.Scope;
import io.ferry.server.auth.TokenFile;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Bearer tokens and scopes: 401 without a valid token, 403 outside its scope, nothing changed in either case. */
@Timeout(120)
class TokensTest {
  @TempDir static Path tmp;
  static ServerFixture fx;
  static URI base;
  static Path file;
  static String reader;
  static String otherReader;
  static String writer;
  static String admin;
  static String v1;

  @BeforeAll
  static void start() throws Exception {
    fx = new ServerFixture(tmp);
    file = fx.tokens();
    reader = fx.token("reader", "read:org/*");
    otherReader = fx.token("other", "read:llama*");
    writer = fx.token("writer", "write:org/tiny");
    admin = fx.token("root", "admin");
    base = fx.startWithTokens().uri();
    v1 = fx.pushed.versionId().hex();
  }

  @AfterAll
  static void stop() throws Exception {
    fx.close();
  }

  static HttpResponse<byte[]> as(String token, HttpRequest.Builder b) throws Exception {
    return fx.send(token == null ? b : b.header("Authorization", "Bearer " + token));
  }

  @Test
  void theFileHoldsOnlySaltedHashesWithOwnerOnlyPermissions() throws Exception {
    String text = Files.readString(file);
    for (String t : List.of(reader, writer, admin)) {
      assertThat(text).doesNotContain(t).doesNotContain(t.substring(17));
    }
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
    assertThat(TokenFile.list(file)).extracting(TokenFile.Entry::name).containsExactly("reader", "other", "writer",
        "root");
  }

  @Test
  void answersToATokenAreNeverMarkedForSharedCaches() throws Exception {
    // Cache-Control "public" lets a shared cache (a CDN, a caching proxy) store the answer to a request that carried
    // Authorization, and serve it to requests without any token: the files of a model only some tokens may read
    for (String path : List.of("/org/tiny/resolve/" + v1 + "/config.json", "/v1/store/chunks/" + v1,
        "/v1/store/chunks/" + v1 + "?decoded=1")) {
      HttpResponse<byte[]> r = as(reader, get(base, path));
      assertThat(r.statusCode()).as(path).isEqualTo(200);
      assertThat(r.headers().firstValue("cache-control")).as(path).hasValue("private, max-age=31536000, immutable");
    }
  }

  @Test
  void withoutOrWithAnUnknownTokenIs401() throws Exception {
    String ref = "/v1/store/refs/org/tiny/tags/prod";
    HttpResponse<byte[]> none = as(null, get(base, ref));
    assertThat(none.statusCode()).isEqualTo(401);
    assertThat(none.headers().firstValue("www-authenticate").orElse("")).startsWith("Bearer");
    String forged = reader.substring(0, reader.length() - 2) + (reader.endsWith("A") ? "BB" : "AA");
    // no token: as the Hub's answer to an anonymous request, no message (huggingface_hub: "repository not found, make
    // sure you are authenticated"); a token that is not valid: the Hub's "Invalid credentials in Authorization header"
    assertThat(none.headers().firstValue("x-error-message")).isEmpty();
    for (String bad : List.of(forged, "fry_000000000000_xyz", "nonsense", "")) {
      HttpResponse<byte[]> r = as(bad, get(base, ref));
      assertThat(r.statusCode()).as(bad).isEqualTo(401);
      assertThat(r.headers().firstValue("x-error-message")).as(bad).hasValue(FerryHandler.INVALID_CREDENTIALS);
    }
    HttpResponse<byte[]> basic = fx.send(get(base, "/api/models/org/tiny").header("Authorization", "Basic " + reader));
    assertThat(basic.statusCode()).isEqualTo(401);
    assertThat(basic.headers().firstValue("x-error-message")).hasValue(FerryHandler.INVALID_CREDENTIALS);
    assertThat(as(reader, get(base, "/api/models/org/tiny")).headers().firstValue("x-error-message")).isEmpty();
    assertThat(as(reader, get(base, ref)).statusCode()).isEqualTo(200);
    assertThat(fx.send(get(base, "/v1/health")).statusCode()).isEqualTo(200);
  }

  /**
   * A request with two Authorization fields is refused naming the defect: the first field was taken and the other
   * ignored, so which token a request ran as depended on the order in which a client library and its caller (or a
   * proxy) added theirs. The same for a page of the store browser.
   */
  @Test
  void twoAuthorizationFieldsAreRefused() throws Exception {
    for (String path : List.of("/v1/store/refs/org/tiny/head", "/api/models/org/tiny", "/")) {
      for (List<String> order : List.of(List.of(reader, otherReader), List.of(otherReader, reader))) {
        HttpResponse<byte[]> r = fx.send(get(base, path).header("Authorization", "Bearer " + order.get(0))
            .header("Authorization", "Bearer " + order.get(1)));
        assertThat(r.statusCode()).as(path + " " + order).isEqualTo(400);
        assertThat(new String(r.body(), StandardCharsets.UTF_8)).as(path).contains("2 Authorization fields");
      }
    }
    assertThat(as(reader, get(base, "/v1/store/refs/org/tiny/head")).statusCode()).isEqualTo(200);
  }

  @Test
  void scopesLimitWhatATokenMayDoAndRefusalsChangeNothing() throws Exception {
    String ref = "/v1/store/refs/org/tiny/tags/prod";
    String body = "{\"new\": \"" + ChunkId.of(new byte[] {1}) + "\", \"who\": \"x\", \"why\": \"y\"}";
    assertThat(as(otherReader, get(base, ref)).statusCode()).isEqualTo(403);
    for (String t : List.of(reader, otherReader)) {
      HttpResponse<byte[]> r = as(t, get(base, ref).header("If-Match", "\"" + v1 + "\"")
          .PUT(HttpRequest.BodyPublishers.ofString(body)));
      assertThat(r.statusCode()).isEqualTo(403);
      assertThat(new String(r.body())).contains("write access to model 'org/tiny'");
    }
    assertThat(fx.repo.resolve("org/tiny:prod").id().hex()).isEqualTo(v1);

    // chunk writes need write on some model; listing and deleting chunks need admin
    ChunkId someChunk = firstObject();
    ByteBuffer frame = fx.repo.backend().chunks().get(someChunk);
    byte[] bytes = new byte[frame.remaining()];
    frame.get(bytes);
    assertThat(as(reader, get(base, "/v1/store/chunks/" + someChunk).DELETE()).statusCode()).isEqualTo(403);
    assertThat(as(writer, get(base, "/v1/store/chunks/" + someChunk).DELETE()).statusCode()).isEqualTo(403);
    assertThat(fx.repo.backend().chunks().contains(someChunk)).isTrue();
    assertThat(as(reader, get(base, "/v1/store/chunks/" + someChunk).PUT(HttpRequest.BodyPublishers
        .ofByteArray(bytes))).statusCode()).isEqualTo(403);
    assertThat(as(writer, get(base, "/v1/store/chunks/" + someChunk).PUT(HttpRequest.BodyPublishers
        .ofByteArray(bytes))).statusCode()).isEqualTo(200);
    assertThat(as(reader, get(base, "/v1/store/chunks/missing").POST(HttpRequest.BodyPublishers.ofString(
        "{\"ids\": []}"))).statusCode()).isEqualTo(403);
    assertThat(as(reader, get(base, "/v1/store/chunks")).statusCode()).isEqualTo(403);
    assertThat(as(admin, get(base, "/v1/store/chunks")).statusCode()).isEqualTo(200);
    assertThat(as(reader, get(base, "/v1/store/chunks/" + someChunk)).statusCode()).isEqualTo(200);

    // the writer moves its model's tag; ref listings show only what a token may read
    String move = "{\"new\": \"" + v1 + "\", \"who\": \"w\", \"why\": \"t\"}";
    assertThat(as(writer, get(base, "/v1/store/refs/org/tiny/tags/w").header("If-None-Match", "*")
        .PUT(HttpRequest.BodyPublishers.ofString(move))).statusCode()).isEqualTo(201);
    // the log names the token that moved it; the client's "who" only beside it, so a writer cannot pose as anyone
    String forged = "{\"new\": \"" + v1 + "\", \"who\": \"alice\", \"why\": \"t\"}";
    assertThat(as(writer, get(base, "/v1/store/refs/org/tiny/tags/f").header("If-None-Match", "*")
        .PUT(HttpRequest.BodyPublishers.ofString(forged))).statusCode()).isEqualTo(201);
    assertThat(fx.repo.backend().refs().log("org/tiny/tags/w").get(0).who()).isEqualTo("writer (as w)");
    assertThat(fx.repo.backend().refs().log("org/tiny/tags/f").get(0).who()).isEqualTo("writer (as alice)");
    assertThat(StoreApi.recordedWho(new io.ferry.server.auth.Access("writer", List.of(), false), "writer"))
        .isEqualTo("writer");
    assertThat(StoreApi.recordedWho(new io.ferry.server.auth.Access("writer", List.of(), false), null))
        .isEqualTo("writer");
    assertThat(StoreApi.recordedWho(io.ferry.server.auth.Access.development(), "alice")).isEqualTo("alice");
    assertThat(new String(as(otherReader, get(base, "/v1/store/refs")).body())).isEqualTo("{\"refs\":[]}");
    assertThat(new String(as(reader, get(base, "/v1/store/refs")).body())).contains("org/tiny/tags/w");

    // records: push leases need write on some model, the rest admin
    assertThat(as(reader, get(base, "/v1/store/records/leases/push/x").PUT(HttpRequest.BodyPublishers
        .ofString("l"))).statusCode()).isEqualTo(403);
    assertThat(fx.repo.backend().records().read("leases/push/x")).isEmpty();
    assertThat(as(writer, get(base, "/v1/store/records/refs/org/tiny/x").PUT(HttpRequest.BodyPublishers
        .ofString("l"))).statusCode()).isEqualTo(403);
    java.time.Instant now = java.time.Instant.now();
    String lease = "{\"kind\":\"push\",\"owner\":\"w\",\"host\":\"h\",\"pid\":1,\"pidStart\":1,\"what\":\"t\","
        + "\"started\":\"" + now + "\",\"expires\":\"" + now.plusSeconds(600) + "\"}";
    String key = "/v1/store/records/leases/push/0000000000001-0000000000000001/lease";
    assertThat(as(writer, get(base, key).PUT(HttpRequest.BodyPublishers.ofString(lease))).statusCode())
        .as("a lease is created, not replaced into being: no token holds it yet").isEqualTo(403);
    assertThat(as(writer, get(base, key).header("If-None-Match", "*").PUT(HttpRequest.BodyPublishers.ofString(lease)))
        .statusCode()).isEqualTo(201);
    assertThat(as(writer, get(base, key).PUT(HttpRequest.BodyPublishers.ofString(lease))).statusCode())
        .as("its renewal").isEqualTo(204);
  }

  /**
   * A scope's glob is matched in time bounded by the name's length times the glob's. It backtracked, taking time
   * exponential in its number of '*': a scope such as this one held a request for hours on a name of 241 characters
   * (a name in the request, or a model's name in the store when a listing is filtered by scope).
   */
  @Test
  void aScopeOfManyStarsMatchesALongNameInTimeBoundedByItsLength() {
    Scope many = Scope.parse("read:*a*a*a*a*a*a*a*a*a*b");
    String name = "a".repeat(120) + "/" + "a".repeat(120);
    assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
      assertThat(many.matches(name)).isFalse();
      assertThat(many.matches(name + "b")).isTrue();
    });
    assertThat(Scope.parse("read:llama*").matches("llama")).isTrue();
    assertThat(Scope.parse("read:llama*").matches("org/llama")).isFalse();
    assertThat(Scope.parse("read:org/*").matches("org/a/b")).isTrue();
    assertThat(Scope.parse("read:*/tiny").matches("org/sub/tiny")).isTrue();
    assertThat(Scope.parse("read:*/tiny").matches("org/tinyx")).isFalse();
    assertThat(Scope.parse("read:o?g/*a").matches("org/ba")).isTrue();
    assertThat(Scope.parse("read:o?g/*a").matches("og/ba")).isFalse();
    assertThat(Scope.parse("read:a*b*c").matches("a*b*c")).isTrue();
    assertThat(Scope.parse("read:a*b*c").matches("abcb")).isFalse();
    assertThat(Scope.parse("read:**").matches("")).isTrue();
    long seed = new SecureRandom().nextLong();
    java.util.Random random = new java.util.Random(seed);
    for (int round = 0; round < 100_000; round++) {
      String glob = randomText(random, "ab*?/", 1 + random.nextInt(7));
      String model = randomText(random, "ab/*", random.nextInt(9));
      assertThat(new Scope(Scope.Kind.READ, glob).matches(model)).as("seed %d: '%s' against '%s'", seed, glob, model)
          .isEqualTo(backtracking(glob, 0, model, 0));
    }
  }

  private static String randomText(java.util.Random random, String alphabet, int length) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < length; i++) {
      b.append(alphabet.charAt(random.nextInt(alphabet.length())));
    }
    return b.toString();
  }

  /** The matching of scopes as it was, by backtracking: exact, and exponential in the number of '*'. */
  private static boolean backtracking(String p, int i, String s, int j) {
    if (i == p.length()) {
      return j == s.length();
    }
    if (p.charAt(i) == '*') {
      for (int k = j; k <= s.length(); k++) {
        if (backtracking(p, i + 1, s, k)) {
          return true;
        }
      }
      return false;
    }
    return j < s.length() && (p.charAt(i) == '?' || p.charAt(i) == s.charAt(j)) && backtracking(p, i + 1, s, j + 1);
  }

  @Test
  void aRevokedTokenIsRefusedOnTheNextRequestWithoutARestart() throws Exception {
    String t = fx.token("temp", "read:*");
    assertThat(as(t, get(base, "/v1/store")).statusCode()).isEqualTo(200);
    assertThat(TokenFile.revoke(file, "temp")).isPresent();
    assertThat(as(t, get(base, "/v1/store")).statusCode()).isEqualTo(401);
    assertThat(as(reader, get(base, "/v1/store")).statusCode()).isEqualTo(200);
    assertThat(fx.accessLog.await(l -> l.contains(" temp GET /v1/store 200 "), 1)).hasSize(1);
  }

  @Test
  void aTokensFileTheServerCannotReadFailsClosedWithoutNamingItsPath() throws Exception {
    // a tokens file cut short while the server runs (an edit in progress) refused every request, and told any client
    // that sent some bearer token where the server keeps its tokens file
    byte[] kept = Files.readAllBytes(file);
    try {
      Files.writeString(file, "{\"tok");
      for (String token : List.of(reader, "fry_000000000000_guess")) {
        HttpResponse<byte[]> r = as(token, get(base, "/v1/store"));
        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(new String(r.body(), StandardCharsets.UTF_8)).contains("tokens file")
            .doesNotContain(file.toString()).doesNotContain(file.getFileName().toString());
      }
    } finally {
      Files.write(file, kept);
    }
    assertThat(as(reader, get(base, "/v1/store")).statusCode()).isEqualTo(200);
  }

  @Test
  void aRefusedBodyIsReadSoTheClientSeesTheAnswerAndTheConnectionLives() throws Exception {
    // a refusal before the body is read must not close the socket on unread bytes: the reset that follows can reach
    // the client before the 403 does
    byte[] body = new byte[3 << 20];
    new SecureRandom().nextBytes(body);
    ChunkId id = ChunkId.of(body);
    for (int i = 0; i < 20; i++) {
      assertThat(as(reader, get(base, "/v1/store/chunks/" + id).PUT(HttpRequest.BodyPublishers.ofByteArray(body)))
          .statusCode()).as("attempt " + i).isEqualTo(403);
    }
    try (Socket s = new Socket(base.getHost(), base.getPort())) {
      s.setSoTimeout(20_000);
      String head = "PUT /v1/store/chunks/" + id + " HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + reader
          + "\r\nContent-Length: " + body.length + "\r\n\r\n";
      s.getOutputStream().write(head.getBytes(StandardCharsets.US_ASCII));
      s.getOutputStream().write(body);
      s.getOutputStream().write("GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n"
          .getBytes(StandardCharsets.US_ASCII));
      s.getOutputStream().flush();
      String first = responseHead(s.getInputStream());
      assertThat(first).startsWith("HTTP/1.1 403").doesNotContainIgnoringCase("connection: close");
      skipBody(s.getInputStream(), first);
      assertThat(responseHead(s.getInputStream())).startsWith("HTTP/1.1 200");
    }
    assertThat(fx.repo.backend().chunks().contains(id)).isFalse();
  }

  private static String responseHead(InputStream in) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    while (!out.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
      int b = in.read();
      assertThat(b).as("the server closed the connection after: " + out.toString(StandardCharsets.ISO_8859_1))
          .isNotNegative();
      out.write(b);
    }
    return out.toString(StandardCharsets.ISO_8859_1);
  }

  private static void skipBody(InputStream in, String head) throws Exception {
    for (String line : head.split("\r\n")) {
      if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
        in.readNBytes(Integer.parseInt(line.substring(15).trim()));
        return;
      }
    }
    throw new AssertionError("no Content-Length in " + head);
  }

  static ChunkId firstObject() throws Exception {
    ChunkId[] first = new ChunkId[1];
    fx.repo.backend().chunks().list(o -> {
      if (first[0] == null || o.id().compareTo(first[0]) < 0) {
        first[0] = o.id();
      }
    });
    return first[0];
  }
}
