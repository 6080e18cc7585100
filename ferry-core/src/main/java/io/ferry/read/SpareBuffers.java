package io.ferry.read;

import java.util.concurrent.atomic.AtomicReference;

/**
 * The buffer pool of the last {@link ModelReader} closed, kept for the next one opened: a loader, a server or a Spark
 * executor that opens a reader per model, file or task would otherwise make a new pool each time, and a new direct
 * buffer costs its whole size in zeroing and page faults before its first byte is read (a third of an uncompressed
 * stream's time when each stream made its own), while the dropped ones hold their memory until a garbage collection.
 * One pool is kept, the latest, so what is held past the last reader is bounded by one pool ({@link ChunkBuffers}:
 * a third of the heap at most, beside one buffer of the biggest tensor cut into several chunks). A {@code Repository}
 * holds one for the readers it opens and drops it when closed. Thread-safe.
 */
public final class SpareBuffers {
  private final AtomicReference<ChunkBuffers> spare = new AtomicReference<>();
  private volatile boolean closed;

  /** The kept pool if it has room for chunks of {@code biggestChunk} raw bytes (it is then no longer kept), or null. */
  ChunkBuffers take(long biggestChunk) {
    ChunkBuffers b = spare.getAndSet(null);
    if (b != null && !b.holds(biggestChunk)) {
      spare.compareAndSet(null, b);
      return null;
    }
    return b;
  }

  /** Keeps {@code buffers}, which nobody uses any more, for the next reader, instead of any kept before. */
  void keep(ChunkBuffers buffers) {
    if (!closed) {
      spare.set(buffers);
    }
    if (closed) { // closed meanwhile: what close dropped must not stay
      spare.set(null);
    }
  }

  /** Drops the kept pool, and keeps none from now on (a reader closed after its repository keeps nothing alive). */
  public void close() {
    closed = true;
    spare.set(null);
  }
}
