package io.ferry.spark;

import io.ferry.id.ChunkId;
import io.ferry.store.ChunkStore;
import io.ferry.store.ChunkStoreLayer;
import io.ferry.store.StoreOptions;
import io.ferry.store.StoredObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

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
    return new ChunkStore() {
      @Override
      public String describe() {
        return inner.describe();
      }

      @Override
      public boolean contains(ChunkId id) throws IOException {
        return inner.contains(id);
      }

      @Override
      public boolean put(ChunkId id, ByteBuffer... parts) throws IOException {
        return inner.put(id, parts);
      }

      @Override
      public long size(ChunkId id) throws IOException {
        return inner.size(id);
      }

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

      @Override
      public List<String> hosts(ChunkId id, long offset, long length) throws IOException {
        return inner.hosts(id, offset, length);
      }

      @Override
      public void list(Consumer<StoredObject> sink) throws IOException {
        inner.list(sink);
      }

      @Override
      public void delete(ChunkId id) throws IOException {
        inner.delete(id);
      }

      @Override
      public void close() throws IOException {
        inner.close();
      }
    };
  }
}
