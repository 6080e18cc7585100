package io.ferry.store.redis;

import io.ferry.error.MissingObjectException;
import io.ferry.id.ChunkId;
import io.ferry.store.ChunkStore;
import io.ferry.store.StoredObject;
import io.lettuce.core.RedisFuture;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A read-through cache of a store's objects in Redis: a {@link ChunkStore} decorator. Objects are immutable and named
 * by their hash, so a copy in Redis never goes stale the way a cached file would; refs and records never pass through
 * here (a store layer sees chunk objects only), so nothing mutable is ever cached.
 *
 * <p><b>Layout.</b> An object is cut into parts of {@link CacheSettings#payloadSize} bytes (the last one shorter;
 * with its header a part's value is at most {@code redis.part-size}, 1 MiB by default), each its own key
 * {@code ferry:<namespace>:<object id>:<part number>}; the namespace is derived from the store's URI, so stores that
 * share a Redis never mix. A part's value is a 60-byte header (magic, part size, part number, payload length, object
 * size, object id, CRC32C of header and payload) followed by the payload. A read fetches only the parts its range
 * covers, all at once (pipelined GETs; on a cluster they go to their nodes in parallel).
 *
 * <p><b>Every part is checked</b> before a byte of it is returned: header, id, number, lengths and CRC. A part that
 * fails is deleted and read again from the store; so is a part that is absent (evicted): objects never need all their
 * parts in Redis. Parts whose object size disagrees with the store's are another copy of the object (gc removed it
 * and a push stored it again in another form) and are dropped too.
 *
 * <p><b>Writes</b> happen after a miss: the parts read from the store are queued to Redis (bounded by {@code
 * writeBehindBytes}; past it they are skipped, or in {@link CacheSettings.WriteMode#WAIT} mode waited for) and the
 * read returns without waiting for them. Nothing is written to a server that would never evict ({@code maxmemory 0}
 * or {@code noeviction}) unless allowed.
 *
 * <p><b>Failures</b> never fail a read: a timeout or an error of Redis makes this read, and every read for {@code
 * retryAfter}, go to the store (a circuit breaker), with one {@link CacheListener#warning} per outage; then Redis is
 * tried again. Errors of the store itself (a missing object, a short read) are the store's, as without the cache.
 *
 * <p>{@link #contains}, {@link #missing}, {@link #put}, {@link #list} ask the store only: the store is the truth.
 * {@link #delete} removes the object's parts from Redis too. Thread-safe. Closing waits briefly for queued writes,
 * adds this instance's counters to the store's counters in Redis, and closes the store.
 */
public final class RedisChunkCache implements ChunkStore {
  private static final Logger LOG = LoggerFactory.getLogger(RedisChunkCache.class);

  /** "FRC1": Ferry Redis cache, part format 1. */
  static final int MAGIC = 0x46524331;
  /** Bytes of a part's header. */
  static final int HEADER = 60;
  private static final int CRC_AT = 56;
  /**
   * Most parts read from the store in one read of it: 8 MiB with the default part size, as big as a ranged GET of
   * the S3 store. The parts queued for Redis are views of their run and keep it reachable until the last is written,
   * so runs of a whole 64 MiB chunk held up to twice its size per worker on the heap.
   */
  private static final int MAX_RUN = 8;
  /** How often counters are added to Redis while the cache is in use. */
  private static final long FLUSH_NANOS = TimeUnit.SECONDS.toNanos(10);

  private final ChunkStore store;
  private final CacheSettings settings;
  private final CacheListener listener;
  private final String namespace;
  private final String prefix;
  private final LongSupplier nanos;
  /** Bytes of the object in one part (the payload size). */
  private final int partSize;
  private final Semaphore writeBudget;
  private final Map<ChunkId, Long> sizes = new LinkedHashMap<>(256, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<ChunkId, Long> eldest) {
      return size() > 16_384;
    }
  };
  /**
   * Objects whose bytes read through the cache failed a reader's checks while this user may not {@code DEL} their
   * parts: read from the store from then on (their parts written over where this client writes), never from Redis.
   */
  private final Map<ChunkId, Boolean> rejected = new LinkedHashMap<>(16, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<ChunkId, Boolean> eldest) {
      return size() > 16_384;
    }
  };
  /** The last part each thread read: the next read of a chunk usually starts in it (header, then payload). */
  private final ThreadLocal<Part> lastPart = new ThreadLocal<>();
  /** Bumped by every delete, so a thread's {@link #lastPart} of a deleted object is not used. */
  private final AtomicLong deletions = new AtomicLong();
  /**
   * Whether readers wait for parts other readers claimed ({@link #awaitFills}); false once a claimed part never came
   * within {@code redis.fill-wait}, or the user may not run the commands fill locks need ({@link #checkFillLocks}),
   * for the rest of this cache's life; fill locks are claimed only while it is true.
   */
  private final AtomicBoolean fillsTrusted = new AtomicBoolean(true);
  /**
   * Whether the server refused this user's {@code DEL} when the cache connected: a bad part then cannot be dropped,
   * and stays until a fill overwrites it (or, for a user who may not write either, until it expires).
   */
  private volatile boolean deleteRefused;
  private final Object connecting = new Object();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final LongAdder[] counters = new LongAdder[CacheCounters.FIELDS.length];
  private final long[] flushed = new long[CacheCounters.FIELDS.length];

  private volatile RedisLink link;
  /** While now < bypassUntil the cache is not used (circuit open). */
  private volatile long bypassUntil;
  /** When the last failure happened: only a read that started after it proves that Redis answers again. */
  private volatile long failedAt;
  /** Set by the first failure of an outage (one warning), cleared when Redis answers again. */
  private final AtomicBoolean warned = new AtomicBoolean();
  /** Whether the listener heard of a part dropped as bad (once per instance; the counters count them all). */
  private final AtomicBoolean partDropNoticed = new AtomicBoolean();
  /** Whether the listener heard that deleted objects' parts stay, this user being refused DEL (once per instance). */
  private final AtomicBoolean partsKeptNoticed = new AtomicBoolean();
  private volatile boolean writable;
  /**
   * While now < writesOffUntil nothing is written (no part, no fill lock), after the server refused a write; reads go
   * on from the cache.
   */
  private volatile long writesOffUntil = Long.MIN_VALUE;
  /** Set by a refused write (one warning), cleared by a write that lands. */
  private final AtomicBoolean writesRefusedWarned = new AtomicBoolean();
  /**
   * The largest {@code maxmemory} of the server (of a cluster's masters), read at connect; 0 when it is unlimited or
   * unknown (CONFIG refused).
   */
  private volatile long maxMemory;
  /**
   * The memory the server took when it started ({@code used_memory_startup} of {@code INFO memory}), which counts
   * against {@link #maxMemory} and is never evicted; read at connect, 0 when unknown (INFO refused).
   */
  private volatile long ownMemory;
  /**
   * Whether the listener heard that parts are larger than {@link #maxMemory}, or than it less {@link #ownMemory}
   * (once per instance).
   */
  private final AtomicBoolean partTooBigWarned = new AtomicBoolean();
  private volatile long nextFlush;

  private static final int HITS = 0, MISSES = 1, FROM_CACHE = 2, FROM_STORE = 3, WRITTEN = 4, WRITTEN_BYTES = 5,
      SKIPPED = 6, DROPPED = 7, BYPASSED = 8;

  /** A checked part: its payload (read-only) and what its header says. */
  /**
   * One part of an object, its payload checked. {@code view}: the payload is a view of a longer buffer (a run of
   * parts read from the store at once), which it keeps reachable as long as it lives.
   */
  private record Part(ChunkId id, int index, long objectSize, ByteBuffer payload, long epoch, boolean view) {
    /** This part, its payload copied into a buffer of its own if it is a view: to keep it past the read. */
    Part compact() {
      if (!view) {
        return this;
      }
      ByteBuffer own = ByteBuffer.allocate(payload.remaining()).put(payload.duplicate()).flip();
      return new Part(id, index, objectSize, own.asReadOnlyBuffer(), epoch, false);
    }
  }

  private RedisChunkCache(ChunkStore store, CacheSettings settings, CacheListener listener, LongSupplier nanos) {
    this.store = store;
    this.settings = settings;
    this.listener = listener;
    this.nanos = nanos;
    this.partSize = settings.payloadSize();
    this.namespace = settings.namespace() != null ? settings.namespace() : namespaceOf(store.describe());
    this.prefix = "ferry:" + namespace + ":";
    this.writeBudget = new Semaphore((int) settings.writeBehindBytes());
    for (int i = 0; i < counters.length; i++) {
      counters[i] = new LongAdder();
    }
  }

  /**
   * A cache over {@code store}. Connects now (blocking at most about the connect timeout); if Redis cannot be reached,
   * the cache starts bypassed (one warning) and tries again after {@code retryAfter}. Never fails because of Redis.
   */
  public static RedisChunkCache open(ChunkStore store, CacheSettings settings, CacheListener listener) {
    return open(store, settings, listener, System::nanoTime);
  }

  /** As {@link #open(ChunkStore, CacheSettings, CacheListener)}, with the time source injected (tests). */
  static RedisChunkCache open(ChunkStore store, CacheSettings settings, CacheListener listener, LongSupplier nanos) {
    RedisChunkCache c = new RedisChunkCache(store, settings, listener, nanos);
    c.nextFlush = nanos.getAsLong() + FLUSH_NANOS;
    c.link();
    return c;
  }

  /** The namespace of a store in Redis: the first 16 hex digits of the SHA-256 of its URI. */
  public static String namespaceOf(String storeUri) {
    try {
      byte[] h = MessageDigest.getInstance("SHA-256").digest(storeUri.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(h, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this Java runtime", e);
    }
  }

  /** This store's namespace in Redis. */
  public String namespace() {
    return namespace;
  }

  /** This instance's counters so far. */
  public CacheCounters counters() {
    long[] v = new long[counters.length];
    for (int i = 0; i < v.length; i++) {
      v[i] = counters[i].sum();
    }
    return CacheCounters.of(v);
  }

  /** Whether reads currently go to Redis (connected, and no failure within the last {@code retryAfter}). */
  public boolean active() {
    return link != null && nanos.getAsLong() >= bypassUntil && !closed.get();
  }

  String partKey(ChunkId id, int index) {
    return prefix + id.hex() + ":" + index;
  }

  // ---------------------------------------------------------------- connection and circuit breaker

  /** The link to use now, or null to bypass the cache. */
  private RedisLink link() {
    if (closed.get() || nanos.getAsLong() < bypassUntil) {
      return null;
    }
    RedisLink l = link;
    if (l != null) {
      if (writable && l.reconnectedSinceAsked()) {
        recheckBounded(l);
      }
      return l;
    }
    synchronized (connecting) {
      if (link != null) {
        return link;
      }
      if (nanos.getAsLong() < bypassUntil || closed.get()) {
        return null;
      }
      RedisLink made = null;
      try {
        made = RedisLink.connect(settings);
        String refused = refused(made.getPrefix(prefix + "store", 1));
        if (refused != null) {
          // a user whose ACL forbids reading parts: said now, once, rather than at the first read (where 'ferry
          // warm' had already started, and read the whole version from the store for nothing)
          made.close();
          failed("cannot be used", new io.lettuce.core.RedisCommandExecutionException(refused));
          return null;
        }
        List<String> notices = new ArrayList<>();
        String noDel = refused(made.del(prefix + "fill:{probe}"));
        deleteRefused = noDel != null;
        writable = checkBounded(made, notices);
        if (writable) {
          refused = refused(made.set(prefix + "store", Blob.of(store.describe()), Duration.ZERO));
          if (refused != null) {
            // a user who may read but not write: the cache is read, and filled by others (a warm with a user that
            // may write); every write refused used to turn the cache off for redis.retry-after, reads included
            writable = false;
            listener.warning("cache " + settings.describe() + " refuses this user's writes (" + refused
                + "); Ferry reads from it but will not fill it");
          } else {
            // a user who may not record the store and its counters (SADD, HINCRBY) is served and fills the cache,
            // but 'ferry cache stats' then shows no such store, or none of this client's reads, without a word
            String noStats = refused(made.sadd("ferry:stores", namespace));
            if (noStats == null) {
              noStats = refused(made.hincrby(prefix + "stats", CacheCounters.FIELDS[HITS], 0));
            }
            if (noStats != null) {
              notices.add("cache " + settings.describe() + ": this user may not record the cache's counters ("
                  + noStats + "); the cache is used, but 'ferry cache stats' does not count this client's reads"
                  + " (grant SADD and HINCRBY)");
            }
            checkFillLocks(made, noDel);
          }
        }
        if (writable) {
          // whether the server evicts matters only to a cache that writes: a user refused both CONFIG and writes
          // heard both, two messages where one says it all
          notices.forEach(listener::notice);
        }
        link = made;
        LOG.debug("cache {} connected for {} (namespace {})", settings.describe(), store.describe(), namespace);
        return made;
      } catch (IOException | RuntimeException e) {
        if (made != null) {
          made.close();
        }
        // a database the server does not have, or credentials it refuses, are a wrong URI, not an unreachable server
        failed(RedisLink.refusedAtConnect(e) ? "cannot be used" : "cannot be reached", e);
        return null;
      }
    }
  }

  /** {@code used_memory_startup} of the server's {@code INFO memory}, or 0 when it cannot be read. */
  private long startupMemory(RedisLink l) {
    try {
      String info = l.info("memory").get(settings.timeout().toNanos(), TimeUnit.NANOSECONDS);
      for (String line : info.split("\r?\n")) {
        if (line.startsWith("used_memory_startup:")) {
          return Long.parseLong(line.substring("used_memory_startup:".length()).trim());
        }
      }
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      // INFO refused (an ACL, a managed service) or slow: the OOM warning then names only maxmemory and a part
      LOG.debug("cache {}: INFO memory not read", settings.describe(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return 0;
  }

  /**
   * Turns fill locks off, with one notice naming the commands, for a user who may not run the two that only they
   * need: without {@code DEL} a lock stayed for {@code redis.fill-wait} after its part was written, so a reader that
   * missed the part again (evicted) waited for a fill that was over; without {@code EXISTS} the first wait for
   * another reader's fill failed, which turned the cache off for {@code redis.retry-after}, reads included.
   */
  private void checkFillLocks(RedisLink l, String noDel) throws InterruptedIOException {
    if (settings.fillWait().isZero()) {
      return;
    }
    List<String> missing = new ArrayList<>();
    String refusal = noDel;
    if (noDel != null) {
      missing.add("DEL");
    }
    String noExists = refused(l.exists(prefix + "fill:{probe}"));
    if (noExists != null) {
      missing.add("EXISTS");
      refusal = refusal == null ? noExists : refusal;
    }
    if (!missing.isEmpty() && fillsTrusted.compareAndSet(true, false)) {
      // a notice: the cache stays in use ('ferry warm' takes a warning at open for a cache that cannot be used)
      listener.notice("cache " + settings.describe() + ": this user may not run " + String.join(" or ", missing)
          + " (" + refusal + "), which fill locks need; the cache is read and filled without fill locks, so"
          + " readers that miss a part at once each read it from " + store.describe() + " (grant DEL and EXISTS)");
    }
  }

  /**
   * The server's refusal of a command run once at connect because the user's ACL does not permit it ({@code
   * NOPERM}), or null. Any other outcome is null too: an error that is not the user's rights (a key of another type)
   * or no answer within the timeout (on a cluster, the key's master may be down while the others serve: the reads
   * find out for themselves, as before this check).
   */
  private String refused(RedisFuture<?> command) throws InterruptedIOException {
    try {
      command.get(settings.timeout().toNanos(), TimeUnit.NANOSECONDS);
      return null;
    } catch (ExecutionException e) {
      String m = e.getCause() instanceof io.lettuce.core.RedisCommandExecutionException ? e.getCause().getMessage()
          : null;
      return m != null && m.startsWith("NOPERM") ? m : null;
    } catch (TimeoutException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while connecting to the cache");
    }
  }

  /**
   * Whether the server evicts (so the cache may write): {@code maxmemory} set and a policy that evicts our keys.
   * Warns once when it does not; adds to {@code notices} that it cannot tell when CONFIG is refused (managed services
   * often disable it); a server that does not answer is thrown as Lettuce threw it.
   */
  private boolean checkBounded(RedisLink l, List<String> notices) {
    List<Map<String, String>> max;
    List<Map<String, String>> policy;
    try {
      max = l.configGet("maxmemory");
      policy = l.configGet("maxmemory-policy");
    } catch (io.lettuce.core.RedisCommandExecutionException e) {
      // the server answered with an error: CONFIG disabled, renamed or not permitted (managed services). A server
      // that did not answer (a cluster master down, a timeout) is thrown on: the cache cannot be reached, one
      // warning; it used to be taken for a refused CONFIG, a second warning that misnamed the cause
      // a notice, not a warning: the cache stays in use (a warning means it is bypassed, and made `ferry warm` of a
      // managed Redis end at once with "nothing was warmed: the cache cannot be used")
      notices.add("cache " + settings.describe() + ": cannot check maxmemory (" + e.getMessage()
          + "); caching anyway: make sure the server evicts (maxmemory with an allkeys-lru policy)");
      return true;
    }
    List<String> problems = new ArrayList<>();
    long largest = 0;
    for (Map<String, String> m : max) {
      try {
        largest = Math.max(largest, Long.parseLong(m.getOrDefault("maxmemory", "0")));
      } catch (NumberFormatException e) {
        // not a number of bytes: nothing to compare a part with
      }
    }
    maxMemory = largest;
    ownMemory = largest > 0 ? startupMemory(l) : 0;
    for (Map<String, String> m : max) {
      if ("0".equals(m.get("maxmemory"))) {
        problems.add("maxmemory is 0 (no limit)");
        break;
      }
    }
    for (Map<String, String> p : policy) {
      String v = p.getOrDefault("maxmemory-policy", "");
      if (v.equals("noeviction")) {
        problems.add("maxmemory-policy is noeviction");
        break;
      }
      if (v.startsWith("volatile-") && settings.ttl().isZero()) {
        problems.add("maxmemory-policy is " + v + " (evicts only keys with a TTL, and redis.ttl is not set)");
        break;
      }
    }
    if (problems.isEmpty()) {
      return true;
    }
    if (settings.allowUnbounded()) {
      LOG.debug("cache {}: {}; writing anyway (redis.allow-unbounded)", settings.describe(), problems);
      return true;
    }
    listener.warning("cache " + settings.describe() + " does not evict: " + String.join(", ", problems)
        + "; Ferry reads from it but will not fill it (set maxmemory and maxmemory-policy allkeys-lru, or"
        + " redis.allow-unbounded=true)");
    return false;
  }

  /**
   * After the client reconnected by itself (a restart, a failover, or another server at that address, which may not
   * evict): whether the server evicts is checked again, as at connect, and one that does not is no longer filled, with
   * the same one warning. The check ran only at connect: a server replaced by one that never evicts was filled as long
   * as the process ran, the failure of other applications' writes that the check is there to prevent.
   */
  private void recheckBounded(RedisLink l) {
    try {
      writable = checkBounded(l, new ArrayList<>());
    } catch (RuntimeException e) {
      // no answer now: reads and writes find that out for themselves
      LOG.debug("cache {}: eviction not checked again after a reconnect", settings.describe(), e);
    }
  }

  /** Opens the circuit: Redis is bypassed for {@code retryAfter}; one warning per outage. */
  private void failed(String what, Throwable e) {
    long now = nanos.getAsLong();
    failedAt = now;
    bypassUntil = now + settings.retryAfter().toNanos();
    Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
    LOG.debug("cache {} {}", settings.describe(), what, cause);
    if (!closed.get() && warned.compareAndSet(false, true)) {
      listener.warning("cache " + settings.describe() + " " + what + " (" + RedisLink.describe(cause, settings)
          + "); reading from " + store.describe() + ", trying the cache again in " + retryText());
    }
  }

  /**
   * {@code redis.retry-after} for the warnings: whole seconds, else milliseconds (a retry-after of 500ms was said to
   * be "0 s").
   */
  private String retryText() {
    long ms = settings.retryAfter().toMillis();
    return ms % 1000 == 0 ? ms / 1000 + " s" : ms + " ms";
  }

  /** Whether parts and fill locks are written now: a server that evicts, and no refused write within retry-after. */
  private boolean writing() {
    return writable && nanos.getAsLong() >= writesOffUntil;
  }

  /**
   * A write failed. One the server refused while it still answers reads (MISCONF: it cannot save to its disk,
   * READONLY: a replica since a failover, OOM, NOPERM: the user's rights changed) stops writes for {@code
   * retry-after}, with one warning, and reads go on from the cache: it turned the cache off for every read too, so a
   * warm cache served nothing for that long. Any other failure (no answer, a lost connection) is the cache's.
   */
  private void writeFailed(Throwable e) {
    String refusal = refusal(e);
    if (refusal == null) {
      failed("failed a write", e);
      return;
    }
    writesOffUntil = nanos.getAsLong() + settings.retryAfter().toNanos();
    counters[SKIPPED].increment();
    LOG.debug("cache {} refused a write", settings.describe(), e);
    // an OOM refusal from a server whose maxmemory is below a full part, or below its own memory plus a full part:
    // such a part can never be cached, however much the server evicts (it evicts every key, then refuses), which the
    // bare OOM warning did not say; said once
    long max = maxMemory;
    long own = ownMemory;
    int fullPart = HEADER + partSize;
    if (refusal.startsWith("OOM") && max > 0 && own + fullPart > max) {
      writesRefusedWarned.set(true);
      if (!closed.get() && partTooBigWarned.compareAndSet(false, true)) {
        String why = fullPart > max ? "is smaller than one part of " + fullPart + " bytes (redis.part-size "
            + settings.partSize() + "), so such parts can never be cached (raise maxmemory, or lower redis.part-size)"
            : "holds one part of " + fullPart + " bytes (redis.part-size " + settings.partSize() + ") but not the"
            + " server's own memory of " + own + " bytes (used_memory_startup) plus one part, so such parts can never"
            + " be cached (raise maxmemory above " + (own + fullPart) + " bytes, well above to cache a model, or lower"
            + " redis.part-size)";
        listener.warning("cache " + settings.describe() + " refused a write (" + refusal + "): its maxmemory of "
            + max + " bytes " + why + "; Ferry goes on reading from it, and tries writing again in " + retryText());
      }
      return;
    }
    if (!closed.get() && writesRefusedWarned.compareAndSet(false, true)) {
      listener.warning("cache " + settings.describe() + " refused a write (" + refusal + "); Ferry goes on reading"
          + " from it, and tries writing again in " + retryText());
    }
  }

  /** The server's refusal of a write ({@link #writeFailed}), or null for any other failure. */
  private static String refusal(Throwable e) {
    Throwable c = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
    String m = c instanceof io.lettuce.core.RedisCommandExecutionException ? c.getMessage() : null;
    if (m != null) {
      for (String code : List.of("MISCONF", "READONLY", "OOM", "NOPERM", "NOREPLICAS")) {
        if (m.startsWith(code)) {
          return m;
        }
      }
    }
    return null;
  }

  private void succeeded(long started) {
    if (warned.get() && started > failedAt && warned.compareAndSet(true, false)) {
      listener.recovered("cache " + settings.describe() + " answers again");
    }
  }

  // ---------------------------------------------------------------- reads

  @Override
  public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
    List<ByteBuffer> pieces = cached(id, offset, length);
    if (pieces == null) {
      return store.read(id, offset, length);
    }
    if (pieces.size() == 1) {
      return pieces.get(0);
    }
    ByteBuffer out = ByteBuffer.allocate(length);
    for (ByteBuffer p : pieces) {
      out.put(p);
    }
    return out.flip();
  }

  @Override
  public void readInto(ChunkId id, long offset, ByteBuffer dst) throws IOException {
    int length = dst.remaining();
    List<ByteBuffer> pieces = cached(id, offset, length);
    if (pieces == null) {
      store.readInto(id, offset, dst);
      return;
    }
    for (ByteBuffer p : pieces) {
      dst.put(p);
    }
  }

  /**
   * The bytes {@code [offset, offset + length)} of the object as views of checked parts, from Redis where it holds
   * them and from the store (queued to Redis) where not; or null when the read should simply go to the store: the
   * cache is bypassed, the range is empty or odd, or it runs past the object (the store then reports it).
   */
  private List<ByteBuffer> cached(ChunkId id, long offset, int length) throws IOException {
    if (length <= 0 || offset < 0 || offset > Long.MAX_VALUE - length) {
      return null;
    }
    long lastIndex = (offset + length - 1) / partSize;
    if (lastIndex >= Integer.MAX_VALUE) {
      return null;
    }
    RedisLink l = link();
    if (l == null) {
      counters[BYPASSED].increment();
      return null;
    }
    long started = nanos.getAsLong();
    Part remembered = lastPart.get();
    maybeFlush(l);
    int first = (int) (offset / partSize);
    int n = (int) lastIndex - first + 1;
    boolean skip;
    synchronized (rejected) {
      skip = rejected.containsKey(id);
    }
    Part[] parts = skip ? new Part[n] : fetch(l, id, first, n);
    if (parts == null) {
      counters[BYPASSED].increment();
      return null;
    }
    boolean complete = true;
    long size = -1;
    boolean agree = true;
    for (Part p : parts) {
      if (p == null) {
        complete = false;
      } else if (size < 0) {
        size = p.objectSize;
      } else if (size != p.objectSize) {
        agree = false;
      }
    }
    if (complete && agree) {
      if (offset + length > size) {
        return null;
      }
      succeeded(started);
      return pieces(parts, first, offset, length, remembered);
    }
    // some parts must come from the store: its size is the truth, and parts of another size are another copy
    long storeSize = knownSize(id);
    for (int k = 0; k < n; k++) {
      Part p = parts[k];
      if (p != null && p.objectSize != storeSize) {
        drop(l, id, first + k, "its object size is " + p.objectSize + ", the store's is " + storeSize);
        parts[k] = null;
      }
    }
    if (offset + length > storeSize) {
      return null;
    }
    boolean[] claimed = claim(l, id, first, parts);
    try {
      // the parts this reader claimed first: others may be waiting for them
      fromStore(l, id, first, parts, storeSize, claimed, k -> claimed[k]);
      awaitFills(l, id, first, parts);
      // what no fill brought (none was under way, or it failed or took too long): from the store too
      fromStore(l, id, first, parts, storeSize, claimed, k -> true);
    } finally {
      // a store read failed: let readers waiting for the parts this one claimed read them themselves, now
      for (int k = 0; k < n; k++) {
        if (claimed[k]) {
          release(l, id, first + k);
        }
      }
    }
    succeeded(started);
    return pieces(parts, first, offset, length, remembered);
  }

  /**
   * The key of the fill lock of one part: its hash tag is the part's key, so that on a cluster both live in one slot
   * and the commands on them run in the order they were sent (the lock protocol needs that order).
   */
  String fillKey(ChunkId id, int index) {
    return prefix + "fill:{" + partKey(id, index) + "}";
  }

  /**
   * Reads the absent parts that {@code which} selects from the store, in runs of at most {@link #MAX_RUN} parts,
   * and queues them to Redis (releasing the fill locks this reader holds for them once written).
   */
  private void fromStore(RedisLink l, ChunkId id, int first, Part[] parts, long storeSize, boolean[] claimed,
      java.util.function.IntPredicate which) throws IOException {
    int n = parts.length;
    for (int k = 0; k < n; ) {
      if (parts[k] != null || !which.test(k)) {
        k++;
        continue;
      }
      int end = k;
      while (end + 1 < n && parts[end + 1] == null && which.test(end + 1) && end + 1 - k < MAX_RUN) {
        end++;
      }
      long from = (long) (first + k) * partSize;
      long to = Math.min(storeSize, (long) (first + end + 1) * partSize);
      ByteBuffer run = store.read(id, from, (int) (to - from));
      counters[FROM_STORE].add(to - from);
      for (int j = k; j <= end; j++) {
        long ps = (long) (first + j) * partSize;
        int len = (int) (Math.min(storeSize, ps + partSize) - ps);
        ByteBuffer payload = run.slice((int) (ps - from), len).asReadOnlyBuffer();
        parts[j] = new Part(id, first + j, storeSize, payload, deletions.get(), true);
        counters[MISSES].increment();
        boolean release = claimed[j];
        claimed[j] = false;
        write(l, parts[j], release);
      }
      k = end + 1;
    }
  }

  /**
   * The cold-herd guard, first half: of the readers that miss a part at once (threads of this process or of
   * others), one fills it, the others wait for it in Redis ({@link #awaitFills}). For each absent part, {@code SET
   * <fill key> NX PX fillWait} claims it; a claimed part is looked for once more (a fill may have ended between the
   * first look and the claim). Returns the parts this reader claimed and must read from the store and write. Nothing
   * is claimed when the cache does not write (a server that would not evict) or fill locks are off.
   */
  private boolean[] claim(RedisLink l, ChunkId id, int first, Part[] parts) {
    int n = parts.length;
    boolean[] claimed = new boolean[n];
    Duration fillWait = settings.fillWait();
    if (!writing() || fillWait.isZero() || closed.get() || !fillsTrusted.get()) {
      return claimed;
    }
    List<Integer> absent = new ArrayList<>();
    for (int k = 0; k < n; k++) {
      if (parts[k] == null) {
        absent.add(k);
      }
    }
    if (absent.isEmpty()) {
      return claimed;
    }
    long epoch = deletions.get();
    try {
      List<RedisFuture<String>> claims = new ArrayList<>(absent.size());
      for (int k : absent) {
        claims.add(l.setIfAbsent(fillKey(id, first + k), Blob.of("filling"), fillWait));
      }
      // a claim won just after another reader's fill ended (its write landed, then it released the lock) finds the
      // part written: look once more (after the SET, in the same slot, so in order) before reading the store
      List<RedisFuture<Blob>> recheck = new ArrayList<>(absent.size());
      for (int k : absent) {
        recheck.add(getPart(l, id, first + k));
      }
      long deadline = nanos.getAsLong() + settings.timeout().toNanos();
      for (int i = 0; i < absent.size(); i++) {
        int k = absent.get(i);
        String answer = claims.get(i).get(Math.max(0, deadline - nanos.getAsLong()), TimeUnit.NANOSECONDS);
        boolean won = "OK".equals(answer);
        Blob b = recheck.get(i).get(Math.max(0, deadline - nanos.getAsLong()), TimeUnit.NANOSECONDS);
        Part p = absent(b) ? null : check(l, id, first + k, b.head(), epoch);
        if (p != null) {
          parts[k] = p;
          counters[HITS].increment();
          counters[FROM_CACHE].add(p.payload.remaining());
          if (won) {
            release(l, id, first + k);
          }
        } else {
          claimed[k] = won;
        }
      }
    } catch (TimeoutException e) {
      failed("did not answer within " + settings.timeout().toMillis() + " ms", e);
    } catch (ExecutionException | RuntimeException e) {
      if (refusal(e) != null) {
        writeFailed(e); // a fill lock refused: a write, not a read
      } else {
        failed("failed", e);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return claimed;
  }

  /**
   * The cold-herd guard, second half: polls Redis (with backoff from 1 to 50 ms) for the parts still absent, which
   * other readers claimed, checking each like any part, until they are all there, or a part's fill lock is gone
   * without the part (the filler failed or skipped the write), or {@code fillWait} passed. What is still absent then
   * is left to the caller to read from the store.
   */
  private void awaitFills(RedisLink l, ChunkId id, int first, Part[] parts) {
    Duration fillWait = settings.fillWait();
    if (!writing() || fillWait.isZero() || !fillsTrusted.get()) {
      return;
    }
    List<Integer> theirs = new ArrayList<>();
    for (int k = 0; k < parts.length; k++) {
      if (parts[k] == null) {
        theirs.add(k);
      }
    }
    long epoch = deletions.get();
    long giveUp = nanos.getAsLong() + fillWait.toNanos();
    long pause = TimeUnit.MILLISECONDS.toNanos(1);
    try {
      while (!theirs.isEmpty() && nanos.getAsLong() < giveUp && !closed.get() && nanos.getAsLong() >= bypassUntil) {
        java.util.concurrent.locks.LockSupport.parkNanos(pause);
        if (Thread.currentThread().isInterrupted()) {
          return;
        }
        pause = Math.min(2 * pause, TimeUnit.MILLISECONDS.toNanos(50));
        List<RedisFuture<Long>> locks = new ArrayList<>(theirs.size());
        List<RedisFuture<Blob>> gets = new ArrayList<>(theirs.size());
        for (int k : theirs) {
          // the lock first: a lock found gone means the fill ended, its write landed before, and the GET sent after
          // the EXISTS (same connection, same slot) sees the part unless Redis lost it since
          locks.add(l.exists(fillKey(id, first + k)));
          gets.add(getPart(l, id, first + k));
        }
        long deadline = nanos.getAsLong() + settings.timeout().toNanos();
        List<Integer> still = new ArrayList<>();
        for (int i = 0; i < theirs.size(); i++) {
          int k = theirs.get(i);
          long locked = locks.get(i).get(Math.max(0, deadline - nanos.getAsLong()), TimeUnit.NANOSECONDS);
          Blob b = gets.get(i).get(Math.max(0, deadline - nanos.getAsLong()), TimeUnit.NANOSECONDS);
          Part p = absent(b) ? null : check(l, id, first + k, b.head(), epoch);
          if (p != null) {
            parts[k] = p;
            counters[HITS].increment();
            counters[FROM_CACHE].add(p.payload.remaining());
          } else if (locked > 0) {
            still.add(k);
          }
        }
        theirs = still;
      }
      if (!theirs.isEmpty() && nanos.getAsLong() >= giveUp && fillsTrusted.compareAndSet(true, false)) {
        // claimed, and not written within the whole wait: a filler that died or is stuck, or locks planted by
        // whoever may write to Redis; each wait would add up part after part (days for a 400 GB model), so this
        // process reads such parts itself from now on (said once, by the one thread that turned it off)
        listener.notice("cache " + settings.describe() + ": parts of object " + id + " stayed claimed for "
            + fillWait.toMillis() + " ms (redis.fill-wait) by fills that never wrote them; this process no longer"
            + " waits for other readers' fills and reads such parts from " + store.describe());
      }
    } catch (TimeoutException e) {
      failed("did not answer within " + settings.timeout().toMillis() + " ms", e);
    } catch (ExecutionException | RuntimeException e) {
      failed("failed", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Deletes a fill lock this reader holds (best effort: it expires after {@code fillWait} anyway). */
  private void release(RedisLink l, ChunkId id, int index) {
    try {
      l.del(fillKey(id, index));
    } catch (RuntimeException e) {
      LOG.debug("cache {}: releasing the fill lock of part {} of {} failed", settings.describe(), index, id, e);
    }
  }

  /**
   * Read-only slices of the parts covering the range. Remembers the last part for this thread's next read, unless it
   * is the part remembered before (used once only: the memo saves the refetch of a frame's first part after its
   * header, and of the part two sequential slices share, but must not hide from later reads that Redis lost it).
   */
  private List<ByteBuffer> pieces(Part[] parts, int first, long offset, int length, Part remembered) {
    List<ByteBuffer> out = new ArrayList<>(parts.length);
    long end = offset + length;
    for (int k = 0; k < parts.length; k++) {
      Part p = parts[k];
      long ps = (long) (first + k) * partSize;
      int lo = (int) (Math.max(offset, ps) - ps);
      int hi = (int) (Math.min(end, ps + p.payload.remaining()) - ps);
      out.add(p.payload.slice(lo, hi - lo));
    }
    Part last = parts[parts.length - 1];
    if (last != remembered) {
      // a copy of a part read from the store with others: the memo must not keep the whole run (64 MiB) alive in
      // every worker thread
      lastPart.set(last.compact());
    } else {
      lastPart.remove();
    }
    return out;
  }

  /**
   * Parts {@code first .. first + n - 1} from Redis, each checked (null where absent or dropped); or null if Redis
   * failed or was too slow (the circuit is then open).
   */
  private Part[] fetch(RedisLink l, ChunkId id, int first, int n) {
    Part[] parts = new Part[n];
    Part memo = lastPart.get();
    long epoch = deletions.get();
    @SuppressWarnings("unchecked")
    RedisFuture<Blob>[] futures = new RedisFuture[n];
    List<RedisFuture<Blob>> pending = new ArrayList<>(n);
    for (int k = 0; k < n; k++) {
      if (memo != null && memo.index == first + k && memo.epoch == epoch && memo.id.equals(id)) {
        parts[k] = memo;
        lastPart.remove();
        counters[HITS].increment(); // its bytes were counted when Redis sent them
      } else {
        futures[k] = getPart(l, id, first + k);
        pending.add(futures[k]);
      }
    }
    if (pending.isEmpty()) {
      return parts;
    }
    long deadline = nanos.getAsLong() + settings.timeout().toNanos();
    try {
      for (int k = 0; k < n; k++) {
        if (futures[k] == null) {
          continue;
        }
        long left = Math.max(0, deadline - nanos.getAsLong());
        Blob b;
        try {
          b = futures[k].get(left, TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
          if (!wrongType(e)) {
            throw e;
          }
          // a key of another type where a part belongs (written by someone else): bad like a bad part, and dropped
          // like one; it must not turn the cache off for everyone (the read goes to the store, as for any bad part)
          drop(l, id, first + k, "it is not a string value");
          continue;
        }
        if (!absent(b)) {
          parts[k] = check(l, id, first + k, b.head(), epoch);
          if (parts[k] != null) {
            counters[HITS].increment();
            counters[FROM_CACHE].add(parts[k].payload.remaining());
          }
        }
      }
      return parts;
    } catch (TimeoutException e) {
      pending.forEach(f -> f.cancel(false));
      failed("did not answer within " + settings.timeout().toMillis() + " ms", e);
      return null;
    } catch (ExecutionException | RuntimeException e) {
      failed("failed", e);
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }

  /**
   * Reads part {@code index} of {@code id}: at most one byte more than the longest part, so that a value someone made
   * huge (hundreds of MB under a part's key) costs no more than a part to read and fails the length check (a whole
   * GET of 200 MB timed out every read of that object, turned the cache off for {@code retry-after} and stayed in
   * Redis, since only a part read whole is checked and dropped). An absent key reads as an empty value.
   */
  private RedisFuture<Blob> getPart(RedisLink l, ChunkId id, int index) {
    return l.getPrefix(partKey(id, index), HEADER + partSize + 1);
  }

  /** Whether a part's read found no value (GETRANGE answers an empty string for an absent key). */
  private static boolean absent(Blob b) {
    return b == null || b.size() == 0;
  }

  /** The part if its value passes every check; else drops it and returns null. */
  private Part check(RedisLink l, ChunkId id, int index, ByteBuffer v, long epoch) {
    String bad = null;
    if (v.remaining() >= HEADER && v.getInt(0) == MAGIC && v.getInt(4) != partSize) {
      // before the length: a part of a client with a larger part size was called a value longer than a part; and in
      // the setting's words, which users write (a part's header holds its payload size, 128 bytes less)
      bad = "written by a client with redis.part-size " + CacheSettings.sizeText((long) v.getInt(4)
          + CacheSettings.VALUE_SLACK) + ", this one uses " + CacheSettings.sizeText(settings.partSize())
          + ": clients that share a cache should use one part size";
    } else if (v.remaining() > HEADER + partSize) {
      bad = "value longer than a part of " + (HEADER + partSize) + " bytes";
    } else if (v.remaining() < HEADER) {
      bad = "value of " + v.remaining() + " bytes is shorter than a part header";
    } else if (v.getInt(0) != MAGIC) {
      bad = String.format("magic %08x, expected %08x", v.getInt(0), MAGIC);
    } else if (v.getInt(8) != index) {
      bad = "holds part " + v.getInt(8) + ", expected part " + index;
    } else if (v.getLong(24) != id.w0() || v.getLong(32) != id.w1() || v.getLong(40) != id.w2()
        || v.getLong(48) != id.w3()) {
      bad = "holds a part of another object";
    } else {
      long size = v.getLong(16);
      long expected = size - (long) index * partSize;
      expected = Math.min(expected, partSize);
      int len = v.getInt(12);
      if (expected <= 0 || len != expected || v.remaining() - HEADER != len) {
        bad = "payload of " + (v.remaining() - HEADER) + " bytes, header says " + len + ", an object of " + size
            + " bytes has " + Math.max(0, expected) + " in this part";
      } else {
        CRC32C crc = new CRC32C();
        crc.update(v.duplicate().position(0).limit(CRC_AT));
        crc.update(v.duplicate().position(HEADER));
        if ((int) crc.getValue() != v.getInt(CRC_AT)) {
          bad = String.format("checksum failed: expected=%08x actual=%08x", v.getInt(CRC_AT), (int) crc.getValue());
        } else {
          return new Part(id, index, size, v.duplicate().position(HEADER).slice().asReadOnlyBuffer(), epoch,
              false);
        }
      }
    }
    drop(l, id, index, bad);
    return null;
  }

  /** Whether Redis refused a command because the key holds another type of value (a list where a part belongs). */
  private static boolean wrongType(ExecutionException e) {
    return e.getCause() instanceof io.lettuce.core.RedisCommandExecutionException
        && String.valueOf(e.getCause().getMessage()).startsWith("WRONGTYPE");
  }

  /**
   * Deletes a bad part (best effort: a failure only means the next reader drops it again). A user refused {@code DEL}
   * cannot: the part stays until this reader's fill overwrites it, or, for a user who may not write either, until it
   * expires or a client that may write replaces it (each read of it meanwhile finds it bad and reads the store).
   */
  private void drop(RedisLink l, ChunkId id, int index, String why) {
    counters[DROPPED].increment();
    LOG.debug("cache {}: dropping part {} of {}: {}", settings.describe(), index, id, why);
    if (!closed.get() && partDropNoticed.compareAndSet(false, true)) {
      // once: a bad value under a part's key is damage, someone else's writes, or clients of other part sizes; it
      // used to be dropped with nothing said but a debug log line and a count in cache stats
      String fate = !deleteRefused ? "it is dropped and that range is read from " + store.describe()
          : writing() ? "this user may not run DEL, so it is not dropped but written over with that range, read from "
              + store.describe()
          : "this user may neither run DEL nor write, so it stays in Redis until it expires or a client that may"
              + " write replaces it, and each read of that range reads it from " + store.describe();
      listener.notice("cache " + settings.describe() + ": key " + partKey(id, index) + " held a bad part (" + why
          + "); " + fate + " (said once; 'ferry cache stats' counts every part dropped)");
    }
    if (deleteRefused) {
      return;
    }
    try {
      l.del(partKey(id, index));
    } catch (RuntimeException e) {
      LOG.debug("cache {}: dropping part {} of {} failed", settings.describe(), index, id, e);
    }
  }

  /**
   * Queues a part read from the store to Redis; never waits (in {@code WAIT} mode, at most a bounded time). With
   * {@code claimed}, this reader holds the part's fill lock and releases it once the write landed, failed or was
   * skipped: waiting readers then find the part, or read it themselves at once; and a reader that misses the part
   * later (evicted, or dropped as bad) does not wait for a fill that is over.
   */
  private void write(RedisLink l, Part p, boolean claimed) {
    if (!writing() || closed.get()) {
      if (writable && !closed.get()) {
        // writes are off after the server refused one: the part is one a warm did not put in the cache
        counters[SKIPPED].increment();
      }
      if (claimed) {
        release(l, p.id, p.index);
      }
      return;
    }
    int bytes = HEADER + p.payload.remaining();
    boolean room = writeBudget.tryAcquire(bytes);
    if (!room && settings.writeMode() == CacheSettings.WriteMode.WAIT) {
      try {
        room = writeBudget.tryAcquire(bytes, Math.max(2000, settings.timeout().toMillis() * 10),
            TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (!room) {
      counters[SKIPPED].increment();
      if (claimed) {
        release(l, p.id, p.index);
      }
      return;
    }
    try {
      ByteBuffer head = header(p);
      l.set(partKey(p.id, p.index), new Blob(head, p.payload.duplicate()), settings.ttl()).whenComplete((ok, e) -> {
        writeBudget.release(bytes);
        if (claimed) {
          release(l, p.id, p.index);
        }
        if (e != null) {
          writeFailed(e);
        } else {
          writesRefusedWarned.set(false);
          counters[WRITTEN].increment();
          counters[WRITTEN_BYTES].add(bytes);
        }
      });
    } catch (RuntimeException e) {
      writeBudget.release(bytes);
      if (claimed) {
        release(l, p.id, p.index);
      }
      writeFailed(e);
    }
  }

  /** The header of a part: magic, part size, number, payload length, object size, object id, CRC32C. */
  static ByteBuffer header(ChunkId id, int partSize, int index, long objectSize, ByteBuffer payload) {
    ByteBuffer h = ByteBuffer.allocate(HEADER);
    h.putInt(MAGIC).putInt(partSize).putInt(index).putInt(payload.remaining()).putLong(objectSize);
    h.putLong(id.w0()).putLong(id.w1()).putLong(id.w2()).putLong(id.w3());
    CRC32C crc = new CRC32C();
    crc.update(h.duplicate().flip());
    crc.update(payload.duplicate());
    h.putInt((int) crc.getValue());
    return h.flip();
  }

  private ByteBuffer header(Part p) {
    return header(p.id, partSize, p.index, p.objectSize, p.payload);
  }

  /** The object's size: known from an earlier answer of the store, else asked of it. */
  private long knownSize(ChunkId id) throws IOException {
    synchronized (sizes) {
      Long s = sizes.get(id);
      if (s != null) {
        return s;
      }
    }
    long s = store.size(id);
    synchronized (sizes) {
      sizes.put(id, s);
    }
    return s;
  }

  /**
   * The object's size: from an earlier answer of the store, else from the header of its first part in Redis (which
   * the next read of the object then uses), else from the store.
   */
  @Override
  public long size(ChunkId id) throws IOException {
    synchronized (sizes) {
      Long s = sizes.get(id);
      if (s != null) {
        return s;
      }
    }
    RedisLink l = link();
    if (l != null) {
      Part[] p = fetch(l, id, 0, 1);
      if (p != null && p[0] != null) {
        lastPart.set(p[0]);
        return p[0].objectSize;
      }
    }
    return knownSize(id);
  }

  // ---------------------------------------------------------------- the rest asks the store

  @Override
  public String describe() {
    return store.describe();
  }

  @Override
  public boolean contains(ChunkId id) throws IOException {
    return store.contains(id);
  }

  @Override
  public List<ChunkId> missing(Collection<ChunkId> ids) throws IOException {
    return store.missing(ids);
  }

  @Override
  public boolean put(ChunkId id, ByteBuffer... parts) throws IOException {
    return store.put(id, parts);
  }

  @Override
  public void list(Consumer<StoredObject> sink) throws IOException {
    store.list(sink);
  }

  @Override
  public boolean listIds(String hexPrefix, Consumer<ChunkId> sink) throws IOException {
    return store.listIds(hexPrefix, sink);
  }

  /** Deletes the object from the store, then its parts from Redis (best effort: Redis may be down). */
  @Override
  public void delete(ChunkId id) throws IOException {
    long size = forget(id);
    store.delete(id);
    deleteParts(id, size, "failed to delete the parts of a deleted object");
  }

  /**
   * Deletes the object as {@link #delete} does, and says whether the store's delete removed it: the store's own
   * answer (a conditional delete on S3), so that gc through the cache counts only what it freed. The default
   * answered true for an object another gc had just removed.
   */
  @Override
  public boolean deleteIfPresent(ChunkId id) throws IOException {
    long size = forget(id);
    boolean removed = store.deleteIfPresent(id);
    deleteParts(id, size, "failed to delete the parts of a deleted object");
    return removed;
  }

  /** Drops what is known of an object about to be deleted; its size in the store, or -1 if it is not there. */
  private long forget(ChunkId id) throws IOException {
    deletions.incrementAndGet();
    synchronized (sizes) {
      sizes.remove(id);
    }
    try {
      return store.size(id);
    } catch (MissingObjectException absent) {
      return -1;
    }
  }

  /**
   * Deletes every part of the object from Redis, so that the next read goes to the store: core asks this when bytes
   * read through the cache failed its checks (a well-formed part with another content: written by someone who may
   * write to this Redis), before it reads them again. The store is told too: the bytes may have come from it (an
   * HTTP store then asks another server).
   */
  @Override
  public boolean readRejected(ChunkId id) throws IOException {
    boolean storeMayDiffer = store.readRejected(id);
    long size;
    try {
      size = knownSize(id);
    } catch (MissingObjectException absent) {
      return storeMayDiffer;
    }
    counters[DROPPED].increment();
    deletions.incrementAndGet(); // no thread's remembered last part of it is used again
    if (deleteRefused) {
      // its parts cannot be deleted: a DEL refused turned the cache off for every read and said reading the object
      // again would not help, so that the read failed though the store holds it whole
      synchronized (rejected) {
        rejected.put(id, Boolean.TRUE);
      }
      listener.notice("cache " + settings.describe() + ": object " + id + " read through the cache failed its checks"
          + " (damaged, or written by someone else); this user may not run DEL, so its parts are not dropped: this"
          + " client reads it from " + store.describe() + (writing() ? " and writes its parts over" : "")
          + " from now on");
      return true;
    }
    listener.notice("cache " + settings.describe() + ": object " + id + " read through the cache failed its checks"
        + " (damaged, or written by someone else); its parts are dropped and it is read from " + store.describe());
    return deleteParts(id, size, "failed to drop the parts of an object that failed its checks") | storeMayDiffer;
  }

  /**
   * The store's server that sent the last read of the object, when the store names one: after {@link #readRejected}
   * the cache holds no part of it, so a read that failed again read from the store.
   */
  @Override
  public String lastSender(ChunkId id) {
    return store.lastSender(id);
  }

  /**
   * Deletes the parts of an object of {@code size} bytes; whether Redis took the deletes. For a user refused {@code
   * DEL} it sends none (the refusal turned the cache off for every read) and says once that the parts stay.
   */
  private boolean deleteParts(ChunkId id, long size, String failure) throws IOException {
    RedisLink l = link();
    if (l == null || size <= 0) {
      return false;
    }
    if (deleteRefused) {
      if (!closed.get() && partsKeptNoticed.compareAndSet(false, true)) {
        listener.notice("cache " + settings.describe() + ": this user may not run DEL, so the parts of objects deleted"
            + " from " + store.describe() + " (by gc, verify --delete-damaged) are not deleted from Redis: they stay"
            + " until they expire or are evicted (said once)");
      }
      return false;
    }
    int n = (int) Math.min(Integer.MAX_VALUE, (size + partSize - 1) / partSize);
    try {
      for (int from = 0; from < n; from += 256) {
        String[] keys = new String[Math.min(256, n - from)];
        for (int i = 0; i < keys.length; i++) {
          keys[i] = partKey(id, from + i);
        }
        l.del(keys).get(settings.timeout().toNanos(), TimeUnit.NANOSECONDS);
      }
      return true;
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      failed(failure, e);
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while deleting the parts of " + id + " from the cache");
    }
  }

  @Override
  public long removeAbandoned(Instant olderThan) throws IOException {
    return store.removeAbandoned(olderThan);
  }

  @Override
  public java.util.Optional<String> deletionCaveat() throws IOException {
    return store.deletionCaveat();
  }

  @Override
  public java.util.List<String> layoutDamage() throws IOException {
    return store.layoutDamage();
  }

  // ---------------------------------------------------------------- counters and close

  private void maybeFlush(RedisLink l) {
    long now = nanos.getAsLong();
    if (now < nextFlush) {
      return;
    }
    nextFlush = now + FLUSH_NANOS;
    flush(l);
  }

  /** Adds the counters gathered since the last flush to the store's counters in Redis (HINCRBY, not waited for). */
  private List<RedisFuture<Long>> flush(RedisLink l) {
    List<RedisFuture<Long>> out = new ArrayList<>();
    synchronized (flushed) {
      for (int i = 0; i < counters.length; i++) {
        long now = counters[i].sum();
        long delta = now - flushed[i];
        if (delta != 0) {
          try {
            out.add(l.hincrby(prefix + "stats", CacheCounters.FIELDS[i], delta));
            flushed[i] = now;
          } catch (RuntimeException e) {
            LOG.debug("cache {}: counters not saved", settings.describe(), e);
            return out;
          }
        }
      }
    }
    return out;
  }

  /**
   * Waits (at most a few seconds) for queued writes, saves the counters, closes the connection and then the store.
   * Idempotent.
   */
  @Override
  public void close() throws IOException {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    try {
      RedisLink l = link;
      if (l != null) {
        long waitMs = Math.max(2000, settings.timeout().toMillis() * 10);
        int all = (int) settings.writeBehindBytes();
        try {
          if (writeBudget.tryAcquire(all, waitMs, TimeUnit.MILLISECONDS)) {
            writeBudget.release(all);
          } else {
            LOG.debug("cache {}: closing with writes still queued", settings.describe());
          }
          // saved even while the circuit is open (a pull that met one timeout still counts its hits and misses):
          // a Redis that is down refuses at once, one that hangs costs one timeout in all, not one per counter
          long deadline = System.nanoTime() + settings.timeout().toNanos();
          for (RedisFuture<Long> f : flush(l)) {
            f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
          }
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
          LOG.debug("cache {}: counters not saved at close", settings.describe(), e);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        } finally {
          l.close();
        }
      }
      listener.closed(counters());
    } finally {
      store.close();
    }
  }
}
