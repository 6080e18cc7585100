package io.ferry.repo;

import io.ferry.chunk.ChunkId;
import io.ferry.chunk.Frame;
import io.ferry.codec.ChunkHint;
import io.ferry.codec.CodecPolicy;
import io.ferry.codec.Codecs;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.MissingObjectException;
import io.ferry.pack.PackIndex;
import io.ferry.store.ChunkStore;
import io.ferry.version.ObjectJson;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.Collection;
import java.util.HashMap;
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
  private final Map<ChunkId, PackIndex> packIndexes = new ConcurrentHashMap<>();
  private final Map<ChunkId, Version> versions = new ConcurrentHashMap<>();
  private final Map<ChunkId, Snapshot> snapshots = new ConcurrentHashMap<>();

  public ObjectDatabase(ChunkStore store, Codecs codecs) {
    this.store = store;
    this.codecs = codecs;
  }

  public ChunkStore store() {
    return store;
  }

  public Codecs codecs() {
    return codecs;
  }

  /** A location of a chunk frame: a loose object or a range of a pack. */
  public record Location(ChunkId chunk, ChunkId object, long offset, int length) {
    public boolean packed() {
      return !chunk.equals(object);
    }
  }

  /** Finds chunks: in the given packs first, else as loose objects. */
  public final class Locator {
    private final Map<ChunkId, PackIndex.Entry> packed;

    Locator(Map<ChunkId, PackIndex.Entry> packed) {
      this.packed = packed;
    }

    public Location locate(ChunkId id) {
      PackIndex.Entry e = packed.get(id);
      if (e != null) {
        return new Location(id, e.pack(), e.offset(), e.length());
      }
      return new Location(id, id, 0, -1);
    }

    /** Whether the chunk is in one of this locator's packs. */
    public boolean inPacks(ChunkId id) {
      return packed.containsKey(id);
    }
  }

  /** A locator over the packs of a version (and any further packs). */
  public Locator locator(Collection<ChunkId> packs) throws IOException {
    Map<ChunkId, PackIndex.Entry> all = new HashMap<>();
    for (ChunkId p : packs) {
      all.putAll(packIndex(p).entries());
    }
    return new Locator(all);
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
    ByteBuffer footer = store.read(pack, size - PackIndex.FOOTER_LENGTH, PackIndex.FOOTER_LENGTH);
    long[] f = PackIndex.parseFooter(pack, where, footer, size);
    long indexLength = size - PackIndex.FOOTER_LENGTH - f[0];
    ByteBuffer index = store.read(pack, f[0], (int) indexLength);
    PackIndex idx = PackIndex.parse(pack, where, index, f[0], f[1], (int) f[2]);
    if (packIndexes.size() > 4096) {
      packIndexes.clear();
    }
    packIndexes.put(pack, idx);
    return idx;
  }

  /** The stored frame of a chunk (header + payload), from its pack or as a loose object. */
  public ByteBuffer readFrame(Location loc) throws IOException {
    if (loc.packed()) {
      return store.read(loc.object(), loc.offset(), loc.length());
    }
    return store.get(loc.object());
  }

  /** Where a location is, for errors. */
  public String describe(Location loc) {
    if (loc.packed()) {
      return store.describe() + " pack " + loc.object() + " at offset " + loc.offset();
    }
    return store.describe() + " object " + loc.object();
  }

  /**
   * Reads, checks and decodes a chunk into {@code out} (exactly its raw length remaining). With {@code sha256}, the
   * decoded bytes are hashed and compared with the chunk id.
   */
  public void readChunk(Location loc, ByteBuffer out, boolean sha256) throws IOException {
    ByteBuffer frame = readFrame(loc);
    int start = out.position();
    Frame.decode(frame, out, codecs, loc.chunk(), describe(loc));
    if (sha256) {
      checkSha(loc, out.duplicate().position(start).limit(out.position()));
    }
  }

  /** Compares the SHA-256 of raw chunk bytes with the chunk's id. */
  public void checkSha(Location loc, ByteBuffer raw) throws CorruptObjectException {
    MessageDigest md = ChunkId.sha256();
    md.update(raw.duplicate());
    ChunkId actual = ChunkId.fromBytes(md.digest());
    if (!actual.equals(loc.chunk())) {
      throw new CorruptObjectException(loc.chunk(), describe(loc), "content hashes to " + actual);
    }
  }

  /** Frames and stores a small object (JSON) loose, compressed with zstd; returns its id and whether it was new. */
  public Written writeObject(byte[] raw) throws IOException {
    ChunkId id = ChunkId.of(raw);
    ByteBuffer src = ByteBuffer.wrap(raw);
    CodecPolicy.Encoded enc = CodecPolicy.AUTO.encode(src, ChunkHint.OPAQUE, codecs);
    ByteBuffer header = Frame.header(enc.codec().id(), 0, raw.length, enc.payload());
    long size = header.remaining() + enc.payload().remaining();
    boolean created = store.put(id, header, enc.payload());
    return new Written(id, created, size);
  }

  /** Result of a write. */
  public record Written(ChunkId id, boolean created, long size) {}

  /** Reads a small loose object's decoded bytes. */
  public byte[] readObject(ChunkId id) throws IOException {
    ByteBuffer frame;
    try {
      frame = store.get(id);
    } catch (MissingObjectException e) {
      throw e;
    }
    ByteBuffer raw = Frame.decode(frame, codecs, id, store.describe() + " object " + id);
    byte[] b = new byte[raw.remaining()];
    raw.get(b);
    if (!ChunkId.of(b).equals(id)) {
      throw new CorruptObjectException(id, store.describe() + " object " + id, "content hashes to " + ChunkId.of(b));
    }
    return b;
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

  private final ThreadLocal<ByteBuffer> scratch = new ThreadLocal<>();

  /** Size of the per-thread slice buffer that streams uncompressed chunks. */
  public static final int SLICE = 8 << 20;

  private final ThreadLocal<ByteBuffer> slices = ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(SLICE));

  /** A direct buffer of {@link #SLICE} bytes owned by the calling thread, reused by every transfer of this repository. */
  public ByteBuffer slice() {
    return slices.get();
  }

  /**
   * Checks one chunk completely (frame CRC, decode, SHA-256 of the decoded bytes) without keeping it. Codec-none
   * chunks are hashed where they lie; others decode into a per-thread buffer that is reused.
   */
  public void verifyChunk(Location loc, long length) throws IOException {
    ByteBuffer frame = readFrame(loc);
    String where = describe(loc);
    Frame.Header h = Frame.parseHeader(frame, loc.chunk(), where);
    ByteBuffer payload = frame.duplicate().position(frame.position() + Frame.HEADER_LENGTH);
    Frame.checkPayload(h, payload, loc.chunk(), where);
    if (h.rawLength() != length) {
      throw new CorruptObjectException(loc.chunk(), where,
          "frame holds " + h.rawLength() + " bytes, the snapshot expects " + length);
    }
    if (h.codecId() == io.ferry.codec.NoneCodec.ID) {
      checkSha(loc, payload);
      return;
    }
    ByteBuffer buf = scratch.get();
    if (buf == null || buf.capacity() < length) {
      buf = ByteBuffer.allocateDirect((int) Math.max(length, 1 << 20));
      scratch.set(buf);
    }
    buf.clear().limit((int) length);
    readChunk(loc, buf, true);
  }
}
