package io.ferry.store.refs;

import io.ferry.id.ChunkId;
import io.ferry.error.CorruptRefException;
import io.ferry.error.CorruptStoreException;
import io.ferry.store.CasResult;
import io.ferry.store.RecordStore;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Refs over a {@link RecordStore}, for every backend without a native ref store (HDFS, S3; next Cassandra and Redis):
 * each ref is a numbered log of immutable entries, and <b>the log is the ref</b>.
 *
 * <pre>
 * refs/&lt;ref&gt;/&lt;log&gt;/00000000000000000001   first move: one {@link RefLogFormat} line (+ a nonce line, see
 * refs/&lt;ref&gt;/&lt;log&gt;/00000000000000000002   second move                                 {@link Layout#nonce})
 * refs/&lt;ref&gt;/&lt;log&gt;/00000000000000001000.seg   entries 1..1000 again, in one record (segments, below)
 * refs/&lt;ref&gt;/tip                        hint "&lt;seq&gt; &lt;id or -&gt;\n": an entry that existed when it was written
 * &lt;names index&gt;&lt;ref&gt;                     empty, created before a ref's first entry ({@link Layout#namesIndex})
 * </pre>
 *
 * <p>The value of a ref is the {@code new} id of its highest entry (null: deleted). A move from the value of entry
 * {@code n} {@linkplain RecordStore#create creates} entry {@code n + 1}: of any number of writers that read {@code n},
 * exactly one creates it and the others get {@link CasResult#LOCK_FAILURE}. Entries are never changed or removed, so
 * the entries that exist are always exactly {@code 1..N}, and a move and its log entry are one record. A move whose
 * expected value is that of the highest entry this instance has read tries to create the next entry at once, with no
 * read: a move costs one create (plus the tip) when nobody else moved the ref meanwhile, and a search when they did.
 *
 * <p>Finding {@code N}: start from the highest entry this instance has read (a lower bound: entries never go away),
 * else from the tip (which is only a hint: it may lag, and since it is read back through the entry it names, a tip
 * that names a missing entry only bounds the search), else from 0; probe forward at +1, +2, +4... until an entry is
 * absent, then bisect. A read ends with some entry {@code k} seen present and {@code k + 1} seen absent, both during
 * the call, so at some instant inside the call {@code k} was the last entry: reads are linearizable, whatever the order
 * of the two observations. The probes of many refs go out together ({@link RecordStore#readAll}), so {@link #list}
 * costs a few rounds of parallel reads, not one search per ref in turn. {@code docs/s3.md} gives the whole argument.
 *
 * <p>Damage is an integrity failure: an entry that does not decode, an entry missing below one that exists, or entries
 * that do not chain throw {@link CorruptRefException} from every read that meets them; {@link #log} and {@link
 * #checkLog} read and check the whole log.
 *
 * <p>Segments: reading a long log one record per entry costs one request per move (10,000 GETs for a ref moved
 * 10,000 times on S3), and every reader of the whole log pays it again (gc, {@code reflog}, a version prefix).
 * Entries never change, so once {@link #log} has read and checked a whole block of {@value #SEGMENT_ENTRIES} entries
 * ({@code (b-1)·1000+1 .. b·1000}) it writes their lines into one segment record ({@code <b·1000>.seg}, created once;
 * any reader may, since every reader would write the same bytes), and later reads take the block from it: one record
 * per 1,000 entries plus the entries after the last whole block. Each line keeps its CRC, so a segment that is damaged
 * or does not hold its block is not used (its entries are read instead) and is written again; {@link #checkLog} reads
 * the entries and every segment and reports a segment that differs from its entries as damage. A block whose lines
 * would not fit in one record ({@link RecordStore#MAX_RECORD_BYTES}) gets no segment.
 *
 * <p>Outcomes that change nothing ({@link CasResult#LOCK_FAILURE}, {@link CasResult#NO_CHANGE}) write nothing.
 * Thread-safe; any number of processes may share the records. Closing does not close the record store (the backend
 * owns it).
 */
public final class NumberedRefStore implements RefStore {
  private static final Logger LOG = LoggerFactory.getLogger(NumberedRefStore.class);
  private static final String REFS = "refs/";
  private static final String TIP = "/tip";
  private static final int SEQ_DIGITS = 20;
  private static final int CACHED_REFS = 1024;
  private static final long MAX_STEP = 1L << 40;
  /** Entries per segment record (see the class comment). */
  static final int SEGMENT_ENTRIES = 1000;
  private static final String SEGMENT_SUFFIX = ".seg";
  private static final String SEGMENT_HEADER = "ferry-ref-log-segment ";

  /**
   * Where a store keeps its logs: the two layouts that stores of format 1 have on disk. The ref, tip and entry
   * encoding are the same in both.
   *
   * @param logSegment the directory of a ref's entries, {@code refs/<ref>/<logSegment>/<seq>}
   * @param nonce whether entries carry a second line {@code nonce <random hex>}, so that a create answered "exists"
   *     after a resend (S3) is recognized as this writer's own by reading the entry back
   * @param namesIndex the key prefix of the names index, or null to find refs by listing their entries and tips
   */
  public record Layout(String logSegment, boolean nonce, String namesIndex) {
    /**
     * The layout of HDFS stores: {@code refs/<ref>/_log/<seq>}, entries without nonce, no names index (refs are
     * found by listing {@code refs/}: one directory listing per ref, which HDFS answers per directory).
     */
    public static final Layout HDFS = new Layout("_log", false, null);
    /**
     * The layout of S3 stores, and the one for new backends: {@code refs/<ref>/log/<seq>}, entries with a nonce,
     * names in {@code ref-names/<ref>} so that listing refs reads one key per ref, not one per entry.
     */
    public static final Layout INDEXED = new Layout("log", true, "ref-names/");

    public Layout {
      RecordStore.checkKey(Objects.requireNonNull(logSegment, "logSegment"));
      if (logSegment.contains("/")) {
        throw new IllegalArgumentException("log segment '" + logSegment + "' must be one key segment");
      }
      if (namesIndex != null && (!namesIndex.endsWith("/") || namesIndex.startsWith(REFS))) {
        throw new IllegalArgumentException("names index '" + namesIndex + "' must end with '/' and lie outside "
            + REFS);
      }
    }
  }

  /** Entry {@code seq} of a ref (0: none) and the ref's value after it (null: absent). */
  private record Head(long seq, ChunkId value) {}

  private final RecordStore records;
  private final Layout layout;
  private final String store;
  private final int segmentEntries;
  /** The highest entry read per ref: a start for the probe, and a lower bound since entries never go away. */
  private final Map<String, Head> seen = new LinkedHashMap<>(64, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<String, Head> eldest) {
      return size() > CACHED_REFS;
    }
  };
  private volatile boolean closed;

  /**
   * @param records where the logs are; the caller keeps owning it
   * @param layout how the logs are laid out in {@code records}
   */
  public NumberedRefStore(RecordStore records, Layout layout) {
    this(records, layout, SEGMENT_ENTRIES);
  }

  /** As {@link #NumberedRefStore(RecordStore, Layout)}, with segments of {@code segmentEntries} entries (tests). */
  NumberedRefStore(RecordStore records, Layout layout, int segmentEntries) {
    this.records = Objects.requireNonNull(records, "records");
    this.layout = Objects.requireNonNull(layout, "layout");
    this.store = records.describe();
    if (segmentEntries < 1) {
      throw new IllegalArgumentException("a segment holds at least one entry, not " + segmentEntries);
    }
    this.segmentEntries = segmentEntries;
  }

  /** The records the logs are kept in. */
  public RecordStore records() {
    return records;
  }

  /** How the logs are laid out in {@link #records()}. */
  public Layout layout() {
    return layout;
  }

  /** The record key of entry {@code seq} (from 1) of a ref's log, for tools and tests. */
  public static String entryKey(Layout layout, String name, long seq) {
    String digits = Long.toString(seq);
    return REFS + name + "/" + layout.logSegment() + "/" + "0".repeat(SEQ_DIGITS - digits.length()) + digits;
  }

  /**
   * The record key of the segment of a ref's log that ends with entry {@code end} (a multiple of the segment size),
   * for tools and tests.
   */
  public static String segmentKey(Layout layout, String name, long end) {
    return entryKey(layout, name, end) + SEGMENT_SUFFIX;
  }

  /** The record key of a ref's tip (the hint of its highest entry), for tools and tests. */
  public static String tipKey(String name) {
    return REFS + name + TIP;
  }

  private String logPrefix(String name) {
    return REFS + name + "/" + layout.logSegment() + "/";
  }

  @Override
  public Optional<ChunkId> get(String name) throws IOException {
    ensureOpen();
    RefNames.checkRef(name);
    return Optional.ofNullable(heads(List.of(name), null).get(0).value());
  }

  @Override
  public CasResult compareAndSet(String name, ChunkId expected, ChunkId next, RefLogEntry entry) throws IOException {
    ensureOpen();
    RefNames.checkRef(name);
    Objects.requireNonNull(entry, "entry");
    if (!Objects.equals(entry.oldId(), expected) || !Objects.equals(entry.newId(), next)) {
      throw new IllegalArgumentException("log entry " + entry + " does not describe the move of '" + name + "' from "
          + expected + " to " + next);
    }
    byte[] body = encode(entry);
    Head cached;
    synchronized (seen) {
      cached = seen.get(name);
    }
    long seq;
    if (cached != null && cached.seq() > 0 && Objects.equals(cached.value(), expected)
        && !Objects.equals(expected, next) && append(name, cached.seq() + 1, body)) {
      // the highest entry this instance has read holds the expected value: creating the next entry succeeds only if
      // it was still the highest (entries are exactly 1..N), which is the CAS; else the search below finds the head
      seq = cached.seq() + 1;
    } else {
      Head h = heads(List.of(name), null).get(0);
      if (!Objects.equals(h.value(), expected)) {
        return CasResult.LOCK_FAILURE;
      }
      if (Objects.equals(h.value(), next)) {
        return CasResult.NO_CHANGE;
      }
      if (h.seq() == 0 && layout.namesIndex() != null) {
        records.create(layout.namesIndex() + name, new byte[0]);
      }
      seq = h.seq() + 1;
      if (!append(name, seq, body)) {
        return CasResult.LOCK_FAILURE;
      }
    }
    Head now = new Head(seq, next);
    remember(name, now);
    writeTip(name, now);
    if (expected == null) {
      return CasResult.NEW;
    }
    return next == null ? CasResult.DELETED : CasResult.UPDATED;
  }

  /** Creates entry {@code seq} with {@code body}; false if another writer created it first. */
  private boolean append(String name, long seq, byte[] body) throws IOException {
    String key = entryKey(layout, name, seq);
    if (records.create(key, body)) {
      return true;
    }
    if (layout.nonce() && Arrays.equals(records.read(key).orElse(null), body)) {
      LOG.debug("{} in {}: 'exists' answered a resent create that had made the entry", key, store);
      return true;
    }
    return false;
  }

  /** Best effort: the tip is a hint, and a failure to write it only makes readers probe a little further. */
  private void writeTip(String name, Head h) {
    try {
      records.replace(tipKey(name), tipText(h.seq(), h.value()));
    } catch (IOException | RuntimeException e) {
      LOG.debug("could not write the tip of {} in {}", name, store, e);
    }
  }

  private void remember(String name, Head h) {
    synchronized (seen) {
      Head old = seen.get(name);
      if (old == null || old.seq() < h.seq()) {
        seen.put(name, h);
      }
    }
  }

  private byte[] encode(RefLogEntry entry) {
    byte[] line = RefLogFormat.encode(entry);
    if (!layout.nonce()) {
      return line;
    }
    ThreadLocalRandom r = ThreadLocalRandom.current();
    byte[] nonce = String.format("nonce %016x%016x\n", r.nextLong(), r.nextLong()).getBytes(StandardCharsets.US_ASCII);
    byte[] body = Arrays.copyOf(line, line.length + nonce.length);
    System.arraycopy(nonce, 0, body, line.length, nonce.length);
    return body;
  }

  /**
   * {@link RecordStore#readAll}, where a record whose bytes the store cannot read back ({@link CorruptStoreException}:
   * replicas that all fail the engine's checksum, a directory at its path) is the damage of its ref's log at that
   * entry, naming the ref, so that a listing goes on around it as around an entry that does not decode; a tip or a
   * segment, copies that only speed reads up, reads as absent then (a read of the entries decides, and verify reports
   * a segment that does not hold them).
   */
  private List<Optional<byte[]>> readAll(List<String> keys) throws IOException {
    try {
      return records.readAll(keys);
    } catch (CorruptStoreException batch) {
      List<Optional<byte[]>> out = new ArrayList<>(keys.size());
      for (String key : keys) {
        try {
          out.add(records.read(key));
        } catch (CorruptStoreException e) {
          String marker = "/" + layout.logSegment() + "/";
          int at = key.lastIndexOf(marker);
          long seq = at <= REFS.length() ? 0 : seqOf(key.substring(at + marker.length()));
          if (seq == 0) {
            out.add(Optional.empty());
            continue;
          }
          String defect = e.defect().startsWith("record " + key + ": ") ? e.defect() : "record " + key + ": "
              + e.defect();
          CorruptRefException damaged = new CorruptRefException(key.substring(REFS.length(), at), store, seq, defect);
          damaged.initCause(e);
          throw damaged;
        }
      }
      return out;
    }
  }

  /** The entry in a record's first line (a trailing nonce line is ignored), or the damage it has. */
  private RefLogEntry decode(String name, long seq, byte[] body) throws CorruptRefException {
    int end = 0;
    while (end < body.length && body[end] != '\n') {
      end++;
    }
    RefLogEntry e = RefLogFormat.decode(body, 0, end);
    if (e == null) {
      throw new CorruptRefException(name, store, seq, "record " + entryKey(layout, name, seq) + " ("
          + body.length + " bytes) is not an entry: " + RefLogFormat.defect(body, 0, end));
    }
    return e;
  }

  /** The search for the highest entry of one ref (see the class comment). */
  private static final class Search {
    final String name;
    long lo;
    ChunkId loValue;
    /** Lowest entry seen absent above {@link #lo}; 0 while none is known. */
    long hi;
    long step = 1;
    /** An entry a hint or a listing names, to read before trusting it; 0 if none. */
    long claim;

    Search(String name, Head start) {
      this.name = name;
      this.lo = start.seq();
      this.loValue = start.value();
    }

    long[] probes() {
      if (claim > lo) {
        return new long[] {claim, claim + 1};
      }
      if (hi == 0) {
        return new long[] {lo + step};
      }
      if (hi - lo > 1) {
        return new long[] {lo + (hi - lo) / 2};
      }
      return new long[0];
    }

    void present(long seq, RefLogEntry e) {
      if (seq > lo) {
        lo = seq;
        loValue = e.newId();
      }
      if (hi != 0 && hi <= lo) {
        hi = 0;
      }
    }

    void absent(long seq) {
      if (seq > lo && (hi == 0 || seq < hi)) {
        hi = seq;
      }
    }
  }

  /**
   * The highest entries of several refs, each linearizable (see the class comment), probing all refs together.
   *
   * @param listed for each name, an entry number a listing showed to exist (0: none), or null
   */
  private List<Head> heads(List<String> names, long[] listed) throws IOException {
    List<Search> searches = new ArrayList<>(names.size());
    List<Search> needTip = new ArrayList<>();
    for (int i = 0; i < names.size(); i++) {
      String name = names.get(i);
      Head cached;
      synchronized (seen) {
        cached = seen.get(name);
      }
      Search s = new Search(name, cached == null ? new Head(0, null) : cached);
      long l = listed == null ? 0 : listed[i];
      if (l > s.lo) {
        s.claim = l;
      } else if (cached == null && l == 0) {
        needTip.add(s);
      }
      searches.add(s);
    }
    if (!needTip.isEmpty()) {
      List<Optional<byte[]>> tips = readAll(needTip.stream().map(s -> tipKey(s.name)).toList());
      for (int i = 0; i < needTip.size(); i++) {
        needTip.get(i).claim = tips.get(i).map(NumberedRefStore::tipSeq).orElse(0L);
      }
    }
    List<Search> open = new ArrayList<>(searches);
    while (!open.isEmpty()) {
      List<String> keys = new ArrayList<>();
      List<long[]> probes = new ArrayList<>();
      for (Search s : open) {
        long[] p = s.probes();
        probes.add(p);
        for (long seq : p) {
          keys.add(entryKey(layout, s.name, seq));
        }
      }
      List<Optional<byte[]>> got = readAll(keys);
      int k = 0;
      List<Search> still = new ArrayList<>();
      for (int i = 0; i < open.size(); i++) {
        Search s = open.get(i);
        boolean galloping = s.claim <= s.lo && s.hi == 0;
        for (long seq : probes.get(i)) {
          Optional<byte[]> body = got.get(k++);
          if (body.isPresent()) {
            s.present(seq, decode(s.name, seq, body.get()));
          } else {
            s.absent(seq);
          }
        }
        if (s.claim != 0) {
          s.claim = 0;
        } else if (galloping && s.hi == 0) {
          s.step = Math.min(s.step * 2, MAX_STEP);
        }
        if (s.probes().length > 0) {
          still.add(s);
        }
      }
      open = still;
    }
    List<Head> out = new ArrayList<>(searches.size());
    for (Search s : searches) {
      Head h = new Head(s.lo, s.loValue);
      if (h.seq() > 0) {
        remember(s.name, h);
      }
      out.add(h);
    }
    return out;
  }

  /** The entry number a tip names, or 0 if it is unreadable (a hint may be anything). */
  /** The text of a tip naming entry {@code seq} and its new value ({@code -} for a deletion). */
  private static byte[] tipText(long seq, ChunkId value) {
    return (seq + " " + (value == null ? "-" : value.hex()) + "\n").getBytes(StandardCharsets.US_ASCII);
  }

  private static long tipSeq(byte[] tip) {
    String text = new String(tip, StandardCharsets.US_ASCII).trim();
    int space = text.indexOf(' ');
    String digits = space < 0 ? text : text.substring(0, space);
    if (digits.isEmpty() || digits.length() > 18 || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
      return 0;
    }
    return Long.parseLong(digits);
  }

  @Override
  public List<String> list(String prefix) throws IOException {
    return names(prefix, false);
  }

  @Override
  public List<String> listLogged(String prefix) throws IOException {
    return names(prefix, true);
  }

  /**
   * Refs that have records (a tip, a segment) but no entry: every entry removed, or records written by something
   * else. {@link #listLogged} leaves them out (a ref is its entries), so {@code verify} reports them through {@link
   * #checkLog}, which finds the tip or segment naming entries the log does not have, and gc marks nothing until they
   * are repaired (what the ref pointed at is unknown). Lists every key under {@code refs/}, as reading every log
   * does; a ref whose first move lands during the listing may be named, and its check then finds the entry.
   */
  @Override
  public List<String> unreadable() throws IOException {
    ensureOpen();
    java.util.Set<String> withRecords = new java.util.TreeSet<>();
    java.util.Set<String> withEntries = new java.util.HashSet<>();
    String marker = "/" + layout.logSegment() + "/";
    for (String key : records.list(REFS)) {
      int at = key.lastIndexOf(marker);
      if (key.endsWith(TIP)) {
        withRecords.add(key.substring(REFS.length(), key.length() - TIP.length()));
      } else if (at > REFS.length()) {
        String rest = key.substring(at + marker.length());
        (seqOf(rest) > 0 ? withEntries : withRecords).add(key.substring(REFS.length(), at));
      }
    }
    withRecords.removeAll(withEntries);
    withRecords.removeIf(name -> !RefNames.isValidRef(name));
    return new ArrayList<>(withRecords);
  }

  /** The refs under {@code prefix} that exist now, or with {@code deletedToo} that have at least one log entry. */
  private List<String> names(String prefix, boolean deletedToo) throws IOException {
    ensureOpen();
    String p = prefix == null ? "" : prefix;
    List<String> names = new ArrayList<>();
    long[] listed = null;
    if (layout.namesIndex() != null) {
      for (String key : records.list(layout.namesIndex() + p)) {
        String name = key.substring(layout.namesIndex().length());
        if (RefNames.isValidRef(name)) {
          names.add(name);
        }
      }
    } else {
      Map<String, Long> highest = new TreeMap<>();
      String marker = "/" + layout.logSegment() + "/";
      for (String key : records.list(REFS + p)) {
        int at = key.lastIndexOf(marker);
        if (at <= REFS.length()) {
          // a ref with a tip is searched too: where its entries are unreadable (damaged, a directory at an entry's
          // path on HDFS) the search fails naming them, where the listing alone showed no ref and verify saw nothing
          String name = key.endsWith(TIP) ? key.substring(REFS.length(), key.length() - TIP.length()) : "";
          if (name.startsWith(p) && RefNames.isValidRef(name)) {
            highest.merge(name, 0L, Math::max);
          }
          continue;
        }
        String name = key.substring(REFS.length(), at);
        long seq = seqOf(key.substring(at + marker.length()));
        if (seq > 0 && name.startsWith(p) && RefNames.isValidRef(name)) {
          highest.merge(name, seq, Math::max);
        }
      }
      names.addAll(highest.keySet());
      listed = highest.values().stream().mapToLong(Long::longValue).toArray();
    }
    List<Head> heads;
    try {
      heads = heads(names, listed);
    } catch (CorruptRefException damaged) {
      if (!deletedToo) {
        throw damaged;
      }
      // one damaged log ends no listing of the logged refs: each ref is searched alone, and a damaged one is listed
      // (it has a log), so that its readers (ls, verify, gc) name its damage and go on with the others
      heads = new ArrayList<>(names.size());
      for (int i = 0; i < names.size(); i++) {
        long l = listed == null ? 0 : listed[i];
        try {
          heads.add(heads(List.of(names.get(i)), listed == null ? null : new long[] {l}).get(0));
        } catch (CorruptRefException e) {
          heads.add(new Head(Math.max(l, 1), null));
        }
      }
    }
    List<String> out = new ArrayList<>();
    for (int i = 0; i < names.size(); i++) {
      if (heads.get(i).value() != null || deletedToo && heads.get(i).seq() > 0) {
        out.add(names.get(i));
      }
    }
    out.sort(null);
    return out;
  }

  /** The entry number in the last segment of an entry key, or 0 if it is not one. */
  private static long seqOf(String digits) {
    if (digits.length() != SEQ_DIGITS || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
      return 0;
    }
    return Long.parseLong(digits);
  }

  @Override
  public List<RefLogEntry> log(String name) throws IOException {
    ensureOpen();
    RefNames.checkRef(name);
    Listing l = listLog(name);
    int n = l.entries().size();
    int blocks = n / segmentEntries;
    // a whole block from its segment where one exists, every other entry from its own record
    List<String> keys = new ArrayList<>();
    for (int b = 1; b <= blocks; b++) {
      long end = (long) b * segmentEntries;
      if (l.segments().contains(end)) {
        keys.add(segmentKey(layout, name, end));
      } else {
        keys.addAll(l.entries().subList((int) end - segmentEntries, (int) end));
      }
    }
    keys.addAll(l.entries().subList(blocks * segmentEntries, n));
    List<Optional<byte[]>> bodies = readAll(keys);
    List<RefLogEntry> out = new ArrayList<>(n);
    List<Long> toWrite = new ArrayList<>();
    int k = 0;
    for (int b = 1; b <= blocks + 1 && out.size() < n; b++) {
      long end = Math.min((long) b * segmentEntries, n);
      if (b <= blocks && l.segments().contains(end)) {
        List<RefLogEntry> seg = bodies.get(k++).map(body -> decodeSegment(end, body)).orElse(null);
        if (seg == null) {
          // damaged, or removed since the listing: its entries are the truth
          LOG.debug("segment {} of {} in {} is not usable; reading its entries", end, name, store);
          seg = readEntries(name, l.entries(), end - segmentEntries + 1, end);
          toWrite.add(end);
        }
        out.addAll(seg);
        continue;
      }
      for (long seq = out.size() + 1; seq <= end; seq++) {
        out.add(decodeListed(name, l.entries(), seq, bodies.get(k++)));
      }
      if (b <= blocks) {
        toWrite.add(end);
      }
    }
    if (!chains(out) && blocks > 0 && !l.segments().isEmpty()) {
      // a segment that decodes but does not hold its block (another ref's, an older copy): the entries decide, and the
      // segments that differ from them are written again
      List<RefLogEntry> read = readEntries(name, l.entries(), 1, n);
      for (long end : l.segments()) {
        int to = (int) end;
        if (end <= n && !read.subList(to - segmentEntries, to).equals(out.subList(to - segmentEntries, to))) {
          LOG.debug("segment {} of {} in {} differs from its entries; writing it again", end, name, store);
          toWrite.add(end);
        }
      }
      out = read;
    }
    RefLogFormat.checkChain(name, store, out);
    for (long end : toWrite) {
      writeSegment(name, end, out.subList((int) (end - segmentEntries), (int) end));
    }
    if (!out.isEmpty()) {
      remember(name, new Head(out.size(), out.get(out.size() - 1).newId()));
    }
    return out;
  }

  /**
   * Reads every entry of the log one record each, checks them as {@link #log} does, and checks every segment against
   * the entries it copies: a segment that does not decode, or holds other entries, is damage ({@code verify} reports
   * it, and {@link #log} would read it instead of the entries); so is a tip that names no entry with its value.
   */
  @Override
  public void checkLog(String name) throws IOException {
    ensureOpen();
    RefNames.checkRef(name);
    Listing l = listLog(name);
    List<RefLogEntry> all = readEntries(name, l.entries(), 1, l.entries().size());
    RefLogFormat.checkChain(name, store, all);
    // the record after the last listed entry: a listing shows no record where something else (a directory on HDFS)
    // holds an entry's path, and a log whose last entry was replaced so read as one entry shorter and clean
    readAll(List.of(entryKey(layout, name, all.size() + 1L)));
    checkTip(name, all);
    List<Long> ends = new ArrayList<>(l.segments());
    ends.sort(null);
    List<Optional<byte[]>> bodies = readAll(ends.stream().map(e -> segmentKey(layout, name, e)).toList());
    for (int i = 0; i < ends.size(); i++) {
      long end = ends.get(i);
      long first = end - segmentEntries + 1;
      String key = segmentKey(layout, name, end);
      if (end > all.size()) {
        throw new CorruptRefException(name, store, first, "segment record " + key + " copies entries up to " + end
            + ", but the log has " + all.size() + ": entries are never removed");
      }
      List<RefLogEntry> seg = bodies.get(i).map(body -> decodeSegment(end, body)).orElse(null);
      if (seg == null || !seg.equals(all.subList((int) first - 1, (int) end))) {
        throw new CorruptRefException(name, store, first, "segment record " + key + " does not hold entries " + first
            + ".." + end + " as their own records do; delete it (a copy that reads of the whole log take instead of"
            + " the entries; the next read writes it again)");
      }
    }
  }

  /**
   * Reads only go around a tip that names no entry with its value (a hint may be anything to them), but every tip a
   * move writes names an entry that exists, with its value, in the text {@link #writeTip} gives it: a tip that does
   * not is damage (a record written by something else), reported here so that {@code verify} does not call it clean.
   * A tip that names an entry after {@code all} is checked against that entry (a move since the listing).
   */
  private void checkTip(String name, List<RefLogEntry> all) throws IOException {
    String key = tipKey(name);
    byte[] tip;
    try {
      tip = records.read(key).orElse(null);
    } catch (CorruptStoreException e) {
      CorruptRefException damaged = new CorruptRefException(name, store, Math.max(1, all.size()), "tip record " + key
          + " cannot be read: " + e.defect() + "; delete it (a hint that reads start from; the next move writes it"
          + " again)");
      damaged.initCause(e);
      throw damaged;
    }
    if (tip == null) {
      return;
    }
    long seq = tipSeq(tip);
    ChunkId value = null;
    boolean named = seq >= 1 && seq <= all.size();
    if (named) {
      value = all.get((int) seq - 1).newId();
    } else if (seq > all.size()) {
      Optional<byte[]> later = readAll(List.of(entryKey(layout, name, seq))).get(0);
      if (later.isPresent()) {
        value = decode(name, seq, later.get()).newId();
        named = true;
      }
    }
    if (!named || !Arrays.equals(tip, tipText(seq, value))) {
      String shown = new String(tip, 0, Math.min(tip.length, 100), StandardCharsets.US_ASCII).replace("\n", "\\n");
      throw new CorruptRefException(name, store, Math.max(1, all.size()), "tip record " + key + " ('" + shown
          + "', " + tip.length + " bytes) does not name an entry of the log (" + all.size() + " entries) with its"
          + " value as '<entry> <new id or ->\\n'; delete it (a hint that reads start from; the next move writes"
          + " it again)");
    }
  }

  private boolean chains(List<RefLogEntry> log) {
    try {
      RefLogFormat.checkChain("", store, log);
      return true;
    } catch (CorruptRefException e) {
      return false;
    }
  }

  /** The keys of a ref's entries (entry {@code i + 1} at index {@code i}) and the ends of its segments. */
  private record Listing(List<String> entries, java.util.Set<Long> segments) {}

  private Listing listLog(String name) throws IOException {
    String dir = logPrefix(name);
    List<String> keys = new ArrayList<>();
    java.util.Set<Long> segments = new java.util.HashSet<>();
    for (String key : records.list(dir)) {
      String last = key.substring(dir.length());
      if (last.endsWith(SEGMENT_SUFFIX)) {
        long end = seqOf(last.substring(0, last.length() - SEGMENT_SUFFIX.length()));
        if (end > 0 && end % segmentEntries == 0) {
          segments.add(end);
        }
        continue;
      }
      long seq = seqOf(last);
      if (seq <= 0) {
        continue;
      }
      if (seq != keys.size() + 1) {
        // the record a listing does not show may be something else than a record (a directory on HDFS): its store
        // names that, else it is missing
        readAll(List.of(entryKey(layout, name, keys.size() + 1L)));
        throw new CorruptRefException(name, store, keys.size() + 1, "there is no record "
            + entryKey(layout, name, keys.size() + 1) + ", but entry " + seq + " exists: entries are never removed");
      }
      keys.add(key);
    }
    return new Listing(keys, segments);
  }

  /** Entries {@code from..to} of a log, each from its own record. */
  private List<RefLogEntry> readEntries(String name, List<String> keys, long from, long to) throws IOException {
    List<Optional<byte[]>> bodies = readAll(keys.subList((int) from - 1, (int) to));
    List<RefLogEntry> out = new ArrayList<>((int) (to - from + 1));
    for (long seq = from; seq <= to; seq++) {
      out.add(decodeListed(name, keys, seq, bodies.get((int) (seq - from))));
    }
    return out;
  }

  private RefLogEntry decodeListed(String name, List<String> keys, long seq, Optional<byte[]> body)
      throws CorruptRefException {
    byte[] b = body.orElseThrow(() -> new CorruptRefException(name, store, seq, "record "
        + keys.get((int) seq - 1) + " was listed and then could not be read: entries are never removed"));
    return decode(name, seq, b);
  }

  /** The entries a segment ending with entry {@code end} holds, or null if it is damaged or holds another block. */
  private List<RefLogEntry> decodeSegment(long end, byte[] body) {
    long first = end - segmentEntries + 1;
    byte[] header = (SEGMENT_HEADER + first + " " + segmentEntries + "\n").getBytes(StandardCharsets.US_ASCII);
    if (body.length < header.length || !Arrays.equals(body, 0, header.length, header, 0, header.length)) {
      return null;
    }
    List<RefLogEntry> out = new ArrayList<>(segmentEntries);
    int from = header.length;
    while (from < body.length) {
      int nl = from;
      while (nl < body.length && body[nl] != '\n') {
        nl++;
      }
      RefLogEntry e = nl < body.length ? RefLogFormat.decode(body, from, nl) : null;
      if (e == null || out.size() == segmentEntries) {
        return null;
      }
      out.add(e);
      from = nl + 1;
    }
    return out.size() == segmentEntries ? out : null;
  }

  /**
   * Best effort: writes the segment of a block just read and checked (created if absent; replaced if the one there is
   * damaged). A failure (a reader without write access, a full store) only means later reads take the entries.
   */
  private void writeSegment(String name, long end, List<RefLogEntry> block) {
    java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream(block.size() * 256);
    body.writeBytes((SEGMENT_HEADER + (end - block.size() + 1) + " " + block.size() + "\n")
        .getBytes(StandardCharsets.US_ASCII));
    for (RefLogEntry e : block) {
      body.writeBytes(RefLogFormat.encode(e));
      if (body.size() > RecordStore.MAX_RECORD_BYTES) {
        return;
      }
    }
    String key = segmentKey(layout, name, end);
    try {
      if (!records.create(key, body.toByteArray())) {
        records.replace(key, body.toByteArray());
      }
    } catch (IOException | RuntimeException e) {
      LOG.debug("could not write segment {} of {} in {}", end, name, store, e);
    }
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException("the refs of " + store + " are closed");
    }
  }

  @Override
  public void close() {
    closed = true;
  }
}
