package io.ferry.repo;

import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.RecordStore;
import io.ferry.store.RefStore;

/**
 * A backend whose chunk store, ref store or record store a test replaces (with one that races a gc at a chosen
 * moment, say), the rest that of {@code base}. Closing it closes nothing: the test closes {@code base}.
 */
final class SwappedBackend implements Backend {
  private final Backend base;
  private final ChunkStore chunks;
  private final RefStore refs;
  private final RecordStore records;

  private SwappedBackend(Backend base, ChunkStore chunks, RefStore refs, RecordStore records) {
    this.base = base;
    this.chunks = chunks;
    this.refs = refs;
    this.records = records;
  }

  static Backend withRefs(Backend base, RefStore refs) {
    return new SwappedBackend(base, base.chunks(), refs, base.records());
  }

  static Backend withChunks(Backend base, ChunkStore chunks) {
    return new SwappedBackend(base, chunks, base.refs(), base.records());
  }

  static Backend withRecords(Backend base, RecordStore records) {
    return new SwappedBackend(base, base.chunks(), base.refs(), records);
  }

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
    return base.uri();
  }

  @Override
  public void close() {}
}
