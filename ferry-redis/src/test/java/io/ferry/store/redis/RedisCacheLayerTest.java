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
import java.nio.file.Path;
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
        "redis-cluster://a:1,b:2", "redis://[::1]:6379", "rediss://user:pw@h:6380?timeout=1s"}) {
      assertThat(CacheSettings.fromSettings(Map.of("redis.uri", good)).uri()).as(good).isEqualTo(good);
    }
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis://x:1", "redis.timeout", "soon")))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("redis.timeout").hasMessageContaining("soon");
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis://x:1", "redis.part-size",
        "1000000"))).isInstanceOf(InvalidInputException.class).hasMessageContaining("power of two");
    // 4 GiB and 256 KiB: taken as 256 KiB (the count was cut to an int)
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis://x:1", "redis.part-size",
        "4194560k"))).isInstanceOf(InvalidInputException.class).hasMessageContaining("redis.part-size")
        .hasMessageContaining("out of range").hasMessageContaining("'4194560k'");
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis://x:1", "redis.write-behind-bytes",
        "99999999999999999999"))).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("redis.write-behind-bytes");
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis-cluster://a:1,b")).clusterSeeds())
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
}
