package io.ferry.store.redis;

import io.ferry.store.Backend;
import io.ferry.store.StoreLayers;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import io.ferry.testkit.ChunkStoreContract;
import io.ferry.testkit.RedisServer;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * The {@link ChunkStoreContract} over the cache layer over a local store, against a real redis-server. Parts of 64
 * KiB, so that the contract's multi-mebibyte and range reads cross many parts.
 */
class RedisChunkCacheContractTest extends ChunkStoreContract {
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
  protected Backend newBackend(Path scratch) throws Exception {
    LocalBackend local = LocalBackend.open(scratch.resolve("store"), StoreOptions.createIfMissing());
    CacheSettings s = CacheSettings.fromSettings(java.util.Map.of("redis.uri", redis.uri(), "redis.part-size",
        "64k", "redis.timeout", "2s"));
    return StoreLayers.layered(local, RedisChunkCache.open(local.chunks(), s, new Warnings()));
  }

  @Override
  protected boolean listsIdsByPrefix() {
    return true;
  }
}
