package io.ferry.repo;

import io.ferry.id.ChunkId;
import io.ferry.lease.Lease;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.CasResult;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import io.ferry.pack.PackIndex;
import io.ferry.transfer.Copier;
import io.ferry.transfer.TransferListener;
import io.ferry.version.RefSpec;
import io.ferry.version.Version;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;

/**
 * A copy of a version (and the history the target lacks) from one repository to another, under a push lease on the
 * target: refuse a head it could not move before sending anything, send what the target lacks, declare it all, wait
 * while a gc deletes on the target, send again whatever it removed, then move the target's refs. A copy that fails
 * before its refs moved removes the objects it created in the target (as a failed push does), so the target is left
 * as it was.
 */
final class CopyOperation {
  private static final int RESEND_LIMIT = 3;

  private final Repository source;
  private final History sourceHistory;
  private final Repository target;
  private final ExecutorService pool;
  private final String author;
  private final RefUpdater targetUpdater;
  private final RefStore targetRefs;
  private final History targetHistory;
  private final GarbageCollector targetCollector;
  private final Resolver targetResolver;

  CopyOperation(Repository source, History sourceHistory, Repository target, ExecutorService pool, String author,
      RefUpdater targetUpdater, History targetHistory, GarbageCollector targetCollector, Resolver targetResolver) {
    this.source = source;
    this.targetResolver = targetResolver;
    this.sourceHistory = sourceHistory;
    this.target = target;
    this.targetCollector = targetCollector;
    this.pool = pool;
    this.author = author;
    this.targetUpdater = targetUpdater;
    this.targetRefs = target.backend().refs();
    this.targetHistory = targetHistory;
  }

  /**
   * Copies the version {@code refText} names, with every ancestor the target lacks, to another store, sending only
   * the objects the target does not hold; then moves the target's head of the model (if it is absent or an ancestor
   * of the version; left when it is on another history and a tag is copied; else {@link
   * io.ferry.error.ConflictException}, before anything is sent) and, for {@code model:tag}, the target's tag. Holds
   * a push lease on the target from the first object sent until its refs moved. A non-null {@code pinned} is the
   * version sent, which {@code refText} named when the caller resolved it.
   */
  Results.CopyResult copy(String refText, ChunkId pinned, boolean verify, TransferListener listener)
      throws IOException {
    RefSpec spec = RefSpec.parse(refText);
    VersionRef v = check(spec, pinned);
    String head = RefNames.head(spec.model());
    Copier copier = new Copier(source.objects(), target.backend().chunks(), pool, verify, listener);
    List<ChunkId> sent;
    try (Lease lease = target.leases().take(Lease.Kind.PUSH, "copy " + refText + " from " + source.uri())) {
      boolean headMoved = false;
      ChunkId[] headFrom = new ChunkId[1];
      boolean tagMoved = false; // a tag already at the version is not moved (NO_CHANGE) and not reported moved
      List<String> recorded = new ArrayList<>();
      try {
        try {
          sent = copier.copy(v.id());
          ensureCopied(copier, v.id(), sent, lease);
          if (verify) {
            checkTargetCopy(v);
          }
          recorded.addAll(indexPacks(copier.packsSent(), lease));
        } finally {
          listener.done();
        }
        headMoved = moveHead(spec, head, v.id(), lease, headFrom);
        if (spec.tag() != null) {
          tagMoved = targetUpdater.move(RefNames.tag(spec.model(), spec.tag()), v.id(), null, author, "copy from "
              + source.uri()).result() != io.ferry.store.CasResult.NO_CHANGE;
        }
      } catch (IOException | RuntimeException e) {
        if (headMoved) {
          // the tag could not follow (a full disk): the head goes back, so that the failed copy changed nothing
          moveHeadBack(spec, head, v.id(), headFrom[0], e);
        }
        targetCollector.removeCreated(copier.created(), lease, e, true);
        target.smallChunks().unrecord(recorded, e);
        throw e;
      }
      List<String> moved = new ArrayList<>();
      if (headMoved) {
        moved.add(head);
      }
      if (tagMoved) {
        moved.add(RefNames.tag(spec.model(), spec.tag()));
      }
      return new Results.CopyResult(v.id(), sent.size(), copier.objectsSent(), copier.bytesSent(), moved);
    }
  }

  /**
   * The checks a copy makes before it sends anything, so that a refused copy leaves the target as it was: the version
   * {@code spec} names exists in the source, the target lets the model be written, neither the model's name nor the
   * tag's differs only in case from one in the target, and (for a version, not a tag) the target's head of the model
   * is absent or on the version's history.
   *
   * @param pinned the version to send, resolved from {@code spec} earlier; null for the one {@code spec} names now
   * @return the version the copy sends
   * @throws io.ferry.error.ConflictException when the target's head is on another history and no tag is copied
   */
  VersionRef check(RefSpec spec, ChunkId pinned) throws IOException {
    VersionRef v = pinned == null ? source.resolve(spec) : new VersionRef(pinned, source.objects().version(pinned));
    // before the target's head is read: a server's token that may not write the model is told so, not that it may
    // not read the head
    targetRefs.checkWritable(spec.model());
    // as a push into the target: a name that differs only in case from one there would share its refs on a
    // case-insensitive file system
    targetResolver.checkNoCaseTwin(spec.model());
    targetResolver.checkNoTagCaseTwin(spec.model(), spec.tag());
    Optional<ChunkId> headBefore = targetRefs.get(RefNames.head(spec.model()));
    if (spec.tag() == null && headBefore.isPresent() && !headBefore.get().equals(v.id())
        && !targetHistory.isAncestor(v.id(), headBefore.get())
        && !sourceHistory.isAncestor(headBefore.get(), v.id())) {
      // the version's ancestors are the same objects in both stores: what the move would find after the copy
      throw headConflict(spec, headBefore.get(), v.id());
    }
    return v;
  }

  /**
   * Moves the target's head of the model to {@code version} when it is absent or an ancestor of it; leaves it when it
   * is the version or a descendant, or (for the copy of a tag) on another history. Returns whether it moved.
   *
   * @throws io.ferry.error.ConflictException when the head is on another history and no tag is copied
   */
  private boolean moveHead(RefSpec spec, String head, ChunkId version, Lease lease, ChunkId[] from)
      throws IOException {
    return targetUpdater.retrying("moving " + RefNames.asWritten(head) + " in " + target.uri(), () -> {
      Optional<ChunkId> cur = targetRefs.get(head);
      if (cur.isPresent() && (cur.get().equals(version) || targetHistory.isAncestor(version, cur.get()))) {
        return Optional.of(false);
      }
      if (cur.isPresent() && !targetHistory.isAncestor(cur.get(), version)) {
        if (spec.tag() != null) {
          return Optional.of(false); // a tag's copy moves the tag; the head, on another history, stays
        }
        throw headConflict(spec, cur.get(), version);
      }
      lease.checkHeld();
      CasResult r = targetUpdater.compareAndSet(head, cur.orElse(null), version, author, "copy from " + source.uri());
      from[0] = cur.orElse(null);
      return r.isSuccess() ? Optional.of(true) : Optional.empty();
    });
  }

  /**
   * With {@code --verify}: checks the version as the target now holds it, the objects the target already had included
   * (the copy sends only what it lacks, and a damaged copy there would otherwise be published as it is), before any
   * ref moves. The chunks just sent are checked again on the way.
   */
  private void checkTargetCopy(VersionRef v) throws IOException {
    Results.VerifyReport r = new Verifier(target.objects(), target.backend().refs(), pool, null)
        .verify(v, TransferListener.NONE);
    if (!r.errors().isEmpty()) {
      throw new io.ferry.error.CorruptObjectException(v.id(), target.uri(), "copy --verify found "
          + r.errors().size() + " damaged object(s) of this version in the target (a copy sends only what the target"
          + " lacks, and uses what it has): " + r.errors().get(0) + (r.errors().size() > 1 ? " (and more)" : "")
          + "; nothing was published (ferry verify --store " + target.uri() + " names them all; delete them there"
          + " and copy again)");
    }
  }

  /**
   * After the copy moved the target's head and then failed (its tag move): moves the head back to {@code from}. If
   * that fails too, the version stays published as the head, and the error says so and how to finish the copy instead
   * of the copy removing objects the head now needs.
   */
  private void moveHeadBack(RefSpec spec, String head, ChunkId version, ChunkId from, Exception cause)
      throws IOException {
    Optional<String> stuck = targetUpdater.moveBack(head, version, from, author, "copy undone: its tag could not be"
        + " moved");
    if (stuck.isPresent()) {
      String tag = spec.model() + ":" + spec.tag();
      throw new IOException("copy of " + tag + " into " + target.uri() + " is half done: version "
          + version.shortHex(12) + " is the head of " + spec.model() + " there, but moving " + tag + " failed ("
          + cause.getMessage() + "), and moving the head back failed (" + stuck.get() + "); to finish it: ferry tag "
          + tag + " " + version.hex() + " --store " + target.uri(), cause);
    }
  }

  /**
   * The refusal of a copy of a version whose history the target's head is not on. It names a tag of the source at the
   * version to copy instead, with the command (a run's {@code step-<N>} tag first: a checkpoint's target lists its
   * steps by them), when the source has one; a tag's copy moves only the tag.
   */
  private io.ferry.error.ConflictException headConflict(RefSpec spec, ChunkId head, ChunkId version) {
    String instead = "copy a tag instead";
    try {
      List<String> tags = new ArrayList<>();
      for (String ref : source.refsOf(spec.model()).getOrDefault(version, List.of())) {
        if (ref.contains(":")) {
          tags.add(ref);
        }
      }
      tags.sort(java.util.Comparator.comparing((String t) -> !t.startsWith(spec.model() + ":step-")));
      if (!tags.isEmpty()) {
        instead = "copy a tag of it instead, which moves only the tag: ferry copy " + tags.get(0) + " --to "
            + target.uri() + " --store " + source.uri();
      }
    } catch (IOException unread) {
      // the refusal stands without the example
    }
    return new io.ferry.error.ConflictException("head of " + spec.model() + " in " + target.uri() + " is "
        + head.shortHex(12) + ", which is not in the history of " + version.shortHex(12)
        + "; " + instead + ", or reconcile the histories; nothing was copied");
  }

  /**
   * Adds the packs the copy sent to the target's store-wide small-chunk index, as a push adds its own, so that later
   * pushes into the target find the copied small chunks; under the copy's lease, before any ref moves (a crash
   * between leaves entries for packs no version references, which lookups check and skip and gc removes).
   *
   * @return the keys of the delta records written, which a copy that then fails removes again
   */
  private List<String> indexPacks(Set<ChunkId> packs, Lease lease) throws IOException {
    if (packs.isEmpty()) {
      return List.of();
    }
    List<PackIndex> indexes = new ArrayList<>();
    for (ChunkId p : packs) {
      indexes.add(target.objects().packIndex(p));
    }
    lease.checkHeld();
    return target.smallChunks().record(indexes);
  }

  /** Ancestors of {@code version} (read in the source) that no ref of the target reaches; those it reaches end the walk. */
  private List<ChunkId> ancestorsNoRefReaches(Copier copier, ChunkId version) throws IOException {
    Set<ChunkId> reachable = targetHistory.reachable(List.of());
    List<ChunkId> out = new ArrayList<>();
    Set<ChunkId> seen = new java.util.HashSet<>();
    java.util.Deque<ChunkId> todo = new java.util.ArrayDeque<>(copier.sourceVersion(version).parents());
    while (!todo.isEmpty()) {
      ChunkId id = todo.pop();
      if (reachable.contains(id) || !seen.add(id)) {
        continue;
      }
      out.add(id);
      todo.addAll(copier.sourceVersion(id).parents());
    }
    return out;
  }

  /**
   * In this (the target) store, under {@code lease}: declares every object of the copied version and of the versions
   * just sent, waits for running gcs, and sends again whatever a gc removed in the meantime.
   */
  private void ensureCopied(Copier copier, ChunkId version, List<ChunkId> sent, Lease lease) throws IOException {
    Set<ChunkId> versions = new LinkedHashSet<>(sent);
    versions.add(version);
    // the ancestors the target held already, so were not sent, but that no target ref reaches (a removed model's
    // versions): a running gc may hold them as garbage, and the copied version needs them as its history
    versions.addAll(ancestorsNoRefReaches(copier, version));
    for (int attempt = 0; ; attempt++) {
      Set<ChunkId> needed = new LinkedHashSet<>();
      for (ChunkId vid : versions) {
        Version v = copier.sourceVersion(vid);
        needed.add(vid);
        needed.addAll(PushOperation.objectsOf(v.snapshot(), copier.sourceSnapshot(v), v.packs()));
      }
      lease.protect(needed);
      lease.awaitNoGc();
      if (target.backend().chunks().missing(needed).isEmpty()) {
        return;
      }
      if (attempt == RESEND_LIMIT) {
        throw new io.ferry.error.ConflictException("copy to " + target.uri() + ": objects kept disappearing under a concurrent gc"
            + " after " + RESEND_LIMIT + " attempts to send them again; no ref was moved");
      }
      copier.resend(new ArrayList<>(versions));
    }
  }
}
