package io.ferry.read;

import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The buffers that parallel readers of one version's chunks decode with: frames are read into heap arrays (the codecs
 * decode from arrays fastest) and decoded into direct buffers (they go to a file or channel as they are, and take no
 * room in the heap's old generation, where big arrays go). Each pool holds buffers of one size, room for the
 * version's biggest chunk, so chunks of every size share them, and as many as {@link #slots()} readers use at once:
 * two when two fit in 40% of the maximum heap (one chunk decoding per core of a small machine, and room left for the
 * heap's young generation), else as many as a third of the heap holds, at least one. Small chunks get small buffers
 * beside them. Thread-safe.
 *
 * <p>A reader holds at most one frame and one output at a time, and waits only for buffers held by readers that will
 * give them back: with at most {@link #slots()} readers nobody waits for a buffer that cannot come.
 */
public final class ChunkBuffers implements ChunkReader.Scratch {
  private final ReadBuffers frames;
  private final ReadBuffers outputs;
  private final int slots;
  /** The capacity every buffer above the smallest is made with: room for the biggest chunk it was sized for. */
  private final int uniform;
  /** The bytes the frames, and the outputs, may take together. */
  private final long limit;
  /** The buffer of the last tensor cut into several chunks, kept for the next ({@link #takeWhole}); null if none. */
  private ByteBuffer whole;

  private ChunkBuffers(long limit, int uniform) {
    this(limit, uniform, new ReadBuffers(limit, SpareBuffers::allocateDirect, uniform));
  }

  private ChunkBuffers(long limit, int uniform, ReadBuffers outputs) {
    this.frames = new ReadBuffers(limit, ByteBuffer::allocate, uniform);
    this.outputs = outputs;
    this.slots = (int) Math.max(1, Math.min(Integer.MAX_VALUE, limit / uniform));
    this.uniform = uniform;
    this.limit = limit;
  }

  /**
   * These buffers without their heap part, for keeping while nobody reads ({@link SpareBuffers}): the direct outputs
   * (outside the heap), and the whole-tensor buffer if it is no bigger than the pool's limit; the frames, heap arrays
   * of up to a third of the heap, are left to the garbage collector.
   */
  ChunkBuffers withoutHeap() {
    ChunkBuffers kept = new ChunkBuffers(limit, uniform, outputs);
    synchronized (this) {
      if (whole != null && whole.capacity() <= limit) {
        kept.whole = whole;
      }
    }
    return kept;
  }

  /** Buffers for reading chunks of at most {@code biggest} raw bytes, sized from the maximum heap. */
  public static ChunkBuffers forChunksUpTo(long biggest) {
    int uniform = uniformFor(biggest);
    long heap = Runtime.getRuntime().maxMemory();
    long limit = Math.max(heap / 3, 256 << 10);
    if (2L * uniform <= heap * 2 / 5) {
      limit = Math.max(limit, 2L * uniform);
    }
    return new ChunkBuffers(limit, uniform);
  }

  private static int uniformFor(long biggest) {
    return (int) Math.min(Integer.MAX_VALUE - 8, Math.max(256 << 10, biggest + (64 << 10)));
  }

  /** Buffers for reading the chunks of {@code files}. */
  public static ChunkBuffers forFiles(Iterable<FileEntry> files) {
    return forChunksUpTo(biggestChunk(files));
  }

  /** The raw length of the biggest chunk of {@code files}. */
  public static long biggestChunk(Iterable<FileEntry> files) {
    long biggest = 0;
    for (FileEntry f : files) {
      for (ChunkRef c : f.chunks()) {
        biggest = Math.max(biggest, c.length());
      }
    }
    return biggest;
  }

  /** Whether these buffers have room for chunks of {@code biggest} raw bytes. */
  public boolean holds(long biggest) {
    return uniform >= uniformFor(biggest);
  }

  /** How many readers may use these buffers at once without waiting on each other for good. */
  public int slots() {
    return slots;
  }

  @Override
  public ByteBuffer take(int length) throws IOException {
    return frames.take(length);
  }

  @Override
  public void give(ByteBuffer buffer) {
    frames.give(buffer);
  }

  @Override
  public ByteBuffer takeOutput(int length) throws IOException {
    return outputs.take(length);
  }

  @Override
  public void giveOutput(ByteBuffer buffer) {
    outputs.give(buffer);
  }

  /**
   * A direct buffer for the whole of a tensor cut into several chunks, its limit set to {@code length}: the one kept
   * from the last such tensor when it has room, else a new one. A new direct buffer costs its size in zeroing and page
   * faults, a third of an uncompressed stream's time when each stream made its own. Give it back with {@link
   * #giveWhole}. Outside the pool's limit: at most one is kept, of at most 2 GiB.
   */
  public synchronized ByteBuffer takeWhole(int length) {
    ByteBuffer b = whole;
    whole = null; // lent, or too small: dropped before a new one is made
    return (b != null && b.capacity() >= length ? b.clear() : SpareBuffers.allocateDirect(length)).limit(length);
  }

  /** Keeps a buffer {@link #takeWhole} lent for the next tensor, the bigger one if another is kept. */
  public synchronized void giveWhole(ByteBuffer buffer) {
    if (whole == null || whole.capacity() < buffer.capacity()) {
      whole = buffer;
    }
  }
}
