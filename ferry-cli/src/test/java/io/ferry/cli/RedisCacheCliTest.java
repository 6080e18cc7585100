package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.format.DType;
import io.ferry.testkit.FreePort;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import io.ferry.testkit.RedisServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --cache}, {@code ferry warm} and {@code ferry cache stats} against a real redis-server. */
class RedisCacheCliTest {
  @TempDir Path tmp;

  private Path model(long seed) throws Exception {
    List<Tensor> ts = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      ts.add(new Tensor("w" + i, DType.F32, new long[] {256, 1024}, seed + i));
    }
    ts.add(new Tensor("small", DType.F32, new long[] {64}, seed + 99));
    Path src = tmp.resolve("model.safetensors");
    ModelGenerator.writeSafetensors(src, ts, Map.of());
    return src;
  }

  @Test
  void warmThenPullFromTheCacheAndReadItsStats() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path src = model(5);
    cli.push(src, "m:prod");
    try (RedisServer redis = RedisServer.start(tmp.resolve("redis"))) {
      JsonNode w = cli.run("warm", "m:prod", "--cache", redis.uri(), "--json").ok().json();
      assertThat(w.get("ok").asBoolean()).isTrue();
      assertThat(w.get("chunkCount").asLong()).isGreaterThanOrEqualTo(7);
      assertThat(w.get("writtenPartCount").asLong()).isPositive();
      assertThat(w.get("skippedWriteCount").asLong()).isZero();

      Cli.Result again = cli.run("warm", "m:prod", "--cache", redis.uri()).ok();
      assertThat(again.out()).contains("warmed m:prod").contains("cache: 0 parts written").containsPattern(
          "; [1-9][0-9]* part reads answered by the cache");

      Cli.Result pull = Cli.raw("--cache", redis.uri(), "pull", "m:prod", tmp.resolve("out").toString(), "--store",
          cli.store.toString()).ok();
      assertThat(pull.err()).doesNotContain("warning");
      assertThat(Files.mismatch(src, tmp.resolve("out/model.safetensors"))).isEqualTo(-1L);

      JsonNode s = cli.run("cache", "stats", "--cache", redis.uri(), "--json").ok().json();
      assertThat(s.get("maxMemoryBytes").asLong()).isEqualTo(256L << 20);
      assertThat(s.get("usedMemoryBytes").asLong()).isPositive();
      JsonNode store = s.get("stores").get(0);
      assertThat(store.get("store").asText()).contains(cli.store.getFileName().toString());
      assertThat(store.get("hitCount").asLong()).isPositive();
      assertThat(store.get("partCount").asLong()).isEqualTo(w.get("writtenPartCount").asLong());

      assertThat(cli.run("cache", "stats", "--cache", redis.uri()).ok().out()).contains("hits").contains("allkeys-lru");
    }
  }

  @Test
  void anUnreachableCacheWarnsOnceAndThePullSucceeds() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path src = model(6);
    cli.push(src, "m");
    // nothing listens there, and no other process is handed it meanwhile (it lies below the ephemeral range)
    int port = FreePort.pick();
    Cli.Result r = cli.run("pull", "m", tmp.resolve("out").toString(), "--cache", "redis://127.0.0.1:" + port).ok();
    assertThat(r.err().lines().filter(l -> l.contains("warning")).count()).as(r.err()).isEqualTo(1);
    assertThat(r.err()).contains("127.0.0.1:" + port).contains("reading from");
    assertThat(Files.mismatch(src, tmp.resolve("out/model.safetensors"))).isEqualTo(-1L);

    Cli.Result w = cli.run("warm", "m", "--cache", "redis://127.0.0.1:" + port);
    assertThat(w.code()).as("a warm that cached nothing fails").isEqualTo(1);
    // at once, without reading the version from the store for nothing
    assertThat(w.err()).contains("nothing was warmed: the cache cannot be used");
    assertThat(w.out()).doesNotContain("warmed m");
    assertThat(cli.run("cache", "stats", "--cache", "redis://127.0.0.1:" + port).code()).isEqualTo(1);

    // with --json, stderr holds only JSON lines: the warning as an object of kind "warning", then the error
    Cli.Result jp = cli.run("pull", "m", tmp.resolve("out2").toString(), "--json", "--cache",
        "redis://127.0.0.1:" + port).ok();
    List<String> lines = jp.err().lines().toList();
    assertThat(lines).as(jp.err()).hasSize(1);
    JsonNode warning = new ObjectMapper().readTree(lines.get(0));
    assertThat(warning.get("kind").asText()).isEqualTo("warning");
    assertThat(warning.get("message").asText()).contains("127.0.0.1:" + port).contains("cannot be reached");
    Cli.Result jw = cli.run("warm", "m", "--json", "--cache", "redis://127.0.0.1:" + port);
    assertThat(jw.code()).isEqualTo(1);
    List<String> warmLines = jw.err().lines().toList();
    assertThat(warmLines).as(jw.err()).hasSize(2);
    assertThat(new ObjectMapper().readTree(warmLines.get(0)).get("kind").asText()).isEqualTo("warning");
    JsonNode error = new ObjectMapper().readTree(warmLines.get(1));
    assertThat(error.get("code").asInt()).isEqualTo(1);
    assertThat(error.get("message").asText()).startsWith("nothing was warmed: the cache cannot be used");
  }

  @Test
  void warmWithoutACacheIsABadInput() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    cli.push(model(7), "m");
    Cli.Result r = cli.run("warm", "m");
    if (System.getenv("FERRY_CACHE") == null) {
      r.exits(1).oneLineError("no cache to warm", "--cache");
    }
    assertThat(cli.run("pull", "m", tmp.resolve("out").toString(), "--cache", "memcached://x:1").code())
        .isEqualTo(1);
    assertThat(Cli.raw("cache").code()).isEqualTo(FerryCli.USAGE);
  }

  /**
   * A cache whose CONFIG is disabled (as managed services do) is warmed after one notice that its eviction cannot be
   * checked: the warm used to take that notice for a cache that cannot be used, and warmed nothing (exit 1).
   */
  @Test
  void aCacheWithoutConfigIsWarmedAfterANotice() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path src = tmp.resolve("one.safetensors");
    ModelGenerator.writeSafetensors(src, List.of(new Tensor("w", DType.F32, new long[] {256, 1024}, 13)), Map.of());
    cli.push(src, "m");
    try (RedisServer redis = RedisServer.start(tmp.resolve("managed-redis"), "--rename-command", "CONFIG", "")) {
      Cli.Result w = cli.run("warm", "m", "--cache", redis.uri()).ok();
      assertThat(w.err()).contains("cannot check maxmemory").doesNotContain("nothing was warmed");
      assertThat(w.out()).contains("warmed m").containsPattern("cache: [1-9][0-9]* parts written");
      assertThat(Long.parseLong(redis.command("DBSIZE"))).isPositive();
    }
  }

  /**
   * A user who may not DEL or EXISTS (which only fill locks need) warms the cache after one notice naming them: a
   * warning at open is a cache that cannot be used, and the warm would have ended with "nothing was warmed".
   */
  @Test
  void aUserWithoutTheFillLocksCommandsWarmsAfterANotice() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path src = tmp.resolve("one.safetensors");
    ModelGenerator.writeSafetensors(src, List.of(new Tensor("w", DType.F32, new long[] {256, 1024}, 17)), Map.of());
    cli.push(src, "m");
    try (RedisServer redis = RedisServer.start(tmp.resolve("acl-redis"))) {
      redis.command("ACL", "SETUSER", "nodel", "on", ">pw", "~*", "+@all", "-del", "-exists");
      Cli.Result w = cli.run("warm", "m", "--cache", "redis://nodel:pw@127.0.0.1:" + redis.port()).ok();
      assertThat(w.err()).contains("may not run DEL or EXISTS").doesNotContain("nothing was warmed");
      assertThat(w.out()).contains("warmed m").containsPattern("cache: [1-9][0-9]* parts written");
    }
  }

  /**
   * A warm that wrote more than the cache's maxmemory says that the version cannot be held, how much of it at least
   * is not in the cache, and exits 1: it used to say only that keys were evicted, exit 0, as if the version were
   * warm.
   */
  @Test
  void aWarmOfAVersionLargerThanTheCacheSaysItDoesNotFitAndFails() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    cli.push(model(11), "m");
    try (RedisServer redis = RedisServer.start(tmp.resolve("small-redis"), "--maxmemory", "4mb")) {
      Cli.Result w = cli.run("warm", "m", "--cache", redis.uri());
      assertThat(w.code()).as(w.err()).isEqualTo(1);
      assertThat(w.err()).containsPattern("warning: cache redis://127\\.0\\.0\\.1:[0-9]+ cannot hold this version: "
          + "the warm wrote [0-9.]+ MiB, more than its maxmemory of 4\\.0 MiB, so at least [0-9.]+ [KM]iB of it is"
          + " not in the cache").contains("the cache did not take every part");
      assertThat(w.err()).doesNotContain("may be gone");
    }
    // into an empty cache again: a second warm into the same cache finds some parts there and may write less than
    // its maxmemory, which says nothing certain (a CI run saw it end "ok")
    try (RedisServer redis = RedisServer.start(tmp.resolve("small-redis-2"), "--maxmemory", "4mb")) {
      JsonNode j = cli.run("warm", "m", "--cache", redis.uri(), "--json").json();
      assertThat(j.get("ok").asBoolean()).isFalse();
      assertThat(j.get("warnings").get(0).asText()).contains("cannot hold this version");
    }
  }

  /**
   * A warm of a version that fits, into a cache whose other keys LRU evicts to make room, says that the cache evicted
   * keys meanwhile; it is not a failure (the keys evicted may all be others').
   */
  @Test
  void aWarmIntoAFullSharedCacheSaysItEvicted() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path src = tmp.resolve("one.safetensors");
    ModelGenerator.writeSafetensors(src, List.of(new Tensor("w", DType.F32, new long[] {256, 1024}, 12)), Map.of());
    cli.push(src, "m");
    try (RedisServer redis = RedisServer.start(tmp.resolve("full-redis"), "--maxmemory", "8mb")) {
      byte[] filler = new byte[100_000];
      for (int i = 0; i < 75; i++) {
        redis.command("SET".getBytes(java.nio.charset.StandardCharsets.US_ASCII),
            ("other:" + i).getBytes(java.nio.charset.StandardCharsets.US_ASCII), filler);
      }
      Cli.Result w = cli.run("warm", "m", "--cache", redis.uri()).ok();
      assertThat(w.err()).containsPattern("warning: cache redis://127\\.0\\.0\\.1:[0-9]+ evicted [1-9][0-9]* keys "
          + "while this warm wrote to it \\(maxmemory 8\\.0 MiB, ").contains("pulls read them from the store");
      assertThat(w.out()).contains("warmed m");
    }
  }

  /**
   * A warm whose writes the cache refuses midway (a server that never evicts, filled with redis.allow-unbounded,
   * answers OOM) fails, and its summary says how many reads went past the cache: it said "0 not written", as if
   * nothing had been left out. A user whose ACL refuses writes is told at once, and nothing is read for nothing.
   */
  @Test
  void aWarmWhoseWritesAreRefusedSaysWhatWentPastTheCache() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    cli.push(model(14), "m");
    try (RedisServer redis = RedisServer.start(tmp.resolve("oom-redis"), "--maxmemory", "2mb", "--maxmemory-policy",
        "noeviction")) {
      Cli.Result w = cli.run("warm", "m", "--cache", redis.uri(), "--store-option", "redis.allow-unbounded=true");
      assertThat(w.code()).as(w.err()).isEqualTo(1);
      assertThat(w.err()).contains("OOM").contains("the cache did not take every part");
      assertThat(w.out()).startsWith("did not fully warm m (version ").doesNotContain("warmed");
      // the server refuses writes (OOM) and still answers reads: the reads go on from it, and the parts the warm
      // could not write are counted as not written (they were not counted anywhere: "0 not written")
      assertThat(w.out()).containsPattern("cache: [0-9]+ parts written \\([0-9.]+ [KM]?i?B\\), [1-9][0-9]* not"
          + " written; [0-9]+ part reads answered by the cache\n");
      JsonNode j = cli.run("warm", "m", "--cache", redis.uri(), "--store-option", "redis.allow-unbounded=true",
          "--json").json();
      assertThat(j.get("ok").asBoolean()).isFalse();
      assertThat(j.get("skippedWriteCount").asLong()).isPositive();

      redis.command("ACL", "SETUSER", "reader", "on", ">pw", "~*", "+@all", "-set");
      Cli.Result r = cli.run("warm", "m", "--cache", "redis://reader:pw@127.0.0.1:" + redis.port(),
          "--store-option", "redis.allow-unbounded=true");
      assertThat(r.code()).as(r.err()).isEqualTo(1);
      assertThat(r.err()).contains("refuses this user's writes").contains("nothing was warmed");
    }
  }
}
