package io.ferry.store.cassandra;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.CorruptObjectException;
import io.ferry.error.MissingObjectException;
import io.ferry.id.ChunkId;
import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ChunkStoreContract;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The whole {@link ChunkStoreContract} against a real Cassandra node, a fresh keyspace per test. */
class CassandraChunkStoreTest extends ChunkStoreContract {
  private URI uri;

  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    uri = LocalCassandra.shared().freshUri("chunks");
    return CassandraBackend.open(uri, StoreOptions.createIfMissing());
  }

  /**
   * Reads keep the completion rows they looked up (one round trip per range instead of two). When another client
   * deletes an object and puts it again (other parts, another length) the next read here still returns the object
   * as it now is, and once it is deleted a read says it is missing, never that it is damaged.
   */
  @Test
  void readsSeeAnObjectPutAgainOrDeletedByAnotherClient() throws Exception {
    byte[] first = content(3 * CassandraSchema.PART_SIZE + 11);
    byte[] second = content(CassandraSchema.PART_SIZE * 10);
    ChunkId id = ChunkId.of(ByteBuffer.wrap(first));
    assertThat(store.put(id, ByteBuffer.wrap(first))).isTrue();
    assertThat(store.read(id, 5, 100)).isEqualTo(ByteBuffer.wrap(first, 5, 100));
    try (Backend other = CassandraBackend.open(uri, StoreOptions.existing())) {
      other.chunks().delete(id);
      assertThat(other.chunks().put(id, ByteBuffer.wrap(second))).isTrue();
      // past the old length (the cached row alone would call it a read past the end), then within it
      assertThat(store.read(id, second.length - 100, 100)).isEqualTo(ByteBuffer.wrap(second, second.length - 100,
          100));
      other.chunks().delete(id);
      assertThat(other.chunks().put(id, ByteBuffer.wrap(first))).isTrue();
      // the cached generation's parts are gone
      assertThat(store.read(id, 5, 100)).isEqualTo(ByteBuffer.wrap(first, 5, 100));
      other.chunks().delete(id);
    }
    assertThatThrownBy(() -> store.read(id, 5, 100)).isInstanceOf(MissingObjectException.class);
    assertThatThrownBy(() -> store.read(id, 0, 100)).isInstanceOf(MissingObjectException.class);
  }

  /**
   * A completion row this store did not write whole (here: a generation without length or part size, written by
   * hand) is reported naming the object, what the row lacks and when each of its cells was written, not read with a
   * part size of zero.
   */
  @Test
  void aCompletionRowWithoutItsPartSizeIsReportedWithItsWriteTimes() throws Exception {
    byte[] c = content(100);
    ChunkId id = ChunkId.of(ByteBuffer.wrap(c));
    CassandraBackend cassandra = (CassandraBackend) backend;
    cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance("INSERT INTO "
        + cassandra.settings().keyspace() + ".chunks (id, gen) VALUES (?, ?) USING TIMESTAMP 1234567",
        ByteBuffer.wrap(id.toBytes()), java.util.UUID.randomUUID()));
    assertThatThrownBy(() -> store.read(id, 0, 10)).isInstanceOf(java.io.IOException.class)
        .hasMessageContaining("object " + id)
        .hasMessageContaining("lacks its generation, length or part size")
        .hasMessageContaining("length none, part size none")
        .hasMessageContaining("write times in microseconds of gen, length, part size, written: 1234567, none, none,"
            + " none");
  }

  /**
   * A completion row altered by hand (a negative length, a part size of zero or one no store writes) is damage: a
   * corrupt object naming the object and the row's values, as a missing part is (verify lists it with the others and
   * exits 3), not a read that failed, and never "truncated" at a length below zero.
   */
  @Test
  void aCompletionRowOutOfRangeIsACorruptObject() throws Exception {
    byte[] c = content(3 * CassandraSchema.PART_SIZE + 5);
    ChunkId id = ChunkId.of(ByteBuffer.wrap(c));
    assertThat(store.put(id, ByteBuffer.wrap(c))).isTrue();
    CassandraBackend cassandra = (CassandraBackend) backend;
    String table = cassandra.settings().keyspace() + ".chunks";
    ByteBuffer key = ByteBuffer.wrap(id.toBytes());
    cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance("UPDATE " + table
        + " SET length = -5 WHERE id = ? IF EXISTS", key));
    try (Backend other = CassandraBackend.open(uri, StoreOptions.existing())) {
      assertThatThrownBy(() -> other.chunks().read(id, 0, 32)).isInstanceOf(CorruptObjectException.class)
          .hasMessageContaining("object " + id).hasMessageContaining("length -5");
      cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance("UPDATE " + table
          + " SET length = ?, part_size = 0 WHERE id = ? IF EXISTS", (long) c.length, key));
      assertThatThrownBy(() -> other.chunks().read(id, 0, 32)).isInstanceOf(CorruptObjectException.class)
          .hasMessageContaining("object " + id).hasMessageContaining("part size 0");
      // a part size this store never writes: one of 1 made a read of n bytes ask for n parts before any check
      for (int size : new int[] {1, CassandraSchema.MIN_PART_SIZE - 1, CassandraSchema.MAX_PART_SIZE + 1}) {
        cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance("UPDATE "
            + table + " SET part_size = ? WHERE id = ? IF EXISTS", size, key));
        assertThatThrownBy(() -> other.chunks().read(id, 0, c.length)).as("part size %d", size)
            .isInstanceOf(CorruptObjectException.class).hasMessageContaining("object " + id)
            .hasMessageContaining("part size " + size + ";");
      }
    }
  }

  /**
   * A completion row without its time written (altered by hand, or repaired from a replica that lacks the cell) is
   * listed with the time its generation was written, so that gc keeps it through the grace period and then treats it
   * as any other object: the listing threw a bare NullPointerException ("modified"), and every gc failed with it.
   */
  @Test
  void aCompletionRowWithoutItsTimeIsListedWithItsWriteTime() throws Exception {
    byte[] c = content(100);
    ChunkId id = ChunkId.of(ByteBuffer.wrap(c));
    java.time.Instant before = java.time.Instant.now().minusSeconds(60);
    assertThat(store.put(id, ByteBuffer.wrap(c))).isTrue();
    CassandraBackend cassandra = (CassandraBackend) backend;
    cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance("DELETE written FROM "
        + cassandra.settings().keyspace() + ".chunks WHERE id = ? IF EXISTS", ByteBuffer.wrap(id.toBytes())));
    java.util.List<io.ferry.store.StoredObject> listed = new java.util.ArrayList<>();
    store.list(listed::add);
    assertThat(listed).hasSize(1);
    assertThat(listed.get(0).id()).isEqualTo(id);
    assertThat(listed.get(0).size()).isEqualTo(c.length);
    assertThat(listed.get(0).modified()).isAfter(before).isBefore(java.time.Instant.now().plusSeconds(60));
    store.delete(id);
    assertThat(store.contains(id)).isFalse();
  }

  /**
   * A note of a put in progress without its time (not written whole by this store) is judged by its write time: gc
   * failed on it with a bare NullPointerException and removed nothing.
   */
  @Test
  void aPutNoteWithoutItsTimeIsJudgedByItsWriteTime() throws Exception {
    CassandraBackend cassandra = (CassandraBackend) backend;
    String ks = cassandra.settings().keyspace();
    ByteBuffer key = ByteBuffer.wrap(ChunkId.of(content(10)).toBytes());
    java.util.UUID gen = java.util.UUID.randomUUID();
    cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance("INSERT INTO " + ks
        + ".chunk_work (id, gen, length, part_size) VALUES (?, ?, 10, ?) USING TIMESTAMP 1234567", key, gen,
        CassandraSchema.PART_SIZE));
    cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance("INSERT INTO " + ks
        + ".chunk_parts (id, gen, slab, part, data) VALUES (?, ?, 0, 0, ?)", key, gen, ByteBuffer.wrap(content(10))));
    assertThat(store.removeAbandoned(java.time.Instant.now())).isEqualTo(1);
    assertThat(cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance(
        "SELECT part FROM " + ks + ".chunk_parts WHERE id = ? AND gen = ? AND slab = 0", key, gen)).one()).isNull();
  }

  /**
   * A note of a put in progress without a length, or whose part size no store writes (altered by hand), has the parts
   * of its generation removed by gc all the same, found slab by slab: it stopped every gc (exit 3) until removed by
   * hand, and a part size of 0 had failed gc with a bare division by zero.
   */
  @Test
  void aPutNoteWithoutAUsableLengthHasItsPartsRemoved() throws Exception {
    CassandraBackend cassandra = (CassandraBackend) backend;
    String ks = cassandra.settings().keyspace();
    byte[] c = content(10);
    ByteBuffer key = ByteBuffer.wrap(ChunkId.of(c).toBytes());
    Integer[][] notes = {{10, 0}, {10, 1}, {10, CassandraSchema.MAX_PART_SIZE + 1}, {null, CassandraSchema.PART_SIZE},
        {-1, CassandraSchema.PART_SIZE}};
    for (Integer[] note : notes) {
      java.util.UUID gen = java.util.UUID.randomUUID();
      for (int slab = 0; slab < 3; slab++) {
        cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance("INSERT INTO "
            + ks + ".chunk_parts (id, gen, slab, part, data) VALUES (?, ?, ?, ?, ?)", key, gen, slab,
            slab * CassandraSchema.PARTS_PER_SLAB, ByteBuffer.wrap(c)));
      }
      cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance("INSERT INTO "
          + ks + ".chunk_work (id, gen, length, part_size) VALUES (?, ?, ?, ?) USING TIMESTAMP 1234567", key, gen,
          note[0] == null ? null : (long) note[0], note[1]));
      assertThat(store.removeAbandoned(java.time.Instant.now())).as("length %s, part size %s", note[0], note[1])
          .isEqualTo(1);
      assertThat(cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance(
          "SELECT part FROM " + ks + ".chunk_parts WHERE id = ? AND gen = ? AND slab IN (0, 1, 2)", key, gen)).all())
          .as("every slab removed").isEmpty();
      assertThat(cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance(
          "SELECT gen FROM " + ks + ".chunk_work WHERE id = ?", key)).all()).as("unnoted").isEmpty();
    }
  }

  /**
   * A delete of a damaged object probes its generation's slabs from 0 up and deletes each: killed after deleting slab
   * 0 (or more) it leaves the later slabs and a note without a length. gc's removal of abandoned puts probed again from
   * slab 0, found it empty and unnoted the delete: the later slabs stayed for good. It now finds them by its scan of
   * chunk_parts. Every point at which a delete can stop is covered, for a damaged object and a sound one (whose note
   * holds the length): after its note (the row still there: the object stays as it was), after the row's delete,
   * and after each slab.
   */
  @Test
  void aDeleteInterruptedAtAnyPointLeavesNothingBehind() throws Exception {
    CassandraBackend cassandra = (CassandraBackend) backend;
    String ks = cassandra.settings().keyspace();
    int slabs = 3;
    for (boolean damaged : new boolean[] {true, false}) {
      for (int stoppedAfter = -1; stoppedAfter <= slabs; stoppedAfter++) {
        String at = (damaged ? "damaged" : "sound") + " object, stopped after " + stoppedAfter + " slabs";
        byte[] c = content(CassandraSchema.PARTS_PER_SLAB * CassandraSchema.PART_SIZE * (slabs - 1) + 7
            + stoppedAfter + (damaged ? 0 : 100));
        ChunkId id = ChunkId.of(ByteBuffer.wrap(c));
        ByteBuffer key = ByteBuffer.wrap(id.toBytes());
        assertThat(store.put(id, ByteBuffer.wrap(c))).isTrue();
        java.util.UUID gen = cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement
            .newInstance("SELECT gen FROM " + ks + ".chunks WHERE id = ?", key)).one().getUuid(0);
        if (damaged) {
          cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance("DELETE"
              + " part_size FROM " + ks + ".chunks WHERE id = ? IF EXISTS", key));
        }
        // what CassandraChunkStore.delete (or deleteDamaged, without the length) did before it stopped: its note
        // (dated past the grace period), then the row's delete (stoppedAfter 0 and on), then slabs 0 to
        // stoppedAfter - 1
        cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance("INSERT INTO "
            + ks + ".chunk_work (id, gen, length, part_size, since) VALUES (?, ?, ?, ?, ?)", key, gen,
            damaged ? null : (long) c.length, damaged ? null : CassandraSchema.PART_SIZE, java.time.Instant.EPOCH));
        if (stoppedAfter >= 0) {
          cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance("DELETE FROM "
              + ks + ".chunks WHERE id = ? IF gen = ?", key, gen));
        }
        for (int slab = 0; slab < stoppedAfter; slab++) {
          cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance("DELETE FROM "
              + ks + ".chunk_parts WHERE id = ? AND gen = ? AND slab = ?", key, gen, slab));
        }
        try (Backend other = CassandraBackend.open(uri, StoreOptions.existing())) {
          other.chunks().removeAbandoned(java.time.Instant.now().minus(java.time.Duration.ofDays(1)));
          java.util.List<ChunkId> listed = new java.util.ArrayList<>();
          other.chunks().list(o -> listed.add(o.id()));
          if (stoppedAfter < 0) {
            // stopped before the row's delete: the object is as it was, for the next gc to delete
            assertThat(listed).as(at).contains(id);
            if (damaged) {
              assertThatThrownBy(() -> other.chunks().read(id, 0, 32)).isInstanceOf(CorruptObjectException.class);
            } else {
              assertThat(other.chunks().read(id, 0, c.length)).as(at).isEqualTo(ByteBuffer.wrap(c));
            }
            other.chunks().delete(id);
          } else {
            assertThat(listed).as("%s: nothing half-deleted is listed", at).doesNotContain(id);
            assertThat(other.chunks().contains(id)).as(at).isFalse();
          }
        }
        assertThat(cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance(
            "SELECT part FROM " + ks + ".chunk_parts WHERE id = ? AND gen = ? AND slab IN (0, 1, 2)", key, gen))
            .all()).as("%s: every slab removed", at).isEmpty();
        assertThat(cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance(
            "SELECT gen FROM " + ks + ".chunk_work WHERE id = ?", key)).all()).as("%s: unnoted", at).isEmpty();
      }
    }
  }

  /**
   * An object whose completion row is damaged (a negative length, no part size, no generation) is deleted by gc with
   * every part of its generation, as any object no version needs: it stopped every gc (exit 3) until the row was
   * removed by hand, and its parts stayed. A row without a generation cannot say where its parts are: they stayed
   * for good; gc's removal of abandoned puts now finds them by one scan of chunk_parts, and keeps the parts of the
   * object put again meanwhile.
   */
  @Test
  void aDamagedObjectIsDeletedWithItsParts() throws Exception {
    CassandraBackend cassandra = (CassandraBackend) backend;
    String ks = cassandra.settings().keyspace();
    String[] damage = {"UPDATE " + ks + ".chunks SET length = -5 WHERE id = ? IF EXISTS",
        "DELETE part_size FROM " + ks + ".chunks WHERE id = ? IF EXISTS",
        "DELETE gen FROM " + ks + ".chunks WHERE id = ? IF EXISTS"};
    for (int i = 0; i < damage.length; i++) {
      byte[] c = content(CassandraSchema.PARTS_PER_SLAB * CassandraSchema.PART_SIZE + 5 + i);
      ChunkId id = ChunkId.of(ByteBuffer.wrap(c));
      ByteBuffer key = ByteBuffer.wrap(id.toBytes());
      assertThat(store.put(id, ByteBuffer.wrap(c))).isTrue();
      java.util.UUID gen = cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement
          .newInstance("SELECT gen FROM " + ks + ".chunks WHERE id = ?", key)).one().getUuid(0);
      cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance(damage[i], key));
      try (Backend other = CassandraBackend.open(uri, StoreOptions.existing())) {
        assertThatThrownBy(() -> other.chunks().read(id, 0, 32)).as(damage[i])
            .isInstanceOf(CorruptObjectException.class);
        other.chunks().delete(id);
        assertThat(other.chunks().contains(id)).as(damage[i]).isFalse();
        assertThat(store.put(id, ByteBuffer.wrap(c))).as("put again").isTrue();
        // as gc does after its deletes, with a cutoff that leaves puts in progress alone
        other.chunks().removeAbandoned(java.time.Instant.now().minus(java.time.Duration.ofDays(1)));
      }
      assertThat(cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance(
          "SELECT part FROM " + ks + ".chunk_parts WHERE id = ? AND gen = ? AND slab IN (0, 1)", key, gen)).all())
          .as("%s: every slab removed", damage[i]).isEmpty();
      assertThat(cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance(
          "SELECT gen FROM " + ks + ".chunk_work WHERE id = ?", key)).all()).as("unnoted").isEmpty();
      assertThat(store.read(id, 0, c.length)).as("the object put again").isEqualTo(ByteBuffer.wrap(c));
    }
  }

  /**
   * A row of {@code chunks} or {@code chunk_work} whose id is not a chunk id (written by hand: this store never writes
   * one) is damage naming the store, the table and the row, and how to remove it: gc failed with "a chunk id is 32
   * bytes, got 2", which named neither.
   */
  @Test
  void aRowWhoseIdIsNoChunkIdIsNamed() throws Exception {
    CassandraBackend cassandra = (CassandraBackend) backend;
    String ks = cassandra.settings().keyspace();
    for (String table : new String[] {"chunks", "chunk_work"}) {
      cassandra.session().execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance("INSERT INTO " + ks
          + "." + table + " (id, gen, length, part_size) VALUES (0x0102, ?, 5, ?)", java.util.UUID.randomUUID(),
          CassandraSchema.PART_SIZE));
      assertThatThrownBy(() -> {
        if (table.equals("chunks")) {
          store.list(o -> { });
        } else {
          store.removeAbandoned(java.time.Instant.now());
        }
      }).as(table).isInstanceOf(io.ferry.error.CorruptStoreException.class).hasMessageContaining(uri.getHost())
          .hasMessageContaining("table " + ks + "." + table).hasMessageContaining("0x0102")
          .hasMessageContaining("DELETE FROM " + ks + "." + table + " WHERE id = 0x0102");
      cassandra.session().execute("DELETE FROM " + ks + "." + table + " WHERE id = 0x0102");
    }
  }

  /**
   * An object of many parts over two slabs, given as buffers whose edges fall inside parts and on their bounds (so
   * some parts are sent as slices of one buffer and others gathered from several), comes back whole and by ranges
   * that cross parts and slabs, into heap and direct buffers.
   */
  @Test
  void manyPartsFromUnalignedBuffersComeBackByAnyRange() throws Exception {
    int ps = CassandraSchema.PART_SIZE;
    int n = (CassandraSchema.PARTS_PER_SLAB + 1) * ps + ps / 2;
    byte[] c = new byte[n];
    new Random(n).nextBytes(c);
    int[] cuts = {0, ps / 3, ps, 3 * ps + 17, 3 * ps + 18, 5 * ps, n};
    ByteBuffer[] parts = new ByteBuffer[cuts.length - 1];
    for (int i = 0; i < parts.length; i++) {
      int len = cuts[i + 1] - cuts[i];
      ByteBuffer b = i % 2 == 0 ? ByteBuffer.allocateDirect(len + 5) : ByteBuffer.allocate(len + 5);
      parts[i] = b.position(5).put(c, cuts[i], len).position(5);
    }
    ChunkId id = ChunkId.of(ByteBuffer.wrap(c));
    assertThat(store.put(id, parts)).isTrue();
    for (ByteBuffer p : parts) {
      assertThat(p.hasRemaining()).as("every given byte taken").isFalse();
    }
    assertThat(store.get(id)).isEqualTo(ByteBuffer.wrap(c));
    long[][] ranges = {{ps - 1, 2}, {ps / 2, 4 * ps}, {CassandraSchema.PARTS_PER_SLAB * ps - 3, ps + 6},
        {n - ps - 1, ps + 1}, {0, n}};
    for (long[] r : ranges) {
      int off = (int) r[0];
      int len = (int) r[1];
      assertThat(store.read(id, off, len)).as("read(%d, %d)", off, len).isEqualTo(ByteBuffer.wrap(c, off, len));
      ByteBuffer dst = ByteBuffer.allocateDirect(len + 2).position(2);
      store.readInto(id, off, dst);
      assertThat(dst.position()).isEqualTo(len + 2);
      assertThat(dst.flip().position(2)).as("readInto(%d, %d)", off, len).isEqualTo(ByteBuffer.wrap(c, off, len));
    }
  }
}
