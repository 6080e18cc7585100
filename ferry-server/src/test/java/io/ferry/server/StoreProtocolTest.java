package io.ferry.server;

import static io.ferry.server.ServerFixture.get;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.id.ChunkId;
import io.ferry.store.ChunkStore;
import io.ferry.store.RefLogEntry;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The /v1/store protocol of docs/http-api.md against a development server over a local store. */
@Timeout(120)
class StoreProtocolTest {
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir static Path tmp;
  static ServerFixture fx;
  static URI base;
  static ChunkStore chunks;

  @BeforeAll
  static void start() throws Exception {
    fx = new ServerFixture(tmp);
    base = fx.startDev().uri();
    chunks = fx.repo.backend().chunks();
  }

  @AfterAll
  static void stop() throws Exception {
    fx.close();
  }

  static JsonNode json(HttpResponse<byte[]> r) throws Exception {
    return JSON.readTree(r.body());
  }

  /** Objects of the store by kind: [loose chunk frames over 1 MiB, packs]. */
  static List<List<ChunkId>> objects() throws Exception {
    List<ChunkId> big = new ArrayList<>();
    List<ChunkId> packs = new ArrayList<>();
    chunks.list(o -> {
      try {
        ByteBuffer head = chunks.read(o.id(), 0, 4);
        if (head.get(0) == 'F' && head.get(3) == 'P') {
          packs.add(o.id());
        } else if (o.size() > 1 << 20) {
          big.add(o.id());
        }
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    big.sort(null);
    packs.sort(null);
    return List.of(big, packs);
  }

  static byte[] stored(ChunkId id) throws Exception {
    ByteBuffer b = chunks.get(id);
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }

  @Test
  void info() throws Exception {
    HttpResponse<byte[]> r = fx.send(get(base, "/v1/store"));
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(json(r).get("maxObjectSize").asLong()).isEqualTo(8 << 20);
    assertThat(json(r).get("uri").asText()).startsWith("file:");
    // the store's id, from its marker: what lets a client tell servers over one store from servers over two
    assertThat(json(r).path("id").asText()).matches("[0-9a-f]{32}")
        .isEqualTo(fx.repo.backend().markerId().orElseThrow());
    assertThat(fx.send(get(base, "/v1/health")).statusCode()).isEqualTo(200);
  }

  /**
   * A request naming another store in Ferry-Store-Id is refused on every /v1 path, the model API's too (which the
   * Python client reads): only those under /v1/store were checked, so a client of another store read this one's
   * models and versions as if they were the store it expected.
   */
  @Test
  void aRequestForAnotherStoreIsRefusedOnEveryV1Path() throws Exception {
    String id = fx.repo.backend().markerId().orElseThrow();
    String other = "0".repeat(32);
    for (String path : List.of("/v1/store", "/v1/models", "/v1/versions/" + "a".repeat(64), "/v1/diff?a=x&b=y")) {
      HttpResponse<byte[]> r = fx.send(get(base, path).header("Ferry-Store-Id", other));
      assertThat(r.statusCode()).as(path).isEqualTo(409);
      assertThat(json(r).get("error").asText()).as(path).isEqualTo("store-mismatch");
      assertThat(json(r).get("id").asText()).as(path).isEqualTo(id);
    }
    assertThat(fx.send(get(base, "/v1/models").header("Ferry-Store-Id", id)).statusCode()).isEqualTo(200);
  }

  /**
   * Every /v1 answer names the store in Ferry-Store-Id, errors too, so that a client of one server learns the id from
   * its first answer, without asking for the store's description: none did, and a client of one server never named a
   * store in its requests.
   */
  @Test
  void everyV1AnswerNamesTheStore() throws Exception {
    String id = fx.repo.backend().markerId().orElseThrow();
    for (String path : List.of("/v1/store", "/v1/models", "/v1/versions/" + "a".repeat(64), "/v1/nothing-here")) {
      HttpResponse<byte[]> r = fx.send(get(base, path));
      assertThat(r.headers().firstValue("Ferry-Store-Id")).as(path + " (HTTP %d)", r.statusCode()).hasValue(id);
    }
    HttpResponse<byte[]> refused = fx.send(get(base, "/v1/models").header("Ferry-Store-Id", "0".repeat(32)));
    assertThat(refused.statusCode()).isEqualTo(409);
    assertThat(refused.headers().firstValue("Ferry-Store-Id")).hasValue(id);
    assertThat(fx.send(get(base, "/v1/health")).headers().firstValue("Ferry-Store-Id")).isEmpty();
  }

  @Test
  void chunkReadsWithRangesAndCacheHeaders() throws Exception {
    ChunkId id = objects().get(0).get(0);
    byte[] want = stored(id);
    HttpResponse<byte[]> head = fx.send(get(base, "/v1/store/chunks/" + id).method("HEAD",
        HttpRequest.BodyPublishers.noBody()));
    assertThat(head.statusCode()).isEqualTo(200);
    assertThat(head.headers().firstValueAsLong("content-length").getAsLong()).isEqualTo(want.length);

    HttpResponse<byte[]> all = fx.send(get(base, "/v1/store/chunks/" + id));
    assertThat(all.statusCode()).isEqualTo(200);
    assertThat(all.body()).isEqualTo(want);
    assertThat(all.headers().firstValue("etag")).hasValue("\"" + id + "\"");
    assertThat(all.headers().firstValue("cache-control")).hasValue("public, max-age=31536000, immutable");

    HttpResponse<byte[]> part = fx.send(get(base, "/v1/store/chunks/" + id).header("Range", "bytes=100-1048675"));
    assertThat(part.statusCode()).isEqualTo(206);
    assertThat(part.body()).isEqualTo(Arrays.copyOfRange(want, 100, 1048676));
    assertThat(part.headers().firstValue("content-range")).hasValue("bytes 100-1048675/" + want.length);
    HttpResponse<byte[]> suffix = fx.send(get(base, "/v1/store/chunks/" + id).header("Range", "bytes=-10"));
    assertThat(suffix.body()).isEqualTo(Arrays.copyOfRange(want, want.length - 10, want.length));
    HttpResponse<byte[]> open = fx.send(get(base, "/v1/store/chunks/" + id).header("Range", "bytes=5-"));
    assertThat(open.body()).isEqualTo(Arrays.copyOfRange(want, 5, want.length));
    // a last position or suffix past any end (Long.MAX_VALUE, as clients write "to the end", or more digits still)
    // is cut at the end, and the unit's name is case-insensitive: these were 416
    for (String range : List.of("bytes=5-9223372036854775807", "bytes=5-99999999999999999999", "Bytes=5-",
        "BYTES=5-" + want.length)) {
      HttpResponse<byte[]> r = fx.send(get(base, "/v1/store/chunks/" + id).header("Range", range));
      assertThat(r.statusCode()).as(range).isEqualTo(206);
      assertThat(r.body()).as(range).isEqualTo(Arrays.copyOfRange(want, 5, want.length));
    }
    // empty list elements, which RFC 9110 (5.6.1) has a recipient ignore, leave a single range: these were the whole
    // chunk (200), read as several ranges
    for (String range : List.of("bytes=5-9,", "bytes=,5-9", "bytes=5-9, ,")) {
      HttpResponse<byte[]> r = fx.send(get(base, "/v1/store/chunks/" + id).header("Range", range));
      assertThat(r.statusCode()).as(range).isEqualTo(206);
      assertThat(r.body()).as(range).isEqualTo(Arrays.copyOfRange(want, 5, 10));
      assertThat(r.headers().firstValue("content-range")).as(range).hasValue("bytes 5-9/" + want.length);
    }
    HttpResponse<byte[]> whole = fx.send(get(base, "/v1/store/chunks/" + id).header("Range",
        "bytes=-99999999999999999999"));
    assertThat(whole.statusCode()).isEqualTo(206);
    assertThat(whole.body()).isEqualTo(want);

    HttpResponse<byte[]> notModified = fx.send(get(base, "/v1/store/chunks/" + id)
        .header("If-None-Match", "\"" + id + "\""));
    assertThat(notModified.statusCode()).isEqualTo(304);
  }

  @Test
  void moreStreamedAnswersAtOnceThanDirectSliceBuffersAreAllWhole() throws Exception {
    ChunkId id = objects().get(0).get(0);
    byte[] want = stored(id);
    int n = StoreApi.DIRECT_SLICES + 8;
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(n);
    try {
      List<java.util.concurrent.Future<HttpResponse<byte[]>>> answers = new ArrayList<>();
      java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
      for (int i = 0; i < n; i++) {
        int from = i * 7;
        answers.add(pool.submit(() -> {
          go.await();
          return fx.send(get(base, "/v1/store/chunks/" + id).header("Range", "bytes=" + from + "-"));
        }));
      }
      go.countDown();
      for (int i = 0; i < n; i++) {
        HttpResponse<byte[]> r = answers.get(i).get();
        assertThat(r.statusCode()).isEqualTo(206);
        assertThat(r.body()).as("answer %d", i).isEqualTo(Arrays.copyOfRange(want, i * 7, want.length));
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void badRangesAre416AndBadIds400() throws Exception {
    ChunkId id = objects().get(0).get(0);
    long size = stored(id).length;
    for (String range : List.of("bytes=10-5", "bytes=" + size + "-", "bytes=99999999999999999999-",
        "bytes=-0", "bytes 0-1", "bytes=abc-def", "bytes=" + "1".repeat(300), "bytes=,", "bytes= , ")) {
      HttpResponse<byte[]> r = fx.send(get(base, "/v1/store/chunks/" + id).header("Range", range));
      assertThat(r.statusCode()).as(range).isEqualTo(416);
      assertThat(json(r).get("error").asText()).isEqualTo("range-not-satisfiable");
    }
    // a unit the server does not know is ignored, as HTTP requires of an origin server: the whole chunk; so are
    // several ranges, which were 416 though each could be served
    for (String range : List.of("items=0-1", "pages = 1-2", "bytes=0-1,5-9", "bytes=0-1, " + size + "-")) {
      HttpResponse<byte[]> r = fx.send(get(base, "/v1/store/chunks/" + id).header("Range", range));
      assertThat(r.statusCode()).as(range).isEqualTo(200);
      assertThat(r.body()).as(range).isEqualTo(stored(id));
      assertThat(r.headers().firstValue("Content-Range")).as(range).isEmpty();
    }
    String upper = id.hex().toUpperCase(java.util.Locale.ROOT);
    for (String bad : List.of(upper, "abc", id.hex() + "0", "g".repeat(64), id.hex().substring(1) + "%20")) {
      assertThat(fx.send(get(base, "/v1/store/chunks/" + bad)).statusCode()).as(bad).isEqualTo(400);
    }
    HttpResponse<byte[]> missing = fx.send(get(base, "/v1/store/chunks/" + ChunkId.of(new byte[] {1})));
    assertThat(missing.statusCode()).isEqualTo(404);
    assertThat(json(missing).get("message").asText()).contains(ChunkId.of(new byte[] {1}).hex())
        .doesNotContain(fx.dir.toString());
  }

  @Test
  void decodedChunksHashToTheirIds() throws Exception {
    List<List<ChunkId>> o = objects();
    ChunkId loose = o.get(0).get(0);
    HttpResponse<byte[]> r = fx.send(get(base, "/v1/store/chunks/" + loose + "?decoded=1"));
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(ChunkId.of(r.body())).isEqualTo(loose);
    HttpResponse<byte[]> part = fx.send(get(base, "/v1/store/chunks/" + loose + "?decoded=1")
        .header("Range", "bytes=10-19"));
    assertThat(part.statusCode()).isEqualTo(206);
    assertThat(part.body()).isEqualTo(Arrays.copyOfRange(r.body(), 10, 20));

    ChunkId pack = o.get(1).get(0);
    ChunkId small = fx.repo.objects().packIndex(pack).entries().keySet().iterator().next();
    HttpResponse<byte[]> packed = fx.send(get(base, "/v1/store/chunks/" + small + "?decoded=1&pack=" + pack));
    assertThat(packed.statusCode()).isEqualTo(200);
    assertThat(ChunkId.of(packed.body())).isEqualTo(small);
    assertThat(fx.send(get(base, "/v1/store/chunks/" + small + "?decoded=1")).statusCode()).isEqualTo(404);

    // a client's wrong ids are 404s, not the store's damage: they were 500 "corrupt" (an HTTP store client then
    // raised CorruptObjectException) and an integrity ERROR in the server's log
    for (String wrong : List.of(pack + "?decoded=1", small + "?decoded=1&pack=" + loose)) {
      HttpResponse<byte[]> w = fx.send(get(base, "/v1/store/chunks/" + wrong));
      assertThat(w.statusCode()).as(wrong).isEqualTo(404);
      assertThat(new String(w.body(), java.nio.charset.StandardCharsets.UTF_8)).as(wrong).contains("not-found")
          .doesNotContain("corrupt");
    }
  }

  @Test
  void uploadsAreCheckedAgainstTheirIdBeforeStored() throws Exception {
    List<List<ChunkId>> o = objects();
    for (ChunkId id : List.of(o.get(0).get(1), o.get(1).get(0))) {
      byte[] body = stored(id);
      assertThat(fx.send(get(base, "/v1/store/chunks/" + id).DELETE()).statusCode()).isEqualTo(204);
      assertThat(chunks.contains(id)).isFalse();

      byte[] damaged = body.clone();
      damaged[damaged.length / 2] ^= 1;
      HttpResponse<byte[]> bad = fx.send(get(base, "/v1/store/chunks/" + id)
          .PUT(HttpRequest.BodyPublishers.ofByteArray(damaged)));
      assertThat(bad.statusCode()).isEqualTo(422);
      assertThat(json(bad).get("error").asText()).isEqualTo("chunk-mismatch");
      assertThat(chunks.contains(id)).isFalse();

      ChunkId other = ChunkId.of(new byte[] {42});
      HttpResponse<byte[]> wrongId = fx.send(get(base, "/v1/store/chunks/" + other)
          .PUT(HttpRequest.BodyPublishers.ofByteArray(body)));
      assertThat(wrongId.statusCode()).isEqualTo(422);
      assertThat(chunks.contains(other)).isFalse();

      HttpResponse<byte[]> put = fx.send(get(base, "/v1/store/chunks/" + id)
          .PUT(HttpRequest.BodyPublishers.ofByteArray(body)));
      assertThat(put.statusCode()).isEqualTo(201);
      assertThat(stored(id)).isEqualTo(body);
      assertThat(fx.send(get(base, "/v1/store/chunks/" + id).PUT(HttpRequest.BodyPublishers.ofByteArray(body)))
          .statusCode()).isEqualTo(200);
    }
    ChunkId junk = ChunkId.of("not a frame".getBytes(StandardCharsets.UTF_8));
    assertThat(fx.send(get(base, "/v1/store/chunks/" + junk).PUT(HttpRequest.BodyPublishers.ofString("not a frame")))
        .statusCode()).isEqualTo(422);
    assertThat(chunks.contains(junk)).isFalse();
    assertThat(fx.repo.verify("org/tiny:prod", new io.ferry.transfer.TransferListener() { }).ok()).isTrue();
  }

  @Test
  void oversizedUploadsAre413AndStoreNothing() throws Exception {
    byte[] big = new byte[(8 << 20) + 1];
    ChunkId id = ChunkId.of(big);
    assertThat(statusOrClosed(get(base, "/v1/store/chunks/" + id).PUT(HttpRequest.BodyPublishers.ofByteArray(big))))
        .as("an upload above the limit with its length declared").isIn(413, CLOSED);
    assertThat(chunks.contains(id)).isFalse();
    // a body without a declared length is cut off as soon as it passes the limit
    assertThat(statusOrClosed(get(base, "/v1/store/chunks/" + id).version(java.net.http.HttpClient.Version.HTTP_1_1)
        .PUT(HttpRequest.BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(big)))))
        .as("a streamed upload past the limit").isIn(413, CLOSED);
    assertThat(chunks.contains(id)).isFalse();
    assertThat(fx.send(get(base, "/v1/health")).statusCode()).as("the server still serves").isEqualTo(200);
  }

  /** What a client saw of a refused upload: on HTTP/1.1 the server closes the connection after its 413, and a client
   * still sending its body may see the close (a broken pipe) before it reads the answer. */
  private static final int CLOSED = -1;

  private int statusOrClosed(HttpRequest.Builder request) throws Exception {
    try {
      return fx.send(request).statusCode();
    } catch (java.io.IOException closed) {
      return CLOSED;
    }
  }

  @Test
  void missingBatches() throws Exception {
    ChunkId present = objects().get(0).get(0);
    ChunkId absent = ChunkId.of(new byte[] {9, 9});
    HttpResponse<byte[]> r = fx.send(get(base, "/v1/store/chunks/missing").POST(HttpRequest.BodyPublishers.ofString(
        "{\"ids\": [\"" + present + "\", \"" + absent + "\"]}")));
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(json(r).get("missing").toString()).isEqualTo("[\"" + absent + "\"]");
    StringBuilder many = new StringBuilder("{\"ids\": [");
    for (int i = 0; i <= StoreApi.MAX_MISSING; i++) {
      many.append(i == 0 ? "" : ",").append('"').append(absent).append('"');
    }
    HttpResponse<byte[]> tooMany = fx.send(get(base, "/v1/store/chunks/missing").POST(
        HttpRequest.BodyPublishers.ofString(many + "]}")));
    assertThat(tooMany.statusCode()).isEqualTo(413);
    assertThat(fx.send(get(base, "/v1/store/chunks/missing").POST(HttpRequest.BodyPublishers.ofString(
        "{\"ids\": [\"zz\"]}"))).statusCode()).isEqualTo(400);
    assertThat(fx.send(get(base, "/v1/store/chunks/missing").POST(HttpRequest.BodyPublishers.ofString("[1,"))
        ).statusCode()).isEqualTo(400);
  }

  @Test
  void chunkListingPages() throws Exception {
    List<String> seen = new ArrayList<>();
    String after = "";
    for (int pages = 0; pages < 100; pages++) {
      JsonNode page = json(fx.send(get(base, "/v1/store/chunks?limit=3&after=" + after)));
      page.get("objects").forEach(o -> seen.add(o.get("id").asText()));
      if (page.get("next").isNull()) {
        break;
      }
      after = page.get("next").asText();
    }
    List<String> all = new ArrayList<>();
    chunks.list(o -> all.add(o.id().hex()));
    all.sort(null);
    assertThat(seen).isEqualTo(all);
  }

  @Test
  void aMethodNotAllowedIs405WithTheAllowHeader() throws Exception {
    // a 405 must say which methods the resource takes (RFC 9110, 15.5.6); it had no Allow header
    String c = "/v1/store/chunks/" + "0".repeat(64);
    Map<String, String> cases = new java.util.LinkedHashMap<>();
    cases.put("PATCH " + c, "GET, HEAD, PUT, DELETE");
    cases.put("POST /v1/store/refs/org/tiny/head", "GET, HEAD, PUT");
    cases.put("PATCH /v1/store/records/leases/x", "GET, HEAD, PUT, DELETE");
    cases.put("DELETE /v1/store/chunks", "GET, HEAD");
    cases.put("GET /v1/store/chunks/missing", "POST");
    cases.put("PUT /v1/models", "GET, HEAD");
    cases.put("DELETE /org/tiny/resolve/main/config.json", "GET, HEAD");
    cases.put("PUT /api/models/org/tiny", "GET, HEAD");
    cases.put("PUT /api/models/org/tiny/paths-info/main", "POST");
    cases.put("GET /ui/logout", "POST");
    cases.put("PUT /ui/login", "GET, HEAD, POST");
    for (Map.Entry<String, String> e : cases.entrySet()) {
      String[] request = e.getKey().split(" ");
      HttpResponse<byte[]> r = fx.send(get(base, request[1]).method(request[0],
          HttpRequest.BodyPublishers.noBody()));
      assertThat(r.statusCode()).as(e.getKey()).isEqualTo(405);
      assertThat(r.headers().firstValue("allow")).as(e.getKey()).hasValue(e.getValue());
    }
  }

  @Test
  void aLimitTooLargeForAnIntegerIsSaidToBeOutOfRange() throws Exception {
    // a number past the range of an int was said not to be an integer at all
    for (String limit : List.of("99999999999", "-99999999999", "10001")) {
      HttpResponse<byte[]> r = fx.send(get(base, "/v1/store/chunks?limit=" + limit));
      assertThat(r.statusCode()).as(limit).isEqualTo(400);
      assertThat(new String(r.body(), StandardCharsets.UTF_8)).as(limit)
          .contains("query parameter limit=" + limit + " is outside 0..10000").doesNotContain("not an integer");
    }
    for (String limit : List.of("ten", "1e3", "\u0661")) {
      HttpResponse<byte[]> r = fx.send(get(base, "/v1/store/chunks?limit="
          + java.net.URLEncoder.encode(limit, StandardCharsets.UTF_8)));
      assertThat(r.statusCode()).as(limit).isEqualTo(400);
      assertThat(new String(r.body(), StandardCharsets.UTF_8)).as(limit).contains("is not an integer");
    }
  }

  @Test
  void refsMoveByCompareAndSwap() throws Exception {
    String v1 = fx.pushed.versionId().hex();
    HttpResponse<byte[]> r = fx.send(get(base, "/v1/store/refs/org/tiny/tags/prod"));
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(json(r).get("id").asText()).isEqualTo(v1);
    assertThat(r.headers().firstValue("etag")).hasValue("\"" + v1 + "\"");

    String body = "{\"new\": \"" + v1 + "\", \"who\": \"alice\", \"when\": \"2026-12-01T10:00:00Z\", \"why\": \"t\"}";
    String path = "/v1/store/refs/org/tiny/tags/cand";
    HttpResponse<byte[]> created = fx.send(get(base, path).header("If-None-Match", "*")
        .PUT(HttpRequest.BodyPublishers.ofString(body)));
    assertThat(created.statusCode()).isEqualTo(201);
    assertThat(json(created).get("result").asText()).isEqualTo("NEW");
    HttpResponse<byte[]> again = fx.send(get(base, path).header("If-None-Match", "*")
        .PUT(HttpRequest.BodyPublishers.ofString(body)));
    assertThat(again.statusCode()).isEqualTo(412);
    assertThat(json(again).get("result").asText()).isEqualTo("LOCK_FAILURE");
    assertThat(json(again).get("current").asText()).isEqualTo(v1);
    ChunkId stale = ChunkId.of(new byte[] {3});
    HttpResponse<byte[]> lost = fx.send(get(base, path).header("If-Match", "\"" + stale + "\"")
        .PUT(HttpRequest.BodyPublishers.ofString(body)));
    assertThat(lost.statusCode()).isEqualTo(412);
    HttpResponse<byte[]> same = fx.send(get(base, path).header("If-Match", "\"" + v1 + "\"")
        .PUT(HttpRequest.BodyPublishers.ofString(body)));
    assertThat(same.statusCode()).as(new String(same.body(), StandardCharsets.UTF_8)).isEqualTo(200);
    assertThat(json(same).get("result").asText()).isEqualTo("NO_CHANGE");
    HttpResponse<byte[]> deleted = fx.send(get(base, path).header("If-Match", "\"" + v1 + "\"")
        .PUT(HttpRequest.BodyPublishers.ofString("{\"new\": null, \"who\": \"alice\", \"why\": \"drop\"}")));
    assertThat(json(deleted).get("result").asText()).isEqualTo("DELETED");
    assertThat(fx.send(get(base, path)).statusCode()).isEqualTo(404);

    JsonNode log = json(fx.send(get(base, path + "?log=1")));
    assertThat(log.get("entries")).hasSize(2);
    assertThat(log.get("entries").get(0).get("who").asText()).isEqualTo("alice");
    assertThat(log.get("entries").get(0).get("old").isNull()).isTrue();
    assertThat(log.get("entries").get(1).get("new").isNull()).isTrue();

    JsonNode list = json(fx.send(get(base, "/v1/store/refs?prefix=org/tiny/")));
    assertThat(list.get("refs").toString()).isEqualTo("[\"org/tiny/head\",\"org/tiny/tags/prod\"]");

    assertThat(fx.send(get(base, path).PUT(HttpRequest.BodyPublishers.ofString(body))).statusCode()).isEqualTo(428);
    // a compare-and-swap compares strongly: a weak tag, a list or * names no one expected id, and the answer said
    // only that it was "not 64 lower-case hex digits"
    for (String im : List.of("W/\"" + v1 + "\"", "\"" + stale + "\", \"" + v1 + "\"", "*")) {
      HttpResponse<byte[]> weak = fx.send(get(base, "/v1/store/refs/org/tiny/tags/prod").header("If-Match", im)
          .PUT(HttpRequest.BodyPublishers.ofString(body)));
      assertThat(weak.statusCode()).as(im).isEqualTo(400);
      assertThat(new String(weak.body(), StandardCharsets.UTF_8)).as(im)
          .contains("If-Match on a ref takes one strong entity tag, the expected id").contains("nothing was moved");
    }
    // the same list as two fields: the first alone was taken, and the ref moved
    HttpResponse<byte[]> twice = fx.send(get(base, "/v1/store/refs/org/tiny/tags/prod").header("If-Match", "\""
        + v1 + "\"").header("If-Match", "\"" + stale + "\"").PUT(HttpRequest.BodyPublishers.ofString(body)));
    assertThat(twice.statusCode()).isEqualTo(400);
    assertThat(fx.repo.resolve("org/tiny:prod").id().hex()).isEqualTo(v1);
    for (String bad : List.of("/v1/store/refs/org/tiny/tags/..", "/v1/store/refs/org/tiny/x/prod",
        "/v1/store/refs/a/b/c/head", "/v1/store/refs/org%2Ftiny/head", "/v1/store/refs/-x/head")) {
      assertThat(fx.send(get(base, bad)).statusCode()).as(bad).isEqualTo(400);
    }
    assertThat(fx.repo.resolve("org/tiny:prod").id().hex()).isEqualTo(v1);
  }

  @Test
  void aDamagedObjectIs500CorruptNamingTheObjectAndTheDefectButNotWhereItIs() throws Exception {
    ChunkId loose = objects().get(0).get(0);
    String hex = loose.hex();
    Path file = fx.dir.resolve("store/objects").resolve(hex.substring(0, 2)).resolve(hex.substring(2));
    byte[] intact = Files.readAllBytes(file);
    byte[] damaged = intact.clone();
    damaged[damaged.length - 3] ^= 0x10;
    Files.write(file, damaged);
    try {
      // decoded: the server reads the object through its checks
      HttpResponse<byte[]> r = fx.send(get(base, "/v1/store/chunks/" + loose + "?decoded=1"));
      assertThat(r.statusCode()).isEqualTo(500);
      JsonNode error = json(r);
      assertThat(error.get("error").asText()).isEqualTo("corrupt");
      assertThat(error.get("object").asText()).isEqualTo(hex);
      assertThat(error.get("defect").asText()).containsIgnoringCase("checksum");
      assertThat(error.get("message").asText()).contains(hex).contains(error.get("defect").asText());
      assertThat(new String(r.body(), StandardCharsets.UTF_8)).doesNotContain(fx.dir.toString());
    } finally {
      Files.write(file, intact);
    }
  }

  @Test
  void aDamagedRefLogIs500CorruptNamingTheRefAndTheEntry() throws Exception {
    String ref = "org/broken/tags/prod";
    ChunkId prev = null;
    for (int i = 0; i < 3; i++) {
      ChunkId next = ChunkId.of(new byte[] {(byte) i});
      assertThat(fx.repo.backend().refs().compareAndSet(ref, prev, next, new RefLogEntry(prev, next, "test",
          Instant.parse("2026-12-01T10:00:00Z"), "move " + i)).isSuccess()).isTrue();
      prev = next;
    }
    Path log = fx.dir.resolve("store/refs/" + ref + ".log");
    List<String> lines = new ArrayList<>(Files.readAllLines(log, StandardCharsets.UTF_8));
    lines.set(0, "this is not a ref log entry");
    Files.write(log, lines, StandardCharsets.UTF_8);

    HttpResponse<byte[]> r = fx.send(get(base, "/v1/store/refs/" + ref + "?log=1"));
    assertThat(r.statusCode()).isEqualTo(500);
    JsonNode error = json(r);
    assertThat(error.get("error").asText()).isEqualTo("corrupt");
    assertThat(error.get("ref").asText()).isEqualTo(ref);
    assertThat(error.get("entry").asLong()).isEqualTo(1);
    assertThat(error.get("defect").asText()).contains("line 1").contains("not an entry");
    assertThat(error.get("message").asText()).contains("'" + ref + "'").contains("entry 1")
        .contains(error.get("defect").asText());
    assertThat(json(fx.send(get(base, "/v1/store/refs/" + ref))).get("id").asText())
        .as("the intact end of the log is still read").isEqualTo(prev.hex());
  }

  @Test
  void aRecordWriteWithIfMatchIsRefusedRatherThanDoneUnconditionally() throws Exception {
    // If-Match was ignored on records: a replace or delete meant to happen only if the record still was what the
    // client read happened whatever the record held, and "If-Match: *" (only if it exists) created it
    String path = "/v1/store/records/test/if-match/a";
    for (String im : List.of("*", "\"x\"")) {
      HttpResponse<byte[]> put = fx.send(get(base, path).header("If-Match", im)
          .PUT(HttpRequest.BodyPublishers.ofString("one")));
      assertThat(put.statusCode()).as(im).isEqualTo(400);
      assertThat(new String(put.body(), StandardCharsets.UTF_8)).as(im).contains("If-Match")
          .contains("nothing was written");
    }
    assertThat(fx.repo.backend().records().read("test/if-match/a")).isEmpty();
    // a create reads every If-None-Match field as one list (RFC 9110, 5.3): only the first was read, so "*" and then
    // "x" created the record, and a list is no "*"
    for (List<String> inm : List.of(List.of("*", "\"x\""), List.of("*", "*"), List.of("\"a\", \"b\""))) {
      HttpRequest.Builder b = get(base, path).PUT(HttpRequest.BodyPublishers.ofString("one"));
      inm.forEach(v -> b.header("If-None-Match", v));
      HttpResponse<byte[]> put = fx.send(b);
      assertThat(put.statusCode()).as(inm.toString()).isEqualTo(400);
      assertThat(new String(put.body(), StandardCharsets.UTF_8)).as(inm.toString()).contains("If-None-Match")
          .contains("nothing was written");
    }
    assertThat(fx.repo.backend().records().read("test/if-match/a")).isEmpty();
    fx.repo.backend().records().create("test/if-match/a", "kept".getBytes(StandardCharsets.UTF_8));
    assertThat(fx.send(get(base, path).header("If-Match", "\"x\"").DELETE()).statusCode()).isEqualTo(400);
    assertThat(fx.repo.backend().records().read("test/if-match/a")).isPresent();
    // nor is If-None-Match on a delete, which deleted the record whatever it said
    HttpResponse<byte[]> del = fx.send(get(base, path).header("If-None-Match", "*").DELETE());
    assertThat(del.statusCode()).isEqualTo(400);
    assertThat(new String(del.body(), StandardCharsets.UTF_8)).contains("If-None-Match")
        .contains("nothing was deleted");
    assertThat(fx.repo.backend().records().read("test/if-match/a")).isPresent();
    fx.repo.backend().records().delete("test/if-match/a");
  }

  @Test
  void records() throws Exception {
    // a record of no protocol (leases/ and dedup/ hold only their own records: RecordRulesTest); admin may write it
    String path = "/v1/store/records/test/push/abc";
    assertThat(fx.send(get(base, path).header("If-None-Match", "*").PUT(HttpRequest.BodyPublishers.ofString("one")))
        .statusCode()).isEqualTo(201);
    assertThat(fx.send(get(base, path).header("If-None-Match", "*").PUT(HttpRequest.BodyPublishers.ofString("two")))
        .statusCode()).isEqualTo(412);
    assertThat(new String(fx.send(get(base, path)).body(), StandardCharsets.UTF_8)).isEqualTo("one");
    assertThat(fx.send(get(base, path).PUT(HttpRequest.BodyPublishers.ofString("three"))).statusCode()).isEqualTo(204);
    JsonNode keys = json(fx.send(get(base, "/v1/store/records?prefix=test/push/")));
    assertThat(fx.repo.backend().records().list("test/push/")).as(keys.toString()).containsExactly("test/push/abc");
    assertThat(keys.get("keys").toString()).isEqualTo("[\"test/push/abc\"]");
    JsonNode read = json(fx.send(get(base, "/v1/store/records/read").POST(HttpRequest.BodyPublishers.ofString(
        "{\"keys\": [\"test/push/abc\", \"test/push/none\"]}"))));
    assertThat(new String(Base64.getDecoder().decode(read.get("records").get(0).asText()), StandardCharsets.UTF_8))
        .isEqualTo("three");
    assertThat(read.get("records").get(1).isNull()).isTrue();
    assertThat(fx.send(get(base, path).DELETE()).statusCode()).isEqualTo(204);
    assertThat(fx.send(get(base, path)).statusCode()).isEqualTo(404);
    for (String bad : List.of("/v1/store/records/objects/x", "/v1/store/records/leases/a%20b",
        "/v1/store/records/leases/%2e%2e/x", "/v1/store/records/leases/..%2Fx")) {
      assertThat(fx.send(get(base, bad)).statusCode()).as(bad).isEqualTo(400);
    }
    byte[] big = new byte[(1 << 20) + 1];
    assertThat(fx.send(get(base, path).PUT(HttpRequest.BodyPublishers.ofByteArray(big))).statusCode()).isEqualTo(413);
  }
}
