package io.ferry.spark.source;

import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/** The schemas of the {@code ferry} tables. Column names are stable: queries and the docs use them. */
final class Schemas {
  private Schemas() {}

  static StructType of(TableKind kind, boolean values) {
    return switch (kind) {
      case CHUNKS -> values ? chunks().add("values", DataTypes.createArrayType(DataTypes.FloatType, false)) : chunks();
      case VERSIONS -> versions();
      case TENSORS -> tensors();
    };
  }

  private static StructType chunks() {
    return new StructType(new StructField[] {
        field("model", DataTypes.StringType, false),
        field("version", DataTypes.StringType, false),
        field("file", DataTypes.StringType, false),
        field("tensor", DataTypes.StringType, false),
        field("dtype", DataTypes.StringType, false),
        field("shape", DataTypes.createArrayType(DataTypes.LongType, false), false),
        field("row_start", DataTypes.LongType, true),
        field("row_end", DataTypes.LongType, true),
        field("chunk", DataTypes.StringType, false),
        field("offset", DataTypes.LongType, false),
        field("length", DataTypes.LongType, false),
        field("bytes", DataTypes.BinaryType, false)});
  }

  private static StructType versions() {
    return new StructType(new StructField[] {
        field("id", DataTypes.StringType, false),
        field("model", DataTypes.StringType, false),
        field("seq", DataTypes.LongType, false),
        field("parents", DataTypes.createArrayType(DataTypes.StringType, false), false),
        field("tags", DataTypes.createArrayType(DataTypes.StringType, false), false),
        field("time", DataTypes.TimestampType, false),
        field("author", DataTypes.StringType, false),
        field("message", DataTypes.StringType, false),
        field("snapshot", DataTypes.StringType, false),
        field("logical_bytes", DataTypes.LongType, false),
        field("new_stored_bytes", DataTypes.LongType, false),
        field("files", DataTypes.IntegerType, false),
        field("tensors", DataTypes.IntegerType, false),
        field("derivation_method", DataTypes.StringType, true),
        field("derivation_source", DataTypes.StringType, true),
        field("derivation_parameters", DataTypes.createMapType(DataTypes.StringType, DataTypes.StringType, false),
            true),
        field("derivation_metrics", DataTypes.createMapType(DataTypes.StringType, DataTypes.DoubleType, false),
            true)});
  }

  private static StructType tensors() {
    return new StructType(new StructField[] {
        field("model", DataTypes.StringType, false),
        field("version", DataTypes.StringType, false),
        field("file", DataTypes.StringType, false),
        field("tensor", DataTypes.StringType, false),
        field("dtype", DataTypes.StringType, false),
        field("shape", DataTypes.createArrayType(DataTypes.LongType, false), false),
        field("length", DataTypes.LongType, false),
        field("chunks", DataTypes.createArrayType(DataTypes.StringType, false), false),
        field("content", DataTypes.StringType, false)});
  }

  private static StructField field(String name, org.apache.spark.sql.types.DataType type, boolean nullable) {
    return DataTypes.createStructField(name, type, nullable);
  }
}
