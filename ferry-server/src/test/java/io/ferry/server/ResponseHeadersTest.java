package io.ferry.server;

import static io.ferry.server.ServerFixture.get;
import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Path;
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
}
