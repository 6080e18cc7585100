package io.ferry.spark.source;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.connector.read.SupportsPushDownFilters;
import org.apache.spark.sql.connector.read.SupportsPushDownRequiredColumns;
import org.apache.spark.sql.sources.Filter;
import org.apache.spark.sql.types.StructType;

/**
 * Takes the filters on the columns known at planning time (model, version, file, tensor, dtype) and the columns the
 * query needs: chunks of excluded tensors are not planned, and chunk bytes are read only when {@code bytes} or
 * {@code values} is selected.
 */
final class FerryScanBuilder implements ScanBuilder, SupportsPushDownFilters, SupportsPushDownRequiredColumns {
  static final Set<String> PLAN_COLUMNS = Set.of("model", "version", "id", "file", "tensor", "dtype");

  private final ReadOptions options;
  private StructType required;
  private Filter[] pushed = new Filter[0];

  FerryScanBuilder(ReadOptions options) {
    this.options = options;
    this.required = options.schema();
  }

  @Override
  public Filter[] pushFilters(Filter[] filters) {
    List<Filter> used = new ArrayList<>();
    for (Filter f : filters) {
      if (PlanFilter.supported(f, PLAN_COLUMNS)) {
        used.add(f);
      }
    }
    pushed = used.toArray(new Filter[0]);
    // Spark checks every filter again on the rows read: planning only drops rows that surely fail
    return filters;
  }

  @Override
  public Filter[] pushedFilters() {
    return pushed.clone();
  }

  @Override
  public void pruneColumns(StructType requiredSchema) {
    this.required = requiredSchema;
  }

  @Override
  public Scan build() {
    return new FerryScan(options, required, pushed);
  }
}
