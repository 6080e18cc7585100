package io.ferry.spark.source;

import java.util.Map;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableProvider;
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.sources.DataSourceRegister;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/**
 * The {@code ferry} data source (Spark DataSource V2, read-only):
 *
 * <pre>{@code
 * spark.read.format("ferry").option("store", "hdfs://nn:8020/ferry").load("llama:prod")          // chunks
 * spark.read.format("ferry").option("store", uri).option("values", "true").load("llama:prod")   // + array<float>
 * spark.read.format("ferry").option("store", uri).option("table", "versions").load("llama")
 * spark.read.format("ferry").option("store", uri).option("table", "tensors").load("llama")
 * }</pre>
 *
 * <p>Options: {@code store} (the store URI, required), {@code store.<key>} (store settings, as {@code --store-option}),
 * {@code table} ({@code chunks}, {@code versions}, {@code tensors}), {@code values} (add decoded floats to chunk rows),
 * {@code verify} (check every chunk's SHA-256 too; the frame CRC is always checked), {@code partitionBytes} (target
 * bytes of chunks per input partition, default 64 MiB), {@code locality} ({@code false} to skip asking the store where
 * chunks are). See {@code docs/spark.md}.
 */
public final class FerryDataSource implements TableProvider, DataSourceRegister {
  /** The format name: {@code spark.read.format("ferry")}. */
  public static final String NAME = "ferry";

  @Override
  public String shortName() {
    return NAME;
  }

  @Override
  public StructType inferSchema(CaseInsensitiveStringMap options) {
    return ReadOptions.of(options).schema();
  }

  @Override
  public Table getTable(StructType schema, Transform[] partitioning, Map<String, String> properties) {
    return new FerryTable(ReadOptions.of(properties));
  }
}
