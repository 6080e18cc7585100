package io.ferry.store.redis;

import io.ferry.id.ChunkId;
import io.ferry.store.ChunkStore;
import io.ferry.store.StoredObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/** A store wrapper that counts the reads (and bytes read) that reach the store, to tell hits from misses. */
final class CountingStore implements ChunkStore {
  final ChunkStore delegate;
  final AtomicLong reads = new AtomicLong();
  final AtomicLong bytes = new AtomicLong();
  /** When set, each read counts it down and waits (at most 10 s) until it is open: reads held until N are inside. */
  volatile java.util.concurrent.CountDownLatch together;

  CountingStore(ChunkStore delegate) {
    this.delegate = delegate;
  }

  void reset() {
    reads.set(0);
    bytes.set(0);
  }

  @Override
  public String describe() {
    return delegate.describe();
  }

  @Override
  public boolean contains(ChunkId id) throws IOException {
    return delegate.contains(id);
  }

  @Override
  public boolean put(ChunkId id, ByteBuffer... parts) throws IOException {
    return delegate.put(id, parts);
  }

  @Override
  public long size(ChunkId id) throws IOException {
    return delegate.size(id);
  }

  @Override
  public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
    reads.incrementAndGet();
    bytes.addAndGet(length);
    holdUntilTogether();
    return delegate.read(id, offset, length);
  }

  @Override
  public void readInto(ChunkId id, long offset, ByteBuffer dst) throws IOException {
    reads.incrementAndGet();
    bytes.addAndGet(dst.remaining());
    holdUntilTogether();
    delegate.readInto(id, offset, dst);
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

  @Override
  public void list(Consumer<StoredObject> sink) throws IOException {
    delegate.list(sink);
  }

  @Override
  public void delete(ChunkId id) throws IOException {
    delegate.delete(id);
  }

  @Override
  public void close() throws IOException {
    delegate.close();
  }
}
