package io.ferry.store.cassandra;

import com.datastax.oss.driver.api.core.ConsistencyLevel;
import com.datastax.oss.driver.api.core.DefaultConsistencyLevel;
import io.ferry.error.InvalidInputException;
import io.ferry.store.StoreLayers;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Where a Cassandra store is and how to talk to it, from a {@code cassandra://host1,host2:9042/keyspace?options} URI
 * and the store settings ({@link io.ferry.store.StoreOptions#settings()}, keys {@code cassandra.<option>}, which win
 * over the URI's query).
 *
 * <table>
 *   <caption>options</caption>
 *   <tr><th>option</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>{@code replication_factor}</td><td>none</td><td>keyspace replication with {@code SimpleStrategy}, used
 *       only when the keyspace is created ({@code ferry init})</td></tr>
 *   <tr><td>{@code dc.<datacenter>}</td><td>none</td><td>replicas in that datacenter, with {@code
 *       NetworkTopologyStrategy} (e.g. {@code dc.dc1=3&dc.dc2=2}); excludes {@code replication_factor}</td></tr>
 *   <tr><td>{@code local_dc}</td><td>the driver configuration's, else inferred from the contact points</td><td>the
 *       datacenter whose nodes the driver sends requests to</td></tr>
 *   <tr><td>{@code consistency}</td><td>{@code QUORUM}</td><td>level of every read and write, and of the commit of
 *       lightweight transactions; {@code ANY}, which Cassandra takes for writes only, is refused</td></tr>
 *   <tr><td>{@code serial_consistency}</td><td>{@code SERIAL}</td><td>level of the Paxos phase of lightweight
 *       transactions ({@code SERIAL} or {@code LOCAL_SERIAL})</td></tr>
 *   <tr><td>{@code request_timeout_ms}</td><td>30000</td><td>how long the driver waits for one request</td></tr>
 *   <tr><td>{@code max_requests}</td><td>64</td><td>requests in flight per store (part reads and writes)</td></tr>
 *   <tr><td>{@code speculative_delay_ms}</td><td>500</td><td>an idempotent request (every read, a part write) with no
 *       answer after this long is sent to another replica too, and again after as long, up to three nodes; the first
 *       answer wins. A node that stops answering (a long GC pause, a frozen VM, a partition) then costs each request
 *       this long instead of the request timeout. 0 turns it off</td></tr>
 * </table>
 *
 * <p>Credentials, TLS, pools and everything else come from the driver's own configuration: {@code application.conf}
 * (or {@code .json}/{@code .properties}) on the class path or named by {@code -Dconfig.file}, and {@code
 * -Ddatastax-java-driver.<path>=...} system properties. The options above override the driver configuration for what
 * they name. The query may also hold core's {@code layers} option, which this backend leaves to core.
 *
 * @param contactPoints the hosts to connect to first (the driver discovers the rest)
 * @param keyspace the keyspace of the store
 * @param replication the keyspace's replication map when Ferry creates it, empty if none was given
 */
public record CassandraSettings(List<InetSocketAddress> contactPoints, String keyspace, Map<String, String> replication,
    String localDc, ConsistencyLevel consistency, ConsistencyLevel serialConsistency, Duration requestTimeout,
    int maxRequests, Duration speculativeDelay) {
  /** Default CQL port. */
  public static final int DEFAULT_PORT = 9042;
  /** Prefix of the store settings that this backend reads. */
  public static final String PREFIX = "cassandra.";
  private static final Pattern KEYSPACE = Pattern.compile("[a-z][a-z0-9_]{0,47}");
  /** CQL's reserved words (Cassandra 5.0), which a keyspace name cannot be without quotes. */
  private static final java.util.Set<String> RESERVED = java.util.Set.of("add", "allow", "alter", "and", "apply",
      "asc", "authorize", "batch", "begin", "by", "columnfamily", "create", "delete", "desc", "describe", "drop",
      "entries", "execute", "from", "full", "grant", "if", "in", "index", "infinity", "insert", "into", "is",
      "keyspace", "limit", "materialized", "mbean", "mbeans", "modify", "nan", "norecursive", "not", "null", "of", "on",
      "or", "order", "primary", "rename", "replace", "revoke", "schema", "select", "set", "table", "to", "token",
      "truncate", "unlogged", "unset", "update", "use", "using", "view", "where", "with");
  private static final Pattern DC = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
  private static final List<String> KNOWN = List.of("replication_factor", "local_dc", "consistency",
      "serial_consistency", "request_timeout_ms", "max_requests", "speculative_delay_ms");

  public CassandraSettings {
    contactPoints = List.copyOf(contactPoints);
    replication = Collections.unmodifiableMap(new LinkedHashMap<>(replication));
    Objects.requireNonNull(keyspace, "keyspace");
    Objects.requireNonNull(consistency, "consistency");
    Objects.requireNonNull(serialConsistency, "serialConsistency");
    Objects.requireNonNull(speculativeDelay, "speculativeDelay");
    if (contactPoints.isEmpty()) {
      throw new IllegalArgumentException("no contact points");
    }
    if (!serialConsistency.isSerial()) {
      throw new IllegalArgumentException("serial consistency " + serialConsistency + " is not SERIAL or LOCAL_SERIAL");
    }
    if (maxRequests < 1) {
      throw new IllegalArgumentException("max_requests " + maxRequests + " is below 1");
    }
  }

  /**
   * Parses the URI and the settings.
   *
   * @throws InvalidInputException naming the URI and what is wrong with it
   */
  public static CassandraSettings parse(URI uri, Map<String, String> settings) throws InvalidInputException {
    if (!"cassandra".equalsIgnoreCase(uri.getScheme())) {
      throw bad(uri, "the scheme is not cassandra");
    }
    String authority = uri.getRawAuthority();
    if (authority == null || authority.isEmpty()) {
      throw bad(uri, "no hosts: expected cassandra://host1,host2:9042/keyspace");
    }
    if (authority.contains("@")) {
      throw bad(uri, "credentials do not go in the URI: put them in the driver configuration (docs/cassandra.md)");
    }
    if (uri.getRawFragment() != null) {
      // it was passed over: cassandra://h/ks#consistency=ONE opened the store at QUORUM without a word
      throw bad(uri, "'#" + uri.getRawFragment() + "': a Cassandra store URI has no fragment; options go in the query"
          + " (?consistency=ONE)");
    }
    List<InetSocketAddress> points = contactPoints(uri, authority);
    String path = uri.getRawPath() == null ? "" : uri.getRawPath();
    String keyspace = path.startsWith("/") ? path.substring(1) : path;
    if (!KEYSPACE.matcher(keyspace).matches()) {
      throw bad(uri, "keyspace '" + keyspace + "' is not a lower-case CQL name ([a-z][a-z0-9_]{0,47})");
    }
    if (RESERVED.contains(keyspace)) {
      throw bad(uri, "keyspace '" + keyspace + "' is a reserved word of CQL; pick another name");
    }
    Map<String, String> options = new TreeMap<>(StoreLayers.query(uri));
    java.util.Set<String> fromSettings = new java.util.HashSet<>();
    settings.forEach((k, v) -> {
      if (k.startsWith(PREFIX)) {
        options.put(k.substring(PREFIX.length()), v);
        fromSettings.add(k.substring(PREFIX.length()));
      }
    });
    // an error about an option names where its value came from: the URI's query, or a store setting
    java.util.function.Function<String, String> source = k -> fromSettings.contains(k)
        ? "store setting '" + PREFIX + k + "' (store URI '" + uri + "')" : "store URI '" + uri + "'";
    Map<String, String> replication = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : options.entrySet()) {
      String k = e.getKey();
      if (k.startsWith("dc.")) {
        String dc = k.substring(3);
        if (!DC.matcher(dc).matches()) {
          throw bad(source.apply(k), "datacenter name '" + dc + "' has characters other than [A-Za-z0-9_.-]");
        }
        if (dc.equals("class") || dc.equals("replication_factor")) {
          // dc.class printed a map with 'class' twice, and dc.replication_factor made a SimpleStrategy keyspace
          throw bad(source.apply(k), k + ": '" + dc + "' is a key of the replication map, not a datacenter name");
        }
        replication.put(dc, Integer.toString(positive(source.apply(k), k, e.getValue())));
      } else if (!KNOWN.contains(k) && !k.equals(io.ferry.store.StoreLayers.SETTING)) {
        throw bad(source.apply(k), "unknown option '" + k + "'; known: " + String.join(", ", KNOWN)
            + ", dc.<datacenter>");
      }
    }
    if (options.containsKey("replication_factor")) {
      if (!replication.isEmpty()) {
        throw bad(uri, "replication_factor and dc.<datacenter> exclude each other: give one or the other");
      }
      replication.put("replication_factor",
          Integer.toString(positive(source.apply("replication_factor"), "replication_factor",
              options.get("replication_factor"))));
    }
    String localDc = options.get("local_dc");
    if (localDc != null && !DC.matcher(localDc).matches()) {
      throw bad(source.apply("local_dc"), "local_dc '" + localDc + "' has characters other than [A-Za-z0-9_.-]");
    }
    ConsistencyLevel consistency = level(source.apply("consistency"), "consistency",
        options.getOrDefault("consistency", "QUORUM"));
    if (consistency.isSerial()) {
      throw bad(source.apply("consistency"), "consistency " + consistency
          + " is a serial level; give it as serial_consistency");
    }
    if (consistency == DefaultConsistencyLevel.ANY) {
      // Cassandra refuses every read at ANY, so a store opened with it failed its first read (init succeeded,
      // creating a store that no command with that URI could then open), and its writes would be acknowledged
      // when only a hint was stored
      throw bad(source.apply("consistency"), "consistency ANY is for writes only, and the store reads at its level"
          + " too: use ONE or above");
    }
    ConsistencyLevel serial = level(source.apply("serial_consistency"), "serial_consistency",
        options.getOrDefault("serial_consistency", "SERIAL"));
    if (!serial.isSerial()) {
      throw bad(source.apply("serial_consistency"), "serial_consistency must be SERIAL or LOCAL_SERIAL, not " + serial);
    }
    Duration timeout = Duration.ofMillis(positive(source.apply("request_timeout_ms"), "request_timeout_ms",
        options.getOrDefault("request_timeout_ms", "30000")));
    int maxRequests = positive(source.apply("max_requests"), "max_requests",
        options.getOrDefault("max_requests", "64"));
    long speculative = atLeast(0, source.apply("speculative_delay_ms"), "speculative_delay_ms",
        options.getOrDefault("speculative_delay_ms", "500"));
    return new CassandraSettings(points, keyspace, replication, localDc, consistency, serial, timeout, maxRequests,
        Duration.ofMillis(speculative));
  }

  /** Whether the keyspace is replicated per datacenter ({@code NetworkTopologyStrategy}). */
  public boolean perDatacenter() {
    return !replication.isEmpty() && !replication.containsKey("replication_factor");
  }

  /** The hosts and keyspace as a URI without options (IPv6 literals in brackets), for messages. */
  public String describe() {
    StringBuilder b = new StringBuilder("cassandra://");
    // an IPv6 literal in brackets, as users write it: messages give this as the --store of a command to run (core
    // parses several bracketed hosts with the brackets percent-encoded, which contactPoints decodes)
    boolean one = contactPoints.size() == 1;
    for (int i = 0; i < contactPoints.size(); i++) {
      InetSocketAddress a = contactPoints.get(i);
      String host = a.getHostString();
      // among several hosts a zone's '%' (fe80::1%eth0) is escaped, as the hosts are percent-decoded
      b.append(i == 0 ? "" : ",").append(!host.contains(":") ? host : "[" + (one ? host : host.replace("%", "%25"))
          + "]").append(':').append(a.getPort());
    }
    return b.append('/').append(keyspace).toString();
  }

  private static List<InetSocketAddress> contactPoints(URI uri, String authority) throws InvalidInputException {
    // java.net.URI takes brackets only around the one host of a server authority: several hosts with an IPv6
    // literal among them come with the brackets percent-encoded (Ferry.toUri encodes those users write bare)
    String[] entries = decode(uri, authority).split(",", -1);
    List<String[]> parsed = new ArrayList<>();
    for (String entry : entries) {
      parsed.add(hostAndPort(uri, entry));
    }
    String lastGiven = parsed.get(parsed.size() - 1)[1];
    int lastPort = lastGiven == null ? DEFAULT_PORT : port(uri, lastGiven);
    List<InetSocketAddress> out = new ArrayList<>();
    for (String[] hp : parsed) {
      if (hp[0].isEmpty()) {
        throw bad(uri, "an empty host in '" + authority + "'");
      }
      out.add(InetSocketAddress.createUnresolved(hp[0], hp[1] == null ? lastPort : port(uri, hp[1])));
    }
    return out;
  }

  /** The authority with its {@code %XX} escapes (ASCII only) decoded. */
  private static String decode(URI uri, String authority) throws InvalidInputException {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < authority.length(); i++) {
      char c = authority.charAt(i);
      if (c != '%') {
        b.append(c);
        continue;
      }
      int hi = i + 2 < authority.length() ? Character.digit(authority.charAt(i + 1), 16) : -1;
      int lo = i + 2 < authority.length() ? Character.digit(authority.charAt(i + 2), 16) : -1;
      if (hi < 0 || lo < 0 || hi > 7) {
        throw bad(uri, "'" + authority.substring(i, Math.min(i + 3, authority.length())) + "' in the hosts is not"
            + " an escape of an ASCII character, such as %5B and %5D for the brackets of an IPv6 address");
      }
      b.append((char) (hi * 16 + lo));
      i += 2;
    }
    return b.toString();
  }

  /** {host, port or null}; IPv6 literals in brackets. */
  private static String[] hostAndPort(URI uri, String entry) throws InvalidInputException {
    if (entry.startsWith("[")) {
      int close = entry.indexOf(']');
      String rest = close < 0 ? "" : entry.substring(close + 1);
      if (close < 0 || !(rest.isEmpty() || rest.startsWith(":"))) {
        throw bad(uri, "host '" + entry + "' is not [IPv6 address] or [IPv6 address]:port");
      }
      return new String[] {entry.substring(1, close), rest.isEmpty() ? null : rest.substring(1)};
    }
    int colon = entry.lastIndexOf(':');
    if (colon >= 0 && entry.indexOf(':') != colon) {
      throw bad(uri, "host '" + entry + "' is an IPv6 address without brackets: write [address]:port");
    }
    return colon < 0 ? new String[] {entry, null} : new String[] {entry.substring(0, colon), entry.substring(colon + 1)};
  }

  private static int port(URI uri, String s) throws InvalidInputException {
    try {
      int p = Integer.parseInt(s);
      if (p >= 1 && p <= 65535) {
        return p;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw bad(uri, "port '" + s + "' is not a number from 1 to 65535");
  }

  private static int positive(String source, String key, String value) throws InvalidInputException {
    return atLeast(1, source, key, value);
  }

  private static int atLeast(int min, String source, String key, String value) throws InvalidInputException {
    try {
      int n = Integer.parseInt(value.trim());
      if (n >= min) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw bad(source, key + " '" + value + "' is not a whole number of at least " + min);
  }

  private static ConsistencyLevel level(String source, String key, String value) throws InvalidInputException {
    try {
      return DefaultConsistencyLevel.valueOf(value.trim().toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw bad(source, key + " '" + value + "' is not a consistency level (ONE, TWO, THREE, QUORUM, ALL,"
          + " LOCAL_QUORUM, EACH_QUORUM, LOCAL_ONE; SERIAL, LOCAL_SERIAL for serial_consistency)");
    }
  }

  private static InvalidInputException bad(URI uri, String why) {
    return bad("store URI '" + uri + "'", why);
  }

  /** An error about a value from {@code source}: the store URI, or a store setting (and the URI it was given with). */
  private static InvalidInputException bad(String source, String why) {
    return new InvalidInputException(source + ": " + why);
  }

  /** The settings a Cassandra store reads ({@value #PREFIX} and its URI options), for the CLI's check of names. */
  static io.ferry.store.SettingNames names() {
    java.util.Set<String> n = new java.util.HashSet<>();
    KNOWN.forEach(k -> n.add(PREFIX + k));
    return new io.ferry.store.SettingNames(n, List.of(PREFIX + "dc."));
  }
}
