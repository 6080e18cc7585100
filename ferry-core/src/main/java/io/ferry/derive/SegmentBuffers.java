package io.ferry.derive;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.Iterator;

/**
 * Reusable buffers for {@link RowCursor} segments within one derivation, so that a model of many 64 MiB tensors does
 * not allocate (and leave to the garbage collector) one off-heap buffer per tensor. Buffers of 1 MiB and more are
 * direct, smaller ones on the heap. Keeps at most {@code max} idle buffers (one per thread: a thread that finishes a
 * tensor gives its buffer back and takes it again for the next one), so the buffers alive are about those in use plus
 * one per thread. Thread-safe.
 */
final class SegmentBuffers {
  private static final int DIRECT_FROM = 1 << 20;
  private final ArrayDeque<ByteBuffer> idle = new ArrayDeque<>();
  private final int max;

  SegmentBuffers(int max) {
    this.max = max;
  }

  /** A cleared buffer with room for {@code n} bytes, its limit set to {@code n}. */
  synchronized ByteBuffer take(int n) {
    ByteBuffer best = null;
    for (Iterator<ByteBuffer> it = idle.iterator(); it.hasNext(); ) {
      ByteBuffer b = it.next();
      if (b.capacity() >= n && (best == null || b.capacity() < best.capacity())) {
        best = b;
      }
    }
    if (best != null) {
      idle.remove(best);
      return best.clear().limit(n);
    }
    return n >= DIRECT_FROM ? ByteBuffer.allocateDirect(n) : ByteBuffer.allocate(n);
  }

  /**
   * Lets go of the idle buffers, once the derivation's tensors are written: the push that follows must not run beside
   * a 64 MiB segment kept for a next tensor that never comes (their memory goes back at a garbage collection, which
   * the JDK starts when direct memory runs short).
   */
  synchronized void clear() {
    idle.clear();
  }

  /** Returns a buffer taken from here; the caller must not use it afterwards. */
  synchronized void give(ByteBuffer b) {
    if (b == null || b.capacity() < DIRECT_FROM) {
      return;
    }
    if (idle.size() >= max) {
      ByteBuffer smallest = idle.stream().min((x, y) -> Integer.compare(x.capacity(), y.capacity())).orElseThrow();
      if (smallest.capacity() >= b.capacity()) {
        return;
      }
      idle.remove(smallest);
    }
    idle.add(b);
  }
}
