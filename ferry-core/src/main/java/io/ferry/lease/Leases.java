package io.ferry.lease;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.concurrent.DaemonThreads;
import io.ferry.id.ChunkId;
import io.ferry.limits.JsonTree;
import io.ferry.limits.Limits;
import io.ferry.store.RecordStore;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * The leases of one store, kept as records under {@code leases/} of its {@link RecordStore}. One mechanism, owned by
 * core, that keeps gc from deleting what a running push needs, on every backend.
 *
 * <p>The protocol (docs/gc.md argues each step):
 *
 * <ol>
 *   <li>A push takes a {@link Lease.Kind#PUSH} lease before it writes anything, and holds it (renewed in the
 *       background) until its ref has moved. gc keeps every object written after the earliest live push lease began,
 *       whatever its grace period, so a push longer than the grace period keeps its new objects.
 *   <li>Before it publishes, a push {@linkplain Lease#protect declares} every object its version references (chunks,
 *       packs, snapshot, parents, the version itself), then {@linkplain Lease#awaitNoGc waits until no gc lease is
 *       live}, then checks that every one of them exists, writing again any that is missing, then moves the ref.
 *   <li>A gc (and a failed push removing what it wrote) takes a {@link Lease.Kind#GC} lease, then reads every live
 *       push lease's declarations and keeps those objects, then re-reads the refs, then deletes; it checks that its own
 *       lease is still held before each batch of deletions and closes it when done.
 * </ol>
 *
 * A gc deletes an object a push declared only if it read the push leases before the declaration was written; then its
 * gc lease was live when the push looked for gc leases (it was taken before that read and is held until the last
 * deletion), so the push waited for that gc to end and found the object missing, and wrote it again. Correctness thus
 * depends on the record store's read-after-write consistency, not on clocks; clocks only decide when a silent holder's
 * lease counts as dead ({@link LeaseSettings#skew}).
 *
 * <p>Thread-safe. Owns one daemon thread that renews leases; {@link #close} stops it (leases still open are released).
 */
public final class Leases implements Closeable {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Leases.class);
  static final String PREFIX = "leases/";
  private static final String LEASE = "lease";
  private static final JsonFactory JSON = Limits.jsonFactory();

  private final RecordStore records;
  private final Clock clock;
  private final LeaseSettings settings;
  private final String owner;
  private final Consumer<String> notices;
  private final ScheduledExecutorService renewer;
  private final SecureRandom random = new SecureRandom();
  private final Set<Lease> open = java.util.concurrent.ConcurrentHashMap.newKeySet();
  private final Holder self = Holder.current();

  /**
   * @param owner who holds the leases taken here, for messages (e.g. user and host)
   */
  public Leases(RecordStore records, Clock clock, LeaseSettings settings, String owner) {
    this(records, clock, settings, owner, message -> LOG.warn("{}", message));
  }

  /**
   * @param owner who holds the leases taken here, for messages (e.g. user and host)
   * @param notices told when a wait for another's lease goes on (whose lease, where, until when)
   */
  public Leases(RecordStore records, Clock clock, LeaseSettings settings, String owner, Consumer<String> notices) {
    this.records = records;
    this.clock = clock;
    this.settings = settings;
    this.owner = owner;
    this.notices = notices;
    this.renewer = Executors.newSingleThreadScheduledExecutor(DaemonThreads.named("ferry-lease-renewer"));
  }

  RecordStore records() {
    return records;
  }

  Clock clock() {
    return clock;
  }

  LeaseSettings settings() {
    return settings;
  }

  /** The clock difference tolerated between machines. */
  public java.time.Duration skew() {
    return settings.skew();
  }

  /**
   * Takes a lease; its record exists (durably) when this returns, and it is renewed until closed.
   *
   * @param what what the holder does, for messages (e.g. {@code push llama:prod})
   */
  public Lease take(Lease.Kind kind, String what) throws IOException {
    Instant now = clock.instant();
    String id = String.format("%013x-%016x", now.toEpochMilli(), random.nextLong());
    Lease lease = new Lease(this, kind, id, now, now.plus(settings.ttl()), what);
    if (!records.createOwn(lease.key(LEASE), encode(lease, lease.expires()))) {
      throw new IOException("lease " + lease.key(LEASE) + " already exists in " + records.describe());
    }
    open.add(lease);
    long every = Math.max(1, settings.ttl().toMillis() / 4);
    lease.schedule(renewer.scheduleWithFixedDelay(() -> renew(lease), every, every, TimeUnit.MILLISECONDS));
    return lease;
  }

  private void renew(Lease lease) {
    Instant next = clock.instant().plus(settings.ttl());
    try {
      records.replace(lease.key(LEASE), encode(lease, next));
      lease.renewed(next, clock.instant());
      if (lease.closed()) {
        // closed while this renewal wrote: its records may have been removed before the write put the lease back
        release(lease);
      }
    } catch (IOException e) {
      lease.renewalFailed(e);
    } catch (RuntimeException e) {
      lease.renewalFailed(new IOException(e));
    }
  }

  void release(Lease lease) {
    open.remove(lease);
    try {
      delete(lease.kind(), lease.id());
    } catch (IOException | RuntimeException e) {
      // the records expire; gc removes them later
    }
  }

  /** Removes a lease's records, its lease record last: while that exists, its declarations still count. */
  private void delete(Lease.Kind kind, String id) throws IOException {
    String dir = PREFIX + kind.dir() + "/" + id + "/";
    for (String k : records.list(dir)) {
      if (!k.endsWith("/" + LEASE)) {
        records.delete(k);
      }
    }
    records.delete(dir + LEASE);
  }

  private byte[] encode(Lease lease, Instant expires) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    try (JsonGenerator g = JSON.createGenerator(out)) {
      g.writeStartObject();
      g.writeStringField("kind", lease.kind().dir());
      g.writeStringField("owner", owner);
      g.writeStringField("host", self.host());
      g.writeNumberField("pid", self.pid());
      g.writeNumberField("pidStart", self.start());
      g.writeStringField("what", lease.what());
      g.writeStringField("started", lease.started().toString());
      g.writeStringField("expires", expires.toString());
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot encode lease " + lease.what(), e);
    }
    return out.toByteArray();
  }

  /** A lease as another process wrote it. */
  record Held(Lease.Kind kind, String id, String owner, String what, Instant started, Instant expires,
      Holder holder) {}

  /**
   * The process that holds a lease: machine, pid and the process's start time (so a reused pid is not mistaken for the
   * holder). A lease whose holder ran on this machine and is gone is dead at once, without waiting for its expiry: a
   * killed push or gc does not hold up others here. On other machines only expiry tells.
   */
  record Holder(String host, long pid, long start) {
    static Holder current() {
      ProcessHandle me = ProcessHandle.current();
      return new Holder(machineId(), me.pid(), startOf(me));
    }

    private static long startOf(ProcessHandle p) {
      return p.info().startInstant().map(Instant::toEpochMilli).orElse(-1L);
    }

    private static String machineId() {
      for (String f : new String[] {"/etc/machine-id", "/var/lib/dbus/machine-id"}) {
        try {
          String id = java.nio.file.Files.readString(java.nio.file.Path.of(f)).trim();
          if (!id.isEmpty()) {
            return id;
          }
        } catch (IOException | RuntimeException e) {
          // try the next source
        }
      }
      try {
        return java.net.InetAddress.getLocalHost().getHostName();
      } catch (IOException e) {
        return "unknown";
      }
    }

    /** Whether this holder is known to be gone: it ran on {@code here}'s machine and that process no longer runs. */
    boolean goneSeenFrom(Holder here) {
      if (host.isEmpty() || !host.equals(here.host) || host.equals("unknown") || pid <= 0) {
        return false;
      }
      Optional<ProcessHandle> p = ProcessHandle.of(pid);
      if (p.isEmpty() || !p.get().isAlive()) {
        return true;
      }
      return start > 0 && startOf(p.get()) > 0 && startOf(p.get()) != start;
    }
  }

  /** The leases of a kind whose records exist, live or not; records that cannot be read count as live now. */
  List<Held> list(Lease.Kind kind) throws IOException {
    String dir = PREFIX + kind.dir() + "/";
    List<Held> out = new ArrayList<>();
    for (String key : records.list(dir)) {
      if (!key.endsWith("/" + LEASE)) {
        continue;
      }
      String id = key.substring(dir.length(), key.length() - LEASE.length() - 1);
      Optional<byte[]> body = records.read(key);
      if (body.isEmpty()) {
        continue;
      }
      out.add(decode(kind, id, body.get()));
    }
    return out;
  }

  private Held decode(Lease.Kind kind, String id, byte[] body) {
    Instant now = clock.instant();
    try {
      JsonNode n = JsonTree.read(body);
      return new Held(kind, id, n.path("owner").asText("?"), n.path("what").asText("?"),
          Instant.parse(n.path("started").asText()), Instant.parse(n.path("expires").asText()),
          new Holder(n.path("host").asText(""), n.path("pid").asLong(-1), n.path("pidStart").asLong(-1)));
    } catch (IOException | DateTimeParseException e) {
      // a damaged record is treated as a lease that began long ago and lives for one more ttl: safe for objects,
      // and gone once nobody renews it
      return new Held(kind, id, "?", "unreadable lease record", Instant.EPOCH, now.plus(settings.ttl()),
          new Holder("", -1, -1));
    }
  }

  private boolean live(Held h, Instant now) {
    return now.isBefore(h.expires().plus(settings.skew())) && !h.holder().goneSeenFrom(self);
  }

  /** What live push leases protect, as a gc sees it under its own lease. */
  public record Protection(Set<ChunkId> ids, Optional<Instant> earliestStart, int leases) {}

  /**
   * Reads every live push lease: the objects they declared and the earliest time one began (minus the tolerated
   * skew), before which objects are not protected by age.
   *
   * @param except a lease id whose declarations do not count (the caller's own), or null
   */
  public Protection pushProtection(String except) throws IOException {
    Instant now = clock.instant();
    Set<ChunkId> ids = new HashSet<>();
    Instant earliest = null;
    int count = 0;
    for (Held h : list(Lease.Kind.PUSH)) {
      if (!live(h, now) || h.id().equals(except)) {
        continue;
      }
      count++;
      Instant start = h.started().minus(settings.skew());
      if (earliest == null || start.isBefore(earliest)) {
        earliest = start;
      }
      String dir = PREFIX + "push/" + h.id() + "/";
      for (String key : records.list(dir)) {
        if (key.endsWith("/" + LEASE)) {
          continue;
        }
        Optional<byte[]> body = records.read(key);
        if (body.isPresent()) {
          for (String line : new String(body.get(), StandardCharsets.US_ASCII).split("\n")) {
            if (ChunkId.isValid(line)) {
              ids.add(ChunkId.parse(line));
            }
          }
        }
      }
    }
    return new Protection(ids, Optional.ofNullable(earliest), count);
  }

  private String describe(Held h) {
    return h.kind().name().toLowerCase(java.util.Locale.ROOT) + " lease " + h.id() + " in " + records.describe()
        + " ('" + h.what() + "', held by pid " + h.holder().pid() + " on " + h.holder().host() + " since "
        + h.started() + ")";
  }

  /**
   * Waits until no lease of the kind other than {@code except} is live, saying after two seconds which one it waits
   * for; a lease that expires further ahead than any holder sets one ({@link LeaseSettings#MAX_TTL}) is an error, not
   * a wait without end.
   */
  void awaitNoLive(Lease.Kind kind, String except) throws IOException {
    long pause = 10;
    long started = System.nanoTime();
    boolean told = false;
    while (true) {
      Instant now = clock.instant();
      Held waitingFor = null;
      for (Held h : list(kind)) {
        if (!h.id().equals(except) && live(h, now)) {
          if (h.expires().isAfter(now.plus(LeaseSettings.MAX_TTL).plus(settings.skew()))) {
            throw new IOException(describe(h) + " expires at " + h.expires() + ", further ahead than any holder's "
                + "lease reaches (" + LeaseSettings.MAX_TTL + "): no " + kind.name().toLowerCase(java.util.Locale.ROOT)
                + " wrote it, and waiting for it would never end; ferry gc removes such records");
          }
          waitingFor = h;
          break;
        }
      }
      if (waitingFor == null) {
        return;
      }
      if (!told && System.nanoTime() - started > TimeUnit.SECONDS.toNanos(2)) {
        told = true;
        notices.accept("waiting for " + describe(waitingFor) + " to end (it expires at " + waitingFor.expires()
            + " unless renewed; a holder that died on another machine keeps it until then)");
      }
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(pause));
      if (Thread.interrupted()) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while waiting for a gc to finish in " + records.describe());
      }
      pause = Math.min(pause * 2, settings.pollInterval().toMillis());
    }
  }

  /**
   * Removes the records of leases that expired before {@code before} (their holders died without closing them), and
   * of leases that expire further ahead than any holder's reaches ({@link LeaseSettings#MAX_TTL}).
   *
   * @return how many leases were removed
   */
  public int removeExpired(Instant before) throws IOException {
    int removed = 0;
    Instant beyondReach = clock.instant().plus(LeaseSettings.MAX_TTL).plus(settings.skew());
    for (Lease.Kind kind : Lease.Kind.values()) {
      for (Held h : list(kind)) {
        // one that expires further ahead than any holder's lease reaches was written by no holder: it goes too
        if (h.expires().plus(settings.skew()).isBefore(before) || h.holder().goneSeenFrom(self)
            || h.expires().isAfter(beyondReach)) {
          delete(kind, h.id());
          removed++;
        }
      }
    }
    return removed;
  }

  /** Stops renewing; leases still open are released. */
  @Override
  public void close() {
    for (Lease l : List.copyOf(open)) {
      l.close();
    }
    renewer.shutdownNow();
  }

}
