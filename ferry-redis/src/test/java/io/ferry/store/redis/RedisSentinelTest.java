package io.ferry.store.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.repo.Repository;
import io.ferry.testkit.RedisServer;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A cache found through a real Sentinel ({@code redis-sentinel://host:port#master}). */
class RedisSentinelTest {
  @TempDir Path scratch;

  @Test
  void aPullThroughTheMasterASentinelNames() throws Exception {
    PullFixture f = new PullFixture(scratch, 21);
    try (RedisServer master = RedisServer.start(scratch.resolve("master"));
        RedisServer sentinel = RedisServer.startSentinel(scratch.resolve("sentinel"), master.port(), "cache")) {
      CacheSettings s = CacheSettings.fromSettings(Map.of("redis.uri", "redis-sentinel://127.0.0.1:"
          + sentinel.port() + "#cache", "redis.timeout", "2s"));
      Warnings w = new Warnings();
      try (Repository repo = f.open(s, w)) {
        f.pull(repo, scratch.resolve("cold"), null);
      }
      assertThat(Long.parseLong(master.command("DBSIZE"))).isGreaterThan(10);
      try (Repository repo = f.open(s, w)) {
        f.pull(repo, scratch.resolve("warm"), null);
        assertThat(f.lastStore.reads.get()).as("reads of the store by a warm pull").isZero();
      }
      assertThat(w.warnings).isEmpty();
    }
  }
}
