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
 * <p>A pull and a verify each make their own; {@link ModelReader}'s copies and streams take theirs from the ones the
 * whole JVM shares ({@link SharedBuffers}), sized the same way.
 *
 * <p>A reader holds at most one frame and one output at a time, and waits only for buffers held by readers that will
 * give them back: with at most {@link #slots()} readers nobody waits for a buffer that cannot come.
 */
public final class ChunkBuffers implements ChunkReader.Scratch {
  private final ReadBuffers frames;
  private final ReadBuffers outputs;
  private final int slots;

  private ChunkBuffers(long limit, int uniform) {
    this.frames = new ReadBuffers(limit, ByteBuffer::allocate, uniform);
    this.outputs = new ReadBuffers(limit, SharedBuffers::allocateDirect, uniform);
    this.slots = (int) Math.max(1, Math.min(Integer.MAX_VALUE, limit / uniform));
  }

  /** Buffers for reading chunks of at most {@code biggest} raw bytes, sized from the maximum heap. */
  public static ChunkBuffers forChunksUpTo(long biggest) {
    int uniform = uniformFor(biggest);
    return new ChunkBuffers(limitFor(uniform), uniform);
  }

  /** The capacity of every buffer above the smallest for chunks of at most {@code biggest} raw bytes. */
  static int uniformFor(long biggest) {
    return (int) Math.min(Integer.MAX_VALUE - 8, Math.max(256 << 10, biggest + (64 << 10)));
  }

  /**
   * The bytes the frames, and the outputs, of buffers of capacity {@code uniform} may take: two such buffers when two
   * fit in 40% of the maximum heap, else a third of the heap.
   */
  static long limitFor(int uniform) {
    long heap = Runtime.getRuntime().maxMemory();
    long limit = Math.max(heap / 3, 256 << 10);
    if (2L * uniform <= heap * 2 / 5) {
      limit = Math.max(limit, 2L * uniform);
    }
    return limit;
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
}
