package io.ferry.server;

import static io.ferry.server.ModelAndHfApiTest.json;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.repo.PushOptions;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One model's damaged ref log made {@code GET /v1/models} fail for every model: the listing leaves that ref out,
 * names it in {@code damagedRefs}, and lists the others, as {@code ferry ls} does. A model whose head version is
 * missing made the store browser's models list, and the lineage page of every model, fail: the list shows that model
 * with its size and count unknown, and says why; the lineage of the others is drawn. The health page, which failed
 * too, as it did for a damaged ref log, says the statistics cannot be counted and still offers verify.
 */
class DamagedRefLogListingTest {
  @TempDir Path tmp;

  @Test
  void theOtherModelsAreListedAndTheDamagedRefNamed() throws Exception {
    try (ServerFixture fx = new ServerFixture(tmp)) {
      fx.repo.push(fx.dir.resolve("model"), "other", PushOptions.builder().message("other").build());
      Path log = fx.dir.resolve("store/refs/org/tiny/head.log");
      byte[] all = Files.readAllBytes(log);
      int at = new String(all, StandardCharsets.UTF_8).indexOf("\"new\":\"") + 7;
      all[at] = (byte) (all[at] == '0' ? '1' : '0');
      Files.write(log, all);
      URI base = fx.startDev().uri();
      JsonNode models = json(fx.send(ServerFixture.get(base, "/v1/models")));
      assertThat(models.get("models").findValuesAsText("name")).containsExactly("org/tiny", "other");
      assertThat(models.get("models").get(0).get("head").isNull()).as("the head's log is damaged").isTrue();
      assertThat(models.get("models").get(0).get("tags").has("prod")).isTrue();
      JsonNode bad = models.get("damagedRefs");
      assertThat(bad).hasSize(1);
      assertThat(bad.get(0).get("ref").asText()).isEqualTo("org/tiny/head");
      assertThat(bad.get(0).get("entry").asLong()).isEqualTo(1);
      assertThat(bad.get(0).get("defect").asText()).contains("CRC32C");
      // the log named as the store names it, not by the server's path
      assertThat(bad.get(0).get("defect").asText()).contains("refs/org/tiny/head.log")
          .doesNotContain(fx.dir.toString());
      HttpResponse<byte[]> refs = fx.send(ServerFixture.get(base, "/v1/models/org/tiny/versions"));
      String text = new String(refs.body(), StandardCharsets.UTF_8);
      assertThat(refs.statusCode()).as(text).isEqualTo(500);
      assertThat(text).contains("corrupt").contains("refs/org/tiny/head.log").doesNotContain(fx.dir.toString());
    }
  }

  /**
   * A version whose objects a gc removed is a 404 that says so, and names the store as clients know it: the message
   * gave the server's own path to its store ("is no longer in file:/...").
   */
  @Test
  void aVersionNoLongerInTheStoreIsNamedWithoutTheServersPath() throws Exception {
    try (ServerFixture fx = new ServerFixture(tmp)) {
      Path gone = Files.createDirectories(tmp.resolve("gone"));
      Files.writeString(gone.resolve("notes.txt"), "a model removed, then collected");
      String id = fx.repo.push(gone, "gone", PushOptions.builder().message("gone").build()).versionId().hex();
      String snapshot = fx.repo.resolve("gone@" + id).version().snapshot().hex();
      fx.repo.removeVersion("gone@" + id, true);
      Files.delete(fx.dir.resolve("store/objects").resolve(snapshot.substring(0, 2)).resolve(snapshot.substring(2)));
      HttpResponse<byte[]> r = fx.send(ServerFixture.get(fx.startDev().uri(), "/v1/versions/" + id + "?model=gone"));
      String text = new String(r.body(), StandardCharsets.UTF_8);
      assertThat(r.statusCode()).as(text).isEqualTo(404);
      assertThat(text).contains("is no longer in").doesNotContain(fx.dir.toString());
    }
  }

  /** {@code GET /v1/models} failed (404 "object ... is missing") for every model when one model's head was missing. */
  @Test
  void theModelListingNamesEveryModelWhenOnesHeadVersionIsMissing() throws Exception {
    try (ServerFixture fx = new ServerFixture(tmp)) {
      String head = fx.repo.push(fx.dir.resolve("model"), "other", PushOptions.builder().message("other").build())
          .versionId().hex();
      Files.delete(fx.dir.resolve("store/objects").resolve(head.substring(0, 2)).resolve(head.substring(2)));
      JsonNode models = json(fx.send(ServerFixture.get(fx.startDev().uri(), "/v1/models")));
      assertThat(models.get("models").findValuesAsText("name")).containsExactly("org/tiny", "other");
      JsonNode other = models.get("models").get(1);
      assertThat(other.get("head").asText()).isEqualTo(head);
      assertThat(other.get("versions").isNull()).as("count unknown: %s", other).isTrue();
      assertThat(other.get("bytes").isNull()).as("size unknown: %s", other).isTrue();
      assertThat(models.get("models").get(0).get("versions").asLong()).isPositive();
    }
  }

  @Test
  void theModelsPageListsEveryModelWhenOnesHeadVersionIsMissing() throws Exception {
    try (ServerFixture fx = new ServerFixture(tmp)) {
      String head = fx.repo.push(fx.dir.resolve("model"), "other", PushOptions.builder().message("other").build())
          .versionId().hex();
      Files.delete(fx.dir.resolve("store/objects").resolve(head.substring(0, 2)).resolve(head.substring(2)));
      URI base = fx.startDev().uri();
      HttpResponse<byte[]> page = fx.send(ServerFixture.get(base, "/"));
      String body = new String(page.body(), StandardCharsets.UTF_8);
      assertThat(page.statusCode()).as(body).isEqualTo(200);
      assertThat(body).contains("data-model=\"org/tiny\"").contains("data-model=\"other\"")
          .contains("model other: a version of its history is damaged or missing");
    }
  }

  @Test
  void anotherModelsLineageIsShownWhenOnesHeadVersionIsMissing() throws Exception {
    try (ServerFixture fx = new ServerFixture(tmp)) {
      String head = fx.repo.push(fx.dir.resolve("model"), "other", PushOptions.builder().message("other").build())
          .versionId().hex();
      Files.delete(fx.dir.resolve("store/objects").resolve(head.substring(0, 2)).resolve(head.substring(2)));
      URI base = fx.startDev().uri();
      HttpResponse<byte[]> page = fx.send(ServerFixture.get(base, "/ui/models/org/tiny/-/lineage/prod"));
      String body = new String(page.body(), StandardCharsets.UTF_8);
      assertThat(page.statusCode()).as(body).isEqualTo(200);
      assertThat(body).contains("data-model=\"org/tiny\"");
    }
  }

  @Test
  void theHealthPageOffersVerifyWhenAVersionIsMissing() throws Exception {
    try (ServerFixture fx = new ServerFixture(tmp)) {
      String head = fx.repo.push(fx.dir.resolve("model"), "other", PushOptions.builder().message("other").build())
          .versionId().hex();
      Files.delete(fx.dir.resolve("store/objects").resolve(head.substring(0, 2)).resolve(head.substring(2)));
      URI base = fx.startDev().uri();
      HttpResponse<byte[]> page = fx.send(ServerFixture.get(base, "/ui/health"));
      String body = new String(page.body(), StandardCharsets.UTF_8);
      assertThat(page.statusCode()).as(body).isEqualTo(200);
      assertThat(body).contains("id=\"run-verify\"").contains("id=\"stats-problem\"").contains(head);
    }
  }

  @Test
  void theHealthPageOffersVerifyWhenARefLogIsDamaged() throws Exception {
    try (ServerFixture fx = new ServerFixture(tmp)) {
      Path log = fx.dir.resolve("store/refs/org/tiny/head.log");
      byte[] all = Files.readAllBytes(log);
      int at = new String(all, StandardCharsets.UTF_8).indexOf("\"new\":\"") + 7;
      all[at] = (byte) (all[at] == '0' ? '1' : '0');
      Files.write(log, all);
      HttpResponse<byte[]> page = fx.send(ServerFixture.get(fx.startDev().uri(), "/ui/health"));
      String body = new String(page.body(), StandardCharsets.UTF_8);
      assertThat(page.statusCode()).as(body).isEqualTo(200);
      assertThat(body).contains("id=\"run-verify\"").contains("id=\"stats-problem\"").contains("org/tiny/head");
    }
  }
}
