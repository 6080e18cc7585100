package io.ferry.read;

import io.ferry.id.ChunkId;
import io.ferry.chunk.Frame;
import io.ferry.codec.Codecs;
import io.ferry.codec.NoneCodec;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.MissingObjectException;
import io.ferry.store.ChunkStore;
import io.ferry.store.FileWrites;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.security.MessageDigest;
import java.util.Objects;
import java.util.zip.CRC32C;

/**
 * The one way core reads a stored chunk frame (docs/storage-format.md §2), wherever it lies: a loose object or a
 * range of a pack ({@link Location}). Every read parses and checks the frame header (in a version 2 frame, that it
 * holds the chunk asked for, so a swapped object fails without hashing), checks the raw length the frame
 * records against the length the caller expects (the snapshot's), and checks the CRC32C of the stored payload; with
 * {@link Check#CONTENT} it also checks the SHA-256 of the decoded bytes against the chunk id (and that a loose object
 * holds nothing past its frame). Errors are {@link CorruptObjectException} or {@link MissingObjectException} naming
 * the chunk, the store's URI and the location (the loose object, or the pack and offset).
 *
 * <p>Uncompressed loose frames, the bulk of a model's bytes, are never mapped nor read whole: their payload streams in
 * slices (a positional read, then the checksum while the slice is still in the CPU cache). Compressed frames are read
 * whole and decoded into a buffer, then written; destinations are never memory-mapped. The reader holds no bytes
 * between calls except one reused streaming buffer and one decode buffer per calling thread; callers bound how many
 * chunks are in flight.
 *
 * <p>Thread-safe. Owned by the repository's object database; it reads through the store but never writes to it.
 */
public final class ChunkReader {
  /** How much a read checks. */
  public enum Check {
    /**
     * Frame header, raw length against the expected one, and payload CRC32C: what every read checks; all a read of a
     * {@link ChunkStore#trusted trusted} (local) store checks unless asked for more.
     */
    FRAME,
    /**
     * Also the SHA-256 of the decoded bytes against the chunk id: {@code verify}, {@code pull --verify}, and every
     * read from a store that is not trusted (remote stores, caches), whatever was asked.
     */
    CONTENT
  }

  /** Expected length for objects whose raw length no snapshot records (snapshots, versions): any length is taken. */
  public static final long ANY_LENGTH = -1;

  /** Size of the per-thread buffer that streams uncompressed chunks to a channel or through a check. */
  public static final int STREAM_BUFFER = 8 << 20;

  /** Uncompressed payloads read into a caller's buffer are checksummed in slices of this size (cache-sized). */
  private static final int SLICE = 1 << 20;

  private final ChunkStore store;
  private final Codecs codecs;
  /** Whether reads from the store may skip the SHA-256 of the content ({@link ChunkStore#trusted}). */
  private final boolean trusted;
  private final ThreadLocal<ByteBuffer> streamBuffers =
      ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(STREAM_BUFFER));
  private final ThreadLocal<ByteBuffer> decodeBuffers = new ThreadLocal<>();

  /** A reader of the frames in {@code store}, decoding with {@code codecs}. */
  public ChunkReader(ChunkStore store, Codecs codecs) {
    this.store = store;
    this.codecs = codecs;
    this.trusted = store.trusted();
  }

  /** The check a read makes: the one asked for, and always the content's SHA-256 from a store that is not trusted. */
  private Check effective(Check asked) {
    return trusted ? asked : Check.CONTENT;
  }

  /** Where a location is, as errors name it after the chunk: the store, and for a packed chunk its pack and offset. */
  public String describe(Location loc) {
    if (loc.packed()) {
      return store.describe() + " pack " + loc.object() + " at offset " + loc.offset();
    }
    // a loose object is the chunk itself: its errors say "object ID at STORE", once
    return store.describe();
  }

  /**
   * Reads, checks and decodes the chunk into {@code dst} (direct or heap) at its position, which advances by the
   * chunk's raw length. On failure {@code dst}'s position is unchanged, but bytes past it may have been overwritten.
   *
   * @param length the raw length the snapshot records, or {@link #ANY_LENGTH}
   * @throws IllegalArgumentException if {@code dst} has less room than the chunk
   */
  public void readInto(Location loc, long length, Check check, ByteBuffer dst) throws IOException {
    againPastCache(loc, () -> decodeInto(loc, length, check, dst, null));
  }

  /**
   * As {@link #readInto(Location, long, Check, ByteBuffer)}, with the frame of a compressed chunk read into a buffer
   * of {@code scratch} (its {@link Scratch#take}) instead of a new heap buffer.
   */
  public void readInto(Location loc, long length, Check check, ByteBuffer dst, Scratch scratch) throws IOException {
    Objects.requireNonNull(scratch, "scratch");
    againPastCache(loc, () -> decodeInto(loc, length, check, dst, scratch));
  }

  /** A read of one chunk, which may run twice ({@link #againPastCache}). */
  private interface Attempt {
    void run() throws IOException;
  }

  /**
   * Runs the read, and once more when its bytes failed their checks and the store says a second read may bring other
   * bytes ({@link ChunkStore#readRejected}): a cache drops its copy, so the second read goes to the store behind it,
   * whose bytes are the truth (and whose errors name it); a store over several servers asks another one. A read
   * leaves nothing behind that a second attempt would trip over: buffers are written from their start again, sinks at
   * the same positions.
   */
  private void againPastCache(Location loc, Attempt read) throws IOException {
    try {
      read.run();
    } catch (CorruptObjectException e) {
      CorruptObjectException first = withSender(e, loc);
      if (trusted || !store.readRejected(loc.object())) {
        throw first;
      }
      try {
        read.run();
      } catch (CorruptObjectException again) {
        CorruptObjectException second = withSender(again, loc);
        second.addSuppressed(first);
        throw second;
      } catch (IOException | RuntimeException again) {
        again.addSuppressed(first);
        throw again;
      }
    }
  }

  /**
   * The error, naming the server that sent the bytes when the store is several ({@link ChunkStore#lastSender}): the
   * one to look at, of a pool of servers that mostly send good bytes.
   */
  private CorruptObjectException withSender(CorruptObjectException e, Location loc) {
    String sender = store.lastSender(loc.object());
    if (sender == null) {
      return e;
    }
    CorruptObjectException named = new CorruptObjectException(e.id(), e.where() + " (sent by " + sender + ")",
        e.why());
    named.initCause(e.getCause());
    named.setStackTrace(e.getStackTrace());
    return named;
  }

  /** Reads a frame that did not come with its header into {@code scratch}, or a new buffer when it is null. */
  private void decodeInto(Location loc, long length, Check asked, ByteBuffer dst, Scratch scratch) throws IOException {
    Check check = effective(asked);
    Opened o = open(loc, length);
    long n = o.header.rawLength();
    requireRoom(dst, n, loc);
    if (check == Check.CONTENT) {
      checkObjectSize(o);
    }
    int start = dst.position();
    if (o.streamable()) {
      streamLoose(o, check, (off, max) -> {
        int at = start + (int) off;
        return dst.duplicate().position(at).limit(at + (int) Math.min(SLICE, max));
      }, null);
    } else {
      ByteBuffer frameBuffer = null;
      try {
        ByteBuffer frame = o.frame;
        if (frame == null && scratch == null) {
          frame = wholeFrame(o);
        } else if (frame == null) {
          frameBuffer = scratch.take((int) o.header.frameLength());
          readInto(o.loc, o.where, 0, frameBuffer);
          frame = frameBuffer.flip();
        }
        Frame.decode(frame, dst.duplicate().limit(start + (int) n), codecs, loc.chunk(), o.where);
      } finally {
        if (frameBuffer != null) {
          scratch.give(frameBuffer);
        }
      }
      if (check == Check.CONTENT) {
        checkSha(o, dst.duplicate().position(start).limit(start + (int) n));
      }
    }
    dst.position(start + (int) n);
  }

  /**
   * Reads bytes {@code [from, to)} of the chunk's raw content into {@code dst}, advancing its position by {@code to -
   * from}. The whole chunk is still checked (its CRC covers all of it); a compressed chunk is decoded whole first.
   *
   * @param length the raw length the snapshot records
   */
  public void readRange(Location loc, long length, long from, long to, Check check, ByteBuffer dst)
      throws IOException {
    againPastCache(loc, () -> readRangeOnce(loc, length, from, to, check, dst));
  }

  private void readRangeOnce(Location loc, long length, long from, long to, Check asked, ByteBuffer dst)
      throws IOException {
    Check check = effective(asked);
    if (from < 0 || to < from || to > length) {
      throw new IllegalArgumentException("range [" + from + ", " + to + ") is outside chunk " + loc.chunk() + " of "
          + length + " bytes");
    }
    if (from == 0 && to == length) {
      readInto(loc, length, check, dst);
      return;
    }
    requireRoom(dst, to - from, loc);
    Opened o = check == Check.CONTENT ? openWhole(loc, length) : open(loc, length);
    ByteBuffer frame = wholeFrame(o);
    ByteBuffer raw;
    if (o.header.codecId() == NoneCodec.ID) {
      raw = payloadOf(o, frame);
      Frame.checkPayload(o.header, raw, loc.chunk(), o.where);
    } else {
      raw = ByteBuffer.allocate((int) length);
      Frame.decode(frame, raw, codecs, loc.chunk(), o.where);
      raw.flip();
    }
    if (check == Check.CONTENT) {
      checkSha(o, raw);
    }
    dst.put(raw.duplicate().position(raw.position() + (int) from).limit(raw.position() + (int) to));
  }

  /**
   * Receives a chunk's content for a destination such as a file: {@link #write} puts all remaining bytes of {@code
   * src} at {@code position} (a positional write), advancing {@code src}'s position. The buffer is valid only during
   * the call.
   */
  @FunctionalInterface
  public interface PositionalSink {
    void write(ByteBuffer src, long position) throws IOException;
  }

  /**
   * Writes the chunk's raw content into {@code out} at {@code position}, checking it on the way: see {@link
   * #copyTo(Location, long, Check, PositionalSink, long)}.
   *
   * @param length the raw length the snapshot records
   */
  public void copyTo(Location loc, long length, Check check, FileChannel out, long position) throws IOException {
    copyTo(loc, length, check, (src, at) -> FileWrites.write(src, out, at), position);
  }

  /**
   * Writes the chunk's raw content to {@code out} at {@code position}, checking it on the way. An uncompressed
   * loose chunk streams through one reused buffer per thread (positional read, checksum, positional write); a
   * compressed one is read whole and decoded into the calling thread's reused decode buffer (direct memory, at most
   * one chunk per worker thread; no allocation per chunk), then written. Nothing is memory-mapped, so a full disk is an {@link
   * IOException} from {@code out}, not a fault. Bytes may reach {@code out} before a failure is detected, so a
   * caller that writes into a file of final content writes to a temporary file and discards it on failure (as pull
   * does).
   *
   * @param length the raw length the snapshot records
   */
  public void copyTo(Location loc, long length, Check check, PositionalSink out, long position) throws IOException {
    copyTo(loc, length, check, out, position, perThread);
  }

  /** The scratch of callers that bring none: a new heap buffer per frame, this thread's reused decode buffer. */
  private final Scratch perThread = new Scratch() {
    @Override
    public ByteBuffer take(int length) {
      return ByteBuffer.allocate(length);
    }

    @Override
    public void give(ByteBuffer buffer) {}

    @Override
    public ByteBuffer takeOutput(int length) {
      return decodeBuffer(length, null);
    }

    @Override
    public void giveOutput(ByteBuffer buffer) {}
  };

  /**
   * Lends a read the buffers it holds a chunk's frame and decoded bytes in, and takes them back, so that a caller
   * with many workers bounds the memory of all of them together (a pull's pool of direct buffers).
   */
  public interface Scratch {
    /** A buffer with {@code length} bytes from position 0 on; may wait until another read gives one back. */
    ByteBuffer take(int length) throws IOException;

    /** Gives back a buffer {@link #take} lent. */
    void give(ByteBuffer buffer);

    /**
     * A buffer to decode a chunk into, taken after its frame's buffer and given back with {@link #giveOutput}; by
     * default from the same buffers as frames.
     */
    default ByteBuffer takeOutput(int length) throws IOException {
      return take(length);
    }

    /** Gives back a buffer {@link #takeOutput} lent. */
    default void giveOutput(ByteBuffer buffer) {
      give(buffer);
    }
  }

  /**
   * As {@link #copyTo(Location, long, Check, PositionalSink, long)}, with the frame of a compressed chunk read into
   * and decoded into buffers of {@code scratch} instead of a heap buffer per chunk and a buffer per thread.
   */
  public void copyTo(Location loc, long length, Check check, PositionalSink out, long position, Scratch scratch)
      throws IOException {
    againPastCache(loc, () -> copyToOnce(loc, length, check, out, position, scratch));
  }

  private void copyToOnce(Location loc, long length, Check asked, PositionalSink out, long position, Scratch scratch)
      throws IOException {
    Check check = effective(asked);
    Opened o = open(loc, length);
    if (check == Check.CONTENT) {
      checkObjectSize(o);
    }
    if (o.streamable()) {
      ByteBuffer buf = streamBuffers.get();
      streamLoose(o, check, (off, max) -> buf.clear().limit((int) Math.min(buf.capacity(), max)),
          (slice, off) -> out.write(slice, position + off));
      return;
    }
    boolean compressed = o.header.codecId() != NoneCodec.ID;
    ByteBuffer frameBuffer = null;
    ByteBuffer dst = null;
    try {
      ByteBuffer frame = o.frame;
      if (frame == null) {
        frameBuffer = scratch.take((int) o.header.frameLength());
        frame = frameBuffer;
        readInto(o.loc, o.where, 0, frame);
        frame.flip();
      }
      if (!compressed) {
        checkWhole(o, frame, check);
        out.write(payloadOf(o, frame), position);
        return;
      }
      // a worker holding a frame waits only for output buffers, which are held by workers that hold both and will
      // give them back: no worker waits on another in a circle
      dst = scratch.takeOutput((int) o.header.rawLength());
      Frame.decode(frame, dst, codecs, loc.chunk(), o.where);
      dst.flip();
      if (check == Check.CONTENT) {
        checkSha(o, dst);
      }
      out.write(dst, position);
    } finally {
      if (dst != null) {
        scratch.giveOutput(dst);
      }
      if (frameBuffer != null) {
        scratch.give(frameBuffer);
      }
    }
  }

  /**
   * Writes the chunk's raw content to {@code out} only once all of it passed its checks, so a consumer such as a
   * terminal never sees a byte of a chunk that fails. Holds the chunk in a per-thread buffer meanwhile.
   *
   * @param length the raw length the snapshot records
   */
  public void copyTo(Location loc, long length, Check check, WritableByteChannel out) throws IOException {
    ByteBuffer buf = decodeBuffer(length, loc);
    readInto(loc, length, check, buf);
    buf.flip();
    while (buf.hasRemaining()) {
      out.write(buf);
    }
  }

  /**
   * Checks the chunk completely without keeping it: frame, length, CRC, decoding, the SHA-256 of the content, and
   * that a loose object holds nothing past its frame. Uncompressed loose chunks are hashed as they stream; others
   * decode into a per-thread buffer that is reused.
   *
   * @param length the raw length the snapshot records, or {@link #ANY_LENGTH}
   * @return the chunk's raw length
   */
  public long verify(Location loc, long length) throws IOException {
    long[] raw = new long[1];
    againPastCache(loc, () -> raw[0] = verifyOnce(loc, length));
    return raw[0];
  }

  /**
   * As {@link #verify(Location, long)}, with the frame of a compressed loose chunk read into a buffer of {@code
   * scratch} and decoded into another ({@link Scratch#takeOutput}), instead of a new buffer and a per-thread one: a
   * caller with many workers then bounds the memory of all of them together. Without it, a whole-frame read through a
   * cache (whose parts come as arrays of their own) held each frame twice per worker, and {@code ferry warm} of 64 MiB
   * chunks ran out of the default heap.
   */
  public long verify(Location loc, long length, Scratch scratch) throws IOException {
    Objects.requireNonNull(scratch, "scratch");
    long[] raw = new long[1];
    againPastCache(loc, () -> raw[0] = verifyOnce(loc, length, scratch));
    return raw[0];
  }

  private long verifyOnce(Location loc, long length) throws IOException {
    return verifyOnce(loc, length, null);
  }

  private long verifyOnce(Location loc, long length, Scratch scratch) throws IOException {
    Opened head = open(loc, length);
    if (head.streamable()) {
      checkObjectSize(head);
      ByteBuffer buf = streamBuffers.get();
      streamLoose(head, Check.CONTENT, (off, max) -> buf.clear().limit((int) Math.min(buf.capacity(), max)), null);
      return head.header.rawLength();
    }
    if (loc.packed() || scratch == null) {
      Opened o = loc.packed() ? head : openWhole(loc, length);
      checkWhole(o, o.frame, Check.CONTENT);
      return o.header.rawLength();
    }
    if (head.header.frameLength() > Integer.MAX_VALUE - 64 || head.header.rawLength() > Integer.MAX_VALUE - 64) {
      throw new CorruptObjectException(loc.chunk(), head.where, "frame of " + head.header.frameLength()
          + " bytes holding " + head.header.rawLength() + " is larger than any chunk");
    }
    checkObjectSize(head);
    ByteBuffer frame = scratch.take((int) head.header.frameLength());
    try {
      readInto(loc, head.where, 0, frame);
      frame.flip();
      ByteBuffer out = scratch.takeOutput((int) head.header.rawLength());
      try {
        Frame.decode(frame, out, codecs, loc.chunk(), head.where);
        checkSha(head, out.flip());
      } finally {
        scratch.giveOutput(out);
      }
    } finally {
      scratch.give(frame);
    }
    return head.header.rawLength();
  }

  /**
   * Checks that the chunk's frame in a pack holds exactly {@code content}: frame header, length, CRC32C, then its
   * decoded bytes compared with {@code content}. For a caller that hashed {@code content} to the chunk's id itself (a
   * push), this proves what {@link #verify} proves without a second SHA-256 pass. {@code content}'s position is
   * unchanged.
   *
   * @throws CorruptObjectException if the frame is damaged or holds other bytes
   */
  public void checkHolds(Location loc, ByteBuffer content) throws IOException {
    if (!loc.packed()) {
      verify(loc, content.remaining()); // a loose object (a big chunk): its content hashed as verify reads it
      return;
    }
    Opened o = open(loc, content.remaining());
    ByteBuffer payload = payloadOf(o, o.frame);
    Frame.checkPayload(o.header, payload, loc.chunk(), o.where);
    ByteBuffer raw = payload;
    if (o.header.codecId() != NoneCodec.ID) {
      raw = decodeBuffer(o.header.rawLength(), loc);
      Frame.decode(o.frame, raw, codecs, loc.chunk(), o.where);
      raw.flip();
    }
    int at = raw.mismatch(content);
    if (at >= 0) {
      throw new CorruptObjectException(loc.chunk(), o.where, "the frame holds other bytes than the chunk's content"
          + " (first difference at byte " + at + " of " + content.remaining() + ")");
    }
  }

  /**
   * The chunk's frame exactly as stored (header and payload), after the given checks: for copying between stores
   * without re-encoding. The result may be a read-only view of the store's bytes.
   *
   * @param length the raw length the snapshot records, or {@link #ANY_LENGTH}
   */
  public ByteBuffer storedFrame(Location loc, long length, Check check) throws IOException {
    ByteBuffer[] frame = new ByteBuffer[1];
    againPastCache(loc, () -> frame[0] = storedFrameOnce(loc, length, check));
    return frame[0];
  }

  private ByteBuffer storedFrameOnce(Location loc, long length, Check asked) throws IOException {
    Check check = effective(asked);
    Opened o = check == Check.CONTENT ? openWhole(loc, length) : open(loc, length);
    ByteBuffer frame = wholeFrame(o);
    checkWhole(o, frame, check);
    return frame.duplicate();
  }

  /**
   * Reads a small loose object (a snapshot or a version) and checks it completely, SHA-256 included.
   *
   * @return its decoded bytes
   */
  public byte[] readObject(ChunkId id) throws IOException {
    Location loc = Location.loose(id);
    byte[][] out = new byte[1][];
    // through a cache, like a chunk: a forged version or snapshot there is dropped and read from the store, not an
    // error every command hits until someone deletes the entry by hand
    againPastCache(loc, () -> out[0] = readObjectOnce(loc));
    return out[0];
  }

  private byte[] readObjectOnce(Location loc) throws IOException {
    ChunkId id = loc.chunk();
    Opened o = openWhole(loc, ANY_LENGTH);
    ByteBuffer raw = ByteBuffer.allocate((int) o.header.rawLength());
    Frame.decode(wholeFrame(o), raw, codecs, id, o.where);
    raw.flip();
    checkSha(o, raw);
    byte[] b = new byte[raw.remaining()];
    raw.get(b);
    return b;
  }

  // ---------------------------------------------------------------- internals

  /** A frame whose header was read and checked; {@code frame} holds all of its bytes when they came with it. */
  private record Opened(Location loc, String where, Frame.Header header, ByteBuffer frame) {
    /** An uncompressed loose frame: its payload streams in slices instead of being read whole. */
    boolean streamable() {
      return !loc.packed() && header.codecId() == NoneCodec.ID;
    }
  }

  /** Reads and checks the header (and, in a pack, the whole frame, which is small). */
  private Opened open(Location loc, long length) throws IOException {
    String where = describe(loc);
    ByteBuffer frame = null;
    ByteBuffer head;
    if (loc.packed()) {
      frame = read(loc, where, loc.offset(), loc.length());
      head = frame;
    } else {
      head = readHeader(loc, where);
    }
    return checked(loc, where, Frame.parseHeader(head, loc.chunk(), where), length, frame);
  }

  /**
   * Like {@link #open}, but reads a loose object whole (its size, then all of it: on a local store a memory map, so
   * checks read the bytes where they lie) and checks that it is exactly its frame.
   */
  private Opened openWhole(Location loc, long length) throws IOException {
    if (loc.packed()) {
      return open(loc, length);
    }
    String where = describe(loc);
    long size;
    try {
      size = store.size(loc.object());
    } catch (MissingObjectException e) {
      throw missing(loc, e);
    }
    if (size > Integer.MAX_VALUE - 64) {
      throw new CorruptObjectException(loc.chunk(), where, "object of " + size + " bytes is larger than any chunk");
    }
    ByteBuffer frame = read(loc, where, 0, (int) size);
    Opened o = checked(loc, where, Frame.parseHeader(frame, loc.chunk(), where), length, frame);
    if (size != o.header.frameLength()) {
      throw new CorruptObjectException(loc.chunk(), where, "object is " + size + " bytes, its frame header says "
          + o.header.frameLength());
    }
    return o;
  }

  private static Opened checked(Location loc, String where, Frame.Header h, long length, ByteBuffer frame)
      throws CorruptObjectException {
    if (length != ANY_LENGTH && h.rawLength() != length) {
      throw new CorruptObjectException(loc.chunk(), where,
          "frame holds " + h.rawLength() + " raw bytes, the snapshot expects " + length);
    }
    if (h.rawLength() > Integer.MAX_VALUE - 64 || h.storedLength() > Integer.MAX_VALUE - 64) {
      throw new CorruptObjectException(loc.chunk(), where, "frame header claims " + h.rawLength() + " raw and "
          + h.storedLength() + " stored bytes, more than a chunk can hold");
    }
    if (h.codecId() == NoneCodec.ID && h.storedLength() != h.rawLength()) {
      throw new CorruptObjectException(loc.chunk(), where, "uncompressed frame stores " + h.storedLength()
          + " bytes for " + h.rawLength() + " raw bytes");
    }
    return new Opened(loc, where, h, frame);
  }

  /**
   * The first bytes of a loose object, enough for its header: a whole current (version 2) header in one read, or, for
   * an object shorter than that (a small version 1 frame, or a truncated object), what a version 1 header needs.
   */
  private ByteBuffer readHeader(Location loc, String where) throws IOException {
    try {
      return store.read(loc.object(), 0, Frame.HEADER_LENGTH);
    } catch (MissingObjectException e) {
      throw missing(loc, e);
    } catch (EOFException e) {
      return read(loc, where, 0, Frame.V1_HEADER_LENGTH);
    }
  }

  /** The whole frame: the bytes read with the header (pack), else header and payload of the loose object. */
  private ByteBuffer wholeFrame(Opened o) throws IOException {
    if (o.frame != null) {
      return o.frame;
    }
    return read(o.loc, o.where, 0, (int) o.header.frameLength());
  }

  private static ByteBuffer payloadOf(Opened o, ByteBuffer frame) {
    return frame.duplicate().position(frame.position() + (int) o.header.payloadOffset());
  }

  /** Checks a whole frame's payload CRC; with {@link Check#CONTENT} also decodes it (reused buffer) and hashes it. */
  private void checkWhole(Opened o, ByteBuffer frame, Check check) throws IOException {
    ByteBuffer payload = payloadOf(o, frame);
    Frame.checkPayload(o.header, payload, o.loc.chunk(), o.where);
    if (check != Check.CONTENT) {
      return;
    }
    if (o.header.codecId() == NoneCodec.ID) {
      checkSha(o, payload);
    } else {
      ByteBuffer buf = decodeBuffer(o.header.rawLength(), o.loc);
      Frame.decode(frame, buf, codecs, o.loc.chunk(), o.where);
      checkSha(o, buf.flip());
    }
  }

  /** A loose object must be exactly its frame: bytes past it mean a damaged or foreign object. */
  private void checkObjectSize(Opened o) throws IOException {
    if (o.loc.packed()) {
      return;
    }
    long size;
    try {
      size = store.size(o.loc.object());
    } catch (MissingObjectException e) {
      throw missing(o.loc, e);
    }
    if (size != o.header.frameLength()) {
      throw new CorruptObjectException(o.loc.chunk(), o.where, "object is " + size + " bytes, its frame header says "
          + o.header.frameLength());
    }
  }

  /** Picks the buffer an uncompressed slice is read into, given its offset and the bytes left. */
  @FunctionalInterface
  private interface SliceTarget {
    ByteBuffer slice(long offset, long left);
  }

  /** Receives each checked slice (valid until the next one). */
  @FunctionalInterface
  private interface SliceSink {
    void accept(ByteBuffer slice, long offset) throws IOException;
  }

  /**
   * Streams the payload of an uncompressed loose frame: each slice is read into the buffer {@code target} gives,
   * checksummed (and hashed) while it is hot, then handed to {@code sink}. The CRC of the whole payload is known only
   * at the end, so a sink may have received bytes of a chunk that then fails.
   */
  private void streamLoose(Opened o, Check check, SliceTarget target, SliceSink sink) throws IOException {
    CRC32C crc = new CRC32C();
    MessageDigest sha = check == Check.CONTENT ? ChunkId.sha256() : null;
    long n = o.header.storedLength();
    for (long off = 0; off < n; ) {
      ByteBuffer b = target.slice(off, n - off);
      int pos = b.position();
      int len = b.remaining();
      readInto(o.loc, o.where, o.header.payloadOffset() + off, b);
      b.position(pos).limit(pos + len);
      crc.update(b.duplicate());
      if (sha != null) {
        sha.update(b.duplicate());
      }
      if (sink != null) {
        sink.accept(b, off);
      }
      off += len;
    }
    if ((int) crc.getValue() != o.header.payloadCrc()) {
      throw new CorruptObjectException(o.loc.chunk(), o.where, String.format(
          "checksum failed (hardware problem?) in payload: expected=%08x actual=%08x", o.header.payloadCrc(),
          (int) crc.getValue()));
    }
    if (sha != null) {
      checkDigest(o, ChunkId.fromBytes(sha.digest()));
    }
  }

  private void checkSha(Opened o, ByteBuffer raw) throws CorruptObjectException {
    MessageDigest md = ChunkId.sha256();
    md.update(raw.duplicate());
    checkDigest(o, ChunkId.fromBytes(md.digest()));
  }

  private static void checkDigest(Opened o, ChunkId actual) throws CorruptObjectException {
    if (!actual.equals(o.loc.chunk())) {
      throw new CorruptObjectException(o.loc.chunk(), o.where, "content hashes to " + actual
          + " (the frame of another chunk, or damage its checksum missed)");
    }
  }

  /** A read of the stored object, with a missing object or a short read reported against the chunk. */
  private ByteBuffer read(Location loc, String where, long offset, int length) throws IOException {
    try {
      return store.read(loc.object(), offset, length);
    } catch (MissingObjectException e) {
      throw missing(loc, e);
    } catch (EOFException e) {
      throw truncated(loc, where, e);
    }
  }

  private void readInto(Location loc, String where, long offset, ByteBuffer dst) throws IOException {
    try {
      store.readInto(loc.object(), offset, dst);
    } catch (MissingObjectException e) {
      throw missing(loc, e);
    } catch (EOFException e) {
      throw truncated(loc, where, e);
    }
  }

  private MissingObjectException missing(Location loc, MissingObjectException cause) {
    MissingObjectException e;
    if (loc.packed()) {
      e = new MissingObjectException(loc.chunk(), store.describe() + ": pack " + loc.object()
          + ", which should hold its frame at offset " + loc.offset() + ", is absent");
    } else {
      e = new MissingObjectException(loc.chunk(), store.describe() + " (loose object)");
    }
    e.addSuppressed(cause);
    return e;
  }

  private static CorruptObjectException truncated(Location loc, String where, EOFException cause) {
    CorruptObjectException e = new CorruptObjectException(loc.chunk(), where, "truncated: " + cause.getMessage());
    e.addSuppressed(cause);
    return e;
  }

  private ByteBuffer decodeBuffer(long length, Location loc) {
    if (length > Integer.MAX_VALUE - 64) {
      throw new IllegalArgumentException("chunk " + (loc == null ? "" : loc.chunk() + " ") + "of " + length
          + " bytes does not fit a buffer");
    }
    ByteBuffer buf = decodeBuffers.get();
    if (buf == null || buf.capacity() < length) {
      buf = ByteBuffer.allocateDirect((int) Math.max(length, 1 << 20));
      decodeBuffers.set(buf);
    }
    return buf.clear().limit((int) length);
  }

  private static void requireRoom(ByteBuffer dst, long n, Location loc) {
    if (dst.remaining() < n) {
      throw new IllegalArgumentException("buffer has room for " + dst.remaining() + " bytes, chunk " + loc.chunk()
          + " needs " + n);
    }
  }
}
