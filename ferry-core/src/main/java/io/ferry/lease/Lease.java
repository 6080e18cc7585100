package io.ferry.lease;

import io.ferry.id.ChunkId;
import io.ferry.error.ConflictException;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ScheduledFuture;

/**
 * A lease held by this process: a push's (or a copy's) or a gc's. Renewed in the background until {@link #close}d;
 * closing removes its records. Thread-safe.
 *
 * <p>A push lease protects the objects it {@linkplain #protect declares} from gc, and everything written after it was
 * taken from gc's age cutoff; see {@link Leases} for the protocol.
 */
public final class Lease implements AutoCloseable {
  /** What a lease is for. */
  public enum Kind {
    /** A push or a copy: its objects must not be deleted. */
    PUSH,
    /** A gc, or a failed push's rollback: it may be deleting objects right now. */
    GC;

    String dir() {
      return this == PUSH ? "push" : "gc";
    }
  }

  /** How many ids one declaration record holds (65 bytes each, well under the 1 MiB record limit). */
  static final int IDS_PER_RECORD = 8192;

  private final Leases leases;
  private final Kind kind;
  private final String id;
  private final Instant started;
  private final String what;
  private volatile Instant expires;
  private volatile IOException renewalFailure;
  private volatile Instant lapsedAt;
  private volatile ScheduledFuture<?> renewal;
  private int declarations;
  private boolean closed;

  Lease(Leases leases, Kind kind, String id, Instant started, Instant expires, String what) {
    this.leases = leases;
    this.kind = kind;
    this.id = id;
    this.started = started;
    this.expires = expires;
    this.what = what;
  }

  public Kind kind() {
    return kind;
  }

  /** The lease's id, unique in the store. */
  public String id() {
    return id;
  }

  /** When the lease was taken (by the repository's clock). */
  public Instant started() {
    return started;
  }

  String what() {
    return what;
  }

  Instant expires() {
    return expires;
  }

  /**
   * @param at when the renewal was written: at or past the time this holder stops trusting its lease, others may have
   *     counted it dead and gone on without it (a gc deleting what it declared, a push publishing while it deletes),
   *     so it stays lapsed
   */
  void renewed(Instant newExpiry, Instant at) {
    if (lapsedAt == null && !at.isBefore(expires.minus(leases.settings().skew()))) {
      lapsedAt = expires;
    }
    expires = newExpiry;
    if (lapsedAt == null) {
      renewalFailure = null;
    }
  }

  void renewalFailed(IOException e) {
    renewalFailure = e;
  }

  void schedule(ScheduledFuture<?> f) {
    renewal = f;
  }

  String key(String leaf) {
    return Leases.PREFIX + kind.dir() + "/" + id + "/" + leaf;
  }

  /**
   * Declares objects this push will reference: from the moment this returns, a gc that has not yet begun deleting will
   * keep them. A gc already deleting may not have seen them: call {@link #awaitNoGc} next, then check that they exist.
   */
  public synchronized void protect(Collection<ChunkId> ids) throws IOException {
    if (kind != Kind.PUSH) {
      throw new IllegalStateException("only a push lease protects objects");
    }
    ensureOpen();
    List<ChunkId> batch = new ArrayList<>(Math.min(ids.size(), IDS_PER_RECORD));
    for (ChunkId c : ids) {
      batch.add(c);
      if (batch.size() == IDS_PER_RECORD) {
        writeDeclaration(batch);
        batch.clear();
      }
    }
    if (!batch.isEmpty()) {
      writeDeclaration(batch);
    }
  }

  private void writeDeclaration(List<ChunkId> batch) throws IOException {
    StringBuilder b = new StringBuilder(batch.size() * (ChunkId.HEX_LENGTH + 1));
    for (ChunkId c : batch) {
      b.append(c.hex()).append('\n');
    }
    declarations++;
    String key = key(String.format("ids-%08d", declarations));
    if (!leases.records().createOwn(key, b.toString().getBytes(java.nio.charset.StandardCharsets.US_ASCII))) {
      throw new IOException("lease record " + key + " already exists in " + leases.records().describe());
    }
  }

  /**
   * Waits until no gc is deleting: returns at once when no live gc lease exists, else polls until every one has ended
   * or expired.
   *
   * @throws java.io.InterruptedIOException if interrupted while waiting
   */
  public void awaitNoGc() throws IOException {
    leases.awaitNoLive(Kind.GC, id);
  }

  /**
   * Checks that this lease is still held: renewed in time, with the tolerated clock skew to spare. A push calls it
   * just before it publishes; a gc before each batch of deletions.
   *
   * @throws ConflictException if the lease lapsed (renewals failed or were late), so others may have stopped honouring
   *     it
   */
  public void checkHeld() throws IOException {
    ensureOpen();
    Instant now = leases.clock().instant();
    Instant lapsed = lapsedAt;
    if (lapsed != null || !now.isBefore(expires.minus(leases.settings().skew()))) {
      ConflictException e = new ConflictException(kind.dir() + " lease " + id + " in " + leases.records().describe()
          + " lapsed at " + (lapsed != null ? lapsed + " (renewed too late)" : expires) + " (now " + now + ")"
          + (renewalFailure == null ? ""
          : ": renewing it failed: " + renewalFailure.getMessage()) + "; nothing was published, run it again");
      if (renewalFailure != null) {
        e.addSuppressed(renewalFailure);
      }
      throw e;
    }
  }

  synchronized boolean closed() {
    return closed;
  }

  private synchronized void ensureOpen() {
    if (closed) {
      throw new IllegalStateException("lease " + id + " is closed");
    }
  }

  /** Stops renewing and removes the lease's records. Never throws: a record left behind expires. */
  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
    }
    ScheduledFuture<?> r = renewal;
    if (r != null) {
      r.cancel(false);
    }
    leases.release(this);
  }

  @Override
  public String toString() {
    return kind.dir() + " lease " + id + " (" + what + ")";
  }
}
