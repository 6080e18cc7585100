package io.ferry.codec;

import com.github.luben.zstd.Zstd;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.function.IntFunction;
import java.util.zip.CRC32C;

/**
 * Lossless codec for floating-point tensors: splits the elements of a chunk into byte planes (plane {@code k} holds
 * byte {@code k} of every little-endian element) and stores each plane with whichever of raw bytes, a constant, an
 * order-0 {@linkplain Huffman Huffman code} or zstd level 1 is smallest. Exponent bytes of trained weights carry about
 * 3 bits of information and compress to well under half; mantissa bytes are close to random and are stored raw.
 *
 * <p>Applies to the safetensors dtypes {@code BF16}, {@code F16} (2-byte elements), {@code F32} (4-byte) and
 * {@code F8_E4M3}, {@code F8_E5M2}, {@code F8_E8M0} (1-byte: a single plane, entropy-coded as a whole). For other
 * hints {@link #encode} returns null. Decoding needs no hint: the payload describes itself.
 *
 * <p>For {@code BF16} and {@code F32} the element is first rearranged so that the whole 8-bit exponent fills the top
 * byte and the sign takes the exponent's lowest bit's place, ZipNN-style: {@code BF16 s|eeeeeeee|mmmmmmm} becomes
 * {@code eeeeeeee|s|mmmmmmm}, and {@code F32 s|e8|m23} becomes {@code e8|s|m23}. The exponent plane then holds the
 * exponent alone (no sign bit, no split bit), and the sign joins the incompressible mantissa plane. {@code F16}
 * (5-bit exponent) is split as it is.
 *
 * <h2>Payload layout (storage format: never change it; add a new version byte instead)</h2>
 *
 * All integers little-endian.
 *
 * <pre>
 * offset        size  field
 * 0             1     format version, 1
 * 1             1     layout: bits 0-3 element width w (1, 2 or 4); bits 4-7 transform (0 none, 1 exponent byte,
 *                     only with w = 2 or 4)
 * 2             4     raw length L in bytes (unsigned, below 2^31); there are n = L / w elements and L mod w tail bytes
 * 6             5*w   per plane k = 0..w-1: 1 byte method, 4 bytes stored length of the plane
 * 6+5w          4     CRC32C of bytes [0, 6+5w)
 * 10+5w         ...   plane payloads in plane order, then the tail bytes as they are
 * </pre>
 *
 * Methods: 0 raw (n bytes), 1 constant (1 byte, repeated n times), 2 Huffman ({@link Huffman} block), 3 zstd (one
 * zstd frame holding n bytes). The payload ends right after the tail; its length must be exactly the header, plus the
 * stored plane lengths, plus the tail.
 *
 * <p>Decoding checks the header CRC, every length and every plane's decoded size, and throws {@link IOException} on
 * any mismatch. A bit flip inside a Huffman or zstd stream may still decode to wrong bytes of the right length; the
 * frame checksum of the chunk catches that.
 *
 * <h2>Reference ratios</h2>
 *
 * ZipNN (Hershcovitch et al., "ZipNN: Lossless Compression for AI Models", arXiv:2411.05239v2) reports "often saving
 * 33%" on popular BF16 models (stored/original ≈ 0.67) and 0.83 for regular FP32 models as tabulated in third-party
 * comparisons; measurements of this codec are in {@code docs/codecs.md}.
 *
 * <p>Thread-safe and keeps nothing between chunks. The usual BF16/F16 chunk (low bytes stored raw, high bytes with
 * Huffman) is encoded without planes, from two passes over the elements straight into the payload, and decoded
 * straight into the output: apart from the payload, an encode or a decode holds only tables and a staging block of a
 * few hundred KiB. Other chunks go plane by plane and hold their planes (at most the chunk's size) while they run.
 */
public final class FloatCodec implements Codec {
  public static final int ID = 2;
  static final int VERSION = 1;
  static final int RAW = 0;
  static final int CONST = 1;
  static final int HUFFMAN = 2;
  static final int ZSTD = 3;
  private static final int PLANE_ZSTD_LEVEL = 1;
  /** Huffman is kept over raw bytes only if it saves at least 2% of the plane (decoding raw is a copy). */
  private static final double HUFFMAN_KEEP = 0.98;
  private static final int ZSTD_SAMPLE = 64 * 1024;
  private static final int PAD = 8;
  /** Elements bytes per batch of split and merge, staged there between a direct buffer and the planes (small enough that the batch method is called about 600 times, the count after which C2 compiles it, within the first 64 MiB chunk). */
  private static final int STAGE = 8 * 1024;
  private static final VarHandle LONG_LE = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle INT_LE = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

  @Override
  public int id() {
    return ID;
  }

  @Override
  public String name() {
    return "float";
  }

  /** Element width in bytes for a dtype this codec handles, 0 for any other (including null). */
  public static int elementWidth(String dtype) {
    if (dtype == null) {
      return 0;
    }
    switch (dtype) {
      case "F8_E4M3":
      case "F8_E5M2":
      case "F8_E8M0":
        return 1;
      case "BF16":
      case "F16":
        return 2;
      case "F32":
        return 4;
      default:
        return 0;
    }
  }

  /** True if {@link #encode} applies to chunks with this hint. */
  public static boolean handles(ChunkHint hint) {
    return hint != null && elementWidth(hint.dtype()) != 0;
  }

  @Override
  public ByteBuffer encode(ByteBuffer raw, ChunkHint hint) {
    return encode(raw, hint, byte[]::new);
  }

  /**
   * As {@link #encode(ByteBuffer, ChunkHint)}, with the payload written into an array {@code arrays} gives for its
   * length (an array at least that long, which may hold anything: every byte of the payload is written); the payload
   * returned is a slice of it from index 0. {@code arrays} may be asked more than once (a path that gives up for
   * another), and only the last array asked for holds the payload, so it may give the same array each time. A caller
   * that encodes chunk after chunk gives the same few arrays again (push's pool of payload arrays), so that a 64 MiB
   * chunk's payload is not a new array each time, which the garbage collector then copied out of the young
   * generation. Every other array the encode needs is its own and small, except the planes of the plane-by-plane
   * path.
   */
  public ByteBuffer encode(ByteBuffer raw, ChunkHint hint, IntFunction<byte[]> arrays) {
    if (!handles(hint)) {
      return null;
    }
    int w = elementWidth(hint.dtype());
    int transform = ("BF16".equals(hint.dtype()) || "F32".equals(hint.dtype())) ? 1 : 0;
    int length = raw.remaining();
    int n = length / w;
    if (w == 2 && n > ZSTD_SAMPLE && raw.hasArray()) {
      ByteBuffer merged = encodeTwoByte(raw.array(), raw.arrayOffset() + raw.position(), length, transform != 0,
          arrays);
      if (merged != null) {
        return merged;
      }
    }
    byte[][] planes = new byte[w][];
    for (int k = 0; k < w; k++) {
      planes[k] = new byte[n];
    }
    byte[] tail = new byte[length - n * w];
    if (raw.hasArray()) {
      int at = raw.arrayOffset() + raw.position();
      int per = STAGE / w;
      for (int i = 0; i < n; i += per) {
        split(raw.array(), at + i * w, i, Math.min(per, n - i), w, transform, planes);
      }
      System.arraycopy(raw.array(), at + n * w, tail, 0, tail.length);
    } else {
      // A direct input goes through a small staging array a block at a time: no chunk-sized copy.
      ByteBuffer r = raw.duplicate();
      byte[] stage = new byte[STAGE];
      int per = stage.length / w;
      for (int i = 0; i < n; i += per) {
        int count = Math.min(per, n - i);
        r.get(stage, 0, count * w);
        split(stage, 0, i, count, w, transform, planes);
      }
      r.get(tail);
    }

    int headerLen = 10 + 5 * w;
    byte[][] stored = new byte[w][];
    int[] storedLen = new int[w];
    int[] method = new int[w];
    long total = headerLen + tail.length;
    for (int k = 0; k < w; k++) {
      encodePlane(planes[k], n, k, stored, storedLen, method);
      total += storedLen[k];
      if (stored[k] != planes[k]) {
        planes[k] = null; // coded elsewhere: the plane can go before the next one is coded
      }
    }

    byte[] out = arrays.apply((int) total);
    header(out, w, transform, length, method, storedLen);
    int o = headerLen;
    for (int k = 0; k < w; k++) {
      System.arraycopy(stored[k], 0, out, o, storedLen[k]);
      o += storedLen[k];
    }
    System.arraycopy(tail, 0, out, o, tail.length);
    return ByteBuffer.wrap(out, 0, (int) total).slice();
  }

  private static void header(byte[] out, int w, int transform, int length, int[] method, int[] storedLen) {
    int headerLen = 10 + 5 * w;
    out[0] = (byte) VERSION;
    out[1] = (byte) (w | transform << 4);
    INT_LE.set(out, 2, length);
    for (int k = 0; k < w; k++) {
      out[6 + 5 * k] = (byte) method[k];
      INT_LE.set(out, 7 + 5 * k, storedLen[k]);
    }
    CRC32C crc = new CRC32C();
    crc.update(out, 0, headerLen - 4);
    INT_LE.set(out, headerLen - 4, (int) crc.getValue());
  }

  /**
   * The usual BF16/F16 payload without planes in between: when the low-byte plane is stored raw and the high-byte
   * plane with Huffman (decided exactly as {@link #encodePlane} decides, from histograms and samples taken straight
   * from the elements), one pass writes the raw plane and the Huffman block into the payload. Null when the planes
   * take other methods; the caller then encodes plane by plane.
   */
  private static ByteBuffer encodeTwoByte(byte[] src, int at, int length, boolean bf16, IntFunction<byte[]> arrays) {
    int n = length / 2;
    boolean big = n >= 1 << 20;
    boolean lowHopeless = big && hopeless(src, at, n, 0, bf16);
    if (lowHopeless) {
      // its own sample decides whether the high plane is worth coding
      ByteBuffer sampled = encodeTwoByteSampled(src, at, length, bf16, arrays);
      if (sampled != null) {
        return sampled;
      }
    }
    if (big && hopeless(src, at, n, 1, bf16)) {
      return null;
    }
    // Histograms of the high bytes per Huffman stream (they give each stream's exact length), of the low bytes
    // only where the sample did not already rule Huffman out.
    int[][] high = new int[Huffman.STREAMS][];
    int[] lowCounts = lowHopeless ? null : new int[8 * 256];
    int q = (n + Huffman.STREAMS - 1) / Huffman.STREAMS;
    int calls = 0;
    for (int k = 0; k < Huffman.STREAMS; k++) {
      int from = Math.min(n, k * q);
      int to = Math.min(n, (k + 1) * q);
      int[] h = new int[8 * 256];
      for (int i = from; i < to; ) {
        int end = Math.min(to, i + batch(calls++, 8, 1 << 12));
        countHigh(src, at, i, end, bf16 ? 7 : 8, h);
        if (lowCounts != null) {
          countLow(src, at, i, end, bf16, lowCounts);
        }
        i = end;
      }
      high[k] = fold(h);
    }
    if (lowCounts != null) {
      int[] low = fold(lowCounts);
      if (distinct(low) == 1) {
        return null;
      }
      if (Huffman.blockSize(low, Huffman.codeLengths(low)) <= n * HUFFMAN_KEEP) {
        return null;
      }
    }
    if (zstdWorthTrying(src, at, n, 0, bf16, n)) {
      return null;
    }
    int[] hist = new int[256];
    for (int[] h : high) {
      for (int s = 0; s < 256; s++) {
        hist[s] += h[s];
      }
    }
    if (distinct(hist) == 1) {
      return null;
    }
    int[] lens = Huffman.codeLengths(hist);
    if (Huffman.blockSize(hist, lens) > n * HUFFMAN_KEEP) {
      return null;
    }
    long block = Huffman.mergedBlockSize(high, lens);
    if (zstdWorthTrying(src, at, n, 1, bf16, block)) {
      return null;
    }
    int tail = length - 2 * n;
    int headerLen = 20;
    int total = (int) (headerLen + n + block + tail);
    // 8 bytes of room after the block for the coder's 8-byte writes; the payload is a slice without them.
    byte[] out = arrays.apply(total + 8);
    header(out, 2, bf16 ? 1 : 0, length, new int[] {RAW, HUFFMAN}, new int[] {n, (int) block});
    Huffman.encodeMerged(src, at, n, bf16, high, lens, out, headerLen, headerLen + n);
    System.arraycopy(src, at + 2 * n, out, total - tail, tail);
    return ByteBuffer.wrap(out, 0, total).slice();
  }

  /** One element in this many is in the sample the sampled path builds its code from (windows of 4096 elements). */
  static final int SAMPLE_EVERY = 16;

  /**
   * {@link #encodeTwoByte} without a full histogram pass, for big chunks whose low bytes are stored raw: the code is
   * built from a sample (one 4096-element window in {@value #SAMPLE_EVERY} of each Huffman stream), symbols near those
   * the sample saw get codes too, and each stream is coded into a region sized from its sample's estimate with some
   * room to spare; the regions are then moved together. The histogram pass was about a third of the encode. Null when
   * the sample says the block would not be kept, when the low plane should try zstd, or when a stream outgrows its
   * region or meets a symbol without a code (see {@link #withUnseen}): the caller then takes the exact path. The
   * payload has the same format and decodes the same way; its code may differ slightly from the exact histogram's
   * (the sample's frequencies, and codes spent on symbols that do not occur), which costs well under 1% of the block.
   */
  private static ByteBuffer encodeTwoByteSampled(byte[] src, int at, int length, boolean bf16,
      IntFunction<byte[]> arrays) {
    int n = length / 2;
    int q = (n + Huffman.STREAMS - 1) / Huffman.STREAMS;
    int[][] sample = new int[Huffman.STREAMS][];
    long[] sampled = new long[Huffman.STREAMS];
    int[] hist = new int[256];
    int calls = 0;
    for (int k = 0; k < Huffman.STREAMS; k++) {
      int from = Math.min(n, k * q);
      int to = Math.min(n, (k + 1) * q);
      int[] h = new int[8 * 256];
      for (int w = from; w + 4096 <= to; w += SAMPLE_EVERY * 4096) {
        for (int i = w; i < w + 4096; ) {
          int end = i + batch(calls++, 8, 4096);
          countHigh(src, at, i, end, bf16 ? 7 : 8, h);
          i = end;
        }
        sampled[k] += 4096;
      }
      if (sampled[k] == 0) {
        return null;
      }
      sample[k] = fold(h);
      for (int s = 0; s < 256; s++) {
        hist[s] += sample[k][s];
      }
    }
    if (distinct(hist) < 2) {
      return null;
    }
    int[] coded = withUnseen(hist, bf16);
    int[] lens = Huffman.codeLengths(coded);
    int[] region = new int[Huffman.STREAMS];
    long block = Huffman.LENGTHS_BYTES + 4 * (Huffman.STREAMS - 1);
    long regions = 0;
    for (int k = 0; k < Huffman.STREAMS; k++) {
      long bits = 0;
      for (int s = 0; s < 256; s++) {
        bits += (long) sample[k][s] * lens[s];
      }
      long symbols = Math.min(n, (long) (k + 1) * q) - Math.min(n, (long) k * q);
      long estimate = (long) Math.ceil(bits * (double) symbols / sampled[k] / 8);
      block += estimate;
      region[k] = (int) Math.min(Integer.MAX_VALUE / 8, estimate + estimate / 32 + 4096);
      regions += region[k];
    }
    if (block > n * HUFFMAN_KEEP || zstdWorthTrying(src, at, n, 0, bf16, n)
        || zstdWorthTrying(src, at, n, 1, bf16, block)) {
      return null;
    }
    int tail = length - 2 * n;
    int headerLen = 20;
    long room = headerLen + (long) n + Huffman.LENGTHS_BYTES + 4 * (Huffman.STREAMS - 1) + regions + tail + 8;
    if (room > Integer.MAX_VALUE - 16) {
      return null;
    }
    byte[] out = arrays.apply((int) room);
    int blockLen = Huffman.encodeMergedInRegions(src, at, n, bf16, lens, out, headerLen, headerLen + n, region);
    if (blockLen < 0) {
      return null;
    }
    int total = headerLen + n + blockLen + tail;
    header(out, 2, bf16 ? 1 : 0, length, new int[] {RAW, HUFFMAN}, new int[] {n, blockLen});
    System.arraycopy(src, at + 2 * n, out, total - tail, tail);
    return ByteBuffer.wrap(out, 0, total).slice();
  }

  /**
   * The sampled high-byte histogram with a count of 1 for the symbols a sample of a sixteenth may have missed, so that
   * they get (long) codes: zero, and per sign (BF16's high byte is the exponent alone; F16's is sign, exponent and two
   * mantissa bits, four symbols an exponent) everything from well below the smallest exponent seen to a little above
   * the largest. Trained weights and normal data thin out geometrically towards small magnitudes: the whole chunk
   * reaches about four exponents below its sixteenth, so twelve (BF16) or ten (F16) below leave a chunk with a value
   * the code lacks rare; that chunk then takes the exact path. Each added symbol costs 1/4096 of the code space.
   */
  static int[] withUnseen(int[] hist, boolean bf16) {
    int[] coded = hist.clone();
    int below = bf16 ? 12 : 40;
    int above = bf16 ? 4 : 16;
    int halves = bf16 ? 1 : 2;
    int span = 256 / halves;
    for (int h = 0; h < halves; h++) {
      int lo = -1;
      int hi = -1;
      for (int s = h * span; s < (h + 1) * span; s++) {
        if (hist[s] != 0) {
          lo = lo < 0 ? s : lo;
          hi = s;
        }
      }
      if (lo >= 0) {
        for (int s = Math.max(h * span, lo - below); s <= Math.min((h + 1) * span - 1, hi + above); s++) {
          coded[s] = Math.max(coded[s], 1);
        }
      }
      coded[h * span] = Math.max(coded[h * span], 1);
    }
    return coded;
  }

  /**
   * Elements (or rounds) for call {@code call} of a hot loop method: {@code small} for the first
   * {@value #RAMP_CALLS} calls of each chunk, then {@code large}. A fresh JVM interprets a method until it has been
   * called about 200 times and queues it for C2 after about 600 calls; tiny first batches get there after little
   * interpreted and C1 work (in a fresh process the first 64 MiB chunk took about two thirds of the CPU time it took
   * with large batches from the start), and large batches later keep the call overhead negligible.
   */
  static int batch(int call, int small, int large) {
    return call < RAMP_CALLS ? small : large;
  }

  static final int RAMP_CALLS = 1024;

  /** Byte {@code k} (0 low, 1 high) of two-byte element {@code i} at {@code src[at]}, in the plane form. */
  private static int planeByte(byte[] src, int at, int i, int k, boolean bf16) {
    int u = (src[at + 2 * i] & 0xFF) | (src[at + 2 * i + 1] & 0xFF) << 8;
    if (bf16) {
      return k == 0 ? (u & 0x7F) | (u >>> 8 & 0x80) : (u >>> 7) & 0xFF;
    }
    return k == 0 ? u & 0xFF : u >>> 8;
  }

  /** {@link #huffmanHopeless} for plane {@code k} of two-byte elements, read from the elements. */
  private static boolean hopeless(byte[] src, int at, int n, int k, boolean bf16) {
    int[] h = new int[8 * 256];
    int sampled = 0;
    int calls = 0;
    for (int w = 0; w + 4096 <= n; w += 8 * 4096) {
      for (int i = w; i < w + 4096; ) {
        int end = i + batch(calls++, 8, 4096);
        if (k == 1) {
          countHigh(src, at, i, end, bf16 ? 7 : 8, h);
        } else {
          countLow(src, at, i, end, bf16, h);
        }
        i = end;
      }
      sampled += 4096;
    }
    int[] hist = fold(h);
    if (distinct(hist) < 2) {
      return false;
    }
    return Huffman.blockSize(hist, Huffman.codeLengths(hist)) > sampled * 0.99;
  }

  /** The test {@link #maybeZstd} makes before compressing a whole plane, for plane {@code k} of two-byte elements. */
  private static boolean zstdWorthTrying(byte[] src, int at, int n, int k, boolean bf16, long best) {
    if (n <= ZSTD_SAMPLE || best * 4 < n) {
      return true;
    }
    int from = (n - ZSTD_SAMPLE) / 2;
    byte[] sample = new byte[ZSTD_SAMPLE];
    for (int i = 0; i < ZSTD_SAMPLE; i++) {
      sample[i] = (byte) planeByte(src, at, from + i, k, bf16);
    }
    long z = Zstd.compress(sample, PLANE_ZSTD_LEVEL).length;
    return z < (double) best / n * ZSTD_SAMPLE * 0.97;
  }

  private static int distinct(int[] hist) {
    int d = 0;
    for (int c : hist) {
      if (c != 0) {
        d++;
      }
    }
    return d;
  }

  /** Sums the 256-entry lanes of a counter array. */
  private static int[] fold(int[] h) {
    int[] sum = new int[256];
    for (int i = 0; i < h.length; i++) {
      sum[i & 255] += h[i];
    }
    return sum;
  }

  /**
   * Counts the high bytes ({@code (u >>> shift) & 0xFF}) of elements {@code [from, to)} into eight lanes of 256
   * counters (a narrow distribution hits the same counter often; lanes keep those updates independent).
   */
  private static void countHigh(byte[] src, int at, int from, int to, int shift, int[] h) {
    int i = from;
    for (; i + 8 <= to; i += 8) {
      long v = (long) LONG_LE.get(src, at + 2 * i) >>> shift;
      long u = (long) LONG_LE.get(src, at + 2 * i + 8) >>> shift;
      h[(int) v & 0xFF]++;
      h[256 + ((int) (v >>> 16) & 0xFF)]++;
      h[512 + ((int) (v >>> 32) & 0xFF)]++;
      h[768 + ((int) (v >>> 48) & 0xFF)]++;
      h[1024 + ((int) u & 0xFF)]++;
      h[1280 + ((int) (u >>> 16) & 0xFF)]++;
      h[1536 + ((int) (u >>> 32) & 0xFF)]++;
      h[1792 + ((int) (u >>> 48) & 0xFF)]++;
    }
    for (; i < to; i++) {
      int u = (src[at + 2 * i] & 0xFF) | (src[at + 2 * i + 1] & 0xFF) << 8;
      h[(u >>> shift) & 0xFF]++;
    }
  }

  /** Counts the low bytes (plane form) of elements {@code [from, to)}, four lanes. */
  private static void countLow(byte[] src, int at, int from, int to, boolean bf16, int[] h) {
    long signMask = bf16 ? 0x0080008000800080L : 0;
    long lowMask = bf16 ? 0x007F007F007F007FL : 0x00FF00FF00FF00FFL;
    int i = from;
    for (; i + 4 <= to; i += 4) {
      long v = (long) LONG_LE.get(src, at + 2 * i);
      long x = v & lowMask | v >>> 8 & signMask;
      h[(int) x & 0xFF]++;
      h[256 + ((int) (x >>> 16) & 0xFF)]++;
      h[512 + ((int) (x >>> 32) & 0xFF)]++;
      h[768 + ((int) (x >>> 48) & 0xFF)]++;
    }
    for (; i < to; i++) {
      h[planeByte(src, at, i, 0, bf16)]++;
    }
  }

  /** Splits elements {@code [0, count)} at {@code src[at]} into the planes at index {@code to}. */
  private static void split(byte[] src, int at, int to, int count, int w, int transform, byte[][] p) {
    switch (w) {
      case 1:
        System.arraycopy(src, at, p[0], to, count);
        break;
      case 2:
        if (transform != 0) {
          split2t(src, at, p[0], p[1], to, count);
        } else {
          split2(src, at, p[0], p[1], to, count);
        }
        break;
      default:
        split4(src, at, p, to, count, transform);
        break;
    }
  }

  /** Two-byte elements with the exponent transform (BF16), eight a round. */
  private static void split2t(byte[] src, int at, byte[] p0, byte[] p1, int to, int count) {
    int i = 0;
    for (; i + 8 <= count; i += 8) {
      long v = (long) LONG_LE.get(src, at + 2 * i);
      long u = (long) LONG_LE.get(src, at + 2 * i + 8);
      v = (v << 1 & 0xFF00FF00FF00FF00L) | (v >>> 8 & 0x0080008000800080L) | (v & 0x007F007F007F007FL);
      u = (u << 1 & 0xFF00FF00FF00FF00L) | (u >>> 8 & 0x0080008000800080L) | (u & 0x007F007F007F007FL);
      LONG_LE.set(p0, to + i, (gather(v) & 0xFFFFFFFFL) | (long) gather(u) << 32);
      LONG_LE.set(p1, to + i, (gather(v >>> 8) & 0xFFFFFFFFL) | (long) gather(u >>> 8) << 32);
    }
    for (; i < count; i++) {
      int u = (src[at + 2 * i] & 0xFF) | (src[at + 2 * i + 1] & 0xFF) << 8;
      u = (u << 1 & 0xFF00) | (u >>> 8 & 0x80) | (u & 0x7F);
      p0[to + i] = (byte) u;
      p1[to + i] = (byte) (u >>> 8);
    }
  }

  /** Two-byte elements as they are (F16), eight a round. */
  private static void split2(byte[] src, int at, byte[] p0, byte[] p1, int to, int count) {
    int i = 0;
    for (; i + 8 <= count; i += 8) {
      long v = (long) LONG_LE.get(src, at + 2 * i);
      long u = (long) LONG_LE.get(src, at + 2 * i + 8);
      LONG_LE.set(p0, to + i, (gather(v) & 0xFFFFFFFFL) | (long) gather(u) << 32);
      LONG_LE.set(p1, to + i, (gather(v >>> 8) & 0xFFFFFFFFL) | (long) gather(u >>> 8) << 32);
    }
    for (; i < count; i++) {
      p0[to + i] = src[at + 2 * i];
      p1[to + i] = src[at + 2 * i + 1];
    }
  }

  private static void split4(byte[] src, int at, byte[][] p, int to, int count, int transform) {
    byte[] p0 = p[0];
    byte[] p1 = p[1];
    byte[] p2 = p[2];
    byte[] p3 = p[3];
    for (int i = 0; i < count; i++) {
      int u = (int) INT_LE.get(src, at + 4 * i);
      if (transform != 0) {
        u = (u << 1 & 0xFF000000) | (u >>> 8 & 0x800000) | (u & 0x7FFFFF);
      }
      p0[to + i] = (byte) u;
      p1[to + i] = (byte) (u >>> 8);
      p2[to + i] = (byte) (u >>> 16);
      p3[to + i] = (byte) (u >>> 24);
    }
  }

  /** Bytes 0, 2, 4 and 6 of {@code v}, packed into an int. */
  private static int gather(long v) {
    long x = v & 0x00FF00FF00FF00FFL;
    x = (x | x >>> 8) & 0x0000FFFF0000FFFFL;
    return (int) (x | x >>> 16);
  }

  /** The four bytes of {@code b} spread to bytes 0, 2, 4 and 6 of a long. */
  private static long spread(int b) {
    long x = b & 0xFFFFFFFFL;
    x = (x | x << 16) & 0x0000FFFF0000FFFFL;
    return (x | x << 8) & 0x00FF00FF00FF00FFL;
  }

  private static void encodePlane(byte[] plane, int n, int k, byte[][] stored, int[] storedLen, int[] method) {
    stored[k] = plane;
    storedLen[k] = n;
    method[k] = RAW;
    if (n == 0) {
      return;
    }
    if (n >= 1 << 20 && huffmanHopeless(plane, n)) {
      maybeZstd(plane, n, k, stored, storedLen, method);
      return;
    }
    // Per Huffman stream: each stream's exact length lets the coder write all four in place.
    int[][] streams = new int[Huffman.STREAMS][];
    int q = (n + Huffman.STREAMS - 1) / Huffman.STREAMS;
    int[] hist = new int[256];
    for (int s = 0; s < Huffman.STREAMS; s++) {
      streams[s] = histogram(plane, Math.min(n, s * q), Math.min(n, (s + 1) * q));
      for (int b = 0; b < 256; b++) {
        hist[b] += streams[s][b];
      }
    }
    if (distinct(hist) == 1) {
      stored[k] = new byte[] {plane[0]};
      storedLen[k] = 1;
      method[k] = CONST;
      return;
    }
    int[] lens = Huffman.codeLengths(hist);
    long huff = Huffman.blockSize(hist, lens);
    if (huff <= n * HUFFMAN_KEEP) {
      byte[] buf = new byte[(int) huff + PAD];
      int len = Huffman.encode(plane, n, lens, buf, 0, streams);
      stored[k] = buf;
      storedLen[k] = len;
      method[k] = HUFFMAN;
    }
    maybeZstd(plane, n, k, stored, storedLen, method);
  }

  /**
   * True if an order-0 code estimated on an eighth of the plane (4 KiB windows spread over it) would not save 1%, as
   * for mantissa planes; this spares a full histogram pass.
   */
  private static boolean huffmanHopeless(byte[] plane, int n) {
    int[] hist = new int[256];
    int sampled = 0;
    for (int at = 0; at + 4096 <= n; at += 8 * 4096) {
      int[] h = histogram(plane, at, at + 4096);
      for (int s = 0; s < 256; s++) {
        hist[s] += h[s];
      }
      sampled += 4096;
    }
    int distinct = 0;
    for (int c : hist) {
      if (c != 0) {
        distinct++;
      }
    }
    if (distinct < 2) {
      return false;
    }
    return Huffman.blockSize(hist, Huffman.codeLengths(hist)) > sampled * 0.99;
  }

  /** Replaces the plane's current choice with zstd level 1 if that is smaller (tried on a sample first). */
  private static void maybeZstd(byte[] plane, int n, int k, byte[][] stored, int[] storedLen, int[] method) {
    long best = storedLen[k];
    // zstd wins where values repeat in runs or an order-0 code is held back by its 1-bit floor; try it on a sample
    // first unless the plane is no larger than the sample or Huffman already goes below 2 bits a byte.
    boolean tryZstd = n <= ZSTD_SAMPLE || best * 4 < n;
    if (!tryZstd) {
      int from = (n - ZSTD_SAMPLE) / 2;
      byte[] sample = Arrays.copyOfRange(plane, from, from + ZSTD_SAMPLE);
      long z = Zstd.compress(sample, PLANE_ZSTD_LEVEL).length;
      tryZstd = z < (double) best / n * ZSTD_SAMPLE * 0.97;
    }
    if (tryZstd) {
      byte[] z = new byte[(int) Zstd.compressBound(n)];
      long zl = Zstd.compressByteArray(z, 0, z.length, plane, 0, n, PLANE_ZSTD_LEVEL);
      if (Zstd.isError(zl)) {
        throw new IllegalStateException("zstd fails on a float plane of " + n + " bytes: " + Zstd.getErrorName(zl));
      }
      if (zl < best) {
        stored[k] = z;
        storedLen[k] = (int) zl;
        method[k] = ZSTD;
      }
    }
  }

  private static int[] histogram(byte[] a, int from, int to) {
    // Four counters per symbol (consecutive bytes go to different ones), filled in 4 KiB batches by a short method
    // that is compiled early as a whole.
    int[] h = new int[4 * 256];
    for (int at = from; at < to; at += 1 << 12) {
      count(a, at, Math.min(to, at + (1 << 12)), h);
    }
    int[] sum = new int[256];
    for (int s = 0; s < 256; s++) {
      sum[s] = h[s] + h[256 + s] + h[512 + s] + h[768 + s];
    }
    return sum;
  }

  private static void count(byte[] a, int from, int to, int[] h) {
    int i = from;
    for (; i + 4 <= to; i += 4) {
      h[a[i] & 0xFF]++;
      h[256 + (a[i + 1] & 0xFF)]++;
      h[512 + (a[i + 2] & 0xFF)]++;
      h[768 + (a[i + 3] & 0xFF)]++;
    }
    for (; i < to; i++) {
      h[a[i] & 0xFF]++;
    }
  }

  @Override
  public void decode(ByteBuffer payload, ByteBuffer out) throws IOException {
    int size = payload.remaining();
    if (size < 6) {
      throw new IOException("float payload of " + size + " bytes is shorter than its header");
    }
    byte[] in;
    int base;
    if (payload.hasArray()) {
      in = payload.array();
      base = payload.arrayOffset() + payload.position();
    } else {
      in = new byte[size];
      payload.duplicate().get(in, 0, size);
      base = 0;
    }
    int version = in[base] & 0xFF;
    if (version != VERSION) {
      throw new IOException("float payload version " + version + ", expected " + VERSION + " (written by a newer Ferry?)");
    }
    int layout = in[base + 1] & 0xFF;
    int w = layout & 15;
    int transform = layout >>> 4;
    if ((w != 1 && w != 2 && w != 4) || transform > 1 || (transform == 1 && w == 1)) {
      throw new IOException("float payload layout byte 0x" + Integer.toHexString(layout) + " is invalid");
    }
    int headerLen = 10 + 5 * w;
    if (size < headerLen) {
      throw new IOException("float payload of " + size + " bytes is shorter than its " + headerLen + "-byte header");
    }
    CRC32C crc = new CRC32C();
    crc.update(in, base, headerLen - 4);
    int expectCrc = (int) INT_LE.get(in, base + headerLen - 4);
    if ((int) crc.getValue() != expectCrc) {
      throw new IOException(String.format("float payload header checksum failed: expected=%08x actual=%08x",
          expectCrc, (int) crc.getValue()));
    }
    int length = (int) INT_LE.get(in, base + 2);
    if (length != out.remaining()) {
      throw new IOException("float payload holds " + Integer.toUnsignedString(length) + " raw bytes, the frame says "
          + out.remaining());
    }
    int n = length / w;
    int tail = length - n * w;
    int[] method = new int[w];
    int[] offset = new int[w];
    long pos = headerLen;
    for (int k = 0; k < w; k++) {
      method[k] = in[base + 6 + 5 * k] & 0xFF;
      long len = Integer.toUnsignedLong((int) INT_LE.get(in, base + 7 + 5 * k));
      offset[k] = (int) Math.min(pos, Integer.MAX_VALUE);
      pos += len;
      if (pos > size) {
        break;
      }
    }
    if (pos + tail != size) {
      throw new IOException("float payload is " + size + " bytes, its header accounts for " + (pos + tail));
    }
    // A heap payload is read in place. Huffman may look at bytes after its block (never past the array) but
    // consumes only the bits of its codes, and checks that each stream ends where its length says.
    if (w == 2 && method[0] == RAW && method[1] == HUFFMAN && offset[1] - offset[0] == n) {
      // The usual BF16/F16 payload: the exponent (high) byte codes decode straight into whole elements in out.
      int at = out.position();
      try {
        Huffman.decodeMerged(in, base + offset[1], (int) pos - offset[1], in, base + offset[0], n, transform != 0,
            out, at);
      } catch (IOException e) {
        throw new IOException("plane 1: " + e.getMessage(), e);
      }
      out.position(at + 2 * n);
      out.put(in, base + (int) pos, tail);
      return;
    }
    byte[][] planes = new byte[w][];
    int[] planeOff = new int[w];
    for (int k = 0; k < w; k++) {
      int len = (k + 1 < w ? offset[k + 1] : (int) pos) - offset[k];
      decodePlane(in, base + offset[k], len, method[k], n, k, planes, planeOff);
    }
    merge(planes, planeOff, n, w, transform, out, new byte[STAGE]);
    out.put(in, base + (int) pos, tail);
  }

  private static void decodePlane(byte[] in, int off, int len, int method, int n, int k, byte[][] planes,
      int[] planeOff) throws IOException {
    switch (method) {
      case RAW:
        if (len != n) {
          throw new IOException("raw plane " + k + " holds " + len + " bytes, expected " + n);
        }
        planes[k] = in;
        planeOff[k] = off;
        return;
      case CONST: {
        if (len != 1) {
          throw new IOException("constant plane " + k + " holds " + len + " bytes, expected 1");
        }
        byte[] p = new byte[n];
        Arrays.fill(p, 0, n, in[off]);
        planes[k] = p;
        return;
      }
      case HUFFMAN: {
        byte[] p = new byte[n];
        try {
          Huffman.decode(in, off, len, p, n);
        } catch (IOException e) {
          throw new IOException("plane " + k + ": " + e.getMessage(), e);
        }
        planes[k] = p;
        return;
      }
      case ZSTD: {
        byte[] p = new byte[n];
        long got = Zstd.decompressByteArray(p, 0, n, in, off, len);
        if (Zstd.isError(got)) {
          throw new IOException("zstd plane " + k + " does not decode: " + Zstd.getErrorName(got));
        }
        if (got != n) {
          throw new IOException("zstd plane " + k + " decodes to " + got + " bytes, expected " + n);
        }
        planes[k] = p;
        return;
      }
      default:
        throw new IOException("plane " + k + " has unknown method " + method);
    }
  }

  /**
   * Interleaves the planes into {@code out}: straight into its array when it has one, else a block at a time
   * through {@code stage} and one bulk put per block.
   */
  private static void merge(byte[][] planes, int[] off, int n, int w, int transform, ByteBuffer out, byte[] stage) {
    int at = out.position();
    int per = stage.length / w;
    if (out.hasArray()) {
      // Blocks here too: a short method called many times is compiled early and as a whole.
      byte[] dst = out.array();
      int base = out.arrayOffset() + at;
      for (int i = 0; i < n; i += per) {
        mergeBlock(planes, off, i, Math.min(per, n - i), w, transform, dst, base + i * w);
      }
      out.position(at + n * w);
      return;
    }
    if (w == 2) {
      // Two-byte elements go straight into the direct buffer, eight bytes a put: no staging copy.
      ByteBuffer o = out.duplicate().order(ByteOrder.LITTLE_ENDIAN);
      for (int i = 0; i < n; i += per) {
        merge2Direct(planes[0], off[0] + i, planes[1], off[1] + i, Math.min(per, n - i), transform, o, at + 2 * i);
      }
      out.position(at + 2 * n);
      return;
    }
    for (int i = 0; i < n; i += per) {
      int count = Math.min(per, n - i);
      mergeBlock(planes, off, i, count, w, transform, stage, 0);
      out.put(stage, 0, count * w);
    }
  }

  /** {@link #merge2t} and {@link #merge2} into a direct buffer at absolute index {@code at}. */
  private static void merge2Direct(byte[] p0, int o0, byte[] p1, int o1, int count, int transform, ByteBuffer o,
      int at) {
    int i = 0;
    for (; i + 8 <= count; i += 8) {
      long l = (long) LONG_LE.get(p0, o0 + i);
      long h = (long) LONG_LE.get(p1, o1 + i);
      if (transform != 0) {
        long t = (l & 0x8080808080808080L) | (h >>> 1 & 0x7F7F7F7F7F7F7F7FL);
        l = (h << 7 & 0x8080808080808080L) | (l & 0x7F7F7F7F7F7F7F7FL);
        h = t;
      }
      o.putLong(at + 2 * i, spread((int) l) | spread((int) h) << 8);
      o.putLong(at + 2 * i + 8, spread((int) (l >>> 32)) | spread((int) (h >>> 32)) << 8);
    }
    for (; i < count; i++) {
      int t = (p1[o1 + i] & 0xFF) << 8 | (p0[o0 + i] & 0xFF);
      if (transform != 0) {
        t = (t & 0x80) << 8 | (t >>> 1 & 0x7F80) | (t & 0x7F);
      }
      o.putShort(at + 2 * i, (short) t);
    }
  }

  /** Interleaves elements {@code [from, from + count)} of the planes into {@code dst[at]}. */
  private static void mergeBlock(byte[][] planes, int[] off, int from, int count, int w, int transform, byte[] dst,
      int at) {
    switch (w) {
      case 1:
        System.arraycopy(planes[0], off[0] + from, dst, at, count);
        break;
      case 2:
        if (transform != 0) {
          merge2t(planes[0], off[0] + from, planes[1], off[1] + from, count, dst, at);
        } else {
          merge2(planes[0], off[0] + from, planes[1], off[1] + from, count, dst, at);
        }
        break;
      default:
        merge4(planes, off, from, count, transform, dst, at);
        break;
    }
  }

  /**
   * Two-byte elements with the exponent transform undone (BF16), eight a round. Plane 1 holds e, plane 0 s|m7; the
   * high byte is s|e>>1, the low byte (e&1)<<7|m7.
   */
  private static void merge2t(byte[] p0, int o0, byte[] p1, int o1, int count, byte[] dst, int at) {
    int i = 0;
    for (; i + 8 <= count; i += 8) {
      long lo = (long) LONG_LE.get(p0, o0 + i);
      long hi = (long) LONG_LE.get(p1, o1 + i);
      long h = (lo & 0x8080808080808080L) | (hi >>> 1 & 0x7F7F7F7F7F7F7F7FL);
      long l = (hi << 7 & 0x8080808080808080L) | (lo & 0x7F7F7F7F7F7F7F7FL);
      LONG_LE.set(dst, at + 2 * i, spread((int) l) | spread((int) h) << 8);
      LONG_LE.set(dst, at + 2 * i + 8, spread((int) (l >>> 32)) | spread((int) (h >>> 32)) << 8);
    }
    for (; i < count; i++) {
      int t = (p1[o1 + i] & 0xFF) << 8 | (p0[o0 + i] & 0xFF);
      t = (t & 0x80) << 8 | (t >>> 1 & 0x7F80) | (t & 0x7F);
      dst[at + 2 * i] = (byte) t;
      dst[at + 2 * i + 1] = (byte) (t >>> 8);
    }
  }

  /** Two-byte elements as they are (F16), eight a round. */
  private static void merge2(byte[] p0, int o0, byte[] p1, int o1, int count, byte[] dst, int at) {
    int i = 0;
    for (; i + 8 <= count; i += 8) {
      long l = (long) LONG_LE.get(p0, o0 + i);
      long h = (long) LONG_LE.get(p1, o1 + i);
      LONG_LE.set(dst, at + 2 * i, spread((int) l) | spread((int) h) << 8);
      LONG_LE.set(dst, at + 2 * i + 8, spread((int) (l >>> 32)) | spread((int) (h >>> 32)) << 8);
    }
    for (; i < count; i++) {
      dst[at + 2 * i] = p0[o0 + i];
      dst[at + 2 * i + 1] = p1[o1 + i];
    }
  }

  private static void merge4(byte[][] planes, int[] off, int from, int count, int transform, byte[] dst, int at) {
    byte[] p0 = planes[0];
    byte[] p1 = planes[1];
    byte[] p2 = planes[2];
    byte[] p3 = planes[3];
    int o0 = off[0] + from;
    int o1 = off[1] + from;
    int o2 = off[2] + from;
    int o3 = off[3] + from;
    int i = 0;
    for (; i + 4 <= count; i += 4) {
      // Transpose 4 elements x 4 planes: 16-bit halves first, then whole elements.
      long lo = spread((int) INT_LE.get(p0, o0 + i)) | spread((int) INT_LE.get(p1, o1 + i)) << 8;
      long hi = spread((int) INT_LE.get(p2, o2 + i)) | spread((int) INT_LE.get(p3, o3 + i)) << 8;
      long v01 = spread16((int) lo) | spread16((int) hi) << 16;
      long v23 = spread16((int) (lo >>> 32)) | spread16((int) (hi >>> 32)) << 16;
      if (transform != 0) {
        v01 = (v01 & 0x0080000000800000L) << 8 | (v01 >>> 1 & 0x7F8000007F800000L) | (v01 & 0x007FFFFF007FFFFFL);
        v23 = (v23 & 0x0080000000800000L) << 8 | (v23 >>> 1 & 0x7F8000007F800000L) | (v23 & 0x007FFFFF007FFFFFL);
      }
      LONG_LE.set(dst, at + 4 * i, v01);
      LONG_LE.set(dst, at + 4 * i + 8, v23);
    }
    for (; i < count; i++) {
      int t = (p3[o3 + i] & 0xFF) << 24 | (p2[o2 + i] & 0xFF) << 16 | (p1[o1 + i] & 0xFF) << 8
          | (p0[o0 + i] & 0xFF);
      if (transform != 0) {
        t = (t & 0x800000) << 8 | (t >>> 1 & 0x7F800000) | (t & 0x7FFFFF);
      }
      INT_LE.set(dst, at + 4 * i, t);
    }
  }

  /** The two 16-bit halves of {@code x} at bits 0 and 32 of a long. */
  private static long spread16(int x) {
    return (x & 0xFFFFL) | (x & 0xFFFF0000L) << 16;
  }
}
