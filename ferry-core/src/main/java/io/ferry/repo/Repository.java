package io.ferry.repo;

import io.ferry.chunk.ChunkId;
import io.ferry.chunk.ChunkPlanner;
import io.ferry.codec.Codecs;
import io.ferry.error.ConflictException;
import io.ferry.error.InvalidInputException;
import io.ferry.error.MissingObjectException;
import io.ferry.error.NotFoundException;
import io.ferry.format.TensorInfo;
import io.ferry.read.ModelReader;
import io.ferry.repo.Results.Change;
import io.ferry.repo.Results.Diff;
import io.ferry.repo.Results.FileDiff;
import io.ferry.repo.Results.GcReport;
import io.ferry.repo.Results.ModelSummary;
import io.ferry.repo.Results.PushResult;
import io.ferry.repo.Results.StoreStats;
import io.ferry.repo.Results.TagResult;
import io.ferry.repo.Results.TensorDiff;
import io.ferry.repo.Results.VerifyReport;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.Backend;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import io.ferry.transfer.Puller;
import io.ferry.transfer.Pusher;
import io.ferry.transfer.TransferListener;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.RefSpec;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import io.ferry.version.VersionStats;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A Ferry store: models, versions, tags and their history over one {@link Backend}. Thread-safe. Owns a pool of
 * worker threads, the backend and small caches; close it to release them.
 *
 * <p>Writes follow one order: chunks, then snapshot, then version, then a compare-and-swap of the ref. A version is
 * visible only once its ref moved, so a crash at any point leaves the store valid (at worst with unreferenced objects
 * that {@link #gc} removes).
 */
public final class Repository implements Closeable {
  private static final int CAS_RETRIES = 1000;

  private final Backend backend;
  private final RefStore refs;
  private final ObjectDatabase db;
  private final ExecutorService pool;
  private final RepositoryOptions options;

  private Repository(Backend backend, RepositoryOptions options) {
    this.backend = backend;
    this.refs = backend.refs();
    this.options = options;
    this.db = new ObjectDatabase(backend.chunks(), new Codecs(options.zstdLevel()));
    AtomicInteger n = new AtomicInteger();
    this.pool = Executors.newFixedThreadPool(options.parallelism(), r -> {
      Thread t = new Thread(r, "ferry-worker-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }

  /** Opens a repository over a backend; the repository owns and closes it. */
  public static Repository open(Backend backend, RepositoryOptions options) {
    return new Repository(backend, options);
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

  // ---------------------------------------------------------------- push

  /**
   * Pushes a file or directory as a new version of {@code target} ({@code model} or {@code model:tag}). Validates
   * everything first; stores the chunks the store lacks; then writes the snapshot and the version and moves the head
   * (and the tag) by compare-and-swap. If the content equals the head's, no version is made ({@code upToDate}); a
   * tag then moves to the head. A failed push removes what it stored and leaves the refs untouched.
   */
  public PushResult push(Path source, String target, PushOptions opts) throws IOException {
    RefSpec spec = RefSpec.parse(target);
    if (spec.idPrefix() != null || spec.path() != null) {
      throw new InvalidInputException("push target '" + target + "' must be a model or model:tag");
    }
    VersionRef derivedFrom = opts.derivedFrom() == null ? null : resolve(opts.derivedFrom());
    Pusher pusher = new Pusher(db, ChunkPlanner.standard(), pool, opts.codec(), opts.listener());
    try {
      Pusher.Prepared prepared = pusher.prepare(source);
      String headRef = RefNames.head(spec.model());
      Set<ChunkId> candidatePacks = new TreeSet<>();
      for (String ref : modelRefs(spec.model())) {
        Optional<ChunkId> id = refs.get(ref);
        if (id.isPresent()) {
          candidatePacks.addAll(db.version(id.get()).packs());
        }
      }
      if (derivedFrom != null) {
        candidatePacks.addAll(derivedFrom.version().packs());
      }
      Pusher.Staged staged = pusher.store(prepared, db.locator(candidatePacks));
      try {
        return publish(spec, headRef, staged, opts, derivedFrom);
      } catch (IOException | RuntimeException e) {
        pusher.rollback(staged.created(), e);
        throw e;
      }
    } finally {
      opts.listener().done();
    }
  }

  private PushResult publish(RefSpec spec, String headRef, Pusher.Staged staged, PushOptions opts,
      VersionRef derivedFrom) throws IOException {
    String author = opts.author() != null ? opts.author() : options.author();
    for (int attempt = 0; attempt < CAS_RETRIES; attempt++) {
      Optional<ChunkId> head = refs.get(headRef);
      Version parent = head.isPresent() ? db.version(head.get()) : null;
      if (parent != null && parent.snapshot().equals(staged.snapshotId()) && opts.derivation() == null) {
        if (spec.tag() != null) {
          moveTag(RefNames.tag(spec.model(), spec.tag()), head.get(), null, author, "push: up to date");
        }
        return new PushResult(head.get(), parent, true, staged.newStoredBytes(), staged.newChunks());
      }
      List<ChunkId> parents = new ArrayList<>();
      head.ifPresent(parents::add);
      if (derivedFrom != null && !parents.contains(derivedFrom.id())) {
        parents.add(derivedFrom.id());
      }
      Snapshot s = staged.snapshot();
      Version v = new Version(staged.snapshotId(), parents, spec.model(), opts.message(), author,
          options.clock().instant(), parent == null ? 1 : parent.seq() + 1, staged.packs(),
          new VersionStats(s.logicalBytes(), staged.newStoredBytes(), staged.newChunks(), s.files().size(),
              s.tensorCount()), opts.metadata(), opts.derivation());
      ObjectDatabase.Written w = db.writeObject(io.ferry.version.ObjectJson.toJson(v));
      String why = "push: " + firstLine(opts.message());
      CasResult r = refs.compareAndSet(headRef, head.orElse(null), w.id(),
          new RefLogEntry(head.orElse(null), w.id(), author, options.clock().instant(), why));
      if (r.isSuccess()) {
        if (spec.tag() != null) {
          moveTag(RefNames.tag(spec.model(), spec.tag()), w.id(), null, author, why);
        }
        return new PushResult(w.id(), v, false, staged.newStoredBytes() + (w.created() ? w.size() : 0),
            staged.newChunks());
      }
      if (w.created()) {
        backend.chunks().delete(w.id());
      }
    }
    throw new ConflictException("head of " + spec.model() + " kept moving; gave up after " + CAS_RETRIES + " tries");
  }

  private static String firstLine(String s) {
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  // ---------------------------------------------------------------- resolve, log, ls

  /** Resolves {@code name}, {@code name:tag} or {@code name@prefix} to a version. */
  public VersionRef resolve(String text) throws IOException {
    RefSpec spec = RefSpec.parse(text);
    if (spec.path() != null) {
      throw new InvalidInputException("'" + text + "' names a file (//" + spec.path() + "); a version is expected here: "
          + spec.refText());
    }
    return resolve(spec);
  }

  /** Resolves a parsed ref. */
  public VersionRef resolve(RefSpec spec) throws IOException {
    if (spec.idPrefix() != null) {
      return resolvePrefix(spec);
    }
    Optional<ChunkId> id = refs.get(spec.refName());
    if (id.isEmpty()) {
      if (spec.tag() != null) {
        if (refs.get(RefNames.head(spec.model())).isEmpty()) {
          throw new NotFoundException("no model '" + spec.model() + "' in " + uri());
        }
        throw new NotFoundException("model '" + spec.model() + "' has no tag '" + spec.tag() + "'");
      }
      throw new NotFoundException("no model '" + spec.model() + "' in " + uri());
    }
    return new VersionRef(id.get(), db.version(id.get()));
  }

  private VersionRef resolvePrefix(RefSpec spec) throws IOException {
    String prefix = spec.idPrefix();
    if (prefix.length() == 64) {
      ChunkId id = ChunkId.parse(prefix);
      try {
        Version v = db.version(id);
        if (v.model().equals(spec.model())) {
          return new VersionRef(id, v);
        }
      } catch (MissingObjectException e) {
        // fall through to not found
      }
      throw new NotFoundException("model '" + spec.model() + "' has no version " + prefix);
    }
    Set<ChunkId> matches = new TreeSet<>();
    for (String ref : modelRefs(spec.model())) {
      for (RefLogEntry e : refs.log(ref)) {
        for (ChunkId id : new ChunkId[] {e.oldId(), e.newId()}) {
          if (id != null && id.hex().startsWith(prefix)) {
            matches.add(id);
          }
        }
      }
    }
    if (matches.isEmpty()) {
      throw new NotFoundException("model '" + spec.model() + "' has no version starting with " + prefix);
    }
    if (matches.size() > 1) {
      StringBuilder b = new StringBuilder();
      for (ChunkId m : matches) {
        b.append(' ').append(m.shortHex(12));
      }
      throw new InvalidInputException("version prefix " + prefix + " of '" + spec.model() + "' is ambiguous:" + b);
    }
    ChunkId id = matches.iterator().next();
    return new VersionRef(id, db.version(id));
  }

  /** The model's refs (head and tags), excluding those of models nested under it. */
  private List<String> modelRefs(String model) throws IOException {
    List<String> out = new ArrayList<>();
    for (String ref : refs.list(model + "/")) {
      if (RefNames.modelOf(ref).equals(model)) {
        out.add(ref);
      }
    }
    return out;
  }

  /** The history of a ref, newest first, following first parents, at most {@code limit} versions. */
  public List<VersionRef> log(String refText, int limit) throws IOException {
    VersionRef start = resolve(refText);
    List<VersionRef> out = new ArrayList<>();
    ChunkId id = start.id();
    Version v = start.version();
    while (out.size() < limit) {
      out.add(new VersionRef(id, v));
      if (v.parents().isEmpty()) {
        break;
      }
      id = v.parents().get(0);
      v = db.version(id);
    }
    return out;
  }

  /** Every model with its head, tags, size and number of versions, sorted by name. */
  public List<ModelSummary> models() throws IOException {
    Map<String, Map<String, ChunkId>> tags = new TreeMap<>();
    Map<String, ChunkId> heads = new HashMap<>();
    for (String ref : refs.list("")) {
      String model = RefNames.modelOf(ref);
      Optional<ChunkId> id = refs.get(ref);
      if (id.isEmpty()) {
        continue;
      }
      tags.computeIfAbsent(model, k -> new TreeMap<>());
      if (ref.equals(RefNames.head(model))) {
        heads.put(model, id.get());
      } else {
        tags.get(model).put(ref.substring(model.length() + "/tags/".length()), id.get());
      }
    }
    List<ModelSummary> out = new ArrayList<>();
    for (Map.Entry<String, Map<String, ChunkId>> e : tags.entrySet()) {
      ChunkId head = heads.get(e.getKey());
      long bytes = 0;
      long count = 0;
      if (head != null) {
        Version v = db.version(head);
        bytes = v.stats().logicalBytes();
        count = v.seq();
      }
      out.add(new ModelSummary(e.getKey(), head, e.getValue(), bytes, count));
    }
    return out;
  }

  /** The log of a ref (oldest first). */
  public List<RefLogEntry> refLog(String refName) throws IOException {
    return refs.log(RefNames.checkRef(refName));
  }

  // ---------------------------------------------------------------- tags

  /**
   * Points {@code model:tag} at the version {@code target} resolves to. With {@code expect}, the move is a
   * compare-and-swap against that version id (a null {@code expect} with {@code requireAbsent} means "must not
   * exist"); a lost race throws {@link ConflictException}.
   */
  public TagResult tag(String target, String tag, ChunkId expect) throws IOException {
    VersionRef v = resolve(target);
    String model = RefSpec.parse(target).model();
    String ref = RefNames.tag(model, RefNames.checkTag(tag));
    return moveTag(ref, v.id(), expect, options.author(), "tag " + tag + " -> " + v.id().shortHex(12));
  }

  private TagResult moveTag(String ref, ChunkId to, ChunkId expect, String who, String why) throws IOException {
    for (int attempt = 0; attempt < CAS_RETRIES; attempt++) {
      Optional<ChunkId> cur = refs.get(ref);
      ChunkId old = cur.orElse(null);
      if (expect != null && !expect.equals(old)) {
        throw new ConflictException(ref + " points at " + (old == null ? "nothing" : old.hex()) + ", not at "
            + expect.hex() + " as expected; nothing changed");
      }
      CasResult r = refs.compareAndSet(ref, old, to, new RefLogEntry(old, to, who, options.clock().instant(), why));
      if (r.isSuccess()) {
        return new TagResult(ref, old, to, r);
      }
      if (expect != null) {
        throw new ConflictException(ref + " moved while it was being updated; nothing changed");
      }
    }
    throw new ConflictException(ref + " kept moving; gave up after " + CAS_RETRIES + " tries");
  }

  /**
   * Moves a tag back to the target it had before its current one: the old value of the latest move (other than a
   * rollback) that brought it to its current value. Rolling back twice goes back two steps.
   */
  public TagResult rollback(String target) throws IOException {
    RefSpec spec = RefSpec.parse(target);
    if (spec.idPrefix() != null || spec.path() != null) {
      throw new InvalidInputException("rollback takes model:tag or model, not '" + target + "'");
    }
    String ref = spec.refName();
    Optional<ChunkId> cur = refs.get(ref);
    if (cur.isEmpty()) {
      resolve(spec);
    }
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
    CasResult r = refs.compareAndSet(ref, cur.get(), previous, new RefLogEntry(cur.get(), previous,
        options.author(), options.clock().instant(), "rollback from " + cur.get().shortHex(12)));
    if (!r.isSuccess()) {
      throw new ConflictException(ref + " moved during the rollback; nothing changed");
    }
    return new TagResult(ref, cur.get(), previous, r);
  }

  // ---------------------------------------------------------------- diff

  /** Tensor-level and file-level differences between two versions. */
  public Diff diff(String a, String b) throws IOException {
    VersionRef va = resolve(a);
    VersionRef vb = resolve(b);
    Snapshot sa = db.snapshot(va.version().snapshot());
    Snapshot sb = db.snapshot(vb.version().snapshot());
    Map<String, TensorContent> ta = tensors(sa);
    Map<String, TensorContent> tb = tensors(sb);
    List<TensorDiff> out = new ArrayList<>();
    long same = 0;
    Set<String> names = new TreeSet<>(ta.keySet());
    names.addAll(tb.keySet());
    for (String n : names) {
      TensorContent x = ta.get(n);
      TensorContent y = tb.get(n);
      Change c;
      if (x == null) {
        c = Change.ADDED;
      } else if (y == null) {
        c = Change.REMOVED;
      } else if (x.info.dtype() != y.info.dtype()) {
        c = Change.DTYPE_CHANGED;
      } else if (!x.info.shape().equals(y.info.shape())) {
        c = Change.RESHAPED;
      } else if (!x.chunks.equals(y.chunks)) {
        c = Change.CHANGED;
      } else {
        same++;
        continue;
      }
      out.add(new TensorDiff(n, c, x == null ? null : x.info.dtype(), x == null ? null : x.info.shape(),
          y == null ? null : y.info.dtype(), y == null ? null : y.info.shape(),
          x == null ? 0 : x.info.byteLength(), y == null ? 0 : y.info.byteLength()));
    }
    List<FileDiff> files = new ArrayList<>();
    Map<String, FileEntry> fa = new TreeMap<>();
    sa.files().forEach(f -> fa.put(f.path(), f));
    Map<String, FileEntry> fb = new TreeMap<>();
    sb.files().forEach(f -> fb.put(f.path(), f));
    Set<String> paths = new TreeSet<>(fa.keySet());
    paths.addAll(fb.keySet());
    for (String p : paths) {
      FileEntry x = fa.get(p);
      FileEntry y = fb.get(p);
      if (x == null) {
        files.add(new FileDiff(p, Change.ADDED, 0, y.size()));
      } else if (y == null) {
        files.add(new FileDiff(p, Change.REMOVED, x.size(), 0));
      } else if (!x.sha256().equals(y.sha256())) {
        files.add(new FileDiff(p, Change.CHANGED, x.size(), y.size()));
      }
    }
    return new Diff(va.id(), vb.id(), out, files, same);
  }

  private record TensorContent(TensorInfo info, List<ChunkId> chunks) {}

  private static Map<String, TensorContent> tensors(Snapshot s) {
    Map<String, TensorContent> out = new LinkedHashMap<>();
    for (FileEntry f : s.files()) {
      long[] offsets = f.chunkOffsets();
      for (TensorInfo t : f.tensors()) {
        long from = f.dataStart() + t.begin();
        long to = f.dataStart() + t.end();
        List<ChunkId> ids = new ArrayList<>();
        int i = firstChunk(offsets, from);
        for (; i < f.chunks().size() && offsets[i] < to; i++) {
          ids.add(f.chunks().get(i).id());
        }
        out.put(t.name(), new TensorContent(t, ids));
      }
    }
    return out;
  }

  /** Index of the chunk that contains byte {@code pos} (offsets has one extra entry at the end). */
  public static int firstChunk(long[] offsets, long pos) {
    return FileEntry.chunkAt(offsets, pos);
  }

  // ---------------------------------------------------------------- pull, cat, read

  /** Writes the version's files (or the one file of {@code ref//path}) into {@code dest}, byte-identical. */
  public VersionRef pull(String refText, Path dest, PullOptions opts) throws IOException {
    RefSpec spec = RefSpec.parse(refText);
    VersionRef v = resolve(spec);
    Snapshot s = db.snapshot(v.version().snapshot());
    if (spec.path() != null) {
      FileEntry f = s.file(spec.path()).orElseThrow(() -> new NotFoundException(
          spec.refText() + " has no file '" + spec.path() + "'"));
      s = new Snapshot(List.of(f));
    }
    try {
      new Puller(db, pool, opts.listener()).pull(s, db.locator(v.version().packs()), dest, opts);
    } finally {
      opts.listener().done();
    }
    return v;
  }

  /** Writes one file of a version ({@code ref//path}) to {@code out}, checking every frame. */
  public void cat(String refWithPath, WritableByteChannel out) throws IOException {
    RefSpec spec = RefSpec.parse(refWithPath);
    if (spec.path() == null) {
      throw new InvalidInputException("'" + refWithPath + "' names no file: use ref//path, e.g. llama:prod//config.json");
    }
    try (ModelReader r = open(spec.refText())) {
      r.copyFile(spec.path(), out);
    }
  }

  /** Opens a version for reading tensors and files without writing them to disk. */
  public ModelReader open(String refText) throws IOException {
    VersionRef v = resolve(refText);
    return new ModelReader(db.reader(), v.id(), v.version(), db.snapshot(v.version().snapshot()),
        db.locator(v.version().packs()));
  }

  /** The snapshot of a version. */
  public Snapshot snapshot(VersionRef v) throws IOException {
    return db.snapshot(v.version().snapshot());
  }

  // ---------------------------------------------------------------- copy between stores

  /**
   * Copies the version {@code refText} names, with every ancestor the target lacks, to another store, sending only
   * the objects the target does not hold; then moves the target's head of the model (if it is absent or an ancestor
   * of the version; else {@link ConflictException}) and, for {@code model:tag}, the target's tag.
   */
  public Results.CopyResult copyTo(String refText, Repository target, boolean verify, TransferListener listener)
      throws IOException {
    RefSpec spec = RefSpec.parse(refText);
    VersionRef v = resolve(spec);
    io.ferry.transfer.Copier copier = new io.ferry.transfer.Copier(db, target.backend.chunks(), pool, verify,
        listener);
    List<ChunkId> sent;
    try {
      sent = copier.copy(v.id());
    } finally {
      listener.done();
    }
    List<String> moved = new ArrayList<>();
    String head = RefNames.head(spec.model());
    for (int attempt = 0; attempt < CAS_RETRIES; attempt++) {
      Optional<ChunkId> cur = target.refs.get(head);
      if (cur.isPresent() && (cur.get().equals(v.id()) || isAncestor(v.id(), cur.get()))) {
        break;
      }
      if (cur.isPresent() && !isAncestor(cur.get(), v.id())) {
        throw new ConflictException("head of " + spec.model() + " in " + target.uri() + " is "
            + cur.get().shortHex(12) + ", which is not in the history of " + v.id().shortHex(12)
            + "; copy a tag instead, or reconcile the histories");
      }
      CasResult r = target.refs.compareAndSet(head, cur.orElse(null), v.id(), new RefLogEntry(cur.orElse(null),
          v.id(), options.author(), options.clock().instant(), "copy from " + uri()));
      if (r.isSuccess()) {
        moved.add(head);
        break;
      }
    }
    if (spec.tag() != null) {
      target.moveTag(RefNames.tag(spec.model(), spec.tag()), v.id(), null, options.author(), "copy from " + uri());
      moved.add(RefNames.tag(spec.model(), spec.tag()));
    }
    return new Results.CopyResult(v.id(), sent.size(), copier.objectsSent(), copier.bytesSent(), moved);
  }

  /** Whether {@code ancestor} is {@code id} or in its history (all parents), in this store. */
  private boolean isAncestor(ChunkId ancestor, ChunkId id) throws IOException {
    Deque<ChunkId> todo = new ArrayDeque<>();
    Set<ChunkId> seen = new HashSet<>();
    todo.add(id);
    while (!todo.isEmpty()) {
      ChunkId c = todo.pop();
      if (c.equals(ancestor)) {
        return true;
      }
      if (seen.add(c)) {
        try {
          todo.addAll(db.version(c).parents());
        } catch (MissingObjectException e) {
          // a version this store does not hold cannot be on the path
        }
      }
    }
    return false;
  }

  // ---------------------------------------------------------------- verify, gc, stats

  /**
   * Checks every chunk of one version ({@code refText} non-null) or of every version reachable from any ref, every
   * copy in every pack they list: see {@link Verifier}.
   */
  public VerifyReport verify(String refText, TransferListener listener) throws IOException {
    return new Verifier(db, refs, pool).verify(refText == null ? null : resolve(refText), listener);
  }

  /** Ids of every version reachable from the current refs, the extra roots, and their parents. */
  private Set<ChunkId> reachableVersions(List<ChunkId> extraRoots) throws IOException {
    Set<ChunkId> seen = new HashSet<>();
    Deque<ChunkId> todo = new ArrayDeque<>(extraRoots);
    for (String ref : refs.list("")) {
      refs.get(ref).ifPresent(todo::add);
    }
    while (!todo.isEmpty()) {
      ChunkId id = todo.pop();
      if (seen.add(id)) {
        todo.addAll(db.version(id).parents());
      }
    }
    return seen;
  }

  /**
   * Removes objects that nothing needs: not reachable from any ref, from any ref-log entry younger than {@code
   * grace}, and not younger than {@code grace} themselves (so a running push is safe). Packs are removed when none of
   * their chunks is needed. Also removes what killed pushes left behind that is older than {@code grace} (see {@link
   * io.ferry.store.ChunkStore#removeAbandoned}). Streams the store's listing; a crash midway leaves a valid store.
   */
  public GcReport gc(Duration grace, boolean dryRun) throws IOException {
    Instant now = options.clock().instant();
    Instant cutoff = now.minus(grace);
    List<ChunkId> roots = new ArrayList<>();
    for (String ref : allRefNamesWithLogs()) {
      for (RefLogEntry e : refs.log(ref)) {
        if (e.when().isAfter(cutoff)) {
          if (e.oldId() != null) {
            roots.add(e.oldId());
          }
          if (e.newId() != null) {
            roots.add(e.newId());
          }
        }
      }
    }
    Set<ChunkId> live = new HashSet<>();
    for (ChunkId vid : reachableVersionsTolerant(roots)) {
      live.add(vid);
      Version v = db.version(vid);
      live.add(v.snapshot());
      live.addAll(v.packs());
      for (FileEntry f : db.snapshot(v.snapshot()).files()) {
        for (ChunkRef c : f.chunks()) {
          if (c.length() >= ObjectDatabase.PACK_THRESHOLD) {
            live.add(c.id());
          }
        }
      }
    }
    long[] counts = new long[4];
    List<ChunkId> dead = new ArrayList<>();
    backend.chunks().list(o -> {
      if (live.contains(o.id())) {
        counts[0]++;
      } else if (o.modified().isAfter(cutoff)) {
        counts[3]++;
      } else {
        counts[1]++;
        counts[2] += o.size();
        dead.add(o.id());
      }
    });
    if (!dryRun) {
      for (ChunkId id : dead) {
        backend.chunks().delete(id);
      }
      backend.chunks().removeAbandoned(cutoff);
    }
    return new GcReport(counts[0], counts[1], counts[2], counts[3], dryRun);
  }

  /** Refs that exist now; deleted refs' logs still count for the grace period through their live names. */
  private List<String> allRefNamesWithLogs() throws IOException {
    return refs.list("");
  }

  private Set<ChunkId> reachableVersionsTolerant(List<ChunkId> roots) throws IOException {
    Set<ChunkId> out = new HashSet<>();
    List<ChunkId> present = new ArrayList<>();
    for (ChunkId r : roots) {
      if (backend.chunks().contains(r)) {
        present.add(r);
      }
    }
    out.addAll(reachableVersions(present));
    return out;
  }

  /** Store-wide figures: logical bytes of every version, unique and stored bytes, chunks and packs. */
  public StoreStats stats() throws IOException {
    Set<ChunkId> versions = reachableVersions(List.of());
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

  @Override
  public void close() throws IOException {
    pool.shutdownNow();
    backend.close();
  }

  /** Reads a whole small file of a version into memory (for tests and tools). */
  public ByteBuffer readFile(String refWithPath) throws IOException {
    RefSpec spec = RefSpec.parse(refWithPath);
    try (ModelReader r = open(spec.refText())) {
      return r.readFile(spec.path());
    }
  }
}
