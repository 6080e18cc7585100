package io.ferry.server;

import static io.ferry.server.ServerFixture.get;
import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import io.ferry.repo.PushOptions;
import io.ferry.store.ChunkStore;
import io.ferry.store.RefLogEntry;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A ref moves only to a version of its model, and its log entry holds a sane time and strings: a writer pointing its
 * own model's tag at a snapshot, a data chunk or a missing id broke gc and stats for the whole store, and a time in
 * year 1,000,000,000 broke {@code ferry reflog}.
 */
@Timeout(120)
class RefMoveChecksTest {
  @TempDir static Path tmp;
  static ServerFixture fx;
  static URI base;
  static String writer;
  static String mover;
  static String admin;
  static String blind;
  static ChunkId version;
  static ChunkId otherVersion;

  @BeforeAll
  static void start() throws Exception {
    fx = new ServerFixture(tmp);
    writer = fx.token("ci", "write:org/*");
    mover = fx.token("mover", "write:*");
    admin = fx.token("root", "admin");
    blind = fx.token("blind", "write:Secret/*");
    base = fx.startWithTokens().uri();
    version = fx.pushed.versionId();
    otherVersion = fx.repo.push(fx.dir.resolve("model"), "secret/m", PushOptions.builder().message("x").build())
        .versionId();
  }

  @AfterAll
  static void stop() throws Exception {
    fx.close();
  }

  static HttpResponse<byte[]> create(String token, String ref, String body) throws Exception {
    return fx.send(get(base, "/v1/store/refs/" + ref).header("Authorization", "Bearer " + token)
        .header("If-None-Match", "*").PUT(HttpRequest.BodyPublishers.ofString(body)));
  }

  static String text(HttpResponse<byte[]> r) {
    return new String(r.body(), StandardCharsets.UTF_8);
  }

  /** A loose data chunk and a pack of the fixture's store. */
  static List<ChunkId> dataAndPack() throws Exception {
    ChunkStore chunks = fx.repo.backend().chunks();
    List<ChunkId> all = new ArrayList<>();
    chunks.list(o -> all.add(o.id()));
    ChunkId data = null;
    ChunkId pack = null;
    for (ChunkId id : all) {
      ByteBuffer head = chunks.read(id, 0, 4);
      if (head.get(3) == 'P') {
        pack = id;
      } else if (head.get(3) == 'C' && chunks.size(id) > 1 << 20) {
        data = id;
      }
    }
    return List.of(data, pack);
  }

  @Test
  void aRefMovesOnlyToAVersionOfItsModel() throws Exception {
    ChunkId snapshot = fx.pushed.version().snapshot();
    List<ChunkId> dp = dataAndPack();
    String missing = "a".repeat(64);
    String[][] cases = {
        {snapshot.hex(), "a snapshot"}, {dp.get(0).hex(), "a data chunk"}, {dp.get(1).hex(), "a pack"},
        {missing, "not in the store"}, {otherVersion.hex(), "a version of model 'secret/m'"}};
    for (String[] c : cases) {
      HttpResponse<byte[]> r = create(writer, "org/tiny/tags/junk", "{\"new\": \"" + c[0] + "\"}");
      assertThat(r.statusCode()).as(c[1]).isEqualTo(422);
      assertThat(text(r)).as(c[1]).contains("not-a-version").contains(c[0]).contains(c[1]);
    }
    assertThat(fx.repo.backend().refs().get("org/tiny/tags/junk")).isEmpty();

    assertThat(create(writer, "org/tiny/tags/ok", "{\"new\": \"" + version + "\"}").statusCode()).isEqualTo(201);
    // mv secret/m org/renamed (by a token that may write both): the new name's refs point at versions recorded
    // under the old one, which the old name's refs point at
    assertThat(create(mover, "org/renamed/head", "{\"new\": \"" + otherVersion + "\"}").statusCode())
        .isEqualTo(201);
    assertThat(create(writer, "org/renamed/tags/t", "{\"new\": \"" + otherVersion + "\"}").statusCode())
        .as("a version its refs reached").isEqualTo(201);
  }

  @Test
  void aRefLogEntryHoldsASaneTimeAndStrings() throws Exception {
    String v = "\"new\": \"" + version + "\"";
    for (String bad : List.of("\"when\": \"+1000000000-12-31T23:59:59.999999999Z\"", "\"when\": \"1969-12-31T23:59:59Z\"",
        "\"when\": \"" + java.time.Instant.now().plus(java.time.Duration.ofDays(3)) + "\"", "\"when\": 5",
        "\"why\": {\"a\": 1}", "\"who\": [1]", "\"who\": \"a\\u0000b\"", "\"who\": \"two\\nlines\"",
        "\"who\": \"" + "w".repeat(1025) + "\"")) {
      HttpResponse<byte[]> r = create(writer, "org/tiny/tags/bad", "{" + v + ", " + bad + "}");
      assertThat(r.statusCode()).as(bad).isEqualTo(400);
      assertThat(text(r)).as(bad).contains(bad.substring(1, 4));
    }
    assertThat(fx.repo.backend().refs().get("org/tiny/tags/bad")).isEmpty();
    String when = java.time.Instant.now().minusSeconds(60).toString();
    assertThat(create(writer, "org/tiny/tags/good", "{" + v + ", \"when\": \"" + when + "\", \"why\": \"w\"}")
        .statusCode()).isEqualTo(201);
    RefLogEntry e = fx.repo.backend().refs().log("org/tiny/tags/good").get(0);
    assertThat(e.when().toString()).isEqualTo(when);
    assertThat(e.why()).isEqualTo("w");
  }

  static HttpResponse<byte[]> move(String token, String ref, ChunkId from, String body) throws Exception {
    return fx.send(get(base, "/v1/store/refs/" + ref).header("Authorization", "Bearer " + token)
        .header("If-Match", "\"" + from + "\"").PUT(HttpRequest.BodyPublishers.ofString(body)));
  }

  /**
   * A ref created through the API meets the name rules of a ref the CLI creates on a local store: git's rules for a
   * new name, no tag that differs only in case from another or from head or that looks like a version id, no model
   * that differs only in case from another. A refusal leaves no ref and no log; names already in the store stay
   * movable and deletable, and a model that has a ref takes new tags.
   */
  @Test
  void aRefCreatedThroughTheApiMeetsTheCliNameRules() throws Exception {
    String v = "{\"new\": \"" + version + "\"}";
    assertThat(create(admin, "org/tiny/tags/twin", v).statusCode()).isEqualTo(201);
    String[][] cases = {
        {"org/tiny/tags/v1.", "ends with '.'"}, {"org/tiny/tags/v1.lock", "ends with '.lock'"},
        {"org/tiny/tags/a..b", "holds '..'"}, {"org/tiny/tags/HEAD", "'head'"},
        {"org/tiny/tags/" + "ab".repeat(32), "looks like a version id"}, {"org/tiny/tags/Twin", "'twin'"},
        {"org/TINY/head", "'org/tiny' in this store"}, {"org/TINY/tags/x", "'org/tiny'"},
        {"org/new./head", "ends with '.'"}, {"x..y/new/head", "holds '..'"}};
    for (String[] c : cases) {
      HttpResponse<byte[]> r = create(admin, c[0], v);
      assertThat(r.statusCode()).as(c[0]).isEqualTo(400);
      assertThat(text(r)).as(c[0]).contains("bad-ref").contains(c[1]).contains("nothing was created")
          .doesNotContain(fx.repo.uri());
      assertThat(fx.repo.backend().refs().get(c[0])).as(c[0]).isEmpty();
      assertThat(fx.repo.backend().refs().listLogged(c[0])).as(c[0]).isEmpty();
    }

    // names made before these rules (or by an older server) stay usable
    fx.repo.backend().refs().compareAndSet("org/old./head", null, version,
        new RefLogEntry(null, version, "test", java.time.Instant.now(), "legacy"));
    fx.repo.backend().refs().compareAndSet("org/tiny/tags/old.", null, version,
        new RefLogEntry(null, version, "test", java.time.Instant.now(), "legacy"));
    assertThat(create(admin, "org/old./tags/t", v).statusCode()).isEqualTo(201);
    assertThat(move(admin, "org/tiny/tags/old.", version, "{\"new\": null}").statusCode()).isEqualTo(200);
    assertThat(fx.repo.backend().refs().get("org/tiny/tags/old.")).isEmpty();
  }

  /**
   * A model name refused as the case twin of a model the token may not read does not name that model: the refusal
   * named it ("differs only in case from 'secret/m'"), which a listing filtered by scope hides. A token that may read
   * the twin is still told its name.
   */
  @Test
  void aCaseTwinTheTokenMayNotReadIsNotNamed() throws Exception {
    String v = "{\"new\": \"" + otherVersion + "\"}";
    HttpResponse<byte[]> r = create(blind, "Secret/m/head", v);
    assertThat(r.statusCode()).isEqualTo(400);
    assertThat(text(r)).contains("bad-ref").contains("'Secret/m'").contains("a model this token may not read")
        .contains("nothing was created").doesNotContain("secret/m");
    r = create(mover, "Secret/m/head", v);
    assertThat(r.statusCode()).isEqualTo(400);
    assertThat(text(r)).contains("differs only in case from 'secret/m'");
    assertThat(fx.repo.backend().refs().listLogged("Secret/")).isEmpty();
  }

  /**
   * A body that gives "new" twice, or holds anything after its object, is refused: the first took the last "new" (a
   * delete where a create was written first), the second passed over what followed the object.
   */
  @Test
  void aBodyWithAKeyTwiceOrTextAfterItIsRefused() throws Exception {
    String v = "\"new\": \"" + version + "\"";
    for (String body : List.of("{" + v + ", \"new\": null}", "{" + v + "} junk", "{" + v + "}{}")) {
      HttpResponse<byte[]> r = create(writer, "org/tiny/tags/strict", body);
      assertThat(r.statusCode()).as(body).isEqualTo(400);
      assertThat(text(r)).as(body).contains("body is not valid JSON");
    }
    assertThat(fx.repo.backend().refs().get("org/tiny/tags/strict")).isEmpty();
    assertThat(fx.repo.backend().refs().listLogged("org/tiny/tags/strict")).isEmpty();
  }
}
