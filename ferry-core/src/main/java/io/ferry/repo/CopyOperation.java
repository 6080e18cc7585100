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
 * target: send what the target lacks, declare it all, wait while a gc deletes on the target, send again whatever it
 * removed, then move the target's refs.
 */
final class CopyOperation {
  private static final int RESEND_LIMIT = 3;

  private final Repository source;
  private final Repository target;
  private final ExecutorService pool;
  private final String author;
  private final RefUpdater targetUpdater;
  private final RefStore targetRefs;
  private final History targetHistory;

  CopyOperation(Repository source, Repository target, ExecutorService pool, String author, RefUpdater targetUpdater,
      History targetHistory) {
    this.source = source;
    this.target = target;
    this.pool = pool;
    this.author = author;
    this.targetUpdater = targetUpdater;
    this.targetRefs = target.backend().refs();
    this.targetHistory = targetHistory;
  }

  /**
   * Copies the version {@code refText} names, with every ancestor the target lacks, to another store, sending only
   * the objects the target does not hold; then moves the target's head of the model (if it is absent or an ancestor
   * of the version; else {@link io.ferry.error.ConflictException}) and, for {@code model:tag}, the target's tag. Holds
   * a push lease on the target from the first object sent until its refs moved.
   */
  Results.CopyResult copy(String refText, boolean verify, TransferListener listener) throws IOException {
    RefSpec spec = RefSpec.parse(refText);
    VersionRef v = source.resolve(spec);
    Copier copier = new Copier(source.objects(), target.backend().chunks(), pool, verify, listener);
    List<ChunkId> sent;
    try (Lease lease = target.leases().take(Lease.Kind.PUSH, "copy " + refText + " from " + source.uri())) {
      try {
        sent = copier.copy(v.id());
        ensureCopied(copier, v.id(), sent, lease);
        indexPacks(copier.packsSent(), lease);
      } finally {
        listener.done();
      }
      List<String> moved = new ArrayList<>();
      String head = RefNames.head(spec.model());
      String why = "copy from " + source.uri();
      boolean headMoved = targetUpdater.retrying("moving " + head + " in " + target.uri(), () -> {
        Optional<ChunkId> cur = targetRefs.get(head);
        if (cur.isPresent() && (cur.get().equals(v.id()) || targetHistory.isAncestor(v.id(), cur.get()))) {
          return Optional.of(false);
        }
        if (cur.isPresent() && !targetHistory.isAncestor(cur.get(), v.id())) {
          throw new io.ferry.error.ConflictException("head of " + spec.model() + " in " + target.uri() + " is "
              + cur.get().shortHex(12) + ", which is not in the history of " + v.id().shortHex(12)
              + "; copy a tag instead, or reconcile the histories");
        }
        lease.checkHeld();
        CasResult r = targetUpdater.compareAndSet(head, cur.orElse(null), v.id(), author, why);
        return r.isSuccess() ? Optional.of(true) : Optional.empty();
      });
      if (headMoved) {
        moved.add(head);
      }
      if (spec.tag() != null) {
        targetUpdater.move(RefNames.tag(spec.model(), spec.tag()), v.id(), null, author, why);
        moved.add(RefNames.tag(spec.model(), spec.tag()));
      }
      return new Results.CopyResult(v.id(), sent.size(), copier.objectsSent(), copier.bytesSent(), moved);
    }
  }

  /**
   * Adds the packs the copy sent to the target's store-wide small-chunk index, as a push adds its own, so that later
   * pushes into the target find the copied small chunks; under the copy's lease, before any ref moves (a crash
   * between leaves entries for packs no version references, which lookups check and skip and gc removes).
   */
  private void indexPacks(Set<ChunkId> packs, Lease lease) throws IOException {
    if (packs.isEmpty()) {
      return;
    }
    List<PackIndex> indexes = new ArrayList<>();
    for (ChunkId p : packs) {
      indexes.add(target.objects().packIndex(p));
    }
    lease.checkHeld();
    target.smallChunks().record(indexes);
  }

  /**
   * In this (the target) store, under {@code lease}: declares every object of the copied version and of the versions
   * just sent, waits for running gcs, and sends again whatever a gc removed in the meantime.
   */
  private void ensureCopied(Copier copier, ChunkId version, List<ChunkId> sent, Lease lease) throws IOException {
    Set<ChunkId> versions = new LinkedHashSet<>(sent);
    versions.add(version);
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
        throw new io.ferry.error.ConflictException("copy to " + source.uri() + ": objects kept disappearing under a concurrent gc"
            + " after " + RESEND_LIMIT + " attempts to send them again; no ref was moved");
      }
      copier.resend(new ArrayList<>(versions));
    }
  }
}
