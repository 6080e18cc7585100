package io.ferry.testkit;

import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.RecordStore;
import io.ferry.store.RefStore;

/** Backends that share another backend's stores, for tests that put a wrapper in front of one of them. */
public final class SharedBackend {
  private SharedBackend() {}

  /**
   * A backend with {@code b}'s refs, records and URI and the given chunk store (usually a wrapper of {@code
   * b.chunks()}). Closing it closes nothing: the test closes {@code b} once.
   */
  public static Backend withChunks(Backend b, ChunkStore chunks) {
    return with(b, chunks, b.records());
  }

  /** A backend with {@code b}'s refs and URI and the given chunk and record stores (wrappers of {@code b}'s). */
  public static Backend with(Backend b, ChunkStore chunks, RecordStore records) {
    return with(b, chunks, b.refs(), records);
  }

  /** A backend with {@code b}'s chunks, records and URI and the given ref store (usually a wrapper of {@code b}'s). */
  public static Backend withRefs(Backend b, RefStore refs) {
    return with(b, b.chunks(), refs, b.records());
  }

  private static Backend with(Backend b, ChunkStore chunks, RefStore refs, RecordStore records) {
    return new Backend() {
      @Override
      public ChunkStore chunks() {
        return chunks;
      }

      @Override
      public RefStore refs() {
        return refs;
      }

      @Override
      public RecordStore records() {
        return records;
      }

      @Override
      public String uri() {
        return b.uri();
      }

      @Override
      public void close() {}
    };
  }
}
