package io.ferry.repo;

import io.ferry.transfer.PullOptions;

import io.ferry.objects.ObjectDatabase;

import io.ferry.id.ChunkId;
import io.ferry.codec.Codecs;
import io.ferry.dedup.SmallChunkIndex;
import io.ferry.error.ConflictException;
import io.ferry.error.InvalidInputException;
import io.ferry.error.NotFoundException;
import io.ferry.lease.Lease;
import io.ferry.lease.Leases;
import io.ferry.read.ModelReader;
import io.ferry.repo.Results.Diff;
import io.ferry.repo.Results.GcReport;
import io.ferry.repo.Results.ModelSummary;
import io.ferry.repo.Results.PushResult;
import io.ferry.repo.Results.StoreStats;
import io.ferry.repo.Results.TagResult;
import io.ferry.repo.Results.VerifyReport;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.Backend;
import io.ferry.store.CasResult;
import io.ferry.store.ChunkStore;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import io.ferry.transfer.Puller;
import io.ferry.transfer.TransferListener;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.RefSpec;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A Ferry store: models, versions, tags and their history over one {@link Backend}. A thin facade (as JGit's {@code
 * Git} is over its commands): resolution ({@link Resolver}), history ({@link History}), ref moves ({@link RefUpdater}),
 * diff ({@link Differ}), gc ({@link GarbageCollector}) and the transfers each live in their own class. Thread-safe.
 * Owns a pool of worker threads, the leases it takes, the backend and small caches; close it to release them.
 *
 * <p>Writes follow one order: chunks, then snapshot, then version, then a compare-and-swap of the ref. A version is
 * visible only once its ref moved, so a crash at any point leaves the store valid (at worst with unreferenced objects
 * that {@link #gc} removes). A push or copy holds a lease ({@link Leases}) from its first write until its ref moved,
 * and publishes only after making sure, under that lease, that every object its version references exists.
 */
public final class Repository implements Closeable {
  private final Backend backend;
  private final RefStore refs;
  private final ObjectDatabase db;
  private final ExecutorService pool;
  private final RepositoryOptions options;
  private final Leases leases;
  private final RefUpdater updater;
  private final Resolver resolver;
  private final History history;
  private final GarbageCollector collector;
  private final PushOperation pushes;
  private final SmallChunkIndex smallChunks;

  private Repository(Backend backend, RepositoryOptions options) {
    this.backend = backend;
    this.refs = backend.refs();
    this.options = options;
    this.db = new ObjectDatabase(backend.chunks(), new Codecs(options.zstdLevel()));
    this.pool = Executors.newFixedThreadPool(options.parallelism(),
        io.ferry.concurrent.DaemonThreads.named("ferry-worker"));
    this.leases = new Leases(backend.records(), options.clock(), options.leases(), options.author(),
        options.notices());
    this.updater = new RefUpdater(refs, options.clock(), options.retry());
    this.history = new History(db, refs);
    this.resolver = new Resolver(db, refs, history, backend.uri());
    this.smallChunks = new SmallChunkIndex(db, backend.records(), SmallChunkIndex.DEFAULT_MERGE_THRESHOLD);
    this.collector = new GarbageCollector(db, backend.chunks(), refs, history, leases, options.clock(), smallChunks,
        options.notices());
    this.pushes = new PushOperation(backend, db, pool, options, leases, updater, resolver, collector, smallChunks,
        history);
  }

  /** Opens a repository over a backend; the repository owns and closes it. */
  public static Repository open(Backend backend, RepositoryOptions options) {
    return new Repository(backend, options);
  }

  /**
   * The repository's worker pool, for work done on its behalf (a derivation's tensors); shut down when the repository
   * closes. Tasks must not wait for other tasks of this pool.
   */
  public java.util.concurrent.Executor workers() {
    return pool;
  }

  public Backend backend() {
    return backend;
  }

  public ObjectDatabase objects() {
    return db;
  }

  /** Where the store is. */
  public String uri() {
    return backend.uri();
  }

  /** The store-wide index of small chunks that pushes consult (for tools, benchmarks and tests). */
  public SmallChunkIndex smallChunks() {
    return smallChunks;
  }

  /** The store's leases: what running pushes and gcs hold (for tools and tests). */
  public Leases leases() {
    return leases;
  }

  // ---------------------------------------------------------------- push

  /**
   * Pushes a file or directory as a new version of {@code target} ({@code model} or {@code model:tag}). Validates
   * everything first; stores the chunks the store lacks; then writes the snapshot and the version and moves the head
   * (and the tag) by compare-and-swap. If the content equals the head's, no version is made ({@code upToDate}); a
   * tag then moves to the head. A failed push removes what it stored and leaves the refs untouched.
   *
   * <p>The push holds a lease from before its first write until its ref moved, so that gc keeps what it writes and
   * reuses, however long it runs (see {@link Leases} and {@link PushOperation}).
   */
  public PushResult push(Path source, String target, PushOptions opts) throws IOException {
    Objects.requireNonNull(source, "source");
    Objects.requireNonNull(opts, "opts");
    return pushes.push(source, target, opts);
  }

  // ---------------------------------------------------------------- resolve, log, ls

  /** Resolves {@code name}, {@code name:tag} or {@code name@prefix} to a version. */
  public VersionRef resolve(String text) throws IOException {
    return resolver.resolve(text);
  }

  /** Resolves a parsed ref. */
  public VersionRef resolve(RefSpec spec) throws IOException {
    return resolver.resolve(spec);
  }

  /**
   * The history of a ref, newest first, following first parents, at most {@code limit} versions.
   *
   * @throws InvalidInputException if {@code limit} is negative (zero lists nothing)
   */
  public List<VersionRef> log(String refText, int limit) throws IOException {
    if (limit < 0) {
      throw new InvalidInputException("log limit " + limit + " is negative; give the number of versions to list, or "
          + Integer.MAX_VALUE + " for all");
    }
    return history.firstParents(resolve(refText), limit);
  }

  /**
   * The refs of a model as users write them ({@code model} for its head, {@code model:tag} for each tag), grouped by
   * the version they point at; head first, then tags by name. Empty for a model without refs.
   */
  public Map<ChunkId, List<String>> refsOf(String model) throws IOException {
    return history.refsOf(RefNames.checkModel(model));
  }

  /**
   * Every model with its head, tags, size and number of versions, sorted by name. A model's number of versions is the
   * number of versions {@link #log} lists from its head: the head's first-parent history within the model.
   */
  public List<ModelSummary> models() throws IOException {
    return history.models(null, null);
  }

  /**
   * {@link #models()}, leaving out the refs whose logs are damaged, each given to {@code damagedLog} instead of ending
   * the listing: the other models are still listed (a model whose head log is damaged shows its tags only).
   */
  public List<ModelSummary> models(java.util.function.Consumer<io.ferry.error.CorruptRefException> damagedLog)
      throws IOException {
    return history.models(java.util.Objects.requireNonNull(damagedLog, "damagedLog"), null);
  }

  /**
   * {@link #models(java.util.function.Consumer)}, also listing a model whose head version, or a version of its
   * history, is damaged or missing: with its head and tags, and {@link ModelSummary#UNKNOWN} size or count, the
   * error (naming the model, the object and the store) given to {@code damagedVersion} instead of ending the listing.
   */
  public List<ModelSummary> models(java.util.function.Consumer<io.ferry.error.CorruptRefException> damagedLog,
      java.util.function.Consumer<io.ferry.error.FerryException> damagedVersion) throws IOException {
    return history.models(java.util.Objects.requireNonNull(damagedLog, "damagedLog"),
        java.util.Objects.requireNonNull(damagedVersion, "damagedVersion"));
  }

  /**
   * Refs the store holds but cannot read (a local store's ref log that is not a file): {@link #models()} leaves their
   * models out, {@code verify} reports them as damage and {@code gc} stops at them.
   */
  public List<String> unreadableRefs() throws IOException {
    return refs.unreadable();
  }

  /** The log of a ref (oldest first). */
  public List<RefLogEntry> refLog(String refName) throws IOException {
    return refs.log(RefNames.checkRef(refName));
  }

  // ---------------------------------------------------------------- tags

  /**
   * Points {@code model:tag} at the version {@code target} resolves to. With {@code expect}, the move is a
   * compare-and-swap against that version id; a mismatch or a lost race throws {@link
   * io.ferry.error.ConflictException}.
   */
  public TagResult tag(String target, String tag, ChunkId expect) throws IOException {
    VersionRef v = resolve(target);
    String model = RefSpec.parse(target).model();
    String ref = RefNames.tag(model, RefNames.checkTag(tag));
    resolver.checkNoTagCaseTwin(model, tag);
    return moveToVersion(model, ref, v.id(), expect, "tag " + tag + " -> " + v.id().shortHex(12));
  }

  /**
   * Points {@code ref} of {@code model} at the version {@code to}, as {@link RefUpdater#move} does. A version that no
   * ref reaches now (one a ref log names: a removed version, a tag's earlier target) may be a candidate of a gc
   * running at this moment, which marked before this move and deletes after it: such a move is made as a push
   * publishes (see {@link Leases}), under a push lease that declares the version and everything of it and of its
   * ancestors that no ref reaches, after waiting for running gcs and checking all of it still exists.
   *
   * <p>A version that a ref reaches may stop being reached before the move (the ref is deleted or moves): the move
   * is made under a push lease all the same, taken before what refs reach is read, and a gc that reads that lease
   * keeps what ref-log entries made since it began name; what refs reach is read only once no gc that may have
   * missed the lease is deleting.
   *
   * @throws NotFoundException if gc removed the version or part of what it needs; nothing changed then
   */
  private TagResult moveToVersion(String model, String ref, ChunkId to, ChunkId expect, String why)
      throws IOException {
    try (Lease lease = leases.take(Lease.Kind.PUSH, why)) {
      try {
        lease.awaitNoGc();
        Set<ChunkId> needed = history.reachedBy(resolver.readableModelRefs(model), to) ? Set.of()
            : history.notReachedByRefs(to);
        lease.protect(needed);
        lease.awaitNoGc();
        List<ChunkId> missing = backend.chunks().missing(new ArrayList<>(needed));
        if (!missing.isEmpty()) {
          throw new io.ferry.error.MissingObjectException(missing.get(0), backend.uri());
        }
      } catch (io.ferry.error.MissingObjectException e) {
        throw new NotFoundException(RefNames.modelOf(ref) + ": version " + to.shortHex(12) + " cannot be pointed at:"
            + " gc removed it (or what it needs) since a ref moved off it; nothing changed");
      }
      lease.checkHeld();
      return updater.move(ref, to, expect, options.author(), why);
    }
  }

  /**
   * Deletes the tag {@code model:tag}; with {@code expect}, only if it points at that version (else {@link
   * io.ferry.error.ConflictException}). The tag's log is kept, so gc keeps what it pointed at for its grace period
   * and {@code reflog} still shows it.
   *
   * @throws io.ferry.error.NotFoundException if there is no such tag
   */
  public TagResult untag(String modelTag, ChunkId expect) throws IOException {
    RefSpec spec = RefSpec.parse(modelTag);
    if (spec.tag() == null || spec.selectsVersion() || spec.path() != null) {
      throw new InvalidInputException("tag -d takes model:tag, not '" + modelTag + "'");
    }
    String ref = spec.refName();
    Optional<ChunkId> cur = refs.get(ref);
    if (cur.isEmpty()) {
      if (refs.get(RefNames.head(spec.model())).isEmpty() && resolver.tagNames(spec.model()).isEmpty()) {
        throw resolver.noModel(spec.model());
      }
      throw resolver.noTag(spec.model(), spec.tag());
    }
    if (expect != null && !expect.equals(cur.get())) {
      throw new ConflictException(modelTag + " points at " + cur.get().hex() + ", not at the expected "
          + expect.hex() + "; nothing changed");
    }
    CasResult r = updater.compareAndSet(ref, cur.get(), null, options.author(), "tag -d " + spec.tag());
    if (!r.isSuccess()) {
      throw new ConflictException(RefNames.asWritten(ref) + " moved while it was being deleted; nothing changed");
    }
    return new TagResult(ref, cur.get(), null, r);
  }

  /**
   * Removes a model: deletes its tags and its head (their logs are kept). What only it referenced becomes garbage
   * that gc removes once the grace period has passed. Without {@code force}, refuses while the model has tags or
   * another model's versions derive from its versions, naming them; nothing is deleted then.
   *
   * @return the refs deleted with the versions they pointed at
   * @throws io.ferry.error.NotFoundException if there is no such model
   */
  public Map<String, ChunkId> removeModel(String model, boolean force) throws IOException {
    RefSpec spec = RefSpec.parse(model);
    if (spec.tag() != null || spec.selectsVersion() || spec.path() != null) {
      throw new InvalidInputException("rm takes a model name, not '" + model + "'");
    }
    ModelSummary summary = null;
    List<ModelSummary> all = models();
    for (ModelSummary m : all) {
      if (m.model().equals(spec.model())) {
        summary = m;
      }
    }
    if (summary == null) {
      throw resolver.noModel(spec.model());
    }
    if (!force) {
      if (!summary.tags().isEmpty()) {
        throw new InvalidInputException("model '" + spec.model() + "' still has tags " + String.join(", ",
            summary.tags().keySet()) + ": delete them first (ferry tag -d " + spec.model() + ":"
            + summary.tags().keySet().iterator().next() + ") or remove it with --force; nothing was removed");
      }
      List<String> dependents = derivedModels(summary, all);
      if (!dependents.isEmpty()) {
        throw new InvalidInputException("model '" + spec.model() + "' has versions that " + String.join(", ",
            dependents) + " derive from; remove with --force to keep them only as those models' history; nothing"
            + " was removed");
      }
    }
    Map<String, ChunkId> removed = new LinkedHashMap<>();
    for (Map.Entry<String, ChunkId> t : summary.tags().entrySet()) {
      String ref = RefNames.tag(spec.model(), t.getKey());
      if (updater.compareAndSet(ref, t.getValue(), null, options.author(), "rm " + spec.model()).isSuccess()) {
        removed.put(spec.model() + ":" + t.getKey(), t.getValue());
      } else {
        throw new ConflictException(RefNames.asWritten(ref) + " moved during rm; removed so far: " + removed.keySet());
      }
    }
    if (summary.head() != null) {
      String ref = RefNames.head(spec.model());
      if (updater.compareAndSet(ref, summary.head(), null, options.author(), "rm " + spec.model()).isSuccess()) {
        removed.put(spec.model(), summary.head());
      } else {
        throw new ConflictException(RefNames.asWritten(ref) + " moved during rm; removed so far: " + removed.keySet());
      }
    }
    return removed;
  }

  /**
   * Removes one version from its model ({@code model@id}): the head, when it points at it, moves back to its parent in
   * the model (or is deleted when the model starts there); with {@code force}, tags pointing at it are deleted too.
   * What only it used becomes garbage that gc removes after the grace period; the moved refs keep their logs. Refuses,
   * changing nothing, when a newer version builds on it, when a tag points at it (without force), or when another
   * model derives from it (without force: with it, the version stays as that model's history).
   *
   * @return the refs moved or deleted, with their old and new targets
   * @throws io.ferry.error.NotFoundException if no such version, or no ref of the model holds it
   * @throws ConflictException if a ref moved meanwhile (the message says which refs were already moved)
   */
  public List<TagResult> removeVersion(String modelAtId, boolean force) throws IOException {
    return new ModelRefMoves(db, refs, updater, resolver, history, options.author())
        .removeVersion(modelAtId, force);
  }

  /**
   * Renames a model: its head and tags are created under {@code to} (from "must not exist") and then deleted under
   * {@code from}; every ref log entry of the move says {@code mv FROM TO}. Versions keep the model name they were
   * pushed under. Refuses, changing nothing, when {@code to} exists. A crash leaves either name usable: {@code from}
   * whole until {@code to}'s head is created, {@code to} whole after it.
   *
   * @return the refs created, then those deleted
   */
  public List<TagResult> renameModel(String from, String to) throws IOException {
    return new ModelRefMoves(db, refs, updater, resolver, history, options.author()).rename(from, to);
  }

  /** The other models that have a version of {@code model} in their history (derivation or parent). */
  private List<String> derivedModels(ModelSummary model, List<ModelSummary> all) throws IOException {
    List<ChunkId> tips = new ArrayList<>(model.tags().values());
    if (model.head() != null) {
      tips.add(0, model.head());
    }
    Set<ChunkId> own = history.ownVersions(model.model(), tips);
    List<String> out = new ArrayList<>();
    for (ModelSummary m : all) {
      if (m.model().equals(model.model())) {
        continue;
      }
      Deque<ChunkId> walk = new ArrayDeque<>();
      if (m.head() != null) {
        walk.add(m.head());
      }
      walk.addAll(m.tags().values());
      Set<ChunkId> seen = new HashSet<>();
      boolean depends = false;
      while (!walk.isEmpty() && !depends) {
        ChunkId id = walk.pop();
        if (!seen.add(id)) {
          continue;
        }
        if (own.contains(id)) {
          depends = true;
          break;
        }
        Version v = db.version(id);
        walk.addAll(v.parents());
        if (v.derivation() != null && v.derivation().source() != null && ChunkId.isValid(v.derivation().source())) {
          walk.add(ChunkId.parse(v.derivation().source()));
        }
      }
      if (depends) {
        out.add(m.model());
      }
    }
    return out;
  }

  /**
   * Points the head of {@code model} at its version {@code to}, only if the head points at {@code expect} now (else
   * {@link ConflictException}, nothing changed): a compare-and-swap logged with {@code why}.
   */
  public TagResult moveHead(String model, ChunkId to, ChunkId expect, String why) throws IOException {
    RefNames.checkModel(model);
    return moveToVersion(model, RefNames.head(model), to, expect, why);
  }

  /**
   * Moves a tag back to the target it had before its current one: the old value of the latest move (other than a
   * rollback) that brought it to its current value. Rolling back twice goes back two steps.
   */
  public TagResult rollback(String target) throws IOException {
    return rollback(target, null);
  }

  /**
   * As {@link #rollback(String)}, and with {@code expect} only if the ref points at that version now (else {@link
   * ConflictException}, nothing changed): two operators who both roll back the same bad deploy then move the tag
   * back once, where without it the second, coming after the first, goes back one step more.
   */
  public TagResult rollback(String target, ChunkId expect) throws IOException {
    RefSpec spec = rollbackSpec(target);
    String ref = spec.refName();
    Optional<ChunkId> cur = rollbackFrom(target, spec, expect);
    List<RefLogEntry> log = refs.log(ref);
    ChunkId previous = null;
    boolean found = false;
    for (int i = log.size() - 1; i >= 0; i--) {
      RefLogEntry e = log.get(i);
      if (e.why().startsWith("rollback")) {
        continue;
      }
      if (cur.get().equals(e.newId())) {
        previous = e.oldId();
        found = true;
        break;
      }
    }
    if (!found || previous == null) {
      throw new InvalidInputException(target + " has no earlier target in its log to roll back to");
    }
    if (!backend.chunks().missing(List.of(previous)).isEmpty()) {
      // gc removed it once the log entry that moved the ref off it was older than the grace period: a ref pointing
      // there would name no version (and stop every later gc)
      throw new NotFoundException(target + " cannot roll back to " + previous.shortHex(12) + ": that version is no"
          + " longer in " + backend.uri() + " (gc removed it after " + target + " moved off it); nothing changed");
    }
    try {
      return moveToVersion(spec.model(), ref, previous, cur.get(), "rollback from " + cur.get().shortHex(12));
    } catch (ConflictException e) {
      throw new ConflictException(RefNames.asWritten(ref) + " moved during the rollback; nothing changed");
    }
  }

  /**
   * Moves the ref {@code target} (model:tag, or a model alone for its head) to {@code to}, a version of that model (its
   * id or a prefix of it), as a rollback that its log records: what undoes a rollback (the version it moved off), and
   * the one way to move a head to a version of its choosing ({@link #tag} moves tags). With {@code expect}, only if the
   * ref points at that version now.
   *
   * @throws NotFoundException if the model has no such version, or gc removed it
   * @throws ConflictException if the ref is not at {@code expect}, or moved meanwhile; nothing changed
   */
  public TagResult rollbackTo(String target, String to, ChunkId expect) throws IOException {
    RefSpec spec = rollbackSpec(target);
    if (!RefSpec.isIdPrefix(to)) {
      throw new InvalidInputException("the version to move " + target + " to, '" + to + "', is not a version id or a"
          + " prefix of one (4 to 64 hex digits)");
    }
    String ref = spec.refName();
    Optional<ChunkId> cur = rollbackFrom(target, spec, expect);
    ChunkId id = resolve(spec.model() + "@" + to).id();
    try {
      return moveToVersion(spec.model(), ref, id, cur.get(), "rollback from " + cur.get().shortHex(12) + " to "
          + id.shortHex(12));
    } catch (ConflictException e) {
      throw new ConflictException(RefNames.asWritten(ref) + " moved during the rollback; nothing changed");
    }
  }

  private static RefSpec rollbackSpec(String target) throws IOException {
    RefSpec spec = RefSpec.parse(target);
    if (spec.selectsVersion() || spec.path() != null) {
      throw new InvalidInputException("rollback takes model:tag or model, not '" + target + "'");
    }
    return spec;
  }

  /** Where the ref of a rollback points now, {@code expect} if given; a deleted or unknown ref is refused. */
  private Optional<ChunkId> rollbackFrom(String target, RefSpec spec, ChunkId expect) throws IOException {
    String ref = spec.refName();
    Optional<ChunkId> cur = refs.get(ref);
    if (cur.isEmpty()) {
      refuseDeleted(target, spec, ref);
      resolve(spec);
    }
    if (expect != null && !expect.equals(cur.get())) {
      throw new ConflictException(target + " points at " + cur.get().hex() + ", not at the expected " + expect.hex()
          + " (moved since?); nothing changed");
    }
    return cur;
  }

  /**
   * Refuses the rollback of a ref whose log ends with its deletion, saying by what, when, what it pointed at and, for
   * a tag removed by {@code tag -d} or {@code rm}, the command that puts it back: the model alone said "has no tag".
   */
  private void refuseDeleted(String target, RefSpec spec, String ref) throws IOException {
    List<RefLogEntry> log = refs.log(ref);
    if (log.isEmpty()) {
      return;
    }
    RefLogEntry last = log.get(log.size() - 1);
    if (last.newId() != null || last.oldId() == null) {
      return;
    }
    String was = last.oldId().shortHex(12);
    boolean renamed = last.why().startsWith("mv ");
    throw new NotFoundException(target + " was deleted (" + last.why() + ", by " + last.who() + " at "
        + last.when().truncatedTo(java.time.temporal.ChronoUnit.SECONDS) + "), so it has no target to roll back"
        + " from; it pointed at " + was + (spec.tag() != null && !renamed ? ": ferry tag " + spec.model() + "@"
            + was + " " + spec.tag() + " puts it back" : " (ferry reflog " + target + " shows its moves)"));
  }

  // ---------------------------------------------------------------- diff

  /** Tensor-level and file-level differences between two versions. */
  public Diff diff(String a, String b) throws IOException {
    VersionRef va = resolve(a);
    VersionRef vb = resolve(b);
    try {
      return new Differ(db).diff(va, vb);
    } catch (io.ferry.error.MissingObjectException e) {
      IOException first = collected(e, va, a);
      throw first != e ? first : collected(e, vb, b);
    }
  }

  // ---------------------------------------------------------------- pull, cat, read

  /**
   * Refuses a pull destination that holds this repository's local store or lies inside it, compared by real paths
   * as a push compares its source: a forced pull there removes the store's files, and any pull may overwrite them.
   * Stores not on the local file system cannot be inside a directory, so there is nothing to check.
   *
   * @throws InvalidInputException naming DEST and the store
   */
  public void checkDestination(Path dest) throws IOException {
    Objects.requireNonNull(dest, "dest");
    Optional<Path> local = backend.localDirectory();
    if (local.isEmpty() || !Files.exists(local.get())) {
      return;
    }
    Path store = local.get().toRealPath();
    Path d = dest.toAbsolutePath().normalize();
    Path existing = d;
    while (existing != null && !Files.exists(existing)) {
      existing = existing.getParent();
    }
    Path real = existing == null ? d : existing.toRealPath().resolve(existing.relativize(d));
    if (store.startsWith(real)) {
      throw new InvalidInputException(dest + ": contains the store " + store + "; pull into a directory that does "
          + "not hold the store");
    }
    if (real.startsWith(store)) {
      throw new InvalidInputException(dest + ": is inside the store " + store + "; pull into a directory outside it");
    }
  }

  /**
   * Writes the version's files (or the one file of {@code ref//path}, or those {@link PullOptions#files} takes) into
   * {@code dest}, byte-identical.
   *
   * @throws NotFoundException if the options' filter takes none of the version's files
   */
  public VersionRef pull(String refText, Path dest, PullOptions opts) throws IOException {
    Objects.requireNonNull(dest, "dest");
    Objects.requireNonNull(opts, "opts");
    RefSpec spec = RefSpec.parse(refText);
    VersionRef v = resolve(spec);
    Snapshot s = snapshot(v);
    if (spec.path() != null) {
      FileEntry f = s.file(spec.path()).orElseThrow(() -> new NotFoundException(
          spec.refText() + " has no file '" + spec.path() + "'"));
      s = new Snapshot(List.of(f));
    }
    checkDestination(dest);
    boolean wholeVersion = spec.path() == null;
    if (!opts.files().takesAll()) {
      List<FileEntry> taken = s.files().stream().filter(f -> opts.files().test(f.path())).toList();
      if (taken.isEmpty()) {
        String hint = opts.files().directoryHint(s.files().stream().map(FileEntry::path).toList());
        throw new NotFoundException(spec + " (" + v.id().shortHex(12) + ") has no file that " + opts.files().describe()
            + " selects" + hint + "; ferry show " + spec.refText() + " lists its files");
      }
      s = new Snapshot(taken);
      wholeVersion = false;
    }
    try {
      new Puller(db, pool, opts.listener()).pull(s, db.locator(v.version().packs()), dest, opts, wholeVersion);
    } catch (io.ferry.error.MissingObjectException e) {
      throw collected(e, v, spec.refText());
    } finally {
      opts.listener().done();
    }
    return v;
  }

  /** Writes one file of a version ({@code ref//path}) to {@code out}, checking every frame. */
  public void cat(String refWithPath, WritableByteChannel out) throws IOException {
    Objects.requireNonNull(out, "out");
    RefSpec spec = fileSpec(refWithPath);
    read(spec.refText(), r -> r.copyFile(spec.path(), out));
  }

  /** A {@code ref//path}, refused when it names no file. */
  private static RefSpec fileSpec(String refWithPath) throws InvalidInputException {
    RefSpec spec = RefSpec.parse(refWithPath);
    if (spec.path() == null) {
      throw new InvalidInputException("'" + refWithPath
          + "' names no file: use ref//path, e.g. llama:prod//config.json");
    }
    return spec;
  }

  /** What {@link #read} does with an open version. */
  @FunctionalInterface
  public interface ReadAction {
    /** Reads from {@code reader}, which stays open until this returns. */
    void read(ModelReader reader) throws IOException;
  }

  /**
   * Opens the version {@code refText} names, runs {@code action} on it, and closes it: a tensor or rows of it read
   * as {@link #cat} reads a file. An object found missing on the way, of a version no ref reaches, is reported as
   * {@link #open} reports it: the version is no longer in the store ({@link NotFoundException}), not damaged.
   */
  public void read(String refText, ReadAction action) throws IOException {
    Objects.requireNonNull(action, "action");
    try (ModelReader r = open(refText)) {
      try {
        action.read(r);
      } catch (io.ferry.error.MissingObjectException e) {
        throw missing(e, r, refText);
      }
    }
  }

  /**
   * Opens a version for reading tensors and files without writing them to disk. The reader does not keep the version
   * from gc: once no ref reaches it (its model or its refs removed), a gc may remove its objects under the open reader,
   * whose reads then throw {@link NotFoundException} (the version is no longer in the store), as {@link #read} does.
   */
  public ModelReader open(String refText) throws IOException {
    VersionRef v = resolve(refText);
    try {
      return new ModelReader(db.reader(), v.id(), v.version(), db.snapshot(v.version().snapshot()),
          db.locator(v.version().packs())).reportingMissing(e -> collected(e, v, refText));
    } catch (io.ferry.error.MissingObjectException e) {
      throw collected(e, v, refText);
    }
  }

  /** The snapshot of a version. */
  public Snapshot snapshot(VersionRef v) throws IOException {
    try {
      return db.snapshot(v.version().snapshot());
    } catch (io.ferry.error.MissingObjectException e) {
      throw collected(e, v, v.version().model() + "@" + v.id().shortHex(12));
    }
  }

  /**
   * What to report for an object of {@code v} found missing: when no ref reaches {@code v} (its model was removed,
   * or its refs moved off it), gc removes its objects, and a gc that was interrupted or is running now leaves part of
   * them, so the version is gone, not damaged ({@link NotFoundException}, with {@code e} attached); else {@code e},
   * damage. Walks every ref's history, on this error path only.
   */
  private IOException collected(io.ferry.error.MissingObjectException e, VersionRef v, String refText)
      throws IOException {
    try {
      if (history.reachable(List.of()).contains(v.id())) {
        return e;
      }
    } catch (IOException other) {
      e.addSuppressed(other); // history that cannot be walked: what was met first stands
      return e;
    }
    String named = refText.contains(v.id().shortHex(12)) ? refText : refText + " (" + v.id().shortHex(12) + ")";
    NotFoundException gone = new NotFoundException(named + " is no longer in "
        + backend.uri() + ": no ref reaches it, so gc removes its objects, and " + (e.id() != null ? "its object "
        + e.id().shortHex(12) : "one of them") + " is gone already (a gc removed it or is removing it; ferry reflog "
        + v.version().model() + " shows when its refs moved off it)");
    gone.addSuppressed(e);
    return gone;
  }

  // ---------------------------------------------------------------- copy between stores

  /**
   * Copies the version {@code refText} names, with every ancestor the target lacks, to another store, sending only
   * the objects the target does not hold; then moves the target's head of the model (if it is absent or an ancestor
   * of the version; left when it is on another history and a tag is copied; else {@link
   * io.ferry.error.ConflictException}, before anything is sent) and, for {@code model:tag}, the target's tag. Holds
   * a push lease on the target from the first object sent until its refs moved (see {@link CopyOperation}). A null
   * {@code listener} reports nothing.
   */
  public Results.CopyResult copyTo(String refText, Repository target, boolean verify, TransferListener listener)
      throws IOException {
    return copyTo(refText, null, target, verify, listener);
  }

  /**
   * As {@link #copyTo(String, Repository, boolean, TransferListener)}, of {@code version}: the version that {@code
   * refText} named when the caller resolved it ({@link #checkCopyTo}), so that the source's tag moved since (a push
   * while others sent the version's chunks) changes neither what is sent nor where the target's refs move. A null
   * {@code version} is the one {@code refText} names now.
   */
  public Results.CopyResult copyTo(String refText, ChunkId version, Repository target, boolean verify,
      TransferListener listener) throws IOException {
    Objects.requireNonNull(target, "target");
    return new CopyOperation(this, history, target, pool, options.author(), target.updater, target.history,
        target.collector, target.resolver).copy(refText, version, verify,
            listener == null ? TransferListener.NONE : listener);
  }

  /**
   * Makes the checks of the store that a push to {@code target} ({@code model} or {@code model:tag}) makes before it
   * stores anything, and stores nothing: the store lets the model be written, and neither the model's name nor the
   * tag's differs only in case from one the store has. For a version whose objects others store first (a cluster
   * derive's tasks), so that such a target is refused before the store changes.
   *
   * @throws InvalidInputException when a name differs only in case from one in the store, or {@code target} is not
   *     a model or model:tag
   */
  public void checkPushTarget(String target) throws IOException {
    PushOperation.checkTarget(PushOperation.target(target), refs, resolver);
  }

  /**
   * Makes the checks of a name that a command makes of a ref it creates, for a ref created by other means (the
   * server's refs API, which moves refs as it is told): the model's name, when the model has no ref yet, as a push's
   * (git's rules of {@link RefNames#checkNewName}, and no case twin among the store's models), and a new tag's name as
   * {@link #tag}'s. A ref that exists, and a model that has a ref, pass: names already in the store stay usable. The
   * names are checked before the store's other names are read; another ref whose log is damaged (which verify names)
   * does not hold up the ref asked for: its name counts as taken.
   *
   * @throws InvalidInputException naming the name and the rule it breaks
   */
  public void checkNewRef(String ref) throws IOException {
    RefNames.checkRef(ref);
    String model = RefNames.modelOf(ref);
    if (!resolver.hasLiveRef(model)) {
      resolver.checkNoCaseTwin(model);
    }
    if (!ref.equals(RefNames.head(model))) {
      resolver.checkNoTagCaseTwin(model, ref.substring(RefNames.tag(model, "").length()));
    }
  }

  /**
   * Makes the checks {@link #copyTo} makes before it sends anything, and sends nothing: for a copy whose chunks others
   * send first (a cluster job's executors), so that a copy refused for the target's head or for a name that differs
   * only in case from one in the target leaves the target as it was.
   *
   * @return the version the copy of {@code refText} sends
   * @throws io.ferry.error.ConflictException when the target's head is on another history and no tag is copied
   * @throws io.ferry.error.InvalidInputException when the model's or tag's name differs only in case from one in the
   *     target
   */
  public VersionRef checkCopyTo(String refText, Repository target) throws IOException {
    Objects.requireNonNull(target, "target");
    return new CopyOperation(this, history, target, pool, options.author(), target.updater, target.history,
        target.collector, target.resolver).check(RefSpec.parse(refText), null);
  }

  // ---------------------------------------------------------------- verify, gc, stats

  /**
   * Checks every chunk of one version ({@code refText} non-null) or of every version reachable from any ref, every
   * copy in every pack they list, and store-wide also the ref logs, the small-chunk index and the store's layout
   * ({@link io.ferry.store.ChunkStore#layoutDamage}): see {@link Verifier}. A null {@code listener} reports nothing.
   *
   * @throws NotFoundException if {@code refText} names a version that no ref reaches and whose objects found wrong
   *     were all missing, none damaged: gc removed part of it (as {@link #pull} and {@link #open} say)
   */
  public VerifyReport verify(String refText, TransferListener listener) throws IOException {
    Verifier verifier = new Verifier(db, refs, pool, smallChunks, options.notices());
    TransferListener l = listener == null ? TransferListener.NONE : listener;
    if (refText == null) {
      return verifier.verify(null, l);
    }
    VersionRef v = resolve(refText);
    Verifier.Checked checked = verifier.check(v, l);
    goneIfOnlyMissing(checked, v, refText);
    return checked.report();
  }

  /**
   * Throws what {@link #collected} says of the missing objects of {@code v} that {@code checked} found, when they are
   * all it found wrong and no ref reaches {@code v}: gc removed part of it, so it is gone, not damaged.
   */
  private void goneIfOnlyMissing(Verifier.Checked checked, VersionRef v, String refText) throws IOException {
    if (checked.onlyMissing() != null) {
      IOException gone = collected(checked.onlyMissing(), v, refText);
      if (gone != checked.onlyMissing()) {
        throw gone;
      }
    }
  }

  /**
   * Verifies as {@link #verify} does, then deletes the objects whose stored bytes fail their own id (loose chunks,
   * snapshots, versions), each checked again right before, under a gc lease, so that a push of the same files or a
   * copy from a store that holds them stores them again (both keep what the store holds, damaged or not). Never
   * deletes an object it could not read (verify then stops, deleting nothing), one that does not begin like a frame
   * this Ferry reads (newer software's), a healthy one, or a pack; see {@link DamageRepair}. A null {@code listener}
   * reports nothing.
   *
   * @throws NotFoundException as {@link #verify} does, for a version no ref reaches that gc removed part of; nothing
   *     is deleted
   */
  public Results.RepairReport deleteDamaged(String refText, TransferListener listener) throws IOException {
    return deleteDamaged(refText, RepairOptions.LOOSE, listener);
  }

  /** As {@link #deleteDamaged(String, TransferListener)}; {@code repair} says whether damaged packs go too. */
  public Results.RepairReport deleteDamaged(String refText, RepairOptions repair, TransferListener listener)
      throws IOException {
    Objects.requireNonNull(repair, "repair");
    VersionRef v = refText == null ? null : resolve(refText);
    return new DamageRepair(db, backend.chunks(), leases, new Verifier(db, refs, pool, smallChunks, options.notices()))
        .run(v, repair, listener == null ? TransferListener.NONE : listener,
            checked -> {
              if (v != null) {
                goneIfOnlyMissing(checked, v, refText);
              }
            });
  }

  /**
   * Removes objects that nothing needs: not reachable from any ref, from any ref-log entry younger than {@code
   * grace}, not protected by a running push's lease, and not younger than {@code grace} themselves. Packs are removed
   * when none of their chunks is needed. Also removes what killed pushes left behind that is older than {@code grace}
   * (see {@link ChunkStore#removeAbandoned}) and the records of expired leases. Streams the store's listing; a crash
   * midway leaves a valid store. See {@link GarbageCollector} and {@link Leases} for the protocol.
   *
   * @throws InvalidInputException if {@code grace} is negative; nothing is removed
   */
  public GcReport gc(Duration grace, boolean dryRun) throws IOException {
    Objects.requireNonNull(grace, "grace");
    if (grace.isNegative()) {
      // a cutoff in the future: every unreferenced object, however new, and the ref logs' recent targets would go,
      // as with a grace of zero; Duration.ofDays(-7) is a slip for 7 days, not a request for that
      throw new InvalidInputException("gc grace " + grace + " is negative; give zero or more (Duration.ZERO removes"
          + " every unreferenced object at once)");
    }
    return collector.run(grace, dryRun);
  }

  /**
   * Adds the small chunks of every live version's packs that the store-wide small-chunk index does not have yet
   * (docs/small-chunk-index.md, "Backfill"): for stores written before the index existed. Runs under a push lease, so
   * a concurrent gc keeps every pack it names; idempotent, and safe beside pushes and gc.
   */
  public SmallChunkIndex.BackfillReport backfillSmallChunkIndex() throws IOException {
    try (Lease lease = leases.take(Lease.Kind.PUSH, "small-chunk index backfill")) {
      Set<ChunkId> packs = new TreeSet<>();
      for (ChunkId vid : history.reachable(List.of())) {
        packs.addAll(db.version(vid).packs());
      }
      return smallChunks.backfill(packs, lease);
    }
  }

  /** Store-wide figures: logical bytes of every version, unique and stored bytes, chunks and packs. */
  public StoreStats stats() throws IOException {
    Set<ChunkId> versions = history.reachable(List.of());
    long logical = 0;
    Map<ChunkId, Long> unique = new HashMap<>();
    Set<ChunkId> packs = new HashSet<>();
    Set<ChunkId> snapshots = new HashSet<>();
    Set<String> models = new HashSet<>();
    for (ChunkId vid : versions) {
      Version v = db.version(vid);
      models.add(v.model());
      logical += v.stats().logicalBytes();
      packs.addAll(v.packs());
      if (snapshots.add(v.snapshot())) {
        for (FileEntry f : db.snapshot(v.snapshot()).files()) {
          for (ChunkRef c : f.chunks()) {
            unique.put(c.id(), c.length());
          }
        }
      }
    }
    long uniqueBytes = 0;
    for (long n : unique.values()) {
      uniqueBytes += n;
    }
    long[] stored = new long[2];
    backend.chunks().list(o -> {
      stored[0] += o.size();
      stored[1]++;
    });
    return new StoreStats(models.size(), versions.size(), logical, uniqueBytes, stored[0], unique.size(),
        packs.size(), stored[1]);
  }

  /**
   * Closes the repository: its leases, its worker pool and its backend; every method throws from now on. An operation
   * still running in another thread fails (never waits forever): the tasks it queued and that no worker started are
   * cancelled, those running are interrupted. Closing twice is harmless.
   */
  @Override
  public void close() throws IOException {
    try {
      leases.close();
      // tasks drained from the queue never run: cancelled, so that whoever waits for them (a push rolling back
      // after the backend closed under it) is not left waiting forever
      for (Runnable queued : pool.shutdownNow()) {
        if (queued instanceof java.util.concurrent.Future<?> f) {
          f.cancel(false);
        }
      }
    } finally {
      backend.close();
    }
  }

  /**
   * Reads a whole small file of a version into memory (for tests and tools); a version gc removed part of is reported
   * as {@link #read} reports it.
   *
   * @throws InvalidInputException if {@code refWithPath} names no file ({@code ref//path}), as {@link #cat} does
   */
  public ByteBuffer readFile(String refWithPath) throws IOException {
    RefSpec spec = fileSpec(refWithPath);
    ByteBuffer[] out = new ByteBuffer[1];
    read(spec.refText(), r -> out[0] = r.readFile(spec.path()));
    return out[0];
  }

  /**
   * What to report for an object found missing while reading {@code reader}, a version this repository opened under
   * {@code refText}: that the version is no longer in the store ({@link NotFoundException}) when no ref reaches it
   * (a gc removed part of it), as {@link #read} reports it; else {@code e}, damage.
   */
  public IOException missing(io.ferry.error.MissingObjectException e, ModelReader reader, String refText)
      throws IOException {
    return collected(e, new VersionRef(reader.versionId(), reader.version()), refText);
  }
}
