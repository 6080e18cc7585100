package io.ferry.derive;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Error metrics as a derivation records them: the number of elements compared and the named figures of {@link
 * ErrorMetrics#asMap()} ({@code max_abs_error}, {@code rmse}, {@code rel_frobenius_error}, {@code
 * cosine_similarity}, {@code sparsity}, {@code non_finite}, {@code overflow}; undefined ones absent), in that order.
 * This is what {@code ferry-derivation.json} holds per tensor and overall, and reads back equal; the sums the figures
 * were computed from are not recorded. Immutable.
 *
 * @param elements elements compared
 * @param figures the figures by name, in recorded order
 */
public record MetricFigures(long elements, Map<String, Double> figures) {
  /**
   * Copies the figures, keeping their order.
   *
   * @throws IllegalArgumentException if {@code elements} is negative
   */
  public MetricFigures {
    if (elements < 0) {
      throw new IllegalArgumentException("elements must be >= 0, got " + elements);
    }
    Map<String, Double> copy = new LinkedHashMap<>();
    Objects.requireNonNull(figures, "figures").forEach((k, v) -> copy.put(Objects.requireNonNull(k, "figure name"),
        Objects.requireNonNull(v, "figure value")));
    figures = Collections.unmodifiableMap(copy);
  }

  /** The fraction of derived elements equal to zero, or NaN if not recorded. */
  public double sparsity() {
    return figures.getOrDefault("sparsity", Double.NaN);
  }
}
