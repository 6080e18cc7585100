package io.ferry.store.cassandra;

import io.ferry.error.InvalidInputException;
import io.ferry.store.StoreMarker;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * The CQL of a Cassandra store: the keyspace, its tables and the store marker. {@code ferry init} runs it; teams whose
 * DBAs create schemas print it with {@code java -cp <ferry class path> io.ferry.store.cassandra.CassandraSchema
 * cassandra://...?replication_factor=3} and run it in {@code cqlsh}.
 *
 * <pre>
 * meta        (name) -&gt; value                       the store marker, {@value StoreMarker#NAME}
 * chunks      (id) -&gt; gen, length, part_size, written   one row per complete object, written after all its
 *                                                       parts; gen names the put whose parts it uses
 * chunk_parts ((id, gen, slab), part) -&gt; data           the bytes in parts of {@value #PART_SIZE} bytes,
 *                                                       {@value #PARTS_PER_SLAB} parts to a partition
 * chunk_work  ((id), gen) -&gt; length, part_size, since   a put or delete in progress (gc finds what a crash left)
 * records     ((parent), name) -&gt; content           small records: the parent path partitions, the last segment
 *                                                   clusters, so listing a directory is one partition slice
 * record_dirs ((parent), name)                      the directories below a directory, for listing by prefix
 * </pre>
 */
public final class CassandraSchema {
  /** Bytes per part of a stored object (the last part may be shorter): 1 MiB. */
  public static final int PART_SIZE = 1 << 20;
  /**
   * The smallest part size a completion row may give, 64 KiB: a 64 MiB chunk in 1,024 parts. A row with a smaller one
   * was altered (stores write {@link #PART_SIZE}), and reading by it would send one query per few parts of a range.
   */
  public static final int MIN_PART_SIZE = 1 << 16;
  /** The largest part size a completion row may give, 16 MiB: Cassandra's default largest mutation. */
  public static final int MAX_PART_SIZE = 1 << 24;
  /** Parts per partition of {@code chunk_parts}: 8, so a partition holds at most 8 MiB. */
  public static final int PARTS_PER_SLAB = 8;
  /** Tables a store owns, in the order they are created. */
  public static final List<String> TABLES = List.of("meta", "chunks", "chunk_parts", "chunk_work", "records",
      "record_dirs");

  private CassandraSchema() {}

  /** {@code CREATE KEYSPACE IF NOT EXISTS} with the settings' replication. */
  public static String createKeyspace(CassandraSettings s) throws InvalidInputException {
    if (s.replication().isEmpty()) {
      throw new InvalidInputException("creating keyspace '" + s.keyspace() + "' at " + s.describe()
          + " needs its replication: add ?replication_factor=N (SimpleStrategy) or ?dc.<datacenter>=N&... "
          + "(NetworkTopologyStrategy) to the store URI, or have a DBA create it (docs/cassandra.md)");
    }
    StringBuilder map = new StringBuilder("{'class': '");
    map.append(s.perDatacenter() ? "NetworkTopologyStrategy" : "SimpleStrategy").append('\'');
    for (Map.Entry<String, String> e : s.replication().entrySet()) {
      map.append(", '").append(e.getKey()).append("': ").append(e.getValue());
    }
    map.append('}');
    return "CREATE KEYSPACE IF NOT EXISTS " + s.keyspace() + " WITH replication = " + map
        + " AND durable_writes = true";
  }

  /** The {@code CREATE TABLE IF NOT EXISTS} statements, one per table of {@link #TABLES}. */
  public static List<String> createTables(String ks) {
    // Parts are chunk frames, already compressed by Ferry's codecs or incompressible: Cassandra's compression would
    // only spend CPU. Objects are read whole or in large ranges, rarely twice from one node: no row cache.
    return List.of(
        "CREATE TABLE IF NOT EXISTS " + ks + ".meta (name text PRIMARY KEY, value blob)",
        "CREATE TABLE IF NOT EXISTS " + ks + ".chunks (id blob PRIMARY KEY, gen uuid, length bigint,"
            + " part_size int, written timestamp)",
        "CREATE TABLE IF NOT EXISTS " + ks + ".chunk_parts (id blob, gen uuid, slab int, part int, data blob,"
            + " PRIMARY KEY ((id, gen, slab), part)) WITH compression = {'enabled': 'false'}",
        "CREATE TABLE IF NOT EXISTS " + ks + ".chunk_work (id blob, gen uuid, length bigint, part_size int,"
            + " since timestamp, PRIMARY KEY ((id), gen))",
        "CREATE TABLE IF NOT EXISTS " + ks + ".records (parent text, name text, content blob,"
            + " PRIMARY KEY ((parent), name))",
        "CREATE TABLE IF NOT EXISTS " + ks + ".record_dirs (parent text, name text, PRIMARY KEY ((parent), name))");
  }

  /** The statement that publishes the store marker (a lightweight transaction: the first one wins). */
  public static String insertMarker(String ks) {
    return "INSERT INTO " + ks + ".meta (name, value) VALUES ('" + StoreMarker.NAME + "', 0x"
        + HexFormat.of().formatHex(StoreMarker.content()) + ") IF NOT EXISTS";
  }

  /** The whole script for a DBA: keyspace, tables, marker; each statement ends with {@code ;} on its own line. */
  public static String script(CassandraSettings s) throws InvalidInputException {
    List<String> all = new ArrayList<>();
    all.add(createKeyspace(s));
    all.addAll(createTables(s.keyspace()));
    all.add(insertMarker(s.keyspace()));
    StringBuilder b = new StringBuilder("-- Ferry store ").append(s.describe()).append(" (store format ")
        .append(StoreMarker.FORMAT_VERSION).append(")\n");
    for (String stmt : all) {
      b.append(stmt).append(";\n");
    }
    return b.toString();
  }

  /**
   * Prints the CQL that creates the store named by the URI, for a DBA to run.
   *
   * <p>Usage: {@code CassandraSchema cassandra://host:9042/keyspace?replication_factor=3}; exit 2 on a bad URI.
   */
  public static void main(String[] args) {
    if (args.length != 1) {
      System.err.println("usage: CassandraSchema cassandra://host1,host2:9042/keyspace?replication_factor=N"
          + " (or ?dc.<name>=N&dc.<name>=N)");
      System.exit(2);
    }
    try {
      byte[] out = script(CassandraSettings.parse(URI.create(args[0]), Map.of())).getBytes(StandardCharsets.UTF_8);
      System.out.write(out, 0, out.length);
      System.out.flush();
    } catch (InvalidInputException | IllegalArgumentException e) {
      System.err.println(e.getMessage());
      System.exit(2);
    }
  }
}
