package io.ferry.version;

import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * How a version was made from another: the method ({@code finetune}, {@code distill}, {@code cast}, {@code quantize},
 * {@code prune}...), its parameters, the source version and the metrics measured when it was made.
 *
 * @param source the full id of the source version, or a ref text when the source is outside this store
 */
public record Derivation(String method, Map<String, String> parameters, String source, Map<String, Double> metrics) {
  public Derivation {
    Objects.requireNonNull(method, "method");
    parameters = new TreeMap<>(parameters);
    metrics = new TreeMap<>(metrics);
  }
}
