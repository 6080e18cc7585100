package io.ferry.store.redis;

import io.ferry.error.InvalidInputException;
import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.KeyScanCursor;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanCursor;
import io.lettuce.core.SetArgs;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.SslVerifyMode;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisServerCommands;
import io.lettuce.core.protocol.CommandType;
import io.lettuce.core.protocol.ProtocolKeyword;
import io.lettuce.core.protocol.RedisCommand;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.cluster.api.sync.RedisClusterCommands;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.lettuce.core.resource.Delay;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One connection to a Redis server or Redis Cluster, with the few commands the cache uses. Every command times out
 * after the configured timeout; while the connection to one server is down, commands fail at once instead of
 * queueing (so that a read falls back to the store without waiting; on a cluster they wait for the node's connection,
 * at most the timeout), and the client reconnects by itself in the background. On a
 * cluster, the client routes each key to its node and follows topology changes (a refresh on reconnects and
 * redirects, and every 30 s). Thread-safe: Lettuce multiplexes every caller over the connection, pipelining their
 * commands.
 */
final class RedisLink implements AutoCloseable {
  private final ClientResources resources;
  private final AbstractRedisClient client;
  private final StatefulConnection<String, Blob> connection;
  private final RedisClusterAsyncCommands<String, Blob> async;
  private final RedisClusterCommands<String, Blob> sync;
  private final boolean cluster;
  /** Set when one of this link's connections (re)connects: the server at that address may be another one now. */
  private final java.util.concurrent.atomic.AtomicBoolean reconnected =
      new java.util.concurrent.atomic.AtomicBoolean();
  private final reactor.core.Disposable connections;

  private RedisLink(ClientResources resources, AbstractRedisClient client, StatefulConnection<String, Blob> c,
      RedisClusterAsyncCommands<String, Blob> async, RedisClusterCommands<String, Blob> sync, boolean cluster) {
    this.resources = resources;
    this.client = client;
    this.connection = c;
    this.async = async;
    this.sync = sync;
    this.cluster = cluster;
    // the client reconnects by itself, to whatever server then answers at the address (restarted, failed over, or
    // replaced by another one): its events say when, so that what was checked at connect is checked again
    this.connections = resources.eventBus().get()
        .filter(e -> e instanceof io.lettuce.core.event.connection.ConnectionActivatedEvent)
        .subscribe(e -> reconnected.set(true));
  }

  /** Whether a connection of this link was (re)activated since the last call (the first one's may be counted). */
  boolean reconnectedSinceAsked() {
    return reconnected.getAndSet(false);
  }

  /**
   * A Redis failure for a message: its own message, then its root cause's when that says more (Lettuce's "Unable to
   * connect to host:port" hides "Connection refused" in its cause), with the {@code /<unresolved>} the JDK prints in an
   * unresolved address left out.
   */
  static String describe(Throwable e) {
    String m = e.getMessage() == null || e.getMessage().isBlank() ? e.getClass().getSimpleName() : e.getMessage();
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    if (root != e) {
      String r = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
      if (!m.contains(r)) {
        m += ": " + r;
      }
    }
    m = m.replace("/<unresolved>:", ":");
    // the cluster client's "Cannot retrieve cluster partitions from [...]\n\nDetails:\n\t[...]: why" spread one
    // warning over five lines of stderr: one line, as every other warning
    m = m.replaceAll("\\s*\\R\\s*", " ").trim();
    if (m.contains("Invalid first byte")) {
      // Lettuce's words for an answer that is not RESP: another protocol's server on that port (HTTP, S3...)
      java.util.regex.Matcher at = java.util.regex.Pattern.compile("connect to (\\S+):\\s").matcher(m);
      String where = at.find() ? at.group(1) : "the server";
      m += " (" + where + " does not answer in the Redis protocol: is it a Redis server's port?)";
    }
    return m;
  }

  /**
   * As {@link #describe(Throwable)}, with the likely cause where the client's words do not say it: a TLS URI
   * ({@code rediss://}) for a server that speaks plain Redis (the client waits for a handshake that never comes and
   * said only "Connection initialization timed out"), a server that needs a password none was given for (the
   * server's long "NOAUTH HELLO must be called..."), a cluster that leaves a key's hash slot to no master, and the
   * other way round, a plain URI for a server that speaks TLS or another protocol and closes the connection (only
   * "Connection reset", or "RedisHandshakeHandler not registered" when it closed very early) and a TLS server whose
   * certificate this runtime does not trust ("unable to find valid certification path to requested target").
   */
  static String describe(Throwable e, CacheSettings s) {
    String m = describe(e);
    if (s.uri().startsWith("rediss") && (m.contains("Connection initialization timed out")
        || m.contains("SSL") || m.contains("not an SSL/TLS record"))) {
      m += " (the URI asks for TLS: is TLS on at that port? A server without it takes "
          + s.describe().replaceFirst("^rediss", "redis") + ")";
    } else if (s.uri().startsWith("rediss") && m.contains("certification path")) {
      m += " (the server's certificate is not signed by an authority this Java runtime trusts: add that authority to"
          + " its trust store, or add ?verifyPeer=none to the URI to skip the check)";
    } else if (!s.uri().startsWith("rediss") && m.startsWith("Unable to connect")
        && (m.contains("Connection reset") || m.contains("Connection closed")
            || m.contains("RedisHandshakeHandler not registered"))) {
      // closed before a Redis answer: a TLS server drops a plain connection so, and another protocol's server that
      // answers and closes at once was, on a loaded machine, the client's "RedisHandshakeHandler not registered"
      java.util.regex.Matcher at = java.util.regex.Pattern.compile("connect to (\\S+):\\s").matcher(m);
      m += " (" + (at.find() ? at.group(1) : "the server") + " does not answer in the Redis protocol: is it a Redis"
          + " server's port? One that speaks TLS there takes " + s.describe().replaceFirst("^redis", "rediss") + ")";
    } else if (m.contains("WRONGPASS")) {
      m += " (the user or password in the URI is not the server's, or the user is disabled; a password holding '@',"
          + " '/', '?', '#' or '%' is percent-encoded in the URI: redis://app:p%40ss@host:port for p@ss)";
    } else if (m.contains("NOAUTH")) {
      m += " (the server needs a password: give it in the URI, redis://:PASSWORD@host:port, or redis://USER:PASSWORD@"
          + "host:port for an ACL user)";
    } else if (noSuchDatabase(e)) {
      String db;
      try {
        db = "database " + s.parsed().database();
      } catch (InvalidInputException bad) {
        db = "the database";
      }
      m += " (the server has no " + db + ": its 'databases' setting, 16 by default, numbers them from 0; give one"
          + " below that in the URI, or none for database 0)";
    } else if (m.contains("Cannot determine a partition for slot")) {
      m += " (no master of the cluster serves that hash slot: CLUSTER INFO shows cluster_slots_assigned below 16384)";
    }
    return m;
  }

  /**
   * Whether connecting failed because the server has no database of the URI's number (Redis 7's "ERR DB index is
   * out of range", older servers' "ERR invalid DB index"): the URI is wrong, not the server unreachable.
   */
  /**
   * Whether the server answered the connection but refused what the URI asks of it: a database it does not have, or
   * the credentials (none, or wrong ones). Such a cache "cannot be used"; "cannot be reached" sent users looking for a
   * network fault.
   */
  static boolean refusedAtConnect(Throwable e) {
    if (noSuchDatabase(e)) {
      return true;
    }
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      String m = t.getMessage();
      if (m != null && (m.contains("WRONGPASS") || m.contains("NOAUTH"))) {
        return true;
      }
    }
    return false;
  }

  static boolean noSuchDatabase(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      String m = t.getMessage();
      if (m != null && (m.contains("DB index is out of range") || m.contains("invalid DB index"))) {
        return true;
      }
    }
    return false;
  }

  /**
   * Connects (blocking at most about the connect timeout).
   *
   * @throws InvalidInputException if the URI is wrong
   * @throws io.lettuce.core.RedisException if the server cannot be reached
   */
  static RedisLink connect(CacheSettings s) throws InvalidInputException {
    Duration connectTimeout = s.connectTimeout().compareTo(s.timeout()) > 0 ? s.connectTimeout() : s.timeout();
    SocketOptions socket = SocketOptions.builder().connectTimeout(connectTimeout).keepAlive(true).build();
    // reads and writes of parts: the cache's timeout; the rare commands of connecting and of stats: the connect one
    TimeoutOptions timeouts = TimeoutOptions.builder().timeoutSource(new TimeoutOptions.TimeoutSource() {
      @Override
      public long getTimeout(RedisCommand<?, ?, ?> command) {
        ProtocolKeyword t = command.getType();
        boolean data = t == CommandType.GET || t == CommandType.GETRANGE || t == CommandType.SET
            || t == CommandType.DEL
            || t == CommandType.HINCRBY || t == CommandType.EXISTS;
        return (data ? s.timeout() : connectTimeout).toNanos();
      }

      @Override
      public TimeUnit getTimeUnit() {
        return TimeUnit.NANOSECONDS;
      }
    }).build();
    // reconnect attempts back off up to the circuit breaker's period, so a server that is back is found by the time
    // the cache is tried again (the client's default backs off up to 30 s whatever the period)
    Duration maxDelay = s.retryAfter().compareTo(Duration.ofMillis(20)) > 0 ? s.retryAfter() : Duration.ofMillis(20);
    ClientResources resources = DefaultClientResources.builder().ioThreadPoolSize(2).computationThreadPoolSize(2)
        .reconnectDelay(() -> Delay.exponential(Duration.ofMillis(10), maxDelay, 2, TimeUnit.MILLISECONDS)).build();
    try {
      if (s.cluster()) {
        RedisClusterClient client = RedisClusterClient.create(resources, uris(s));
        client.setOptions(ClusterClientOptions.builder().socketOptions(socket).timeoutOptions(timeouts)
            // node connections open on demand: rejecting commands while one is being opened would fail healthy
            // reads, so commands wait for it (bounded by the command timeout, like a dead node's)
            .disconnectedBehavior(ClientOptions.DisconnectedBehavior.ACCEPT_COMMANDS)
            .topologyRefreshOptions(ClusterTopologyRefreshOptions.builder().enableAllAdaptiveRefreshTriggers()
                .enablePeriodicRefresh(Duration.ofSeconds(30)).build())
            .build());
        try {
          StatefulRedisClusterConnection<String, Blob> c = client.connect(Blob.Codec.INSTANCE);
          for (RedisClusterNode node : c.getPartitions()) {
            if (node.is(RedisClusterNode.NodeFlag.UPSTREAM)) {
              try {
                c.getConnection(node.getNodeId());
              } catch (RuntimeException notNow) {
                // opened again on demand; a dead node's reads time out and fall back to the store
              }
            }
          }
          return new RedisLink(resources, client, c, c.async(), c.sync(), true);
        } catch (RuntimeException e) {
          client.shutdown(0, 2, TimeUnit.SECONDS);
          throw e;
        }
      }
      RedisClient client = RedisClient.create(resources, uris(s).get(0));
      client.setOptions(ClientOptions.builder().socketOptions(socket).timeoutOptions(timeouts)
          .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS).build());
      try {
        StatefulRedisConnection<String, Blob> c = client.connect(Blob.Codec.INSTANCE);
        return new RedisLink(resources, client, c, c.async(), c.sync(), false);
      } catch (RuntimeException e) {
        client.shutdown(0, 2, TimeUnit.SECONDS);
        throw e;
      }
    } catch (InvalidInputException | RuntimeException e) {
      resources.shutdown(0, 2, TimeUnit.SECONDS);
      throw e;
    }
  }

  /**
   * The client's URIs, built from the parts of the cache URI that {@link CacheUri} checked (the client's own parser
   * took a host with an underscore for a host named {@code host:port} on port 6379): one per cluster seed, or one
   * for a server or for the Sentinels.
   */
  static List<RedisURI> uris(CacheSettings s) throws InvalidInputException {
    CacheUri u = s.parsed();
    Duration timeout = s.connectTimeout().compareTo(s.timeout()) > 0 ? s.connectTimeout() : s.timeout();
    List<CacheUri.Server> nodes = u.cluster() ? u.servers() : u.servers().subList(0, 1);
    List<RedisURI> out = new ArrayList<>();
    for (CacheUri.Server node : nodes) {
      RedisURI.Builder b = u.sentinel() ? RedisURI.Builder.sentinel(node.host(), node.port(), u.master())
          : RedisURI.Builder.redis(node.host(), node.port());
      if (u.sentinel()) {
        for (CacheUri.Server other : u.servers().subList(1, u.servers().size())) {
          b.withSentinel(other.host(), other.port());
        }
      }
      b.withSsl(u.tls()).withDatabase(u.database()).withTimeout(timeout);
      if (u.password() != null) {
        if (u.user() != null) {
          b.withAuthentication(u.user(), u.password());
        } else {
          b.withPassword(u.password().toCharArray());
        }
      }
      String name = u.options().get("clientName");
      if (name != null) {
        b.withClientName(name);
      }
      String verify = u.options().get("verifyPeer");
      if (verify != null) {
        b.withVerifyPeer(switch (verify.toLowerCase(java.util.Locale.ROOT)) {
          case "false", "none" -> SslVerifyMode.NONE;
          case "ca" -> SslVerifyMode.CA;
          default -> SslVerifyMode.FULL;
        });
      }
      out.add(b.build());
    }
    return out;
  }

  boolean cluster() {
    return cluster;
  }

  RedisFuture<Blob> get(String key) {
    return async.get(key);
  }

  /**
   * {@code GETRANGE key 0 maxBytes-1}: the value's first {@code maxBytes} bytes at most, however long it is; an empty
   * value for an absent key.
   */
  RedisFuture<Blob> getPrefix(String key, int maxBytes) {
    return async.getrange(key, 0, maxBytes - 1L);
  }

  RedisFuture<String> set(String key, Blob value, Duration ttl) {
    return ttl.isZero() ? async.set(key, value) : async.set(key, value, SetArgs.Builder.px(ttl.toMillis()));
  }

  /** {@code SET key value NX PX ttl}: completes with {@code "OK"} if this call created the key, else null. */
  RedisFuture<String> setIfAbsent(String key, Blob value, Duration ttl) {
    return async.set(key, value, SetArgs.Builder.nx().px(ttl.toMillis()));
  }

  /** {@code INFO section} of the server (on a cluster, of the node the client picks). */
  RedisFuture<String> info(String section) {
    return async.info(section);
  }

  RedisFuture<Long> exists(String key) {
    return async.exists(key);
  }

  RedisFuture<Long> del(String... keys) {
    return async.del(keys);
  }

  RedisFuture<Long> hincrby(String key, String field, long amount) {
    return async.hincrby(key, field, amount);
  }

  RedisFuture<Long> sadd(String key, String member) {
    return async.sadd(key, Blob.of(member));
  }

  RedisClusterCommands<String, Blob> sync() {
    return sync;
  }

  /** Runs {@code command} against every server (one, or every master of the cluster). */
  <T> List<T> onEveryServer(java.util.function.Function<RedisServerCommands<String, Blob>, T> command) {
    List<T> out = new ArrayList<>();
    if (!cluster) {
      out.add(command.apply(sync));
      return out;
    }
    @SuppressWarnings("unchecked")
    StatefulRedisClusterConnection<String, Blob> c = (StatefulRedisClusterConnection<String, Blob>) connection;
    for (RedisClusterNode node : c.getPartitions()) {
      if (node.is(RedisClusterNode.NodeFlag.UPSTREAM) && !node.is(RedisClusterNode.NodeFlag.FAIL)) {
        out.add(command.apply(c.getConnection(node.getNodeId()).sync()));
      }
    }
    return out;
  }

  /**
   * As {@link #onEveryServer(java.util.function.Function)}, but a cluster's master that does not answer (down, not
   * reachable, or marked failed by the cluster) is added to {@code down}, its address mapped to why, instead of
   * failing the whole call: for reports that are worth having in part while a master is down. An error the master
   * answered with (a command it refuses) is thrown as before; a single server that does not answer too.
   */
  <T> List<T> onEveryServer(java.util.function.Function<RedisServerCommands<String, Blob>, T> command,
      Map<String, String> down) {
    List<T> out = new ArrayList<>();
    if (!cluster) {
      out.add(command.apply(sync));
      return out;
    }
    @SuppressWarnings("unchecked")
    StatefulRedisClusterConnection<String, Blob> c = (StatefulRedisClusterConnection<String, Blob>) connection;
    for (RedisClusterNode node : c.getPartitions()) {
      if (!node.is(RedisClusterNode.NodeFlag.UPSTREAM)) {
        continue;
      }
      String at = node.getUri().getHost() + ":" + node.getUri().getPort();
      if (node.is(RedisClusterNode.NodeFlag.FAIL)) {
        down.putIfAbsent(at, "marked failed by the cluster");
        continue;
      }
      if (down.containsKey(at)) {
        continue;
      }
      try {
        out.add(command.apply(c.getConnection(node.getNodeId()).sync()));
      } catch (io.lettuce.core.RedisCommandExecutionException e) {
        throw e;
      } catch (RuntimeException e) {
        down.put(at, describe(e));
      }
    }
    return out;
  }

  /** Calls {@code sink} with every key matching {@code pattern} (on a cluster, of every master). */
  void scan(String pattern, Consumer<String> sink) {
    if (!cluster) {
      scanOne(sync, pattern, sink);
      return;
    }
    @SuppressWarnings("unchecked")
    StatefulRedisClusterConnection<String, Blob> c = (StatefulRedisClusterConnection<String, Blob>) connection;
    for (RedisClusterNode node : c.getPartitions()) {
      if (node.is(RedisClusterNode.NodeFlag.UPSTREAM) && !node.is(RedisClusterNode.NodeFlag.FAIL)) {
        scanOne(c.getConnection(node.getNodeId()).sync(), pattern, sink);
      }
    }
  }

  /** As {@link #scan(String, Consumer)}, of the masters that answer, naming the others in {@code down}. */
  void scan(String pattern, Consumer<String> sink, Map<String, String> down) {
    if (!cluster) {
      scanOne(sync, pattern, sink);
      return;
    }
    @SuppressWarnings("unchecked")
    StatefulRedisClusterConnection<String, Blob> c = (StatefulRedisClusterConnection<String, Blob>) connection;
    for (RedisClusterNode node : c.getPartitions()) {
      String at = node.getUri().getHost() + ":" + node.getUri().getPort();
      if (!node.is(RedisClusterNode.NodeFlag.UPSTREAM) || node.is(RedisClusterNode.NodeFlag.FAIL)
          || down.containsKey(at)) {
        continue; // a failed master is named by the memory figures, asked first
      }
      try {
        scanOne(c.getConnection(node.getNodeId()).sync(), pattern, sink);
      } catch (io.lettuce.core.RedisCommandExecutionException e) {
        throw e;
      } catch (RuntimeException e) {
        down.put(at, describe(e));
      }
    }
  }

  private static void scanOne(io.lettuce.core.api.sync.RedisKeyCommands<String, Blob> keys, String pattern,
      Consumer<String> sink) {
    ScanArgs args = ScanArgs.Builder.matches(pattern).limit(1000);
    KeyScanCursor<String> cursor = keys.scan(args);
    while (true) {
      cursor.getKeys().forEach(sink);
      if (cursor.isFinished()) {
        return;
      }
      cursor = keys.scan(ScanCursor.of(cursor.getCursor()), args);
    }
  }

  /** The {@code CONFIG GET} of {@code parameter} on every server. */
  List<Map<String, String>> configGet(String parameter) {
    return onEveryServer(c -> c.configGet(parameter));
  }

  @Override
  public void close() {
    connections.dispose();
    try {
      connection.close();
    } finally {
      try {
        client.shutdown(0, 2, TimeUnit.SECONDS);
      } finally {
        resources.shutdown(0, 2, TimeUnit.SECONDS);
      }
    }
  }
}
