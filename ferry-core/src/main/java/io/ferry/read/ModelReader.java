package io.ferry.read;

import io.ferry.chunk.ChunkId;
import io.ferry.chunk.Frame;
import io.ferry.codec.NoneCodec;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.InvalidInputException;
import io.ferry.error.NotFoundException;
import io.ferry.format.TensorInfo;
import io.ferry.repo.ObjectDatabase;
import io.ferry.repo.Repository;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.zip.CRC32C;

/**
 * Reads one version without writing files: lists its tensors, reads a whole tensor or a row range of one into a
 * {@link ByteBuffer}, streams tensors in file order, copies a file to a channel. Every chunk read is checked against
 * its frame CRC; with {@link #verifying(boolean)} also against its SHA-256. Thread-safe.
 */
public final class ModelReader implements Closeable {
  /** Codec-none chunks are read and checked in slices of this size (a fraction of a CPU cache). */
  private static final int SLICE = 1 << 20;

  private final ObjectDatabase db;
  private final ChunkId versionId;
  private final Version version;
  private final Snapshot snapshot;
  private final ObjectDatabase.Locator locator;
  private final Map<String, Located> tensors = new LinkedHashMap<>();
  private volatile boolean sha256;

  /** A tensor and the file it is in. */
  public record Located(FileEntry file, TensorInfo info) {
    /** Offset of the tensor's first byte in its file. */
    public long fileOffset() {
      return file.dataStart() + info.begin();
    }
  }

  public ModelReader(ObjectDatabase db, ChunkId versionId, Version version, Snapshot snapshot,
      ObjectDatabase.Locator locator, ExecutorService pool) {
    this.db = db;
    this.versionId = versionId;
    this.version = version;
    this.snapshot = snapshot;
    this.locator = locator;
    for (FileEntry f : snapshot.files()) {
      for (TensorInfo t : f.tensors()) {
        tensors.putIfAbsent(t.name(), new Located(f, t));
      }
    }
  }

  /** Also check the SHA-256 of every chunk read (the frame CRC is always checked). */
  public ModelReader verifying(boolean on) {
    this.sha256 = on;
    return this;
  }

  public ChunkId versionId() {
    return versionId;
  }

  public Version version() {
    return version;
  }

  public Snapshot snapshot() {
    return snapshot;
  }

  /** All tensors of all tensor files, in file order. */
  public List<Located> tensors() {
    return Collections.unmodifiableList(new ArrayList<>(tensors.values()));
  }

  /** One tensor by name. */
  public Located tensor(String name) throws NotFoundException {
    Located t = tensors.get(name);
    if (t == null) {
      throw new NotFoundException("version " + versionId.shortHex(12) + " has no tensor '" + name + "'");
    }
    return t;
  }

  /** Reads a whole tensor into a new heap buffer. */
  public ByteBuffer read(String name) throws IOException {
    Located t = tensor(name);
    ByteBuffer out = allocate(t.info().byteLength(), name);
    read(name, out);
    return out.flip();
  }

  /** Reads a whole tensor into {@code dst} (direct or heap), which must have room for it. */
  public void read(String name, ByteBuffer dst) throws IOException {
    Located t = tensor(name);
    readRange(t.file(), t.fileOffset(), t.fileOffset() + t.info().byteLength(), dst);
  }

  /** Reads rows {@code [from, to)} of a tensor's first dimension into a new heap buffer. */
  public ByteBuffer readRows(String name, long from, long to) throws IOException {
    Located t = tensor(name);
    long row = t.info().rowBytes();
    if (row < 0) {
      throw new InvalidInputException("tensor '" + name + "' of shape " + t.info().shape() + " and dtype "
          + t.info().dtype() + " cannot be read by rows");
    }
    long rows = t.info().rows();
    if (from < 0 || to < from || to > rows) {
      throw new InvalidInputException("rows [" + from + ", " + to + ") are outside tensor '" + name + "' with "
          + rows + " rows");
    }
    ByteBuffer out = allocate((to - from) * row, name);
    long start = t.fileOffset() + from * row;
    readRange(t.file(), start, start + (to - from) * row, out);
    return out.flip();
  }

  /**
   * Reads rows {@code [from, to)} of a tensor's first dimension into {@code dst} (direct or heap), which must have
   * room for them. Reading whole stored chunks (rows that start and end at chunk boundaries) decodes straight into
   * {@code dst}; a range that cuts a compressed chunk decodes that whole chunk first.
   */
  public void readRows(String name, long from, long to, ByteBuffer dst) throws IOException {
    Located t = tensor(name);
    long row = t.info().rowBytes();
    if (row < 0) {
      throw new InvalidInputException("tensor '" + name + "' of shape " + t.info().shape() + " and dtype "
          + t.info().dtype() + " cannot be read by rows");
    }
    long rows = t.info().rows();
    if (from < 0 || to < from || to > rows) {
      throw new InvalidInputException("rows [" + from + ", " + to + ") are outside tensor '" + name + "' with "
          + rows + " rows");
    }
    long start = t.fileOffset() + from * row;
    readRange(t.file(), start, start + (to - from) * row, dst);
  }

  /** Streams every tensor in file order: {@code sink} gets each tensor's bytes in a buffer it must not keep. */
  public void forEachTensor(TensorSink sink) throws IOException {
    ByteBuffer buf = null;
    for (Located t : tensors.values()) {
      long n = t.info().byteLength();
      if (buf == null || buf.capacity() < n) {
        buf = ByteBuffer.allocateDirect((int) Math.max(n, 1 << 20));
      }
      buf.clear().limit((int) n);
      readRange(t.file(), t.fileOffset(), t.fileOffset() + n, buf);
      buf.flip();
      sink.accept(t, buf);
    }
  }

  /** Receives streamed tensors. */
  @FunctionalInterface
  public interface TensorSink {
    void accept(Located tensor, ByteBuffer data) throws IOException;
  }

  /** Reads a whole (small) file into a new heap buffer. */
  public ByteBuffer readFile(String path) throws IOException {
    FileEntry f = file(path);
    ByteBuffer out = allocate(f.size(), path);
    readRange(f, 0, f.size(), out);
    return out.flip();
  }

  /** Copies a file to a channel, chunk by chunk, checking each. */
  public void copyFile(String path, WritableByteChannel out) throws IOException {
    FileEntry f = file(path);
    ByteBuffer scratch = null;
    for (ChunkRef c : f.chunks()) {
      ObjectDatabase.Location loc = locator.locate(c.id());
      if (scratch == null || scratch.capacity() < c.length()) {
        scratch = ByteBuffer.allocateDirect((int) Math.max(c.length(), 1 << 20));
      }
      scratch.clear().limit((int) c.length());
      if (!readNoneInto(loc, c, scratch)) {
        db.readChunk(loc, scratch, sha256);
      }
      ByteBuffer data = scratch.flip();
      while (data.hasRemaining()) {
        out.write(data);
      }
    }
  }

  /** A file of the version. */
  public FileEntry file(String path) throws NotFoundException {
    return snapshot.file(path).orElseThrow(() -> new NotFoundException(
        "version " + versionId.shortHex(12) + " has no file '" + path + "'"));
  }

  /** Reads bytes [from, to) of a file into dst. */
  private void readRange(FileEntry f, long from, long to, ByteBuffer dst) throws IOException {
    if (dst.remaining() < to - from) {
      throw new IllegalArgumentException("buffer has room for " + dst.remaining() + " bytes, need " + (to - from));
    }
    if (from == to) {
      return;
    }
    long[] offsets = f.chunkOffsets();
    for (int i = Repository.firstChunk(offsets, from); i < f.chunks().size() && offsets[i] < to; i++) {
      ChunkRef c = f.chunks().get(i);
      long cs = offsets[i];
      long lo = Math.max(from, cs) - cs;
      long hi = Math.min(to, cs + c.length()) - cs;
      ObjectDatabase.Location loc = locator.locate(c.id());
      if (lo == 0 && hi == c.length() && readNoneInto(loc, c, dst)) {
        continue;
      }
      ByteBuffer payload = checkedPayload(loc, c);
      if (payload != null) {
        dst.put(payload.duplicate().position((int) lo).limit((int) hi));
      } else if (lo == 0 && hi == c.length()) {
        ByteBuffer part = dst.duplicate().limit(dst.position() + (int) c.length());
        db.readChunk(loc, part, sha256);
        dst.position(part.position());
      } else {
        ByteBuffer whole = ByteBuffer.allocate((int) c.length());
        db.readChunk(loc, whole, sha256);
        dst.put(whole.flip().position((int) lo).limit((int) hi));
      }
    }
  }

  /**
   * The fast path for a whole codec-none chunk: reads its header, then its payload straight into {@code dst} with a
   * positional read (no memory map, no second copy) and checks the CRC (and SHA-256 if verifying) there. Returns
   * false, reading nothing into {@code dst}, if the chunk has another codec.
   */
  private boolean readNoneInto(ObjectDatabase.Location loc, ChunkRef c, ByteBuffer dst) throws IOException {
    String where = db.describe(loc);
    ByteBuffer head = db.store().read(loc.object(), loc.offset(), Frame.HEADER_LENGTH);
    Frame.Header h = Frame.parseHeader(head, c.id(), where);
    if (h.codecId() != NoneCodec.ID) {
      return false;
    }
    if (h.rawLength() != c.length()) {
      throw new CorruptObjectException(c.id(), where,
          "frame holds " + h.rawLength() + " bytes, the snapshot expects " + c.length());
    }
    long frameLength = loc.packed() ? loc.length() : db.store().size(loc.object());
    if (frameLength != Frame.HEADER_LENGTH + h.storedLength()) {
      throw new CorruptObjectException(c.id(), where, "payload is " + (frameLength - Frame.HEADER_LENGTH)
          + " bytes, the frame header says " + h.storedLength());
    }
    int start = dst.position();
    int end = start + (int) c.length();
    // read in slices and CRC each while it is still in the CPU cache, rather than the whole chunk from memory after
    CRC32C crc = new CRC32C();
    long from = loc.offset() + Frame.HEADER_LENGTH;
    for (int at = start; at < end; ) {
      int n = Math.min(SLICE, end - at);
      db.store().readInto(loc.object(), from + (at - start), dst.duplicate().position(at).limit(at + n));
      crc.update(dst.duplicate().position(at).limit(at + n));
      at += n;
    }
    if ((int) crc.getValue() != h.payloadCrc()) {
      throw new CorruptObjectException(c.id(), where, String.format(
          "checksum failed (hardware problem?) : expected=%08x actual=%08x", h.payloadCrc(), (int) crc.getValue()));
    }
    ByteBuffer payload = dst.duplicate().position(start).limit(end);
    if (sha256) {
      db.checkSha(loc, payload);
    }
    dst.position(start + (int) c.length());
    return true;
  }

  /** For codec-none chunks: the checked payload (CRC, and SHA-256 if verifying). Else null. */
  private ByteBuffer checkedPayload(ObjectDatabase.Location loc, ChunkRef c) throws IOException {
    ByteBuffer frame = db.readFrame(loc);
    String where = db.describe(loc);
    Frame.Header h = Frame.parseHeader(frame, c.id(), where);
    if (h.codecId() != NoneCodec.ID) {
      return null;
    }
    ByteBuffer payload = frame.duplicate().position(frame.position() + Frame.HEADER_LENGTH);
    Frame.checkPayload(h, payload, c.id(), where);
    if (h.rawLength() != c.length()) {
      throw new CorruptObjectException(c.id(), where,
          "frame holds " + h.rawLength() + " bytes, the snapshot expects " + c.length());
    }
    if (sha256) {
      db.checkSha(loc, payload);
    }
    return payload.slice();
  }

  private static ByteBuffer allocate(long n, String what) throws InvalidInputException {
    if (n > Integer.MAX_VALUE - 64) {
      throw new InvalidInputException("'" + what + "' is " + n + " bytes, more than one buffer holds: read it by rows");
    }
    return ByteBuffer.allocate((int) n);
  }

  @Override
  public void close() {
    // nothing held beyond the repository's resources
  }
}
