package io.ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.repo.PushOptions;
import io.ferry.version.Derivation;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The store browser shows a derivation's source by the same rules on the version page, the model page and the lineage
 * page: the version page showed every reader the source the lineage page hides from one (a source outside this store,
 * which may name a path, and a version of a model the token may not read).
 */
@Timeout(120)
class DerivationSourceAccessTest {
  static final String OUTSIDE = "/srv/private/checkpoints/base-7b";

  @TempDir Path tmp;

  private static String page(ServerFixture fx, URI base, String token, String path) throws Exception {
    HttpResponse<byte[]> r = fx.send(ServerFixture.get(base, path).header("Authorization", "Bearer " + token));
    assertThat(r.statusCode()).as(path).isEqualTo(200);
    return new String(r.body(), StandardCharsets.UTF_8);
  }

  @Test
  void everyPageHidesTheSourcesTheTokenMayNotSee() throws Exception {
    try (ServerFixture fx = new ServerFixture(tmp)) {
      Path model = fx.dir.resolve("model");
      Files.writeString(model.resolve("README.md"), "derived from outside");
      fx.repo.push(model, "pub/outside", PushOptions.builder().derivation(new Derivation("finetune", Map.of(),
          OUTSIDE, Map.of())).build());
      Files.writeString(model.resolve("README.md"), "derived from a private model");
      String hidden = fx.pushed.versionId().hex();
      fx.repo.push(model, "pub/inside", PushOptions.builder().derivation(new Derivation("cast", Map.of(), hidden,
          Map.of())).build());
      String reader = fx.token("reader", "read:pub/*");
      String admin = fx.token("admin", "admin");
      URI base = fx.startWithTokens().uri();
      for (String path : new String[] {"/ui/models/pub/outside/-/versions/main", "/ui/models/pub/outside",
          "/ui/models/pub/outside/-/lineage/main"}) {
        assertThat(page(fx, base, reader, path)).as(path).contains("outside this store")
            .doesNotContain("/srv/");
        assertThat(page(fx, base, admin, path)).as(path).contains(path.endsWith("outside") ? "/srv/private"
            : OUTSIDE);
      }
      for (String path : new String[] {"/ui/models/pub/inside/-/versions/main",
          "/ui/models/pub/inside/-/lineage/main"}) {
        assertThat(page(fx, base, reader, path)).as(path).contains("a model this token may not read")
            .doesNotContain("org/tiny@");
        assertThat(page(fx, base, admin, path)).as(path).contains("org/tiny@" + hidden.substring(0, 12));
      }
    }
  }
}
