package io.ferry.server;

import static io.ferry.server.ServerFixture.get;
import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.repo.PushOptions;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A 404 for an unknown model suggests only models the token may read, and does not name where the store is. */
@Timeout(120)
class NotFoundSuggestionsTest {
  @TempDir static Path tmp;
  static ServerFixture fx;
  static URI base;
  static String reader;

  @BeforeAll
  static void start() throws Exception {
    fx = new ServerFixture(tmp);
    fx.repo.push(fx.dir.resolve("model"), "orgx/tiny", PushOptions.builder().message("hidden").build());
    reader = fx.token("reader", "read:org/*");
    base = fx.startWithTokens().uri();
  }

  @AfterAll
  static void stop() throws Exception {
    fx.close();
  }

  @Test
  void suggestionsAreOnlyModelsTheTokenMayRead() throws Exception {
    for (String path : List.of("/v1/versions/main?model=org/tinx", "/v1/versions/@abcd?model=org/tinx",
        "/v1/models/org/tinx/versions", "/v1/models/org/tinx/refs",
        "/api/models/org/tinx", "/org/tinx/resolve/main/config.json", "/ui/models/org/tinx/-/versions/main")) {
      HttpResponse<byte[]> r = fx.send(get(base, path).header("Authorization", "Bearer " + reader));
      String body = new String(r.body(), StandardCharsets.UTF_8).replace("&#39;", "'");
      assertThat(r.statusCode()).as(path).isEqualTo(404);
      assertThat(body).as(path).contains("no model 'org/tinx' in this store").contains("'org/tiny'")
          .doesNotContain("orgx").doesNotContain(fx.dir.toString());
    }
  }
}
