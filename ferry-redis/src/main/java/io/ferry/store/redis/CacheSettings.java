package io.ferry.store.redis;

import io.ferry.error.InvalidInputException;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * How the Redis cache tier connects and behaves; read from store settings named {@code redis.<key>} (see {@link
 * #fromSettings}) or built by the CLI from {@code --cache}.
 *
 * @param uri the server: {@code redis://host:port[/db]} (also {@code rediss://} for TLS and a password as
 *     {@code redis://:secret@host:port}); a cluster: {@code redis-cluster://host1:port1,host2:port2}; or the master
 *     that Sentinels watch: {@code redis-sentinel://sentinel1:26379,sentinel2:26379#mastername}
 * @param timeout how long one read or write of the cache may take before the cache is considered down
 * @param connectTimeout how long connecting, and the few commands run once at connect (CONFIG GET), may take
 * @param retryAfter after a failure the cache is bypassed for this long, then tried again (a circuit breaker); after a
 *     write the server refused while it serves reads, only writes stop for this long
 * @param partSize the size of one Redis value (a part: header and payload; the last part of an object is shorter);
 *     a power of two, so that the value fits one of the allocator's size classes exactly (a value of 1 MiB plus a few
 *     bytes takes 1.25 MiB of Redis memory). All clients of one store should use the same: a part written with
 *     another size is taken for a stale entry.
 * @param ttl expiry of every written part, or {@link Duration#ZERO} for none (eviction by {@code maxmemory} alone)
 * @param writeBehindBytes bytes of parts queued for writing at once; parts past it are not cached (or, with {@link
 *     WriteMode#WAIT}, wait for room)
 * @param writeMode whether reads skip caching when the write queue is full (pulls) or wait for room (warm)
 * @param namespace the store's namespace in Redis, or null to derive it from the store's URI
 * @param allowUnbounded write even to a server that would never evict ({@code maxmemory 0} or a {@code noeviction}
 *     policy); off by default, so the cache never fills a Redis that other data lives in
 * @param fillWait how long a reader that misses a part another reader is already filling waits for it to appear in
 *     Redis before reading it from the store itself; also the expiry of the fill lock ({@code SET NX PX}) that
 *     claims a part; {@link Duration#ZERO} turns fill locks off (every reader that misses reads the store)
 */
public record CacheSettings(String uri, Duration timeout, Duration connectTimeout, Duration retryAfter, int partSize,
    Duration ttl, long writeBehindBytes, WriteMode writeMode, String namespace, boolean allowUnbounded,
    Duration fillWait) {

  /** Prefix of the store settings this layer reads. */
  public static final String PREFIX = "redis.";

  /** The settings {@link #fromSettings} reads, without {@link #PREFIX}: any other {@code redis.*} key is refused. */
  private static final List<String> KNOWN = List.of("uri", "timeout", "connect-timeout", "retry-after", "part-size",
      "ttl", "write-behind-bytes", "writes", "namespace", "allow-unbounded", "fill-wait");
  /** Default part size: 1 MiB (see docs/redis.md for why). */
  public static final int DEFAULT_PART_SIZE = 1 << 20;
  /** Smallest and largest part sizes accepted. */
  public static final int MIN_PART_SIZE = 64 << 10;
  public static final int MAX_PART_SIZE = 16 << 20;
  /** What a {@code redis.namespace} may be (a derived one is 16 hex digits). */
  static final String NAMESPACE = "[A-Za-z0-9._-]{1,64}";

  /** What a read does with the parts it fetched from the store when the write queue is full. */
  public enum WriteMode {
    /** Drop them (they are cached by a later read): a pull never waits for the cache. */
    SKIP,
    /** Wait (up to a bounded time) for room: {@code ferry warm}, whose purpose is to fill the cache. */
    WAIT
  }

  public CacheSettings {
    Objects.requireNonNull(uri, "uri");
    requirePositive(timeout, "timeout");
    requirePositive(connectTimeout, "connect-timeout");
    requirePositive(retryAfter, "retry-after");
    requireAtMostADay(timeout, "timeout");
    requireAtMostADay(connectTimeout, "connect-timeout");
    requireAtMostADay(retryAfter, "retry-after");
    Objects.requireNonNull(ttl, "ttl");
    if (ttl.isNegative()) {
      throw new IllegalArgumentException("redis.ttl must not be negative, got " + durationText(ttl));
    }
    if (ttl.compareTo(MAX_TTL) > 0) {
      // Redis adds the TTL to its clock in milliseconds and refuses a sum that overflows ("ERR invalid expire time"):
      // every write failed, and each failure turned the cache off for redis.retry-after, reads included
      throw new IllegalArgumentException("redis.ttl must be at most " + MAX_TTL.toDays() + "d (100,000 years; leave it"
          + " unset for no expiry), got " + longDurationText(ttl));
    }
    if (partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE || Integer.bitCount(partSize) != 1) {
      throw new IllegalArgumentException("redis.part-size must be a power of two from " + sizeText(MIN_PART_SIZE)
          + " to " + sizeText(MAX_PART_SIZE) + " (64k, 128k, ... 1m, ... 16m), got " + sizeText(partSize));
    }
    if (writeBehindBytes < partSize || writeBehindBytes > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("redis.write-behind-bytes must be between the part size ("
          + sizeText(partSize) + ") and " + Integer.MAX_VALUE + " bytes, got " + sizeText(writeBehindBytes));
    }
    Objects.requireNonNull(writeMode, "writeMode");
    Objects.requireNonNull(fillWait, "fillWait");
    if (fillWait.isNegative()) {
      throw new IllegalArgumentException("redis.fill-wait must not be negative, got " + durationText(fillWait));
    }
    requireAtMostADay(fillWait, "fill-wait");
    if (namespace != null && !namespace.matches(NAMESPACE)) {
      throw new IllegalArgumentException("redis.namespace must be 1 to 64 of [A-Za-z0-9._-], got '" + namespace
          + "'");
    }
  }

  /**
   * The waits and pauses are counted in nanoseconds from the clock's reading: a value of centuries overflowed them,
   * and a pull failed with a bare "long overflow" (or the lock's expiry was refused by Redis, "ERR invalid expire
   * time"). A day is far past any use of them.
   */
  private static void requireAtMostADay(Duration d, String name) {
    if (d.compareTo(Duration.ofDays(1)) > 0) {
      throw new IllegalArgumentException("redis." + name + " must be at most 1d, got " + longDurationText(d));
    }
  }

  /** As {@link #durationText}, for a duration too long for it: whole days, else seconds. */
  private static String longDurationText(Duration d) {
    return d.toSeconds() % 86_400 == 0 ? d.toDays() + "d" : d.toSeconds() + "s";
  }

  private static void requirePositive(Duration d, String name) {
    Objects.requireNonNull(d, name);
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException("redis." + name + " must be positive, got " + durationText(d));
    }
  }

  /**
   * Defaults for a server URI: 1 s timeout (200 ms, the default before, was passed by a healthy local Redis on a
   * loaded machine, and the cache was then bypassed for a whole pull), 3 s to connect, retry after 30 s, 1 MiB
   * parts, no TTL, a write queue of {@link #defaultWriteBehindBytes}, fill locks held (and waited for) up to 5 s.
   */
  public static CacheSettings of(String uri) {
    return new CacheSettings(uri, Duration.ofSeconds(1), Duration.ofSeconds(3), Duration.ofSeconds(30),
        DEFAULT_PART_SIZE, Duration.ZERO, defaultWriteBehindBytes(Runtime.getRuntime().maxMemory()), WriteMode.SKIP,
        null, false, DEFAULT_FILL_WAIT);
  }

  /**
   * The write queue's default for a heap of {@code maxHeap} bytes: an eighth of it, between 4 and 64 MiB. Queued parts
   * live on the heap beside the chunks being read (a warm of 64 MiB chunks with the CLI's 384 MiB heap holds one or
   * two frames and the queue), and a loopback or LAN Redis keeps up with far less in flight.
   */
  static long defaultWriteBehindBytes(long maxHeap) {
    return Math.max(4L * DEFAULT_PART_SIZE, Math.min(64L << 20, maxHeap / 8));
  }

  /** Default {@link #fillWait}: a few store reads of a part, even from a slow store, and a Redis write. */
  public static final Duration DEFAULT_FILL_WAIT = Duration.ofSeconds(5);

  /**
   * Bytes of an object in one part: the part size less room for the part's header and Redis's own string header, so
   * that the value stays within its allocation class.
   */
  public int payloadSize() {
    return partSize - VALUE_SLACK;
  }

  /** The longest {@code redis.ttl}: Redis refuses an expiry whose time in milliseconds overflows. */
  static final Duration MAX_TTL = Duration.ofDays(36_500_000);

  /** What a part's value holds beside its payload: its header (60 bytes) and room for Redis's string header. */
  static final int VALUE_SLACK = 128;

  /**
   * A duration as users write the settings ({@code 250ms}, {@code 30s}): messages gave Java's {@code PT0S} and {@code
   * PT-1S} for a user's {@code 0} and {@code -1s}.
   */
  static String durationText(Duration d) {
    return d.toMillis() % 1000 != 0 ? d.toMillis() + "ms" : d.toSeconds() + "s";
  }

  /** A byte count as users write {@code redis.part-size}: {@code 64k}, {@code 1m}, else the bytes. */
  static String sizeText(long bytes) {
    if (bytes > 0 && bytes % (1 << 20) == 0) {
      return (bytes >> 20) + "m";
    }
    return bytes > 0 && bytes % 1024 == 0 ? (bytes >> 10) + "k" : bytes + " bytes";
  }

  public CacheSettings withWriteMode(WriteMode mode) {
    return new CacheSettings(uri, timeout, connectTimeout, retryAfter, partSize, ttl, writeBehindBytes, mode,
        namespace, allowUnbounded, fillWait);
  }

  /** With a timeout of at least {@code min} (what {@code ferry warm} uses: filling a cache is not latency-bound). */
  public CacheSettings withTimeoutAtLeast(Duration min) {
    return timeout.compareTo(min) >= 0 ? this : new CacheSettings(uri, min, connectTimeout, retryAfter, partSize, ttl,
        writeBehindBytes, writeMode, namespace, allowUnbounded, fillWait);
  }

  /** Whether the URI names a Redis Cluster. */
  public boolean cluster() {
    return uri.startsWith("redis-cluster://") || uri.startsWith("rediss-cluster://");
  }

  /** The URI without a password, for messages. */
  public String describe() {
    return CacheUri.describe(uri);
  }

  /**
   * The URI taken apart: its servers, user, password, database, master and options.
   *
   * @throws InvalidInputException naming the part of the URI that is wrong
   */
  CacheUri parsed() throws InvalidInputException {
    return CacheUri.parse(uri);
  }

  /**
   * Reads the {@code redis.*} settings: {@code redis.uri} (required), {@code redis.timeout} (e.g. {@code 200ms},
   * {@code 2s}), {@code redis.connect-timeout}, {@code redis.retry-after}, {@code redis.part-size} (bytes, or with
   * {@code k}/{@code m}), {@code redis.ttl} ({@code 0} for none), {@code redis.write-behind-bytes}, {@code
   * redis.writes} ({@code skip} or {@code wait}), {@code redis.namespace}, {@code redis.allow-unbounded}, {@code
   * redis.fill-wait} ({@code 0} for no fill locks).
   *
   * @throws InvalidInputException naming the setting that is missing or wrong
   */
  public static CacheSettings fromSettings(Map<String, String> settings) throws InvalidInputException {
    String uri = settings.get(PREFIX + "uri");
    if (uri == null || uri.isBlank()) {
      throw new InvalidInputException("the redis store layer needs the setting redis.uri (e.g. "
          + "redis://127.0.0.1:6379, or --cache on the command line)");
    }
    checkUri(uri.trim());
    for (String key : settings.keySet()) {
      if (key.startsWith(PREFIX) && !KNOWN.contains(key.substring(PREFIX.length()))) {
        throw new InvalidInputException("unknown cache setting '" + key + "': the cache reads "
            + KNOWN.stream().map(k -> PREFIX + k).collect(java.util.stream.Collectors.joining(", ")));
      }
    }
    CacheSettings d = of(uri.trim());
    try {
      return new CacheSettings(d.uri,
          duration(settings, "timeout", d.timeout),
          duration(settings, "connect-timeout", d.connectTimeout),
          duration(settings, "retry-after", d.retryAfter),
          intBytes(settings, "part-size", d.partSize),
          duration(settings, "ttl", d.ttl),
          bytes(settings, "write-behind-bytes", d.writeBehindBytes),
          writeMode(settings.get(PREFIX + "writes"), d.writeMode),
          settings.getOrDefault(PREFIX + "namespace", null),
          bool(settings, "allow-unbounded"),
          duration(settings, "fill-wait", d.fillWait));
    } catch (IllegalArgumentException e) {
      throw new InvalidInputException(e.getMessage(), e);
    }
  }

  /** Checks the whole URI now, so that a wrong one is an error of the command, not a cache that cannot connect. */
  private static void checkUri(String uri) throws InvalidInputException {
    CacheUri.parse(uri);
  }

  private static boolean bool(Map<String, String> settings, String key) {
    String v = settings.get(PREFIX + key);
    if (v == null || v.trim().equalsIgnoreCase("false")) {
      return false;
    }
    if (v.trim().equalsIgnoreCase("true")) {
      return true;
    }
    throw new IllegalArgumentException(PREFIX + key + " must be true or false, got '" + v + "'");
  }

  private static WriteMode writeMode(String v, WriteMode d) {
    if (v == null) {
      return d;
    }
    try {
      return WriteMode.valueOf(v.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("redis.writes must be skip or wait, got '" + v + "'");
    }
  }

  /** A duration such as {@code 250ms}, {@code 2s}, {@code 5m}, {@code 1h}, {@code 7d}, or a number of seconds. */
  static Duration duration(Map<String, String> settings, String key, Duration d) {
    String v = settings.get(PREFIX + key);
    if (v == null) {
      return d;
    }
    String t = v.trim().toLowerCase(Locale.ROOT);
    try {
      if (t.endsWith("ms")) {
        return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
      }
      long n = Long.parseLong(t.replaceAll("[smhd]$", ""));
      return switch (t.charAt(t.length() - 1)) {
        case 'm' -> Duration.ofMinutes(n);
        case 'h' -> Duration.ofHours(n);
        case 'd' -> Duration.ofDays(n);
        default -> Duration.ofSeconds(n);
      };
    } catch (NumberFormatException | StringIndexOutOfBoundsException e) {
      throw new IllegalArgumentException("redis." + key + " must be a duration like 200ms, 30s, 5m, 1h or 7d, got '"
          + v + "'");
    }
  }

  /** A byte count such as {@code 1048576}, {@code 512k} or {@code 64m} ({@link io.ferry.repo.ByteSizes#parse}). */
  static long bytes(Map<String, String> settings, String key, long d) {
    String v = settings.get(PREFIX + key);
    if (v == null) {
      return d;
    }
    try {
      return io.ferry.repo.ByteSizes.parse(v);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("redis." + key + " must be a byte count like 1048576, 512k or 64m, got '"
          + v + "'");
    }
  }

  /** A byte count that must fit an int; one that does not is refused as out of range rather than wrapped. */
  static int intBytes(Map<String, String> settings, String key, int d) {
    long n = bytes(settings, key, d);
    if (n < 0 || n > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("redis." + key + " is out of range (at most " + Integer.MAX_VALUE
          + " bytes), got '" + settings.get(PREFIX + key) + "'");
    }
    return (int) n;
  }

  /** The settings the cache reads ({@value #PREFIX}...), for the CLI's check of names. */
  static io.ferry.store.SettingNames names() {
    java.util.Set<String> n = new java.util.HashSet<>();
    KNOWN.forEach(k -> n.add(PREFIX + k));
    return new io.ferry.store.SettingNames(n, List.of());
  }
}
