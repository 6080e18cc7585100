package io.ferry.store.redis;

import io.ferry.store.ChunkStore;
import io.ferry.store.ChunkStoreLayer;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code redis} store layer: a {@link RedisChunkCache} over any store, configured by the {@code redis.*} settings
 * ({@link CacheSettings#fromSettings}), e.g. {@code layers=redis} and {@code redis.uri=redis://cache:6379}. Its
 * warnings go to SLF4J at WARN; the CLI's {@code --cache} uses {@link RedisCache#open} instead, to print them.
 */
public final class RedisCacheLayer implements ChunkStoreLayer {
  private static final Logger LOG = LoggerFactory.getLogger(RedisCacheLayer.class);

  /** The layer's name in the {@code layers} setting. */
  public static final String NAME = "redis";

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public ChunkStore wrap(ChunkStore inner, StoreOptions options) throws IOException {
    return RedisChunkCache.open(inner, CacheSettings.fromSettings(options.settings()), new CacheListener() {
      @Override
      public void warning(String message) {
        LOG.warn(message);
      }

      @Override
      public void recovered(String message) {
        LOG.info(message);
      }
    });
  }

  @Override
  public io.ferry.store.SettingNames settingNames() {
    return CacheSettings.names();
  }
}
