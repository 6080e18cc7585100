package io.ferry.store.cassandra;

import com.datastax.oss.driver.api.core.DriverException;
import com.datastax.oss.driver.api.core.DriverTimeoutException;
import com.datastax.oss.driver.api.core.connection.ClosedConnectionException;
import com.datastax.oss.driver.api.core.connection.HeartbeatException;
import com.datastax.oss.driver.api.core.cql.AsyncResultSet;
import com.datastax.oss.driver.api.core.cql.BoundStatement;
import com.datastax.oss.driver.api.core.cql.PreparedStatement;
import com.datastax.oss.driver.api.core.cql.Row;
import com.datastax.oss.driver.api.core.servererrors.CASWriteUnknownException;
import com.datastax.oss.driver.api.core.servererrors.OverloadedException;
import com.datastax.oss.driver.api.core.servererrors.WriteTimeoutException;
import io.ferry.store.RecordStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletionStage;

/**
 * Records in table {@code records}, partitioned by the key's parent path, with the last segment as the clustering
 * column: the entries of one ref log are one partition, and listing a directory by prefix is one slice of it. Table
 * {@code record_dirs} holds the directories below each directory (insert-only; a directory stays listed when its
 * records are gone), so that a listing by a prefix that spans directories walks them.
 *
 * <p>Every change of a record is a lightweight transaction: {@link #create} is {@code INSERT ... IF NOT EXISTS},
 * {@link #replace} is {@code UPDATE ... IF EXISTS} or else {@code INSERT ... IF NOT EXISTS}, {@link #delete} is
 * {@code DELETE ... IF EXISTS}. The Paxos phase runs at the serial consistency, the commit at the store's
 * consistency (QUORUM by default). Never mixing plain writes with transactions on one row is what keeps the order of
 * changes the order of their ballots: a plain write carries its client's clock, which may lie behind or ahead of the
 * ballots, so a record created again after a delete could be hidden by the older delete's tombstone.
 *
 * <p>Reads run at the store's consistency. A write that returned was committed at that level, so a later read at the
 * same level (QUORUM and QUORUM overlap) sees it; a transaction that was accepted but not committed (its writer
 * failed) is finished by the next transaction on the partition, which is how the numbered ref log notices it.
 */
final class CassandraRecordStore implements RecordStore {
  /** How often one create or replace is tried when its outcome was unknown (a timeout each: 30 s by default). */
  private static final int ATTEMPTS = 5;
  private static final int KNOWN_DIRS = 4096;
  private static final String ROOT = "/";

  private final CassandraBackend backend;
  private final String where;
  private final PreparedStatement read;
  private final PreparedStatement insertIfAbsent;
  private final PreparedStatement updateIfPresent;
  private final PreparedStatement deleteIfPresent;
  private final PreparedStatement listAll;
  private final PreparedStatement listFrom;
  private final PreparedStatement insertDir;
  private final PreparedStatement listDirs;
  private final PreparedStatement listDirsFrom;
  /** Directories known to be in {@code record_dirs} (they are never removed), so creates skip those inserts. */
  private final Set<String> knownDirs = Collections.newSetFromMap(Collections.synchronizedMap(
      new LinkedHashMap<>(256, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
          return size() > KNOWN_DIRS;
        }
      }));

  CassandraRecordStore(CassandraBackend backend) {
    this.backend = backend;
    this.where = backend.where();
    String t = backend.settings().keyspace() + ".records";
    String d = backend.settings().keyspace() + ".record_dirs";
    var s = backend.session();
    read = s.prepare("SELECT content FROM " + t + " WHERE parent = ? AND name = ?");
    insertIfAbsent = s.prepare("INSERT INTO " + t + " (parent, name, content) VALUES (?, ?, ?) IF NOT EXISTS");
    updateIfPresent = s.prepare("UPDATE " + t + " SET content = ? WHERE parent = ? AND name = ? IF EXISTS");
    deleteIfPresent = s.prepare("DELETE FROM " + t + " WHERE parent = ? AND name = ? IF EXISTS");
    listAll = s.prepare("SELECT name FROM " + t + " WHERE parent = ?");
    listFrom = s.prepare("SELECT name FROM " + t + " WHERE parent = ? AND name >= ? AND name < ?");
    insertDir = s.prepare("INSERT INTO " + d + " (parent, name) VALUES (?, ?)");
    listDirs = s.prepare("SELECT name FROM " + d + " WHERE parent = ?");
    listDirsFrom = s.prepare("SELECT name FROM " + d + " WHERE parent = ? AND name >= ? AND name < ?");
  }

  @Override
  public String describe() {
    return where;
  }

  @Override
  public boolean create(String key, byte[] content) throws IOException {
    RecordStore.checkKey(key);
    RecordStore.checkContent(key, content);
    String[] pn = split(key);
    addDirs(key);
    for (int attempt = 1; ; attempt++) {
      try {
        return applied(backend.executeSent(insertIfAbsent.bind(pn[0], pn[1], ByteBuffer.wrap(content))));
      } catch (WriteTimeoutException | CASWriteUnknownException | DriverTimeoutException | ClosedConnectionException
          | HeartbeatException | OverloadedException e) {
        // Unknown outcome (a timeout, the coordinator lost with the transaction in flight, or a coordinator that is
        // shutting down refused it: the driver sends none of these again by itself). A serial read finishes or
        // supersedes the proposal: then the record is there (ours or another writer's: the contract lets a resent
        // create answer false) or it is not and we try again.
        if (readAt(key, true).isPresent()) {
          return false;
        }
        if (attempt >= ATTEMPTS) {
          throw backend.failure("creating record " + key, e);
        }
      } catch (DriverException e) {
        throw backend.failure("creating record " + key, e);
      }
    }
  }

  @Override
  public void replace(String key, byte[] content) throws IOException {
    RecordStore.checkKey(key);
    RecordStore.checkContent(key, content);
    String[] pn = split(key);
    addDirs(key);
    DriverException last = null;
    int unknown = 0;
    // lost races go round up to 4 x ATTEMPTS times; unknown outcomes, each a full request timeout, only ATTEMPTS times
    for (int attempt = 1; attempt <= 4 * ATTEMPTS && unknown < ATTEMPTS; attempt++) {
      try {
        if (applied(backend.executeSent(updateIfPresent.bind(ByteBuffer.wrap(content), pn[0], pn[1])))) {
          return;
        }
        if (applied(backend.executeSent(insertIfAbsent.bind(pn[0], pn[1], ByteBuffer.wrap(content))))) {
          return;
        }
        // deleted and created between the two: go round
      } catch (WriteTimeoutException | CASWriteUnknownException | DriverTimeoutException | ClosedConnectionException
          | HeartbeatException | OverloadedException e) {
        // Unknown outcome: writing the same content again is harmless (last writer wins)
        last = e;
        unknown++;
      } catch (DriverException e) {
        throw backend.failure("replacing record " + key, e);
      }
    }
    throw backend.failure("replacing record " + key, last != null ? last
        : new IllegalStateException("the record was deleted and created again at every attempt"));
  }

  @Override
  public Optional<byte[]> read(String key) throws IOException {
    RecordStore.checkKey(key);
    return readAt(key, false);
  }

  private Optional<byte[]> readAt(String key, boolean serial) throws IOException {
    String[] pn = split(key);
    BoundStatement st = read.bind(pn[0], pn[1]).setIdempotent(true);
    if (serial) {
      st = st.setConsistencyLevel(backend.settings().serialConsistency());
    }
    return content(backend.execute("reading record " + key, st).one());
  }

  /**
   * A record's content; absent for no row, and for a row without content. Every write of a record writes its content
   * (an empty one is an empty blob, not null), so a row without it was made by a read repair of a listing, which
   * selects names only, on a replica that missed a write that never reached its quorum: not a record.
   */
  private static Optional<byte[]> content(Row row) {
    return row == null || row.isNull(0) ? Optional.empty() : Optional.of(CassandraBackend.bytes(row.getByteBuffer(0)));
  }

  @Override
  public List<Optional<byte[]>> readAll(List<String> keys) throws IOException {
    List<CompletionStage<AsyncResultSet>> reads = new ArrayList<>(keys.size());
    for (String key : keys) {
      RecordStore.checkKey(key);
      String[] pn = split(key);
      reads.add(backend.executeAsync(read.bind(pn[0], pn[1]).setIdempotent(true)));
    }
    List<AsyncResultSet> got = backend.await("reading " + keys.size() + " records", reads);
    List<Optional<byte[]>> out = new ArrayList<>(keys.size());
    for (AsyncResultSet rs : got) {
      out.add(content(rs.one()));
    }
    return out;
  }

  @Override
  public List<String> list(String prefix) throws IOException {
    int slash = prefix.lastIndexOf('/');
    String dir = slash < 0 ? "" : prefix.substring(0, slash);
    String tail = prefix.substring(slash + 1);
    TreeSet<String> out = new TreeSet<>();
    String partition = dir.isEmpty() ? ROOT : ROOT + dir;
    String base = dir.isEmpty() ? "" : dir + "/";
    for (String name : names(tail.isEmpty() ? listAll.bind(partition) : listFrom.bind(partition, tail, tail + '\u007f'),
        "listing records under '" + prefix + "'")) {
      out.add(base + name);
    }
    for (String sub : names(tail.isEmpty() ? listDirs.bind(partition)
        : listDirsFrom.bind(partition, tail, tail + '\u007f'), "listing directories under '" + prefix + "'")) {
      walk(base + sub, out);
    }
    return new ArrayList<>(out);
  }

  /** Adds every record at or below directory {@code dir} (no trailing slash). */
  private void walk(String dir, TreeSet<String> out) throws IOException {
    String partition = ROOT + dir;
    for (String name : names(listAll.bind(partition), "listing records under '" + dir + "/'")) {
      out.add(dir + "/" + name);
    }
    for (String sub : names(listDirs.bind(partition), "listing directories under '" + dir + "/'")) {
      walk(dir + "/" + sub, out);
    }
  }

  private List<String> names(BoundStatement st, String what) throws IOException {
    List<String> out = new ArrayList<>();
    try {
      for (Row row : backend.execute(what, st.setPageSize(1000).setIdempotent(true))) {
        out.add(row.getString(0));
      }
    } catch (DriverException e) {
      throw backend.failure(what, e);
    }
    return out;
  }

  @Override
  public void delete(String key) throws IOException {
    RecordStore.checkKey(key);
    String[] pn = split(key);
    for (int attempt = 1; ; attempt++) {
      try {
        backend.executeSent(deleteIfPresent.bind(pn[0], pn[1]));
        return;
      } catch (WriteTimeoutException | CASWriteUnknownException | DriverTimeoutException | ClosedConnectionException
          | HeartbeatException | OverloadedException e) {
        if (attempt >= ATTEMPTS) {
          throw backend.failure("deleting record " + key, e);
        }
      } catch (DriverException e) {
        throw backend.failure("deleting record " + key, e);
      }
    }
  }

  @Override
  public void close() {
    // the backend owns the session
  }

  /** Inserts the key's ancestor directories into {@code record_dirs}, deepest known first, skipping known ones. */
  private void addDirs(String key) throws IOException {
    List<CompletionStage<AsyncResultSet>> inserts = new ArrayList<>();
    List<String> added = new ArrayList<>();
    int slash = key.lastIndexOf('/');
    while (slash > 0) {
      String dir = key.substring(0, slash);
      if (knownDirs.contains(dir)) {
        break;
      }
      int up = dir.lastIndexOf('/');
      String parent = up < 0 ? ROOT : ROOT + dir.substring(0, up);
      inserts.add(backend.executeAsync(insertDir.bind(parent, dir.substring(up + 1)).setIdempotent(true)));
      added.add(dir);
      slash = up;
    }
    backend.await("recording the directories of " + key, inserts);
    knownDirs.addAll(added);
  }

  /** {partition, clustering name}: the parent path under {@code /}, and the last segment. */
  private static String[] split(String key) {
    int slash = key.lastIndexOf('/');
    return slash < 0 ? new String[] {ROOT, key} : new String[] {ROOT + key.substring(0, slash),
        key.substring(slash + 1)};
  }

  private static boolean applied(com.datastax.oss.driver.api.core.cql.ResultSet rs) {
    return rs.wasApplied();
  }
}
