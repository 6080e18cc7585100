package io.ferry.repo;

import io.ferry.objects.ObjectDatabase;

import io.ferry.id.ChunkId;
import io.ferry.error.CorruptRefException;
import io.ferry.error.MissingObjectException;
import io.ferry.repo.Results.ModelSummary;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import io.ferry.version.Version;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/** Walks versions: first-parent logs, ancestry, the versions reachable from refs, the model list. Thread-safe. */
final class History {
  private static final int COUNTS_KEPT = 4096;
  /**
   * Walks longer than this on a store that is not local read their versions ahead ({@link #readAhead}). Reading ahead
   * reads the head's whole ref log first (a segment per 1,000 moves and up to 999 entries), which a page of history
   * (the store browser's 50, {@code log -n 20}) would pay for no gain.
   */
  static final int PREFETCH_FROM = 256;
  private static final int PREFETCH_THREADS = 16;

  private final ObjectDatabase db;
  private final RefStore refs;
  /** Version counts by head id ({@link #versionCount}), the most recently used kept. */
  private final Map<ChunkId, Long> counts = new LinkedHashMap<>(64, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<ChunkId, Long> eldest) {
      return size() > COUNTS_KEPT;
    }
  };

  /**
   * Reads ahead the versions a long walk on a store that is not local will read: the ids the model's head moved to,
   * newest first, which are the head's first parents unless history was copied in or rolled back (the walk reads any
   * other version itself). On S3 a version is one GET, and a walk of 10,000 waited for 10,000 of them one after the
   * other.
   */
  private void readAhead(String model, int count) throws IOException {
    List<ChunkId> ids = new ArrayList<>();
    List<RefLogEntry> log;
    try {
      log = refs.log(RefNames.head(model));
    } catch (IOException | RuntimeException e) {
      return; // the walk goes without; what is wrong with the log is not its business
    }
    for (int i = log.size() - 1; i >= 0 && ids.size() < count; i--) {
      if (log.get(i).newId() != null) {
        ids.add(log.get(i).newId());
      }
    }
    db.prefetchVersions(ids, PREFETCH_THREADS);
  }

  History(ObjectDatabase db, RefStore refs) {
    this.db = db;
    this.refs = refs;
  }

  /**
   * From {@code start}, following first parents, newest first, at most {@code limit} versions of {@code start}'s line:
   * as many as its {@link Version#logLength} records (the push counted the head it followed, across a rename too);
   * for versions pushed before Ferry recorded it, the walk stops at a parent pushed to another model (the source of a
   * derivation or a copy under a new name). A model's log lists exactly the versions that {@code model@id} resolves.
   */
  List<VersionRef> firstParents(VersionRef start, int limit) throws IOException {
    List<VersionRef> out = new ArrayList<>();
    ChunkId id = start.id();
    Version v = start.version();
    long left = v.logLength(); // 0: unknown, the walk decides by model names
    if (!db.store().trusted() && Math.min(limit, left == 0 ? Long.MAX_VALUE : left) > PREFETCH_FROM) {
      readAhead(v.model(), (int) Math.min(limit, left == 0 ? Integer.MAX_VALUE : left));
    }
    while (out.size() < limit) {
      out.add(new VersionRef(id, v));
      // the parent is read only when the walk shows it: m~N reads N versions past m, log -n N reads N in all
      if (out.size() == limit || v.parents().isEmpty() || left == 1) {
        break;
      }
      id = v.parents().get(0);
      Version parent = db.version(id);
      if (left == 0 && !parent.model().equals(v.model())) {
        break;
      }
      left = left > 1 ? left - 1 : parent.logLength();
      v = parent;
    }
    return out;
  }

  /**
   * How many versions {@code log} shows for a model whose head is {@code head}: its first parents within the model
   * (the rule of log, not the seq the version records, which older pushes counted across models). Versions never
   * change, so a count is kept per version id, and a count after one more push reads one version, not the history.
   * Versions pushed since Ferry records {@link Version#logLength} carry their count, so the walk reads none.
   */
  long versionCount(ChunkId head, Version version) throws IOException {
    long n = 0;
    ChunkId id = head;
    Version v = version;
    while (true) {
      Long known;
      synchronized (counts) {
        known = counts.get(id);
      }
      if (known != null) {
        n += known;
        break;
      }
      if (v.logLength() > 0) { // recorded at push: the rest of the walk is known
        n += v.logLength();
        break;
      }
      n++;
      if (v.parents().isEmpty()) {
        break;
      }
      ChunkId parent = v.parents().get(0);
      Version pv = db.version(parent);
      if (!pv.model().equals(version.model())) {
        break;
      }
      id = parent;
      v = pv;
    }
    synchronized (counts) {
      counts.put(head, n);
    }
    return n;
  }

  /** Whether {@code ancestor} is {@code id} or in its history (all parents), in this store. */
  boolean isAncestor(ChunkId ancestor, ChunkId id) throws IOException {
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

  /**
   * The versions of {@code model} reachable from {@code tips} (the targets of its refs) through parents that stay in
   * the model. Its versions are those pushed under its name or under a name a tip's version records: {@code mv} keeps
   * versions as they were pushed, so after a rename the refs' versions name the model before it. {@code log} lists
   * the versions of those names, and so does this; a parent of another model (a base a version derives from) ends
   * the walk there.
   */
  Set<ChunkId> ownVersions(String model, Collection<ChunkId> tips) throws IOException {
    Set<String> names = new HashSet<>();
    names.add(model);
    for (ChunkId tip : tips) {
      names.add(db.version(tip).model());
    }
    Set<ChunkId> own = new java.util.LinkedHashSet<>();
    Set<ChunkId> seen = new HashSet<>();
    Deque<ChunkId> todo = new ArrayDeque<>(tips);
    while (!todo.isEmpty()) {
      ChunkId id = todo.pop();
      if (seen.add(id)) {
        Version v = db.version(id);
        if (names.contains(v.model())) {
          own.add(id);
          todo.addAll(v.parents());
        }
      }
    }
    return own;
  }

  /** Ids of every version reachable from the current refs, the extra roots, and their parents. */
  Set<ChunkId> reachable(Collection<ChunkId> extraRoots) throws IOException {
    Set<ChunkId> seen = new HashSet<>();
    Deque<ChunkId> todo = new ArrayDeque<>(extraRoots);
    for (String ref : refs.list("")) {
      refs.get(ref).ifPresent(todo::add);
    }
    walk(todo, seen);
    return seen;
  }

  /**
   * Whether one of {@code refNames} (the refs of one model, as {@link Resolver#modelRefs} lists them) reaches {@code
   * target} through parents, newest first, stopping once found.
   */
  boolean reachedBy(List<String> refNames, ChunkId target) throws IOException {
    Deque<ChunkId> todo = new ArrayDeque<>();
    for (String r : refNames) {
      refs.get(r).ifPresent(todo::add);
    }
    Set<ChunkId> seen = new HashSet<>();
    while (!todo.isEmpty()) {
      ChunkId id = todo.poll();
      if (id.equals(target)) {
        return true;
      }
      if (seen.add(id)) {
        todo.addAll(db.version(id).parents());
      }
    }
    return false;
  }

  /**
   * What {@code version} needs that no ref reaches now: the version itself unless a ref reaches it, each of its
   * ancestors no ref reaches, and every object of theirs. A gc running at this moment may hold all of it as garbage,
   * so a ref move onto such a version (a tag, a rollback, a push's second parent) declares it under a push lease and
   * checks it still exists before moving (see {@link io.ferry.lease.Leases}). Walks every ref's history.
   *
   * @throws MissingObjectException if part of it is gone already
   */
  Set<ChunkId> notReachedByRefs(ChunkId version) throws IOException {
    Set<ChunkId> needed = new LinkedHashSet<>();
    // a ref whose log is damaged counts as reaching nothing: what it reaches is then protected too, never less
    Set<ChunkId> reachable = new HashSet<>();
    walk(readableTips(), reachable);
    Set<ChunkId> seen = new HashSet<>();
    Deque<ChunkId> todo = new ArrayDeque<>(List.of(version));
    while (!todo.isEmpty()) {
      ChunkId vid = todo.pop();
      if (reachable.contains(vid) || !seen.add(vid)) {
        continue;
      }
      Version v = db.version(vid);
      needed.add(vid);
      needed.addAll(PushOperation.objectsOf(v.snapshot(), db.snapshot(v.snapshot()), v.packs()));
      todo.addAll(v.parents());
    }
    return needed;
  }

  /**
   * What the refs whose logs read point at, for walks that another ref's damage may only make more careful (which
   * versions a move protects from gc, a short id looked up among every version): {@link #reachable} fails at a
   * damaged log instead, as gc's marking must. A damaged ref is for the commands that read it, and verify, to report.
   */
  Deque<ChunkId> readableTips() throws IOException {
    Deque<ChunkId> tips = new ArrayDeque<>();
    for (String ref : refs.listLogged("")) {
      try {
        refs.get(ref).ifPresent(tips::add);
      } catch (io.ferry.error.CorruptRefException damaged) {
        // left out: it reaches nothing for these walks
      }
    }
    return tips;
  }

  /** Adds to {@code seen} every version reachable from {@code todo} that is not in it yet; returns those added. */
  List<ChunkId> walk(Deque<ChunkId> todo, Set<ChunkId> seen) throws IOException {
    List<ChunkId> added = new ArrayList<>();
    while (!todo.isEmpty()) {
      ChunkId id = todo.pop();
      if (seen.add(id)) {
        added.add(id);
        todo.addAll(db.version(id).parents());
      }
    }
    return added;
  }

  /**
   * The refs of one model as users write them, by the version they point at: {@code model} for the head and {@code
   * model:tag} for each tag (head first, then tags by name). Refs of models nested under it are not included.
   */
  Map<ChunkId, List<String>> refsOf(String model) throws IOException {
    Map<String, ChunkId> tags = new TreeMap<>();
    ChunkId head = null;
    for (String ref : refs.list(model + "/")) {
      if (!RefNames.modelOf(ref).equals(model)) {
        continue;
      }
      Optional<ChunkId> id = refs.get(ref);
      if (id.isEmpty()) {
        continue;
      }
      if (ref.equals(RefNames.head(model))) {
        head = id.get();
      } else {
        tags.put(ref.substring(model.length() + "/tags/".length()), id.get());
      }
    }
    Map<ChunkId, List<String>> out = new java.util.LinkedHashMap<>();
    if (head != null) {
      out.computeIfAbsent(head, k -> new ArrayList<>()).add(model);
    }
    for (Map.Entry<String, ChunkId> t : tags.entrySet()) {
      out.computeIfAbsent(t.getValue(), k -> new ArrayList<>()).add(model + ":" + t.getKey());
    }
    return out;
  }

  /**
   * Every model with its head, tags, size and number of versions, sorted by name. The number of versions is the
   * length of the head's {@link #firstParents} walk, so {@code ls} and {@code log} count the same versions.
   */
  List<ModelSummary> models(java.util.function.Consumer<CorruptRefException> damagedLog,
      java.util.function.Consumer<io.ferry.error.FerryException> damagedVersion) throws IOException {
    Map<String, Map<String, ChunkId>> tags = new TreeMap<>();
    Map<String, ChunkId> heads = new HashMap<>();
    // every logged ref, read here one by one: list() reads them too, and would stop at the first damaged log
    for (String ref : refs.listLogged("")) {
      String model = RefNames.modelOf(ref);
      Optional<ChunkId> id;
      try {
        id = refs.get(ref);
      } catch (CorruptRefException e) {
        if (damagedLog == null) {
          throw e;
        }
        damagedLog.accept(e);
        continue;
      }
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
        Version v = null;
        try {
          v = db.version(head);
          bytes = v.stats().logicalBytes();
          count = versionCount(head, v);
        } catch (io.ferry.error.CorruptObjectException | io.ferry.error.MissingObjectException damaged) {
          if (damagedVersion == null) {
            throw damaged;
          }
          // a damaged older version leaves the head's size known; the count is not
          bytes = v == null ? ModelSummary.UNKNOWN : bytes;
          count = ModelSummary.UNKNOWN;
          damagedVersion.accept(damaged instanceof io.ferry.error.CorruptObjectException c
              ? new io.ferry.error.CorruptObjectException("model '" + e.getKey() + "'", c)
              : new io.ferry.error.MissingObjectException("model '" + e.getKey() + "'",
                  (io.ferry.error.MissingObjectException) damaged));
        }
      }
      out.add(new ModelSummary(e.getKey(), head, e.getValue(), bytes, count));
    }
    return out;
  }
}
