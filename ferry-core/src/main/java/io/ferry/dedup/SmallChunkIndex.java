package io.ferry.dedup;

import io.ferry.error.CorruptObjectException;
import io.ferry.error.MissingObjectException;
import io.ferry.id.ChunkId;
import io.ferry.objects.ObjectDatabase;
import io.ferry.pack.PackIndex;
import io.ferry.store.ChunkStore;
import io.ferry.store.RecordStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The store-wide index of small chunks: which pack holds each chunk under the pack threshold, so that a push finds a
 * small chunk whatever model's pack holds it (docs/small-chunk-index.md). Thread-safe; one per repository.
 *
 * <p>The index is a <b>hint</b>. A miss only costs storage; every hit is checked against the pack's own index before
 * a push uses it, and the push then lists the pack in its version and protects it like any pack it reuses (declared
 * in its lease, checked to exist before publishing), so a wrong, stale or damaged index can never make a version
 * reference a chunk that is not there. A damaged table or pointer is read as absent (logged at debug), never as an
 * error of a push: the index is rebuilt from later pushes. A store-wide verify reports it ({@link #problems}) and a
 * {@link #backfill} repairs it.
 *
 * <p>It is log-structured, over the store's {@link RecordStore} and {@link ChunkStore}, with nothing but what their
 * contracts guarantee (create-if-absent, read-after-write, list-after-write):
 *
 * <ul>
 *   <li>each push that writes packs adds <b>delta</b> records {@code dedup/deltas/<unique key>} under keys of its own
 *       (no contention): an {@link IndexTable} of its packs' chunks, at most {@link RecordStore#MAX_RECORD_BYTES} each;
 *   <li>a <b>base</b> table merges many deltas; it is an object in the chunk store, named by the SHA-256 of its bytes;
 *   <li>the <b>pointer</b> is the numbered record {@code dedup/bases/<n, 20 digits>} with the highest n: it names the
 *       current base and the deltas it absorbed. A merge creates record n+1 only if absent, so of two concurrent
 *       merges exactly one wins (a compare-and-swap built on create-if-absent, as the numbered ref log is); the loser's
 *       table is an unreferenced object that gc removes. gc removes all pointer records but the newest two
 *       ({@link #prunePointers}) before it marks, and keeps the bases the remaining ones name.
 * </ul>
 *
 * A reader lists the deltas, then reads the pointer, the base (cached by id) and the deltas the pointer has not
 * absorbed. gc keeps the bases that pointer records name, and after deleting packs writes a new base without them.
 */
public final class SmallChunkIndex {
  private static final Logger LOG = LoggerFactory.getLogger(SmallChunkIndex.class);
  static final String DELTAS = "dedup/deltas/";
  static final String BASES = "dedup/bases/";
  private static final String POINTER_FORMAT = "ferry-small-chunk-index/1";
  /** Most deltas one merge absorbs, so that a pointer record stays far below the record size limit. */
  static final int MAX_ABSORB = 4096;
  /** Largest base a push loads (about 89 million entries). */
  static final long MAX_BASE_BYTES = 1L << 30;

  private final ChunkStore chunks;
  private final RecordStore records;
  private final ObjectDatabase db;
  private final int mergeThreshold;
  /** The last base loaded, by id: bases are immutable. */
  private volatile Loaded cached;

  private record Loaded(ChunkId id, IndexTable table) {}

  /**
   * The current pointer: its number (0 when there is none), base (null for none) and absorbed delta keys, and the
   * highest number of any pointer record, readable or not ({@code top}): the next merge creates {@code top + 1}, so a
   * damaged newest record cannot make every merge lose its race for a number that is taken.
   */
  record Pointer(long number, long top, ChunkId base, Set<String> absorbed) {
    static final Pointer NONE = new Pointer(0, 0, null, Set.of());

    Pointer withTop(long t) {
      return new Pointer(number, t, base, absorbed);
    }
  }

  /** What a merge did. */
  public enum MergeOutcome {
    /** A new base was published. */
    MERGED,
    /** Nothing to merge (no unabsorbed delta, nothing to filter). */
    NOTHING,
    /** Another merge published first; this one's table is left for gc. */
    LOST_RACE
  }

  /**
   * An index over a store.
   *
   * @param mergeThreshold how many unabsorbed deltas make a push merge them into a new base (at least 1)
   */
  public SmallChunkIndex(ObjectDatabase db, RecordStore records, int mergeThreshold) {
    if (mergeThreshold < 1) {
      throw new IllegalArgumentException("merge threshold must be at least 1, got " + mergeThreshold);
    }
    this.db = db;
    this.chunks = db.store();
    this.records = records;
    this.mergeThreshold = mergeThreshold;
  }

  /** The default merge threshold: deltas a push reads beside the base at most (about). */
  public static final int DEFAULT_MERGE_THRESHOLD = 32;

  // ------------------------------------------------------------------ reading

  /**
   * Loads the index as it is now, for one push: the base (from the cache when unchanged) and the deltas it has not
   * absorbed. A store without an index gives an empty view.
   */
  public View load() throws IOException {
    List<String> deltas = records.list(DELTAS);
    Pointer p = pointer();
    List<IndexTable> tables = new ArrayList<>();
    base(p).ifPresent(tables::add);
    List<String> unabsorbed = new ArrayList<>();
    for (String k : deltas) {
      if (!p.absorbed().contains(k)) {
        unabsorbed.add(k);
      }
    }
    tables.addAll(readDeltas(unabsorbed).values());
    return new View(db, tables);
  }

  /** The pointer with the highest number, or {@link Pointer#NONE}. */
  Pointer pointer() throws IOException {
    List<String> keys = records.list(BASES);
    long top = 0;
    for (int i = keys.size() - 1; i >= 0; i--) {
      long n = number(keys.get(i));
      if (n < 0) {
        continue;
      }
      top = Math.max(top, n);
      Optional<byte[]> content = records.read(keys.get(i));
      if (content.isEmpty()) {
        continue; // removed by a newer merge since the listing: an older one is still a valid hint
      }
      Optional<Pointer> p = parsePointer(n, keys.get(i), content.get());
      if (p.isPresent()) {
        return p.get().withTop(top);
      }
    }
    return Pointer.NONE.withTop(top);
  }

  private Optional<IndexTable> base(Pointer p) throws IOException {
    if (p.base() == null) {
      return Optional.empty();
    }
    Loaded c = cached;
    if (c != null && c.id().equals(p.base())) {
      return Optional.of(c.table());
    }
    try {
      Optional<IndexTable> t = readBase(p.base());
      t.ifPresent(table -> cached = new Loaded(p.base(), table));
      return t;
    } catch (MissingObjectException | CorruptObjectException e) {
      // a newer merge replaced it and gc removed it, or it is damaged: a hint, read as absent
      LOG.debug("{} is unusable, read as absent: {}", baseName(p.base()), e.getMessage());
      return Optional.empty();
    }
  }

  private String baseName(ChunkId base) {
    return chunks.describe() + " small-chunk index base " + base;
  }

  /** A base table read and checked (not from the cache); empty when it is larger than a push loads. */
  private Optional<IndexTable> readBase(ChunkId base) throws IOException {
    String what = baseName(base);
    long size = chunks.size(base);
    if (size > MAX_BASE_BYTES) {
      LOG.debug("{} is {} bytes, more than a push loads ({}); read as absent", what, size, MAX_BASE_BYTES);
      return Optional.empty();
    }
    // one positional read straight into a direct buffer (a local store copies once, from the page cache)
    ByteBuffer bytes = ByteBuffer.allocateDirect((int) size);
    chunks.readInto(base, 0, bytes);
    return Optional.of(IndexTable.parse(bytes.flip(), base, what));
  }

  /**
   * What is damaged in the index, one line each, for a store-wide verify: pointer records whose content is not a
   * pointer, the base the current pointer names when it is missing or damaged, and deltas not absorbed yet that are
   * not a table. The index is a hint, so none of these hurts a model (each is read as absent, which costs dedup only);
   * {@link #backfill} repairs them.
   */
  public List<String> problems() throws IOException {
    List<String> out = new ArrayList<>();
    for (String k : records.list(BASES)) {
      String misplaced = misplacedPointer(k);
      if (misplaced != null) {
        out.add("small-chunk index: " + records.describe() + " record " + k + " " + misplaced);
        continue;
      }
      Optional<byte[]> content = records.read(k);
      String why = content.map(c -> pointerProblem(pointerLines(c))).orElse(null);
      if (why != null) {
        out.add("small-chunk index: " + records.describe() + " record " + k + " is damaged: " + why);
      }
    }
    Pointer p = pointer();
    if (p.base() != null) {
      try {
        // read afresh, not from the cache; kept as the cache, so a backfill that checks first loads it once
        readBase(p.base()).ifPresent(t -> cached = new Loaded(p.base(), t));
      } catch (MissingObjectException | CorruptObjectException e) {
        out.add("small-chunk index: " + baseName(p.base()) + ", which record " + key(p.number()) + " names, is "
            + (e instanceof CorruptObjectException c ? "damaged: " + c.why() : "missing: " + e.getMessage()));
      }
    }
    List<String> unabsorbed = new ArrayList<>();
    for (String k : records.list(DELTAS)) {
      if (!p.absorbed().contains(k)) {
        unabsorbed.add(k);
      }
    }
    List<Optional<byte[]>> contents = records.readAll(unabsorbed);
    for (int i = 0; i < unabsorbed.size(); i++) {
      if (contents.get(i).isPresent()) {
        try {
          IndexTable.parse(ByteBuffer.wrap(contents.get(i).get()), null, records.describe() + " record "
              + unabsorbed.get(i));
        } catch (CorruptObjectException e) {
          out.add("small-chunk index: " + e.where() + " is damaged: " + e.why());
        }
      }
    }
    return out;
  }

  private Map<String, IndexTable> readDeltas(List<String> keys) throws IOException {
    Map<String, IndexTable> out = new TreeMap<>();
    List<Optional<byte[]>> contents = records.readAll(keys);
    for (int i = 0; i < keys.size(); i++) {
      if (contents.get(i).isEmpty()) {
        continue; // absorbed and removed since the listing
      }
      String what = records.describe() + " record " + keys.get(i);
      try {
        out.put(keys.get(i), IndexTable.parse(ByteBuffer.wrap(contents.get(i).get()), null, what));
      } catch (CorruptObjectException e) {
        LOG.debug("{} is unusable, read as absent: {}", what, e.getMessage());
      }
    }
    return out;
  }

  /** The packs the index names now (base and unabsorbed deltas). */
  public Set<ChunkId> packsNamed() throws IOException {
    Set<ChunkId> out = new HashSet<>();
    for (IndexTable t : load().tables) {
      out.addAll(t.packs());
    }
    return out;
  }

  /** The base tables that pointer records name: what gc keeps. */
  public Set<ChunkId> baseObjects() throws IOException {
    Set<ChunkId> out = new HashSet<>();
    for (String k : records.list(BASES)) {
      long n = number(k);
      Optional<byte[]> content = n < 0 ? Optional.empty() : records.read(k);
      if (content.isPresent()) {
        parsePointer(n, k, content.get()).map(Pointer::base).ifPresent(out::add);
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ writing

  /**
   * Adds the chunks of packs a push wrote, as delta records of its own (one unless they pass the record size limit).
   * Call once the packs are durable; the packs need not be referenced yet (a hit is always checked).
   *
   * @return the keys of the records written
   */
  public List<String> add(Collection<PackIndex> written) throws IOException {
    DeltaWriter w = new DeltaWriter();
    for (PackIndex p : written) {
      for (ChunkId c : p.entries().keySet()) {
        w.add(c, p.pack());
      }
    }
    w.flush();
    return w.keys;
  }

  /**
   * Writes (chunk, pack) entries as delta records under one random prefix, starting a new record whenever the next
   * entry would take the current one past {@link RecordStore#MAX_RECORD_BYTES}. Not thread-safe.
   */
  private final class DeltaWriter {
    private final String prefix = DELTAS + java.util.UUID.randomUUID().toString().replace("-", "");
    private final List<String> keys = new ArrayList<>();
    private final List<IndexTable> tables = new ArrayList<>();
    private IndexTable.Builder b = new IndexTable.Builder();
    private final Set<ChunkId> packsInRecord = new HashSet<>();
    private int entries;

    /** Adds an entry; returns the key of a record this wrote to make room, or null. */
    String add(ChunkId chunk, ChunkId pack) throws IOException {
      String wrote = null;
      int packs = packsInRecord.size() + (packsInRecord.contains(pack) ? 0 : 1);
      long size = IndexTable.HEADER_LENGTH + 32L * packs + IndexTable.FANOUT_LENGTH
          + (long) IndexTable.ENTRY_LENGTH * (entries + 1) + IndexTable.FOOTER_LENGTH;
      if (size > RecordStore.MAX_RECORD_BYTES) {
        wrote = flush();
      }
      b.add(IndexTable.key(chunk), pack);
      packsInRecord.add(pack);
      entries++;
      return wrote;
    }

    /** Writes what was added since the last record, if anything; returns its key, or null. */
    String flush() throws IOException {
      if (entries == 0) {
        return null;
      }
      IndexTable t = b.build();
      String key = prefix + "-" + keys.size();
      writeDelta(key, t, keys);
      tables.add(t);
      b = new IndexTable.Builder();
      packsInRecord.clear();
      entries = 0;
      return key;
    }
  }

  private void writeDelta(String key, IndexTable t, List<String> keys) throws IOException {
    ByteBuffer bytes = t.bytes();
    byte[] content = new byte[bytes.remaining()];
    bytes.get(content);
    if (!records.createOwn(key, content)) {
      throw new IOException("small-chunk index delta " + key + " already exists in " + records.describe()
          + "; its key was to be unique");
    }
    keys.add(key);
  }

  /** Packs a backfill declares in its lease and reads at a time. */
  static final int BACKFILL_BATCH = 256;

  /**
   * Adds to the index the chunks of packs it does not name yet: a store written before the index existed, or packs
   * whose push died before writing its delta. Reads each pack's own index (CRC-checked), skips chunks the index (or
   * this backfill) already has, and writes the rest as delta records through the same code as a push's ({@link #add}:
   * each at most {@link RecordStore#MAX_RECORD_BYTES}), merging them as pushes do. Memory: the delta being filled and
   * the tables already written (12 bytes a chunk added), beside the index as a push loads it and the object database's
   * bounded cache of pack indexes.
   *
   * <p>Idempotent: a second run over the same packs adds nothing. Safe beside pushes (deltas have keys of their own,
   * merges are a compare-and-swap) and beside gc: each batch of packs is declared in {@code lease} and read only once
   * no gc is deleting, so a pack this names stays until the lease ends, and one already gone is skipped (counted as
   * unreadable); gc drops the entries of packs it deletes later, as it does for any pack.
   *
   * @param packs the packs to index (those of every live version); duplicates are read once
   * @param lease a push lease, held while this runs
   */
  public BackfillReport backfill(Collection<ChunkId> packs, io.ferry.lease.Lease lease) throws IOException {
    int damaged = problems().size();
    View view = load();
    Set<ChunkId> named = new HashSet<>();
    for (IndexTable t : view.tables) {
      named.addAll(t.packs());
    }
    Set<ChunkId> all = new java.util.TreeSet<>(packs);
    List<ChunkId> todo = new ArrayList<>();
    for (ChunkId p : all) {
      if (!named.contains(p)) {
        todo.add(p);
      }
    }
    DeltaWriter w = new DeltaWriter();
    Set<Long> inRecord = new HashSet<>();
    long read = 0;
    long unreadable = 0;
    long added = 0;
    for (int from = 0; from < todo.size(); from += BACKFILL_BATCH) {
      List<ChunkId> batch = todo.subList(from, Math.min(todo.size(), from + BACKFILL_BATCH));
      lease.protect(batch);
      lease.awaitNoGc();
      for (ChunkId pack : batch) {
        PackIndex idx;
        try {
          idx = db.packIndex(pack);
        } catch (MissingObjectException | CorruptObjectException e) {
          LOG.debug("backfill of the small-chunk index skips pack {}: {}", pack, e.getMessage());
          unreadable++;
          continue;
        }
        read++;
        for (ChunkId c : idx.entries().keySet()) {
          long key = IndexTable.key(c);
          if (inRecord.contains(key) || has(view.tables, c) || has(w.tables, c)) {
            continue;
          }
          if (w.add(c, pack) != null) {
            inRecord.clear();
            mergeIfDue();
          }
          inRecord.add(key);
          added++;
        }
      }
    }
    if (w.flush() != null) {
      mergeIfDue();
    }
    if (damaged > 0) {
      dropDamaged();
    }
    return new BackfillReport(all.size(), all.size() - todo.size(), read, unreadable, added, w.keys.size(),
        damaged);
  }

  /**
   * Repairs what {@link #problems} finds, once a backfill has indexed again the packs that damaged records named: a
   * merge absorbs (and then deletes) the damaged deltas and writes a new base in place of a damaged or missing one,
   * under a pointer above any damaged one; pointer records below the current one that are not pointers are deleted
   * (no reader reads a record below the current pointer).
   */
  private void dropDamaged() throws IOException {
    for (String k : records.list(BASES)) {
      if (misplacedPointer(k) != null) {
        records.delete(k);
      }
    }
    merge(pack -> true, true);
    Pointer p = pointer();
    for (String k : records.list(BASES)) {
      long n = number(k);
      Optional<byte[]> content = n < 0 || n >= p.number() ? Optional.empty() : records.read(k);
      if (content.isPresent() && pointerProblem(pointerLines(content.get())) != null) {
        records.delete(k);
      }
    }
  }

  private static boolean has(List<IndexTable> tables, ChunkId chunk) {
    for (IndexTable t : tables) {
      if (!t.candidates(chunk).isEmpty()) {
        return true;
      }
    }
    return false;
  }

  private void mergeIfDue() throws IOException {
    if (mergeDue()) {
      merge(pack -> true, false);
    }
  }

  /**
   * What a {@link #backfill} did.
   *
   * @param packs distinct packs it was given
   * @param alreadyIndexed of those, packs the index named already (not read)
   * @param read packs whose index it read
   * @param unreadable packs that were gone or damaged (skipped; a version that lists one fails {@code verify})
   * @param chunksAdded entries it added: chunks the index did not have
   * @param deltas delta records it wrote
   * @param repaired damaged parts of the index it found ({@link #problems}) and replaced
   */
  public record BackfillReport(long packs, long alreadyIndexed, long read, long unreadable, long chunksAdded,
      int deltas, int repaired) {
    /** Checks that every count is at least 0 and that the pack counts add up. */
    public BackfillReport {
      if (packs < 0 || alreadyIndexed < 0 || read < 0 || unreadable < 0 || chunksAdded < 0 || deltas < 0
          || repaired < 0) {
        throw new IllegalArgumentException("backfill counts must not be negative: packs " + packs + ", already indexed "
            + alreadyIndexed + ", read " + read + ", unreadable " + unreadable + ", chunks added " + chunksAdded
            + ", deltas " + deltas + ", repaired " + repaired);
      }
      if (alreadyIndexed + read + unreadable != packs) {
        throw new IllegalArgumentException("backfill pack counts do not add up: " + alreadyIndexed
            + " already indexed + " + read + " read + " + unreadable + " unreadable, expected " + packs);
      }
    }
  }

  /**
   * Adds the packs a push or copy wrote ({@link #add}) and merges the deltas into a new base when enough wait ({@link
   * #mergeDue}), as every writer of packs does under its push lease before anything references the packs.
   *
   * @return the keys of the delta records written
   */
  public List<String> record(Collection<PackIndex> written) throws IOException {
    if (written.isEmpty()) {
      return List.of();
    }
    List<String> keys = add(written);
    mergeIfDue();
    return keys;
  }

  /**
   * Removes delta records a push wrote ({@link #record}) and then failed to publish, so that a failed push leaves the
   * index as it was; one a merge absorbed meanwhile is gone already or removed as a merge would. Failures are attached
   * to {@code cause} (a record left behind names packs that no longer exist: a hint, which lookups check and skip).
   */
  public void unrecord(Collection<String> keys, Throwable cause) {
    for (String k : keys) {
      try {
        records.delete(k);
      } catch (IOException | RuntimeException e) {
        cause.addSuppressed(e);
      }
    }
  }

  /** Whether as many deltas wait unabsorbed as make a push merge them (the threshold). */
  public boolean mergeDue() throws IOException {
    List<String> deltas = records.list(DELTAS);
    if (deltas.size() < mergeThreshold) {
      return false;
    }
    Set<String> absorbed = pointer().absorbed();
    long fresh = deltas.stream().filter(k -> !absorbed.contains(k)).count();
    return fresh >= mergeThreshold;
  }

  /**
   * Merges the base and the deltas it has not absorbed into a new base, keeping only entries whose pack {@code keep}
   * accepts, and publishes it if no other merge published first. The new base is written into the chunk store before
   * its pointer: the caller must hold a lease (push or gc) so that gc keeps it until the pointer names it. Absorbed
   * deltas are removed after publishing.
   *
   * @param filter whether entries are to be filtered even when no delta waits (gc after deleting packs)
   */
  public MergeOutcome merge(Predicate<ChunkId> keep, boolean filter) throws IOException {
    List<String> deltas = records.list(DELTAS);
    Pointer p = pointer();
    Set<String> absorbed = new LinkedHashSet<>();
    List<String> fresh = new ArrayList<>();
    for (String k : deltas) {
      if (p.absorbed().contains(k)) {
        absorbed.add(k);
      } else if (fresh.size() < MAX_ABSORB) {
        fresh.add(k);
      }
    }
    if (fresh.isEmpty() && !filter) {
      return MergeOutcome.NOTHING;
    }
    List<IndexTable> tables = new ArrayList<>();
    base(p).ifPresent(tables::add);
    Map<String, IndexTable> read = readDeltas(fresh);
    tables.addAll(read.values());
    absorbed.addAll(fresh); // unreadable ones too: they are damaged or gone
    IndexTable merged = IndexTable.merge(tables, keep);
    ByteBuffer bytes = merged.bytes();
    ChunkId id = ChunkId.of(bytes.duplicate());
    chunks.put(id, bytes);
    long next = Math.max(p.number(), p.top()) + 1;
    if (next > MAX_NUMBER) {
      // only a planted record gets this high (a merge a second would take 30 billion years): stay a hint, do not fail
      LOG.warn("{}: a pointer record numbered {} leaves no higher number; the small-chunk index is not merged "
          + "(remove that record; ferry verify lists it)", records.describe(), p.top());
      return MergeOutcome.NOTHING;
    }
    if (!records.create(key(next), pointerBytes(id, absorbed))) {
      return MergeOutcome.LOST_RACE;
    }
    cached = new Loaded(id, merged);
    for (String k : absorbed) {
      records.delete(k);
    }
    return MergeOutcome.MERGED;
  }

  /**
   * Removes pointer records but the newest two, so that gc then no longer keeps their bases. Only gc calls this,
   * before it marks: a base stays kept from its merge until a gc that runs after two newer merges, so a gc's dry run
   * right after a gc finds none of the index's objects dead.
   */
  public void prunePointers() throws IOException {
    List<String> keys = new ArrayList<>();
    for (String k : records.list(BASES)) {
      if (number(k) >= 0) {
        keys.add(k);
      }
    }
    for (int i = 0; i < keys.size() - 2; i++) {
      records.delete(keys.get(i));
    }
  }

  // ------------------------------------------------------------------ pointer records

  /** The highest pointer record number ({@link #number}); far beyond what merges reach. */
  static final long MAX_NUMBER = 999_999_999_999_999_999L;
  /** Pointer records numbered above this leave fewer than a million merges: none of Ferry's merges made them. */
  private static final long HIGH_NUMBER = MAX_NUMBER - 1_000_000;

  /**
   * Why a record among the pointer records cannot be one that merges made (then {@link #problems} lists it and a
   * backfill removes it), or null: a name that is not a number ({@link #number}), or a number so high that merges
   * after it would soon find none.
   */
  private static String misplacedPointer(String key) {
    long n = number(key);
    if (n < 0) {
      return "is not a pointer record (those are named " + BASES + " and 20 digits)";
    }
    return n > HIGH_NUMBER ? "is numbered too high for merges to follow it (" + n + ")" : null;
  }

  private static String key(long n) {
    return BASES + String.format("%020d", n);
  }

  /**
   * The number of a pointer record's key, or -1 for a key that is not one: not 20 ASCII digits, or a number above
   * {@link #MAX_NUMBER} (a record nobody's merges made; whoever may write records could plant one, and it must not
   * stop pushes nor make the next number overflow).
   */
  private static long number(String key) {
    String tail = key.substring(BASES.length());
    if (tail.length() != 20 || !tail.chars().allMatch(c -> c >= '0' && c <= '9')) {
      return -1;
    }
    try {
      long n = Long.parseLong(tail);
      return n <= MAX_NUMBER ? n : -1;
    } catch (NumberFormatException tooBig) {
      return -1;
    }
  }

  private static byte[] pointerBytes(ChunkId base, Collection<String> absorbed) {
    StringBuilder b = new StringBuilder(POINTER_FORMAT).append('\n').append("base ").append(base.hex()).append('\n');
    for (String k : absorbed) {
      b.append("absorbed ").append(k).append('\n');
    }
    return b.toString().getBytes(StandardCharsets.UTF_8);
  }

  private Optional<Pointer> parsePointer(long n, String key, byte[] content) {
    String[] lines = pointerLines(content);
    String why = pointerProblem(lines);
    if (why != null) {
      LOG.debug("{} record {} is unusable, read as absent: {}", records.describe(), key, why);
      return Optional.empty();
    }
    Set<String> absorbed = new HashSet<>();
    for (int i = 2; i < lines.length - 1; i++) {
      absorbed.add(lines[i].substring(9));
    }
    return Optional.of(new Pointer(n, n, ChunkId.parse(lines[1].substring(5)), absorbed));
  }

  private static String[] pointerLines(byte[] content) {
    return new String(content, StandardCharsets.UTF_8).split("\n", -1);
  }

  /** What is wrong with a pointer record (its {@link #pointerLines}), or null if it is one. */
  private static String pointerProblem(String[] lines) {
    if (lines.length < 3 || !lines[0].equals(POINTER_FORMAT) || !lines[lines.length - 1].isEmpty()) {
      return "expected '" + POINTER_FORMAT + "' and newline-terminated lines";
    }
    if (!lines[1].startsWith("base ")) {
      return "line 2 is not 'base <id>'";
    }
    try {
      ChunkId.parse(lines[1].substring(5));
    } catch (IllegalArgumentException e) {
      return "line 2: " + e.getMessage();
    }
    for (int i = 2; i < lines.length - 1; i++) {
      if (!lines[i].startsWith("absorbed " + DELTAS)) {
        return "line " + (i + 1) + " is not 'absorbed " + DELTAS + "<key>'";
      }
    }
    return null;
  }

  // ------------------------------------------------------------------ the view a push consults

  /**
   * The index as one push sees it. Thread-safe: the push's workers look chunks up at once, each on its own thread. A
   * hit is returned only after the pack's own index (read through the object database, checked, and read once per
   * pack for the view's life) confirmed it and the chunk's frame in the pack decoded to exactly the bytes the push
   * hashed to its id; packs that are missing or damaged count as misses.
   *
   * <p>Why the frame's bytes are checked although the pack index is CRC-checked: a Ferry server takes a pack from any
   * client with write access to some model after hashing the pack as a whole, not the frames in it, so a pack may hold
   * a frame whose header names chunk X around other bytes. Before the index only the model's own packs (written with
   * the same write access) were reused; the index crosses that line, and an unchecked hit would let a writer of one
   * model slip bytes into another's versions that reads (CRCs, id in the header) would not notice. The push holds the
   * chunk's bytes and has hashed them, so comparing the decoded frame with them proves what hashing the frame would,
   * without a second SHA-256 pass; decoding the frame is the rest of a hit's cost. It runs on the push's workers, in
   * parallel, beside the push's own hashing.
   */
  public static final class View {
    /** A view that finds nothing: a push without the store-wide index (or storing again after a gc). */
    public static final View EMPTY = new View(null, List.of());

    private final ObjectDatabase db;
    private final List<IndexTable> tables;
    private final Set<ChunkId> unusable = ConcurrentHashMap.newKeySet();
    /** Pack indexes this view read (many hits share a few packs): one read per pack, whichever worker asks first. */
    private final Map<ChunkId, java.util.concurrent.CompletableFuture<PackIndex>> packIndexes =
        new ConcurrentHashMap<>();

    View(ObjectDatabase db, List<IndexTable> tables) {
      this.db = db;
      this.tables = List.copyOf(tables);
    }

    /** Entries in the tables of this view (a chunk in several packs counts once per pack). */
    public long entries() {
      long n = 0;
      for (IndexTable t : tables) {
        n += t.entryCount();
      }
      return n;
    }

    /** Tables read: the base (if any) and the unabsorbed deltas. */
    public int tables() {
      return tables.size();
    }

    /**
     * Where the chunk's frame is, in a pack that holds it now (checked against the pack's index) and whose frame
     * decodes to exactly {@code content}, or empty.
     *
     * @param content the chunk's bytes, which the caller hashed to {@code chunk}; position and limit are unchanged
     */
    public Optional<PackIndex.Entry> locate(ChunkId chunk, java.nio.ByteBuffer content) throws IOException {
      for (IndexTable t : tables) {
        for (ChunkId pack : t.candidates(chunk)) {
          if (unusable.contains(pack)) {
            continue;
          }
          try {
            PackIndex.Entry e = packIndex(pack).entries().get(chunk);
            if (e != null) {
              // the pack may have come from another model's writer: its bytes must be the chunk's (see above)
              db.reader().checkHolds(io.ferry.read.Location.inPack(chunk, pack, e.offset(), e.length()), content);
              return Optional.of(e);
            }
          } catch (MissingObjectException | CorruptObjectException e) {
            LOG.debug("small-chunk index names pack {}, which is unusable: {}", pack, e.getMessage());
            unusable.add(pack);
          }
        }
      }
      return Optional.empty();
    }

    private PackIndex packIndex(ChunkId pack) throws IOException {
      java.util.concurrent.CompletableFuture<PackIndex> mine = new java.util.concurrent.CompletableFuture<>();
      java.util.concurrent.CompletableFuture<PackIndex> f = packIndexes.putIfAbsent(pack, mine);
      if (f == null) {
        try {
          mine.complete(db.packIndex(pack));
        } catch (IOException | RuntimeException e) {
          mine.completeExceptionally(e);
        }
        f = mine;
      }
      try {
        return f.join();
      } catch (java.util.concurrent.CompletionException e) {
        if (e.getCause() instanceof IOException io) {
          throw io;
        }
        if (e.getCause() instanceof RuntimeException r) {
          throw r;
        }
        throw e;
      }
    }
  }
}
