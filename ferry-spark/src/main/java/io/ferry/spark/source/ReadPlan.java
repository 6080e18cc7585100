package io.ferry.spark.source;

import io.ferry.spark.store.StoreSpec;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.sources.Filter;

/**
 * What one Spark task of a {@code ferry} read gets: the store to open, which table, the model and version ids, the
 * chunk slices to read (chunks table), and the hosts that hold them. Never a repository or a snapshot: a few hundred
 * bytes per chunk slice, so a 400 GB model's plan is a few MB spread over thousands of tasks.
 *
 * @param store the store executors open (once per JVM)
 * @param kind which table
 * @param model the model of the versions, or null for every model
 * @param versions hex ids of the versions: the one version of a chunks read, or a group of versions
 * @param slices the tensor slices to read (chunks table only)
 * @param hosts where the first chunk's bytes are (HDFS DataNodes), for Spark's preferred locations; may be empty
 * @param filters the pushed filters, applied again by the executor where planning could not (tensors table)
 * @param tags refs per version id, as users write them ({@code llama}, {@code llama:prod}); versions table only
 */
record ReadPlan(StoreSpec store, TableKind kind, String model, List<String> versions, List<ChunkSlice> slices,
    String[] hosts, Filter[] filters, Map<String, List<String>> tags) implements InputPartition {
  private static final long serialVersionUID = 1L;

  ReadPlan {
    Objects.requireNonNull(store, "store");
    Objects.requireNonNull(kind, "kind");
    versions = List.copyOf(versions);
    slices = List.copyOf(slices);
    hosts = hosts.clone();
    filters = filters.clone();
    tags = Map.copyOf(tags);
  }

  ReadPlan(StoreSpec store, TableKind kind, String model, List<String> versions, List<ChunkSlice> slices,
      String[] hosts, Filter[] filters) {
    this(store, kind, model, versions, slices, hosts, filters, Map.of());
  }

  @Override
  public String[] preferredLocations() {
    return hosts.clone();
  }
}
