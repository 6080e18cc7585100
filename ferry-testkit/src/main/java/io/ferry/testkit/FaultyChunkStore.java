package io.ferry.testkit;

import io.ferry.id.ChunkId;
import io.ferry.store.ChunkStore;
import io.ferry.store.StoredObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Collection;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * A {@link ChunkStore} wrapper that injects faults, for crash and corruption tests (like Lucene's {@code
 * MockDirectoryWrapper}).
 *
 * <ul>
 *   <li><b>Full disk</b>: once the objects created through this wrapper total more than {@link #failAfterBytes}
 *       bytes, a put that would create a new object throws {@code IOException("No space left on device")} and leaves
 *       nothing behind (the delegate never sees it). Puts of objects that exist still succeed (they write nothing).
 *   <li><b>Corruption</b>: after {@link #corruptReads}, every non-empty read returns a heap copy with one byte
 *       flipped at a random position; the stored object is unchanged.
 *   <li><b>Interleavings</b>: {@link #afterContains} and {@link #afterPut} run a hook (for example a gc in another
 *       repository over the same store) between the delegate's answer and the caller seeing it, which is how the
 *       repository contract puts a gc exactly between a push finding an object and the push publishing.
 * </ul>
 *
 * <p>Thread-safe if the delegate is. Closing the wrapper closes the delegate.
 */
public final class FaultyChunkStore implements ChunkStore {
  private final ChunkStore delegate;
  private final AtomicLong bytesCreated = new AtomicLong();
  private volatile long capacity = Long.MAX_VALUE;
  private volatile Random corruption;
  private final AtomicLong corruptedReads = new AtomicLong();
  private volatile Hook containsHook;
  private volatile Hook putHook;

  /** Runs between an operation on an object and its caller seeing the result. */
  @FunctionalInterface
  public interface Hook {
    /**
     * @param id the object
     * @param result what the delegate answered: whether it holds the object ({@code contains}), whether the call
     *     created it ({@code put})
     */
    void run(ChunkId id, boolean result) throws IOException;
  }

  /** Wraps {@code delegate} with no fault enabled. */
  public FaultyChunkStore(ChunkStore delegate) {
    this.delegate = delegate;
  }

  /** Makes puts fail once more than {@code bytes} bytes of new objects have been put through this wrapper. */
  public FaultyChunkStore failAfterBytes(long bytes) {
    if (bytes < 0) {
      throw new IllegalArgumentException("negative capacity " + bytes);
    }
    this.capacity = bytes;
    return this;
  }

  /** Flips one byte of every non-empty read from now on, at positions drawn from {@code random}. */
  public FaultyChunkStore corruptReads(Random random) {
    this.corruption = java.util.Objects.requireNonNull(random, "random");
    return this;
  }

  /** Stops corrupting reads. */
  public FaultyChunkStore stopCorrupting() {
    this.corruption = null;
    return this;
  }

  /** Runs {@code hook} after every {@link #contains}, before the caller gets the answer; null removes it. */
  public FaultyChunkStore afterContains(Hook hook) {
    this.containsHook = hook;
    return this;
  }

  /** Runs {@code hook} after every {@link #put}, before the caller gets the answer; null removes it. */
  public FaultyChunkStore afterPut(Hook hook) {
    this.putHook = hook;
    return this;
  }

  /** Bytes of the objects created through this wrapper so far. */
  public long bytesCreated() {
    return bytesCreated.get();
  }

  /** How many reads were corrupted so far. */
  public long corruptedReads() {
    return corruptedReads.get();
  }

  @Override
  public String describe() {
    return delegate.describe();
  }

  @Override
  public boolean contains(ChunkId id) throws IOException {
    boolean r = delegate.contains(id);
    Hook h = containsHook;
    if (h != null) {
      h.run(id, r);
    }
    return r;
  }

  @Override
  public List<ChunkId> missing(Collection<ChunkId> ids) throws IOException {
    return delegate.missing(ids);
  }

  /**
   * Puts through to the delegate unless the object is new and would take the total past the capacity.
   *
   * @throws IOException "No space left on device" when the simulated disk is full
   */
  @Override
  public boolean put(ChunkId id, ByteBuffer... parts) throws IOException {
    boolean r = putThrough(id, parts);
    Hook h = putHook;
    if (h != null) {
      h.run(id, r);
    }
    return r;
  }

  private boolean putThrough(ChunkId id, ByteBuffer... parts) throws IOException {
    if (delegate.contains(id)) {
      return delegate.put(id, parts);
    }
    long size = 0;
    for (ByteBuffer p : parts) {
      size += p.remaining();
    }
    long total = bytesCreated.addAndGet(size);
    if (total > capacity) {
      bytesCreated.addAndGet(-size);
      throw new IOException("No space left on device");
    }
    boolean created = false;
    try {
      created = delegate.put(id, parts);
      return created;
    } finally {
      if (!created) {
        bytesCreated.addAndGet(-size);
      }
    }
  }

  @Override
  public long size(ChunkId id) throws IOException {
    return delegate.size(id);
  }

  @Override
  public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
    ByteBuffer b = delegate.read(id, offset, length);
    Random r = corruption;
    if (r == null || !b.hasRemaining()) {
      return b;
    }
    ByteBuffer copy = ByteBuffer.allocate(b.remaining());
    copy.put(b.duplicate()).flip();
    int at;
    synchronized (r) {
      at = r.nextInt(copy.limit());
    }
    copy.put(at, (byte) (copy.get(at) ^ 0x5a));
    corruptedReads.incrementAndGet();
    return copy;
  }

  @Override
  public void list(Consumer<StoredObject> sink) throws IOException {
    delegate.list(sink);
  }

  @Override
  public boolean listIds(String hexPrefix, Consumer<ChunkId> sink) throws IOException {
    return delegate.listIds(hexPrefix, sink);
  }

  @Override
  public void delete(ChunkId id) throws IOException {
    delegate.delete(id);
  }

  @Override
  public long removeAbandoned(java.time.Instant olderThan) throws IOException {
    return delegate.removeAbandoned(olderThan);
  }

  @Override
  public java.util.Optional<String> deletionCaveat() throws IOException {
    return delegate.deletionCaveat();
  }

  @Override
  public java.util.List<String> layoutDamage() throws IOException {
    return delegate.layoutDamage();
  }

  @Override
  public void close() throws IOException {
    delegate.close();
  }
}
