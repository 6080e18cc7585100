package io.ferry.read;

import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The direct buffers of the last {@link ModelReader} closed in this JVM, kept for the next one: a loader, a server or
 * a benchmark that opens a reader per model, file, request or task would otherwise make new ones each time, and a new
 * direct buffer costs its whole size in zeroing and page faults before its first byte is read (on a 2-core VM an
 * uncompressed stream of every tensor took 1.3 s with new buffers, 0.25 s with kept ones), while the dropped ones
 * hold their memory until a garbage collection.
 *
 * <p>What is kept is bounded: one pool in the whole JVM, the latest, without its heap part ({@link
 * ChunkBuffers#withoutHeap}): at most the pool's limit of direct memory (a third of the maximum heap) and one
 * whole-tensor buffer no bigger than that. It never makes memory run out: a direct allocation anywhere in Ferry's
 * read path that finds the JVM's direct memory used up drops the kept pool and tries once more ({@link
 * #allocateDirect}), and {@link #release} drops it on request. Thread-safe.
 */
public final class SpareBuffers {
  private static final AtomicReference<ChunkBuffers> SPARE = new AtomicReference<>();

  private SpareBuffers() {}

  /** The kept pool if it has room for chunks of {@code biggestChunk} raw bytes (it is then no longer kept), or null. */
  static ChunkBuffers take(long biggestChunk) {
    ChunkBuffers b = SPARE.getAndSet(null);
    if (b != null && !b.holds(biggestChunk)) {
      SPARE.compareAndSet(null, b);
      return null;
    }
    return b;
  }

  /** Keeps the direct part of {@code buffers}, which nobody uses any more, for the next reader, instead of any other. */
  static void keep(ChunkBuffers buffers) {
    SPARE.set(buffers.withoutHeap());
  }

  /** Drops the kept buffers: their memory goes back with the next garbage collection. */
  public static void release() {
    SPARE.set(null);
  }

  /**
   * A new direct buffer; when the JVM's direct memory is used up, drops the kept pool and tries once more (the JVM
   * collects garbage before it gives up on a direct allocation, and so frees what was dropped).
   */
  static ByteBuffer allocateDirect(int capacity) {
    try {
      return ByteBuffer.allocateDirect(capacity);
    } catch (OutOfMemoryError e) {
      if (SPARE.getAndSet(null) == null) {
        throw e;
      }
      return ByteBuffer.allocateDirect(capacity);
    }
  }
}
