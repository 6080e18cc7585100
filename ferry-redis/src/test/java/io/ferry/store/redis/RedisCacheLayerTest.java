package io.ferry.store.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RedisServer;
import io.ferry.transfer.PullOptions;
import io.lettuce.core.RedisCredentials;
import io.lettuce.core.RedisURI;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code redis} store layer, found by ServiceLoader and configured by the {@code redis.*} settings. */
class RedisCacheLayerTest {
  @TempDir Path scratch;

  @Test
  void theLayerIsStackedBySettingsAndFillsTheCache() throws Exception {
    PullFixture f = new PullFixture(scratch, 3);
    try (RedisServer redis = RedisServer.start(scratch.resolve("redis"))) {
      StoreOptions o = StoreOptions.existing().withSettings(Map.of("layers", "redis", "redis.uri", redis.uri(),
          "redis.timeout", "2s"));
      try (Backend b = Ferry.openBackend(f.storeDir.toString(), o)) {
        assertThat(b.chunks()).isInstanceOf(RedisChunkCache.class);
      }
      try (Repository repo = Ferry.open(f.storeDir.toString(), o, RepositoryOptions.defaults())) {
        repo.pull("m:prod", scratch.resolve("out"), PullOptions.defaults());
      }
      f.assertSameAsSource(scratch.resolve("out"));
      assertThat(Long.parseLong(redis.command("DBSIZE"))).isGreaterThan(10);
    }
  }

  @Test
  void settingsAreCheckedAndNamed() throws Exception {
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of())).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("redis.uri");
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "http://x:1")))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("scheme");
    for (String bad : new String[] {"redis://127.0.0.1:abc", "redis://h:0", "redis://h:65536",
        "redis-cluster://a:1,b:x", "redis://:secret@h:99999/0"}) {
      assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", bad))).as(bad)
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("is not a number from 1 to 65535")
          .hasMessageNotContaining("secret");
    }
    for (String good : new String[] {"redis://h", "redis://h:6379/0", "redis://:pw@h:6379",
        "redis-cluster://a:1,b:2", "redis://[::1]:6379", "rediss://user:pw@h:6380?verifyPeer=false",
        "redis://h:6379/?", "redis://[::1]/1"}) {
      assertThat(CacheSettings.fromSettings(Map.of("redis.uri", good)).uri()).as(good).isEqualTo(good);
    }
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis://x:1", "redis.timeout", "soon")))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("redis.timeout").hasMessageContaining("soon");
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis://x:1", "redis.part-size",
        "1000000"))).isInstanceOf(InvalidInputException.class).hasMessageContaining("power of two");
    // in the settings' own words: the messages gave Java's PT0S and PT-1S, and part sizes in bytes only
    String[][] words = {{"redis.timeout", "0", "redis.timeout must be positive, got 0s"},
        {"redis.retry-after", "500ms", null}, {"redis.connect-timeout", "-250ms", "must be positive, got -250ms"},
        {"redis.ttl", "-1s", "redis.ttl must not be negative, got -1s"},
        {"redis.ttl", "106751991167d", "redis.ttl must be at most 36500000d (100,000 years; leave it unset for no"
            + " expiry), got 106751991167d"},
        {"redis.ttl", "106751991168d", "redis.ttl must be at most 36500000d"},
        {"redis.timeout", "106751991167d", "redis.timeout must be at most 1d, got 106751991167d"},
        {"redis.connect-timeout", "25h", "redis.connect-timeout must be at most 1d, got 90000s"},
        {"redis.retry-after", "1000000d", "redis.retry-after must be at most 1d, got 1000000d"},
        {"redis.fill-wait", "1000000d", "redis.fill-wait must be at most 1d, got 1000000d"},
        {"redis.fill-wait", "-2m", "redis.fill-wait must not be negative, got -120s"},
        {"redis.part-size", "100k", "must be a power of two from 64k to 16m (64k, 128k, ... 1m, ... 16m), got 100k"},
        {"redis.part-size", "32m", "got 32m"},
        {"redis.write-behind-bytes", "512k", "between the part size (1m) and 2147483647 bytes, got 512k"}};
    for (String[] w : words) {
      if (w[2] == null) {
        assertThat(CacheSettings.fromSettings(Map.of("redis.uri", "redis://x:1", w[0], w[1])).retryAfter())
            .isEqualTo(java.time.Duration.ofMillis(500));
        continue;
      }
      assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis://x:1", w[0], w[1])))
          .as(w[0] + "=" + w[1]).isInstanceOf(InvalidInputException.class).hasMessageContaining(w[2])
          .hasMessageNotContaining("PT");
    }
    // 4 GiB and 256 KiB: taken as 256 KiB (the count was cut to an int)
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis://x:1", "redis.part-size",
        "4194560k"))).isInstanceOf(InvalidInputException.class).hasMessageContaining("redis.part-size")
        .hasMessageContaining("out of range").hasMessageContaining("'4194560k'");
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis://x:1", "redis.write-behind-bytes",
        "99999999999999999999"))).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("redis.write-behind-bytes");
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis-cluster://a:1,b")))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("'b'");
    // a misspelt setting was ignored, and the cache ran with the default the user meant to change
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis://x:1", "redis.timout", "2s")))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("unknown cache setting 'redis.timout'")
        .hasMessageContaining("redis.timeout");
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis://x:1", "redis.allow-unbounded",
        "yes"))).isInstanceOf(InvalidInputException.class).hasMessageContaining("redis.allow-unbounded")
        .hasMessageContaining("'yes'");
    assertThat(CacheSettings.fromSettings(Map.of("redis.uri", "redis://x:1", "s3.region", "eu", "redis.writes",
        "wait")).uri()).as("other layers' settings are not the cache's").isEqualTo("redis://x:1");
    CacheSettings s = CacheSettings.fromSettings(Map.of("redis.uri", "rediss-cluster://:pw@a:1,b:2", "redis.ttl", "7d",
        "redis.part-size", "256k"));
    assertThat(s.cluster()).isTrue();
    assertThat(s.describe()).doesNotContain("pw");
    assertThat(s.ttl()).isEqualTo(java.time.Duration.ofDays(7));
    assertThat(s.payloadSize()).isEqualTo((256 << 10) - 128);
  }

  /**
   * The whole cache URI is checked when the settings are read, each defect named, the password never shown: a
   * database that is not a number, an empty cluster node, a Sentinel URI without its master, an unknown option (a
   * {@code timeout} among them, which the cache's own setting replaced) and a password holding a '/' were accepted
   * and left to connecting, where they became a "cannot be reached" warning and the command ran without its cache,
   * or were passed over. A host with an underscore reaches the client as host and port (its own parser took
   * {@code redis_cache:6380} for a host of that name on port 6379).
   */
  @Test
  void aCacheUriIsCheckedWholeBeforeConnecting() throws Exception {
    String[][] bad = {
        {"redis://h:6379/abc", "database 'abc' is not a number"},
        {"redis://h:6379/-1", "database '-1' is not a number"},
        {"redis://h:6379/1/2", "database '1/2' is not a number"},
        {"redis-cluster://a:1,,b:2", "server '' has no host"},
        {"redis-cluster://a:1,b:2/3", "database 3: a Redis Cluster has database 0 only"},
        {"redis-sentinel://s:26379", "no master name"},
        {"redis://h:6379#m", "only a Sentinel URI"},
        {"redis://h:6379?sentinelMasterId=m", "only a Sentinel URI"},
        {"redis-sentinel://s:26379?sentinelMasterId=a#b", "names two masters"},
        {"redis://a:1,b:2", "names 2 servers"},
        {"redis://h:6379?timout=5s", "unknown option 'timout'"},
        {"redis://h:6379?timeout=5s", "unknown option 'timeout'"},
        {"rediss://h:6379?verifyPeer=maybe", "verifyPeer must be"},
        {"redis://h:6379?clientName=my%20app", "clientName 'my app' holds a space"},
        {"redis://h:6379?clientName=a%0Ab", "holds a space, a line break or another character"},
        {"redis://:se/cret@h:6379", "percent-encoded"},
        {"redis://:se%2@h:6379", "two hex digits"},
        {"redis://h::6379", "is not host:port"},
    };
    for (String[] b : bad) {
      assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", b[0]))).as(b[0])
          .isInstanceOf(InvalidInputException.class).hasMessageContaining(b[1]).hasMessageNotContaining("se/cret")
          .hasMessageNotContaining("cret");
    }
    RedisURI u = RedisLink.uris(CacheSettings.fromSettings(Map.of("redis.uri",
        "redis://:p%40ss%2Fw%2Brd@redis_cache:6380/2"))).get(0);
    assertThat(u.getHost()).isEqualTo("redis_cache");
    assertThat(u.getPort()).isEqualTo(6380);
    assertThat(u.getDatabase()).isEqualTo(2);
    assertThat(new String(credentials(u).getPassword())).isEqualTo("p@ss/w+rd");
    assertThat(CacheSettings.of("redis://:p@ss/w@h:1").describe()).isEqualTo("redis://***@h:1");
    assertThat(CacheUri.parse("redis://app:s3cret@h:1").toString()).contains("app").doesNotContain("s3cret");
    List<RedisURI> seeds = RedisLink.uris(CacheSettings.fromSettings(Map.of("redis.uri",
        "rediss-cluster://u:pw@node_1:7000,[::1]:7001")));
    assertThat(seeds).extracting(RedisURI::getHost).containsExactly("node_1", "::1");
    assertThat(seeds).allSatisfy(s -> assertThat(s.isSsl()).isTrue());
    assertThat(credentials(seeds.get(1)).getUsername()).isEqualTo("u");
    RedisURI sentinel = RedisLink.uris(CacheSettings.fromSettings(Map.of("redis.uri",
        "redis-sentinel://s1:26379,s_2#main"))).get(0);
    assertThat(sentinel.getSentinelMasterId()).isEqualTo("main");
    assertThat(sentinel.getSentinels()).extracting(RedisURI::getHost).containsExactly("s1", "s_2");
    assertThat(sentinel.getSentinels().get(1).getPort()).isEqualTo(26379);
    assertThat(RedisLink.uris(CacheSettings.fromSettings(Map.of("redis.uri",
        "redis-sentinel://s1:26379?sentinelMasterId=main"))).get(0).getSentinelMasterId()).isEqualTo("main");
  }

  private static RedisCredentials credentials(RedisURI u) {
    return u.getCredentialsProvider().resolveCredentials().block();
  }
}
