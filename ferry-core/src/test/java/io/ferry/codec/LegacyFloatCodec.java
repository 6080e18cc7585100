package io.ferry.codec;

import com.github.luben.zstd.Zstd;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
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
 * <p>Stateless and thread-safe.
 */
final class LegacyFloatCodec implements Codec {
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
    if (!handles(hint)) {
      return null;
    }
    int w = elementWidth(hint.dtype());
    int transform = ("BF16".equals(hint.dtype()) || "F32".equals(hint.dtype())) ? 1 : 0;
    int length = raw.remaining();
    int n = length / w;
    byte[] src;
    int at;
    if (raw.hasArray()) {
      src = raw.array();
      at = raw.arrayOffset() + raw.position();
    } else {
      src = new byte[length];
      raw.duplicate().get(src);
      at = 0;
    }
    byte[][] planes = split(src, at, n, w, transform);

    int headerLen = 10 + 5 * w;
    byte[][] stored = new byte[w][];
    int[] storedLen = new int[w];
    int[] method = new int[w];
    long total = headerLen + (length - (long) n * w);
    for (int k = 0; k < w; k++) {
      encodePlane(planes[k], n, k, stored, storedLen, method);
      total += storedLen[k];
    }

    byte[] out = new byte[(int) total];
    ByteBuffer o = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
    o.put((byte) VERSION).put((byte) (w | transform << 4)).putInt(length);
    for (int k = 0; k < w; k++) {
      o.put((byte) method[k]).putInt(storedLen[k]);
    }
    CRC32C crc = new CRC32C();
    crc.update(out, 0, headerLen - 4);
    o.putInt((int) crc.getValue());
    for (int k = 0; k < w; k++) {
      o.put(stored[k], 0, storedLen[k]);
    }
    o.put(src, at + n * w, length - n * w);
    return ByteBuffer.wrap(out);
  }

  private static byte[][] split(byte[] src, int at, int n, int w, int transform) {
    byte[][] p = new byte[w][n];
    switch (w) {
      case 1:
        System.arraycopy(src, at, p[0], 0, n);
        break;
      case 2: {
        byte[] p0 = p[0];
        byte[] p1 = p[1];
        int i = 0;
        for (; i + 4 <= n; i += 4) {
          long v = (long) LONG_LE.get(src, at + 2 * i);
          if (transform != 0) {
            v = (v << 1 & 0xFF00FF00FF00FF00L) | (v >>> 8 & 0x0080008000800080L) | (v & 0x007F007F007F007FL);
          }
          INT_LE.set(p0, i, gather(v));
          INT_LE.set(p1, i, gather(v >>> 8));
        }
        for (; i < n; i++) {
          int u = (src[at + 2 * i] & 0xFF) | (src[at + 2 * i + 1] & 0xFF) << 8;
          if (transform != 0) {
            u = (u << 1 & 0xFF00) | (u >>> 8 & 0x80) | (u & 0x7F);
          }
          p0[i] = (byte) u;
          p1[i] = (byte) (u >>> 8);
        }
        break;
      }
      default: {
        byte[] p0 = p[0];
        byte[] p1 = p[1];
        byte[] p2 = p[2];
        byte[] p3 = p[3];
        for (int i = 0; i < n; i++) {
          int u = (int) INT_LE.get(src, at + 4 * i);
          if (transform != 0) {
            u = (u << 1 & 0xFF000000) | (u >>> 8 & 0x800000) | (u & 0x7FFFFF);
          }
          p0[i] = (byte) u;
          p1[i] = (byte) (u >>> 8);
          p2[i] = (byte) (u >>> 16);
          p3[i] = (byte) (u >>> 24);
        }
        break;
      }
    }
    return p;
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
    int[] hist = histogram(plane, 0, n);
    int distinct = 0;
    for (int c : hist) {
      if (c != 0) {
        distinct++;
      }
    }
    if (distinct == 1) {
      stored[k] = new byte[] {plane[0]};
      storedLen[k] = 1;
      method[k] = CONST;
      return;
    }
    int[] lens = LegacyHuffman.codeLengths(hist);
    long huff = LegacyHuffman.blockSize(hist, lens);
    if (huff <= n * HUFFMAN_KEEP) {
      byte[] buf = new byte[(int) huff + PAD];
      int len = LegacyHuffman.encode(plane, n, lens, buf, 0);
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
    return LegacyHuffman.blockSize(hist, LegacyHuffman.codeLengths(hist)) > sampled * 0.99;
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
      byte[] z = Zstd.compress(plane.length == n ? plane : Arrays.copyOf(plane, n), PLANE_ZSTD_LEVEL);
      if (z.length < best) {
        stored[k] = z;
        storedLen[k] = z.length;
        method[k] = ZSTD;
      }
    }
  }

  private static int[] histogram(byte[] a, int from, int to) {
    int[] h0 = new int[256];
    int[] h1 = new int[256];
    int[] h2 = new int[256];
    int[] h3 = new int[256];
    int i = from;
    for (; i + 4 <= to; i += 4) {
      h0[a[i] & 0xFF]++;
      h1[a[i + 1] & 0xFF]++;
      h2[a[i + 2] & 0xFF]++;
      h3[a[i + 3] & 0xFF]++;
    }
    for (; i < to; i++) {
      h0[a[i] & 0xFF]++;
    }
    for (int s = 0; s < 256; s++) {
      h0[s] += h1[s] + h2[s] + h3[s];
    }
    return h0;
  }

  @Override
  public void decode(ByteBuffer payload, ByteBuffer out) throws IOException {
    int size = payload.remaining();
    if (size < 6) {
      throw new IOException("float payload of " + size + " bytes is shorter than its header");
    }
    byte[] in = new byte[size + PAD];
    payload.duplicate().get(in, 0, size);
    ByteBuffer h = ByteBuffer.wrap(in, 0, size).order(ByteOrder.LITTLE_ENDIAN);
    int version = in[0] & 0xFF;
    if (version != VERSION) {
      throw new IOException("float payload version " + version + ", expected " + VERSION + " (written by a newer Ferry?)");
    }
    int layout = in[1] & 0xFF;
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
    crc.update(in, 0, headerLen - 4);
    int expectCrc = h.getInt(headerLen - 4);
    if ((int) crc.getValue() != expectCrc) {
      throw new IOException(String.format("float payload header checksum failed: expected=%08x actual=%08x",
          expectCrc, (int) crc.getValue()));
    }
    int length = h.getInt(2);
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
      method[k] = in[6 + 5 * k] & 0xFF;
      long len = Integer.toUnsignedLong(h.getInt(7 + 5 * k));
      offset[k] = (int) Math.min(pos, Integer.MAX_VALUE);
      pos += len;
      if (pos > size) {
        break;
      }
    }
    if (pos + tail != size) {
      throw new IOException("float payload is " + size + " bytes, its header accounts for " + (pos + tail));
    }
    byte[][] planes = new byte[w][];
    int[] planeOff = new int[w];
    for (int k = 0; k < w; k++) {
      int len = (k + 1 < w ? offset[k + 1] : (int) pos) - offset[k];
      decodePlane(in, offset[k], len, method[k], n, k, planes, planeOff);
    }
    merge(planes, planeOff, n, w, transform, out);
    out.put(in, (int) pos, tail);
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
        Arrays.fill(p, in[off]);
        planes[k] = p;
        return;
      }
      case HUFFMAN: {
        byte[] p = new byte[n];
        try {
          LegacyHuffman.decode(in, off, len, p, n);
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
   * Interleaves the planes into {@code out}: into its array when it has one, else through 8-byte absolute puts, so a
   * direct {@code out} needs no staging copy.
   */
  private static void merge(byte[][] planes, int[] off, int n, int w, int transform, ByteBuffer out) {
    int at = out.position();
    if (w == 1) {
      out.put(planes[0], off[0], n);
      return;
    }
    byte[] dst = out.hasArray() ? out.array() : null;
    int base = out.hasArray() ? out.arrayOffset() + at : at;
    ByteBuffer o = out.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    int i = 0;
    if (w == 2) {
      byte[] p0 = planes[0];
      byte[] p1 = planes[1];
      int o0 = off[0];
      int o1 = off[1];
      // Eight elements a round. The exponent transform is undone on the planes (eight bytes at a time) before they
      // are interleaved: plane 1 holds e, plane 0 s|m7; the high byte is s|e>>1, the low byte (e&1)<<7|m7.
      for (; i + 8 <= n; i += 8) {
        long lo = (long) LONG_LE.get(p0, o0 + i);
        long hi = (long) LONG_LE.get(p1, o1 + i);
        if (transform != 0) {
          long h = (lo & 0x8080808080808080L) | (hi >>> 1 & 0x7F7F7F7F7F7F7F7FL);
          lo = (hi << 7 & 0x8080808080808080L) | (lo & 0x7F7F7F7F7F7F7F7FL);
          hi = h;
        }
        long v0 = spread((int) lo) | spread((int) hi) << 8;
        long v1 = spread((int) (lo >>> 32)) | spread((int) (hi >>> 32)) << 8;
        if (dst != null) {
          LONG_LE.set(dst, base + 2 * i, v0);
          LONG_LE.set(dst, base + 2 * i + 8, v1);
        } else {
          o.putLong(base + 2 * i, v0);
          o.putLong(base + 2 * i + 8, v1);
        }
      }
      for (; i < n; i++) {
        int t = (p1[o1 + i] & 0xFF) << 8 | (p0[o0 + i] & 0xFF);
        if (transform != 0) {
          t = (t & 0x80) << 8 | (t >>> 1 & 0x7F80) | (t & 0x7F);
        }
        o.putShort(at + 2 * i, (short) t);
      }
    } else {
      byte[] p0 = planes[0];
      byte[] p1 = planes[1];
      byte[] p2 = planes[2];
      byte[] p3 = planes[3];
      int o0 = off[0];
      int o1 = off[1];
      int o2 = off[2];
      int o3 = off[3];
      for (; i + 4 <= n; i += 4) {
        // Transpose 4 elements x 4 planes: 16-bit halves first, then whole elements.
        long lo = spread((int) INT_LE.get(p0, o0 + i)) | spread((int) INT_LE.get(p1, o1 + i)) << 8;
        long hi = spread((int) INT_LE.get(p2, o2 + i)) | spread((int) INT_LE.get(p3, o3 + i)) << 8;
        long v01 = spread16((int) lo) | spread16((int) hi) << 16;
        long v23 = spread16((int) (lo >>> 32)) | spread16((int) (hi >>> 32)) << 16;
        if (transform != 0) {
          v01 = (v01 & 0x0080000000800000L) << 8 | (v01 >>> 1 & 0x7F8000007F800000L) | (v01 & 0x007FFFFF007FFFFFL);
          v23 = (v23 & 0x0080000000800000L) << 8 | (v23 >>> 1 & 0x7F8000007F800000L) | (v23 & 0x007FFFFF007FFFFFL);
        }
        if (dst != null) {
          LONG_LE.set(dst, base + 4 * i, v01);
          LONG_LE.set(dst, base + 4 * i + 8, v23);
        } else {
          o.putLong(base + 4 * i, v01);
          o.putLong(base + 4 * i + 8, v23);
        }
      }
      for (; i < n; i++) {
        int t = (p3[o3 + i] & 0xFF) << 24 | (p2[o2 + i] & 0xFF) << 16 | (p1[o1 + i] & 0xFF) << 8
            | (p0[o0 + i] & 0xFF);
        if (transform != 0) {
          t = (t & 0x800000) << 8 | (t >>> 1 & 0x7F800000) | (t & 0x7FFFFF);
        }
        o.putInt(at + 4 * i, t);
      }
    }
    out.position(at + n * w);
  }

  /** The two 16-bit halves of {@code x} at bits 0 and 32 of a long. */
  private static long spread16(int x) {
    return (x & 0xFFFFL) | (x & 0xFFFF0000L) << 16;
  }
}
