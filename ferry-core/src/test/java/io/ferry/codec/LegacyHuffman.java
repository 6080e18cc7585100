package io.ferry.codec;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
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
final class LegacyHuffman {
  static final int MAX_LEN = 12;
  static final int LENGTHS_BYTES = 128;
  static final int STREAMS = 4;
  private static final int TABLE_SIZE = 1 << MAX_LEN;
  private static final int TABLE_MASK = TABLE_SIZE - 1;
  private static final VarHandle LONG_LE =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle INT_LE = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

  private LegacyHuffman() {}

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
   * Writes the block for {@code src[0, n)} at {@code dst[off]}; {@code dst} must have {@link #blockSize} plus 8 bytes
   * of room. Returns the number of bytes of the block.
   */
  static int encode(byte[] src, int n, int[] lens, byte[] dst, int off) {
    for (int i = 0; i < LENGTHS_BYTES; i++) {
      dst[off + i] = (byte) (lens[2 * i] | lens[2 * i + 1] << 4);
    }
    int[] table = codes(lens);
    int o = off + LENGTHS_BYTES + 4 * (STREAMS - 1);
    for (int k = 0; k < STREAMS; k++) {
      int end = encodeStream(src, streamStart(n, k), streamStart(n, k + 1), table, dst, o);
      if (k < STREAMS - 1) {
        INT_LE.set(dst, off + LENGTHS_BYTES + 4 * k, end - o);
      }
      o = end;
    }
    return o - off;
  }

  private static int encodeStream(byte[] src, int from, int to, int[] table, byte[] dst, int o) {
    long acc = 0;
    int bits = 0;
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
    if (bits > 0) {
      LONG_LE.set(dst, o, acc);
      o++;
    }
    return o;
  }

  /**
   * Decodes a block of {@code len} bytes at {@code in[off]} into {@code out[0, n)}. {@code in} must hold at least 8
   * readable bytes past the block (padding), {@code out} at least {@code n}.
   *
   * @throws IOException if the lengths are not a valid code or the streams do not hold exactly n symbols
   */
  static void decode(byte[] in, int off, int len, byte[] out, int n) throws IOException {
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
    // Up to four symbols per lookup: bits 0-31 the symbols, 32-34 how many, 40-43 the bits they use.
    long[] multi = new long[TABLE_SIZE];
    for (int idx = 0; idx < TABLE_SIZE; idx++) {
      int e1 = single[idx];
      int used = (e1 >>> 8) & 15;
      int count = e1 >>> 12;
      long packed = e1 & 0xFF;
      for (int k = 1; k < 4 && count == k; k++) {
        int e = single[(idx >>> used) & TABLE_MASK];
        int l = (e >>> 8) & 15;
        if ((e >>> 12) == 0 || used + l > MAX_LEN) {
          break;
        }
        packed |= (long) (e & 0xFF) << (8 * k);
        used += l;
        count++;
      }
      multi[idx] = packed | (long) count << 32 | (long) used << 40;
    }

    // Stream k starts at byte start[k] and ends at end[k]; the streams tile the block after the header.
    long[] start = new long[STREAMS];
    long[] end = new long[STREAMS];
    long at = off + header;
    for (int k = 0; k < STREAMS; k++) {
      start[k] = at;
      at = k < STREAMS - 1 ? at + Integer.toUnsignedLong((int) INT_LE.get(in, off + LENGTHS_BYTES + 4 * k))
          : off + (long) len;
      end[k] = at;
      if (end[k] < start[k] || end[k] > off + (long) len) {
        throw new IOException("huffman stream " + k + " lengths exceed the " + len + "-byte block");
      }
    }
    long b0 = start[0] << 3;
    long b1 = start[1] << 3;
    long b2 = start[2] << 3;
    long b3 = start[3] << 3;
    int o0 = streamStart(n, 0);
    int o1 = streamStart(n, 1);
    int o2 = streamStart(n, 2);
    int o3 = streamStart(n, 3);
    long lim0 = end[0] << 3;
    long lim1 = end[1] << 3;
    long lim2 = end[2] << 3;
    long lim3 = end[3] << 3;
    int fast0 = o1 - 16;
    int fast1 = o2 - 16;
    int fast2 = o3 - 16;
    int fast3 = n - 16;
    // Four independent streams per round keep four dependency chains in flight; each round decodes one 57-bit window
    // per stream (at most four lookups of at most 12 bits).
    while (o0 <= fast0 && o1 <= fast1 && o2 <= fast2 && o3 <= fast3) {
      if (b0 > lim0 || b1 > lim1 || b2 > lim2 || b3 > lim3) {
        throw new IOException("huffman stream ends before its symbols do");
      }
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
    finish(in, b0, lim0, single, out, o0, streamStart(n, 1), 0);
    finish(in, b1, lim1, single, out, o1, streamStart(n, 2), 1);
    finish(in, b2, lim2, single, out, o2, streamStart(n, 3), 2);
    finish(in, b3, lim3, single, out, o3, n, 3);
  }

  /** Decodes the rest of one stream a symbol at a time and checks that it ends in its last byte. */
  private static void finish(byte[] in, long bitPos, long limit, int[] single, byte[] out, int o, int to, int k)
      throws IOException {
    while (o < to) {
      if (bitPos > limit) {
        throw new IOException("huffman stream " + k + " ends before its symbols do");
      }
      long w = (long) LONG_LE.get(in, (int) (bitPos >>> 3)) >>> (bitPos & 7);
      int e = single[(int) w & TABLE_MASK];
      if ((e >>> 12) != 0) {
        out[o++] = (byte) e;
      }
      bitPos += (e >>> 8) & 15;
    }
    if (((bitPos + 7) >>> 3) != (limit >>> 3)) {
      throw new IOException("huffman stream " + k + " ends at byte " + (limit >>> 3) + " but its symbols end at byte "
          + ((bitPos + 7) >>> 3));
    }
  }
}
