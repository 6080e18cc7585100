package io.ferry.version;

import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;

/**
 * How a version was made from another: the method ({@code finetune}, {@code distill}, {@code cast}, {@code quantize},
 * {@code prune}...), its parameters, the source version and the metrics measured when it was made.
 *
 * @param source the full id of the source version, or a ref text when the source is outside this store
 */
public record Derivation(String method, Map<String, String> parameters, String source, Map<String, Double> metrics) {
  /** The metrics that count elements ({@code non_finite}, {@code overflow}): recorded and shown as integers. */
  public static final Set<String> COUNTS = Set.of("non_finite", "overflow");

  public Derivation {
    Objects.requireNonNull(method, "method");
    parameters = new TreeMap<>(parameters);
    metrics = new TreeMap<>(metrics);
  }

  /**
   * Whether the metric {@code name} = {@code value} is written as an integer: a count, of a whole value that a double
   * holds exactly. It reads back as a double, as counts that older Ferry wrote as doubles ({@code 286.0}) do.
   */
  public static boolean integral(String name, double value) {
    return COUNTS.contains(name) && value == Math.rint(value) && Math.abs(value) <= (1L << 53);
  }
}
