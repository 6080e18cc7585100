package io.ferry.repo;

import io.ferry.objects.ObjectDatabase;

import io.ferry.dedup.SmallChunkIndex;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.CorruptRefException;
import io.ferry.error.MissingObjectException;
import io.ferry.id.ChunkId;
import io.ferry.lease.Lease;
import io.ferry.lease.Leases;
import io.ferry.repo.Results.GcReport;
import io.ferry.store.ChunkStore;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefStore;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Removes objects nothing needs, and removes what a failed push wrote, both under the lease protocol of {@link
 * Leases}, so neither ever deletes an object a running push relies on. Thread-safe.
 *
 * <p>A gc runs in two phases. Without a lease: mark every object reachable from the refs and from ref-log entries
 * younger than the grace period, then stream the store's listing and keep as candidates the objects that are neither
 * marked nor younger than the grace period. Under a gc lease: read what live push leases protect, mark again from the
 * refs and from the ref-log entries made since the earliest live push lease began (only versions not marked yet, so
 * this is cheap), and delete the candidates that are still unmarked, unprotected and older than the earliest live
 * push lease, checking before each batch that the lease is still held.
 */
final class GarbageCollector {
  private static final int BATCH = 256;

  private final ObjectDatabase db;
  private final ChunkStore chunks;
  private final RefStore refs;
  private final History history;
  private final Leases leases;
  private final Clock clock;
  private final SmallChunkIndex smallChunks;
  private final java.util.function.Consumer<String> notices;

  /** @param notices where gc tells its user that its deletes may not free space ({@link ChunkStore#deletionCaveat}) */
  GarbageCollector(ObjectDatabase db, ChunkStore chunks, RefStore refs, History history, Leases leases, Clock clock,
      SmallChunkIndex smallChunks, java.util.function.Consumer<String> notices) {
    this.smallChunks = smallChunks;
    this.notices = notices;
    this.db = db;
    this.chunks = chunks;
    this.refs = refs;
    this.history = history;
    this.leases = leases;
    this.clock = clock;
  }

  private record Candidate(ChunkId id, long size, Instant modified) {}

  /** The marking state of one gc: versions walked and objects they keep. */
  private final class Marks {
    final Set<ChunkId> versions = new HashSet<>();
    final Set<ChunkId> live = new HashSet<>();

    /** Marks from the refs' values and their log entries after {@code cutoff}; only versions not walked yet. */
    void markFromRefs(Instant cutoff) throws IOException {
      markFromRefs(cutoff, live);
    }

    /** As {@link #markFromRefs(Instant)}, adding the objects of versions not walked yet to {@code into}. */
    void markFromRefs(Instant cutoff, Set<ChunkId> into) throws IOException {
      // the small-chunk index's bases that pointer records name (a merge writes its base under a lease first)
      into.addAll(smallChunks.baseObjects());
      for (String ref : refs.unreadable()) {
        // a log that is not a file (a fifo, a directory) is left out of list(): what its ref keeps is unknown, and
        // marking without it removed every object of its model
        try {
          refs.checkLog(ref);
        } catch (CorruptRefException e) {
          throw new CorruptRefException(ref, e.store(), e.entry(), e.defect() + "; gc removes nothing while a ref"
              + " cannot be read: repair its log or delete it");
        }
      }
      Deque<ChunkId> roots = new ArrayDeque<>();
      Deque<ChunkId> logged = new ArrayDeque<>();
      // deleted refs too: what a deleted tag or a removed model pointed at is kept while its log entries are recent
      for (String ref : refs.listLogged("")) {
        Optional<ChunkId> value = refs.get(ref);
        if (value.isPresent()) {
          requireVersion(ref, value.get());
          roots.add(value.get());
        }
        for (RefLogEntry e : refs.log(ref)) {
          if (e.when().isAfter(cutoff)) {
            addPresent(logged, e.oldId());
            addPresent(logged, e.newId());
          }
        }
      }
      for (ChunkId vid : history.walk(roots, versions)) {
        Version v = db.version(vid);
        mark(vid, v, db.snapshot(v.snapshot()), into);
      }
      // what refs reach is walked: a version only log entries name may be partly gone (a gc with a shorter grace was
      // killed while removing it), and what of it is left is kept
      while (!logged.isEmpty()) {
        ChunkId vid = logged.pop();
        if (versions.contains(vid)) {
          continue;
        }
        Version v;
        Snapshot s;
        try {
          v = db.version(vid);
        } catch (MissingObjectException e) {
          continue;
        }
        versions.add(vid);
        try {
          s = db.snapshot(v.snapshot());
        } catch (MissingObjectException e) {
          s = null;
        }
        mark(vid, v, s, into);
        logged.addAll(v.parents());
      }
    }

    /** Adds a version's objects to {@code into}: those its snapshot names only if it is still there. */
    private void mark(ChunkId vid, Version v, Snapshot s, Set<ChunkId> into) {
      into.add(vid);
      into.add(v.snapshot());
      into.addAll(v.packs());
      if (s == null) {
        return;
      }
      for (FileEntry f : s.files()) {
        for (ChunkRef c : f.chunks()) {
          if (c.length() >= ObjectDatabase.PACK_THRESHOLD) {
            into.add(c.id());
          }
        }
      }
    }

    /**
     * A ref must point at a version: at anything else (a chunk, a snapshot, nothing) gc cannot tell what the ref
     * keeps, so it stops before removing anything, naming the ref (a damaged ref: the CLI exits 3).
     */
    private void requireVersion(String ref, ChunkId id) throws IOException {
      try {
        db.version(id);
      } catch (MissingObjectException e) {
        throw damagedRef(ref, "it points at " + id + ", which is not in the store");
      } catch (CorruptObjectException e) {
        throw e;
      } catch (IOException e) {
        String kind = db.kindOf(id);
        throw damagedRef(ref, "it points at " + id + ", which is not a version"
            + (kind != null ? " (" + kind + ")" : ": " + e.getMessage()));
      }
    }

    private CorruptRefException damagedRef(String ref, String defect) throws IOException {
      return new CorruptRefException(ref, chunks.describe(), refs.log(ref).size(), defect
          + "; gc removes nothing while a ref points at no version: delete the ref or move it to a version");
    }

    private void addPresent(Deque<ChunkId> roots, ChunkId id) throws IOException {
      // an old log entry may name a version a past gc removed; it keeps nothing
      if (id != null && !versions.contains(id) && chunks.contains(id)) {
        roots.add(id);
      }
    }
  }

  GcReport run(Duration grace, boolean dryRun) throws IOException {
    Instant now = clock.instant();
    // a grace longer than time has run (--grace 1000000000000d) keeps everything: the cutoff is the earliest instant
    Instant cutoff = grace.compareTo(Duration.between(Instant.MIN, now)) >= 0 ? Instant.MIN : now.minus(grace);
    if (!dryRun) {
      smallChunks.prunePointers();
    }
    chunks.deletionCaveat().ifPresent(notices);
    Marks marks = new Marks();
    marks.markFromRefs(cutoff);
    List<Candidate> candidates = new ArrayList<>();
    long[] counts = new long[2];
    chunks.list(o -> {
      if (marks.live.contains(o.id())) {
        counts[0]++;
      } else if (!o.modified().isBefore(cutoff)) {
        // an object of exactly the grace's age is young, here as where gc deletes: --dry-run counts what gc does
        counts[1]++;
      } else {
        candidates.add(new Candidate(o.id(), o.size(), o.modified()));
      }
    });
    long live = counts[0];
    long young = counts[1];
    long forPushes = 0;
    if (dryRun) {
      Leases.Protection p = leases.pushProtection(null);
      Set<ChunkId> named = namedSincePushes(marks, p, cutoff);
      long dead = 0;
      long deadBytes = 0;
      for (Candidate c : candidates) {
        if (p.ids().contains(c.id()) || named.contains(c.id())
            || p.earliestStart().map(s -> !c.modified().isBefore(s)).orElse(false)) {
          forPushes++;
        } else {
          dead++;
          deadBytes += c.size();
        }
      }
      return new GcReport(live, dead, deadBytes, young, forPushes, 0, true);
    }
    // objects and bytes this gc removed: not those another gc running at the same moment removed first
    long[] freed = new long[2];
    long leftovers;
    Set<ChunkId> deleted = new HashSet<>();
    try (Lease lease = takeLease(grace)) {
      Leases.Protection p = leases.pushProtection(null);
      Instant ageCutoff = p.earliestStart().filter(s -> s.isBefore(cutoff)).orElse(cutoff);
      marks.markFromRefs(cutoff);
      Set<ChunkId> named = namedSincePushes(marks, p, cutoff);
      List<Candidate> batch = new ArrayList<>(BATCH);
      for (Candidate c : candidates) {
        if (marks.live.contains(c.id())) {
          live++;
        } else if (!c.modified().isBefore(cutoff)) {
          young++;
        } else if (p.ids().contains(c.id()) || named.contains(c.id()) || !c.modified().isBefore(ageCutoff)) {
          forPushes++;
        } else {
          batch.add(c);
          deleted.add(c.id());
          if (batch.size() == BATCH) {
            delete(lease, batch, freed);
          }
        }
      }
      delete(lease, batch, freed);
      leftovers = chunks.removeAbandoned(ageCutoff);
      leases.removeExpired(cutoff);
    }
    dropFromIndex(marks.live, deleted);
    return new GcReport(live, freed[0], freed[1], young, forPushes, leftovers, false);
  }

  /**
   * The objects of versions not marked yet that ref-log entries name which were made since the earliest live push
   * lease began, and before {@code cutoff}: a push (a tag, a rollback) may rely on a ref that reached a version when
   * it looked and has moved since, so gc keeps them for pushes.
   */
  private Set<ChunkId> namedSincePushes(Marks marks, Leases.Protection p, Instant cutoff) throws IOException {
    Set<ChunkId> out = new HashSet<>();
    Optional<Instant> since = p.earliestStart().filter(s -> s.isBefore(cutoff));
    if (since.isPresent()) {
      marks.markFromRefs(since.get(), out);
    }
    return out;
  }

  /**
   * Writes a new base of the small-chunk index without the packs that are gone: those this gc deleted and those that
   * vanished otherwise (a failed push's rollback, an interrupted gc), found by checking the packs the index names and
   * no live version references. Only when the index names such a pack. The merge runs under a push lease, as a
   * push's does, so that a concurrent gc keeps the new base until its pointer names it.
   */
  private void dropFromIndex(Set<ChunkId> live, Set<ChunkId> deleted) throws IOException {
    Set<ChunkId> named = smallChunks.packsNamed();
    Set<ChunkId> doubtful = new HashSet<>();
    Set<ChunkId> gone = new HashSet<>();
    for (ChunkId p : named) {
      if (deleted.contains(p)) {
        gone.add(p);
      } else if (!live.contains(p)) {
        doubtful.add(p);
      }
    }
    gone.addAll(chunks.missing(doubtful));
    if (gone.isEmpty()) {
      return;
    }
    try (Lease lease = leases.take(Lease.Kind.PUSH, "gc: small-chunk index without deleted packs")) {
      smallChunks.merge(p -> !gone.contains(p), true);
    }
  }

  /** Deletes a batch, adding to {@code freed} the objects and bytes that this call removed. */
  /**
   * The gc lease, written before anything is deleted. On a full disk that write fails, and the disk is full when gc is
   * most wanted: the error says so, and how little room gc needs to go on.
   */
  private Lease takeLease(Duration grace) throws IOException {
    try {
      return leases.take(Lease.Kind.GC, "gc, grace " + grace);
    } catch (IOException e) {
      for (Throwable t = e; t != null; t = t.getCause()) {
        // a refused directory or file (no inode left) is a FileSystemException, whose message starts with the path
        String why = t instanceof java.nio.file.FileSystemException f ? f.getReason() : t.getMessage();
        if (io.ferry.error.FileErrors.outOfSpace(why)) {
          throw new IOException(e.getMessage() + "; gc writes its lease (a few hundred bytes) before it deletes"
              + " anything: free a few KiB on that disk (a file outside the store) and run gc again", e);
        }
      }
      throw e;
    }
  }

  private void delete(Lease lease, List<Candidate> batch, long[] freed) throws IOException {
    if (batch.isEmpty()) {
      return;
    }
    lease.checkHeld();
    for (Candidate c : batch) {
      if (chunks.deleteIfPresent(c.id())) {
        freed[0]++;
        freed[1] += c.size();
      }
    }
    batch.clear();
  }

  /**
   * Removes objects that a failed push created, except those another push may rely on: objects a live push lease
   * declared, and objects of versions published since this push began (a push that found one of them before it was
   * removed may have published already). Runs under a gc lease, so a push that has not declared yet waits for it and
   * then finds the object missing and writes it again. Failures are attached to {@code cause}; never throws.
   *
   * <p>When the push failed for good ({@code failed}) and the gc lease cannot be taken (a store out of room: a lease
   * is a new record, and an HDFS namespace quota counts files), the push's own lease is released first, which frees
   * its records, and the gc lease is taken again: a failed push needs its lease no more.
   *
   * @param own the failing push's own lease: its declarations do not count, and its start bounds "since"
   * @param failed whether the push has failed (else it goes on, holding {@code own}, and only abandons these objects)
   */
  void removeCreated(Collection<ChunkId> created, Lease own, Throwable cause, boolean failed) {
    if (created.isEmpty()) {
      return;
    }
    Lease taken;
    try {
      taken = leases.take(Lease.Kind.GC, "removing what a failed push wrote");
    } catch (IOException | RuntimeException e) {
      if (!failed) {
        cause.addSuppressed(e);
        return;
      }
      own.close();
      try {
        taken = leases.take(Lease.Kind.GC, "removing what a failed push wrote");
      } catch (IOException | RuntimeException again) {
        again.addSuppressed(e);
        cause.addSuppressed(again);
        return;
      }
    }
    try (Lease lease = taken) {
      Set<ChunkId> keep = new HashSet<>(leases.pushProtection(own.id()).ids());
      keep.addAll(objectsPublishedSince(own.started().minus(leases.skew()), created));
      lease.checkHeld();
      for (ChunkId id : created) {
        if (!keep.contains(id)) {
          chunks.delete(id);
        }
      }
    } catch (IOException | RuntimeException e) {
      cause.addSuppressed(e);
    }
  }

  /**
   * Objects of the versions that refs moved to at or after {@code since}, and of their ancestors made at or after it:
   * only those can reference an object created after {@code since}. Deleted refs count too (gc keeps what they named
   * for the grace period), except where they named a version among {@code created}: the failing command's own, which
   * it published and then took back (a copy whose tag could not follow its head's creation).
   */
  private Set<ChunkId> objectsPublishedSince(Instant since, Collection<ChunkId> created) throws IOException {
    Set<ChunkId> out = new HashSet<>();
    Set<ChunkId> seen = new HashSet<>();
    Deque<ChunkId> todo = new ArrayDeque<>();
    Set<ChunkId> own = new HashSet<>(created);
    for (String ref : refs.listLogged("")) {
      boolean deleted = refs.get(ref).isEmpty();
      List<RefLogEntry> log = refs.log(ref);
      for (int i = log.size() - 1; i >= 0 && !log.get(i).when().isBefore(since); i--) {
        ChunkId to = log.get(i).newId();
        if (to != null && !(deleted && own.contains(to))) {
          todo.add(to);
        }
      }
    }
    while (!todo.isEmpty()) {
      ChunkId vid = todo.pop();
      if (!seen.add(vid) || !chunks.contains(vid)) {
        continue;
      }
      Version v = db.version(vid);
      if (v.time().isBefore(since)) {
        continue;
      }
      out.add(vid);
      out.add(v.snapshot());
      out.addAll(v.packs());
      for (FileEntry f : db.snapshot(v.snapshot()).files()) {
        for (ChunkRef c : f.chunks()) {
          out.add(c.id());
        }
      }
      todo.addAll(v.parents());
    }
    return out;
  }
}
