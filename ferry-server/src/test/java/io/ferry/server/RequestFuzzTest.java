package io.ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import io.ferry.testkit.Mutations;
import java.io.InputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Thousands of machine-made requests to a real server over raw sockets: every route of the API and of the Hugging
 * Face endpoint with ids, refs, keys, models, revisions and paths of wrong lengths, alphabets and encodings (traversal,
 * NUL, unicode, percent signs alone), absurd and inverted ranges and queries, wrong methods and protocol versions,
 * lying {@code Content-Length}s, bodies that are not what the route takes, and header lines that are not headers. The
 * server answers each with a status below 500 (or 501 for an unknown method, 505 for an unknown HTTP version) or
 * closes the connection (a malformed request line or header), never an internal error, and keeps serving a good request after each batch. Deterministic: {@code -Dferry.fuzz.seed}, {@code
 * -Dferry.fuzz.requests}.
 */
@Timeout(300)
class RequestFuzzTest {
  private static final long SEED = Mutations.SEED;
  private static final int REQUESTS = Integer.getInteger("ferry.fuzz.requests", 1200);

  @TempDir static Path tmp;
  static ServerFixture fx;
  static URI base;
  static String chunk;
  static String version;

  @BeforeAll
  static void start() throws Exception {
    fx = new ServerFixture(tmp);
    base = fx.start(ServerOptions.builder().idleTimeout(Duration.ofSeconds(5))).uri();
    List<ChunkId> ids = new ArrayList<>();
    fx.repo.backend().chunks().list(o -> ids.add(o.id()));
    chunk = ids.get(0).hex();
    version = fx.pushed.versionId().hex();
  }

  @AfterAll
  static void stop() throws Exception {
    fx.close();
  }

  @Test
  void noRequestMakesTheServerFail() throws Exception {
    SplittableRandom r = new SplittableRandom(SEED);
    List<String> failures = new ArrayList<>();
    int answered = 0;
    for (int i = 0; i < REQUESTS && failures.size() < 5; i++) {
      String request = request(r);
      int status = send(request);
      // 501 (a method nobody implements) and 505 (HTTP/9.9) are right answers; any other 5xx is the server failing
      if (status >= 500 && status != 501 && status != 505) {
        failures.add("request " + i + " of seed " + SEED + " answered " + status + ":\n" + request);
      }
      if (status > 0) {
        answered++;
      }
      if (i % 100 == 99) {
        // (a development server takes writes and deletes from anyone, and some fuzzed ones are well-formed: the
        // chunk may be gone, the model listing is always there)
        assertThat(send("GET /v1/models HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
            .as("a good request after %d fuzzed ones", i + 1).isEqualTo(200);
      }
    }
    assertThat(failures).isEmpty();
    assertThat(answered).as("requests answered with a status").isGreaterThan(REQUESTS / 2);
  }

  /**
   * Found by the fuzzing above: a request whose body ends early (the client closes its side before the length it
   * declared, or sends a chunked body without its last chunk) was answered 500 "Early EOF". It is the client's
   * malformed request: 400 naming how much came, and nothing written.
   */
  @Test
  void aBodyCutShortIsABadRequestAndWritesNothing() throws Exception {
    String key = "/v1/store/records/fuzz/cut-short";
    String declared = "PUT " + key + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 10"
        + "\r\n\r\nabc";
    assertThat(send(declared)).isEqualTo(400);
    assertThat(answer(declared)).contains("\"error\":\"bad-request\"")
        .contains("request body ended after 3 of its 10 bytes");
    String chunked = "PUT " + key + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        + "Transfer-Encoding: chunked\r\n\r\n"
        + "3\r\nabc\r\n";
    assertThat(answer(chunked)).startsWith("HTTP/1.1 400").contains("before its last chunk");
    // a malformed chunk size reaches the server as an early end too: the answer says it may be either
    for (String size : List.of("-5", "zz", "fffffffffffffffffffff")) {
      assertThat(answer(chunked.replace("3\r\nabc", size + "\r\nabc"))).as(size).startsWith("HTTP/1.1 400")
          .contains("request body ended after 0 bytes, before its last chunk (or a chunk's size line was malformed)");
    }
    String upload = "PUT /v1/store/chunks/" + "0".repeat(64) + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        + "Content-Length: 100\r\n\r\nxyz";
    assertThat(send(upload)).isEqualTo(400);
    assertThat(send("GET " + key + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")).isEqualTo(404);
    assertThat(send("HEAD /v1/store/chunks/" + "0".repeat(64) + " HTTP/1.1\r\nHost: localhost\r\n"
        + "Connection: close\r\n\r\n"))
        .isEqualTo(404);
  }

  private static final String[] METHODS = {"GET", "GET", "GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS",
      "TRACE", "CONNECT", "G\u00e9T", ""};

  private static String request(SplittableRandom r) {
    String method = METHODS[r.nextInt(METHODS.length)];
    String path = path(r);
    StringBuilder req = new StringBuilder(method).append(' ').append(path).append(r.nextInt(20) == 0 ? " HTTP/1.0"
        : r.nextInt(30) == 0 ? " HTTP/9.9" : " HTTP/1.1").append("\r\n");
    req.append("Host: localhost\r\nConnection: close\r\n");
    String body = r.nextInt(3) == 0 ? body(r) : "";
    int headers = r.nextInt(4);
    for (int h = 0; h < headers; h++) {
      req.append(header(r)).append("\r\n");
    }
    if (!body.isEmpty() || r.nextInt(5) == 0) {
      long declared = r.nextInt(4) == 0 ? pick(r, -1, 0, body.length() + 100, Long.MAX_VALUE, 1L << 40)
          : body.getBytes(StandardCharsets.UTF_8).length;
      req.append("Content-Length: ").append(declared).append("\r\n");
    }
    req.append("\r\n").append(body);
    return req.toString();
  }

  private static String path(SplittableRandom r) {
    String id = id(r);
    String model = pickS(r, "org/tiny", "org%2Ftiny", "tiny", "org/none", "..", "org/tiny/..", "a".repeat(300),
        "org/t\u00fcny", "%", "org/tiny%00", "");
    String rev = pickS(r, "main", "prod", version, version.substring(0, 12), "..", "%2e%2e", "", "x".repeat(200),
        "refs%2Fpr%2F1");
    String file = pickS(r, "config.json", "model.safetensors", "../../etc/passwd", "%2e%2e/x", "a/b/c", "",
        "\u540d\u524d.json", "%zz");
    String query = r.nextInt(3) == 0 ? "" : "?" + query(r);
    String p = switch (r.nextInt(14)) {
      case 0 -> "/v1/store/chunks/" + id;
      case 1 -> "/v1/store/chunks/" + id + "?decoded=" + pickS(r, "1", "0", "yes", "") + "&pack=" + id(r);
      case 2 -> "/v1/store/chunks/missing";
      case 3 -> "/v1/store/chunks";
      case 4 -> "/v1/store/refs/" + pickS(r, "org/tiny/head", "org/tiny/tags/prod", "..", "a%2Fb", id);
      case 5 -> "/v1/store/records/" + pickS(r, "leases/x", "a/../b", "%00", id, "");
      case 6 -> "/v1/store/records/read";
      case 7 -> "/v1/models/" + model + "/versions";
      case 8 -> "/v1/versions/" + rev;
      case 9 -> "/" + model + "/resolve/" + rev + "/" + file;
      case 10 -> "/api/models/" + model + (r.nextBoolean() ? "" : "/revision/" + rev);
      case 11 -> "/api/models/" + model + "/tree/" + rev + "/" + file;
      case 12 -> "/v1/models";
      default -> "/" + pickS(r, "", "v1", "v2/x", "%", "..", "favicon.ico", "\u00ff");
    };
    return p + query;
  }

  private static String id(SplittableRandom r) {
    return switch (r.nextInt(6)) {
      case 0 -> chunk;
      case 1 -> chunk.toUpperCase();
      case 2 -> chunk.substring(0, r.nextInt(64));
      case 3 -> chunk + "0";
      case 4 -> "g".repeat(64);
      default -> "0".repeat(64);
    };
  }

  private static String query(SplittableRandom r) {
    StringBuilder q = new StringBuilder();
    int n = 1 + r.nextInt(3);
    for (int i = 0; i < n; i++) {
      if (i > 0) {
        q.append('&');
      }
      q.append(pickS(r, "limit", "after", "prefix", "log", "model", "offset", "length", "recursive", "decoded", "x"))
          .append('=').append(pickS(r, "1", "0", "-1", "99999999999999999999", "true", chunk, "%", "", "a%00b",
              "1e9"));
    }
    return q.toString();
  }

  private static String header(SplittableRandom r) {
    return switch (r.nextInt(9)) {
      case 0 -> "Range: bytes=" + pickS(r, "0-0", "5-1", "-0", "0-", "-99999999999999999999", "1-2,3-4", "x-y",
          "0-18446744073709551616", "", "=");
      case 1 -> "Range: " + pickS(r, "items=0-1", "bytes", "bytes=0-1 ", "bytes=\u00e9");
      case 2 -> "If-Match: " + pickS(r, "\"" + chunk + "\"", "*", "\"", "", "W/\"x\"");
      case 3 -> "If-None-Match: " + pickS(r, "*", "\"" + chunk + "\"", "garbage");
      case 4 -> "Authorization: " + pickS(r, "Bearer ", "Bearer x", "Basic Og==", "Bearer " + "a".repeat(5000));
      case 5 -> "Content-Type: " + pickS(r, "application/json", "text/plain", "multipart/form-data; boundary=",
          "application/json; charset=latin1");
      case 6 -> "Transfer-Encoding: " + pickS(r, "chunked", "gzip", "identity, chunked");
      case 7 -> pickS(r, "no colon here", ": empty name", "X-Long: " + "b".repeat(20_000), " folded",
          "X-Nul: a\u0000b");
      default -> "Accept-Encoding: " + pickS(r, "gzip", "*", "");
    };
  }

  private static String body(SplittableRandom r) {
    return switch (r.nextInt(8)) {
      case 0 -> "{\"ids\":[\"" + chunk + "\",\"x\",1,null]}";
      case 1 -> "{\"ids\":" + "[".repeat(2000) + "]".repeat(2000) + "}";
      case 2 -> "{\"keys\":[\"leases/x\",\"../y\"]}";
      case 3 -> "{\"old\":\"" + version + "\",\"new\":\"" + "1".repeat(64) + "\"}";
      case 4 -> "not json at all";
      case 5 -> "{\"ids\":[" + "\"" + chunk + "\",".repeat(200) + "\"" + chunk + "\"]}";
      case 6 -> "\u0000\u00ff\ud83d\ude00";
      default -> "{}";
    };
  }

  private static String pickS(SplittableRandom r, String... options) {
    return options[r.nextInt(options.length)];
  }

  private static long pick(SplittableRandom r, long... options) {
    return options[r.nextInt(options.length)];
  }

  /** Sends the request on a new connection (then closes its side); the whole answer. */
  private static String answer(String request) throws Exception {
    try (Socket s = new Socket(base.getHost(), base.getPort())) {
      s.setSoTimeout(15_000);
      s.getOutputStream().write(request.getBytes(StandardCharsets.UTF_8));
      s.getOutputStream().flush();
      s.shutdownOutput();
      return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  /** Sends the request on a new connection; the status of the answer's first line, or -1 if none came. */
  private static int send(String request) throws Exception {
    try (Socket s = new Socket(base.getHost(), base.getPort())) {
      s.setSoTimeout(15_000);
      try {
        s.getOutputStream().write(request.getBytes(StandardCharsets.UTF_8));
        s.getOutputStream().flush();
        s.shutdownOutput();
      } catch (java.io.IOException closed) {
        // the server may close early on a request it refuses: read its answer, if any
      }
      InputStream in = s.getInputStream();
      byte[] head;
      try {
        head = in.readNBytes(12);
      } catch (java.net.SocketException reset) {
        return -1;
      }
      if (head.length < 12) {
        return -1;
      }
      String line = new String(head, StandardCharsets.ISO_8859_1);
      if (!line.startsWith("HTTP/")) {
        return -1;
      }
      return Integer.parseInt(line.substring(9, 12));
    }
  }
}
