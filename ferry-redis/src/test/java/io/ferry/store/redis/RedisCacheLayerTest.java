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
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis://x:1", "redis.timeout", "soon")))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("redis.timeout").hasMessageContaining("soon");
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis://x:1", "redis.part-size",
        "1000000"))).isInstanceOf(InvalidInputException.class).hasMessageContaining("power of two");
    assertThatThrownBy(() -> CacheSettings.fromSettings(Map.of("redis.uri", "redis-cluster://a:1,b")).clusterSeeds())
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("'b'");
    CacheSettings s = CacheSettings.fromSettings(Map.of("redis.uri", "rediss-cluster://:pw@a:1,b:2", "redis.ttl", "7d",
        "redis.part-size", "256k"));
    assertThat(s.cluster()).isTrue();
    assertThat(s.describe()).doesNotContain("pw");
    assertThat(s.ttl()).isEqualTo(java.time.Duration.ofDays(7));
    assertThat(s.payloadSize()).isEqualTo((256 << 10) - 128);
  }
}
