package io.ferry.dedup;

import io.ferry.chunk.Frame;
import io.ferry.error.CorruptObjectException;
import io.ferry.id.ChunkId;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * One table of the small-chunk index: which pack holds which small chunk, as sorted fixed-width entries behind a
 * 256-entry fanout (like git's multi-pack-index). Read in place from the buffer it was stored in: a lookup is a binary
 * search within one fanout bucket, nothing is parsed into objects. Immutable and thread-safe.
 *
 * <p>Layout (little endian; docs/small-chunk-index.md):
 *
 * <pre>
 * header   16 bytes: magic "FRYX", version u8 (1), 3 zero bytes, pack count u32, entry count u32
 * packs    pack count x 32 bytes: pack ids (raw digests), sorted
 * fanout   256 x u32: number of entries whose key's first byte is at most i
 * entries  entry count x 12 bytes: key (the first 8 bytes of the chunk id, big endian), pack ordinal u32; sorted by
 *          key (unsigned), then ordinal
 * footer   8 bytes: CRC32C of everything before it u32, magic "FRYX"
 * </pre>
 *
 * An entry keeps only 8 bytes of the chunk id: the table is a hint whose every hit is checked against the pack's own
 * index, so a rare key collision costs one pack-index read, never a wrong chunk.
 */
public final class IndexTable {
  /** The first (and last) four bytes of a table: "FRYX" little endian. */
  public static final int MAGIC = 0x58595246;
  static final int VERSION = 1;
  static final int HEADER_LENGTH = 16;
  static final int FOOTER_LENGTH = 8;
  static final int FANOUT_LENGTH = 256 * 4;
  static final int ENTRY_LENGTH = 12;

  /** An empty table. */
  public static final IndexTable EMPTY = build(new TreeMap<>());

  /** The stored bytes, little endian; only absolute reads, so one view serves every thread. */
  private final ByteBuffer buf;
  /** The same bytes, big endian: the keys. */
  private final ByteBuffer keys;
  private final int packCount;
  private final int entryCount;
  private final int fanoutAt;
  private final int entriesAt;

  private IndexTable(ByteBuffer buf, int packCount, int entryCount) {
    this.buf = buf.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    this.keys = buf.duplicate().order(ByteOrder.BIG_ENDIAN);
    this.packCount = packCount;
    this.entryCount = entryCount;
    this.fanoutAt = HEADER_LENGTH + packCount * 32;
    this.entriesAt = fanoutAt + FANOUT_LENGTH;
  }

  /** Number of entries (chunk, pack pairs). */
  public int entryCount() {
    return entryCount;
  }

  /** Number of packs the table names. */
  public int packCount() {
    return packCount;
  }

  /** The table's bytes, as stored (a read-only view). */
  public ByteBuffer bytes() {
    return buf.duplicate().order(ByteOrder.LITTLE_ENDIAN).asReadOnlyBuffer();
  }

  /** The i-th pack id. */
  public ChunkId pack(int i) {
    byte[] id = new byte[32];
    buf.get(HEADER_LENGTH + i * 32, id);
    return ChunkId.fromBytes(id);
  }

  /**
   * The packs that may hold the chunk: every entry whose key matches the chunk id's first 8 bytes. Usually none or
   * one; a hint, to be checked against each pack's index.
   */
  public List<ChunkId> candidates(ChunkId chunk) {
    long key = key(chunk);
    int bucket = (int) (key >>> 56);
    int lo = bucket == 0 ? 0 : buf.getInt(fanoutAt + (bucket - 1) * 4);
    int hi = buf.getInt(fanoutAt + bucket * 4);
    // first entry with key >= the chunk's
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (Long.compareUnsigned(keyAt(mid), key) < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    List<ChunkId> out = List.of();
    for (int i = lo; i < entryCount && keyAt(i) == key; i++) {
      int ord = ordinalAt(i);
      if (ord >= 0 && ord < packCount) {
        if (out.isEmpty()) {
          out = new ArrayList<>(1);
        }
        out.add(pack(ord));
      }
    }
    return out;
  }

  long keyAt(int i) {
    return keys.getLong(entriesAt + i * ENTRY_LENGTH);
  }

  int ordinalAt(int i) {
    return buf.getInt(entriesAt + i * ENTRY_LENGTH + 8);
  }

  /** The key of a chunk id: its first 8 bytes, big endian. */
  static long key(ChunkId id) {
    return id.w0();
  }

  /**
   * Checks a stored table and returns a view over it: magic, version, counts against the size, CRC32C, fanout.
   *
   * @param what names the table in errors (the store and the object or record)
   */
  public static IndexTable parse(ByteBuffer stored, ChunkId id, String what) throws CorruptObjectException {
    ByteBuffer b = stored.slice().order(ByteOrder.LITTLE_ENDIAN);
    int size = b.remaining();
    if (size < HEADER_LENGTH + FANOUT_LENGTH + FOOTER_LENGTH) {
      throw new CorruptObjectException(id, what, "small-chunk index table of " + size + " bytes is shorter than its"
          + " header, fanout and footer (" + (HEADER_LENGTH + FANOUT_LENGTH + FOOTER_LENGTH) + ")");
    }
    if (b.getInt(0) != MAGIC || b.getInt(size - 4) != MAGIC) {
      throw new CorruptObjectException(id, what, "not a small-chunk index table: bad magic");
    }
    if (b.get(4) != VERSION) {
      throw new CorruptObjectException(id, what, "small-chunk index table version " + b.get(4) + ", expected "
          + VERSION);
    }
    long packs = b.getInt(8) & 0xffffffffL;
    long entries = b.getInt(12) & 0xffffffffL;
    long expected = HEADER_LENGTH + packs * 32 + FANOUT_LENGTH + entries * ENTRY_LENGTH + FOOTER_LENGTH;
    if (expected != size) {
      throw new CorruptObjectException(id, what, "small-chunk index table says " + packs + " packs and " + entries
          + " entries (" + expected + " bytes), but has " + size + " bytes");
    }
    int crc = Frame.crc32c(b.duplicate().limit(size - FOOTER_LENGTH));
    int stated = b.getInt(size - FOOTER_LENGTH);
    if (crc != stated) {
      throw new CorruptObjectException(id, what, String.format(
          "checksum failed (hardware problem?) in small-chunk index table: expected=%08x actual=%08x", stated, crc));
    }
    IndexTable t = new IndexTable(b, (int) packs, (int) entries);
    int prev = 0;
    for (int i = 0; i < 256; i++) {
      int f = b.getInt(t.fanoutAt + i * 4);
      if (f < prev || (f & 0xffffffffL) > entries) {
        throw new CorruptObjectException(id, what, "small-chunk index table fanout entry " + i + " is " + f
            + ", after " + prev + " (" + entries + " entries)");
      }
      prev = f;
    }
    if (prev != entries) {
      throw new CorruptObjectException(id, what, "small-chunk index table fanout ends at " + prev + ", not at its "
          + entries + " entries");
    }
    return t;
  }

  /**
   * Builds a table from chunk ids and the packs holding them (one pack per chunk; a chunk in several packs keeps the
   * one given).
   */
  public static IndexTable build(Map<ChunkId, ChunkId> chunkToPack) {
    Builder b = new Builder();
    for (Map.Entry<ChunkId, ChunkId> e : chunkToPack.entrySet()) {
      b.add(key(e.getKey()), e.getValue());
    }
    return b.build();
  }

  /**
   * Merges tables into one, keeping only entries whose pack {@code keep} accepts; duplicate entries (same key and
   * pack) collapse into one.
   */
  public static IndexTable merge(List<IndexTable> tables, Predicate<ChunkId> keep) {
    Builder b = new Builder();
    for (IndexTable t : tables) {
      ChunkId[] packs = new ChunkId[t.packCount];
      boolean[] kept = new boolean[t.packCount];
      for (int i = 0; i < t.packCount; i++) {
        packs[i] = t.pack(i);
        kept[i] = keep.test(packs[i]);
      }
      for (int i = 0; i < t.entryCount; i++) {
        int ord = t.ordinalAt(i);
        if (ord >= 0 && ord < packs.length && kept[ord]) {
          b.add(t.keyAt(i), packs[ord]);
        }
      }
    }
    return b.build();
  }

  /** The packs of this table. */
  public List<ChunkId> packs() {
    List<ChunkId> out = new ArrayList<>(packCount);
    for (int i = 0; i < packCount; i++) {
      out.add(pack(i));
    }
    return out;
  }

  /** Collects entries, then sorts and writes them. Not thread-safe. */
  static final class Builder {
    private final Map<ChunkId, Integer> packIds = new TreeMap<>();
    private final List<ChunkId> packList = new ArrayList<>();
    private long[] keys = new long[1024];
    private int[] ords = new int[1024];
    private int n;

    void add(long key, ChunkId pack) {
      Integer ord = packIds.get(pack);
      if (ord == null) {
        ord = packList.size();
        packIds.put(pack, ord);
        packList.add(pack);
      }
      if (n == keys.length) {
        keys = Arrays.copyOf(keys, n * 2);
        ords = Arrays.copyOf(ords, n * 2);
      }
      keys[n] = key;
      ords[n] = ord;
      n++;
    }

    IndexTable build() {
      // packs are written sorted: renumber the ordinals
      int[] renumber = new int[packList.size()];
      int r = 0;
      for (Integer old : packIds.values()) {
        renumber[old] = r++;
      }
      List<ChunkId> sortedPacks = new ArrayList<>(packIds.keySet());
      for (int i = 0; i < n; i++) {
        ords[i] = renumber[ords[i]];
      }
      sort(keys, ords, 0, n - 1);
      int unique = 0;
      for (int i = 0; i < n; i++) {
        if (unique > 0 && keys[unique - 1] == keys[i] && ords[unique - 1] == ords[i]) {
          continue;
        }
        keys[unique] = keys[i];
        ords[unique] = ords[i];
        unique++;
      }
      int size = HEADER_LENGTH + sortedPacks.size() * 32 + FANOUT_LENGTH + unique * ENTRY_LENGTH + FOOTER_LENGTH;
      ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
      b.putInt(MAGIC).put((byte) VERSION).put((byte) 0).put((byte) 0).put((byte) 0);
      b.putInt(sortedPacks.size()).putInt(unique);
      for (ChunkId p : sortedPacks) {
        b.put(p.toBytes());
      }
      int[] counts = new int[256];
      for (int i = 0; i < unique; i++) {
        counts[(int) (keys[i] >>> 56)]++;
      }
      int cum = 0;
      for (int i = 0; i < 256; i++) {
        cum += counts[i];
        b.putInt(cum);
      }
      for (int i = 0; i < unique; i++) {
        b.order(ByteOrder.BIG_ENDIAN).putLong(keys[i]);
        b.order(ByteOrder.LITTLE_ENDIAN).putInt(ords[i]);
      }
      b.putInt(Frame.crc32c(ByteBuffer.wrap(b.array(), 0, b.position())));
      b.putInt(MAGIC);
      b.flip();
      b.order(ByteOrder.LITTLE_ENDIAN);
      return new IndexTable(b, sortedPacks.size(), unique);
    }

    /** Sorts both arrays by (key unsigned, ordinal); an iterative-introsort would be overkill here. */
    private static void sort(long[] k, int[] o, int lo, int hi) {
      while (lo < hi) {
        if (hi - lo < 16) {
          for (int i = lo + 1; i <= hi; i++) {
            for (int j = i; j > lo && less(k, o, j, j - 1); j--) {
              swap(k, o, j, j - 1);
            }
          }
          return;
        }
        int mid = (lo + hi) >>> 1;
        long pk = k[mid];
        int po = o[mid];
        int i = lo;
        int j = hi;
        while (i <= j) {
          while (cmp(k[i], o[i], pk, po) < 0) {
            i++;
          }
          while (cmp(k[j], o[j], pk, po) > 0) {
            j--;
          }
          if (i <= j) {
            swap(k, o, i++, j--);
          }
        }
        // recurse into the smaller part, loop on the bigger: stack depth stays logarithmic
        if (j - lo < hi - i) {
          sort(k, o, lo, j);
          lo = i;
        } else {
          sort(k, o, i, hi);
          hi = j;
        }
      }
    }

    private static int cmp(long ka, int oa, long kb, int ob) {
      int c = Long.compareUnsigned(ka, kb);
      return c != 0 ? c : Integer.compare(oa, ob);
    }

    private static boolean less(long[] k, int[] o, int a, int b) {
      return cmp(k[a], o[a], k[b], o[b]) < 0;
    }

    private static void swap(long[] k, int[] o, int a, int b) {
      long tk = k[a];
      k[a] = k[b];
      k[b] = tk;
      int to = o[a];
      o[a] = o[b];
      o[b] = to;
    }
  }
}
