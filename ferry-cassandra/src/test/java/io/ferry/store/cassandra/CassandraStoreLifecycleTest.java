package io.ferry.store.cassandra;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.datastax.oss.driver.api.core.CqlSession;
import com.datastax.oss.driver.api.core.cql.SimpleStatement;
import io.ferry.error.InvalidInputException;
import io.ferry.id.ChunkId;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RefMover;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Creating, finding and refusing stores: init, the DBA's script, foreign keyspaces, the provider. */
class CassandraStoreLifecycleTest {
  private final LocalCassandra server = LocalCassandra.shared();

  private CqlSession cql() {
    return CqlSession.builder().addContactPoint(new InetSocketAddress(server.address(), server.nativePort()))
        .withLocalDatacenter("datacenter1").build();
  }

  /** Schema changes wait for the server's schema agreement: longer than the driver's 2 s default on a busy machine. */
  private static void ddl(CqlSession s, String cql) {
    s.execute(SimpleStatement.newInstance(cql).setTimeout(Duration.ofMinutes(1)));
  }

  @Test
  void openingWithoutInitIsRefusedAndInitNeedsTheReplication() throws Exception {
    String ks = LocalCassandra.freshKeyspace("life");
    assertThatThrownBy(() -> CassandraBackend.open(server.uri(ks, ""), StoreOptions.existing()))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("no Ferry store at")
        .hasMessageContaining("the cluster has no keyspace '" + ks + "'").hasMessageContaining("ferry init");
    assertThatThrownBy(() -> CassandraBackend.open(server.uri(ks, ""), StoreOptions.createIfMissing()))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("replication_factor=N");
    try (CassandraBackend b = CassandraBackend.open(server.uri(ks, "replication_factor=1"),
        StoreOptions.createIfMissing())) {
      ChunkId id = ChunkId.of(new byte[] {1, 2, 3});
      assertThat(b.chunks().put(id, ByteBuffer.wrap(new byte[] {1, 2, 3}))).isTrue();
    }
    try (CqlSession s = cql()) {
      s.execute("DELETE FROM " + ks + ".meta WHERE name = '" + io.ferry.store.StoreMarker.NAME + "'");
      assertThatThrownBy(() -> CassandraBackend.open(server.uri(ks, ""), StoreOptions.existing()))
          .as("a keyspace without marker, but with an object and no records: not a store that lost its marker")
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("is not empty and is not a Ferry store");
      s.execute("INSERT INTO " + ks + ".meta (name, value) VALUES ('" + io.ferry.store.StoreMarker.NAME + "', ?)",
          ByteBuffer.wrap(io.ferry.store.StoreMarker.content()));
    }
    try (var b = RefMover.open(server.uri(ks, ""), StoreOptions.existing())) {
      assertThat(b).as("found through ServiceLoader").isInstanceOf(CassandraBackend.class);
      assertThat(b.chunks().contains(ChunkId.of(new byte[] {1, 2, 3}))).isTrue();
    }
  }

  /**
   * An init whose replication the nodes that are up cannot serve (3 on a one-node cluster) fails, and drops the
   * keyspace it made: it left the keyspace with its tables and no marker, and a corrected init then failed the same
   * way (the keyspace's replication is used only when Ferry creates it).
   */
  @Test
  void anInitWhoseReplicationCannotBeServedLeavesNoKeyspaceBehind() throws Exception {
    String ks = LocalCassandra.freshKeyspace("rf");
    assertThatThrownBy(() -> CassandraBackend.open(server.uri(ks, "replication_factor=3"),
        StoreOptions.createIfMissing()).close())
        .hasMessageContaining("QUORUM").hasMessageContaining("was dropped again");
    try (CqlSession s = cql()) {
      assertThat(s.getMetadata().getKeyspace(ks)).as("no half-made keyspace").isEmpty();
    }
    try (CassandraBackend b = CassandraBackend.open(server.uri(ks, "replication_factor=1"),
        StoreOptions.createIfMissing())) {
      assertThat(b.refs().list("")).isEmpty();
    }
  }

  /**
   * A URI whose replication differs from the keyspace's is refused, naming both, and the keyspace is left as it was:
   * the URI's replication is used only to create the keyspace, and was passed over without a word.
   */
  @Test
  void aReplicationOtherThanTheKeyspacesIsRefused() throws Exception {
    String ks = LocalCassandra.freshKeyspace("rfo");
    try (CassandraBackend b = CassandraBackend.open(server.uri(ks, "replication_factor=1"),
        StoreOptions.createIfMissing())) {
      assertThat(b.refs().list("")).isEmpty();
    }
    for (String other : new String[] {"replication_factor=2", "dc.datacenter1=1"}) {
      for (StoreOptions options : new StoreOptions[] {StoreOptions.existing(), StoreOptions.createIfMissing()}) {
        assertThatThrownBy(() -> CassandraBackend.open(server.uri(ks, other), options).close())
            .as("%s, create %s", other, options.create())
            .isInstanceOf(InvalidInputException.class).hasMessageContaining("keyspace '" + ks + "'")
            .hasMessageContaining("replication_factor=1").hasMessageContaining(other)
            .hasMessageContaining("leave it out of the URI");
      }
    }
    // given as a store setting (--store-option), the replication is named as that setting: the message said "its URI
    // gives" of a value the URI did not hold
    assertThatThrownBy(() -> CassandraBackend.open(server.uri(ks, ""), StoreOptions.existing().withSettings(
        Map.of("cassandra.replication_factor", "2"))).close())
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("keyspace '" + ks + "'")
        .hasMessageContaining("not the replication_factor=2 the store setting cassandra.replication_factor gives")
        .hasMessageContaining("leave it out of the store settings").hasMessageNotContaining("URI gives");
    try (CqlSession s = cql()) {
      assertThat(s.getMetadata().getKeyspace(ks).orElseThrow().getReplication())
          .as("the keyspace's replication").containsEntry("replication_factor", "1").hasSize(2);
    }
    try (CassandraBackend b = CassandraBackend.open(server.uri(ks, "replication_factor=1"), StoreOptions.existing());
        CassandraBackend plain = CassandraBackend.open(server.uri(ks, ""), StoreOptions.existing())) {
      assertThat(b.refs().list("")).isEmpty();
      assertThat(plain.refs().list("")).isEmpty();
    }
  }

  /**
   * A part row lost under a complete object (deleted by someone with MODIFY on the keyspace, a lost sstable) is a
   * corrupt object, as a damaged file of a local store is: verify lists every damaged object and exits 3 with its
   * repair hint. It was a failed read, which stopped verify at the first one with exit 1.
   */
  @Test
  void aLostPartIsACorruptObject() throws Exception {
    String ks = LocalCassandra.freshKeyspace("lost");
    URI uri = server.uri(ks, "replication_factor=1");
    byte[] content = new byte[3 * CassandraSchema.PART_SIZE + 5];
    new java.util.Random(11).nextBytes(content);
    ChunkId id = ChunkId.of(content);
    try (CassandraBackend b = CassandraBackend.open(uri, StoreOptions.createIfMissing())) {
      assertThat(b.chunks().put(id, ByteBuffer.wrap(content))).isTrue();
    }
    try (CqlSession s = cql()) {
      com.datastax.oss.driver.api.core.cql.Row row = s.execute(SimpleStatement.newInstance(
          "SELECT gen FROM " + ks + ".chunks WHERE id = ?", ByteBuffer.wrap(id.toBytes()))).one();
      s.execute(SimpleStatement.newInstance("DELETE FROM " + ks + ".chunk_parts WHERE id = ? AND gen = ? AND slab = 0"
          + " AND part = 1", ByteBuffer.wrap(id.toBytes()), row.getUuid(0)));
    }
    try (CassandraBackend b = CassandraBackend.open(uri, StoreOptions.existing())) {
      assertThatThrownBy(() -> b.chunks().read(id, 0, content.length))
          .isInstanceOf(io.ferry.error.CorruptObjectException.class).hasMessageContaining(id.hex())
          .hasMessageContaining("is corrupt: expected part 1 of ").hasMessageContaining("found part 2");
    }
  }

  @Test
  void aStoreADbaCreatedFromTheScriptOpensWithoutCreate() throws Exception {
    String ks = LocalCassandra.freshKeyspace("dba");
    URI uri = server.uri(ks, "replication_factor=1");
    try (CqlSession s = cql()) {
      for (String stmt : CassandraSchema.script(CassandraSettings.parse(uri, Map.of())).split(";\n")) {
        if (!stmt.isBlank() && !stmt.startsWith("--")) {
          ddl(s, stmt);
        } else if (stmt.contains("\n")) {
          ddl(s, stmt.substring(stmt.indexOf('\n') + 1));
        }
      }
    }
    try (CassandraBackend b = CassandraBackend.open(server.uri(ks, ""), StoreOptions.existing())) {
      assertThat(b.records().create("leases/x", new byte[] {7})).isTrue();
    }
  }

  /**
   * A store whose marker row was deleted, with objects and refs still in it, is damage that gives the marker's
   * content, as on local, HDFS and S3 stores: every command, init included, called it "not empty and is not a Ferry
   * store". Nothing is written to it.
   */
  @Test
  void aStoreThatLostItsMarkerIsDamage() throws Exception {
    String ks = LocalCassandra.freshKeyspace("nomark");
    URI uri = server.uri(ks, "replication_factor=1");
    ChunkId id = ChunkId.of(new byte[] {4, 5, 6});
    try (CassandraBackend b = CassandraBackend.open(uri, StoreOptions.createIfMissing())) {
      assertThat(b.chunks().put(id, ByteBuffer.wrap(new byte[] {4, 5, 6}))).isTrue();
      assertThat(b.records().create("refs/m/head/tip", new byte[] {1})).isTrue();
    }
    try (CqlSession s = cql()) {
      s.execute("DELETE FROM " + ks + ".meta WHERE name = '" + io.ferry.store.StoreMarker.NAME + "'");
    }
    for (StoreOptions options : new StoreOptions[] {StoreOptions.existing(), StoreOptions.createIfMissing()}) {
      assertThatThrownBy(() -> CassandraBackend.open(uri, options).close()).as("create %s", options.create())
          .isInstanceOf(io.ferry.error.CorruptStoreException.class).hasMessageContaining(ks + ".meta")
          .hasMessageContaining("is missing").hasMessageContaining("{\"format\":\"ferry-store\",\"version\":1}");
    }
    try (CqlSession s = cql()) {
      assertThat(s.execute("SELECT name FROM " + ks + ".meta").one()).as("no marker written").isNull();
    }
  }

  @Test
  void aKeyspaceWithOtherTablesIsNotTakenOver() throws Exception {
    String ks = LocalCassandra.freshKeyspace("foreign");
    try (CqlSession s = cql()) {
      ddl(s, "CREATE KEYSPACE " + ks + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
      ddl(s, "CREATE TABLE " + ks + ".users (id int PRIMARY KEY)");
    }
    assertThatThrownBy(() -> CassandraBackend.open(server.uri(ks, "replication_factor=1"),
        StoreOptions.createIfMissing())).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("not empty and is not a Ferry store")
        .hasMessageContaining("no store marker").hasMessageContaining("(table " + ks + ".meta, row");
  }

  /** A local_dc no node is in failed every request with the driver's "No node was available". */
  @Test
  void anUnknownLocalDatacenterIsNamedWithTheClustersOwn() {
    String ks = LocalCassandra.freshKeyspace("dc");
    assertThatThrownBy(() -> CassandraBackend.open(server.uri(ks, "replication_factor=1&local_dc=nowhere"),
        StoreOptions.createIfMissing()).close())
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("local_dc 'nowhere'")
        .hasMessageContaining("[datacenter1]");
    try (CqlSession s = cql()) {
      assertThat(s.getMetadata().getKeyspace(ks)).as("nothing created").isEmpty();
    }
  }

  /**
   * A dc.<name> replication naming a datacenter the cluster does not have is refused naming the option and the
   * cluster's datacenters, before anything is created (Cassandra's own refusal was reported as a failure to create the
   * schema at consistency QUORUM).
   */
  @Test
  void anUnknownReplicationDatacenterIsNamedWithTheClustersOwn() {
    String ks = LocalCassandra.freshKeyspace("dcrf");
    assertThatThrownBy(() -> CassandraBackend.open(server.uri(ks, "dc.Datacenter1=1"),
        StoreOptions.createIfMissing()).close())
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("dc.Datacenter1")
        .hasMessageContaining("'Datacenter1' is not a datacenter of the cluster")
        .hasMessageContaining("[datacenter1]").hasMessageNotContaining("QUORUM");
    try (CqlSession s = cql()) {
      assertThat(s.getMetadata().getKeyspace(ks)).as("nothing created").isEmpty();
    }
  }

  @Test
  void anUnreachableClusterIsNamed() {
    URI uri = URI.create("cassandra://127.0.0.1:1/nothing");
    assertThatThrownBy(() -> CassandraBackend.open(uri, StoreOptions.existing()))
        .hasMessageContaining("cassandra://127.0.0.1:1/nothing");
  }
}
