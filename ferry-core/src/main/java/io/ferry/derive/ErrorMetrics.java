package io.ferry.derive;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Error of a derived tensor B against its source A, element by element: max abs error, RMSE, relative Frobenius
 * error ‖A−B‖/‖A‖, cosine similarity A·B/(‖A‖‖B‖), and sparsity (fraction of zeros in B). Immutable.
 *
 * <p>Elements whose source is NaN or infinite have no defined error: they are counted in {@code nonFinite} and left
 * out of the sums. Finite sources that became infinite (a cast to F16 past 65504) are counted in {@code overflow} and
 * also left out, so that every figure stays finite. {@code relFrobenius} is absent (NaN) when ‖A‖ = 0 and B is
 * not zero, and 0 when both are; {@code cosine} is 1 when A and B are both zero, absent when exactly one of them is.
 * A figure whose double-precision sums overflow (only F64 tensors can hold values whose squares do: beyond about
 * 1.3e154) is not recorded either: it would be infinite or NaN, which JSON cannot hold as a number.
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
public record ErrorMetrics(long elements, double maxAbs, double sumSqErr, double sumSqA, double sumSqB, double dot,
    long zeros, long nonFinite, long overflow, long uncompared, boolean unchanged) {

  /** No elements. */
  public static ErrorMetrics empty() {
    return new ErrorMetrics(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, false);
  }

  public double rmse() {
    long n = elements - nonFinite - overflow - uncompared;
    return n <= 0 ? 0 : Math.sqrt(sumSqErr / n);
  }

  /** ‖A−B‖/‖A‖, or NaN when ‖A‖ = 0. */
  public double relFrobenius() {
    if (sumSqA == 0) {
      return sumSqErr == 0 ? 0 : Double.NaN;
    }
    return Math.sqrt(sumSqErr) / Math.sqrt(sumSqA);
  }

  /** A·B/(‖A‖‖B‖); 1 if both are zero, NaN if one is. */
  public double cosine() {
    if (sumSqA == 0 || sumSqB == 0) {
      return sumSqA == sumSqB ? 1 : Double.NaN;
    }
    return dot / (Math.sqrt(sumSqA) * Math.sqrt(sumSqB));
  }

  /** The fraction of B equal to zero, or NaN when there are no elements. */
  public double sparsity() {
    return elements == 0 ? Double.NaN : (double) zeros / elements;
  }

  /** These and {@code o} as if measured over both tensors together. */
  public ErrorMetrics plus(ErrorMetrics o) {
    return new ErrorMetrics(elements + o.elements, Math.max(maxAbs, o.maxAbs), sumSqErr + o.sumSqErr,
        sumSqA + o.sumSqA, sumSqB + o.sumSqB, dot + o.dot, zeros + o.zeros, nonFinite + o.nonFinite,
        overflow + o.overflow, uncompared + o.uncompared, unchanged && o.unchanged);
  }

  /**
   * The figures under their stored names ({@code max_abs_error}, {@code rmse}, {@code rel_frobenius_error},
   * {@code cosine_similarity}, {@code sparsity}, and {@code non_finite} / {@code overflow} when not zero); undefined
   * ones (all of them for no elements), and those whose double-precision sums overflowed, are left out.
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

  /** Mutable accumulator for one thread. */
  public static final class Accumulator {
    private long n;
    private double maxAbs;
    private double sumSqErr;
    private double sumSqA;
    private double sumSqB;
    private double dot;
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
      double mx = maxAbs;
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
        se += d * d;
        sa += x * x;
        sb += y * y;
        ab += x * y;
      }
      this.n = cnt;
      zeros = z;
      nonFinite = nf;
      overflow = of;
      maxAbs = mx;
      sumSqErr = se;
      sumSqA = sa;
      sumSqB = sb;
      dot = ab;
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
      return new ErrorMetrics(n, maxAbs, sumSqErr, sumSqA, sumSqB, dot, zeros, nonFinite, overflow, uncompared,
          unchanged);
    }
  }
}
