package io.ferry.repo;

import io.ferry.objects.ObjectDatabase;

import io.ferry.id.ChunkId;
import io.ferry.chunk.ChunkPlanner;
import io.ferry.dedup.SmallChunkIndex;
import io.ferry.error.InvalidInputException;
import io.ferry.error.NotFoundException;
import io.ferry.format.registry.FormatRegistry;
import io.ferry.lease.Lease;
import io.ferry.lease.Leases;
import io.ferry.repo.Results.PushResult;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.Backend;
import io.ferry.store.CasResult;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import io.ferry.transfer.Pusher;
import io.ferry.version.ChunkRef;
import io.ferry.version.Derivation;
import io.ferry.version.FileEntry;
import io.ferry.version.ObjectJson;
import io.ferry.version.RefSpec;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import io.ferry.version.VersionStats;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;

/**
 * A push: validate, store, then publish under a lease (see {@link Leases}): declare what the version references, wait
 * while a gc deletes, check it all exists (storing again what a gc removed), and move the head by compare-and-swap.
 * One instance per repository; thread-safe.
 */
final class PushOperation {
  /** How often a push stores its chunks again when a concurrent gc removed some before it could publish. */
  private static final int RESTAGE_LIMIT = 3;

  private final Backend backend;
  private final RefStore refs;
  private final ObjectDatabase db;
  private final ExecutorService pool;
  private final RepositoryOptions options;
  private final Leases leases;
  private final RefUpdater updater;
  private final Resolver resolver;
  private final GarbageCollector collector;
  private final SmallChunkIndex smallChunks;
  private final History history;

  PushOperation(Backend backend, ObjectDatabase db, ExecutorService pool, RepositoryOptions options, Leases leases,
      RefUpdater updater, Resolver resolver, GarbageCollector collector, SmallChunkIndex smallChunks,
      History history) {
    this.smallChunks = smallChunks;
    this.history = history;
    this.backend = backend;
    this.refs = backend.refs();
    this.db = db;
    this.pool = pool;
    this.options = options;
    this.leases = leases;
    this.updater = updater;
    this.resolver = resolver;
    this.collector = collector;
  }

  /** A push's target, {@code model} or {@code model:tag}. */
  static RefSpec target(String target) throws InvalidInputException {
    RefSpec spec = RefSpec.parse(target);
    if (spec.selectsVersion() || spec.path() != null) {
      throw new InvalidInputException("push target '" + target + "' must be a model or model:tag");
    }
    return spec;
  }

  /**
   * The store's checks of a push's target before anything is stored: the store lets the model be written, and neither
   * the model's name nor the tag's differs only in case from one the store has.
   */
  static void checkTarget(RefSpec spec, RefStore refs, Resolver resolver) throws IOException {
    // first: a server's token that may not write the model is told so, not that it may not read the model's head
    // (which the case checks read)
    refs.checkWritable(spec.model());
    resolver.checkNoCaseTwin(spec.model());
    resolver.checkNoTagCaseTwin(spec.model(), spec.tag());
  }

  /**
   * Pushes a file or directory as a new version of {@code target} ({@code model} or {@code model:tag}). Validates
   * everything first; stores the chunks the store lacks; then writes the snapshot and the version and moves the head
   * (and the tag) by compare-and-swap. If the content equals the head's, no version is made ({@code upToDate}); a
   * tag then moves to the head. A push with a derivation is up to date only if the head records the same one (and
   * the same derived-from version among its parents). A failed push removes what it stored and leaves the refs
   * untouched.
   *
   * <p>The push holds a lease from before its first write until its ref moved, so that gc keeps what it writes and
   * reuses, however long it runs (see {@link Leases}).
   */
  PushResult push(Path source, String target, PushOptions opts) throws IOException {
    RefSpec spec = target(target);
    PushLimits.checkOptions(spec.model(), opts, opts.author() != null ? opts.author() : options.author());
    checkTarget(spec, refs, resolver);
    VersionRef derivedFrom = null;
    if (opts.derivedFrom() != null) {
      try {
        derivedFrom = resolver.resolve(opts.derivedFrom());
      } catch (io.ferry.error.NotFoundException e) {
        // said of the version it derives from: the target of a push need not exist, so "no model" alone misleads
        throw new io.ferry.error.NotFoundException("derived from " + opts.derivedFrom() + ": " + e.getMessage());
      }
    }
    try (Lease lease = leases.take(Lease.Kind.PUSH, "push " + target)) {
      // with files stored by others, the source holds only part of the model: checks that span files (a Hugging Face
      // index against its shards) cannot run on it, and the caller vouches for them (see PushOptions#stored)
      FormatRegistry standard = FormatRegistry.standard();
      FormatRegistry formats = opts.stored().isEmpty() ? standard : FormatRegistry.of(standard.formats(), List.of());
      if (opts.opaque() != null) {
        formats = formats.withOpaque(opts.opaque()::test);
      }
      Pusher pusher = new Pusher(db, ChunkPlanner.standard(), formats, pool, opts.codec(), opts.listener(),
          (created, cause) -> collector.removeCreated(created, lease, cause, true));
      Set<ChunkId> lineage = derivedFrom == null ? Set.of() : lineageNeeds(opts.derivedFrom(), derivedFrom);
      Pusher.Prepared prepared = pusher.prepare(source, backend.localDirectory().map(List::of).orElse(List.of()),
          opts.files());
      PushLimits.checkSource(prepared);
      Set<ChunkId> candidatePacks = new TreeSet<>();
      // refs whose log reads: a damaged tag (verify names it) only takes its packs out of the dedup candidates
      for (String ref : resolver.readableModelRefs(spec.model())) {
        Optional<ChunkId> id = refs.get(ref);
        if (id.isPresent()) {
          candidatePacks.addAll(db.version(id.get()).packs());
        }
      }
      if (derivedFrom != null) {
        candidatePacks.addAll(derivedFrom.version().packs());
      }
      // small chunks of other models: the store-wide index, loaded once for this push (docs/small-chunk-index.md)
      SmallChunkIndex.View index = smallChunks.load();
      Pusher.Staged staged = withStored(pusher.store(prepared, db.locator(candidatePacks), index::locate), opts);
      List<ChunkId> created = new ArrayList<>(staged.created());
      List<String> recorded = new ArrayList<>();
      try {
        recorded.addAll(recordPacks(staged));
        for (int restage = 0; ; restage++) {
          Optional<PushResult> r = publish(spec, staged, opts, derivedFrom, lineage, lease, created);
          if (r.isPresent()) {
            return r.get();
          }
          if (restage == RESTAGE_LIMIT) {
            throw new io.ferry.error.ConflictException("push to " + target + ": objects kept disappearing under a concurrent"
                + " gc in " + backend.uri() + " after " + RESTAGE_LIMIT + " attempts to store them again; nothing was"
                + " published");
          }
          // a concurrent gc removed objects this push relies on: store them again, into new packs
          Pusher.Staged again = withStored(pusher.store(prepared, db.locator(Set.of()), Pusher.IndexLookup.NONE),
              opts);
          created.addAll(again.created());
          recorded.addAll(recordPacks(again));
          if (!again.snapshotId().equals(staged.snapshotId())) {
            throw new InvalidInputException("push to " + target + ": the source changed while it was pushed (its"
                + " snapshot was " + staged.snapshotId().shortHex(12) + ", now " + again.snapshotId().shortHex(12)
                + "); nothing was published");
          }
          staged = again;
        }
      } catch (IOException | RuntimeException e) {
        pusher.rollback(created, e);
        smallChunks.unrecord(recorded, e);
        throw e;
      }
    } finally {
      opts.listener().done();
    }
  }

  /**
   * The staged snapshot with the files others stored ({@link PushOptions#stored()}) added, and their packs; the
   * snapshot object is written again when that changes it. A file of the same path in both is refused.
   */
  private Pusher.Staged withStored(Pusher.Staged staged, PushOptions opts) throws IOException {
    if (opts.stored().isEmpty() && opts.storedPacks().isEmpty()) {
      return staged;
    }
    List<FileEntry> files = new ArrayList<>(staged.snapshot().files());
    for (FileEntry f : opts.stored()) {
      if (staged.snapshot().file(f.path()).isPresent()) {
        throw new InvalidInputException("push: file '" + f.path() + "' is both in the source and among the files"
            + " already stored; nothing was published");
      }
      files.add(f);
    }
    Snapshot s = new Snapshot(files);
    byte[] json = ObjectJson.toJson(s);
    ObjectDatabase.Written w = db.writeObject(json);
    List<ChunkId> created = new ArrayList<>(staged.created());
    long storedBytes = staged.newStoredBytes();
    if (w.created()) {
      created.add(w.id());
      storedBytes += w.size();
    }
    Set<ChunkId> packs = new TreeSet<>(staged.packs());
    packs.addAll(opts.storedPacks());
    return new Pusher.Staged(w.id(), s, new ArrayList<>(packs), created, storedBytes, staged.newChunks(),
        staged.written());
  }

  /**
   * Adds the packs a push wrote to the store-wide small-chunk index (a delta of its own), and merges the deltas into
   * a new base when enough wait. Runs under the push's lease, before the version is published: a crash after it
   * leaves index entries for packs no version references, which later pushes check and skip, and which gc removes
   * with the packs. A merge's base is written under the lease too, so gc keeps it until its pointer names it. Returns
   * the delta records written, which a push that then fails removes.
   */
  private List<String> recordPacks(Pusher.Staged staged) throws IOException {
    return smallChunks.record(staged.written());
  }

  /**
   * Makes the version and moves the head, retrying lost races. Empty if objects the version references went missing
   * (a concurrent gc removed them before this push declared them): the caller stores them again.
   */
  /**
   * The log length of a new version of {@code model} with these parents: one more than its first parent's when that
   * parent is the model's head (whatever name the head's version was pushed under: a model renamed by {@code mv} keeps
   * its history) or another version of the model (a detached derivation), else 1 (a derivation into a new model).
   */
  private long logLength(String model, List<ChunkId> parents, ChunkId headId, Version head, VersionRef derivedFrom)
      throws IOException {
    if (parents.isEmpty()) {
      return 1;
    }
    ChunkId first = parents.get(0);
    Version v = first.equals(headId) ? head : derivedFrom.version();
    return first.equals(headId) || v.model().equals(model) ? history.versionCount(first, v) + 1 : 1;
  }

  private Optional<PushResult> publish(RefSpec spec, Pusher.Staged staged, PushOptions opts, VersionRef derivedFrom,
      Set<ChunkId> lineage, Lease lease, List<ChunkId> created) throws IOException {
    String headRef = RefNames.head(spec.model());
    String author = opts.author() != null ? opts.author() : options.author();
    String why = "push: " + firstLine(opts.message());
    Set<ChunkId> content = objectsOf(staged.snapshotId(), staged.snapshot(), staged.packs());
    lease.protect(content);
    boolean[] gone = new boolean[1];
    PushResult result = updater.retrying("pushing " + spec.model(), () -> {
      Optional<ChunkId> head = refs.get(headRef);
      Version parent = head.isPresent() ? db.version(head.get()) : null;
      if (opts.tagOnce() && spec.tag() != null) {
        Optional<ChunkId> tagged = refs.get(RefNames.tag(spec.model(), spec.tag()));
        if (tagged.isPresent()) {
          Version there = db.version(tagged.get());
          if (there.snapshot().equals(staged.snapshotId())) {
            return Optional.of(new PushResult(tagged.get(), there, true, staged.newStoredBytes(), staged.newChunks()));
          }
          throw new InvalidInputException(spec.model() + ":" + spec.tag() + " already exists in "
              + backend.uri() + " (version " + tagged.get().shortHex(12) + ", snapshot " + there.snapshot().shortHex(12)
              + ") with other content than this push's (snapshot " + staged.snapshotId().shortHex(12)
              + "); nothing was published");
        }
      }
      if (parent != null && parent.snapshot().equals(staged.snapshotId())
          && sameDerivation(parent, opts.derivation(), derivedFrom) && !opts.detached()) {
        if (spec.tag() != null) {
          updater.move(RefNames.tag(spec.model(), spec.tag()), head.get(), null, author, "push: up to date");
        }
        return Optional.of(new PushResult(head.get(), parent, true, staged.newStoredBytes(), staged.newChunks()));
      }
      List<ChunkId> parents = new ArrayList<>();
      if (!opts.detached()) {
        head.ifPresent(parents::add);
      }
      if (derivedFrom != null && !parents.contains(derivedFrom.id())) {
        parents.add(derivedFrom.id());
      }
      Snapshot s = staged.snapshot();
      Version v = new Version(staged.snapshotId(), parents, spec.model(), opts.message(), author,
          options.clock().instant(), parent == null ? 1 : parent.seq() + 1,
          logLength(spec.model(), parents, head.orElse(null), parent, derivedFrom), staged.packs(),
          new VersionStats(s.logicalBytes(), staged.newStoredBytes(), staged.newChunks(), s.files().size(),
              s.tensorCount()), opts.metadata(), opts.derivation());
      byte[] json = ObjectJson.toJson(v);
      PushLimits.checkVersionJson(spec.model(), json);
      ObjectDatabase.Written w = db.writeObject(json);
      if (w.created()) {
        created.add(w.id());
      }
      Set<ChunkId> own = new LinkedHashSet<>(parents);
      own.add(w.id());
      own.addAll(lineage);
      lease.protect(own);
      // every object the version references exists now, and no gc that could have missed a declaration is running
      lease.awaitNoGc();
      List<ChunkId> all = new ArrayList<>(content);
      all.addAll(own);
      List<ChunkId> missing = backend.chunks().missing(all);
      if (lineage.stream().anyMatch(missing::contains)) {
        abandon(w, created, lease);
        throw derivedFromGone(opts.derivedFrom(), derivedFrom);
      }
      if (missing.contains(w.id()) || parents.stream().anyMatch(missing::contains)) {
        abandon(w, created, lease);
        return Optional.empty(); // the head moved on and gc took the old one, or our version: read and write again
      }
      if (!missing.isEmpty()) {
        abandon(w, created, lease);
        gone[0] = true;
        return Optional.of(new PushResult(null, v, false, 0, 0));
      }
      lease.checkHeld();
      CasResult r = updater.compareAndSet(headRef, head.orElse(null), w.id(), author, why);
      if (!r.isSuccess()) {
        abandon(w, created, lease);
        return Optional.empty();
      }
      if (spec.tag() != null && !moveTag(spec, opts, headRef, head.orElse(null), w, author, why)) {
        abandon(w, created, lease);
        return Optional.empty(); // another push took the tag meanwhile: the next attempt reports it
      }
      // the figures the version records, so that push and show report the same bytes
      return Optional.of(new PushResult(w.id(), v, false, v.stats().newStoredBytes(), v.stats().newChunks()));
    });
    return gone[0] ? Optional.empty() : Optional.of(result);
  }

  /**
   * What the derived-from version {@code from} (resolved from {@code refText}) needs kept while this push publishes:
   * its own objects, and when no ref of its model reaches it (a removed version only a ref log names), everything of
   * it and of its ancestors that no ref reaches, which a running gc may hold as garbage (as for a tag onto it).
   */
  private Set<ChunkId> lineageNeeds(String refText, VersionRef from) throws IOException {
    try {
      Version v = from.version();
      Set<ChunkId> out = new LinkedHashSet<>(objectsOf(v.snapshot(), db.snapshot(v.snapshot()), v.packs()));
      out.add(from.id());
      if (!history.reachedBy(resolver.readableModelRefs(RefSpec.parse(refText).model()), from.id())) {
        out.addAll(history.notReachedByRefs(from.id()));
      }
      return out;
    } catch (io.ferry.error.MissingObjectException e) {
      throw derivedFromGone(refText, from);
    }
  }

  private NotFoundException derivedFromGone(String refText, VersionRef from) {
    return new NotFoundException("push --derived-from " + refText + ": version " + from.id().shortHex(12)
        + " cannot be a parent: gc removed it (or what it needs) since a ref moved off it; nothing was published");
  }

  /**
   * Moves the push's tag to the version the head now points at. A tag set once ({@link PushOptions#tagOnce}, a
   * checkpoint's step) is created only if still absent: another push may have created it since this attempt looked.
   * When the tag cannot be set, the head is moved back, so that a failed push leaves the refs as they were; only if
   * that fails too is the push reported as half done, naming both refs and the command that finishes it.
   *
   * @return false when another push created the once-set tag meanwhile and the head is back where it was (the caller
   *     abandons the version and tries again, which reports the tag as taken)
   */
  private boolean moveTag(RefSpec spec, PushOptions opts, String headRef, ChunkId oldHead, ObjectDatabase.Written w,
      String author, String why) throws IOException {
    String tagRef = RefNames.tag(spec.model(), spec.tag());
    IOException failure;
    try {
      if (!opts.tagOnce()) {
        updater.move(tagRef, w.id(), null, author, why);
        return true;
      }
      if (updater.compareAndSet(tagRef, null, w.id(), author, why).isSuccess()) {
        return true;
      }
      failure = null;
    } catch (IOException e) {
      failure = e;
    } catch (RuntimeException e) {
      failure = new IOException(e.toString(), e);
    }
    String tag = spec.model() + ":" + spec.tag();
    String undo = "push undone: " + (failure == null ? tag + " was taken meanwhile" : "moving " + tag + " failed");
    Optional<String> stuck = updater.moveBack(headRef, w.id(), oldHead, author, undo);
    if (stuck.isEmpty() && failure == null) {
      return false;
    }
    if (stuck.isEmpty()) {
      throw new IOException(failure.getMessage() + "; the head of " + spec.model() + " was moved back: nothing was"
          + " published", failure);
    }
    throw new IOException("push to " + tag + " in " + backend.uri() + " is half done: version " + w.id().shortHex(12)
        + " is the head of " + spec.model() + ", but " + (failure == null ? "another push created " + tag
            + " meanwhile" : "moving " + tag + " failed (" + failure.getMessage() + ")")
        + ", and moving the head back failed (" + stuck.get() + ")" + (failure == null ? ""
            : "; to finish it: ferry tag " + tag + " " + w.id().hex()), failure);
  }

  /**
   * Removes a version object this attempt wrote and will not publish (it lost the race, or its content must be
   * stored again), so that a push that lands leaves no stray version behind. Under the same rules as a failed push's
   * cleanup; never throws.
   */
  private void abandon(ObjectDatabase.Written w, List<ChunkId> created, Lease lease) {
    if (w.created() && created.remove(w.id())) {
      IOException quiet = new IOException("abandoned version " + w.id());
      collector.removeCreated(List.of(w.id()), lease, quiet, false);
    }
  }

  /** The objects a version with this snapshot and these packs references, besides itself and its parents. */
  static Set<ChunkId> objectsOf(ChunkId snapshotId, Snapshot s, List<ChunkId> packs) {
    Set<ChunkId> out = new LinkedHashSet<>();
    out.add(snapshotId);
    out.addAll(packs);
    for (FileEntry f : s.files()) {
      for (ChunkRef c : f.chunks()) {
        if (c.length() >= ObjectDatabase.PACK_THRESHOLD) {
          out.add(c.id());
        }
      }
    }
    return out;
  }

  private static String firstLine(String s) {
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  /**
   * Whether a push with {@code derivation} (null for none) and this push's derived-from version records nothing that
   * {@code head} does not: the same derivation record, and the same version derived from among its parents. Running
   * the same derivation again is then up to date, like pushing the same files again.
   */
  private static boolean sameDerivation(Version head, Derivation derivation, VersionRef derivedFrom) {
    if (derivation == null) {
      return true;
    }
    return derivation.equals(head.derivation()) && (derivedFrom == null || head.parents().contains(derivedFrom.id()));
  }
}
