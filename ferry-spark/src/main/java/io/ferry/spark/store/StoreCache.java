package io.ferry.spark.store;

import io.ferry.Ferry;
import io.ferry.read.ModelReader;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One open store per {@link StoreSpec} per JVM (driver or executor), opened on first use and closed when the JVM exits.
 * Spark gives a data source no executor-wide object to hang resources on, and opening a store per task would cost a
 * NameNode or S3 round trip and a thread pool each time, so this is the one JVM-wide registry of the Spark module: the
 * repositories it holds are thread-safe and shared by the tasks running in the JVM.
 */
public final class StoreCache {
  private static final Map<StoreSpec, Repository> OPEN = new ConcurrentHashMap<>();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(StoreCache::closeAll, "ferry-spark-stores"));
  }

  /** Readers of recently read versions (version, snapshot and pack indexes loaded once per JVM, not per task). */
  private static final Map<ReaderKey, ModelReader> READERS = java.util.Collections.synchronizedMap(
      new java.util.LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<ReaderKey, ModelReader> eldest) {
          return size() > 32;
        }
      });

  private record ReaderKey(StoreSpec spec, String versionId, boolean sha256) {}

  private StoreCache() {}

  /**
   * A reader of version {@code versionId} (hex) of {@code model} in the store of {@code spec}; with {@code sha256}
   * every chunk read also has its SHA-256 checked (the frame CRC is always checked).
   */
  public static ModelReader reader(StoreSpec spec, String model, String versionId, boolean sha256)
      throws IOException {
    ReaderKey key = new ReaderKey(spec, versionId, sha256);
    ModelReader r = READERS.get(key);
    if (r == null) {
      r = repository(spec).open(model + "@" + versionId).verifying(sha256);
      READERS.put(key, r);
    }
    return r;
  }

  /**
   * The open store of {@code spec}, opened now if this JVM has none yet.
   *
   * @throws UncheckedIOException if the store cannot be opened (names the store)
   */
  public static Repository repository(StoreSpec spec) {
    return repository(spec, false);
  }

  /**
   * As {@link #repository(StoreSpec)}; with {@code create}, a store that does not exist yet is created (the target
   * of a copy, as {@code ferry copy} creates it).
   */
  public static Repository repository(StoreSpec spec, boolean create) {
    return OPEN.computeIfAbsent(spec, s -> {
      try {
        return Ferry.open(s.uri(), new StoreOptions(create, s.settings()), RepositoryOptions.defaults());
      } catch (IOException e) {
        throw new UncheckedIOException("cannot open store " + s + ": " + e.getMessage(), e);
      }
    });
  }

  /** Closes the store of {@code spec} if this JVM has it open, with its readers (a store about to be removed). */
  public static void close(StoreSpec spec) {
    READERS.keySet().removeIf(k -> k.spec().equals(spec));
    Repository r = OPEN.remove(spec);
    if (r != null) {
      try {
        r.close();
      } catch (IOException | RuntimeException ignored) {
        // the store is being removed; nothing is left to release it
      }
    }
  }

  /** Closes every store this JVM opened (at exit; tests that must reopen a store call it too). */
  public static void closeAll() {
    READERS.clear();
    for (Map.Entry<StoreSpec, Repository> e : OPEN.entrySet()) {
      if (OPEN.remove(e.getKey(), e.getValue())) {
        try {
          e.getValue().close();
        } catch (IOException | RuntimeException ignored) {
          // the JVM is going away; nothing is left to release it
        }
      }
    }
  }
}
