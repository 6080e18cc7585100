package io.ferry.objects;

import io.ferry.id.ChunkId;
import io.ferry.chunk.Frame;
import io.ferry.codec.ChunkHint;
import io.ferry.codec.CodecPolicy;
import io.ferry.codec.Codecs;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.MissingObjectException;
import io.ferry.pack.PackIndex;
import io.ferry.read.ChunkReader;
import io.ferry.read.Locator;
import io.ferry.store.ChunkStore;
import io.ferry.version.ObjectJson;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Core's view of a {@link ChunkStore}: framed objects, packs, snapshots and versions, every read checked. Owned by a
 * {@link Repository}; thread-safe. Small caches of parsed versions, snapshots and pack indexes live here (bounded by
 * entry count) and die with the repository.
 */
public final class ObjectDatabase {
  /** Chunks with fewer raw bytes than this go into packs instead of standing alone. */
  public static final int PACK_THRESHOLD = 256 * 1024;

  private final ChunkStore store;
  private final Codecs codecs;
  private final ChunkReader reader;
  private final Map<ChunkId, PackIndex> packIndexes = new ConcurrentHashMap<>();
  private final Map<ChunkId, Version> versions = new ConcurrentHashMap<>();
  private final Map<ChunkId, Snapshot> snapshots = new ConcurrentHashMap<>();

  public ObjectDatabase(ChunkStore store, Codecs codecs) {
    this.store = store;
    this.codecs = codecs;
    this.reader = new ChunkReader(store, codecs);
  }

  /** The raw store, for writes (push, rollback). Reads of chunks go through {@link #reader()}. */
  public ChunkStore store() {
    return store;
  }

  public Codecs codecs() {
    return codecs;
  }

  /** The verified reader of chunk frames in this database's store: the only way core reads a chunk. */
  public ChunkReader reader() {
    return reader;
  }

  /** A locator over the packs of a version (and any further packs), reading (and caching) their indexes. */
  public Locator locator(Collection<ChunkId> packs) throws IOException {
    List<PackIndex> indexes = new ArrayList<>();
    for (ChunkId p : packs) {
      indexes.add(packIndex(p));
    }
    return Locator.of(indexes);
  }

  /** Checks a pack's header (magic, version, reserved bytes), which no checksum covers: for verify. */
  public void checkPackHeader(ChunkId pack) throws IOException {
    String where = store.describe() + " pack " + pack;
    long size = store.size(pack);
    PackIndex.checkHeader(pack, where, readPack(pack, where, size, 0, PackIndex.HEADER_LENGTH));
  }

  /** Reads (and caches) the index of a pack, checking its footer and CRC. */
  public PackIndex packIndex(ChunkId pack) throws IOException {
    PackIndex cached = packIndexes.get(pack);
    if (cached != null) {
      return cached;
    }
    String where = store.describe() + " pack " + pack;
    long size = store.size(pack);
    if (size < PackIndex.HEADER_LENGTH + PackIndex.FOOTER_LENGTH) {
      throw new CorruptObjectException(pack, where, "pack of " + size + " bytes is shorter than header and footer");
    }
    ByteBuffer footer = readPack(pack, where, size, size - PackIndex.FOOTER_LENGTH, PackIndex.FOOTER_LENGTH);
    long[] f = PackIndex.parseFooter(pack, where, footer, size);
    long indexLength = size - PackIndex.FOOTER_LENGTH - f[0];
    ByteBuffer index = readPack(pack, where, size, f[0], (int) indexLength);
    PackIndex idx = PackIndex.parse(pack, where, index, f[0], f[1], (int) f[2]);
    if (packIndexes.size() > 4096) {
      packIndexes.clear();
    }
    packIndexes.put(pack, idx);
    return idx;
  }

  /**
   * A range of a pack whose size was just read. The pack may be removed (a gc) or replaced between the two calls: a
   * read that ends early is then a missing pack if it is gone, else a corrupt one, never a bare end of file, so that
   * callers which skip unusable packs (the small-chunk index) skip it.
   */
  private ByteBuffer readPack(ChunkId pack, String where, long size, long offset, int length) throws IOException {
    try {
      return store.read(pack, offset, length);
    } catch (EOFException e) {
      IOException gone = store.contains(pack)
          ? new CorruptObjectException(pack, where, "ended before byte " + (offset + length) + " of the " + size
              + " its size gave a moment before: it changed while it was read")
          : new MissingObjectException(pack, where + " (removed while its index was read)");
      gone.addSuppressed(e);
      throw gone;
    }
  }

  /**
   * A pack's bytes exactly as stored, for copying it to another store: its footer and index are checked (as on every
   * read of a pack); with {@link ChunkReader.Check#CONTENT} also the SHA-256 of all its bytes against its id.
   */
  public ByteBuffer packBytes(ChunkId pack, ChunkReader.Check check) throws IOException {
    packIndex(pack);
    ByteBuffer bytes = store.get(pack);
    PackIndex.checkHeader(pack, store.describe() + " pack " + pack,
        bytes.duplicate().limit(Math.min(bytes.limit(), bytes.position() + PackIndex.HEADER_LENGTH)));
    if (check == ChunkReader.Check.CONTENT) {
      ChunkId actual = ChunkId.of(bytes);
      if (!actual.equals(pack)) {
        throw new CorruptObjectException(pack, store.describe() + " pack " + pack, "content hashes to " + actual);
      }
    }
    return bytes;
  }

  /** Frames and stores a small object (JSON) loose, compressed with zstd; returns its id and whether it was new. */
  public Written writeObject(byte[] raw) throws IOException {
    ChunkId id = ChunkId.of(raw);
    ByteBuffer src = ByteBuffer.wrap(raw);
    CodecPolicy.Encoded enc = CodecPolicy.AUTO.encode(src, ChunkHint.OPAQUE, codecs);
    ByteBuffer header = Frame.header(id, enc.codec().id(), 0, raw.length, enc.payload());
    long size = header.remaining() + enc.payload().remaining();
    boolean created = store.put(id, header, enc.payload());
    return new Written(id, created, size);
  }

  /** Result of a write. */
  public record Written(ChunkId id, boolean created, long size) {}

  /** Reads a small loose object's decoded bytes, checked completely (frame, CRC, SHA-256). */
  public byte[] readObject(ChunkId id) throws IOException {
    return reader.readObject(id);
  }

  /**
   * The largest object {@link #kindOf} reads to tell its kind; a bigger one that is neither a pack nor an index table
   * is called a chunk of model data unread, which it almost always is (a version that big is not ruled out).
   */
  public static final long KIND_READ_LIMIT = 16 << 20;

  /**
   * What kind of object {@code id} is, for messages about an id a user gave where another kind was expected ("a pack
   * of small chunks", "a ferry-snapshot/1 object", "a chunk of model data"), or null if that cannot be told (absent,
   * unreadable or damaged: then the caller's own error stands).
   */
  public String kindOf(ChunkId id) {
    try {
      long size = store.size(id);
      if (size < 4) {
        return null;
      }
      ByteBuffer magic = ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
      store.readInto(id, 0, magic);
      switch (magic.getInt(0)) {
        case io.ferry.dedup.IndexTable.MAGIC:
          return "a small-chunk index table";
        case PackIndex.MAGIC:
          return "a pack of small chunks";
        default:
          break;
      }
      if (size > KIND_READ_LIMIT) {
        return "a chunk of model data";
      }
      byte[] content = readObject(id);
      String format = io.ferry.version.ObjectJson.formatOf(content);
      return format != null ? "a " + format + " object" : "a chunk of model data";
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** Reads a version (cached; versions are immutable). */
  public Version version(ChunkId id) throws IOException {
    Version v = versions.get(id);
    if (v == null) {
      v = ObjectJson.version(readObject(id), store.describe() + " version " + id);
      if (versions.size() > 100_000) {
        versions.clear();
      }
      versions.put(id, v);
    }
    return v;
  }

  /**
   * Reads the versions among {@code ids} that are not cached yet into the version cache, {@code threads} at a time,
   * so that a walk along them (a long log on a remote store, one request per version) does not wait for each request
   * in turn. Best effort: a version that cannot be read is left for the walk to read and report.
   *
   * @throws java.io.InterruptedIOException if interrupted while waiting for the reads
   */
  public void prefetchVersions(Collection<ChunkId> ids, int threads) throws IOException {
    List<ChunkId> todo = ids.stream().filter(id -> !versions.containsKey(id)).distinct().limit(50_000).toList();
    if (todo.size() < 2) {
      return;
    }
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(
        Math.min(threads, todo.size()), io.ferry.concurrent.DaemonThreads.named("ferry-versions"));
    try {
      List<java.util.concurrent.Future<?>> reads = new ArrayList<>(todo.size());
      for (ChunkId id : todo) {
        reads.add(pool.submit(() -> {
          try {
            version(id);
          } catch (IOException | RuntimeException e) {
            // the walk reads it again and reports what is wrong with it
          }
        }));
      }
      for (java.util.concurrent.Future<?> f : reads) {
        io.ferry.concurrent.Futures.await(f, "reading versions ahead");
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /** Reads a snapshot (a few are cached; snapshots of big models are big). */
  public Snapshot snapshot(ChunkId id) throws IOException {
    Snapshot s = snapshots.get(id);
    if (s == null) {
      s = ObjectJson.snapshot(readObject(id), store.describe() + " snapshot " + id);
      if (snapshots.size() > 16) {
        snapshots.clear();
      }
      snapshots.put(id, s);
    }
    return s;
  }
}
