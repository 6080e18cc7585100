package io.ferry.read;

import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import java.util.function.ToIntFunction;

/**
 * Reusable direct buffers that a push reads source bytes into, so that what it hashes and what it writes are one copy
 * of the bytes, read once (never a memory map of the source: a map shows later writes to the file, and truncating
 * the file under a map crashes the JVM). The buffers lent and kept for reuse together take at most {@code limit}
 * bytes; a request bigger than the limit waits until every other buffer is back, then runs alone. Thread-safe.
 */
public final class ReadBuffers implements ChunkReader.Scratch {
  /** The smallest buffer made: every chunk that goes into a pack fits in one. */
  static final int MIN_CAPACITY = 256 << 10;

  private final long limit;
  private final IntFunction<ByteBuffer> allocator;
  /**
   * Requests above the smallest capacity and up to this get a buffer of exactly this capacity, so chunks of any size
   * share them; {@link Integer#MAX_VALUE} for a pool of sized buffers.
   */
  private final int uniform;
  private final List<ByteBuffer> free = new ArrayList<>();
  /** Capacity of every buffer made and not dropped, lent or free. */
  private long allocated;

  public ReadBuffers(long limit) {
    this(limit, ByteBuffer::allocateDirect);
  }

  /**
   * Buffers made by {@code allocator}: direct ones ({@link ByteBuffer#allocateDirect}) when the bytes go to the store
   * as they are, heap ones ({@link ByteBuffer#allocate}) when a codec that works on arrays encodes them, so that it
   * need not copy each chunk onto the heap first.
   */
  public ReadBuffers(long limit, IntFunction<ByteBuffer> allocator) {
    this(limit, allocator, Integer.MAX_VALUE);
  }

  /**
   * As {@link #ReadBuffers(long, IntFunction)}, with every request above the smallest capacity (and up to {@code
   * uniform}) given a buffer of capacity {@code uniform}: a pull whose chunks' frames and decoded bytes vary in size
   * then reuses the same few big buffers. Buffers of several sizes would have to be dropped and made again whenever a
   * bigger one is needed, and a dropped direct buffer holds its memory until the next garbage collection (a pull of
   * chunks from 1 to 64 MiB grew to 270 MB of direct memory that way).
   */
  public ReadBuffers(long limit, IntFunction<ByteBuffer> allocator, int uniform) {
    this.allocator = allocator;
    this.uniform = uniform;
    if (limit < MIN_CAPACITY) {
      throw new IllegalArgumentException("read buffer limit " + limit + " is below " + MIN_CAPACITY + " bytes");
    }
    this.limit = limit;
  }

  /** The index of the smallest of {@code free} (not empty) by {@code capacity}, the first of equals. */
  static <T> int indexOfSmallest(List<T> free, ToIntFunction<T> capacity) {
    int smallest = 0;
    for (int i = 1; i < free.size(); i++) {
      if (capacity.applyAsInt(free.get(i)) < capacity.applyAsInt(free.get(smallest))) {
        smallest = i;
      }
    }
    return smallest;
  }

  /** A cleared buffer with room for {@code length} bytes, its limit set to {@code length}; give it back after use. */
  @Override
  public synchronized ByteBuffer take(int length) throws InterruptedIOException {
    if (length < 0) {
      throw new IllegalArgumentException("negative length " + length);
    }
    int capacity = uniform != Integer.MAX_VALUE && length > MIN_CAPACITY && length <= uniform
        ? uniform : capacityFor(length);
    while (true) {
      // by index, never remove(Object): ByteBuffer.equals compares contents, so it could take out another buffer
      int best = -1;
      for (int i = 0; i < free.size(); i++) {
        int c = free.get(i).capacity();
        if (c >= length && (best < 0 || c < free.get(best).capacity())) {
          best = i;
        }
      }
      if (best >= 0) {
        ByteBuffer b = free.remove(best);
        b.clear().limit(length);
        return b;
      }
      if (allocated == 0 || allocated + capacity <= limit) {
        // counted once made: a buffer the heap had no room for (OutOfMemoryError) was counted as lent for ever, and
        // every later request of a push waited for it to come back
        ByteBuffer made = allocator.apply(capacity);
        allocated += capacity;
        return made.limit(length);
      }
      if (!free.isEmpty()) {
        // all too small for this request: let the garbage collector have the smallest and make room for a bigger
        // one (the smallest: the big buffers are the ones worth keeping, and dropping them makes garbage the size of
        // a chunk each time)
        allocated -= free.remove(indexOfSmallest(free, ByteBuffer::capacity)).capacity();
        continue;
      }
      try {
        wait();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while waiting for a read buffer");
      }
    }
  }

  /** Returns a buffer {@link #take} lent. */
  @Override
  public synchronized void give(ByteBuffer b) {
    free.add(b);
    notifyAll();
  }

  /**
   * From 256 KiB up, eighths of powers of two (at most 1/8 wasted): chunks of similar sizes share buffers, and a pull's
   * 40 MiB frame with its 64 MiB of decoded bytes takes 112 MiB, not the 128 MiB of the next power of two.
   */
  static int capacityFor(int length) {
    if (length <= MIN_CAPACITY) {
      return MIN_CAPACITY;
    }
    int step = Integer.highestOneBit(length) >> 3;
    long rounded = ((long) length + step - 1) / step * step;
    return (int) Math.min(rounded, Integer.MAX_VALUE - 8);
  }
}
