package io.ferry.store.cassandra;

import com.datastax.oss.driver.api.core.AllNodesFailedException;
import com.datastax.oss.driver.api.core.connection.ClosedConnectionException;
import com.datastax.oss.driver.api.core.connection.HeartbeatException;
import com.datastax.oss.driver.api.core.cql.AsyncResultSet;
import com.datastax.oss.driver.api.core.cql.BoundStatement;
import com.datastax.oss.driver.api.core.cql.PreparedStatement;
import com.datastax.oss.driver.api.core.cql.ResultSet;
import com.datastax.oss.driver.api.core.cql.Row;
import com.datastax.oss.driver.api.core.servererrors.OverloadedException;
import com.datastax.oss.driver.api.core.servererrors.WriteTimeoutException;
import com.datastax.oss.driver.api.core.uuid.Uuids;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.CorruptStoreException;
import io.ferry.error.MissingObjectException;
import io.ferry.id.ChunkId;
import io.ferry.store.ChunkStore;
import io.ferry.store.StoredObject;
import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;

/**
 * Objects in Cassandra: each object's bytes in parts of at most {@link CassandraSchema#PART_SIZE} bytes (table {@code
 * chunk_parts}, {@link CassandraSchema#PARTS_PER_SLAB} parts to a partition), and one row in {@code chunks} that
 * marks it complete. The row is written last, so readers, {@link #contains} and {@link #list} never see an object
 * whose parts are not all written.
 *
 * <p>Every put writes its parts under a fresh generation ({@code gen}, a random UUID), and the completion row names
 * the generation it completes. The row is written with a lightweight transaction ({@code IF NOT EXISTS}): of
 * concurrent puts of one id exactly one wins and reports creation; the losers delete their own parts. Because a new
 * put never writes into the partitions of an old one, a delete's tombstones can never hide the parts of a later put
 * of the same id, whatever the clocks of the clients that wrote them.
 *
 * <p>A put or delete in progress is noted in {@code chunk_work} first and unnoted last; {@link #removeAbandoned}
 * removes the parts of the notes that a crash left behind.
 */
final class CassandraChunkStore implements ChunkStore {
  /** How often a completion row is sent when its outcome was unknown and a serial read found it absent. */
  private static final int COMPLETION_ATTEMPTS = 5;
  /** Serial reads that settle one transaction when connections are lost: pauses of 0.2, 0.4, 0.8 and 1.6 s between. */
  private static final int SETTLE_ATTEMPTS = 5;
  /**
   * Every column of a completion row, which the insert writes and every query of the table selects. A read at QUORUM that finds replicas
   * disagreeing repairs the stale ones with what it read, and only with the columns it selected: the listing once
   * selected {@code length} and {@code written} alone, and after a push that lost its quorum (a completion row on one
   * replica only) it wrote rows of those two columns to the others, which a later read of two of them returned as a
   * row without generation or part size (seen twice in {@code CassandraNodeLossTest}: length and written with one
   * write time, gen and part size none).
   */
  private static final String MARKER_COLUMNS = "gen, length, part_size, written";
  /**
   * The generation under which {@code chunk_work} notes the delete of an object whose completion row had none: its
   * parts can be found only by a scan of {@code chunk_parts}, which {@link #removeAbandoned} makes once for all such
   * notes. No put writes it (theirs are random UUIDs, of version 4).
   */
  static final UUID UNKNOWN_GEN = new UUID(0, 0);
  /** Bytes of a chunk id (a SHA-256). */
  private static final int ID_BYTES = 32;
  /** Completion rows kept for reads (about 100 bytes each): a pull reads each object in several ranges. */
  private static final int READ_MARKERS = 4096;
  private final CassandraBackend backend;
  private final String where;
  private final PreparedStatement readMarker;
  private final PreparedStatement insertMarker;
  private final PreparedStatement deleteMarker;
  private final PreparedStatement listMarkers;
  private final PreparedStatement insertPart;
  private final PreparedStatement readParts;
  private final PreparedStatement deleteSlab;
  private final PreparedStatement insertWork;
  private final PreparedStatement deleteWork;
  private final PreparedStatement deleteMarkerWithoutGen;
  private final PreparedStatement probeSlab;
  private final PreparedStatement listWork;
  private final PreparedStatement readWork;
  private final PreparedStatement listSlabs;
  /**
   * Completion rows recently read, for reads only: a range read then costs one round trip instead of two. Never used
   * to answer {@link #contains} or {@link #missing} (a push must see a delete at once); a read whose cached
   * generation's parts are gone looks the row up again (see {@link #readInto}).
   */
  private final Map<ChunkId, Marker> readMarkers = new LinkedHashMap<>(64, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<ChunkId, Marker> eldest) {
      return size() > READ_MARKERS;
    }
  };

  CassandraChunkStore(CassandraBackend backend) {
    this.backend = backend;
    this.where = backend.where();
    String ks = backend.settings().keyspace();
    var s = backend.session();
    readMarker = s.prepare("SELECT " + MARKER_COLUMNS + " FROM " + ks + ".chunks WHERE id = ?");
    insertMarker = s.prepare("INSERT INTO " + ks + ".chunks (id, " + MARKER_COLUMNS + ")"
        + " VALUES (?, ?, ?, ?, ?) IF NOT EXISTS");
    deleteMarker = s.prepare("DELETE FROM " + ks + ".chunks WHERE id = ? IF gen = ?");
    listMarkers = s.prepare("SELECT id, " + MARKER_COLUMNS + " FROM " + ks + ".chunks");
    insertPart = s.prepare("INSERT INTO " + ks + ".chunk_parts (id, gen, slab, part, data) VALUES (?, ?, ?, ?, ?)");
    readParts = s.prepare("SELECT part, data FROM " + ks + ".chunk_parts WHERE id = ? AND gen = ? AND slab = ?"
        + " AND part >= ? AND part <= ?");
    deleteSlab = s.prepare("DELETE FROM " + ks + ".chunk_parts WHERE id = ? AND gen = ? AND slab = ?");
    insertWork = s.prepare("INSERT INTO " + ks + ".chunk_work (id, gen, length, part_size, since)"
        + " VALUES (?, ?, ?, ?, ?)");
    deleteWork = s.prepare("DELETE FROM " + ks + ".chunk_work WHERE id = ? AND gen = ?");
    listWork = s.prepare("SELECT id, gen, length, part_size, since FROM " + ks + ".chunk_work");
    deleteMarkerWithoutGen = s.prepare("DELETE FROM " + ks + ".chunks WHERE id = ? IF gen = null");
    readWork = s.prepare("SELECT gen FROM " + ks + ".chunk_work WHERE id = ? AND gen = ?");
    listSlabs = s.prepare("SELECT DISTINCT id, gen, slab FROM " + ks + ".chunk_parts");
    probeSlab = s.prepare("SELECT part FROM " + ks + ".chunk_parts WHERE id = ? AND gen = ? AND slab = ? LIMIT 1");
  }

  /** The completion row of an object. */
  private record Marker(UUID gen, long length, int partSize, Instant written) {}

  @Override
  public String describe() {
    return where;
  }

  @Override
  public boolean contains(ChunkId id) throws IOException {
    return marker(id) != null;
  }

  /** Asks for all ids at once (bounded by the store's request limit), keeping the given order. */
  @Override
  public List<ChunkId> missing(Collection<ChunkId> ids) throws IOException {
    List<ChunkId> list = new ArrayList<>(ids);
    List<CompletionStage<AsyncResultSet>> asks = new ArrayList<>(list.size());
    for (ChunkId id : list) {
      asks.add(backend.executeAsync(readMarker.bind(key(id)).setIdempotent(true)));
    }
    List<AsyncResultSet> got = backend.await("looking up " + list.size() + " objects", asks);
    List<ChunkId> out = new ArrayList<>();
    for (int i = 0; i < list.size(); i++) {
      if (got.get(i).one() == null) {
        out.add(list.get(i));
      }
    }
    return out;
  }

  @Override
  public boolean put(ChunkId id, ByteBuffer... parts) throws IOException {
    if (marker(id) != null) {
      return false;
    }
    long length = 0;
    for (ByteBuffer p : parts) {
      length += p.remaining();
    }
    int partSize = CassandraSchema.PART_SIZE;
    UUID gen = Uuids.random();
    Instant now = backend.clock().instant();
    backend.execute("noting the put of object " + id, insertWork.bind(key(id), gen, length, partSize, now)
        .setIdempotent(true));
    writeParts(id, gen, parts, length, partSize);
    boolean created;
    for (int attempt = 1; ; attempt++) {
      try {
        Row row = backend.executeSent(insertMarker.bind(key(id), gen, length, partSize, now)).one();
        created = row != null && row.getBoolean("[applied]");
        break;
      } catch (WriteTimeoutException | com.datastax.oss.driver.api.core.servererrors.CASWriteUnknownException
          | com.datastax.oss.driver.api.core.DriverTimeoutException | ClosedConnectionException
          | HeartbeatException | OverloadedException e) {
        // The outcome is unknown (a timeout, or the coordinator's connection lost with the request in flight, or
        // refused by a coordinator that is shutting down: the driver does not retry a transaction on another node
        // by itself); a serial read settles it (it finishes or supersedes the proposal). The read is idempotent, so
        // the driver sends it to the next node when its coordinator is the one shutting down. No row: the
        // transaction did not happen and can no longer happen, so it is sent again. A row, whoever's: the object is
        // complete; reporting false keeps a failed push from deleting what it may not have made.
        Row row = settle(id);
        if (row == null) {
          if (attempt >= COMPLETION_ATTEMPTS) {
            throw backend.failure("completing object " + id + " (" + attempt + " attempts)", e);
          }
          continue;
        }
        if (!gen.equals(row.getUuid("gen"))) {
          deleteParts(id, gen, length, partSize);
        }
        backend.execute("unnoting the put of object " + id, deleteWork.bind(key(id), gen).setIdempotent(true));
        return false;
      } catch (com.datastax.oss.driver.api.core.DriverException e) {
        throw backend.failure("completing object " + id, e);
      }
    }
    if (!created) {
      deleteParts(id, gen, length, partSize);
    }
    backend.execute("unnoting the put of object " + id, deleteWork.bind(key(id), gen).setIdempotent(true));
    return created;
  }

  /**
   * The serial read that settles a transaction of unknown outcome. Sent again, after a growing pause, while it failed
   * only because connections were lost (the node it went to closed them as others went down, or the driver had none
   * open yet): the driver reconnects meanwhile, and the next answer says what the cluster can do (a missing quorum
   * is reported as such, not as a closed channel).
   */
  private Row settle(ChunkId id) throws IOException {
    String what = "settling the put of object " + id;
    for (int attempt = 1; ; attempt++) {
      try {
        return backend.executeSent(readMarker.bind(key(id)).setIdempotent(true)
            .setConsistencyLevel(backend.settings().serialConsistency())).one();
      } catch (AllNodesFailedException e) {
        if (attempt >= SETTLE_ATTEMPTS || !CassandraBackend.onlyLostConnections(e)) {
          throw backend.failure(what, e);
        }
        try {
          Thread.sleep(100L << attempt);
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          InterruptedIOException io = new InterruptedIOException("interrupted while " + what);
          io.addSuppressed(e);
          throw io;
        }
      } catch (com.datastax.oss.driver.api.core.DriverException e) {
        throw backend.failure(what, e);
      }
    }
  }

  private void writeParts(ChunkId id, UUID gen, ByteBuffer[] parts, long length, int partSize) throws IOException {
    List<CompletionStage<AsyncResultSet>> writes = new ArrayList<>();
    int src = 0;
    long written = 0;
    int part = 0;
    try {
      while (written < length) {
        int n = (int) Math.min(partSize, length - written);
        while (!parts[src].hasRemaining()) {
          src++;
        }
        ByteBuffer data;
        if (parts[src].remaining() >= n) {
          // the whole part lies in one of the caller's buffers: the driver sends that slice, no copy; the caller's
          // buffers stay untouched until every part is written (await below)
          data = parts[src].slice(parts[src].position(), n);
          parts[src].position(parts[src].position() + n);
        } else {
          data = gather(parts, src, n);
        }
        writes.add(backend.executeAsync(insertPart.bind(key(id), gen, part / CassandraSchema.PARTS_PER_SLAB, part,
            data).setIdempotent(true)));
        written += n;
        part++;
      }
    } finally {
      backend.await("writing " + part + " parts of object " + id, writes);
    }
  }

  /** Copies the next {@code n} bytes of the caller's buffers, from {@code parts[src]} on, into one part. */
  private static ByteBuffer gather(ByteBuffer[] parts, int src, int n) {
    ByteBuffer data = ByteBuffer.allocate(n);
    while (data.hasRemaining()) {
      ByteBuffer p = parts[src];
      if (!p.hasRemaining()) {
        src++;
        continue;
      }
      int take = Math.min(p.remaining(), data.remaining());
      data.put(p.slice(p.position(), take));
      p.position(p.position() + take);
    }
    return data.flip();
  }

  private void deleteParts(ChunkId id, UUID gen, long length, int partSize) throws IOException {
    long parts = (length + partSize - 1) / partSize;
    long slabs = (parts + CassandraSchema.PARTS_PER_SLAB - 1) / CassandraSchema.PARTS_PER_SLAB;
    List<CompletionStage<AsyncResultSet>> deletes = new ArrayList<>();
    for (int slab = 0; slab < slabs; slab++) {
      deletes.add(backend.executeAsync(deleteSlab.bind(key(id), gen, slab).setIdempotent(true)));
    }
    backend.await("deleting the parts of object " + id, deletes);
  }

  @Override
  public long size(ChunkId id) throws IOException {
    return existing(id).length();
  }

  @Override
  public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
    if (length < 0) {
      throw new IllegalArgumentException("range " + offset + "+" + length + " of object " + id + " is negative");
    }
    ByteBuffer out = ByteBuffer.allocate(length);
    readInto(id, offset, out);
    return out.flip();
  }

  /**
   * Copies each part's bytes from the driver's row straight into {@code dst}: one copy, no buffer of the range. The
   * completion row comes from {@link #readMarkers} when it was read lately; if the parts of that generation are gone
   * (the object was deleted, and perhaps put again by another client since), the row is read again and the range
   * with it.
   */
  @Override
  public void readInto(ChunkId id, long offset, ByteBuffer dst) throws IOException {
    Marker cached;
    synchronized (readMarkers) {
      cached = readMarkers.get(id);
    }
    Marker m = cached != null ? cached : existing(id);
    int start = dst.position();
    try {
      readInto(id, m, offset, dst);
    } catch (StaleMarkerException | EOFException e) {
      IOException report = e instanceof StaleMarkerException stale ? stale.damage : e;
      if (cached == null) {
        throw report;
      }
      forget(id);
      Marker now = marker(id);
      if (now == null) {
        throw new MissingObjectException(id, where);
      }
      if (now.gen().equals(m.gen())) {
        throw report;
      }
      dst.position(start);
      try {
        readInto(id, now, offset, dst);
      } catch (StaleMarkerException again) {
        throw again.damage;
      }
      m = now;
      cached = null;
    }
    if (cached == null) {
      synchronized (readMarkers) {
        readMarkers.put(id, m);
      }
    }
  }

  private void forget(ChunkId id) {
    synchronized (readMarkers) {
      readMarkers.remove(id);
    }
  }

  /** A part of the generation a read used is missing or of the wrong size: carries the error to report. */
  private static final class StaleMarkerException extends IOException {
    private static final long serialVersionUID = 1L;
    private final transient IOException damage;

    StaleMarkerException(IOException damage) {
      super(damage.getMessage(), damage);
      this.damage = damage;
    }
  }

  private void readInto(ChunkId id, Marker m, long offset, ByteBuffer dst) throws IOException {
    int length = dst.remaining();
    if (offset < 0) {
      throw new IllegalArgumentException("range " + offset + "+" + length + " of object " + id + " is negative");
    }
    if (offset > m.length() || length > m.length() - offset) {
      throw new EOFException("range " + offset + "+" + length + " runs past the end of object " + id + " ("
          + m.length() + " bytes) in " + where);
    }
    if (length == 0) {
      return;
    }
    int start = dst.position();
    int ps = m.partSize();
    long first = offset / ps;
    long last = (offset + length - 1) / ps;
    List<CompletionStage<AsyncResultSet>> reads = new ArrayList<>();
    List<long[]> ranges = new ArrayList<>();
    for (long p = first; p <= last; ) {
      long slab = p / CassandraSchema.PARTS_PER_SLAB;
      long to = Math.min(last, (slab + 1) * CassandraSchema.PARTS_PER_SLAB - 1);
      reads.add(backend.executeAsync(readParts.bind(key(id), m.gen(), (int) slab, (int) p, (int) to)
          .setIdempotent(true)));
      ranges.add(new long[] {p, to});
      p = to + 1;
    }
    List<AsyncResultSet> got = backend.await("reading " + (last - first + 1) + " parts of object " + id, reads);
    long partsInObject = (m.length() + ps - 1) / ps;
    for (int i = 0; i < got.size(); i++) {
      long expect = ranges.get(i)[0];
      for (Row row : all(got.get(i))) {
        int part = row.getInt(0);
        ByteBuffer data = row.getByteBuffer(1);
        long partStart = (long) part * ps;
        int partLength = (int) (part == partsInObject - 1 ? m.length() - partStart : ps);
        if (part != expect || data == null || data.remaining() != partLength) {
          throw new StaleMarkerException(broken(id, m, expect, part, data == null ? -1 : data.remaining(),
              partLength));
        }
        long from = Math.max(offset, partStart);
        long to = Math.min(offset + length, partStart + partLength);
        dst.put(start + (int) (from - offset), data, data.position() + (int) (from - partStart), (int) (to - from));
        expect++;
      }
      if (expect != ranges.get(i)[1] + 1) {
        throw new StaleMarkerException(broken(id, m, expect, -1, -1, 0));
      }
    }
    dst.position(start + length);
  }

  /** Rows of a result, fetching further pages (a slab's parts come in one page, but the driver may split it). */
  private static List<Row> all(AsyncResultSet rs) throws IOException {
    List<Row> rows = new ArrayList<>();
    AsyncResultSet page = rs;
    while (true) {
      page.currentPage().forEach(rows::add);
      if (!page.hasMorePages()) {
        return rows;
      }
      try {
        page = page.fetchNextPage().toCompletableFuture().get();
      } catch (InterruptedException e) {
        throw CassandraBackend.interrupted("reading parts", e);
      } catch (java.util.concurrent.ExecutionException e) {
        throw new IOException("reading the next page of parts: " + e.getCause(), e.getCause());
      }
    }
  }

  /** A part missing or of the wrong size under a completion row: deleted meanwhile, or damage. */
  private IOException broken(ChunkId id, Marker m, long expected, int found, int size, int wanted) throws IOException {
    Marker now = marker(id);
    if (now == null) {
      return new MissingObjectException(id, where);
    }
    if (!now.gen().equals(m.gen())) {
      return new IOException("object " + id + " in " + where + " was put again (generation " + now.gen()
          + ") while generation " + m.gen() + " was being read");
    }
    // damage, as a corrupt object (verify lists it with the others, exit 3, and says how to repair it), not a read
    // that failed (which stopped verify at the first one)
    if (found < 0) {
      return new CorruptObjectException(id, where, "part " + expected + " of generation " + m.gen() + " is missing ("
          + m.length() + " bytes in parts of " + m.partSize() + ")");
    }
    return new CorruptObjectException(id, where, "expected part " + expected + " of " + wanted + " bytes, found part "
        + found + " of " + size + " bytes (generation " + m.gen() + ")");
  }

  @Override
  public void list(Consumer<StoredObject> sink) throws IOException {
    ResultSet rs = backend.execute("listing objects", listMarkers.bind().setPageSize(1000).setIdempotent(true));
    try {
      for (Row row : rs) {
        ChunkId id = idOf(row.getByteBuffer(0), "chunks");
        Instant written = row.getInstant(4);
        sink.accept(new StoredObject(id, Math.max(0, row.getLong(2)), written != null ? written : writtenAt(id)));
      }
    } catch (com.datastax.oss.driver.api.core.DriverException e) {
      throw backend.failure("listing objects", e);
    }
  }

  /**
   * When a completion row without its time was written, for {@link #list}: the write time of its generation, else of
   * its length (a row this store wrote has one write time for all its cells), else the epoch.
   */
  private Instant writtenAt(ChunkId id) throws IOException {
    return writeTime("looking up when object " + id + " was written", "SELECT WRITETIME(gen), WRITETIME(length)"
        + " FROM " + backend.settings().keyspace() + ".chunks WHERE id = ?", key(id));
  }

  /** The first write time {@code cql} selects that is not null, else the epoch. */
  private Instant writeTime(String what, String cql, Object... values) throws IOException {
    Row row = backend.execute(what, com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance(cql, values)
        .setIdempotent(true)).one();
    for (int i = 0; row != null && i < row.getColumnDefinitions().size(); i++) {
      if (!row.isNull(i)) {
        long micros = row.getLong(i);
        return Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1000);
      }
    }
    return Instant.EPOCH;
  }

  @Override
  public void delete(ChunkId id) throws IOException {
    forget(id);
    Marker m;
    try {
      m = marker(id);
    } catch (CorruptObjectException e) {
      deleteDamaged(id);
      return;
    }
    if (m == null) {
      return;
    }
    backend.execute("noting the delete of object " + id, insertWork.bind(key(id), m.gen(), m.length(),
        m.partSize(), backend.clock().instant()).setIdempotent(true));
    backend.execute("deleting object " + id, deleteMarker.bind(key(id), m.gen()));
    deleteParts(id, m.gen(), m.length(), m.partSize());
    backend.execute("unnoting the delete of object " + id, deleteWork.bind(key(id), m.gen()).setIdempotent(true));
  }

  /**
   * Deletes an object whose completion row is damaged ({@link #marker} refuses it), as gc deletes any object no
   * version needs: such a row stopped every gc (exit 3) until it was removed by hand. The row cannot say how many
   * parts there are, so the slabs of its generation are probed; the delete is noted without a length, which tells
   * {@link #removeAbandoned} to probe them too if this delete is interrupted.
   */
  private void deleteDamaged(ChunkId id) throws IOException {
    Row row = backend.execute("looking up object " + id, readMarker.bind(key(id)).setIdempotent(true)).one();
    if (row == null) {
      return;
    }
    UUID gen = row.getUuid(0);
    if (gen == null) {
      // no generation, so its parts are found only by a scan: noted for removeAbandoned, which gc runs next
      backend.execute("noting the delete of object " + id, insertWork.bind(key(id), UNKNOWN_GEN, null, null,
          backend.clock().instant()).setIdempotent(true));
      backend.execute("deleting object " + id, deleteMarkerWithoutGen.bind(key(id)));
      return;
    }
    backend.execute("noting the delete of object " + id, insertWork.bind(key(id), gen, null, null,
        backend.clock().instant()).setIdempotent(true));
    backend.execute("deleting object " + id, deleteMarker.bind(key(id), gen));
    deleteProbedParts(id, gen);
    backend.execute("unnoting the delete of object " + id, deleteWork.bind(key(id), gen).setIdempotent(true));
  }

  /**
   * Deletes the slabs of a generation whose length is not known, from slab 0 up to the first that holds no part: a
   * put writes every part before it completes, so a generation that was complete has no gap. A delete interrupted
   * here leaves a gap at slab 0: {@link #removeAbandoned} finds the rest by a scan, not by probing again.
   */
  private void deleteProbedParts(ChunkId id, UUID gen) throws IOException {
    for (int slab = 0; ; slab++) {
      if (backend.execute("looking for the parts of object " + id, probeSlab.bind(key(id), gen, slab)
          .setIdempotent(true)).one() == null) {
        return;
      }
      backend.execute("deleting the parts of object " + id, deleteSlab.bind(key(id), gen, slab)
          .setIdempotent(true));
    }
  }

  /**
   * Removes the parts of puts and deletes noted before {@code olderThan} and never unnoted (their writer died), unless
   * a completion row names their generation (the crash came after the object was complete). The deletes of objects
   * whose completion row had no generation ({@link #UNKNOWN_GEN}), whatever their age, and the notes without a usable
   * length, are done by one scan of the partition keys of {@code chunk_parts} for them all ({@link
   * #removeUnknownGenerations}).
   */
  @Override
  public long removeAbandoned(Instant olderThan) throws IOException {
    List<Row> stale = new ArrayList<>();
    Set<ChunkId> unknown = new HashSet<>();
    ResultSet rs = backend.execute("listing puts in progress", listWork.bind().setPageSize(1000).setIdempotent(true));
    try {
      for (Row row : rs) {
        if (UNKNOWN_GEN.equals(row.getUuid(1))) {
          unknown.add(idOf(row.getByteBuffer(0), "chunk_work"));
          continue;
        }
        // a note without its time was not written whole here: its write time stands for it
        ChunkId id = idOf(row.getByteBuffer(0), "chunk_work");
        Instant since = !row.isNull(4) ? row.getInstant(4) : writeTime("looking up when a put of object "
            + id + " was noted", "SELECT"
            + " WRITETIME(length), WRITETIME(part_size) FROM " + backend.settings().keyspace() + ".chunk_work"
            + " WHERE id = ? AND gen = ?", row.getByteBuffer(0), row.getUuid(1));
        if (since.isBefore(olderThan)) {
          stale.add(row);
        }
      }
    } catch (com.datastax.oss.driver.api.core.DriverException e) {
      throw backend.failure("listing puts in progress", e);
    }
    long removed = 0;
    Map<ChunkId, Set<UUID>> unsized = new HashMap<>();
    for (Row row : stale) {
      ChunkId id = idOf(row.getByteBuffer(0), "chunk_work");
      UUID gen = row.getUuid(1);
      // at the serial level: a completion row whose transaction was accepted but not committed (its writer lost its
      // coordinator) is invisible to a QUORUM read, and the next transaction on the row would commit it; deleting
      // its parts first would leave a complete-looking object without bytes. The serial read commits it now.
      if (!gen.equals(settledGen(id))) {
        if (!usableNote(row)) {
          // a note of a damaged object's delete, or one altered by hand: its length cannot say which slabs it wrote,
          // and probing from slab 0 up stops at the first gap, which a delete interrupted after its first slabs
          // leaves (its later slabs stayed for good); the scan finds every slab of the generation, then unnotes it
          unsized.computeIfAbsent(id, k -> new HashSet<>()).add(gen);
          continue;
        }
        deleteParts(id, gen, row.getLong(2), row.getInt(3));
        removed++;
      }
      backend.execute("unnoting an abandoned put of object " + id, deleteWork.bind(key(id), gen)
          .setIdempotent(true));
    }
    return removed + removeUnknownGenerations(unknown, unsized);
  }

  /**
   * Removes the parts of the objects in {@code ids}, deleted when their completion row had no generation, and of the
   * generations in {@code unsized}, abandoned by puts or deletes whose note cannot say which slabs they wrote: one
   * paged scan of the partition keys of {@code chunk_parts} (one per 8 parts stored, not their bytes) finds their
   * slabs: every slab of each generation in {@code unsized}, and of the objects in {@code ids} those of every
   * generation that neither a put in progress nor a completion row names (the object may have been put again since).
   * Then unnotes them. Returns the number of generations removed.
   */
  private long removeUnknownGenerations(Set<ChunkId> ids, Map<ChunkId, Set<UUID>> unsized) throws IOException {
    if (ids.isEmpty() && unsized.isEmpty()) {
      return 0;
    }
    Map<ChunkId, Map<UUID, List<Integer>>> found = new HashMap<>();
    ResultSet rs = backend.execute("looking for the parts of objects deleted without their generation",
        listSlabs.bind().setPageSize(1000).setIdempotent(true));
    try {
      for (Row row : rs) {
        byte[] b = CassandraBackend.bytes(row.getByteBuffer(0));
        ChunkId id = b.length == ID_BYTES ? ChunkId.fromBytes(b) : null;
        if (id != null && (ids.contains(id) || unsized.getOrDefault(id, Set.of()).contains(row.getUuid(1)))) {
          found.computeIfAbsent(id, k -> new HashMap<>()).computeIfAbsent(row.getUuid(1), k -> new ArrayList<>())
              .add(row.getInt(2));
        }
      }
    } catch (com.datastax.oss.driver.api.core.DriverException e) {
      throw backend.failure("looking for the parts of objects deleted without their generation", e);
    }
    long removed = 0;
    for (Map.Entry<ChunkId, Set<UUID>> e : unsized.entrySet()) {
      ChunkId id = e.getKey();
      for (UUID gen : e.getValue()) {
        for (int slab : found.getOrDefault(id, Map.of()).getOrDefault(gen, List.of())) {
          backend.execute("deleting the parts of object " + id, deleteSlab.bind(key(id), gen, slab)
              .setIdempotent(true));
        }
        removed++;
        backend.execute("unnoting an abandoned put of object " + id, deleteWork.bind(key(id), gen)
            .setIdempotent(true));
      }
    }
    for (ChunkId id : ids) {
      for (Map.Entry<UUID, List<Integer>> g : found.getOrDefault(id, Map.of()).entrySet()) {
        UUID gen = g.getKey();
        if (unsized.getOrDefault(id, Set.of()).contains(gen)) {
          continue; // removed above
        }
        // a put writes its note before its parts and its completion row before it unnotes: a generation with neither
        // is no put's, in progress or done
        if (backend.execute("looking up a put of object " + id, readWork.bind(key(id), gen).setIdempotent(true))
            .one() != null || gen.equals(settledGen(id))) {
          continue;
        }
        for (int slab : g.getValue()) {
          backend.execute("deleting the parts of object " + id, deleteSlab.bind(key(id), gen, slab)
              .setIdempotent(true));
        }
        removed++;
      }
      backend.execute("unnoting the delete of object " + id, deleteWork.bind(key(id), UNKNOWN_GEN)
          .setIdempotent(true));
    }
    return removed;
  }

  @Override
  public void close() {
    // the backend owns the session
  }

  private Marker existing(ChunkId id) throws IOException {
    Marker m = marker(id);
    if (m == null) {
      throw new MissingObjectException(id, where);
    }
    return m;
  }

  private Marker marker(ChunkId id) throws IOException {
    return marker(id, readMarker.bind(key(id)).setIdempotent(true));
  }

  /**
   * The generation of the completion row read at the serial consistency, or null: a Paxos read, which first commits a
   * completion that was accepted but not committed, so it sees every completion that may ever become visible. Only
   * the generation: a row damaged otherwise still keeps its parts from gc's removal of abandoned puts.
   */
  private UUID settledGen(ChunkId id) throws IOException {
    Row row = backend.execute("looking up object " + id, readMarker.bind(key(id)).setIdempotent(true)
        .setConsistencyLevel(backend.settings().serialConsistency())).one();
    return row == null ? null : row.getUuid(0);
  }

  private Marker marker(ChunkId id, BoundStatement st) throws IOException {
    Row row = backend.execute("looking up object " + id, st).one();
    if (row == null) {
      return null;
    }
    if (row.isNull(0) || row.isNull(1) || row.isNull(2) || row.getLong(1) < 0
        || row.getInt(2) < CassandraSchema.MIN_PART_SIZE || row.getInt(2) > CassandraSchema.MAX_PART_SIZE) {
      // the insert writes every column at once, a length of at least 0 and a part size of 1 MiB: a row without them,
      // or with a part size no store writes (one of 1 made a read ask for a part per byte), is not one this store
      // wrote whole. Damage, as a corrupt object (verify lists it with the others, exit 3, and says how to repair
      // it), not a read that failed
      throw new CorruptObjectException(id, where, "its completion row lacks its generation, length or part size, or"
          + " holds one out of range (gen " + row.getUuid(0) + ", length " + (row.isNull(1) ? "none" : row.getLong(1))
          + ", part size " + (row.isNull(2) ? "none" : row.getInt(2)) + "; part sizes from "
          + CassandraSchema.MIN_PART_SIZE + " to " + CassandraSchema.MAX_PART_SIZE + "; " + writeTimes(id)
          + "), so its parts cannot be read");
    }
    return new Marker(row.getUuid(0), row.getLong(1), row.getInt(2), row.getInstant(3));
  }

  /**
   * The write times of a completion row's cells, for the report of a row that lacks some: which write left it so (a
   * row this store wrote has one write time for all of them).
   */
  private String writeTimes(ChunkId id) {
    String ks = backend.settings().keyspace();
    try {
      Row row = backend.executeSent(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance("SELECT"
          + " WRITETIME(gen), WRITETIME(length), WRITETIME(part_size), WRITETIME(written) FROM " + ks
          + ".chunks WHERE id = ?", key(id)).setIdempotent(true)).one();
      if (row == null) {
        return "the row is gone now";
      }
      List<String> times = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        times.add(row.isNull(i) ? "none" : Long.toString(row.getLong(i)));
      }
      return "write times in microseconds of gen, length, part size, written: " + String.join(", ", times);
    } catch (IOException | com.datastax.oss.driver.api.core.DriverException e) {
      return "its write times could not be read: " + e;
    }
  }

  /**
   * Whether a note gives the length and part size its parts were cut by, as a put writes them (a length of at least
   * 0, a part size within the range of {@link CassandraSchema}). A delete of a damaged object notes none, and a note
   * altered by hand may hold others: a part size of 0 failed gc with a bare division by zero, one of 1 made it delete a
   * partition for every 8 bytes of the length, and refusing such a note stopped every gc until it was removed by hand.
   */
  private static boolean usableNote(Row row) {
    return !row.isNull(2) && row.getLong(2) >= 0 && !row.isNull(3) && row.getInt(3) >= CassandraSchema.MIN_PART_SIZE
        && row.getInt(3) <= CassandraSchema.MAX_PART_SIZE;
  }

  /**
   * The chunk id of a row of {@code table}. A row whose id is not one (this store never writes such a row) is damage
   * naming the table, the row and how to remove it, rather than a bare "a chunk id is 32 bytes" that failed every gc.
   */
  private ChunkId idOf(ByteBuffer key, String table) throws CorruptStoreException {
    byte[] b = CassandraBackend.bytes(key);
    if (b.length == ID_BYTES) {
      return ChunkId.fromBytes(b);
    }
    String t = backend.settings().keyspace() + "." + table;
    String hex = "0x" + java.util.HexFormat.of().formatHex(b, 0, Math.min(b.length, 64));
    throw new CorruptStoreException(where, "table " + t + " holds a row whose id " + hex + (b.length > 64 ? "..." : "")
        + " is not a chunk id (" + b.length + " bytes, not " + ID_BYTES + "); this store never writes one"
        + (b.length > 64 ? "" : ": remove it with DELETE FROM " + t + " WHERE id = " + hex));
  }

  private static ByteBuffer key(ChunkId id) {
    return ByteBuffer.wrap(id.toBytes());
  }
}
