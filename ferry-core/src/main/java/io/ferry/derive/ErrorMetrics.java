package io.ferry.derive;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Error of a derived tensor B against its source A, element by element: max abs error, RMSE, relative Frobenius
 * error ‖A−B‖/‖A‖, cosine similarity A·B/(‖A‖‖B‖), and sparsity (fraction of zeros in B). Immutable.
 *
 * <p>Elements whose source is NaN or infinite have no defined error: they are counted in {@code nonFinite} and left
 * out of the sums. Finite sources that became infinite (a cast to F16 past 65504) are counted in {@code overflow} and
 * also left out, so that every figure stays finite. {@code relFrobenius} is absent (NaN) when ‖A‖ = 0 and B is
 * not zero, and 0 when both are; {@code cosine} is 1 when A and B are both zero, absent when exactly one of them is.
 * The sums of squares and the dot product are {@link Sum}s: a double and a power of two. {@link Accumulator} takes
 * them over values scaled by powers of two (as LAPACK's dnrm2 scales a norm) once a tensor holds F64 values whose
 * squares a double cannot hold (see there), so that such tensors still get their figures right; a figure that is
 * itself beyond a double's range (an RMSE of values near 1e308) is not recorded: JSON cannot hold an infinity as a
 * number.
 *
 * <p>Elements of B that had no source to compare with (a dequantization whose original is not in the store) count in
 * {@code uncompared}: only in the sparsity. When no element of a non-empty tensor entered the sums (every one
 * uncompared, non-finite or overflowed), the error figures are not recorded, only the sparsity and those counts: they
 * are never made up from sums that saw nothing (an error of 0, a cosine of 1). A tensor of no elements records no
 * figure at all, not even the sparsity: each is a maximum or a ratio over no elements.
 *
 * @param elements number of elements
 * @param zeros elements of B equal to zero (either sign)
 * @param uncompared elements of B without a source value
 * @param unchanged whether B was written byte for byte as A (a prune that zeroed nothing, or a tensor of no elements
 *     written in its own dtype): such a tensor is reported as kept, not changed
 */
public record ErrorMetrics(long elements, double maxAbs, Sum sumSqErr, Sum sumSqA, Sum sumSqB, Sum dot,
    long zeros, long nonFinite, long overflow, long uncompared, boolean unchanged) {

  /** Checks that every sum is given. */
  public ErrorMetrics {
    Objects.requireNonNull(sumSqErr, "sumSqErr");
    Objects.requireNonNull(sumSqA, "sumSqA");
    Objects.requireNonNull(sumSqB, "sumSqB");
    Objects.requireNonNull(dot, "dot");
  }

  /** No elements. */
  public static ErrorMetrics empty() {
    return new ErrorMetrics(0, 0, Sum.ZERO, Sum.ZERO, Sum.ZERO, Sum.ZERO, 0, 0, 0, 0, false);
  }

  public double rmse() {
    long n = elements - nonFinite - overflow - uncompared;
    if (n <= 0 || sumSqErr.isZero()) {
      return 0;
    }
    // n is at most 2^63, so halving the exponent before dividing keeps the quotient inside a double's range
    return Math.scalb(Math.sqrt(sumSqErr.even() / n), sumSqErr.evenExponent() / 2);
  }

  /** ‖A−B‖/‖A‖, or NaN when ‖A‖ = 0. */
  public double relFrobenius() {
    if (sumSqA.isZero()) {
      return sumSqErr.isZero() ? 0 : Double.NaN;
    }
    return Math.scalb(Math.sqrt(sumSqErr.even()) / Math.sqrt(sumSqA.even()),
        (sumSqErr.evenExponent() - sumSqA.evenExponent()) / 2);
  }

  /** A·B/(‖A‖‖B‖); 1 if both are zero, NaN if one is. */
  public double cosine() {
    if (sumSqA.isZero() || sumSqB.isZero()) {
      return sumSqA.isZero() == sumSqB.isZero() ? 1 : Double.NaN;
    }
    double na = Math.sqrt(sumSqA.even());
    double nb = Math.sqrt(sumSqB.even());
    return Math.scalb(dot.scaled() / (na * nb),
        dot.exponent() - sumSqA.evenExponent() / 2 - sumSqB.evenExponent() / 2);
  }

  /** The fraction of B equal to zero, or NaN when there are no elements. */
  public double sparsity() {
    return elements == 0 ? Double.NaN : (double) zeros / elements;
  }

  /** These and {@code o} as if measured over both tensors together. */
  public ErrorMetrics plus(ErrorMetrics o) {
    return new ErrorMetrics(elements + o.elements, Math.max(maxAbs, o.maxAbs), sumSqErr.plus(o.sumSqErr),
        sumSqA.plus(o.sumSqA), sumSqB.plus(o.sumSqB), dot.plus(o.dot), zeros + o.zeros, nonFinite + o.nonFinite,
        overflow + o.overflow, uncompared + o.uncompared, unchanged && o.unchanged);
  }

  /**
   * The figures under their stored names ({@code max_abs_error}, {@code rmse}, {@code rel_frobenius_error},
   * {@code cosine_similarity}, {@code sparsity}, and {@code non_finite} / {@code overflow} when not zero); undefined
   * ones (all of them for no elements), and those beyond a double's range, are left out.
   */
  public Map<String, Double> asMap() {
    Map<String, Double> m = new LinkedHashMap<>();
    if (elements > nonFinite + overflow + uncompared) {
      putIfDefined(m, "max_abs_error", maxAbs);
      putIfDefined(m, "rmse", rmse());
      putIfDefined(m, "rel_frobenius_error", relFrobenius());
      putIfDefined(m, "cosine_similarity", cosine());
    }
    putIfDefined(m, "sparsity", sparsity());
    if (nonFinite > 0) {
      m.put("non_finite", (double) nonFinite);
    }
    if (overflow > 0) {
      m.put("overflow", (double) overflow);
    }
    return m;
  }

  /** The figures as recorded: {@link #elements()} and {@link #asMap()}. */
  public MetricFigures figures() {
    return new MetricFigures(elements, asMap());
  }

  private static void putIfDefined(Map<String, Double> m, String k, double v) {
    if (Double.isFinite(v)) {
      m.put(k, v);
    }
  }

  /**
   * A sum kept as {@code scaled × 2^exponent}, so that it neither overflows nor underflows where a double would: the
   * sums of squares of F64 values beyond about 1.3e154 or below about 1.5e-154. Sums of the same order add without
   * loss beyond a double's rounding; a term smaller than the other by more than a double's range is dropped, as it
   * would be in exact arithmetic rounded to a double. Immutable; serializable, so that a distributed derive can send
   * it back from its tasks.
   *
   * @param scaled the sum over its scale: zero, or finite with magnitude in [1, 2)
   * @param exponent the power of two it is scaled by; 0 when {@code scaled} is zero
   */
  public record Sum(double scaled, int exponent) implements java.io.Serializable {
    /** Zero. */
    public static final Sum ZERO = new Sum(0, 0);

    /**
     * Checks the form.
     *
     * @throws IllegalArgumentException if {@code scaled} is not finite, not zero with a zero exponent, nor of a
     *     magnitude in [1, 2)
     */
    public Sum {
      double m = Math.abs(scaled);
      if (m == 0 ? exponent != 0 : !(m >= 1 && m < 2)) {
        throw new IllegalArgumentException("a scaled sum is 0 × 2^0 or has a magnitude in [1, 2), got " + scaled
            + " × 2^" + exponent);
      }
    }

    /** {@code value × 2^exponent}, normalized. */
    public static Sum of(double value, int exponent) {
      if (!Double.isFinite(value)) {
        throw new IllegalArgumentException("a sum must be finite, got " + value);
      }
      if (value == 0) {
        return ZERO;
      }
      int e = Math.getExponent(value);
      if (e < Double.MIN_EXPONENT) {
        value *= 0x1p60;
        e = Math.getExponent(value);
        exponent -= 60;
      }
      return new Sum(Math.scalb(value, -e), Math.addExact(exponent, e));
    }

    /** Whether this is zero. */
    public boolean isZero() {
      return scaled == 0;
    }

    /** This as a double: infinite or zero when beyond a double's range. */
    public double value() {
      return Math.scalb(scaled, exponent);
    }

    /** This and {@code o} added. */
    public Sum plus(Sum o) {
      if (o.isZero()) {
        return this;
      }
      if (isZero()) {
        return o;
      }
      int e = Math.max(exponent, o.exponent);
      // a term more than 1100 binary orders below the other is below its rounding: scalb returns 0 for it
      return of(Math.scalb(scaled, Math.max(exponent - e, -1100)) + Math.scalb(o.scaled, Math.max(o.exponent - e,
          -1100)), e);
    }

    /** The scaled value for an even {@link #evenExponent()}: in [1, 4) or zero. */
    double even() {
      return (exponent & 1) == 0 ? scaled : 2 * scaled;
    }

    /** The exponent made even, to go with {@link #even()}. */
    int evenExponent() {
      return (exponent & 1) == 0 ? exponent : exponent - 1;
    }
  }

  /**
   * Mutable accumulator for one thread. Its sums are plain doubles, as long as every block's values are of magnitudes
   * whose squares a double holds without overflow or loss (2^-400 to 2^480, or zero); from the first block that holds
   * others, they are {@link Sum}s taken a block at a time over values scaled by powers of two, which round the same
   * way. So the figures of ordinary tensors are what plain sums give, and those of extreme ones are right too.
   */
  public static final class Accumulator {
    private static final double SMALL = 0x1p-400;
    private static final double LARGE = 0x1p480;
    private long n;
    private double maxAbs;
    private double sumSqErr;
    private double sumSqA;
    private double sumSqB;
    private double dot;
    /** The sums once scaled; null while they are the plain doubles above. */
    private Sum[] scaled;
    private long zeros;
    private long nonFinite;
    private long overflow;
    private long uncompared;
    private boolean unchanged;

    /**
     * Adds {@code n} elements: sources {@code a[i]}, derived {@code b[i]}, in order. A source that is NaN or infinite
     * counts in {@code nonFinite}, a finite source whose derived value is not finite in {@code overflow}; neither
     * enters the sums.
     */
    public void addAll(double[] a, double[] b, int n) {
      long cnt = this.n;
      long z = zeros;
      long nf = nonFinite;
      long of = overflow;
      double mx = 0;
      double ma = 0;
      double mb = 0;
      double se = sumSqErr;
      double sa = sumSqA;
      double sb = sumSqB;
      double ab = dot;
      for (int i = 0; i < n; i++) {
        double x = a[i];
        double y = b[i];
        cnt++;
        if (y == 0) {
          z++;
        }
        if (!Double.isFinite(x)) {
          nf++;
          continue;
        }
        if (!Double.isFinite(y)) {
          of++;
          continue;
        }
        double d = x - y;
        mx = Math.max(mx, Math.abs(d));
        ma = Math.max(ma, Math.abs(x));
        mb = Math.max(mb, Math.abs(y));
        se += d * d;
        sa += x * x;
        sb += y * y;
        ab += x * y;
      }
      this.n = cnt;
      zeros = z;
      nonFinite = nf;
      overflow = of;
      maxAbs = Math.max(maxAbs, mx);
      if (scaled == null && plain(mx) && plain(ma) && plain(mb)) {
        sumSqErr = se;
        sumSqA = sa;
        sumSqB = sb;
        dot = ab;
        return;
      }
      if (scaled == null) {
        scaled = new Sum[] {Sum.of(sumSqErr, 0), Sum.of(sumSqA, 0), Sum.of(sumSqB, 0), Sum.of(dot, 0)};
      }
      addScaled(a, b, n, mx, ma, mb);
    }

    private static boolean plain(double max) {
      return max == 0 || max >= SMALL && max <= LARGE;
    }

    /**
     * Adds the sums of a block over its values scaled by powers of two that bring the largest of each near 1. A
     * scaled term far below its largest underflows, where it is below the sum's rounding anyway.
     */
    private void addScaled(double[] a, double[] b, int n, double mx, double ma, double mb) {
      // x − y overflows where x and y do not (1e308 − −1e308): then its scale is that of the operands, doubled
      boolean wide = mx == Double.POSITIVE_INFINITY;
      int ed = wide ? scale(Math.max(ma, mb)) + 1 : scale(mx);
      int ea = scale(ma);
      int eb = scale(mb);
      double fd = Math.scalb(1.0, -ed);
      double fa = Math.scalb(1.0, -ea);
      double fb = Math.scalb(1.0, -eb);
      double se = 0;
      double sa = 0;
      double sb = 0;
      double ab = 0;
      for (int i = 0; i < n; i++) {
        double x = a[i];
        double y = b[i];
        if (!Double.isFinite(x) || !Double.isFinite(y)) {
          continue;
        }
        double d = wide ? x * fd - y * fd : (x - y) * fd;
        double xs = x * fa;
        double ys = y * fb;
        se += d * d;
        sa += xs * xs;
        sb += ys * ys;
        ab += xs * ys;
      }
      scaled[0] = scaled[0].plus(Sum.of(se, 2 * ed));
      scaled[1] = scaled[1].plus(Sum.of(sa, 2 * ea));
      scaled[2] = scaled[2].plus(Sum.of(sb, 2 * eb));
      scaled[3] = scaled[3].plus(Sum.of(ab, ea + eb));
    }

    /**
     * The power of two that brings {@code max} into [1, 2): its exponent, or that of the smallest normal double for a
     * subnormal or zero {@code max} (whose factor 2^1022 then stays finite).
     */
    private static int scale(double max) {
      return Math.max(Math.getExponent(max), Double.MIN_EXPONENT);
    }

    /** Counts elements of B only (no source to compare with): sparsity is all that is known. */
    public void addUncompared(double b) {
      n++;
      uncompared++;
      if (b == 0) {
        zeros++;
      }
    }

    /** Says whether the outputs written so far are byte for byte the source tensor; false until said. */
    public void unchanged(boolean same) {
      unchanged = same;
    }

    public ErrorMetrics result() {
      Sum[] sums = scaled != null ? scaled
          : new Sum[] {Sum.of(sumSqErr, 0), Sum.of(sumSqA, 0), Sum.of(sumSqB, 0), Sum.of(dot, 0)};
      return new ErrorMetrics(n, maxAbs, sums[0], sums[1], sums[2], sums[3], zeros, nonFinite, overflow, uncompared,
          unchanged);
    }
  }
}
