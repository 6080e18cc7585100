package io.ferry.server.http;

import java.nio.ByteBuffer;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Direct buffers of one size that streamed answers read a stored object into and hand to the server to write: a
 * direct buffer is read into by the kernel and written from by the kernel, where a heap buffer costs two more copies
 * (the JDK moves heap bytes through a temporary direct buffer on each read and each write) and a zeroed allocation
 * per answer. At most {@code max} buffers are ever made, so their memory is bounded; while all are lent, {@link
 * #take()} gives a heap buffer instead, which is as correct and only slower. Thread-safe.
 */
public final class SliceBuffers {
  private final int size;
  private final int max;
  private final ArrayBlockingQueue<ByteBuffer> free;
  private final AtomicInteger made = new AtomicInteger();

  /**
   * @param size the bytes of each buffer
   * @param max the most direct buffers made, together {@code size * max} bytes of native memory
   */
  public SliceBuffers(int size, int max) {
    if (size <= 0 || max <= 0) {
      throw new IllegalArgumentException("slice buffers of " + size + " bytes, at most " + max);
    }
    this.size = size;
    this.max = max;
    this.free = new ArrayBlockingQueue<>(max);
  }

  /** The bytes of each buffer. */
  public int size() {
    return size;
  }

  /**
   * A cleared buffer for the caller alone until it gives it back with {@link #give}: a pooled direct one of {@link
   * #size()} bytes, or, when every one of them is lent, a new heap one of {@code needed} bytes, at most {@link
   * #size()}.
   */
  public ByteBuffer take(long needed) {
    ByteBuffer b = free.poll();
    if (b != null) {
      return b.clear();
    }
    if (made.getAndUpdate(n -> n < max ? n + 1 : n) < max) {
      return ByteBuffer.allocateDirect(size);
    }
    return ByteBuffer.allocate((int) Math.max(0, Math.min(size, needed)));
  }

  /** Gives back a buffer {@link #take()} lent (a heap one is dropped). The caller must not use it any more. */
  public void give(ByteBuffer b) {
    if (b.isDirect() && b.capacity() == size) {
      free.offer(b);
    }
  }

  /** How many direct buffers were made so far (at most the bound). */
  public int made() {
    return made.get();
  }
}
