package io.ferry.server;

import static io.ferry.server.ServerFixture.get;
import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Caching and length headers that clients and caches act on. */
@Timeout(120)
class ResponseHeadersTest {
  @TempDir static Path tmp;
  static ServerFixture fx;
  static URI base;
  static String v1;

  @BeforeAll
  static void start() throws Exception {
    fx = new ServerFixture(tmp);
    v1 = fx.pushed.versionId().hex();
    base = fx.startDev().uri();
  }

  @AfterAll
  static void stop() throws Exception {
    fx.close();
  }

  @Test
  void onlyAVersionIdIsCachedAsImmutableNotATagOfSixtyFourCharacters() throws Exception {
    String tag = "release-" + "x".repeat(56);
    assertThat(tag).hasSize(64);
    fx.repo.tag("org/tiny", tag, null);
    HttpResponse<byte[]> byTag = fx.send(get(base, "/org/tiny/resolve/" + tag + "/config.json"));
    assertThat(byTag.statusCode()).isEqualTo(200);
    assertThat(byTag.headers().firstValue("cache-control")).hasValue("no-cache");
    HttpResponse<byte[]> byId = fx.send(get(base, "/org/tiny/resolve/" + v1 + "/config.json"));
    assertThat(byId.statusCode()).isEqualTo(200);
    assertThat(byId.headers().firstValue("cache-control")).hasValue("public, max-age=31536000, immutable");
    assertThat(fx.send(get(base, "/org/tiny/resolve/main/config.json")).headers().firstValue("cache-control"))
        .hasValue("no-cache");
  }

  @Test
  void headOfAVersionCarriesTheLengthOfItsGet() throws Exception {
    String path = "/v1/versions/main?model=org/tiny";
    HttpResponse<byte[]> got = fx.send(get(base, path));
    assertThat(got.statusCode()).isEqualTo(200);
    assertThat(got.body().length).isGreaterThan(1000);
    HttpResponse<byte[]> head = fx.send(get(base, path).method("HEAD", HttpRequest.BodyPublishers.noBody()));
    assertThat(head.statusCode()).isEqualTo(200);
    assertThat(head.headers().firstValueAsLong("content-length")).hasValue(got.body().length);
    assertThat(head.headers().firstValue("etag")).isEqualTo(got.headers().firstValue("etag"));
    assertThat(head.headers().firstValue("content-type")).isEqualTo(got.headers().firstValue("content-type"));
  }

  @Test
  void aRangeStartingPastTheEndSaysSo() throws Exception {
    long size = fx.send(get(base, "/org/tiny/resolve/main/config.json")).body().length;
    HttpResponse<byte[]> r = fx.send(get(base, "/org/tiny/resolve/main/config.json").header("Range",
        "bytes=100000-"));
    assertThat(r.statusCode()).isEqualTo(416);
    assertThat(r.headers().firstValue("content-range")).hasValue("bytes */" + size);
    assertThat(new String(r.body(), java.nio.charset.StandardCharsets.UTF_8))
        .contains("starts at byte 100000, past the end (the last byte is " + (size - 1) + ")")
        .doesNotContain("inverted");
  }

  @Test
  void ifNoneMatchComparesWeaklyAndTakesAListOrAStarOnEveryRouteWithAnETag() throws Exception {
    // only one exact strong tag was recognized: a cache revalidating with W/"..." (as proxies that compress rewrite
    // it), a list of tags or * downloaded the whole body again, 200 where RFC 9110 (13.1.2) answers 304
    for (String path : List.of("/v1/store/chunks/" + v1, "/v1/store/chunks/" + v1 + "?decoded=1",
        "/v1/store/refs/org/tiny/tags/prod", "/v1/versions/prod?model=org/tiny", "/org/tiny/resolve/main/config.json",
        "/org/tiny/resolve/" + v1 + "/config.json", "/ui/models/org/tiny/-/files/prod/config.json",
        "/ui/models/org/tiny/-/archive/prod")) {
      HttpResponse<byte[]> whole = fx.send(get(base, path));
      assertThat(whole.statusCode()).as(path).isEqualTo(200);
      String etag = whole.headers().firstValue("etag").orElseThrow();
      for (String inm : List.of(etag, "W/" + etag, "\"x\", " + etag, "\"x\",W/" + etag + " , \"y\"", "*")) {
        for (String method : List.of("GET", "HEAD")) {
          HttpResponse<byte[]> r = fx.send(get(base, path).header("If-None-Match", inm)
              .method(method, HttpRequest.BodyPublishers.noBody()));
          assertThat(r.statusCode()).as(method + " " + path + " If-None-Match: " + inm).isEqualTo(304);
          assertThat(r.headers().firstValue("etag")).as(path).hasValue(etag);
          assertThat(r.body()).isEmpty();
          // a 304's Content-Length is the 200's (RFC 9110, 8.6), or none: it was 0, which a cache may store
          assertThat(r.headers().allValues("content-length")).as(method + " " + path)
              .isSubsetOf(List.of(Integer.toString(whole.body().length)));
        }
      }
      for (String inm : List.of("\"x\"", "W/\"x\", \"y\"", etag.substring(0, etag.length() - 2) + "\"")) {
        HttpResponse<byte[]> r = fx.send(get(base, path).header("If-None-Match", inm));
        assertThat(r.statusCode()).as(path + " If-None-Match: " + inm).isEqualTo(200);
        assertThat(r.body()).as(path).isEqualTo(whole.body());
      }
    }
  }

  @Test
  void aRangeWithAnIfRangeThatDoesNotMatchStronglyGetsTheWholeBody() throws Exception {
    // If-Range was ignored: a client resuming a download of resolve/main with the tag of the bytes it holds got a 206
    // of the file main names now, and spliced the two (RFC 9110, 13.1.5: only a strong match serves the range)
    for (String path : List.of("/org/tiny/resolve/main/config.json", "/v1/store/chunks/" + v1,
        "/v1/store/chunks/" + v1 + "?decoded=1")) {
      HttpResponse<byte[]> whole = fx.send(get(base, path));
      String etag = whole.headers().firstValue("etag").orElseThrow();
      HttpResponse<byte[]> part = fx.send(get(base, path).header("Range", "bytes=1-3").header("If-Range", etag));
      assertThat(part.statusCode()).as(path).isEqualTo(206);
      assertThat(part.body()).as(path).isEqualTo(java.util.Arrays.copyOfRange(whole.body(), 1, 4));
      for (String ifRange : List.of("\"" + "0".repeat(64) + "\"", "W/" + etag, "Sun, 06 Dec 2026 10:00:00 GMT")) {
        HttpResponse<byte[]> r = fx.send(get(base, path).header("Range", "bytes=1-3").header("If-Range", ifRange));
        assertThat(r.statusCode()).as(path + " If-Range: " + ifRange).isEqualTo(200);
        assertThat(r.headers().firstValue("content-range")).as(path).isEmpty();
        assertThat(r.body()).as(path).isEqualTo(whole.body());
      }
    }
  }
}
