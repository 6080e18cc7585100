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
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The {@code counting} store layer of the Spark tests: records which objects were read, under the name of the
 * {@code counting.name} setting, so a test sees what executors (threads of the test JVM on {@code local[2]}) read.
 * With {@code counting.fail-puts=N}, the first N puts of new objects under that name fail, as a task that dies while
 * it writes would; a hook set with {@link #beforeFirstPut} runs once, before the first put of a new object under that
 * name, as something another user does to the store while a job runs.
 */
public final class CountingLayer implements ChunkStoreLayer {
  private static final Map<String, Set<ChunkId>> READS = new ConcurrentHashMap<>();
  private static final Map<String, AtomicInteger> FAILED_PUTS = new ConcurrentHashMap<>();
  private static final Map<String, Callable<?>> BEFORE_FIRST_PUT = new ConcurrentHashMap<>();

  /** The objects read through stores opened with {@code counting.name=name}. */
  public static Set<ChunkId> reads(String name) {
    return READS.computeIfAbsent(name, k -> ConcurrentHashMap.newKeySet());
  }

  /** How many puts failed on purpose under {@code name}. */
  public static int failedPuts(String name) {
    return FAILED_PUTS.computeIfAbsent(name, k -> new AtomicInteger()).get();
  }

  /** Runs {@code hook} once, before the first put of a new object through a store opened with that name. */
  public static void beforeFirstPut(String name, Callable<?> hook) {
    BEFORE_FIRST_PUT.put(name, hook);
  }

  @Override
  public io.ferry.store.SettingNames settingNames() {
    return io.ferry.store.SettingNames.of("counting.name", "counting.fail-puts");
  }

  @Override
  public String name() {
    return "counting";
  }

  @Override
  public ChunkStore wrap(ChunkStore inner, StoreOptions options) {
    String name = options.settings().getOrDefault("counting.name", "default");
    Set<ChunkId> reads = reads(name);
    int failPuts = Integer.parseInt(options.settings().getOrDefault("counting.fail-puts", "0"));
    AtomicInteger failed = FAILED_PUTS.computeIfAbsent(name, k -> new AtomicInteger());
    return new ForwardingChunkStore(inner) {
      @Override
      public boolean put(ChunkId id, ByteBuffer... parts) throws IOException {
        Callable<?> hook = inner.contains(id) ? null : BEFORE_FIRST_PUT.remove(name);
        if (hook != null) {
          try {
            hook.call();
          } catch (Exception e) {
            throw new IOException("hook before the first put under '" + name + "' failed: " + e, e);
          }
        }
        if (!inner.contains(id) && failed.getAndUpdate(n -> n < failPuts ? n + 1 : n) < failPuts) {
          throw new IOException("injected failure of a put of object " + id + " (counting.fail-puts=" + failPuts
              + ")");
        }
        return inner.put(id, parts);
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
    };
  }
}
