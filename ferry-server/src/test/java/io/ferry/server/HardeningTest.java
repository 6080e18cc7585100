package io.ferry.server;

import static io.ferry.server.ServerFixture.get;
import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad requests never hurt the server: traversal in every kind of path segment, idle and slow connections, many
 * clients at once; the server keeps serving everyone else. Slow clients holding the memory budget: {@link
 * MemoryBudgetHardeningTest}.
 */
@Timeout(180)
class HardeningTest {
  @TempDir static Path tmp;
  static ServerFixture fx;
  /**
   * The server with an idle timeout of 3 s, for the tests of idle and slow connections. With 800 ms, a pause of the
   * test's JVM of a second (a loaded machine's) cut the answers to the other clients these tests check are served.
   */
  static URI base;
  /**
   * A server over the same store whose idle timeout no stall of a loaded machine reaches, for the tests of what a
   * request is answered: on {@link #base} a second's pause before the server read a request closed it unanswered.
   */
  static URI patient;
  static ChunkId chunk;
  static byte[] chunkBytes;

  @BeforeAll
  static void start() throws Exception {
    fx = new ServerFixture(tmp);
    base = fx.start(ServerOptions.builder().idleTimeout(Duration.ofSeconds(3))).uri();
    patient = fx.start(ServerOptions.builder().idleTimeout(Duration.ofMinutes(2))).uri();
    List<ChunkId> ids = new ArrayList<>();
    fx.repo.backend().chunks().list(o -> {
      if (o.size() > 1 << 20) {
        ids.add(o.id());
      }
    });
    chunk = ids.get(0);
    ByteBuffer b = fx.repo.backend().chunks().get(chunk);
    chunkBytes = new byte[b.remaining()];
    b.get(chunkBytes);
    Files.writeString(tmp.resolve("secret.txt"), "secret");
  }

  @AfterAll
  static void stop() throws Exception {
    fx.close();
  }

  /** Sends raw bytes on a new connection and returns the status code of the first response line, or -1 if closed. */
  static int raw(String request) throws Exception {
    try (Socket s = new Socket(patient.getHost(), patient.getPort())) {
      s.setSoTimeout(10_000);
      s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
      s.getOutputStream().flush();
      byte[] head = s.getInputStream().readNBytes(12);
      if (head.length < 12) {
        return -1;
      }
      return Integer.parseInt(new String(head, StandardCharsets.ISO_8859_1).substring(9, 12));
    }
  }

  static int rawGet(String path) throws Exception {
    return raw("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  }

  @Test
  void traversalInEverySegmentIsRefused() throws Exception {
    String storeDir = fx.dir.resolve("store").toString();
    List<String> paths = List.of(
        "/v1/store/chunks/..%2f..%2fsecret.txt", "/v1/store/chunks/../../secret.txt",
        "/v1/store/chunks/%2e%2e/%2e%2e/secret.txt", "/v1/store/refs/../../../secret.txt",
        "/v1/store/refs/org/tiny/tags/%2e%2e", "/v1/store/refs/org%2F..%2F..%2Fx/head",
        "/v1/store/records/leases/..%2F..%2F..%2Fsecret.txt", "/v1/store/records/%2e%2e/%2e%2e/secret.txt",
        "/v1/store/records/leases/%5c..%5csecret.txt", "/v1/store/records/leases/a%00b",
        "/org/tiny/resolve/main/..%2f..%2fsecret.txt", "/org/tiny/resolve/main/../../secret.txt",
        "/org/tiny/resolve/%2e%2e/config.json", "/org%2Ftiny/resolve/main/config.json",
        "/api/models/..%2F..%2Fsecret.txt", "/api/models/org/tiny/tree/main/%2e%2e",
        "/v1/models/..%2f/versions", "/v1/versions/..?model=org/tiny", "/..%2f..%2f" + storeDir + "/ferry-store.json",
        "/v1/store/chunks/%zz", "/v1/store/chunks/%c0%ae%c0%ae");
    for (String p : paths) {
      int status = rawGet(p);
      assertThat(status).as(p).isIn(400, 404);
    }
    assertThat(fx.send(get(patient, "/v1/store/chunks/" + chunk)).statusCode()).isEqualTo(200);
    // the ones Jetty refuses before a handler sees them answer with the API's JSON error body too, not an HTML page
    for (String p : List.of("/v1/store/chunks/%2e%2e/%2e%2e/secret.txt", "/v1/store/refs/org%2F..%2F..%2Fx/head")) {
      HttpResponse<byte[]> r = fx.send(get(patient, p));
      assertThat(r.statusCode()).as(p).isEqualTo(400);
      assertThat(r.headers().firstValue("content-type").orElse("")).as(p).startsWith("application/json");
      assertThat(new String(r.body(), StandardCharsets.UTF_8)).as(p).startsWith("{\"error\":\"bad-request\",");
    }
    // and so do writes (Jetty's default wrote a body for GET, POST and HEAD only, and left a PUT's or DELETE's empty)
    for (String request : List.of("PUT /v1/store/chunks/%2e%2e/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n",
        "DELETE /v1/store/records/%2e%2e/x HTTP/1.1\r\nHost: localhost\r\n",
        "PUT /v1/store/records/leases/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 3\r\n")) {
      try (Socket s = new Socket(patient.getHost(), patient.getPort())) {
        s.setSoTimeout(10_000);
        s.getOutputStream().write((request + "Connection: close\r\n\r\nabc").getBytes(StandardCharsets.US_ASCII));
        String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(answer).as(request).startsWith("HTTP/1.1 400").contains("application/json")
            .contains("{\"error\":\"bad-request\",");
      }
    }
  }

  /**
   * A path with an encoded control character or backslash, which Jetty refuses before a handler sees it, is refused
   * naming the character, and the path where Jetty keeps it: a {@code %00} got a bare "Bad Request", the others
   * "Suspicious Path Character", naming neither. Jetty refuses a {@code %00} before it keeps the path: its 400 named
   * the character only, and its access log line read {@code BAD /badMessage}; both name the path now.
   */
  @Test
  void anEncodedControlCharacterInAPathIsRefusedNamingTheCharacter() throws Exception {
    String[][] cases = {{"/v1/store/refs/org/tiny/tags/x%01", "path '/v1/store/refs/org/tiny/tags/x%01' holds %01,"
        + " an encoded control character"}, {"/org/tiny/resolve/main/a%7Fb", "path '/org/tiny/resolve/main/a%7Fb'"
        + " holds %7F, an encoded control character"}, {"/v1/store/records/leases/a%5cb",
        "path '/v1/store/records/leases/a%5cb' holds %5c, an encoded backslash"},
        {"/v1/store/refs/a%00b/head", "path '/v1/store/refs/a%00b/head' holds %00, an encoded NUL"},
        {"/v1/store/records/x%00y?q=1", "path '/v1/store/records/x%00y' holds %00, an encoded NUL"}};
    for (String[] c : cases) {
      HttpResponse<byte[]> r = fx.send(get(patient, c[0]));
      assertThat(r.statusCode()).as(c[0]).isEqualTo(400);
      assertThat(new String(r.body(), StandardCharsets.UTF_8)).as(c[0]).startsWith("{\"error\":\"bad-request\",")
          .contains(c[1]);
    }
    assertThat(fx.accessLog.await(l -> l.contains(" /v1/store/records/x%00y?q=1 400 "), 1)).hasSize(1);
    // what the client sent is shown only escaped: a right-to-left override (U+202E) beside the %00, in the body
    // and in the access log line
    try (Socket s = new Socket(patient.getHost(), patient.getPort())) {
      s.setSoTimeout(10_000);
      s.getOutputStream().write("GET /v1/models/nul-\u202e%00 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
          .getBytes(StandardCharsets.UTF_8));
      String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(answer).startsWith("HTTP/1.1 400").contains("path '/v1/models/nul-%E2%80%AE%00' holds %00")
          .doesNotContain("\u202e");
    }
    assertThat(fx.accessLog.await(l -> l.contains("/v1/models/nul-"), 1)).singleElement()
        .satisfies(l -> assertThat(l).contains(" /v1/models/nul-%E2%80%AE%00 400 ").doesNotContain("\u202e"));
  }

  /**
   * An error Jetty answers itself is logged with the bytes of its JSON body, which the client got: such lines read
   * {@code BAD /badMessage 400 0} after a body of some 160 bytes.
   */
  @Test
  void anErrorJettyAnswersItselfIsLoggedWithTheBytesOfItsBody() throws Exception {
    String[][] cases = {{"jetty-bytes-nul", "GET /jetty-bytes-nul%00 HTTP/1.1\r\nHost: localhost\r\n"},
        {"jetty-bytes-ctl", "GET /jetty-bytes-ctl%01 HTTP/1.1\r\nHost: localhost\r\n"},
        {"jetty-bytes-big", "GET /jetty-bytes-big HTTP/1.1\r\nHost: localhost\r\nX-Big: " + "x".repeat(20_000)
            + "\r\n"}};
    for (String[] c : cases) {
      String answer = rawAnswer(c[1] + "Connection: close\r\n\r\n");
      int body = answer.substring(answer.indexOf("\r\n\r\n") + 4).getBytes(StandardCharsets.UTF_8).length;
      assertThat(answer).as(c[0]).startsWith("HTTP/1.1 4").contains("\"error\":");
      assertThat(body).as(c[0]).isGreaterThan(20);
      String status = answer.substring(9, 12);
      assertThat(fx.accessLog.await(l -> l.contains(c[0]), 1)).as(c[0]).singleElement()
          .satisfies(l -> assertThat(l).contains(" " + status + " " + body + " ").doesNotContain("cut-short"));
    }
  }

  @Test
  void theAccessLogEscapesCharactersThatReorderOrBreakALine() throws Exception {
    // a path Jetty refuses reaches the log as sent, raw UTF-8 included: a right-to-left override (U+202E) made a
    // terminal show the rest of the line reversed, and a line separator (U+2028) broke it in some viewers
    for (String c : List.of("\u202e", "\u2028", "\u2066")) {
      String marker = "bidi-" + (int) c.charAt(0);
      try (Socket s = new Socket(base.getHost(), base.getPort())) {
        s.setSoTimeout(10_000);
        s.getOutputStream().write(("GET /" + marker + c + "x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .getBytes(StandardCharsets.UTF_8));
        s.getInputStream().readAllBytes();
      }
      String escaped = java.util.HexFormat.of().withUpperCase().formatHex(c.getBytes(StandardCharsets.UTF_8))
          .replaceAll("(..)", "%$1");
      assertThat(fx.accessLog.await(l -> l.contains(marker), 1)).singleElement()
          .satisfies(l -> assertThat(l).contains("/" + marker + escaped + "x ").doesNotContain(c));
    }
  }

  @Test
  void aDevelopmentServerAnswersOnlyRequestsAddressedToThisMachine() throws Exception {
    // a development server lets every request read, overwrite and delete; a web page whose name its owner pointed at
    // 127.0.0.1 (DNS rebinding) is the server's own site to the browser, and its requests were all answered
    for (String host : List.of("evil.example", "evil.example:" + patient.getPort(), "127.0.0.1.evil.example",
        "localhost.evil.example", "10.0.0.1", "[::2]")) {
      String answer = rawAnswer("GET /v1/store/refs/org/tiny/head HTTP/1.1\r\nHost: " + host
          + "\r\nConnection: close\r\n\r\n");
      assertThat(answer).as(host).startsWith("HTTP/1.1 403").contains("\"error\":\"forbidden\"")
          .contains("development server");
    }
    for (String host : List.of("127.0.0.1:" + patient.getPort(), "localhost", "LOCALHOST:" + patient.getPort(),
        "ferry.localhost", "127.1.2.3", "[::1]:" + patient.getPort())) {
      assertThat(rawAnswer("GET /v1/store/refs/org/tiny/head HTTP/1.1\r\nHost: " + host
          + "\r\nConnection: close\r\n\r\n")).as(host).startsWith("HTTP/1.1 200");
    }
    // a server with tokens answers any name: its requests must carry a token, which a web page does not have
    String token = fx.token("reader", "read:org/*");
    try (Socket s = new Socket(patient.getHost(), fx.startWithTokens().port())) {
      s.setSoTimeout(10_000);
      s.getOutputStream().write(("GET /v1/store/refs/org/tiny/head HTTP/1.1\r\nHost: ferry.example.com\r\n"
          + "Authorization: Bearer " + token + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.UTF_8));
      assertThat(statusLine(s)).isEqualTo("HTTP/1.1 200");
    }
  }

  /** Sends {@code request} on a new connection and returns all the server answers. */
  static String rawAnswer(String request) throws Exception {
    try (Socket s = new Socket(patient.getHost(), patient.getPort())) {
      s.setSoTimeout(10_000);
      s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
      return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  @Test
  void aMalformedQueryIsRefusedRatherThanIgnored() throws Exception {
    // a bad escape anywhere in the query made the server drop every parameter: a listing of records under a prefix
    // listed them all, and a read of a decoded chunk sent its stored frame, both answered 200
    for (String q : List.of("?prefix=zz&x=%zz", "?prefix=zz&x=%", "?x=%c0%ae&prefix=zz")) {
      assertThat(rawGet("/v1/store/records" + q)).as(q).isEqualTo(400);
    }
    assertThat(rawGet("/v1/store/records?prefix=zz")).isEqualTo(200);
    assertThat(rawGet("/v1/store/chunks/" + chunk + "?decoded=1&x=%zz")).isEqualTo(400);
  }

  @Test
  void aTransferCodingOtherThanChunkedIs501AndNothingIsWritten() throws Exception {
    // Jetty takes off the chunked coding alone: a record sent with "gzip, chunked" was stored as its compressed bytes
    byte[] gz = gzip("{\"kind\": \"x\"}".getBytes(StandardCharsets.UTF_8));
    for (String coding : List.of("gzip, chunked", "x-custom,chunked", "gzip\r\nTransfer-Encoding: chunked")) {
      try (Socket s = new Socket(patient.getHost(), patient.getPort())) {
        s.setSoTimeout(10_000);
        OutputStream out = s.getOutputStream();
        out.write(("PUT /v1/store/records/coded/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: " + coding
            + "\r\nConnection: close\r\n\r\n" + Integer.toHexString(gz.length) + "\r\n")
            .getBytes(StandardCharsets.US_ASCII));
        out.write(gz);
        out.write("\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String first = coding.substring(0, coding.indexOf(coding.contains(",") ? ',' : '\r'));
        assertThat(answer).as(coding).startsWith("HTTP/1.1 501").contains("application/json")
            .contains("{\"error\":\"not-implemented\",").contains("'" + first + "'");
      }
    }
    assertThat(fx.repo.backend().records().list("coded/")).isEmpty();
    // chunked alone is served as before
    String chunked = "PUT /v1/store/records/coded/y HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        + "Connection: close\r\n\r\n2\r\nab\r\n0\r\n\r\n";
    assertThat(raw(chunked)).isEqualTo(204);
    assertThat(fx.repo.backend().records().read("coded/y")).hasValueSatisfying(b -> assertThat(b).containsExactly(
        'a', 'b'));
    fx.repo.backend().records().delete("coded/y");
  }

  @Test
  void aRequestBodyWithAContentCodingIs415AndNothingIsWritten() throws Exception {
    // the server decodes no content coding: a record sent with Content-Encoding: gzip was stored as the gzip bytes
    byte[] gz = gzip("{\"kind\": \"x\"}".getBytes(StandardCharsets.UTF_8));
    for (String coding : List.of("gzip", "br", "identity, gzip")) {
      HttpResponse<byte[]> r = fx.send(get(patient, "/v1/store/records/coded/z").header("Content-Encoding", coding)
          .PUT(java.net.http.HttpRequest.BodyPublishers.ofByteArray(gz)));
      assertThat(r.statusCode()).as(coding).isEqualTo(415);
      assertThat(r.headers().firstValue("accept-encoding")).as(coding).hasValue("identity");
      assertThat(new String(r.body(), StandardCharsets.UTF_8)).as(coding)
          .contains("{\"error\":\"unsupported-encoding\",").contains("'" + coding.replace("identity, ", "") + "'");
    }
    assertThat(fx.repo.backend().records().list("coded/")).isEmpty();
    HttpResponse<byte[]> identity = fx.send(get(patient, "/v1/store/records/coded/z")
        .header("Content-Encoding", "identity").PUT(java.net.http.HttpRequest.BodyPublishers.ofString("ab")));
    assertThat(identity.statusCode()).isEqualTo(204);
    fx.repo.backend().records().delete("coded/z");
  }

  private static byte[] gzip(byte[] b) throws Exception {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    try (java.util.zip.GZIPOutputStream z = new java.util.zip.GZIPOutputStream(out)) {
      z.write(b);
    }
    return out.toByteArray();
  }

  @Test
  void idleAndSlowConnectionsAreClosedWhileOthersAreServed() throws Exception {
    List<Socket> sockets = new ArrayList<>();
    try {
      // idle: connects and sends nothing; slow-loris: half a request line, then nothing; slow body: a declared body
      // that never comes
      Socket idle = new Socket(base.getHost(), base.getPort());
      Socket loris = new Socket(base.getHost(), base.getPort());
      loris.getOutputStream().write("GET /v1/store HTTP/1.1\r\nHost: localhost\r\nX-A: "
          .getBytes(StandardCharsets.US_ASCII));
      Socket body = new Socket(base.getHost(), base.getPort());
      body.getOutputStream().write(("PUT /v1/store/chunks/" + chunk + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
          + chunkBytes.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      body.getOutputStream().write(chunkBytes, 0, 100);
      sockets.addAll(List.of(idle, loris, body));
      assertThat(fx.send(get(base, "/v1/store/chunks/" + chunk)).body()).isEqualTo(chunkBytes);
      for (Socket s : sockets) {
        s.setSoTimeout(15_000);
        assertThat(drainUntilClosed(s.getInputStream())).as("server closed the connection").isTrue();
      }
      assertThat(fx.send(get(base, "/v1/store/chunks/" + chunk)).body()).isEqualTo(chunkBytes);
    } finally {
      for (Socket s : sockets) {
        s.close();
      }
    }
  }

  @Test
  void aStalledOrTricklingBodyIs408AndNotLoggedAsTheServersFailure() throws Exception {
    // stalled: part of a declared body, then nothing until the idle timeout (3 s here); trickling: a byte every
    // 400 ms, which no idle timeout ends, far below the minimum body rate. Both were a 500 "io" (an idle timeout
    // taken for a store failure), or no answer at all while the trickle lasted.
    try (Socket stalled = new Socket(base.getHost(), base.getPort());
        Socket trickle = new Socket(base.getHost(), base.getPort())) {
      stalled.getOutputStream().write(("PUT /v1/store/records/leases/stalled HTTP/1.1\r\nHost: localhost\r\n"
          + "Content-Length: 1000\r\n\r\nab").getBytes(StandardCharsets.US_ASCII));
      trickle.getOutputStream().write(("PUT /v1/store/records/leases/trickle HTTP/1.1\r\nHost: localhost\r\n"
          + "Content-Length: 100000\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      stalled.setSoTimeout(15_000);
      assertThat(statusLine(stalled)).isEqualTo("HTTP/1.1 408");
      assertThat(trickle(trickle, 1, 400, 60, () -> false)).isEqualTo("HTTP/1.1 408");
    }
    for (String key : List.of("stalled", "trickle")) {
      List<String> lines = fx.accessLog.await(l -> l.contains("/v1/store/records/leases/" + key + " "), 1);
      assertThat(lines).singleElement().satisfies(l -> assertThat(l).contains(" 408 ").doesNotContain("error:"));
    }
    assertThat(fx.repo.backend().records().list("leases/")).isEmpty();
    assertThat(fx.send(get(base, "/v1/store/chunks/" + chunk)).body()).isEqualTo(chunkBytes);
  }

  @Test
  void aTricklingBodyOfARefusedRequestIsNotDrainedForLong() throws Exception {
    // a request refused before its body is read (here a 404; an unauthenticated one is 401) has its body drained
    // before the answer, up to 16 MiB; a byte every 400 ms, which the idle timeout does not end, held the worker while
    // the drain lasted (days for 1 MB), with no answer meanwhile
    URI patient = fx.start(ServerOptions.builder().idleTimeout(Duration.ofMinutes(2))).uri();
    try (Socket trickle = new Socket(patient.getHost(), patient.getPort())) {
      trickle.getOutputStream().write(("PUT /no/such/resource HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000"
          + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      assertThat(trickle(trickle, 1, 400, 60, () -> false)).isEqualTo("HTTP/1.1 404");
    }
  }

  @Test
  void aSlowLorisSendingItsHeadersAByteAtATimeIsClosedWhileOthersAreServed() throws Exception {
    // a byte every 300 ms: the idle timeout (3 s here) never expires, and the 16 KiB of headers a client may send
    // held the connection for more than an hour; the headers must all arrive within the idle timeout
    byte[] request = ("GET /v1/store HTTP/1.1\r\nHost: localhost\r\nX-A: " + "a".repeat(200))
        .getBytes(StandardCharsets.US_ASCII);
    long start = System.nanoTime();
    boolean closed = false;
    try (Socket loris = new Socket(base.getHost(), base.getPort())) {
      loris.setSoTimeout(300);
      for (int i = 0; i < request.length && !closed; i++) {
        try {
          loris.getOutputStream().write(request[i]);
          closed = loris.getInputStream().read() < 0;
        } catch (SocketTimeoutException e) {
          // still open: the next byte
        } catch (java.net.SocketException e) {
          closed = true;
        }
        if (i % 10 == 0) {
          assertThat(fx.send(get(base, "/v1/store/chunks/" + chunk)).body()).isEqualTo(chunkBytes);
        }
      }
    }
    assertThat(closed).as("the server closed the connection").isTrue();
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(20));
  }

  @Test
  void anHttp2ConnectionThatNeverFinishesARequestIsClosedWhileOthersAreServed() throws Exception {
    // over h2c: a request's header block as a trickle of CONTINUATION frames (no stream exists until the block ends,
    // so no stream timeout applies), or only PINGs; each frame kept the connection from being idle, and both held it
    // as long as they went on
    byte[] path = "/v1/store".getBytes(StandardCharsets.US_ASCII);
    ByteBuffer block = ByteBuffer.allocate(64).put((byte) 0x82).put((byte) 0x86).put((byte) 0x04)
        .put((byte) path.length).put(path); // :method GET, :scheme http, :path /v1/store (HPACK, no Huffman)
    byte[] headers = java.util.Arrays.copyOf(block.array(), block.position());
    for (boolean continuation : new boolean[] {true, false}) {
      long start = System.nanoTime();
      boolean closed = false;
      try (Socket s = new Socket(base.getHost(), base.getPort())) {
        OutputStream out = s.getOutputStream();
        out.write(H2_PREFACE);
        if (continuation) {
          out.write(h2Frame(1, 0x1, 1, headers)); // HEADERS, END_STREAM, no END_HEADERS
        }
        s.setSoTimeout(200);
        for (int i = 0; i < 100 && !closed; i++) {
          try {
            out.write(continuation ? h2Frame(9, 0, 1, new byte[0]) : h2Frame(6, 0, 0, new byte[8]));
            closed = drainUntilClosed(s.getInputStream());
          } catch (java.net.SocketException e) {
            closed = true;
          }
          if (i % 10 == 0) {
            assertThat(fx.send(get(base, "/v1/store/chunks/" + chunk)).body()).isEqualTo(chunkBytes);
          }
        }
      }
      assertThat(closed).as("the server closed the connection (" + (continuation ? "CONTINUATION" : "PING")
          + " frames)").isTrue();
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(20));
    }
  }

  @Test
  void overHttp2ASlowDecodedReadHasItsStreamResetAndItsConnectionsOtherStreamsComplete() throws Exception {
    // over h2c: stream 1 reads a decoded chunk and takes nothing past its first window, while stream 3 on the same
    // connection reads a stored chunk and, once stream 1 was cut, stream 5 a health check. Cutting stream 1 closed
    // the whole connection, and streams 3 and 5 with it.
    URI fast = fx.start(ServerOptions.builder().minHeldRate(1 << 20).idleTimeout(Duration.ofMinutes(2))).uri();
    try (Socket s = new Socket(fast.getHost(), fast.getPort())) {
      s.setSoTimeout(30_000);
      OutputStream out = s.getOutputStream();
      java.io.DataInputStream in = new java.io.DataInputStream(s.getInputStream());
      out.write(H2_PREFACE); // the default 64 KiB window of a stream
      out.write(h2Frame(8, 0, 0, ByteBuffer.allocate(4).putInt(1 << 30).array())); // the connection's window: 1 GiB
      out.write(h2Frame(1, 0x5, 1, h2Get("/v1/store/chunks/" + chunk + "?decoded=1"))); // END_STREAM, END_HEADERS
      out.write(h2Frame(1, 0x5, 3, h2Get("/v1/store/chunks/" + chunk)));
      out.flush();
      Map<Integer, java.io.ByteArrayOutputStream> bodies = new java.util.HashMap<>();
      java.util.Set<Integer> ended = new java.util.HashSet<>();
      java.util.Set<Integer> reset = new java.util.HashSet<>();
      for (int frames = 0; frames < 100_000 && !ended.contains(5); frames++) {
        H2Frame f;
        try {
          f = h2Read(in);
        } catch (java.io.EOFException e) {
          throw new AssertionError("the server closed the connection; streams ended " + ended + ", reset " + reset, e);
        }
        assertThat(f.type()).as("a GOAWAY frame, after %s bytes of stream 1: %s", bodies.containsKey(1)
            ? bodies.get(1).size() : 0, new String(f.payload(), StandardCharsets.ISO_8859_1)).isNotEqualTo(7);
        if (f.unackedSettings()) {
          out.write(h2Frame(4, 1, 0, new byte[0]));
        } else if (f.type() == 0) {
          bodies.computeIfAbsent(f.stream(), k -> new java.io.ByteArrayOutputStream()).writeBytes(f.payload());
          if (f.stream() != 1 && f.payload().length > 0) {
            out.write(h2Frame(8, 0, f.stream(), ByteBuffer.allocate(4).putInt(f.payload().length).array()));
          }
          if (f.endsStream()) {
            ended.add(f.stream());
          }
        } else if (f.type() == 3) {
          reset.add(f.stream());
          if (f.stream() == 1) {
            out.write(h2Frame(1, 0x5, 5, h2Get("/v1/health")));
          }
        }
        out.flush();
      }
      assertThat(reset).as("streams reset").containsExactly(1);
      assertThat(bodies.get(1).size()).as("bytes of stream 1").isLessThanOrEqualTo(65535);
      assertThat(ended).containsExactlyInAnyOrder(3, 5);
      assertThat(bodies.get(3).toByteArray()).isEqualTo(chunkBytes);
      assertThat(bodies.get(5).toString(StandardCharsets.UTF_8)).isEqualTo("{\"status\":\"ok\"}");
    }
  }

  @Test
  void overHttp2SmallBodiesArrivingSlowlyHoldNoWorkerThread() throws Exception {
    // over h2c, on one connection: twice as many streams as the server has worker threads, each sending part of a
    // small body of undeclared length and then waiting, and then a health check. Each such stream held a worker
    // thread in a blocking read, and the health check waited behind them.
    int threads = 8;
    URI small = fx.start(ServerOptions.builder().maxThreads(threads).idleTimeout(Duration.ofMinutes(2))).uri();
    String record = "{\"holder\":\"h2\"}".repeat(40);
    try (Socket s = new Socket(small.getHost(), small.getPort())) {
      s.setSoTimeout(15_000);
      OutputStream out = s.getOutputStream();
      java.io.DataInputStream in = new java.io.DataInputStream(s.getInputStream());
      out.write(H2_PREFACE);
      int streams = 2 * threads;
      for (int i = 0; i < streams; i++) {
        out.write(h2Frame(1, 0x4, 1 + 2 * i, h2Put("/v1/store/records/slow/h2-" + i))); // END_HEADERS
        out.write(h2Frame(0, 0, 1 + 2 * i, record.substring(0, 10).getBytes(StandardCharsets.US_ASCII)));
      }
      int health = 1 + 2 * streams;
      out.write(h2Frame(1, 0x5, health, h2Get("/v1/health")));
      out.flush();
      Map<Integer, java.io.ByteArrayOutputStream> bodies = new java.util.HashMap<>();
      java.util.Set<Integer> ended = new java.util.HashSet<>();
      readH2Until(in, out, bodies, ended, Set.of(health));
      assertThat(bodies.get(health).toString(StandardCharsets.UTF_8)).isEqualTo("{\"status\":\"ok\"}");
      java.util.Set<Integer> puts = new java.util.HashSet<>();
      for (int i = 0; i < streams; i++) {
        out.write(h2Frame(0, 0x1, 1 + 2 * i, record.substring(10).getBytes(StandardCharsets.US_ASCII)));
        puts.add(1 + 2 * i);
      }
      out.flush();
      readH2Until(in, out, bodies, ended, puts);
      for (int i = 0; i < streams; i++) {
        assertThat(fx.repo.backend().records().read("slow/h2-" + i)).map(b -> new String(b, StandardCharsets.UTF_8))
            .contains(record);
      }
    } finally {
      for (String key : fx.repo.backend().records().list("slow/")) {
        fx.repo.backend().records().delete(key);
      }
    }
  }

  @Test
  void bodiesOfUnknownLengthAbove64KiBReachTheirHandlerWhole() throws Exception {
    // the first 64 KiB of such a body are read before the handler runs and handed to it with the rest unread
    byte[] record = new byte[100 << 10];
    new java.util.Random(7).nextBytes(record);
    try {
      HttpResponse<byte[]> put = fx.send(get(base, "/v1/store/records/slow/big-h1")
          .version(java.net.http.HttpClient.Version.HTTP_1_1)
          .PUT(java.net.http.HttpRequest.BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(record))));
      assertThat(put.statusCode()).isBetween(200, 299);
      // over h2c, on a server with the smallest receive windows (64 KiB a stream): the body goes on only as the
      // server takes its first bytes and opens the window again
      URI small = fx.start(ServerOptions.builder().memoryBudget(64 << 20)).uri();
      try (Socket s = new Socket(small.getHost(), small.getPort())) {
        s.setSoTimeout(15_000);
        OutputStream out = s.getOutputStream();
        out.write(H2_PREFACE);
        out.write(h2Frame(1, 0x4, 1, h2Put("/v1/store/records/slow/big-h2")));
        java.io.DataInputStream in = new java.io.DataInputStream(s.getInputStream());
        h2Body(in, out, 1, record);
        readH2Until(in, out, new java.util.HashMap<>(), new java.util.HashSet<>(), Set.of(1));
      }
      for (String key : List.of("slow/big-h1", "slow/big-h2")) {
        assertThat(fx.repo.backend().records().read(key)).as(key).hasValueSatisfying(b -> assertThat(b)
            .isEqualTo(record));
      }
    } finally {
      for (String key : fx.repo.backend().records().list("slow/")) {
        fx.repo.backend().records().delete(key);
      }
    }
  }

  @Test
  void http2ReceiveWindowsFollowTheMemoryBudget() throws Exception {
    // Jetty's default windows (1 MiB a connection, 512 KiB a stream) let each of 4,096 connections make the server
    // buffer 1 MiB that no handler had read, 4 GiB whatever the budget; the windows are now the budget's share of one
    // connection, kept between 128 KiB and 1 MiB, and a stream's is half of its connection's
    for (long budget : new long[] {256L << 20, 2L << 30, 16L << 30}) {
      URI server = fx.start(ServerOptions.builder().memoryBudget(budget)).uri();
      int session = (int) Math.max(128 << 10, Math.min(1 << 20, budget / 4096));
      try (Socket s = new Socket(server.getHost(), server.getPort())) {
        s.setSoTimeout(15_000);
        OutputStream out = s.getOutputStream();
        out.write(H2_PREFACE);
        out.flush();
        java.io.DataInputStream in = new java.io.DataInputStream(s.getInputStream());
        Integer streamWindow = null;
        Integer sessionIncrement = null;
        for (int frames = 0; frames < 20 && (streamWindow == null || sessionIncrement == null); frames++) {
          H2Frame f = h2Read(in);
          if (f.unackedSettings()) {
            streamWindow = f.setting(4, 65535);
          } else if (f.type() == 8 && f.stream() == 0) {
            sessionIncrement = f.increment();
          }
        }
        assertThat(streamWindow).as("the initial window of a stream, budget %s", budget).isEqualTo(session / 2);
        assertThat(sessionIncrement).as("the connection's window above 65,535, budget %s", budget)
            .isEqualTo(session - 65535);
      }
    }
  }

  /**
   * Sends {@code body} as the DATA frames of {@code stream}, ending it, within the windows the server gives: its
   * settings and window updates, read meanwhile; other frames are left unread for the caller.
   */
  private static void h2Body(java.io.DataInputStream in, OutputStream out, int stream, byte[] body) throws Exception {
    long streamWindow = 65535;
    long sessionWindow = 65535;
    int at = 0;
    for (int frames = 0; at < body.length && frames < 10_000; frames++) {
      int n = (int) Math.min(Math.min(16 << 10, body.length - at), Math.min(streamWindow, sessionWindow));
      if (n > 0) {
        out.write(h2Frame(0, at + n == body.length ? 1 : 0, stream, java.util.Arrays.copyOfRange(body, at, at + n)));
        at += n;
        streamWindow -= n;
        sessionWindow -= n;
        continue;
      }
      out.flush();
      H2Frame f = h2Read(in);
      assertThat(f.type()).as("a GOAWAY or RST_STREAM frame on stream %s", f.stream()).isNotIn(3, 7);
      if (f.unackedSettings()) {
        streamWindow += f.setting(4, 65535) - 65535L;
        out.write(h2Frame(4, 1, 0, new byte[0]));
      } else if (f.type() == 8 && f.stream() == 0) {
        sessionWindow += f.increment();
      } else if (f.type() == 8 && f.stream() == stream) {
        streamWindow += f.increment();
      }
    }
    out.flush();
    assertThat(at).as("bytes of the body sent").isEqualTo(body.length);
  }

  /**
   * Reads h2c frames, acknowledging the server's settings and keeping the data of each stream, until every stream of
   * {@code streams} ended; a reset stream or a GOAWAY fails the test.
   */
  private static void readH2Until(java.io.DataInputStream in, OutputStream out,
      Map<Integer, java.io.ByteArrayOutputStream> bodies, java.util.Set<Integer> ended, java.util.Set<Integer> streams)
      throws Exception {
    for (int frames = 0; frames < 10_000 && !ended.containsAll(streams); frames++) {
      H2Frame f = h2Read(in);
      assertThat(f.type()).as("a GOAWAY or RST_STREAM frame on stream %s", f.stream()).isNotIn(3, 7);
      if (f.unackedSettings()) {
        out.write(h2Frame(4, 1, 0, new byte[0]));
        out.flush();
      } else if (f.type() == 0 || f.type() == 1) {
        if (f.type() == 0) {
          bodies.computeIfAbsent(f.stream(), k -> new java.io.ByteArrayOutputStream()).writeBytes(f.payload());
        }
        if (f.endsStream()) {
          ended.add(f.stream());
        }
      }
    }
    assertThat(ended).containsAll(streams);
  }

  /** The header block of a PUT of {@code path} over h2c, without a content length. */
  private static byte[] h2Put(String path) {
    byte[] p = path.getBytes(StandardCharsets.US_ASCII);
    assertThat(p.length).isLessThan(127);
    return ByteBuffer.allocate(8 + AUTHORITY.length + p.length).put((byte) 0x02).put((byte) 3).put((byte) 'P')
        .put((byte) 'U').put((byte) 'T').put((byte) 0x86).put(AUTHORITY).put((byte) 0x04).put((byte) p.length).put(p)
        .array();
  }

  /** The header block of a GET of {@code path} over h2c (HPACK without Huffman coding or indexing). */
  private static byte[] h2Get(String path) {
    byte[] p = path.getBytes(StandardCharsets.US_ASCII);
    assertThat(p.length).isLessThan(127);
    return ByteBuffer.allocate(4 + AUTHORITY.length + p.length).put((byte) 0x82).put((byte) 0x86).put(AUTHORITY)
        .put((byte) 0x04).put((byte) p.length).put(p).array();
  }

  /** {@code :authority localhost}, as HPACK without Huffman coding or indexing writes it. */
  private static final byte[] AUTHORITY = ByteBuffer.allocate(11).put((byte) 0x01).put((byte) 9)
      .put("localhost".getBytes(StandardCharsets.US_ASCII)).array();

  /** The client's connection preface over h2c: the magic, then a SETTINGS frame that keeps every default. */
  private static final byte[] H2_PREFACE = ByteBuffer.allocate(33)
      .put("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII)).put(h2Frame(4, 0, 0, new byte[0]))
      .array();

  /** An HTTP/2 frame as read: type, flags, stream id, payload. */
  private record H2Frame(int type, int flags, int stream, byte[] payload) {
    /** Whether this is the server's SETTINGS frame (not an acknowledgement of the client's). */
    boolean unackedSettings() {
      return type == 4 && (flags & 1) == 0;
    }

    boolean endsStream() {
      return (type == 0 || type == 1) && (flags & 1) != 0;
    }

    /** The value of setting {@code id} in a SETTINGS frame, or {@code absent}. */
    int setting(int id, int absent) {
      ByteBuffer b = ByteBuffer.wrap(payload);
      int value = absent;
      while (b.remaining() >= 6) {
        int at = b.getShort() & 0xffff;
        int v = b.getInt();
        value = at == id ? v : value;
      }
      return value;
    }

    /** The increment of a WINDOW_UPDATE frame. */
    int increment() {
      return ByteBuffer.wrap(payload).getInt() & 0x7fffffff;
    }
  }

  /** Reads one HTTP/2 frame; {@link java.io.EOFException} if the connection ends first. */
  private static H2Frame h2Read(java.io.DataInputStream in) throws java.io.IOException {
    int length = in.readUnsignedByte() << 16 | in.readUnsignedShort();
    int type = in.readUnsignedByte();
    int flags = in.readUnsignedByte();
    int stream = in.readInt() & 0x7fffffff;
    byte[] payload = new byte[length];
    in.readFully(payload);
    return new H2Frame(type, flags, stream, payload);
  }

  /** An HTTP/2 frame: length, type, flags, stream id, payload. */
  private static byte[] h2Frame(int type, int flags, int stream, byte[] payload) {
    return ByteBuffer.allocate(9 + payload.length).put((byte) (payload.length >>> 16))
        .putShort((short) payload.length).put((byte) type).put((byte) flags).putInt(stream).put(payload).array();
  }

  /** The first 12 bytes the server sends on {@code s} (its status line up to the code, {@code HTTP/1.1 408}). */
  static String statusLine(Socket s) throws java.io.IOException {
    return new String(s.getInputStream().readNBytes(12), StandardCharsets.US_ASCII);
  }

  /**
   * Sends {@code each} bytes on {@code s} each {@code everyMillis} ms at most, {@code times} times at most, until the
   * server answers or {@code stop} says so: a body trickling in. Returns {@link #statusLine}, or "" if none came.
   */
  static String trickle(Socket s, int each, int everyMillis, int times, java.util.function.BooleanSupplier stop)
      throws java.io.IOException {
    s.setSoTimeout(everyMillis);
    for (int i = 0; i < times && !stop.getAsBoolean(); i++) {
      try {
        s.getOutputStream().write(new byte[each]);
        return statusLine(s);
      } catch (SocketTimeoutException e) {
        // no answer yet: more bytes
      }
    }
    return "";
  }

  /** Reads until end of stream; false if the read timed out first. */
  static boolean drainUntilClosed(InputStream in) throws Exception {
    byte[] buf = new byte[8192];
    try {
      while (in.read(buf) >= 0) {
        // a 408 or 400 may come before the close
      }
      return true;
    } catch (SocketTimeoutException e) {
      return false;
    } catch (java.net.SocketException e) {
      return true; // reset by the server
    }
  }

  @Test
  void sixtyFourConcurrentClientsAreServedWhileSlowOnesHang() throws Exception {
    // the default idle timeout here: with 64 readers on a loaded machine a reader may not take bytes for a second
    URI base = fx.start(ServerOptions.builder()).uri();
    List<Socket> hanging = new ArrayList<>();
    ExecutorService pool = Executors.newFixedThreadPool(64);
    try {
      for (int i = 0; i < 8; i++) {
        Socket s = new Socket(base.getHost(), base.getPort());
        OutputStream o = s.getOutputStream();
        o.write(("PUT /v1/store/records/leases/x" + i + " HTTP/1.1\r\nHost: localhost\r\n"
            + "Content-Length: 1000\r\n\r\nab")
            .getBytes(StandardCharsets.US_ASCII));
        hanging.add(s);
      }
      List<Future<Boolean>> results = new ArrayList<>();
      for (int c = 0; c < 64; c++) {
        int client = c;
        results.add(pool.submit(() -> {
          java.net.http.HttpClient own = java.net.http.HttpClient.newBuilder()
              .version(java.net.http.HttpClient.Version.HTTP_1_1).build();
          for (int i = 0; i < 3; i++) {
            String path = client % 2 == 0 ? "/v1/store/chunks/" + chunk : "/org/tiny/resolve/main/config.json";
            HttpResponse<byte[]> r = own.send(get(base, path).timeout(Duration.ofSeconds(60)).build(),
                HttpResponse.BodyHandlers.ofByteArray());
            if (r.statusCode() != 200 || (client % 2 == 0 && !java.util.Arrays.equals(r.body(), chunkBytes))) {
              return false;
            }
          }
          return true;
        }));
      }
      for (Future<Boolean> f : results) {
        assertThat(f.get(120, TimeUnit.SECONDS)).isTrue();
      }
    } finally {
      pool.shutdownNow();
      for (Socket s : hanging) {
        s.close();
      }
    }
    assertThat(fx.repo.backend().records().list("leases/")).isEmpty();
  }
}
