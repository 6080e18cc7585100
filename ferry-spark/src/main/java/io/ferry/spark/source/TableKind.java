package io.ferry.spark.source;

import java.util.Locale;

/** The tables the {@code ferry} data source serves, chosen by {@code option("table", ...)}. */
public enum TableKind {
  /** One row per stored chunk of each tensor of one version (the default). */
  CHUNKS,
  /** One row per version of a model (or of every model): ids, parents, tags, time, message, sizes, derivation. */
  VERSIONS,
  /** One row per tensor of each version of a model: dtype, shape, size, chunks and a content key. */
  TENSORS;

  /** The kind named by the {@code table} option; {@code chunks} when absent. */
  public static TableKind fromOption(String value) {
    if (value == null) {
      return CHUNKS;
    }
    try {
      return valueOf(value.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("option table='" + value + "': expected one of chunks, versions, tensors");
    }
  }
}
