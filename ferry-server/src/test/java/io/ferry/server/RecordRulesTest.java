package io.ferry.server;

import static io.ferry.server.ServerFixture.get;
import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.dedup.IndexTable;
import io.ferry.id.ChunkId;
import io.ferry.store.RecordStore;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The records of the store protocol that writers reach (leases, the small-chunk index): what a token with write access
 * to some model may create, replace and delete there, and that what it writes must be the record its key holds. Each
 * case was a way for a writer of one model to stop every push of every model (a pointer record numbered past a long,
 * a gc lease that expires in year 9999) or to damage the index (a delta replaced with junk).
 */
@Timeout(120)
class RecordRulesTest {
  @TempDir static Path tmp;
  static ServerFixture fx;
  static URI base;
  static String writer;
  static String admin;
  static String rival;
  static RecordStore records;

  @BeforeAll
  static void start() throws Exception {
    fx = new ServerFixture(tmp);
    writer = fx.token("other", "write:other*");
    admin = fx.token("root", "admin");
    rival = fx.token("rival", "write:other*");
    base = fx.startWithTokens().uri();
    records = fx.repo.backend().records();
  }

  @AfterAll
  static void stop() throws Exception {
    fx.close();
  }

  static HttpResponse<byte[]> put(String token, String key, byte[] body, boolean create) throws Exception {
    HttpRequest.Builder b = get(base, "/v1/store/records/" + key).header("Authorization", "Bearer " + token)
        .PUT(HttpRequest.BodyPublishers.ofByteArray(body));
    return fx.send(create ? b.header("If-None-Match", "*") : b);
  }

  static HttpResponse<byte[]> delete(String token, String key) throws Exception {
    return fx.send(get(base, "/v1/store/records/" + key).header("Authorization", "Bearer " + token).DELETE());
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static String text(HttpResponse<byte[]> r) {
    return new String(r.body(), StandardCharsets.UTF_8);
  }

  static String leaseId() {
    return String.format("%013x-%016x", System.currentTimeMillis(), new SecureRandom().nextLong());
  }

  static byte[] lease(String kind, Instant started, Instant expires) {
    return utf8("{\"kind\":\"" + kind + "\",\"owner\":\"t\",\"host\":\"h\",\"pid\":1,\"pidStart\":1,\"what\":\"test\","
        + "\"started\":\"" + started + "\",\"expires\":\"" + expires + "\"}");
  }

  static byte[] table(ChunkId chunk, ChunkId pack) {
    ByteBuffer b = IndexTable.build(Map.of(chunk, pack)).bytes();
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }

  @Test
  void aWriterCannotReplaceOrPlantSmallChunkIndexRecords() throws Exception {
    List<String> deltas = records.list("dedup/deltas/");
    assertThat(deltas).as("the fixture's push wrote a delta").isNotEmpty();
    String existing = deltas.get(0);
    byte[] before = records.read(existing).orElseThrow();

    HttpResponse<byte[]> replace = put(writer, existing, utf8("junk"), false);
    assertThat(replace.statusCode()).isEqualTo(403);
    assertThat(text(replace)).contains("the admin scope");
    assertThat(records.read(existing)).hasValueSatisfying(v -> assertThat(v).isEqualTo(before));

    HttpResponse<byte[]> tooBig = put(writer, "dedup/bases/99999999999999999999", utf8("junk"), true);
    assertThat(tooBig.statusCode()).isEqualTo(400);
    assertThat(text(tooBig)).contains("bad-key").contains("pointer number");
    assertThat(put(writer, "dedup/bases/12x", utf8("junk"), true).statusCode()).isEqualTo(400);
    assertThat(put(writer, "dedup/deltas/zzz", table(ChunkId.of(utf8("c")), ChunkId.of(utf8("p"))), true)
        .statusCode()).isEqualTo(400);
    assertThat(put(writer, "dedup/other", utf8("x"), true).statusCode()).isEqualTo(400);
    assertThat(records.list("dedup/bases/")).isEmpty();

    // a delta as a push writes it: created (a valid table only), never replaced
    String delta = "dedup/deltas/" + "0123456789abcdef0123456789abcdef-0";
    HttpResponse<byte[]> junkDelta = put(writer, delta, utf8("junk"), true);
    assertThat(junkDelta.statusCode()).isEqualTo(400);
    assertThat(text(junkDelta)).contains("bad-record").contains("not a small-chunk index table");
    assertThat(put(writer, delta, table(ChunkId.of(utf8("c")), ChunkId.of(utf8("p"))), true).statusCode())
        .isEqualTo(201);
    assertThat(delete(writer, delta).statusCode()).as("not absorbed yet").isEqualTo(403);

    // a pointer as a merge writes it: the next number, naming a stored table
    byte[] baseTable = table(ChunkId.of(utf8("c2")), ChunkId.of(utf8("p2")));
    ChunkId baseId = ChunkId.of(baseTable);
    String pointer = "ferry-small-chunk-index/1\nbase " + baseId + "\nabsorbed " + delta + "\n";
    HttpResponse<byte[]> missingBase = put(writer, "dedup/bases/00000000000000000001", utf8(pointer), true);
    assertThat(missingBase.statusCode()).isEqualTo(400);
    assertThat(text(missingBase)).contains(baseId.hex()).contains("not in the store");
    assertThat(fx.send(get(base, "/v1/store/chunks/" + baseId).header("Authorization", "Bearer " + writer)
        .PUT(HttpRequest.BodyPublishers.ofByteArray(baseTable))).statusCode()).isEqualTo(201);
    HttpResponse<byte[]> skipped = put(writer, "dedup/bases/00000000000000000007", utf8(pointer), true);
    assertThat(skipped.statusCode()).isEqualTo(400);
    assertThat(text(skipped)).contains("next pointer record is number 1");
    assertThat(put(writer, "dedup/bases/00000000000000000001", utf8("ferry-small-chunk-index/1\nbase x\n"), true)
        .statusCode()).isEqualTo(400);
    assertThat(put(writer, "dedup/bases/00000000000000000001", utf8(pointer), true).statusCode()).isEqualTo(201);
    assertThat(put(writer, "dedup/bases/00000000000000000001", utf8(pointer), false).statusCode()).isEqualTo(403);
    assertThat(delete(writer, "dedup/bases/00000000000000000001").statusCode()).isEqualTo(403);
    assertThat(delete(writer, existing).statusCode()).as("absorbed by no pointer").isEqualTo(403);
    assertThat(delete(writer, delta).statusCode()).as("absorbed: what a merge deletes").isEqualTo(204);
    assertThat(records.read(delta)).isEmpty();
    assertThat(records.read(existing)).isPresent();
  }

  @Test
  void leasesHaveABoundedExpiryAndOnlyAdminsTakeGcLeases() throws Exception {
    Instant now = Instant.now();
    String gc = "leases/gc/" + leaseId() + "/lease";
    HttpResponse<byte[]> fakeGc = put(writer, gc, lease("gc", now, now.plus(Duration.ofMinutes(10))), true);
    assertThat(fakeGc.statusCode()).isEqualTo(403);
    assertThat(text(fakeGc)).contains("gc leases");
    assertThat(records.list("leases/gc/")).isEmpty();
    HttpResponse<byte[]> forever = put(admin, gc, lease("gc", now, Instant.parse("9999-01-01T00:00:00Z")), true);
    assertThat(forever.statusCode()).as("admin too").isEqualTo(400);
    assertThat(text(forever)).contains("9999-01-01T00:00:00Z").contains("at most");
    assertThat(put(admin, gc, lease("gc", now, now.plus(Duration.ofMinutes(10))), true).statusCode())
        .isEqualTo(201);
    assertThat(delete(writer, gc).statusCode()).as("a writer ending a running gc's lease").isEqualTo(403);
    assertThat(delete(admin, gc).statusCode()).isEqualTo(204);

    String id = leaseId();
    String push = "leases/push/" + id + "/lease";
    assertThat(put(writer, push, lease("push", now, Instant.parse("9999-01-01T00:00:00Z")), true).statusCode())
        .isEqualTo(400);
    assertThat(put(writer, push, lease("gc", now, now.plus(Duration.ofMinutes(10))), true).statusCode())
        .isEqualTo(400);
    assertThat(put(writer, push, lease("push", Instant.EPOCH, now.plus(Duration.ofMinutes(10))), true)
        .statusCode()).as("a lease that claims to have begun in 1970").isEqualTo(400);
    assertThat(put(writer, push, utf8("{\"kind\":\"push\"}"), true).statusCode()).isEqualTo(400);
    assertThat(put(writer, "leases/push/x", lease("push", now, now.plusSeconds(60)), true).statusCode())
        .isEqualTo(400);
    assertThat(put(writer, push, lease("push", now, now.plus(Duration.ofMinutes(10))), true).statusCode())
        .isEqualTo(201);
    // renewal: a replace that keeps the start
    assertThat(put(writer, push, lease("push", now, now.plus(Duration.ofMinutes(11))), false).statusCode())
        .isEqualTo(204);
    HttpResponse<byte[]> moved = put(writer, push, lease("push", now.minusSeconds(60), now.plusSeconds(600)), false);
    assertThat(moved.statusCode()).isEqualTo(400);
    assertThat(text(moved)).contains("keeps the lease's start");

    String ids = "leases/push/" + id + "/ids-00000001";
    assertThat(put(writer, ids, utf8("junk\n"), true).statusCode()).isEqualTo(400);
    assertThat(put(writer, ids, utf8(ChunkId.of(utf8("x")) + "\n"), true).statusCode()).isEqualTo(201);
    assertThat(put(writer, ids, utf8(ChunkId.of(utf8("y")) + "\n"), false).statusCode()).isEqualTo(403);
    assertThat(delete(writer, ids).statusCode()).isEqualTo(204);
    assertThat(delete(writer, push).statusCode()).isEqualTo(204);
    assertThat(records.list("leases/push/" + id)).isEmpty();
    assertThat(Optional.of(records.list("leases/"))).hasValueSatisfying(l -> assertThat(l).isEmpty());
  }

  @Test
  void aPushLeaseIsTheTokenThatTookItsAlone() throws Exception {
    // another writer ending a push's lease (or deleting its declarations) lets gc remove what that push uploaded
    Instant now = Instant.now();
    String id = leaseId();
    String push = "leases/push/" + id + "/lease";
    String holder = "leases/push/" + id + "/holder";
    String ids = "leases/push/" + id + "/ids-00000001";
    assertThat(put(writer, holder, utf8("rival"), true).statusCode()).as("holder records are the server's")
        .isEqualTo(403);
    assertThat(put(writer, push, lease("push", now, now.plus(Duration.ofMinutes(10))), true).statusCode())
        .isEqualTo(201);
    assertThat(records.read(holder)).hasValueSatisfying(v -> assertThat(new String(v, StandardCharsets.UTF_8))
        .isEqualTo("other"));
    assertThat(put(writer, ids, utf8(ChunkId.of(utf8("x")) + "\n"), true).statusCode()).isEqualTo(201);
    byte[] leaseBefore = records.read(push).orElseThrow();

    HttpResponse<byte[]> end = delete(rival, push);
    assertThat(end.statusCode()).isEqualTo(403);
    assertThat(text(end)).contains(push.substring(0, push.length() - "/lease".length())).contains("'other'");
    assertThat(delete(rival, ids).statusCode()).isEqualTo(403);
    assertThat(delete(rival, holder).statusCode()).isEqualTo(403);
    assertThat(put(rival, push, lease("push", now, now.plus(Duration.ofMinutes(11))), false).statusCode())
        .isEqualTo(403);
    assertThat(put(rival, "leases/push/" + id + "/ids-00000002", utf8(ChunkId.of(utf8("y")) + "\n"), true)
        .statusCode()).isEqualTo(403);
    assertThat(put(rival, push, lease("push", now, now.plus(Duration.ofMinutes(10))), true).statusCode())
        .as("the lease exists").isEqualTo(403);
    assertThat(records.list("leases/push/" + id + "/")).containsExactly(holder, ids, push);
    assertThat(records.read(push)).hasValueSatisfying(v -> assertThat(v).isEqualTo(leaseBefore));

    // the holder ends it as core does: every other record, then the lease (which takes the holder record along)
    assertThat(put(writer, push, lease("push", now, now.plus(Duration.ofMinutes(11))), false).statusCode())
        .isEqualTo(204);
    assertThat(delete(writer, ids).statusCode()).isEqualTo(204);
    assertThat(delete(writer, holder).statusCode()).isEqualTo(204);
    assertThat(records.read(holder)).as("kept until the lease goes").isPresent();
    assertThat(delete(writer, push).statusCode()).isEqualTo(204);
    assertThat(records.list("leases/push/" + id + "/")).isEmpty();

    // a lease no writer's token took through this server (an admin's, a local client's) is no writer's to change
    String other = "leases/push/" + leaseId() + "/lease";
    assertThat(put(admin, other, lease("push", now, now.plus(Duration.ofMinutes(10))), true).statusCode())
        .isEqualTo(201);
    assertThat(records.list(other.substring(0, other.length() - "lease".length()))).containsExactly(other);
    HttpResponse<byte[]> noHolder = delete(writer, other);
    assertThat(noHolder.statusCode()).isEqualTo(403);
    assertThat(text(noHolder)).contains("no holder record");
    assertThat(delete(admin, other).statusCode()).isEqualTo(204);
  }

  /**
   * Another writer's push lease records are not readable: they name the model pushed (one the reader may not read),
   * the user and machine, and the ids of the chunks the push uploads, which any token that may read some model can
   * then read. Any writer read them; a push reads only gc leases and its own.
   */
  @Test
  void anotherWritersPushLeaseRecordsAreNotReadable() throws Exception {
    String id = leaseId();
    String push = "leases/push/" + id + "/lease";
    String ids = "leases/push/" + id + "/ids-00000001";
    assertThat(put(writer, push, pushLease("push other/secret:prod"), true).statusCode()).isEqualTo(201);
    assertThat(put(writer, ids, utf8(ChunkId.of(utf8("secret")) + "\n"), true).statusCode()).isEqualTo(201);
    for (String key : List.of(push, ids, "leases/push/" + id + "/holder")) {
      HttpResponse<byte[]> r = fx.send(get(base, "/v1/store/records/" + key)
          .header("Authorization", "Bearer " + rival));
      assertThat(r.statusCode()).as(key).isEqualTo(403);
      assertThat(text(r)).as(key).contains("'other'").doesNotContain("secret");
      assertThat(fx.send(get(base, "/v1/store/records/" + key).header("Authorization", "Bearer " + writer))
          .statusCode()).as(key).isEqualTo(200);
      assertThat(fx.send(get(base, "/v1/store/records/" + key).header("Authorization", "Bearer " + admin))
          .statusCode()).as(key).isEqualTo(200);
    }
    HttpResponse<byte[]> all = fx.send(get(base, "/v1/store/records/read").header("Authorization", "Bearer " + rival)
        .POST(HttpRequest.BodyPublishers.ofString("{\"keys\": [\"" + push + "\", \"" + ids + "\"]}")));
    assertThat(all.statusCode()).isEqualTo(403);
    assertThat(text(all)).doesNotContain("secret");
    // the keys stay listable (a lease's id says nothing), and gc leases readable: a push waits for a live gc
    assertThat(text(fx.send(get(base, "/v1/store/records?prefix=leases/").header("Authorization", "Bearer " + rival))))
        .contains(push);
    assertThat(delete(writer, ids).statusCode()).isEqualTo(204);
    assertThat(delete(writer, push).statusCode()).isEqualTo(204);
  }

  static byte[] pushLease(String what) {
    Instant now = Instant.now();
    return utf8("{\"kind\":\"push\",\"owner\":\"t\",\"host\":\"h\",\"pid\":1,\"pidStart\":1,\"what\":\"" + what
        + "\",\"started\":\"" + now + "\",\"expires\":\"" + now.plusSeconds(600) + "\"}");
  }

  @Test
  void aPushToAModelTheTokenMayNotWriteIsRefusedAtItsLeaseBeforeAnyUpload() throws Exception {
    for (String what : List.of("push org/newmodel", "push org/newmodel:prod", "copy org/newmodel:prod from file:/x")) {
      HttpResponse<byte[]> r = put(writer, "leases/push/" + leaseId() + "/lease", pushLease(what), true);
      assertThat(r.statusCode()).as(what).isEqualTo(403);
      assertThat(text(r)).as(what).contains("write access to model 'org/newmodel'");
    }
    for (String what : List.of("push other/m:prod", "small-chunk index backfill")) {
      String key = "leases/push/" + leaseId() + "/lease";
      assertThat(put(writer, key, pushLease(what), true).statusCode()).as(what).isEqualTo(201);
      assertThat(delete(writer, key).statusCode()).isEqualTo(204);
    }
  }

  @Test
  void aTokenAsksWhatItMayDoWithAModel() throws Exception {
    HttpResponse<byte[]> r = fx.send(get(base, "/v1/store/access?model=org/newmodel")
        .header("Authorization", "Bearer " + writer));
    assertThat(text(r)).isEqualTo("{\"who\":\"other\",\"admin\":false,\"model\":\"org/newmodel\",\"read\":false,"
        + "\"write\":false}");
    assertThat(text(fx.send(get(base, "/v1/store/access?model=other/x").header("Authorization", "Bearer " + writer))))
        .contains("\"read\":true,\"write\":true");
    assertThat(fx.send(get(base, "/v1/store/access?model=..").header("Authorization", "Bearer " + writer))
        .statusCode()).isEqualTo(400);
    assertThat(fx.send(get(base, "/v1/store/access?model=other/x")).statusCode()).isEqualTo(401);
  }
}
