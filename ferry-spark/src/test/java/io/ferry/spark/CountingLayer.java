package io.ferry.spark;

import io.ferry.id.ChunkId;
import io.ferry.store.ChunkStore;
import io.ferry.store.ChunkStoreLayer;
import io.ferry.store.ForwardingChunkStore;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The {@code counting} store layer of the Spark tests: records which objects were read, under the name of the
 * {@code counting.name} setting, so a test sees what executors (threads of the test JVM on {@code local[2]}) read.
 */
public final class CountingLayer implements ChunkStoreLayer {
  private static final Map<String, Set<ChunkId>> READS = new ConcurrentHashMap<>();

  /** The objects read through stores opened with {@code counting.name=name}. */
  public static Set<ChunkId> reads(String name) {
    return READS.computeIfAbsent(name, k -> ConcurrentHashMap.newKeySet());
  }

  @Override
  public String name() {
    return "counting";
  }

  @Override
  public ChunkStore wrap(ChunkStore inner, StoreOptions options) {
    Set<ChunkId> reads = reads(options.settings().getOrDefault("counting.name", "default"));
    return new ForwardingChunkStore(inner) {
      @Override
      public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
        reads.add(id);
        return inner.read(id, offset, length);
      }

      @Override
      public void readInto(ChunkId id, long offset, ByteBuffer dst) throws IOException {
        reads.add(id);
        inner.readInto(id, offset, dst);
      }
    };
  }
}
