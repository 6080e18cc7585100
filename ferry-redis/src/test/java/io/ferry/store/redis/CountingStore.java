package io.ferry.store.redis;

import io.ferry.id.ChunkId;
import io.ferry.store.ChunkStore;
import io.ferry.store.ForwardingChunkStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;

/** A store wrapper that counts the reads (and bytes read) that reach the store, to tell hits from misses. */
final class CountingStore extends ForwardingChunkStore {
  final AtomicLong reads = new AtomicLong();
  final AtomicLong bytes = new AtomicLong();
  /** When set, each read counts it down and waits (at most 10 s) until it is open: reads held until N are inside. */
  volatile java.util.concurrent.CountDownLatch together;

  CountingStore(ChunkStore delegate) {
    super(delegate);
  }

  void reset() {
    reads.set(0);
    bytes.set(0);
  }

  @Override
  public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
    reads.incrementAndGet();
    bytes.addAndGet(length);
    holdUntilTogether();
    return inner.read(id, offset, length);
  }

  @Override
  public void readInto(ChunkId id, long offset, ByteBuffer dst) throws IOException {
    reads.incrementAndGet();
    bytes.addAndGet(dst.remaining());
    holdUntilTogether();
    inner.readInto(id, offset, dst);
  }

  private void holdUntilTogether() throws IOException {
    java.util.concurrent.CountDownLatch t = together;
    if (t == null) {
      return;
    }
    t.countDown();
    try {
      if (!t.await(10, java.util.concurrent.TimeUnit.SECONDS)) {
        throw new IOException("the other readers did not reach the store within 10 s");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("waiting for the other readers");
    }
  }
}
