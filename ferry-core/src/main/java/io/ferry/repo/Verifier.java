package io.ferry.repo;

import io.ferry.objects.ObjectDatabase;

import io.ferry.dedup.SmallChunkIndex;
import io.ferry.error.NotAllowedException;
import io.ferry.id.ChunkId;
import io.ferry.pack.PackIndex;
import io.ferry.read.ChunkBuffers;
import io.ferry.read.ChunkReader;
import io.ferry.read.Location;
import io.ferry.repo.Results.VerifyReport;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.RefStore;
import io.ferry.transfer.TransferListener;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Checks stored chunks completely (frame, length against the snapshot, CRC, decoding, SHA-256 of the content)
 * through the {@link ChunkReader}, for one version or for every version reachable from any ref. Every copy is checked:
 * every (pack, chunk) pair of every pack a checked version lists, since one small chunk can sit in the packs of
 * several models, and every loose chunk. Runs the checks on the repository's pool, a bounded number at a time; never
 * stops at the first error, and reports at most {@link #MAX_ERRORS} of them. A missing or unreadable version,
 * snapshot, pack or chunk is an error in the report, not an exception. A store-wide check also reports each damaged
 * ref log and what {@link io.ferry.store.ChunkStore#layoutDamage} names.
 */
public final class Verifier {
  /** At most this many errors are reported; checking goes on past them. */
  public static final int MAX_ERRORS = 100;

  /** Checks queued on the pool at once, so the queue does not grow with the number of chunks. */
  private static final int IN_FLIGHT = 64;

  private final ObjectDatabase db;
  private final RefStore refs;
  private final ExecutorService pool;
  private final SmallChunkIndex index;
  private final Consumer<String> notices;

  /**
   * A verifier of the objects in {@code db}, finding versions through {@code refs}, checking on {@code pool}; a
   * store-wide verify also checks {@code index} (null: not checked).
   */
  public Verifier(ObjectDatabase db, RefStore refs, ExecutorService pool, SmallChunkIndex index) {
    this(db, refs, pool, index, notice -> { });
  }

  /**
   * As {@link #Verifier(ObjectDatabase, RefStore, ExecutorService, SmallChunkIndex)}; when the store does not let
   * this client read the index's records (a server's read token), the index is left unchecked and {@code notices}
   * hears it, instead of the whole verify failing after every chunk was checked.
   */
  public Verifier(ObjectDatabase db, RefStore refs, ExecutorService pool, SmallChunkIndex index,
      Consumer<String> notices) {
    this.db = db;
    this.refs = refs;
    this.pool = pool;
    this.index = index;
    this.notices = notices;
  }

  /**
   * Checks one version ({@code version} non-null) or every version reachable from any ref (null), with everything
   * their snapshots and packs hold. Progress goes to {@code listener} in raw bytes.
   */
  public VerifyReport verify(VersionRef version, TransferListener listener) throws IOException {
    return check(version, listener).report();
  }

  /**
   * An object that failed its checks with a {@link io.ferry.error.CorruptObjectException} (not one that was missing
   * or could not be read): a candidate for {@code verify --delete-damaged}, which checks it again before deleting.
   *
   * @param kind {@code chunk}, {@code snapshot}, {@code version} or {@code pack}
   * @param label what verify said it held ({@code model@id//file}, {@code pack ...})
   * @param defect the error
   */
  record Suspect(ChunkId object, String kind, String label, String defect) {}

  /**
   * A verify's report, the versions it checked, and the objects it found damaged (ids, not the first 100 only);
   * {@code onlyMissing} is the first object found missing when every error was one found missing (nothing failed its
   * checks), else null.
   */
  record Checked(VerifyReport report, List<VersionRef> versions, List<Suspect> suspects,
      io.ferry.error.MissingObjectException onlyMissing) {}

  /** As {@link #verify}, keeping what {@code verify --delete-damaged} needs. */
  Checked check(VersionRef version, TransferListener listener) throws IOException {
    Errors errors = new Errors();
    List<String> layout = List.of();
    if (version == null) {
      checkRefLogs(errors);
      layout = db.store().layoutDamage();
      for (String damage : layout) {
        errors.add(damage);
      }
    }
    List<VersionRef> versions = version != null ? List.of(version) : reachable(errors);
    Plan plan = plan(versions, errors);
    long biggest = 0;
    for (Meta m : plan.loose.values()) {
      biggest = Math.max(biggest, m.length);
    }
    Run run = new Run(errors, listener, biggest);
    listener.phase("verify", plan.totalBytes());
    try {
      for (Map.Entry<ChunkId, PackIndex> p : plan.packs.entrySet()) {
        List<Map.Entry<ChunkId, PackIndex.Entry>> entries = new ArrayList<>(p.getValue().entries().entrySet());
        entries.sort(Comparator.comparingLong(e -> e.getValue().offset()));
        for (Map.Entry<ChunkId, PackIndex.Entry> e : entries) {
          ChunkId chunk = e.getKey();
          PackIndex.Entry at = e.getValue();
          Meta m = plan.known.get(chunk);
          Location loc = Location.inPack(chunk, p.getKey(), at.offset(), at.length());
          run.submit(loc, m == null ? ChunkReader.ANY_LENGTH : m.length,
              m == null ? "pack " + p.getKey().shortHex(12) : m.where(), m == null ? at.length() : m.length,
              m == null ? null : m.version);
        }
      }
      for (Map.Entry<ChunkId, Meta> c : plan.loose.entrySet()) {
        run.submit(Location.loose(c.getKey()), c.getValue().length, c.getValue().where(), c.getValue().length,
            c.getValue().version);
      }
      run.awaitAll();
    } finally {
      listener.done();
    }
    List<String> indexProblems = List.of();
    if (version == null && index != null) {
      try {
        indexProblems = index.problems();
      } catch (NotAllowedException e) {
        notices.accept("the small-chunk index was not checked: " + e.getMessage());
      }
    }
    return new Checked(new VerifyReport(versions.size(), run.checked.get(), run.bytes.get(), errors.list(),
        errors.damaged(), indexProblems, errors.suspects().size(),
        List.copyOf(new java.util.TreeSet<>(errors.damagedRefs)), layout.size()), versions, errors.suspects(),
        indexProblems.isEmpty() ? errors.onlyMissing() : null);
  }

  /** Checks the whole log of every ref ({@link RefStore#checkLog}); each damaged log is one error. */
  private void checkRefLogs(Errors errors) throws IOException {
    List<String> all = new ArrayList<>(refs.listLogged(""));
    all.addAll(refs.unreadable());
    for (String ref : all) {
      try {
        refs.checkLog(ref);
      } catch (io.ferry.error.CorruptRefException e) {
        errors.add(e.getMessage());
        errors.damagedRefs.add(ref);
      }
    }
  }

  /**
   * What one snapshot says of a chunk: its raw length, and the first version ({@code model@id}) and file found to hold
   * it, so that an error names one model, version and file once, however many versions share the chunk.
   */
  private record Meta(long length, String version, String path) {
    String where() {
      return version + "//" + path;
    }
  }

  private static String ref(VersionRef v) {
    return v.version().model() + "@" + v.id().shortHex(12);
  }

  /** Every copy to check: pack indexes of the listed packs, loose chunks, and what the snapshots say of chunks. */
  private record Plan(Map<ChunkId, PackIndex> packs, Map<ChunkId, Meta> loose, Map<ChunkId, Meta> known) {
    long totalBytes() {
      long n = 0;
      for (PackIndex p : packs.values()) {
        for (Map.Entry<ChunkId, PackIndex.Entry> e : p.entries().entrySet()) {
          Meta m = known.get(e.getKey());
          n += m == null ? e.getValue().length() : m.length;
        }
      }
      for (Meta m : loose.values()) {
        n += m.length;
      }
      return n;
    }
  }

  private Plan plan(List<VersionRef> versions, Errors errors) throws IOException {
    Map<ChunkId, PackIndex> packs = new LinkedHashMap<>();
    Set<ChunkId> badPacks = new HashSet<>();
    Map<ChunkId, Meta> loose = new LinkedHashMap<>();
    Map<ChunkId, Meta> known = new HashMap<>();
    Set<List<ChunkId>> planned = new HashSet<>();
    for (VersionRef v : versions) {
      List<ChunkId> key = new ArrayList<>(v.version().packs());
      key.add(v.version().snapshot());
      if (!planned.add(key)) {
        continue;
      }
      // the stored bytes, not the repository's cache of parsed versions and snapshots (a long-running process, a
      // server, has read them before they were damaged)
      checkStored(v.id(), "version", "version " + ref(v), ref(v), errors);
      List<PackIndex> indexes = new ArrayList<>();
      boolean allPacksRead = true;
      for (ChunkId p : v.version().packs()) {
        PackIndex idx = packs.get(p);
        if (idx == null && !badPacks.contains(p)) {
          try {
            PackIndex read = db.packIndex(p);
            db.checkPackHeader(p);
            idx = read;
            packs.put(p, idx);
          } catch (io.ferry.error.FerryException e) {
            badPacks.add(p);
            errors.add("pack " + p + " of " + ref(v) + ": " + e.getMessage(), ref(v), e);
            errors.suspect(e, p, "pack", "its index or header (listed by " + ref(v) + ")");
          } catch (IOException e) {
            throw unreadable("pack " + p + " of " + ref(v), e);
          }
        }
        if (idx == null) {
          allPacksRead = false;
        } else {
          indexes.add(idx);
        }
      }
      if (!checkStored(v.version().snapshot(), "snapshot", ref(v), ref(v), errors)) {
        continue;
      }
      Snapshot s;
      try {
        s = db.snapshot(v.version().snapshot());
      } catch (io.ferry.error.FerryException e) {
        errors.add(ref(v) + ": " + e.getMessage(), ref(v), e);
        errors.suspect(e, v.version().snapshot(), "snapshot", "the snapshot of " + ref(v));
        continue;
      } catch (IOException e) {
        throw unreadable("the snapshot of " + ref(v), e);
      }
      for (FileEntry f : s.files()) {
        for (ChunkRef c : f.chunks()) {
          Meta m = new Meta(c.length(), ref(v), f.path());
          known.putIfAbsent(c.id(), m);
          if (inAny(indexes, c.id())) {
            continue;
          }
          if (!allPacksRead && c.length() < ObjectDatabase.PACK_THRESHOLD) {
            continue; // in a pack that could not be read, already reported
          }
          loose.putIfAbsent(c.id(), m);
        }
      }
    }
    return new Plan(packs, loose, known);
  }

  /** Checks a version or snapshot object's stored bytes completely; false (and an error) if they fail. */
  private boolean checkStored(ChunkId id, String kind, String label, String version, Errors errors)
      throws IOException {
    try {
      db.reader().verify(Location.loose(id), ChunkReader.ANY_LENGTH);
      return true;
    } catch (io.ferry.error.FerryException e) {
      errors.add(label + ": " + e.getMessage(), version, e);
      errors.suspect(e, id, kind, label);
      return false;
    } catch (IOException e) {
      throw unreadable(kind.equals("snapshot") ? "the snapshot of " + label : label, e);
    }
  }

  private static boolean inAny(List<PackIndex> indexes, ChunkId id) {
    for (PackIndex p : indexes) {
      if (p.entries().containsKey(id)) {
        return true;
      }
    }
    return false;
  }

  /** Versions reachable from every ref and their parents; an unreadable one is an error, and its parents unknown. */
  private List<VersionRef> reachable(Errors errors) throws IOException {
    Deque<ChunkId> todo = new ArrayDeque<>();
    Map<ChunkId, String> via = new HashMap<>();
    List<String> names;
    try {
      names = refs.list("");
    } catch (io.ferry.error.CorruptRefException damaged) {
      // a damaged log ends the listing of the refs that exist; checkRefLogs reported it, the others are checked
      names = refs.listLogged("");
    }
    for (String ref : names) {
      Optional<ChunkId> id;
      try {
        id = refs.get(ref);
      } catch (io.ferry.error.CorruptRefException damaged) {
        if (errors.damagedRefs.add(ref)) {
          errors.add(damaged.getMessage());
        }
        continue;
      }
      if (id.isPresent()) {
        todo.add(id.get());
        via.putIfAbsent(id.get(), ref);
      }
    }
    Set<ChunkId> seen = new HashSet<>();
    List<VersionRef> out = new ArrayList<>();
    while (!todo.isEmpty()) {
      ChunkId id = todo.pop();
      if (!seen.add(id)) {
        continue;
      }
      Version v;
      // the ref as users write it (tiny, tiny:prod), not as stored (tiny/head)
      String reachedFrom = io.ferry.store.RefNames.asWritten(via.get(id));
      try {
        v = db.version(id);
      } catch (io.ferry.error.FerryException e) {
        // named as a damaged version by the model of the ref that reaches it, so the repair can say what to copy back
        errors.add("version " + id.shortHex(12) + " (reachable from " + reachedFrom + "): " + e.getMessage(),
            e instanceof io.ferry.error.CorruptObjectException
                ? io.ferry.store.RefNames.modelOf(via.get(id)) + "@" + id.shortHex(12) : null, e);
        errors.suspect(e, id, "version", "version " + id.shortHex(12) + " (reachable from " + reachedFrom + ")");
        continue;
      } catch (IOException e) {
        throw unreadable("version " + id.shortHex(12) + " (reachable from " + reachedFrom + ")", e);
      }
      out.add(new VersionRef(id, v));
      for (ChunkId p : v.parents()) {
        via.putIfAbsent(p, via.get(id));
        todo.add(p);
      }
    }
    return out;
  }

  /** The errors found, at most {@link #MAX_ERRORS}. Thread-safe. */
  private static final class Errors {
    private final List<String> list = Collections.synchronizedList(new ArrayList<>());
    private final Set<String> damaged = new java.util.LinkedHashSet<>();
    private final Map<ChunkId, Suspect> suspects = new LinkedHashMap<>();
    /** Refs whose log damage is reported, once each. */
    final Set<String> damagedRefs = new HashSet<>();
    /** Errors that were not an object found missing (a missing object is no damage of a version no ref reaches). */
    private int notMissing;
    private io.ferry.error.MissingObjectException firstMissing;

    void add(String error) {
      add(error, null, null);
    }

    /**
     * An error about an object of {@code version} ({@code model@id}; null if none is known), found by {@code cause}
     * (null: not an exception of the object's own).
     */
    void add(String error, String version, io.ferry.error.FerryException cause) {
      synchronized (list) {
        if (list.size() < MAX_ERRORS) {
          list.add(error);
        }
        if (version != null) {
          damaged.add(version);
        }
        if (cause instanceof io.ferry.error.MissingObjectException m) {
          firstMissing = firstMissing == null ? m : firstMissing;
        } else {
          notMissing++;
        }
      }
    }

    /** The first object found missing when every error was one found missing, else null. */
    io.ferry.error.MissingObjectException onlyMissing() {
      synchronized (list) {
        return notMissing == 0 ? firstMissing : null;
      }
    }

    List<String> damaged() {
      synchronized (list) {
        return List.copyOf(damaged);
      }
    }

    /**
     * Notes {@code object} as damaged when {@code e} says its own bytes fail their checks (not when it is missing,
     * nor when another object is to blame); the first label of each object is kept.
     */
    void suspect(io.ferry.error.FerryException e, ChunkId object, String kind, String label) {
      suspect(e, object, object, kind, label);
    }

    /** As above, for a chunk {@code named} (the id the error carries) read from {@code object} (its pack). */
    void suspect(io.ferry.error.FerryException e, ChunkId named, ChunkId object, String kind, String label) {
      if (e instanceof io.ferry.error.CorruptObjectException c && named.equals(c.id())) {
        synchronized (list) {
          suspects.putIfAbsent(object, new Suspect(object, kind, label, c.why()));
        }
      }
    }

    List<Suspect> suspects() {
      synchronized (list) {
        return List.copyOf(suspects.values());
      }
    }

    List<String> list() {
      synchronized (list) {
        return List.copyOf(list);
      }
    }
  }

  /**
   * A read that failed without finding damage (permission denied, an I/O error): verify stops with it (exit 1), since
   * it cannot vouch for the store, rather than call the object damaged, whose repair would delete it.
   */
  private static IOException unreadable(String what, IOException e) {
    String file = io.ferry.error.FileErrors.describe(e);
    return new IOException(what + " could not be read: " + (file != null ? file : e.getMessage()), e);
  }

  /** Checks running on the pool, at most {@link #IN_FLIGHT} at once. */
  private final class Run {
    private final Errors errors;
    private final TransferListener listener;
    private final Semaphore slots = new Semaphore(IN_FLIGHT);
    /**
     * The buffers compressed loose chunks are read and decoded in, shared by the checks: frames and decoded bytes
     * take at most a third of the heap each (or one chunk's worth), whatever the pool's size and the store; a whole
     * frame read through a cache was otherwise held twice by every worker.
     */
    private final ChunkBuffers buffers;
    final AtomicLong checked = new AtomicLong();
    final AtomicLong bytes = new AtomicLong();
    /** The first read that failed without finding damage: thrown once every check has ended. */
    final java.util.concurrent.atomic.AtomicReference<IOException> unreadable =
        new java.util.concurrent.atomic.AtomicReference<>();

    /** @param biggest the raw length of the biggest loose chunk to check (packed ones are read whole, small) */
    Run(Errors errors, TransferListener listener, long biggest) {
      this.errors = errors;
      this.listener = listener;
      this.buffers = ChunkBuffers.forChunksUpTo(biggest);
    }

    void submit(Location loc, long length, String label, long progress, String version) throws IOException {
      acquire(1);
      try {
        pool.execute(() -> {
          try {
            bytes.addAndGet(db.reader().verify(loc, length, buffers));
          } catch (io.ferry.error.FerryException e) {
            errors.add(label + ": " + e.getMessage(), version, e);
            errors.suspect(e, loc.chunk(), loc.object(), loc.packed() ? "pack" : "chunk", loc.packed()
                ? "its frame of chunk " + loc.chunk().shortHex(12) + " (" + label + ")" : label);
          } catch (IOException e) {
            // not damage but a read that failed (permission denied, an I/O error): verify cannot vouch for the
            // store, and must not call an object it could not read damaged (its repair would delete it)
            unreadable.compareAndSet(null, unreadable(label + ": object " + loc.chunk(), e));
          } catch (RuntimeException e) {
            errors.add(label + ": object " + loc.chunk() + " at " + db.reader().describe(loc)
                + " could not be checked: " + e, version, null);
          } catch (Error e) {
            // out of memory, say: the object was not checked, so verify cannot vouch for the store (it said "ok" with
            // damaged objects it never got to), nor call it damaged
            unreadable.compareAndSet(null, new IOException(label + ": object " + loc.chunk() + " at "
                + db.reader().describe(loc) + " could not be checked: " + e
                + " (a larger heap, FERRY_HEAP=2g for one, lets it finish: docs/memory.md)", e));
          } finally {
            checked.incrementAndGet();
            listener.progress(progress);
            slots.release();
          }
        });
      } catch (RuntimeException e) {
        slots.release();
        throw e;
      }
    }

    void awaitAll() throws IOException {
      acquire(IN_FLIGHT);
      slots.release(IN_FLIGHT);
      if (unreadable.get() != null) {
        throw unreadable.get();
      }
    }

    private void acquire(int n) throws IOException {
      try {
        slots.acquire(n);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while verifying");
      }
    }
  }
}
