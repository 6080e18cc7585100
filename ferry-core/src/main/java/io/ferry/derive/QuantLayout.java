package io.ferry.derive;

import io.ferry.format.DType;
import java.nio.ByteBuffer;

/**
 * The stored layout of a quantized tensor {@code W} of shape {@code [rows, cols]} with group size {@code g} (a
 * divisor of {@code cols}); all tensors little-endian safetensors, {@code G = cols / g} groups per row:
 * <ul>
 *   <li>8 bits, symmetric: {@code W} I8 {@code [rows, cols]}, q in [-127, 127]; value = q × scale.
 *   <li>8 bits, asymmetric: {@code W} U8 {@code [rows, cols]}, q in [0, 255]; value = (q − zero_point) × scale.
 *   <li>4 bits, symmetric: {@code W} U8 {@code [rows, cols/2]}, two values per byte, element 2j in the low nibble of
 *       byte j and 2j+1 in the high nibble; nibble = q + 8 with q in [-7, 7]; value = (nibble − 8) × scale.
 *   <li>4 bits, asymmetric: as above, nibble = q in [0, 15]; value = (q − zero_point) × scale.
 *   <li>{@code W.scale}: F32 {@code [rows, G]}; {@code W.zero_point}: U8 {@code [rows, G]}, asymmetric only.
 * </ul>
 * Values are dequantized in float32: {@code float(q − zp) × scale} rounded once, which numpy reproduces bit for bit.
 * Scales: symmetric {@code max|x| / qmax}; asymmetric over {@code [min(x, 0), max(x, 0)]},
 * {@code (hi − lo) / qmax}, each rounded up to a float32 (so that the extremes never clamp), and
 * {@code zp = clamp(rint(−lo / scale), 0, qmax)}; q = clamp(rint(x / scale) +
 * zp). Every element is then within scale/2 of its source value. Stateless and thread-safe.
 */
public final class QuantLayout {
  /** The layout's name, recorded in the derivation and in each file's {@code __metadata__}. */
  public static final String NAME = "ferry-groupwise-int/1";
  /** Suffix of scale tensors. */
  public static final String SCALE = ".scale";
  /** Suffix of zero-point tensors. */
  public static final String ZERO_POINT = ".zero_point";

  private final int bits;
  private final int group;
  private final boolean symmetric;
  private final int qmax;

  public QuantLayout(int bits, int group, boolean symmetric) {
    this.bits = bits;
    this.group = group;
    this.symmetric = symmetric;
    this.qmax = symmetric ? (bits == 8 ? 127 : 7) : (bits == 8 ? 255 : 15);
  }

  /** The parameters, for messages: {@code 4-bit asymmetric, group size 32}. */
  public String describe() {
    return bits + "-bit " + (symmetric ? "symmetric" : "asymmetric") + ", group size " + group;
  }

  /** Dtype of the quantized values tensor. */
  public DType valuesType() {
    return bits == 8 && symmetric ? DType.I8 : DType.U8;
  }

  /** Bytes of one quantized row of {@code cols} values. */
  public long valueRowBytes(long cols) {
    return bits == 8 ? cols : cols / 2;
  }

  /**
   * Quantizes one row ({@code cols} values in {@code x} from {@code off}) into {@code q}, {@code scales} and (when
   * asymmetric) {@code zps}, writing at their positions; {@code deq} receives the dequantized float32 values.
   *
   * @return -1, or the column of the first value that cannot be quantized: non-finite, or of a group whose float32
   *     scale or dequantized values would overflow (a finite value beyond float32's range, as an F64 tensor may
   *     hold); the buffers then hold a partial row: discard them
   */
  public int quantizeRow(double[] x, int off, int cols, ByteBuffer q, ByteBuffer scales, ByteBuffer zps,
      float[] deq) {
    for (int g0 = 0; g0 < cols; g0 += group) {
      double lo = 0;
      double hi = 0;
      for (int i = g0; i < g0 + group; i++) {
        double v = x[off + i];
        if (!Double.isFinite(v)) {
          return i;
        }
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      float scale = scale(lo, hi);
      if (!representable(lo, hi, scale)) {
        for (int i = g0; i < g0 + group; i++) {
          if (Math.abs(x[off + i]) == Math.max(-lo, hi)) {
            return i;
          }
        }
      }
      int zp = zeroPoint(lo, scale);
      scales.putFloat(scale);
      if (!symmetric) {
        zps.put((byte) zp);
      }
      int bad = quantizeRun(x, off + g0, group, scale, zp, q, deq);
      if (bad >= 0) {
        return g0 + bad;
      }
    }
    return -1;
  }

  /**
   * The float32 scale of a group whose values lie in {@code [lo, hi]} ({@code lo <= 0 <= hi}), rounded up so that
   * its extremes never clamp; infinite when the range is beyond float32's.
   */
  public float scale(double lo, double hi) {
    double range = symmetric ? Math.max(-lo, hi) : hi - lo;
    float scale = (float) (range / qmax);
    if ((double) scale * qmax < range) { // rounded down: the extremes would clamp by more than scale/2
      scale = Math.nextUp(scale);
    }
    return scale;
  }

  /**
   * Whether a group of values in {@code [lo, hi]} with that {@link #scale} can be quantized: false when a value is
   * beyond float32's range or the scale overflows.
   */
  public boolean representable(double lo, double hi, float scale) {
    return Math.max(-lo, hi) <= Float.MAX_VALUE && Float.isFinite(scale);
  }

  /** The zero point of a group whose smallest value (or 0) is {@code lo}; 0 when symmetric. */
  public int zeroPoint(double lo, float scale) {
    return !symmetric && scale > 0 ? (int) clamp(Math.rint(-lo / scale), 0, qmax) : 0;
  }

  /**
   * Quantizes {@code n} values of one group ({@code x} from {@code off}) with its scale and zero point into {@code q}
   * at its position, and their dequantized float32 values into {@code deq} from {@code off}. With 4 bits the run
   * must start at an even element of its row (it starts a byte).
   *
   * @return -1, or the index in the run of the first value whose dequantized value overflows (a value next to
   *     float32's largest: q × its rounded-up scale)
   */
  public int quantizeRun(double[] x, int off, int n, float scale, int zp, ByteBuffer q, float[] deq) {
    int lowQ = symmetric ? -qmax : 0;
    for (int i = 0; i < n; i++) {
      int v = scale == 0 ? zp : (int) clamp(Math.rint(x[off + i] / scale) + zp, lowQ, qmax);
      deq[off + i] = (float) (v - zp) * scale;
      if (!Float.isFinite(deq[off + i])) {
        return i;
      }
      if (bits == 8) {
        q.put((byte) v);
      } else {
        int nib = symmetric ? v + 8 : v;
        if ((i & 1) == 0) {
          q.put((byte) nib);
        } else {
          int p = q.position() - 1;
          q.put(p, (byte) ((q.get(p) & 0x0f) | (nib << 4)));
        }
      }
    }
    return -1;
  }

  /**
   * Dequantizes one row into {@code out[off..off+cols)}, reading values, scales and zero points at the buffers'
   * positions and advancing them.
   */
  public void dequantizeRow(ByteBuffer q, ByteBuffer scales, ByteBuffer zps, int cols, float[] out, int off) {
    for (int g0 = 0; g0 < cols; g0 += group) {
      float scale = scales.getFloat();
      int zp = symmetric ? 0 : zps.get() & 0xff;
      dequantizeRun(q, scale, zp, group, out, off + g0);
    }
  }

  /**
   * Dequantizes {@code n} values of one group, read from {@code q} at its position (advancing it), with its scale and
   * zero point into {@code out[off..off+n)}. With 4 bits the run must start at an even element of its row.
   */
  public void dequantizeRun(ByteBuffer q, float scale, int zp, int n, float[] out, int off) {
    for (int i = 0; i < n; i++) {
      int v;
      if (bits == 8) {
        v = symmetric ? q.get() : q.get() & 0xff;
      } else {
        int b = (i & 1) == 0 ? q.get(q.position()) : q.get();
        int nib = (i & 1) == 0 ? b & 0x0f : (b >>> 4) & 0x0f;
        v = symmetric ? nib - 8 : nib;
      }
      out[off + i] = (float) (v - zp) * scale;
    }
  }

  private static double clamp(double v, double lo, double hi) {
    return Math.max(lo, Math.min(hi, v));
  }
}
