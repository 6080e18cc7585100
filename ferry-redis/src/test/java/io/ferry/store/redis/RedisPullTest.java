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

  /**
   * Settings whose timeouts outlast any stall of a loaded machine, for a test that a timeout would fail: a command
   * that takes longer than the cache's timeout turns the cache off for its retry-after, and the reads go to the store.
   */
  private static CacheSettings patientSettings(RedisServer r) throws Exception {
    return CacheSettings.fromSettings(Map.of("redis.uri", r.uri(), "redis.part-size", "256k", "redis.timeout", "60s",
        "redis.connect-timeout", "60s"));
  }

  /**
   * A pull after a pull that filled the cache reads every chunk from Redis. With a timeout of 2 s it once read from the
   * store on a loaded machine (a command timed out and the cache was bypassed): the same happened whenever redis-server
   * was paused for 2.5 s at a time during the test.
   */
  @Test
  void aWarmPullReadsNothingFromTheStore() throws Exception {
    PullFixture f = new PullFixture(scratch, 7);
    try (RedisServer redis = RedisServer.start(scratch.resolve("redis"))) {
      Warnings w = new Warnings();
      try (Repository repo = f.open(patientSettings(redis), w)) {
        f.pull(repo, scratch.resolve("cold"), null);
      }
      assertThat(w.closed.get().partsWritten()).isPositive();
      assertThat(w.closed.get().writesSkipped()).as("the write queue held every part").isZero();
      try (Repository repo = f.open(patientSettings(redis), w)) {
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

  /**
   * A version object whose cached copy is another object's frame, in a well-formed part (whoever may write to Redis
   * can do that): the version is dropped from the cache and read from the store, with a warning naming it. It was an
   * integrity error blaming the store, on every command, until someone deleted the key by hand.
   */
  @Test
  void aForgedVersionInTheCacheIsDroppedAndReadFromTheStore() throws Exception {
    PullFixture f = new PullFixture(scratch, 9);
    try (RedisServer redis = RedisServer.start(scratch.resolve("redis"))) {
      Warnings w = new Warnings();
      io.ferry.id.ChunkId version;
      io.ferry.id.ChunkId snapshot;
      try (Repository repo = f.open(settings(redis), w)) {
        f.pull(repo, scratch.resolve("cold"), null);
        version = repo.resolve("m:prod").id();
        snapshot = repo.resolve("m:prod").version().snapshot();
      }
      // the snapshot's frame, under the version's key, in a part with a right header and CRC
      byte[] frame = java.nio.file.Files.readAllBytes(f.storeDir.resolve("objects").resolve(snapshot.hex()
          .substring(0, 2)).resolve(snapshot.hex().substring(2)));
      assertThat(frame.length).as("one part").isLessThan(256 << 10);
      java.nio.ByteBuffer payload = java.nio.ByteBuffer.wrap(frame);
      java.nio.ByteBuffer head = RedisChunkCache.header(version, (256 << 10) - 128, 0, frame.length, payload);
      byte[] value = new byte[head.remaining() + frame.length];
      head.get(value, 0, head.remaining());
      System.arraycopy(frame, 0, value, value.length - frame.length, frame.length);
      redis.command("SET".getBytes(), f.lastCache.partKey(version, 0).getBytes(), value);

      try (Repository repo = f.open(settings(redis), w)) {
        assertThat(repo.resolve("m:prod").id()).isEqualTo(version);
        f.pull(repo, scratch.resolve("again"), null);
        assertThat(f.lastCache.counters().dropped()).isEqualTo(1);
      }
      assertThat(w.warnings).hasSize(1);
      assertThat(w.warnings.get(0)).contains("object " + version).contains("failed its checks")
          .contains("read from");
      assertThat(redis.getBytes(f.lastCache.partKey(version, 0))).as("the forged part is gone, or the store's copy")
          .satisfiesAnyOf(v -> assertThat(v).isNull(), v -> assertThat(v).isNotEqualTo(value));
    }
  }
}
