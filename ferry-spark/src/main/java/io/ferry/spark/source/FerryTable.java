package io.ferry.spark.source;

import java.util.Set;
import org.apache.spark.sql.connector.catalog.SupportsRead;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/** One read-only {@code ferry} table: the chunks of a version, or the versions or tensors of a model. */
final class FerryTable implements SupportsRead {
  private final ReadOptions options;

  FerryTable(ReadOptions options) {
    this.options = options;
  }

  @Override
  public String name() {
    return "ferry." + options.kind().name().toLowerCase(java.util.Locale.ROOT) + "(" + options.target() + ")";
  }

  @Override
  public StructType schema() {
    return options.schema();
  }

  @Override
  public Set<TableCapability> capabilities() {
    return Set.of(TableCapability.BATCH_READ);
  }

  @Override
  public ScanBuilder newScanBuilder(CaseInsensitiveStringMap ignored) {
    return new FerryScanBuilder(options);
  }
}
