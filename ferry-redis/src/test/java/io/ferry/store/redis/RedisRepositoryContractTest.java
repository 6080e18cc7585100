package io.ferry.store.redis;

import io.ferry.store.Backend;
import io.ferry.store.StoreLayers;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import io.ferry.testkit.RedisServer;
import io.ferry.testkit.RepositoryContract;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * The {@link RepositoryContract} over local stores read through the cache: push, tags, verify and above all gc (which
 * deletes through the cache) behave as without it.
 */
class RedisRepositoryContractTest extends RepositoryContract {
  private static RedisServer redis;
  @org.junit.jupiter.api.io.TempDir static Path redisDir;

  @BeforeAll
  static void startRedis() throws Exception {
    redis = RedisServer.start(redisDir);
  }

  @AfterAll
  static void stopRedis() {
    if (redis != null) {
      redis.close();
    }
  }

  @Override
  protected Backend openBackend(String name) throws Exception {
    LocalBackend local = LocalBackend.open(scratch.resolve("stores").resolve(name), StoreOptions.createIfMissing());
    CacheSettings s = CacheSettings.fromSettings(Map.of("redis.uri", redis.uri(), "redis.part-size", "64k",
        "redis.timeout", "2s"));
    return StoreLayers.layered(local, RedisChunkCache.open(local.chunks(), s, new Warnings()));
  }
}
