package io.ferry.read;

import java.io.InterruptedIOException;
import java.lang.ref.SoftReference;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * The decode buffers that every {@link ModelReader} copy and stream of this JVM shares ({@link ModelReader#copyFile},
 * {@code copyRanges}, {@code forEachTensor}): heap arrays that frames are read into, and direct buffers that chunks
 * are decoded into. Each kind is bounded for the whole JVM by what one copy may take, so N copies at once (an
 * executor's tasks, an application loading several models, a server's downloads) take what one takes, not N times
 * it: each copy used to size a pool of its own from the heap, and eight at once in a 96 MiB heap ran out of memory.
 *
 * <p>Buffers given back are kept for the next copy: the direct ones until {@link SpareBuffers#release} or until a
 * direct allocation of the read path would fail; the heap ones softly, so that the garbage collector takes them back
 * before the heap runs out. Thread-safe.
 *
 * <p>Waiting: a copy takes each chunk's output buffer on its own thread, in the order of its chunks, before it hands
 * the chunk to a decoding thread, and waits for one ({@link Share#takeOutput(int, boolean)}) only when it has no chunk
 * in flight; otherwise it writes its oldest chunk first, which gives a buffer back. A copy that waited for a buffer
 * while its own oldest chunk waited behind its own later ones would hang. Frames are taken by the decoding threads
 * after the output, held only while a frame is read and decoded, and may always be waited for.
 */
final class SharedBuffers {
  private static final SharedBuffers JVM = new SharedBuffers();

  private final Kind frames = new Kind(ByteBuffer::allocate, true);
  private final Kind outputs = new Kind(SharedBuffers::allocateDirect, false);
  /** The buffer of the last tensor cut into several chunks, kept for the next stream; null if none. */
  private ByteBuffer whole;

  private SharedBuffers() {}

  /** A share of this JVM's buffers for a copy of chunks of at most {@code biggest} raw bytes. */
  static Share forChunksUpTo(long biggest) {
    int uniform = ChunkBuffers.uniformFor(biggest);
    return JVM.new Share(uniform, ChunkBuffers.limitFor(uniform));
  }

  /** Drops every buffer kept and not lent; those lent are dropped when given back. Whether any was kept. */
  static boolean release() {
    boolean any = JVM.outputs.dropFree() | JVM.frames.dropFree();
    synchronized (JVM) {
      any |= JVM.whole != null;
      JVM.whole = null;
    }
    return any;
  }

  /**
   * A new direct buffer; when the JVM's direct memory is used up, drops the buffers kept and tries once more (the JVM
   * collects garbage before it gives up on a direct allocation, and so frees what was dropped).
   */
  static ByteBuffer allocateDirect(int capacity) {
    try {
      return ByteBuffer.allocateDirect(capacity);
    } catch (OutOfMemoryError e) {
      if (!release()) {
        throw e;
      }
      return ByteBuffer.allocateDirect(capacity);
    }
  }

  /**
   * What one copy or stream takes its buffers through: buffers of one size, room for the biggest chunk of its version,
   * for chunks above the smallest capacity, and as many as its limit holds (two of that size when two fit in 40% of
   * the maximum heap, else a third of the heap), counting those that other copies hold or left. Thread-safe.
   */
  final class Share implements ChunkReader.Scratch {
    private final int uniform;
    private final long limit;

    private Share(int uniform, long limit) {
      this.uniform = uniform;
      this.limit = limit;
    }

    /** How many chunks this copy may have in flight when it is the only one. */
    int slots() {
      return (int) Math.max(1, Math.min(Integer.MAX_VALUE, limit / uniform));
    }

    private int capacityFor(int length) {
      return length > ReadBuffers.MIN_CAPACITY && length <= uniform ? uniform : ReadBuffers.capacityFor(length);
    }

    /** A heap buffer for a frame of {@code length} bytes; waits for one if need be. */
    @Override
    public ByteBuffer take(int length) throws InterruptedIOException {
      return frames.take(length, capacityFor(length), limit, true);
    }

    @Override
    public void give(ByteBuffer buffer) {
      frames.give(buffer);
    }

    /** A direct buffer to decode {@code length} bytes into; waits for one if need be. */
    @Override
    public ByteBuffer takeOutput(int length) throws InterruptedIOException {
      return takeOutput(length, true);
    }

    /**
     * A direct buffer to decode {@code length} bytes into, its limit set to {@code length}; when none is free and the
     * budget has no room, waits for one if {@code wait}, else returns null (and so when another copy waits: it has
     * none in flight, and gets the next one given back).
     */
    ByteBuffer takeOutput(int length, boolean wait) throws InterruptedIOException {
      return outputs.take(length, capacityFor(length), limit, wait);
    }

    @Override
    public void giveOutput(ByteBuffer buffer) {
      outputs.give(buffer);
    }

    /**
     * Stops counting an output buffer lent to a copy that failed: a decoding thread it cancelled may still write into
     * it, so it is not lent again; the garbage collector takes it back.
     */
    void dropOutput(ByteBuffer buffer) {
      outputs.drop(buffer);
    }

    /**
     * A direct buffer for the whole of a tensor cut into several chunks, its limit set to {@code length}: the one kept
     * from the last such tensor when it has room, else a new one. A new direct buffer costs its size in zeroing and
     * page faults, a third of an uncompressed stream's time when each stream made its own. Give it back with {@link
     * #giveWhole}. Outside the limit of the outputs: at most one is kept, no bigger than that limit.
     */
    ByteBuffer takeWhole(int length) {
      ByteBuffer b;
      synchronized (SharedBuffers.this) {
        b = whole;
        whole = null; // lent, or too small: dropped before a new one is made
      }
      // made outside the lock: an allocation that fails releases the kept buffers, which takes it
      return (b != null && b.capacity() >= length ? b.clear() : allocateDirect(length)).limit(length);
    }

    /** Keeps a buffer {@link #takeWhole} lent for the next stream, the bigger one if another is kept. */
    void giveWhole(ByteBuffer buffer) {
      synchronized (SharedBuffers.this) {
        if (buffer.capacity() <= limit && (whole == null || whole.capacity() < buffer.capacity())) {
          whole = buffer;
        }
      }
    }
  }

  /** Buffers of one kind, lent and kept together within a bound that each request states. */
  private static final class Kind {
    private final IntFunction<ByteBuffer> allocator;
    /** Whether kept buffers are held softly: heap arrays, which the collector takes back before the heap runs out. */
    private final boolean soft;
    private final List<Kept> free = new ArrayList<>();
    /** Capacity of every buffer made and not dropped, lent or kept. */
    private long allocated;
    /** Requests waiting for a buffer. */
    private int waiting;

    Kind(IntFunction<ByteBuffer> allocator, boolean soft) {
      this.allocator = allocator;
      this.soft = soft;
    }

    /** A kept buffer: held strongly, or softly with its capacity counted until it is found cleared. */
    private record Kept(ByteBuffer strong, SoftReference<ByteBuffer> weak, int capacity) {
      ByteBuffer get() {
        return strong != null ? strong : weak.get();
      }
    }

    synchronized ByteBuffer take(int length, int capacity, long limit, boolean wait) throws InterruptedIOException {
      if (length < 0) {
        throw new IllegalArgumentException("negative length " + length);
      }
      if (!wait && waiting > 0) {
        return null;
      }
      while (true) {
        // the smallest kept buffer with room, by index (ByteBuffer.equals compares contents)
        int best = -1;
        for (int i = 0; i < free.size(); i++) {
          ByteBuffer b = free.get(i).get();
          if (b == null) {
            allocated -= free.remove(i--).capacity(); // taken back by the garbage collector
          } else if (b.capacity() >= length && (best < 0 || b.capacity() < free.get(best).capacity())) {
            best = i;
          }
        }
        ByteBuffer b = best < 0 ? null : free.remove(best).get();
        if (b != null) {
          return b.clear().limit(length);
        }
        if (best >= 0) {
          continue; // cleared since the scan
        }
        if (allocated == 0 || allocated + capacity <= limit) {
          // counted once made: a buffer the memory had no room for must not count as lent for ever
          ByteBuffer made = allocator.apply(capacity);
          allocated += capacity;
          return made.limit(length);
        }
        if (!free.isEmpty()) {
          // all too small for this request: drop the smallest to make room for a bigger one
          allocated -= free.remove(ReadBuffers.indexOfSmallest(free, Kept::capacity)).capacity();
          continue;
        }
        if (!wait) {
          return null;
        }
        waiting++;
        try {
          wait();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new InterruptedIOException("interrupted while waiting for a read buffer");
        } finally {
          waiting--;
        }
      }
    }

    synchronized void give(ByteBuffer b) {
      free.add(soft ? new Kept(null, new SoftReference<>(b), b.capacity()) : new Kept(b, null, b.capacity()));
      notifyAll();
    }

    synchronized void drop(ByteBuffer b) {
      allocated -= b.capacity();
      notifyAll();
    }

    synchronized boolean dropFree() {
      boolean any = false;
      for (Kept k : free) {
        allocated -= k.capacity();
        any |= k.get() != null;
      }
      free.clear();
      notifyAll();
      return any;
    }
  }
}
