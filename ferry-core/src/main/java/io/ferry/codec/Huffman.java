package io.ferry.codec;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * An order-0 canonical Huffman coder for one byte plane, with codes limited to {@value #MAX_LEN} bits so that one
 * 4096-entry table lookup decodes up to four symbols. Used by {@link FloatCodec}; the stream layout is part of that
 * codec's storage format and must never change.
 *
 * <p>Block layout: 128 bytes of code lengths, two 4-bit lengths per byte (symbol {@code 2i} in the low nibble of byte
 * {@code i}, symbol {@code 2i+1} in the high nibble; 0 = symbol absent); then the byte lengths of streams 0, 1 and 2
 * (3 x u32 little-endian); then four bit streams back to back, stream 3 taking the rest of the block. With
 * {@code q = ceil(n / 4)}, stream {@code k} codes symbols {@code [min(kq, n), min((k+1)q, n))}; the four streams let
 * the decoder keep four independent dependency chains in flight. Codes are canonical (shorter codes first, equal
 * lengths by symbol value) and are written least significant bit first: bit {@code j} of a stream is bit
 * {@code j % 8} of its byte {@code j / 8}, and the first bit of a code is its most significant bit. A stream ends at
 * the byte holding its last code's last bit; unused high bits of that byte are zero.
 *
 * <p>Stateless; all methods are thread-safe.
 */
final class Huffman {
  static final int MAX_LEN = 12;
  static final int LENGTHS_BYTES = 128;
  static final int STREAMS = 4;
  private static final int TABLE_SIZE = 1 << MAX_LEN;
  private static final int TABLE_MASK = TABLE_SIZE - 1;
  /**
   * Blocks of fewer symbols decode one symbol per lookup. Filling a table of up to four symbols per lookup takes
   * about four lookups for each of its 4,096 entries and saves about two lookups of every three symbols, so it pays
   * off from about 24,000 symbols. Measured on 301 decodes of 16 KiB F32 chunks: 18–20 ms of CPU without the table
   * against 20–23 ms with it.
   */
  static final int MULTI_FROM = 1 << 15;
  private static final VarHandle LONG_LE =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle SHORT_LE =
      MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle INT_LE = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

  private Huffman() {}

  /**
   * Code lengths (1..{@value #MAX_LEN}, 0 for absent symbols) for a histogram with at least two distinct symbols. The
   * code is complete (Kraft sum exactly 1), so every table index decodes.
   */
  static int[] codeLengths(int[] hist) {
    int n = 0;
    int[] syms = new int[256];
    for (int s = 0; s < 256; s++) {
      if (hist[s] != 0) {
        syms[n++] = s;
      }
    }
    if (n < 2) {
      throw new IllegalArgumentException("a Huffman code needs at least two symbols, got " + n);
    }
    // Sort present symbols by frequency (insertion sort: at most 256 of them).
    for (int i = 1; i < n; i++) {
      int s = syms[i];
      int j = i - 1;
      while (j >= 0 && hist[syms[j]] > hist[s]) {
        syms[j + 1] = syms[j];
        j--;
      }
      syms[j + 1] = s;
    }
    // Two-queue Huffman construction: leaves 0..n-1 (sorted), internal nodes n..2n-2 (created in weight order).
    long[] weight = new long[2 * n - 1];
    int[] parent = new int[2 * n - 1];
    for (int i = 0; i < n; i++) {
      weight[i] = hist[syms[i]];
    }
    int leaf = 0;
    int inner = n;
    for (int next = n; next < 2 * n - 1; next++) {
      int a;
      int b;
      if (leaf < n && (inner >= next || weight[leaf] <= weight[inner])) {
        a = leaf++;
      } else {
        a = inner++;
      }
      if (leaf < n && (inner >= next || weight[leaf] <= weight[inner])) {
        b = leaf++;
      } else {
        b = inner++;
      }
      weight[next] = weight[a] + weight[b];
      parent[a] = next;
      parent[b] = next;
    }
    int[] depth = new int[2 * n - 1];
    for (int i = 2 * n - 3; i >= 0; i--) {
      depth[i] = depth[parent[i]] + 1;
    }
    int[] lens = new int[256];
    for (int i = 0; i < n; i++) {
      lens[syms[i]] = depth[i];
    }
    limitLengths(lens, syms, n);
    return lens;
  }

  /** Clamps lengths to MAX_LEN and repairs the Kraft sum; syms holds the present symbols by ascending frequency. */
  private static void limitLengths(int[] lens, int[] syms, int n) {
    long kraft = 0;
    boolean clamped = false;
    for (int i = 0; i < n; i++) {
      int s = syms[i];
      if (lens[s] > MAX_LEN) {
        lens[s] = MAX_LEN;
        clamped = true;
      }
      kraft += 1L << (MAX_LEN - lens[s]);
    }
    if (!clamped) {
      return;
    }
    // Over-full: lengthen the rarest symbols whose codes are longest but still below the limit.
    while (kraft > TABLE_SIZE) {
      int best = -1;
      for (int i = 0; i < n; i++) {
        int s = syms[i];
        if (lens[s] < MAX_LEN && (best < 0 || lens[s] > lens[best])) {
          best = s;
        }
      }
      kraft -= 1L << (MAX_LEN - lens[best] - 1);
      lens[best]++;
    }
    // Under-full: shorten the most frequent symbols while the code stays valid.
    for (int i = n - 1; i >= 0 && kraft < TABLE_SIZE; i--) {
      int s = syms[i];
      while (lens[s] > 1 && kraft + (1L << (MAX_LEN - lens[s])) <= TABLE_SIZE) {
        kraft += 1L << (MAX_LEN - lens[s]);
        lens[s]--;
      }
    }
  }

  /** Size in bytes of the block {@link #encode} writes for this histogram and lengths, plus at most 4. */
  static long blockSize(int[] hist, int[] lens) {
    long bits = 0;
    for (int s = 0; s < 256; s++) {
      bits += (long) hist[s] * lens[s];
    }
    return LENGTHS_BYTES + 4 * (STREAMS - 1) + (bits + 7) / 8 + STREAMS;
  }

  /** Canonical codes, bit-reversed for LSB-first output, packed as {@code code | len << 16}. */
  private static int[] codes(int[] lens) {
    int[] count = new int[MAX_LEN + 1];
    for (int s = 0; s < 256; s++) {
      count[lens[s]]++;
    }
    count[0] = 0;
    int[] next = new int[MAX_LEN + 2];
    int code = 0;
    for (int len = 1; len <= MAX_LEN; len++) {
      code = (code + count[len - 1]) << 1;
      next[len] = code;
    }
    int[] table = new int[256];
    for (int s = 0; s < 256; s++) {
      int len = lens[s];
      if (len != 0) {
        int c = next[len]++;
        table[s] = (Integer.reverse(c) >>> (32 - len)) | len << 16;
      }
    }
    return table;
  }

  /** First symbol of stream {@code k} of {@value #STREAMS} over {@code n} symbols. */
  private static int streamStart(int n, int k) {
    int q = (n + STREAMS - 1) / STREAMS;
    return Math.min(n, k * q);
  }

  /**
   * Writes the block for {@code src[0, n)} at {@code dst[off]}; {@code hist[k]} is the histogram of stream
   * {@code k}'s symbols (it gives each stream's exact length, so all four are written in place, advancing together)
   * and {@code dst} must have 8 bytes of room after the block. Returns the number of bytes of the block.
   */
  static int encode(byte[] src, int n, int[] lens, byte[] dst, int off, int[][] hist) {
    int[] from = new int[STREAMS + 1];
    int[] table = begin(lens, n, dst, off, from);
    int[] start = streamStarts(hist, lens, dst, off);
    // st: per stream its output position, pending bits and their count.
    long[] st = new long[3 * STREAMS];
    for (int k = 0; k < STREAMS; k++) {
      st[3 * k] = start[k];
    }
    // The four advance together (four symbols at a time) while every stream keeps at least 64 symbols, so 64 bits,
    // after each 8-byte write: no write reaches the next stream's bytes. Stream 3 is the shortest.
    int joint = Math.max(0, from[4] - from[3] - 64) & ~3;
    int[] pairs = joint > 0 ? pairs(table) : null;
    int calls = 0;
    for (int at = 0; at < joint; ) {
      int end = Math.min(joint, at + FloatCodec.batch(calls++, 4, 1 << 12));
      encodeJoint(src, from, at, end, pairs, dst, dst, st);
      at = end;
    }
    for (int k = 0; k < STREAMS; k++) {
      long[] one = {st[3 * k], st[3 * k + 1], st[3 * k + 2]};
      int first = from[k] + joint;
      int last = from[k + 1];
      finishStream(start[k + 1], k, () -> {
        for (int at = first; at < last; at += 1 << 12) {
          encodeBatch(src, at, Math.min(last, at + (1 << 12)), table, dst, one);
        }
      }, dst, one);
    }
    return start[STREAMS] - off;
  }

  /**
   * The start of every encode: writes the code lengths at {@code dst[at]}, fills {@code from} with the first symbol of
   * each stream (and {@code n} at {@code [STREAMS]}), and returns the codes.
   */
  private static int[] begin(int[] lens, int n, byte[] dst, int at, int[] from) {
    for (int i = 0; i < LENGTHS_BYTES; i++) {
      dst[at + i] = (byte) (lens[2 * i] | lens[2 * i + 1] << 4);
    }
    for (int k = 0; k <= STREAMS; k++) {
      from[k] = streamStart(n, k);
    }
    return codes(lens);
  }

  /**
   * Writes the stream lengths of a block at {@code dst[off]} from the per-stream histograms and returns where each
   * stream starts ({@code [STREAMS]}: where the block ends).
   */
  private static int[] streamStarts(int[][] hist, int[] lens, byte[] dst, int off) {
    int[] start = new int[STREAMS + 1];
    start[0] = off + LENGTHS_BYTES + 4 * (STREAMS - 1);
    for (int k = 0; k < STREAMS; k++) {
      int bytes = (int) ((streamBits(hist[k], lens) + 7) >>> 3);
      start[k + 1] = start[k] + bytes;
      if (k < STREAMS - 1) {
        INT_LE.set(dst, off + LENGTHS_BYTES + 4 * k, bytes);
      }
    }
    return start;
  }

  /**
   * Runs {@code rest}, which codes the rest of stream {@code k} alone into {@code dst} with state {@code one}
   * (position, pending bits, their count), then writes the pending bits and checks the stream ends at {@code end}.
   * Its 8-byte writes may put zeros over the first bytes of the next stream, which are already written: they are
   * kept.
   */
  private static void finishStream(int end, int k, Runnable rest, byte[] dst, long[] one) {
    long next = (long) LONG_LE.get(dst, end);
    rest.run();
    int o = (int) one[0];
    if (one[2] > 0) {
      LONG_LE.set(dst, o, one[1]);
      o++;
    }
    LONG_LE.set(dst, end, next);
    if (o != end) {
      throw new IllegalStateException("huffman stream " + k + " ended at byte " + o + ", its histogram says " + end);
    }
  }

  /** Exact byte length of the block {@link #encodeMerged} writes, for per-stream histograms {@code hist[k]}. */
  static long mergedBlockSize(int[][] hist, int[] lens) {
    long size = LENGTHS_BYTES + 4 * (STREAMS - 1);
    for (int k = 0; k < STREAMS; k++) {
      size += (streamBits(hist[k], lens) + 7) >>> 3;
    }
    return size;
  }

  private static long streamBits(int[] hist, int[] lens) {
    long bits = 0;
    for (int s = 0; s < 256; s++) {
      bits += (long) hist[s] * lens[s];
    }
    return bits;
  }

  /**
   * Writes, for the {@code n} two-byte little-endian elements at {@code src[srcOff]}, their low bytes to
   * {@code dst[lowAt, lowAt + n)} (a raw plane) and the block of their high bytes, exactly as {@link #encode} would
   * write it for that plane, at {@code dst[blockAt]}, in one pass over the elements and without a plane in between.
   * With {@code bf16} the planes are the exponent-first form: high byte {@code e}, low byte {@code s|m7}.
   * {@code hist[k]} is the histogram of stream {@code k}'s high bytes (it gives each stream's exact length, so all
   * four are written in place); {@code dst} must have 8 bytes of room after the block. Returns the block's length.
   */
  static int encodeMerged(byte[] src, int srcOff, int n, boolean bf16, int[][] hist, int[] lens, byte[] dst,
      int lowAt, int blockAt) {
    int[] from = new int[STREAMS + 1];
    int[] table = begin(lens, n, dst, blockAt, from);
    int[] start = streamStarts(hist, lens, dst, blockAt);
    int shift = bf16 ? 7 : 8;
    long lowMask = bf16 ? 0x007F007F007F007FL : 0x00FF00FF00FF00FFL;
    long signMask = bf16 ? 0x0080008000800080L : 0;
    // st: per stream its output position, pending bits and their count.
    long[] st = new long[3 * STREAMS + 1];
    for (int k = 0; k < STREAMS; k++) {
      st[3 * k] = start[k];
    }
    // The four advance together while every stream keeps at least 64 symbols (so 64 bits) after each 8-byte
    // write: no write reaches the next stream's bytes. Stream 3 is the shortest.
    int joint = Math.max(0, from[4] - from[3] - 64) & ~3;
    int[] pairs = joint > 0 ? pairs(table) : null;
    int calls = 0;
    for (int at = 0; at < joint; ) {
      int end = Math.min(joint, at + FloatCodec.batch(calls++, 4, 1 << 12));
      mergedJoint(src, srcOff, from, at, end, shift, lowMask, signMask, pairs, dst, lowAt, st);
      at = end;
    }
    for (int k = 0; k < STREAMS; k++) {
      long[] one = {st[3 * k], st[3 * k + 1], st[3 * k + 2]};
      int first = from[k] + joint;
      int last = from[k + 1];
      finishStream(start[k + 1], k, () -> codeEach(src, srcOff, first, last, bf16, table, dst, lowAt, one), dst,
          one);
    }
    return start[STREAMS] - blockAt;
  }

  /**
   * {@link #encodeMerged} with stream lengths not known beforehand: stream {@code k} is coded into a region of
   * {@code region[k]} bytes (the regions follow the block's stream-length fields back to back), then the streams are
   * moved together and their lengths written, so the block is exactly what {@link #encodeMerged} writes for these
   * code lengths. Returns the block's length, or -1 if a stream would outgrow its region or an element's high byte has
   * no code (length 0); {@code dst} then holds garbage and the caller encodes another way. {@code dst} must have 8
   * bytes of room after the last region.
   */
  static int encodeMergedInRegions(byte[] src, int srcOff, int n, boolean bf16, int[] lens, byte[] dst, int lowAt,
      int blockAt, int[] region) {
    int[] from = new int[STREAMS + 1];
    int[] table = begin(lens, n, dst, blockAt, from);
    long[] limit = new long[STREAMS];
    long[] st = new long[3 * STREAMS + 1];
    long at0 = blockAt + LENGTHS_BYTES + 4 * (STREAMS - 1);
    for (int k = 0; k < STREAMS; k++) {
      st[3 * k] = at0;
      at0 += region[k];
      limit[k] = at0;
    }
    int shift = bf16 ? 7 : 8;
    long lowMask = bf16 ? 0x007F007F007F007FL : 0x00FF00FF00FF00FFL;
    long signMask = bf16 ? 0x0080008000800080L : 0;
    int joint = Math.max(0, from[4] - from[3] - 64) & ~3;
    int[] pairs = joint > 0 ? pairs(table) : null;
    int calls = 0;
    for (int at = 0; at < joint; ) {
      int end = Math.min(joint, at + FloatCodec.batch(calls++, 4, 1 << 12));
      // a symbol takes at most MAX_LEN bits: room for the batch, and for the last 8-byte write, or give up
      for (int k = 0; k < STREAMS; k++) {
        if (st[3 * k] + (long) (end - at) * MAX_LEN / 8 + 16 > limit[k]) {
          return -1;
        }
      }
      mergedJoint(src, srcOff, from, at, end, shift, lowMask, signMask, pairs, dst, lowAt, st);
      if (st[3 * STREAMS] != 0) {
        return -1;
      }
      at = end;
    }
    int[] length = new int[STREAMS];
    for (int k = 0; k < STREAMS; k++) {
      int first = from[k] + joint;
      int last = from[k + 1];
      long[] one = {st[3 * k], st[3 * k + 1], st[3 * k + 2]};
      if (one[0] + (long) (last - first) * MAX_LEN / 8 + 16 > limit[k]
          || !codeEach(src, srcOff, first, last, bf16, table, dst, lowAt, one)) {
        return -1;
      }
      long o = one[0];
      if (one[2] > 0) {
        LONG_LE.set(dst, (int) o, one[1]);
        o++;
      }
      length[k] = (int) (o - (limit[k] - region[k]));
    }
    int to = blockAt + LENGTHS_BYTES + 4 * (STREAMS - 1) + length[0];
    for (int k = 1; k < STREAMS; k++) {
      System.arraycopy(dst, (int) (limit[k] - region[k]), dst, to, length[k]);
      to += length[k];
    }
    for (int k = 0; k < STREAMS - 1; k++) {
      INT_LE.set(dst, blockAt + LENGTHS_BYTES + 4 * k, length[k]);
    }
    return to - blockAt;
  }

  /**
   * Codes two-byte elements {@code [first, last)} one at a time, as {@link #encodeMerged} does: each low byte (plane
   * form) to {@code dst[lowAt + i]}, each high byte's code into the stream with state {@code one} (position, pending
   * bits, their count). False, at once, for an element whose high byte has no code.
   */
  private static boolean codeEach(byte[] src, int srcOff, int first, int last, boolean bf16, int[] table, byte[] dst,
      int lowAt, long[] one) {
    int shift = bf16 ? 7 : 8;
    for (int i = first; i < last; i++) {
      int u = (short) SHORT_LE.get(src, srcOff + 2 * i) & 0xFFFF;
      dst[lowAt + i] = (byte) (bf16 ? (u & 0x7F) | (u >>> 8 & 0x80) : u);
      int e = table[(u >>> shift) & 0xFF];
      if (e == 0) {
        return false;
      }
      long acc = one[1] | (long) (e & 0xFFFF) << one[2];
      int bits = (int) one[2] + (e >>> 16);
      int o = (int) one[0];
      LONG_LE.set(dst, o, acc);
      one[0] = o + (bits >>> 3);
      one[1] = acc >>> (bits & ~7);
      one[2] = bits & 7;
    }
    return true;
  }

  /**
   * Four elements of each of the four streams a round, elements {@code [from[k] + lo, from[k] + hi)}: their high
   * bytes coded (two per pair-table lookup), their low bytes stored.
   */
  private static void mergedJoint(byte[] src, int srcOff, int[] from, int lo, int hi, int shift, long lowMask,
      long signMask, int[] pairs, byte[] dst, int lowAt, long[] st) {
    int s0 = from[0];
    int s1 = from[1];
    int s2 = from[2];
    int s3 = from[3];
    int o0 = (int) st[0];
    long a0 = st[1];
    int n0 = (int) st[2];
    int o1 = (int) st[3];
    long a1 = st[4];
    int n1 = (int) st[5];
    int o2 = (int) st[6];
    long a2 = st[7];
    int n2 = (int) st[8];
    int o3 = (int) st[9];
    long a3 = st[10];
    int n3 = (int) st[11];
    // below zero once a pair had a symbol without a code (its entry is 0; every other entry is positive)
    int bad = 0;
    for (int i = lo; i < hi; i += 4) {
      long v0 = (long) LONG_LE.get(src, srcOff + 2 * (s0 + i));
      long v1 = (long) LONG_LE.get(src, srcOff + 2 * (s1 + i));
      long v2 = (long) LONG_LE.get(src, srcOff + 2 * (s2 + i));
      long v3 = (long) LONG_LE.get(src, srcOff + 2 * (s3 + i));
      INT_LE.set(dst, lowAt + s0 + i, gather(v0 & lowMask | v0 >>> 8 & signMask));
      INT_LE.set(dst, lowAt + s1 + i, gather(v1 & lowMask | v1 >>> 8 & signMask));
      INT_LE.set(dst, lowAt + s2 + i, gather(v2 & lowMask | v2 >>> 8 & signMask));
      INT_LE.set(dst, lowAt + s3 + i, gather(v3 & lowMask | v3 >>> 8 & signMask));
      long y0 = v0 >>> shift & 0x00FF00FF00FF00FFL;
      y0 |= y0 >>> 8;
      int e0 = pairs[(int) y0 & 0xFFFF];
      long y1 = v1 >>> shift & 0x00FF00FF00FF00FFL;
      y1 |= y1 >>> 8;
      int e1 = pairs[(int) y1 & 0xFFFF];
      long y2 = v2 >>> shift & 0x00FF00FF00FF00FFL;
      y2 |= y2 >>> 8;
      int e2 = pairs[(int) y2 & 0xFFFF];
      long y3 = v3 >>> shift & 0x00FF00FF00FF00FFL;
      y3 |= y3 >>> 8;
      int e3 = pairs[(int) y3 & 0xFFFF];
      bad |= (e0 - 1) | (e1 - 1) | (e2 - 1) | (e3 - 1);
      a0 |= (long) (e0 & 0xFFFFFF) << n0;
      a1 |= (long) (e1 & 0xFFFFFF) << n1;
      a2 |= (long) (e2 & 0xFFFFFF) << n2;
      a3 |= (long) (e3 & 0xFFFFFF) << n3;
      n0 += e0 >>> 24;
      n1 += e1 >>> 24;
      n2 += e2 >>> 24;
      n3 += e3 >>> 24;
      e0 = pairs[(int) (y0 >>> 32) & 0xFFFF];
      e1 = pairs[(int) (y1 >>> 32) & 0xFFFF];
      e2 = pairs[(int) (y2 >>> 32) & 0xFFFF];
      e3 = pairs[(int) (y3 >>> 32) & 0xFFFF];
      bad |= (e0 - 1) | (e1 - 1) | (e2 - 1) | (e3 - 1);
      a0 |= (long) (e0 & 0xFFFFFF) << n0;
      a1 |= (long) (e1 & 0xFFFFFF) << n1;
      a2 |= (long) (e2 & 0xFFFFFF) << n2;
      a3 |= (long) (e3 & 0xFFFFFF) << n3;
      n0 += e0 >>> 24;
      n1 += e1 >>> 24;
      n2 += e2 >>> 24;
      n3 += e3 >>> 24;
      LONG_LE.set(dst, o0, a0);
      LONG_LE.set(dst, o1, a1);
      LONG_LE.set(dst, o2, a2);
      LONG_LE.set(dst, o3, a3);
      o0 += n0 >>> 3;
      o1 += n1 >>> 3;
      o2 += n2 >>> 3;
      o3 += n3 >>> 3;
      a0 >>>= n0 & ~7;
      a1 >>>= n1 & ~7;
      a2 >>>= n2 & ~7;
      a3 >>>= n3 & ~7;
      n0 &= 7;
      n1 &= 7;
      n2 &= 7;
      n3 &= 7;
    }
    st[0] = o0;
    st[1] = a0;
    st[2] = n0;
    st[3] = o1;
    st[4] = a1;
    st[5] = n1;
    st[6] = o2;
    st[7] = a2;
    st[8] = n2;
    st[9] = o3;
    st[10] = a3;
    st[11] = n3;
    if (bad < 0) {
      st[12] = -1;
    }
  }

  /** Bytes 0, 2, 4 and 6 of {@code v}, packed into an int. */
  static int gather(long v) {
    long x = v & 0x00FF00FF00FF00FFL;
    x = (x | x >>> 8) & 0x0000FFFF0000FFFFL;
    return (int) (x | x >>> 16);
  }

  /**
   * Codes of two-symbol pairs, indexed by the pair read as a little-endian short (first symbol in the low byte):
   * bits 0-23 the first code then the second, bits 24-31 their total length.
   */
  private static int[] pairs(int[] table) {
    int[] pairs = new int[1 << 16];
    for (int a = 0; a < 256; a++) {
      int ea = table[a];
      if (ea == 0) {
        continue;
      }
      int la = ea >>> 16;
      for (int b = 0; b < 256; b++) {
        int eb = table[b];
        if (eb != 0) {
          pairs[a | b << 8] = ((ea & 0xFFFF) | (eb & 0xFFFF) << la) | (la + (eb >>> 16)) << 24;
        }
      }
    }
    return pairs;
  }

  /** Four symbols of each of the four streams a round, symbols {@code [from[k] + lo, from[k] + hi)}. */
  private static void encodeJoint(byte[] src, int[] from, int lo, int hi, int[] pairs, byte[] dst, byte[] side,
      long[] st) {
    int s0 = from[0];
    int s1 = from[1];
    int s2 = from[2];
    int s3 = from[3];
    int o0 = (int) st[0];
    long a0 = st[1];
    int n0 = (int) st[2];
    int o1 = (int) st[3];
    long a1 = st[4];
    int n1 = (int) st[5];
    int o2 = (int) st[6];
    long a2 = st[7];
    int n2 = (int) st[8];
    int o3 = (int) st[9];
    long a3 = st[10];
    int n3 = (int) st[11];
    for (int i = lo; i < hi; i += 4) {
      for (int j = 0; j < 4; j += 2) {
        int e0 = pairs[(short) SHORT_LE.get(src, s0 + i + j) & 0xFFFF];
        int e1 = pairs[(short) SHORT_LE.get(src, s1 + i + j) & 0xFFFF];
        int e2 = pairs[(short) SHORT_LE.get(src, s2 + i + j) & 0xFFFF];
        int e3 = pairs[(short) SHORT_LE.get(src, s3 + i + j) & 0xFFFF];
        a0 |= (long) (e0 & 0xFFFFFF) << n0;
        a1 |= (long) (e1 & 0xFFFFFF) << n1;
        a2 |= (long) (e2 & 0xFFFFFF) << n2;
        a3 |= (long) (e3 & 0xFFFFFF) << n3;
        n0 += e0 >>> 24;
        n1 += e1 >>> 24;
        n2 += e2 >>> 24;
        n3 += e3 >>> 24;
      }
      LONG_LE.set(dst, o0, a0);
      LONG_LE.set(side, o1, a1);
      LONG_LE.set(side, o2, a2);
      LONG_LE.set(side, o3, a3);
      o0 += n0 >>> 3;
      o1 += n1 >>> 3;
      o2 += n2 >>> 3;
      o3 += n3 >>> 3;
      a0 >>>= n0 & ~7;
      a1 >>>= n1 & ~7;
      a2 >>>= n2 & ~7;
      a3 >>>= n3 & ~7;
      n0 &= 7;
      n1 &= 7;
      n2 &= 7;
      n3 &= 7;
    }
    st[0] = o0;
    st[1] = a0;
    st[2] = n0;
    st[3] = o1;
    st[4] = a1;
    st[5] = n1;
    st[6] = o2;
    st[7] = a2;
    st[8] = n2;
    st[9] = o3;
    st[10] = a3;
    st[11] = n3;
  }

  private static void encodeBatch(byte[] src, int from, int to, int[] table, byte[] dst, long[] st) {
    int o = (int) st[0];
    long acc = st[1];
    int bits = (int) st[2];
    int i = from;
    for (; i + 4 <= to; i += 4) {
      int e0 = table[src[i] & 0xFF];
      int e1 = table[src[i + 1] & 0xFF];
      int e2 = table[src[i + 2] & 0xFF];
      int e3 = table[src[i + 3] & 0xFF];
      acc |= (long) (e0 & 0xFFFF) << bits;
      bits += e0 >>> 16;
      acc |= (long) (e1 & 0xFFFF) << bits;
      bits += e1 >>> 16;
      acc |= (long) (e2 & 0xFFFF) << bits;
      bits += e2 >>> 16;
      acc |= (long) (e3 & 0xFFFF) << bits;
      bits += e3 >>> 16;
      LONG_LE.set(dst, o, acc);
      int whole = bits >>> 3;
      o += whole;
      acc >>>= whole << 3;
      bits &= 7;
    }
    for (; i < to; i++) {
      int e = table[src[i] & 0xFF];
      acc |= (long) (e & 0xFFFF) << bits;
      bits += e >>> 16;
      LONG_LE.set(dst, o, acc);
      int whole = bits >>> 3;
      o += whole;
      acc >>>= whole << 3;
      bits &= 7;
    }
    st[0] = o;
    st[1] = acc;
    st[2] = bits;
  }

  /**
   * Decodes a block of {@code len} bytes at {@code in[off]} into {@code out[0, n)}; {@code out} must hold at least
   * {@code n} bytes. {@code in} needs no padding after the block.
   *
   * @throws IOException if the lengths are not a valid code or the streams do not hold exactly n symbols
   */
  static void decode(byte[] in, int off, int len, byte[] out, int n) throws IOException {
    int[] lens = lengths(in, off, len);
    int[] single = singleTable(lens);
    if (n < MULTI_FROM) {
      long[] st = new long[8];
      long[] lim = new long[8];
      bounds(in, off, len, n, st, lim);
      for (int k = 0; k < STREAMS; k++) {
        finish(in, st[k], lim[k], single, out, (int) st[4 + k], streamStart(n, k + 1), k);
      }
      return;
    }
    long[] multi = new long[TABLE_SIZE];
    for (int idx = 0; idx < TABLE_SIZE; idx++) {
      long packed = 0;
      int used = 0;
      int count = 0;
      while (count < 4) {
        int e = single[(idx >>> used) & TABLE_MASK];
        int l = (e >>> 8) & 15;
        if ((e >>> 12) == 0 || used + l > MAX_LEN) {
          if (count == 0) {
            used = l;
          }
          break;
        }
        packed |= (long) (e & 0xFF) << (8 * count);
        used += l;
        count++;
      }
      multi[idx] = packed | (long) count << 32 | (long) used << 40;
    }
    long[] st = new long[8];
    long[] lim = new long[8];
    bounds(in, off, len, n, st, lim);
    long safe = ((long) in.length - 8) << 3;
    // Bounded batches in a small method: it is called often enough to be compiled early as a whole method, rather
    // than as an on-stack replacement of one long loop. The caller, not the loop, decides how many rounds are safe
    // (a round takes at most 16 symbols and 48 bits of a stream), so the loop has no exits that only the end of a
    // plane takes: no deoptimisation when it first does.
    while (true) {
      int max = Math.min(64, safeRounds(st, lim, safe, 16));
      if (max <= 0) {
        break;
      }
      rounds(in, multi, out, st, max);
    }
    for (int k = 0; k < STREAMS; k++) {
      finish(in, st[k], lim[k], single, out, (int) st[4 + k], streamStart(n, k + 1), k);
    }
  }

  /**
   * Decodes a block of {@code len} bytes at {@code in[off]} holding the high bytes of {@code n} two-byte elements
   * whose low bytes are {@code low[lowOff, lowOff + n)}, and writes the elements into {@code out} (little endian),
   * element {@code i} at index {@code at + 2i}, without a decoded plane in between: batches of symbols are decoded
   * into their elements' high bytes (in {@code out}'s array, or a small staging block for a direct buffer) and the
   * low bytes are merged in while those are still in cache. With {@code bf16} the planes hold the exponent-first form
   * ({@code high = e}, {@code low = s|m7}) and the elements are written as BF16 ({@code s|e|m7}); otherwise high and
   * low bytes are written as they are.
   *
   * @throws IOException if the lengths are not a valid code or the streams do not hold exactly n symbols
   */
  static void decodeMerged(byte[] in, int off, int len, byte[] low, int lowOff, int n, boolean bf16, ByteBuffer out,
      int at) throws IOException {
    int[] lens = lengths(in, off, len);
    int[] single = singleTable(lens);
    long[] st = new long[8];
    long[] lim = new long[8];
    bounds(in, off, len, n, st, lim);
    if (n < MULTI_FROM) {
      ByteBuffer ob = out.duplicate().order(ByteOrder.LITTLE_ENDIAN);
      for (int k = 0; k < STREAMS; k++) {
        finishMerged(in, st[k], lim[k], single, low, lowOff, bf16, ob, at, (int) st[4 + k], streamStart(n, k + 1),
            k);
      }
      return;
    }
    long[] table = mergedTable(single, bf16);
    long safe = ((long) in.length - 8) << 3;
    long mul = bf16 ? 0xFF : 0;
    boolean heap = out.hasArray();
    // The rounds write at byte positions of dst: out's array, or the staging block (one slot per stream).
    byte[] dst = heap ? out.array() : new byte[STREAMS * STAGE_SLOT];
    int base = heap ? out.arrayOffset() + at : 0;
    // pos: element index per stream where the current batch started; o: the byte positions the rounds write at.
    int[] pos = new int[STREAMS];
    long[] o = new long[4];
    int calls = 0;
    for (int k = 0; k < STREAMS; k++) {
      pos[k] = (int) st[4 + k];
    }
    while (true) {
      int max = Math.min(FloatCodec.batch(calls++, 1, STAGE_ROUNDS), safeRounds(st, lim, safe, 16));
      if (max <= 0) {
        break;
      }
      // o[k]: where element 0 of stream k would be in dst, so that element i is at o[k] + 2i.
      for (int k = 0; k < STREAMS; k++) {
        o[k] = heap ? base : (long) k * STAGE_SLOT - 2L * pos[k];
      }
      mergedRounds(in, table, low, lowOff, dst, st, o, max, mul);
      for (int k = 0; k < STREAMS; k++) {
        int count = (int) st[4 + k] - pos[k];
        if (!heap) {
          out.put(at + 2 * pos[k], dst, k * STAGE_SLOT, 2 * count);
        }
        pos[k] += count;
      }
    }
    ByteBuffer ob = out.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    for (int k = 0; k < STREAMS; k++) {
      finishMerged(in, st[k], lim[k], single, low, lowOff, bf16, ob, at, pos[k], streamStart(n, k + 1), k);
    }
  }

  /** Rounds per batch of {@link #decodeMerged}, and the staging bytes per stream they need (16 elements a round). */
  private static final int STAGE_ROUNDS = 64;
  private static final int STAGE_SLOT = STAGE_ROUNDS * 32 + 16;

  /**
   * Lookup table for {@link #mergedRounds}: per 12-bit index, the high-byte contribution of up to four whole symbols
   * as four little-endian 16-bit elements (BF16: {@code (e >> 1) << 8 | (e & 1) << 7}; else {@code e << 8}), bits 0-3
   * the bits they use and bits 4-6 how many there are (those bits of every contribution are zero).
   */
  private static long[] mergedTable(int[] single, boolean bf16) {
    long[] t = new long[TABLE_SIZE];
    for (int idx = 0; idx < TABLE_SIZE; idx++) {
      long packed = 0;
      int used = 0;
      int count = 0;
      while (count < 4) {
        int e = single[(idx >>> used) & TABLE_MASK];
        int l = (e >>> 8) & 15;
        if ((e >>> 12) == 0 || used + l > MAX_LEN) {
          if (count == 0) {
            used = l;
          }
          break;
        }
        int s = e & 0xFF;
        long c = bf16 ? s << 7 : s << 8;
        packed |= c << (16 * count);
        used += l;
        count++;
      }
      t[idx] = packed | used | count << 4;
    }
    return t;
  }

  /** The code lengths of a block, checked: each at most MAX_LEN, at least two symbols, Kraft sum at most 1. */
  private static int[] lengths(byte[] in, int off, int len) throws IOException {
    int header = LENGTHS_BYTES + 4 * (STREAMS - 1);
    if (len < header) {
      throw new IOException("huffman block of " + len + " bytes is shorter than its " + header + "-byte header");
    }
    int[] lens = new int[256];
    long kraft = 0;
    int present = 0;
    for (int i = 0; i < LENGTHS_BYTES; i++) {
      int b = in[off + i] & 0xFF;
      lens[2 * i] = b & 15;
      lens[2 * i + 1] = b >>> 4;
    }
    for (int s = 0; s < 256; s++) {
      int l = lens[s];
      if (l > MAX_LEN) {
        throw new IOException("huffman code length " + l + " for symbol " + s + " exceeds " + MAX_LEN);
      }
      if (l != 0) {
        kraft += 1L << (MAX_LEN - l);
        present++;
      }
    }
    if (present < 2 || kraft > TABLE_SIZE) {
      throw new IOException("huffman code table is invalid (" + present + " symbols, Kraft sum " + kraft + "/"
          + TABLE_SIZE + ")");
    }
    return lens;
  }

  /** One symbol per lookup: bits 0-7 the symbol, 8-11 its length, bit 12 set if a code reaches the index. */
  private static int[] singleTable(int[] lens) {
    int[] single = new int[TABLE_SIZE];
    // Indexes no code reaches (only in corrupt, incomplete tables) consume MAX_LEN bits and emit nothing, so the
    // decoder runs off the end of the stream and reports it.
    Arrays.fill(single, MAX_LEN << 8);
    int[] table = codes(lens);
    for (int s = 0; s < 256; s++) {
      int l = lens[s];
      if (l != 0) {
        int code = table[s] & 0xFFFF;
        int entry = s | l << 8 | 1 << 12;
        for (int j = code; j < TABLE_SIZE; j += 1 << l) {
          single[j] = entry;
        }
      }
    }
    return single;
  }

  /**
   * Fills st with the four streams' start bits and first symbols, lim with their end bits and the last symbol index
   * at which a round of at most 16 symbols still fits before the next stream's first symbol.
   */
  private static void bounds(byte[] in, int off, int len, int n, long[] st, long[] lim) throws IOException {
    int header = LENGTHS_BYTES + 4 * (STREAMS - 1);
    long at = off + header;
    for (int k = 0; k < STREAMS; k++) {
      long start = at;
      at = k < STREAMS - 1 ? at + Integer.toUnsignedLong((int) INT_LE.get(in, off + LENGTHS_BYTES + 4 * k))
          : off + (long) len;
      if (at < start || at > off + (long) len) {
        throw new IOException("huffman stream " + k + " lengths exceed the " + len + "-byte block");
      }
      st[k] = start << 3;
      st[4 + k] = streamStart(n, k);
      lim[k] = at << 3;
      lim[4 + k] = streamStart(n, k + 1) - 16;
    }
  }

  /**
   * Rounds every stream can still take: a round reads 8 bytes at each stream's byte position (never past the
   * array: {@code safe} is the last bit position where that is allowed), takes at most 48 bits of each stream
   * (stopping at its end) and emits at most {@code step} symbols (stopping before the next stream's first).
   */
  private static int safeRounds(long[] st, long[] lim, long safe, int step) {
    long max = 1024;
    for (int k = 0; k < STREAMS; k++) {
      max = Math.min(max, roundsWithin(lim[4 + k] - st[4 + k], step));
      max = Math.min(max, roundsWithin(lim[k] - st[k], 48));
      max = Math.min(max, roundsWithin(safe - st[k], 48));
    }
    return (int) max;
  }

  /** Rounds that can start within {@code slack} when each takes at most {@code step}. */
  private static long roundsWithin(long slack, int step) {
    return slack < 0 ? 0 : slack / step + 1;
  }

  /** Exactly {@code max} rounds of the four-stream decode; the caller has checked that they fit. */
  private static void rounds(byte[] in, long[] multi, byte[] out, long[] st, int max) {
    long b0 = st[0];
    long b1 = st[1];
    long b2 = st[2];
    long b3 = st[3];
    int o0 = (int) st[4];
    int o1 = (int) st[5];
    int o2 = (int) st[6];
    int o3 = (int) st[7];
    // Four independent streams per round keep four dependency chains in flight; each round decodes one 57-bit window
    // per stream (at most four lookups of at most 12 bits).
    for (int round = 0; round < max; round++) {
      long w0 = (long) LONG_LE.get(in, (int) (b0 >>> 3)) >>> (b0 & 7);
      long w1 = (long) LONG_LE.get(in, (int) (b1 >>> 3)) >>> (b1 & 7);
      long w2 = (long) LONG_LE.get(in, (int) (b2 >>> 3)) >>> (b2 & 7);
      long w3 = (long) LONG_LE.get(in, (int) (b3 >>> 3)) >>> (b3 & 7);
      for (int r = 0; r < 4; r++) {
        long e0 = multi[(int) w0 & TABLE_MASK];
        long e1 = multi[(int) w1 & TABLE_MASK];
        long e2 = multi[(int) w2 & TABLE_MASK];
        long e3 = multi[(int) w3 & TABLE_MASK];
        INT_LE.set(out, o0, (int) e0);
        INT_LE.set(out, o1, (int) e1);
        INT_LE.set(out, o2, (int) e2);
        INT_LE.set(out, o3, (int) e3);
        o0 += (int) (e0 >>> 32) & 7;
        o1 += (int) (e1 >>> 32) & 7;
        o2 += (int) (e2 >>> 32) & 7;
        o3 += (int) (e3 >>> 32) & 7;
        int l0 = (int) (e0 >>> 40);
        int l1 = (int) (e1 >>> 40);
        int l2 = (int) (e2 >>> 40);
        int l3 = (int) (e3 >>> 40);
        w0 >>>= l0;
        w1 >>>= l1;
        w2 >>>= l2;
        w3 >>>= l3;
        b0 += l0;
        b1 += l1;
        b2 += l2;
        b3 += l3;
      }
    }
    st[0] = b0;
    st[1] = b1;
    st[2] = b2;
    st[3] = b3;
    st[4] = o0;
    st[5] = o1;
    st[6] = o2;
    st[7] = o3;
  }

  /**
   * Exactly {@code max} rounds of the four-stream merged decode; the caller has checked that they fit. Each lookup
   * yields up to four elements: the table's high-byte contributions OR the next four low bytes spread to 16-bit
   * lanes, one 8-byte write at {@code o[k] + 2i}; the next lookup's write starts after the elements that were whole.
   */
  private static void mergedRounds(byte[] in, long[] t, byte[] low, int lowOff, byte[] dst, long[] st, long[] o,
      int max, long mul) {
    long b0 = st[0];
    long b1 = st[1];
    long b2 = st[2];
    long b3 = st[3];
    int i0 = (int) st[4];
    int i1 = (int) st[5];
    int i2 = (int) st[6];
    int i3 = (int) st[7];
    int d0 = (int) o[0];
    int d1 = (int) o[1];
    int d2 = (int) o[2];
    int d3 = (int) o[3];
    for (int round = 0; round < max; round++) {
      long w0 = (long) LONG_LE.get(in, (int) (b0 >>> 3)) >>> (b0 & 7);
      long w1 = (long) LONG_LE.get(in, (int) (b1 >>> 3)) >>> (b1 & 7);
      long w2 = (long) LONG_LE.get(in, (int) (b2 >>> 3)) >>> (b2 & 7);
      long w3 = (long) LONG_LE.get(in, (int) (b3 >>> 3)) >>> (b3 & 7);
      for (int r = 0; r < 4; r++) {
        long e0 = t[(int) w0 & TABLE_MASK];
        long e1 = t[(int) w1 & TABLE_MASK];
        long e2 = t[(int) w2 & TABLE_MASK];
        long e3 = t[(int) w3 & TABLE_MASK];
        int u0 = (int) e0 & 15;
        int u1 = (int) e1 & 15;
        int u2 = (int) e2 & 15;
        int u3 = (int) e3 & 15;
        w0 >>>= u0;
        w1 >>>= u1;
        w2 >>>= u2;
        w3 >>>= u3;
        b0 += u0;
        b1 += u1;
        b2 += u2;
        b3 += u3;
        LONG_LE.set(dst, d0 + 2 * i0, e0 & ~0x7FL | lanes((int) INT_LE.get(low, lowOff + i0), mul));
        LONG_LE.set(dst, d1 + 2 * i1, e1 & ~0x7FL | lanes((int) INT_LE.get(low, lowOff + i1), mul));
        LONG_LE.set(dst, d2 + 2 * i2, e2 & ~0x7FL | lanes((int) INT_LE.get(low, lowOff + i2), mul));
        LONG_LE.set(dst, d3 + 2 * i3, e3 & ~0x7FL | lanes((int) INT_LE.get(low, lowOff + i3), mul));
        i0 += (int) e0 >>> 4 & 7;
        i1 += (int) e1 >>> 4 & 7;
        i2 += (int) e2 >>> 4 & 7;
        i3 += (int) e3 >>> 4 & 7;
      }
    }
    st[0] = b0;
    st[1] = b1;
    st[2] = b2;
    st[3] = b3;
    st[4] = i0;
    st[5] = i1;
    st[6] = i2;
    st[7] = i3;
  }

  /** The low four bytes of {@code b} in the low bytes of four 16-bit lanes; {@code mul = 0xFF} moves bit 7 to 15. */
  private static long lanes(int b, long mul) {
    long x = b & 0xFFFFFFFFL;
    x = (x | x << 16) & 0x0000FFFF0000FFFFL;
    x = (x | x << 8) & 0x00FF00FF00FF00FFL;
    return x + (x & 0x0080008000800080L) * mul;
  }

  /** Eight little-endian bytes at {@code at}, zeros past the end of {@code in}. */
  private static long window(byte[] in, int at) {
    if (at + 8 <= in.length) {
      return (long) LONG_LE.get(in, at);
    }
    long w = 0;
    for (int i = Math.min(in.length, at + 8) - 1; i >= at; i--) {
      w = w << 8 | (in[i] & 0xFF);
    }
    return w;
  }

  /** Decodes the rest of one stream a symbol at a time and checks that it ends in its last byte. */
  private static void finish(byte[] in, long bitPos, long limit, int[] single, byte[] out, int o, int to, int k)
      throws IOException {
    while (o < to) {
      if (bitPos > limit) {
        throw new IOException("huffman stream " + k + " ends before its symbols do");
      }
      long w = window(in, (int) (bitPos >>> 3)) >>> (bitPos & 7);
      int e = single[(int) w & TABLE_MASK];
      if ((e >>> 12) != 0) {
        out[o++] = (byte) e;
      }
      bitPos += (e >>> 8) & 15;
    }
    checkEnd(bitPos, limit, k);
  }

  /** {@link #finish} for {@link #decodeMerged}: writes whole elements. */
  private static void finishMerged(byte[] in, long bitPos, long limit, int[] single, byte[] low, int lowOff,
      boolean bf16, ByteBuffer out, int at, int i, int to, int k) throws IOException {
    while (i < to) {
      if (bitPos > limit) {
        throw new IOException("huffman stream " + k + " ends before its symbols do");
      }
      long w = window(in, (int) (bitPos >>> 3)) >>> (bitPos & 7);
      int e = single[(int) w & TABLE_MASK];
      if ((e >>> 12) != 0) {
        int h = e & 0xFF;
        int l = low[lowOff + i] & 0xFF;
        int v = bf16 ? (l & 0x80) << 8 | h << 7 | (l & 0x7F) : h << 8 | l;
        out.putShort(at + 2 * i, (short) v);
        i++;
      }
      bitPos += (e >>> 8) & 15;
    }
    checkEnd(bitPos, limit, k);
  }

  private static void checkEnd(long bitPos, long limit, int k) throws IOException {
    if (((bitPos + 7) >>> 3) != (limit >>> 3)) {
      throw new IOException("huffman stream " + k + " ends at byte " + (limit >>> 3) + " but its symbols end at byte "
          + ((bitPos + 7) >>> 3));
    }
  }
}
