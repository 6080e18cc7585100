package io.ferry.spark.source;

import io.ferry.spark.store.StoreSpec;
import java.io.Serializable;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.types.StructType;

/**
 * The options of one {@code ferry} read, parsed and checked once on the driver.
 *
 * @param store the store executors open
 * @param target what {@code load(...)} named: {@code model}, {@code model:tag}, {@code model@id}; empty or {@code *}
 *     for every model (versions and tensors tables only)
 * @param kind which table
 * @param values whether chunk rows carry decoded floats
 * @param sha256 whether reads check every chunk's SHA-256 besides its frame CRC
 * @param partitionBytes target bytes of chunks per input partition
 * @param locality whether to ask the store which hosts hold each partition's chunks
 */
record ReadOptions(StoreSpec store, String target, TableKind kind, boolean values, boolean sha256,
    long partitionBytes, boolean locality) implements Serializable {
  private static final long serialVersionUID = 1L;
  static final long DEFAULT_PARTITION_BYTES = 64L << 20;

  /** The options a read takes besides {@code store.<key>} settings; any other is refused (a typo would be ignored). */
  static final java.util.List<String> KNOWN = java.util.List.of("store", "table", "values", "verify", "partitionBytes",
      "locality");

  static ReadOptions of(Map<String, String> raw) {
    Map<String, String> o = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    o.putAll(raw);
    if (o.containsKey("paths")) {
      throw new IllegalArgumentException("load(...) takes one target (model, model:tag or model@id), got "
          + o.get("paths"));
    }
    for (String key : o.keySet()) {
      boolean known = key.equalsIgnoreCase("path") || key.regionMatches(true, 0, StoreSpec.OPTION_PREFIX, 0,
          StoreSpec.OPTION_PREFIX.length()) || KNOWN.stream().anyMatch(key::equalsIgnoreCase);
      if (!known) {
        throw new IllegalArgumentException("unknown option '" + key + "' of the ferry source: expected "
            + String.join(", ", KNOWN) + " or store.<setting>");
      }
    }
    String target = o.getOrDefault("path", "").trim();
    TableKind kind = TableKind.fromOption(o.get("table"));
    if (kind == TableKind.CHUNKS && (target.isEmpty() || target.equals("*"))) {
      throw new IllegalArgumentException("load(...) must name a version for the chunks table: model, model:tag or "
          + "model@id");
    }
    boolean values = bool(o, "values", false);
    if (values && kind != TableKind.CHUNKS) {
      // it was ignored: a user asking for the weights' values got a table without them and no word why
      throw new IllegalArgumentException("option values='true' adds the chunks' values to the chunks table; the "
          + kind.name().toLowerCase(Locale.ROOT) + " table has no values (read the chunks table of a version)");
    }
    long partitionBytes = DEFAULT_PARTITION_BYTES;
    String pb = o.get("partitionBytes");
    if (pb != null) {
      try {
        partitionBytes = Long.parseLong(pb.trim());
      } catch (NumberFormatException e) {
        partitionBytes = -1;
      }
      if (partitionBytes < 1) {
        throw new IllegalArgumentException("option partitionBytes='" + pb + "': expected a positive number of bytes");
      }
    }
    return new ReadOptions(StoreSpec.fromOptions(raw), target, kind, values, bool(o, "verify", false),
        partitionBytes, bool(o, "locality", true));
  }

  private static boolean bool(Map<String, String> o, String key, boolean dflt) {
    String v = o.get(key);
    if (v == null) {
      return dflt;
    }
    return switch (v.trim().toLowerCase(Locale.ROOT)) {
      case "true" -> true;
      case "false" -> false;
      default -> throw new IllegalArgumentException("option " + key + "='" + v + "': expected true or false");
    };
  }

  StructType schema() {
    return Schemas.of(kind, values);
  }
}
