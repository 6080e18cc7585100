package io.ferry.store.cassandra;

import com.datastax.oss.driver.api.core.AllNodesFailedException;
import com.datastax.oss.driver.api.core.CqlSession;
import com.datastax.oss.driver.api.core.CqlSessionBuilder;
import com.datastax.oss.driver.api.core.DriverException;
import com.datastax.oss.driver.api.core.NodeUnavailableException;
import com.datastax.oss.driver.api.core.config.DefaultDriverOption;
import com.datastax.oss.driver.api.core.connection.ClosedConnectionException;
import com.datastax.oss.driver.api.core.connection.HeartbeatException;
import com.datastax.oss.driver.api.core.config.DriverConfigLoader;
import com.datastax.oss.driver.api.core.config.ProgrammaticDriverConfigLoaderBuilder;
import com.datastax.oss.driver.api.core.cql.AsyncResultSet;
import com.datastax.oss.driver.api.core.cql.ResultSet;
import com.datastax.oss.driver.api.core.cql.Row;
import com.datastax.oss.driver.api.core.cql.SimpleStatement;
import com.datastax.oss.driver.api.core.cql.Statement;
import com.datastax.oss.driver.api.core.metadata.Node;
import com.datastax.oss.driver.api.core.metadata.NodeState;
import com.datastax.oss.driver.api.core.metadata.schema.KeyspaceMetadata;
import com.datastax.oss.driver.api.core.servererrors.OverloadedException;
import io.ferry.error.InvalidInputException;
import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.RecordStore;
import io.ferry.store.RefStore;
import io.ferry.store.StoreMarker;
import io.ferry.store.StoreOptions;
import io.ferry.store.refs.NumberedRefStore;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A Ferry store in a Cassandra keyspace ({@code cassandra://host1,host2:9042/keyspace}). See {@code docs/cassandra.md}
 * for the design and {@link CassandraSchema} for the tables.
 *
 * <p>Objects (chunk frames, packs, snapshots, versions) are {@link CassandraChunkStore}: parts of at most 1 MiB,
 * then a row that marks the object complete. Refs are core's {@link NumberedRefStore} (layout {@link
 * NumberedRefStore.Layout#INDEXED}) over {@link CassandraRecordStore}, whose creates are lightweight transactions
 * ({@code INSERT ... IF NOT EXISTS}).
 *
 * <p>Thread-safe. Owns one driver session; {@link #close()} closes it and is idempotent.
 */
public final class CassandraBackend implements Backend {
  private final CassandraSettings settings;
  private final CqlSession session;
  private final Clock clock;
  private final Semaphore requests;
  private final String where;
  private final AtomicBoolean closed = new AtomicBoolean();
  private Optional<String> markerId = Optional.empty();
  private CassandraChunkStore chunks;
  private CassandraRecordStore records;
  private NumberedRefStore refs;

  private CassandraBackend(CassandraSettings settings, CqlSession session, Clock clock) {
    this.settings = settings;
    this.session = session;
    this.clock = clock;
    this.requests = new Semaphore(settings.maxRequests());
    this.where = settings.describe();
  }

  /**
   * Opens the store named by a {@code cassandra://} URI, creating the keyspace, the tables and the marker when {@code
   * options.create()} is set (the keyspace and tables only where they are missing, so that a schema a DBA created is
   * used as it is).
   *
   * @throws InvalidInputException if there is no store and {@code create} is false, if the keyspace holds tables
   *     other than a store's, if the marker is not one this code reads, or if the URI is not usable
   * @throws IOException if the cluster cannot be reached (naming the contact points and why)
   */
  public static CassandraBackend open(URI uri, StoreOptions options) throws IOException {
    CassandraSettings settings = CassandraSettings.parse(uri, options.settings());
    CqlSession session = connect(settings);
    CassandraBackend backend = new CassandraBackend(settings, session, options.clock());
    try {
      backend.checkLocalDc();
      backend.openOrCreate(options.create());
      backend.checkReplication(options.settings());
      backend.chunks = new CassandraChunkStore(backend);
      backend.records = new CassandraRecordStore(backend);
      backend.refs = new NumberedRefStore(backend.records, NumberedRefStore.Layout.INDEXED);
      return backend;
    } catch (IOException | RuntimeException e) {
      backend.close();
      throw e;
    }
  }

  /** Executions of an idempotent request at most, the first included: one per replica of a keyspace of RF 3. */
  static final int SPECULATIVE_EXECUTIONS = 3;

  private static CqlSession connect(CassandraSettings s) throws IOException {
    // Layered over the driver's own configuration (reference.conf < application.conf < system properties): only what
    // the store URI names is set here.
    ProgrammaticDriverConfigLoaderBuilder config = DriverConfigLoader.programmaticBuilder()
        .withDuration(DefaultDriverOption.REQUEST_TIMEOUT, s.requestTimeout())
        .withString(DefaultDriverOption.REQUEST_CONSISTENCY, s.consistency().name())
        .withString(DefaultDriverOption.REQUEST_SERIAL_CONSISTENCY, s.serialConsistency().name())
        // the store needs the metadata of its own keyspace only (tables, replication for token-aware routing), and
        // the driver answers a schema change only after refreshing it, so keep that refresh small and prompt
        .withStringList(DefaultDriverOption.METADATA_SCHEMA_REFRESHED_KEYSPACES, List.of(s.keyspace()))
        .withDuration(DefaultDriverOption.METADATA_SCHEMA_WINDOW, java.time.Duration.ofMillis(50))
        // the driver's event loops wait 2 s for stray tasks when closed; a store closes after its requests ended,
        // so every command would pay that for nothing
        .withInt(DefaultDriverOption.NETTY_IO_SHUTDOWN_QUIET_PERIOD, 0)
        .withInt(DefaultDriverOption.NETTY_ADMIN_SHUTDOWN_QUIET_PERIOD, 0);
    if (!s.speculativeDelay().isZero()) {
      // the driver speculates only on idempotent requests (reads, part writes), never on a lightweight transaction
      config.withString(DefaultDriverOption.SPECULATIVE_EXECUTION_POLICY_CLASS, "ConstantSpeculativeExecutionPolicy")
          .withInt(DefaultDriverOption.SPECULATIVE_EXECUTION_MAX, SPECULATIVE_EXECUTIONS)
          .withDuration(DefaultDriverOption.SPECULATIVE_EXECUTION_DELAY, s.speculativeDelay());
    }
    if (s.localDc() == null && !localDcConfigured()) {
      // no datacenter named anywhere: take the contact points' (one-datacenter clusters need nothing more)
      config.withString(DefaultDriverOption.LOAD_BALANCING_POLICY_CLASS, "DcInferringLoadBalancingPolicy");
    }
    CqlSessionBuilder b = CqlSession.builder().withConfigLoader(config.build()).addContactPoints(s.contactPoints());
    if (s.localDc() != null) {
      b.withLocalDatacenter(s.localDc());
    }
    try {
      return b.build();
    } catch (AllNodesFailedException e) {
      throw connectFailure(s, e);
    } catch (DriverException e) {
      throw new IOException("cannot open a session to " + s.describe() + ": " + e.getMessage(), e);
    }
  }

  /**
   * The error of a session that could not be opened. When every contact point refused the credentials (or asked for
   * some and none were configured), it says so with the server's reply and where credentials come from: the driver's
   * own message began "Could not reach any contact point, make sure you've provided valid addresses", which sent the
   * user to check the hosts.
   */
  static IOException connectFailure(CassandraSettings s, AllNodesFailedException e) {
    List<String> replies = new ArrayList<>();
    for (List<Throwable> errors : e.getAllErrors().values()) {
      for (Throwable t : errors) {
        if (!(t instanceof com.datastax.oss.driver.api.core.auth.AuthenticationException)) {
          return new IOException("cannot connect to " + s.describe() + ": " + e.getMessage(), e);
        }
        replies.add(t.getMessage());
      }
    }
    if (replies.isEmpty()) {
      return new IOException("cannot connect to " + s.describe() + ": " + e.getMessage(), e);
    }
    return new IOException("cannot connect to " + s.describe() + ": authentication failed (" + replies.get(0)
        + "); credentials come from the driver configuration, e.g. -Dconfig.file=FILE with"
        + " advanced.auth-provider (docs/cassandra.md)", e);
  }

  private static boolean localDcConfigured() {
    try (DriverConfigLoader plain = DriverConfigLoader.fromDefaults(CassandraBackend.class.getClassLoader())) {
      return plain.getInitialConfig().getDefaultProfile()
          .isDefined(DefaultDriverOption.LOAD_BALANCING_LOCAL_DATACENTER);
    }
  }

  private void openOrCreate(boolean create) throws IOException {
    String ks = settings.keyspace();
    markerId = StoreMarker.openOrCreate(new StoreMarker.Site() {
      @Override
      public String describe() {
        return where;
      }

      @Override
      public String markerName() {
        return where + " (table " + ks + ".meta, row '" + StoreMarker.NAME + "')";
      }

      @Override
      public String absentHint() {
        // the cluster's metadata, already in memory: a keyspace that is not there is named as such
        String what = session.getMetadata().getKeyspace(ks).isEmpty() ? "the cluster has no keyspace '" + ks + "'"
            : "keyspace '" + ks + "' has no store marker";
        return "(" + what + ": run 'ferry init' with ?replication_factor=N, or have a DBA run the CQL of"
            + " docs/cassandra.md)";
      }

      @Override
      public Optional<byte[]> readMarker() throws IOException {
        if (!hasTable("meta")) {
          return Optional.empty();
        }
        Row row = execute("read the store marker", SimpleStatement.newInstance(
            "SELECT value FROM " + ks + ".meta WHERE name = ?", StoreMarker.NAME)).one();
        return row == null ? Optional.empty() : Optional.of(bytes(row.getByteBuffer(0)));
      }

      @Override
      public boolean isEmpty() throws IOException {
        Optional<KeyspaceMetadata> meta = session.getMetadata().getKeyspace(ks);
        if (meta.isEmpty()) {
          return true;
        }
        for (var t : meta.get().getTables().keySet()) {
          if (!CassandraSchema.TABLES.contains(t.asInternal())) {
            return false;
          }
        }
        for (String t : List.of("chunks", "chunk_parts", "records")) {
          if (anyRow(t)) {
            return false;
          }
        }
        return true;
      }

      /** Whether both {@code chunks} (objects) and {@code records} (refs, logs, leases) hold rows. */
      @Override
      public boolean holdsStore() throws IOException {
        return anyRow("chunks") && anyRow("records");
      }

      private boolean anyRow(String table) throws IOException {
        return hasTable(table) && execute("look into " + table, SimpleStatement.newInstance(
            "SELECT * FROM " + ks + "." + table + " LIMIT 1")).one() != null;
      }

      @Override
      public boolean publish(byte[] marker) throws IOException {
        boolean made = false;
        if (session.getMetadata().getKeyspace(ks).isEmpty()) {
          checkReplicationDatacenters();
          ddl(CassandraSchema.createKeyspace(settings));
          made = true;
        }
        try {
          List<String> tables = CassandraSchema.createTables(ks);
          for (int i = 0; i < tables.size(); i++) {
            if (!hasTable(CassandraSchema.TABLES.get(i))) {
              ddl(tables.get(i));
            }
          }
          Row row = execute("publish the store marker", SimpleStatement.newInstance(
              "INSERT INTO " + ks + ".meta (name, value) VALUES (?, ?) IF NOT EXISTS", StoreMarker.NAME,
              ByteBuffer.wrap(marker))).one();
          return row != null && row.getBoolean("[applied]");
        } catch (IOException | RuntimeException e) {
          if (!made) {
            throw e;
          }
          // a keyspace this init made and could not use (a replication factor above the nodes that are up, say):
          // dropped again, so that an init with other settings makes it anew instead of finding it half made
          try {
            ddl("DROP KEYSPACE IF EXISTS " + ks);
          } catch (IOException | RuntimeException drop) {
            e.addSuppressed(drop);
            throw new IOException(e.getMessage() + "; the keyspace '" + ks + "' this init created could not be"
                + " dropped again (DROP KEYSPACE " + ks + " before another init)", e);
          }
          throw new IOException(e.getMessage() + "; the keyspace '" + ks + "' this init created (replication "
              + settings.replication() + ") was dropped again: init with a replication the nodes that"
              + " are up can serve", e);
        }
      }
    }, create);
    if (CassandraSchema.TABLES.stream().anyMatch(t -> !hasTable(t))) {
      // the driver's schema metadata is a cache it refreshes after each DDL statement it sends; on a loaded node that
      // refresh can fail or come late (its queries of system_schema time out, or the nodes agreed only after its
      // wait), leaving out tables this open has just made: asked again before a table is called missing (the
      // creates above are IF NOT EXISTS, so a stale cache there only repeats one)
      session.refreshSchema();
    }
    for (String t : CassandraSchema.TABLES) {
      if (!hasTable(t)) {
        throw new InvalidInputException("store " + where + " has a marker but no table " + ks + "." + t
            + "; create it with the CQL of docs/cassandra.md (CassandraSchema)");
      }
    }
  }

  /**
   * A {@code local_dc} that no node of the cluster is in is refused, naming the cluster's datacenters: the driver
   * would send no request anywhere, and every one would fail with "No node was available".
   */
  private void checkLocalDc() throws InvalidInputException {
    if (settings.localDc() == null) {
      return;
    }
    java.util.Set<String> dcs = new java.util.TreeSet<>();
    session.getMetadata().getNodes().values().forEach(n -> dcs.add(String.valueOf(n.getDatacenter())));
    if (!dcs.contains(settings.localDc())) {
      throw new InvalidInputException("local_dc '" + settings.localDc() + "' of " + where + " is not a datacenter"
          + " of the cluster; its nodes are in " + dcs);
    }
  }

  /**
   * Each {@code dc.<name>} of a keyspace to create must be a datacenter of the cluster: Cassandra refuses the keyspace
   * with "Unrecognized strategy option {name} passed to NetworkTopologyStrategy", which Ferry reported as a failure to
   * create the schema at a consistency level, without naming the option or the cluster's datacenters.
   */
  private void checkReplicationDatacenters() throws InvalidInputException {
    if (!settings.perDatacenter()) {
      return;
    }
    java.util.Set<String> dcs = new java.util.TreeSet<>();
    session.getMetadata().getNodes().values().forEach(n -> dcs.add(String.valueOf(n.getDatacenter())));
    for (String dc : settings.replication().keySet()) {
      if (!dcs.contains(dc)) {
        throw new InvalidInputException("dc." + dc + " of " + where + ": '" + dc + "' is not a datacenter of the"
            + " cluster; its nodes are in " + dcs + " (datacenter names are case-sensitive); nothing was created");
      }
    }
  }

  /**
   * A replication the URI or the store settings give must be the keyspace's. It is used only when Ferry creates the
   * keyspace, so a URI that asked for 3 copies of a keyspace that keeps 1 would have been opened as it is, without a
   * word.
   *
   * @param storeSettings the store settings the settings were parsed with, to name where the replication came from
   */
  private void checkReplication(Map<String, String> storeSettings) throws InvalidInputException {
    if (settings.replication().isEmpty()) {
      return;
    }
    String ks = settings.keyspace();
    Map<String, String> actual = session.getMetadata().getKeyspace(ks).map(KeyspaceMetadata::getReplication)
        .orElse(Map.of());
    Map<String, String> counts = new TreeMap<>(actual);
    String strategy = counts.remove("class");
    boolean simple = strategy != null && strategy.endsWith("SimpleStrategy");
    if (simple == settings.perDatacenter() || !counts.equals(new TreeMap<>(settings.replication()))) {
      java.util.List<String> keys = new java.util.ArrayList<>();
      java.util.List<String> fromSettings = new java.util.ArrayList<>();
      settings.replication().forEach((k, v) -> {
        String key = (settings.perDatacenter() ? "dc." : "") + k;
        keys.add(key + "=" + v);
        if (storeSettings.containsKey(CassandraSettings.PREFIX + key)) {
          fromSettings.add(CassandraSettings.PREFIX + key);
        }
      });
      // the message said "its URI gives" of a value given with --store-option, which the URI did not hold
      String source = fromSettings.isEmpty() ? "its URI gives"
          : (fromSettings.size() < keys.size() ? "its URI and " : "") + "the store setting"
              + (fromSettings.size() > 1 ? "s " : " ") + String.join(", ", fromSettings) + " give"
              + (fromSettings.size() > 1 || fromSettings.size() < keys.size() ? "" : "s");
      String where = fromSettings.isEmpty() ? "the URI" : fromSettings.size() < keys.size()
          ? "the URI and the store settings" : "the store settings";
      throw new InvalidInputException("keyspace '" + ks + "' of " + this.where + " has replication " + actual
          + ", not the " + String.join("&", keys) + " " + source + " (a replication given is used only to create"
          + " the keyspace): leave it out of " + where + " to use the keyspace as it is, or have a DBA ALTER KEYSPACE "
          + ks + " WITH replication = ... and run a full repair (docs/cassandra.md)");
    }
  }

  private boolean hasTable(String table) {
    return session.getMetadata().getKeyspace(settings.keyspace())
        .flatMap(k -> k.getTable(table)).isPresent();
  }

  private void ddl(String cql) throws IOException {
    ResultSet rs = execute("create the schema", SimpleStatement.newInstance(cql)
        .setTimeout(java.time.Duration.ofMinutes(2)));
    if (!rs.getExecutionInfo().isSchemaInAgreement()) {
      awaitSchemaAgreement(cql);
    }
  }

  /**
   * Waits until every node that is up has the schema change (the driver waits only its own short while after a DDL
   * statement): a node that lacks a new table fails the first reads and writes that reach it as a replica.
   */
  private void awaitSchemaAgreement(String cql) throws IOException {
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MINUTES.toNanos(2);
    while (!session.checkSchemaAgreement()) {
      if (System.nanoTime() > deadline) {
        Map<String, String> versions = new TreeMap<>();
        for (Node n : session.getMetadata().getNodes().values()) {
          if (n.getState() == NodeState.UP) {
            versions.put(n.getEndPoint().toString(), String.valueOf(n.getSchemaVersion()));
          }
        }
        throw new IOException("the nodes of " + where + " did not agree on the schema within 2 minutes of: " + cql
            + " (" + schemaVersions(versions) + ")");
      }
      java.util.concurrent.locks.LockSupport.parkNanos(java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(200));
    }
  }

  /**
   * The nodes grouped by schema version, for the error of a schema that does not settle: {@code schema versions as the
   * driver last saw them: 5e2c… on 127.0.0.1:9042, 127.0.0.2:9042; 9a81… on 127.0.0.3:9042}.
   *
   * @param versions schema version by node, of the nodes that are up
   */
  static String schemaVersions(Map<String, String> versions) {
    Map<String, List<String>> byVersion = new TreeMap<>();
    versions.forEach((node, v) -> byVersion.computeIfAbsent(v, k -> new ArrayList<>()).add(node));
    List<String> parts = new ArrayList<>();
    byVersion.forEach((v, nodes) -> parts.add(v + " on " + String.join(", ", nodes)));
    return "schema versions as the driver last saw them: "
        + (parts.isEmpty() ? "no node up" : String.join("; ", parts));
  }

  // ---- requests shared by the chunk and record stores ----

  /** Runs a statement, waiting for it; {@code what} names the operation for the error. */
  ResultSet execute(String what, Statement<?> statement) throws IOException {
    ensureOpen();
    try {
      return executeSent(statement);
    } catch (DriverException e) {
      throw failure(what, e);
    }
  }

  /**
   * {@code session.execute(statement)}, sent again after a pause while the driver could not send it at all ({@link
   * #notSent}), and sent to another node when its coordinator refused it unrun because it is shutting down ({@link
   * #refusedUnrun}); any other failure is thrown as the driver threw it, for callers that look at its kind.
   */
  ResultSet executeSent(Statement<?> statement) throws InterruptedIOException {
    for (int attempt = 1; ; attempt++) {
      try {
        return session.execute(statement);
      } catch (OverloadedException e) {
        // The driver sends no statement that is not idempotent (a lightweight transaction) elsewhere by itself; a
        // node that drains keeps its native port open for seconds and refuses every request meanwhile, so sent to
        // it again the request would be refused again until the attempts ran out, and the user would read "shutting
        // down" instead of what the rest of the cluster can do.
        Node other = attempt < NOT_SENT_ATTEMPTS && refusedUnrun(e) ? anotherNode(e.getCoordinator()) : null;
        if (other == null) {
          throw e;
        }
        statement = statement.setNode(other);
      } catch (AllNodesFailedException e) {
        if (attempt >= NOT_SENT_ATTEMPTS || !sendAgain(statement, e)) {
          throw e;
        }
        try {
          Thread.sleep(notSentPause(attempt));
        } catch (InterruptedException interrupted) {
          InterruptedIOException io = interrupted("waiting to send a request to " + where, interrupted);
          io.addSuppressed(e);
          throw io;
        }
      }
    }
  }

  /**
   * Whether a coordinator refused a request before running any of it: Cassandra answers every request that reaches a
   * node which is shutting down (its connections no longer running) with this overload, whatever the statement, so
   * sending it to another node is safe for any statement.
   */
  static boolean refusedUnrun(OverloadedException e) {
    String m = e.getMessage();
    return m != null && m.endsWith("Server is shutting down");
  }

  /** A node the driver sees up other than {@code refused}, picked at random so that retries spread; null if none. */
  private Node anotherNode(Node refused) {
    List<Node> up = new ArrayList<>();
    for (Node n : session.getMetadata().getNodes().values()) {
      if (n.getState() == NodeState.UP && !n.equals(refused)) {
        up.add(n);
      }
    }
    return up.isEmpty() ? null : up.get(ThreadLocalRandom.current().nextInt(up.size()));
  }

  /** Sends of a request the driver could not send at all (see {@link #notSent}), the first included. */
  private static final int NOT_SENT_ATTEMPTS = 5;

  private static long notSentPause(int attempt) {
    return 50L << attempt;
  }

  /**
   * Whether a failed request is sent again after a pause: one the driver could not send at all ({@link #notSent}), or
   * an idempotent one (sending it twice is harmless) whose every node lost its connection with it in flight ({@link
   * #onlyLostConnections}). The driver sends an idempotent request to the next node itself, but when the nodes it
   * could try are used up (the last live replica's connection reset as others went down), the error was the pool's
   * state of that moment instead of what the cluster can do: a cleanup after a push that lost its quorum failed with
   * "Unexpected error on channel" instead of the consistency level (CI, 2026-12-05).
   */
  static boolean sendAgain(Statement<?> statement, Throwable t) {
    return notSent(t) || (Boolean.TRUE.equals(statement.isIdempotent()) && onlyLostConnections(t));
  }

  /** Whether every node the driver tried failed because its connection was lost (closed, reset, no heartbeat). */
  static boolean onlyLostConnections(Throwable t) {
    return everyNodeFailedWith(t, e -> e instanceof ClosedConnectionException || e instanceof HeartbeatException
        || e instanceof java.nio.channels.ClosedChannelException);
  }

  /**
   * Whether {@code t} (or the cause of a failed stage) is the driver's all-nodes-failed error with at least one node
   * tried, and every error of every node tried is of the kind {@code kind} accepts.
   */
  private static boolean everyNodeFailedWith(Throwable t, java.util.function.Predicate<Throwable> kind) {
    while (t instanceof java.util.concurrent.CompletionException && t.getCause() != null) {
      t = t.getCause();
    }
    if (!(t instanceof AllNodesFailedException a) || a.getAllErrors().isEmpty()) {
      return false;
    }
    for (List<Throwable> errors : a.getAllErrors().values()) {
      for (Throwable e : errors) {
        if (!kind.test(e)) {
          return false;
        }
      }
    }
    return true;
  }

  /**
   * Whether a request failed without being sent: every node the driver tried had no connection free for it
   * ({@code NodeUnavailableException}), as happens for a moment after a node goes down and the driver replaces the
   * connections to the others. Sending it again is safe for any statement, and lets the cluster itself answer (with
   * the consistency level it cannot meet, or the result) instead of the driver's pool state of that moment.
   */
  static boolean notSent(Throwable t) {
    return everyNodeFailedWith(t, e -> e instanceof NodeUnavailableException);
  }

  /**
   * Sends a statement once one of {@link CassandraSettings#maxRequests()} permits is free, so that a store never has
   * more requests in flight (and part buffers in memory) than that.
   */
  CompletionStage<AsyncResultSet> executeAsync(Statement<?> statement) throws InterruptedIOException {
    ensureOpen();
    try {
      requests.acquire();
    } catch (InterruptedException e) {
      throw interrupted("waiting to send a request to " + where, e);
    }
    CompletableFuture<AsyncResultSet> result = new CompletableFuture<>();
    send(statement, 1, result);
    return result.whenComplete((r, t) -> requests.release());
  }
  /** Sends {@code statement}, again after a pause while it could not be sent at all ({@link #notSent}). */
  private void send(Statement<?> statement, int attempt, CompletableFuture<AsyncResultSet> result) {
    CompletionStage<AsyncResultSet> sent;
    try {
      sent = session.executeAsync(statement);
    } catch (RuntimeException e) {
      result.completeExceptionally(e);
      return;
    }
    sent.whenComplete((r, t) -> {
      if (t == null) {
        result.complete(r);
      } else if (attempt < NOT_SENT_ATTEMPTS && sendAgain(statement, t) && !closed.get()) {
        CompletableFuture.delayedExecutor(notSentPause(attempt), TimeUnit.MILLISECONDS)
            .execute(() -> send(statement, attempt + 1, result));
      } else {
        result.completeExceptionally(t);
      }
    });
  }


  /** Waits for all the stages; the first failure is thrown as an IOException naming {@code what}. */
  <T> List<T> await(String what, List<? extends CompletionStage<T>> stages) throws IOException {
    List<CompletableFuture<T>> futures = new ArrayList<>(stages.size());
    for (CompletionStage<T> s : stages) {
      futures.add(s.toCompletableFuture());
    }
    List<T> out = new ArrayList<>(futures.size());
    IOException first = null;
    for (CompletableFuture<T> f : futures) {
      try {
        out.add(f.get());
      } catch (InterruptedException e) {
        futures.forEach(x -> x.cancel(true));
        throw interrupted(what, e);
      } catch (ExecutionException e) {
        if (first == null) {
          first = failure(what, e.getCause());
        }
        out.add(null);
      }
    }
    if (first != null) {
      throw first;
    }
    return out;
  }

  /**
   * An IOException for a request that failed, naming the operation, the store and the consistency level (the
   * driver's own message says which replicas were missing or slow).
   */
  IOException failure(String what, Throwable e) {
    if (e instanceof IOException io && !(e instanceof InterruptedIOException)) {
      return io;
    }
    String why = e.getMessage() == null ? e.toString() : e.getMessage();
    return new IOException(what + " in " + where + " failed at consistency " + settings.consistency() + " (serial "
        + settings.serialConsistency() + "): " + why, e);
  }

  static InterruptedIOException interrupted(String what, InterruptedException e) {
    Thread.currentThread().interrupt();
    InterruptedIOException io = new InterruptedIOException("interrupted while " + what);
    io.initCause(e);
    return io;
  }

  static byte[] bytes(ByteBuffer b) {
    if (b == null) {
      return new byte[0];
    }
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  CqlSession session() {
    return session;
  }

  CassandraSettings settings() {
    return settings;
  }

  Clock clock() {
    return clock;
  }

  /** The store, for messages. */
  String where() {
    return where;
  }

  void ensureOpen() {
    if (closed.get()) {
      throw new IllegalStateException(where + " is closed");
    }
  }

  @Override
  public ChunkStore chunks() {
    return chunks;
  }

  @Override
  public RefStore refs() {
    return refs;
  }

  /** The records of this store: rows of table {@code records} (see {@link CassandraRecordStore}). */
  @Override
  public RecordStore records() {
    return records;
  }

  /** {@code cassandra://hosts/keyspace}, without options. */
  @Override
  public Optional<String> markerId() {
    return markerId;
  }

  @Override
  public String uri() {
    return where;
  }

  @Override
  public void close() throws IOException {
    if (closed.compareAndSet(false, true)) {
      try {
        session.close();
      } catch (DriverException e) {
        throw new IOException("closing the session to " + where + ": " + e.getMessage(), e);
      }
    }
  }

  @Override
  public String toString() {
    return "CassandraBackend[" + where + "]";
  }
}
