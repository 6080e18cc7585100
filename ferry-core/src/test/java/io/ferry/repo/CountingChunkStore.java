package io.ferry.repo;

import io.ferry.id.ChunkId;
import io.ferry.store.ChunkStore;
import io.ferry.store.ForwardingChunkStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/** A chunk store that counts the objects read whole or in part, and the lookups by prefix. */
final class CountingChunkStore extends ForwardingChunkStore {
  final AtomicInteger reads = new AtomicInteger();
  final AtomicInteger listedIds = new AtomicInteger();

  CountingChunkStore(ChunkStore inner) {
    super(inner);
  }

  @Override
  public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
    reads.incrementAndGet();
    return super.read(id, offset, length);
  }

  @Override
  public void readInto(ChunkId id, long offset, ByteBuffer dst) throws IOException {
    reads.incrementAndGet();
    super.readInto(id, offset, dst);
  }

  @Override
  public boolean listIds(String hexPrefix, Consumer<ChunkId> sink) throws IOException {
    listedIds.incrementAndGet();
    return super.listIds(hexPrefix, sink);
  }
}
