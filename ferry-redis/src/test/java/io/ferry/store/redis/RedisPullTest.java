package io.ferry.store.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.repo.Repository;
import io.ferry.testkit.RedisServer;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Whole pulls of a pushed model through the cache, against a real redis-server that a test may kill midway. */
class RedisPullTest {
  @TempDir Path scratch;

  private static CacheSettings settings(RedisServer r) throws Exception {
    return CacheSettings.fromSettings(Map.of("redis.uri", r.uri(), "redis.part-size", "256k", "redis.timeout", "2s"));
  }

  @Test
  void aWarmPullReadsNothingFromTheStore() throws Exception {
    PullFixture f = new PullFixture(scratch, 7);
    try (RedisServer redis = RedisServer.start(scratch.resolve("redis"))) {
      Warnings w = new Warnings();
      try (Repository repo = f.open(settings(redis), w)) {
        f.pull(repo, scratch.resolve("cold"), null);
      }
      assertThat(w.closed.get().partsWritten()).isPositive();
      assertThat(w.closed.get().writesSkipped()).as("the write queue held every part").isZero();
      try (Repository repo = f.open(settings(redis), w)) {
        f.pull(repo, scratch.resolve("warm"), null);
        assertThat(f.lastStore.reads.get()).as("reads of the store by a warm pull").isZero();
      }
      assertThat(w.closed.get().misses()).isZero();
      assertThat(w.closed.get().hits()).isPositive();
      assertThat(w.warnings).isEmpty();
    }
  }

  @Test
  void aPullCompletesFromTheStoreWhenRedisIsKilledMidway() throws Exception {
    PullFixture f = new PullFixture(scratch, 8);
    try (RedisServer redis = RedisServer.start(scratch.resolve("redis"))) {
      Warnings w = new Warnings();
      try (Repository repo = f.open(settings(redis), w)) {
        f.pull(repo, scratch.resolve("cold"), null);
      }
      try (Repository repo = f.open(settings(redis), w)) {
        f.pull(repo, scratch.resolve("killed"), redis::kill);
        assertThat(f.lastStore.reads.get()).as("the rest came from the store").isPositive();
      }
      assertThat(w.warnings).hasSize(1);
      assertThat(w.closed.get().hits()).as("the start came from Redis").isPositive();
    }
  }
}
