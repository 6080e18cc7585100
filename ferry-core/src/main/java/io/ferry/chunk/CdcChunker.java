package io.ferry.chunk;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Arrays;

/**
 * Content-defined chunking for opaque files, in the style of FastCDC (Xia et al., USENIX ATC 2016): a gear rolling
 * hash, the first {@code min} bytes of each chunk skipped, and normalized chunking with two masks, a harder one before
 * the {@code avg} size and an easier one after it, up to a hard cut at {@code max}. Because a boundary depends only on
 * the 64 bytes before it, inserting or deleting bytes changes only the chunks around the edit and the rest still
 * deduplicate.
 *
 * <h2>Storage format</h2>
 *
 * The cut points are part of Ferry's storage format: the same bytes with the same {@link CdcParams} must cut at the
 * same places in every Ferry version, or files stored by an older version stop deduplicating. The algorithm below is
 * therefore frozen; a change needs a new chunker with a new name. For a chunk starting at offset {@code s} of a region
 * with {@code n} bytes left:
 *
 * <ol>
 *   <li>if {@code n <= min}, the chunk is the remaining {@code n} bytes;
 *   <li>otherwise, with {@code limit = min(n, max)}, {@code normal = min(avg, limit)}, {@code b = log2(avg)}, {@code
 *       maskS} = the top {@code b + 2} bits of a 64-bit word set, {@code maskL} = the top {@code b - 2} bits set, and
 *       {@code h = 0}: for {@code i} from {@code min} to {@code limit - 1}, {@code h = (h << 1) + GEAR[byte[s + i]]}
 *       (unsigned byte, arithmetic modulo 2^64); the chunk ends after byte {@code i} (length {@code i + 1}) at the first
 *       {@code i} where {@code (h & mask) == 0}, with {@code mask = maskS} while {@code i < normal} and {@code maskL}
 *       after;
 *   <li>if no such {@code i} exists, the chunk is {@code limit} bytes long.
 * </ol>
 *
 * {@code GEAR} is a table of 256 longs: {@code GEAR[k]} is the {@code (k + 1)}-th output of SplitMix64 (Steele, Lea
 * and Flood; the generator of {@code java.util.SplittableRandom}) started from the seed {@link #GEAR_SEED}
 * ({@code 0x4665727279434443}, "FerryCDC"), that is
 * {@code z = seed + (k + 1) * 0x9E3779B97F4A7C15; z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >>> 27)) *
 * 0x94D049BB133111EB; GEAR[k] = z ^ (z >>> 31)}. It is computed at class initialization and pinned by tests.
 *
 * <h2>Use</h2>
 *
 * Instances are immutable and safe to share between threads; each call allocates its own scratch window (at most
 * 16 MiB, less for smaller inputs). Heap buffers are scanned in place; direct buffers, mapped
 * buffers and channels are copied through the window.
 */
public final class CdcChunker {
  /** The SplitMix64 seed of the gear table. Part of the storage format; never change it. */
  public static final long GEAR_SEED = 0x4665727279434443L; // "FerryCDC"

  /** Default size of the scratch window used for direct buffers and channels. */
  static final int DEFAULT_WINDOW = 16 << 20;

  /** Largest single positional read from a channel. */
  private static final int IO_SIZE = 1 << 20;

  private static final long[] GEAR = gearTable(GEAR_SEED);

  private final CdcParams params;
  private final int min;
  private final int avg;
  private final int max;
  private final long maskS;
  private final long maskL;
  private final int window;

  /** A chunker with the given sizes. */
  public CdcChunker(CdcParams params) {
    this(params, DEFAULT_WINDOW);
  }

  /**
   * A chunker whose scratch window (used for direct buffers and channels) is {@code window} bytes; tests use a small one
   * to cross window edges. The window must hold at least a maximal chunk.
   */
  CdcChunker(CdcParams params, int window) {
    if (params == null) {
      throw new NullPointerException("params");
    }
    if (window < params.max()) {
      throw new IllegalArgumentException(
          "cdc window (" + window + " bytes) must hold a maximal chunk (" + params.max() + " bytes)");
    }
    this.params = params;
    this.min = params.min();
    this.avg = params.avg();
    this.max = params.max();
    int bits = params.avgBits();
    this.maskS = -1L << (64 - (bits + 2));
    this.maskL = -1L << (64 - (bits - 2));
    this.window = window;
  }

  /** The sizes this chunker cuts with. */
  public CdcParams params() {
    return params;
  }

  /**
   * Returns the cut points (exclusive end offsets, ascending, last == remaining) of the bytes in buf from its position
   * to its limit; buf's position is unchanged. An empty buffer gives an empty array.
   */
  public long[] cuts(ByteBuffer buf) {
    int pos = buf.position();
    int n = buf.remaining();
    if (buf.hasArray()) {
      return cutsInPlace(buf.array(), buf.arrayOffset() + pos, n);
    }
    try {
      return cutsWindowed(n, (at, dst, off, len) -> {
        buf.get(pos + (int) at, dst, off, len);
        return len;
      });
    } catch (IOException e) {
      throw new AssertionError("buffers do not do I/O", e);
    }
  }

  /**
   * Streaming form for files bigger than 2 GiB: reads the channel region [start, end) with positional reads and returns
   * absolute cut offsets (ascending, last == end). The channel's position is not used or changed. The cuts are the
   * same as {@link #cuts(ByteBuffer)} gives for the same bytes, plus {@code start}.
   *
   * @throws IllegalArgumentException if {@code 0 <= start <= end} does not hold
   * @throws EOFException if the channel ends before {@code end}
   * @throws IOException if a read fails
   */
  public long[] cuts(FileChannel ch, long start, long end) throws IOException {
    if (start < 0 || start > end) {
      throw new IllegalArgumentException("bad region [" + start + ", " + end + ")");
    }
    ByteBuffer io = ByteBuffer.allocateDirect((int) Math.min(IO_SIZE, Math.max(1, end - start)));
    long[] rel = cutsWindowed(end - start, (at, dst, off, len) -> {
      int total = 0;
      while (total < len) {
        io.clear().limit(Math.min(io.capacity(), len - total));
        int r = ch.read(io, start + at + total);
        if (r < 0) {
          throw new EOFException("channel ended at byte " + (start + at + total) + ", before the end of the region "
              + "[" + start + ", " + end + ") being chunked");
        }
        io.flip().get(dst, off + total, r);
        total += r;
      }
      return total;
    });
    for (int i = 0; i < rel.length; i++) {
      rel[i] += start;
    }
    return rel;
  }

  /** Reads {@code len} bytes at offset {@code at} of the region into {@code dst[off..]}. */
  @FunctionalInterface
  private interface Source {
    int read(long at, byte[] dst, int off, int len) throws IOException;
  }

  private long[] cutsInPlace(byte[] a, int from, int n) {
    Cuts out = new Cuts(n);
    int s = 0;
    while (s < n) {
      s += nextChunk(a, from + s, n - s);
      out.add(s);
    }
    return out.toArray();
  }

  private long[] cutsWindowed(long n, Source src) throws IOException {
    Cuts out = new Cuts(n);
    byte[] w = new byte[(int) Math.min(window, n)];
    long filled = 0; // region bytes copied into the window so far
    long chunkStart = 0;
    int ws = 0; // window index of chunkStart
    int we = 0; // window index just past the last valid byte
    while (chunkStart < n) {
      if (we - ws < max && filled < n) {
        int keep = we - ws;
        System.arraycopy(w, ws, w, 0, keep);
        ws = 0;
        we = keep;
        int len = (int) Math.min(w.length - we, n - filled);
        src.read(filled, w, we, len);
        we += len;
        filled += len;
      }
      int len = nextChunk(w, ws, we - ws);
      ws += len;
      chunkStart += len;
      out.add(chunkStart);
    }
    return out.toArray();
  }

  /**
   * The length of the chunk starting at {@code a[s]}, given {@code n} bytes from there: all the bytes left in the
   * region, or at least {@code max} of them.
   */
  private int nextChunk(byte[] a, int s, int n) {
    if (n <= min) {
      return n;
    }
    int limit = Math.min(n, max);
    int normal = Math.min(avg, limit);
    long[] gear = GEAR;
    long h = 0;
    int i = s + min;
    int normalEnd = s + normal;
    long mask = maskS;
    for (; i < normalEnd; i++) {
      h = (h << 1) + gear[a[i] & 0xff];
      if ((h & mask) == 0) {
        return i + 1 - s;
      }
    }
    int end = s + limit;
    mask = maskL;
    for (; i < end; i++) {
      h = (h << 1) + gear[a[i] & 0xff];
      if ((h & mask) == 0) {
        return i + 1 - s;
      }
    }
    return limit;
  }

  /** The gear table for a seed, as documented on the class. */
  static long[] gearTable(long seed) {
    long[] t = new long[256];
    for (int k = 0; k < 256; k++) {
      long z = seed + (k + 1) * 0x9E3779B97F4A7C15L;
      z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
      z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
      t[k] = z ^ (z >>> 31);
    }
    return t;
  }

  /** A copy of the gear table, for tests that pin it. */
  static long[] gear() {
    return GEAR.clone();
  }

  /** A growable list of cut offsets. */
  private static final class Cuts {
    private long[] a;
    private int size;

    Cuts(long n) {
      a = new long[(int) Math.min(1024, n / (1 << 18) + 16)];
    }

    void add(long cut) {
      if (size == a.length) {
        a = Arrays.copyOf(a, size * 2);
      }
      a[size++] = cut;
    }

    long[] toArray() {
      return Arrays.copyOf(a, size);
    }
  }
}
