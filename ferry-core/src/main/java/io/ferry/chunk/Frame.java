package io.ferry.chunk;

import io.ferry.id.ChunkId;

import io.ferry.codec.Codec;
import io.ferry.codec.Codecs;
import io.ferry.error.CorruptObjectException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * The stored form of a chunk, snapshot or version: a header followed by the codec's payload. Two layouts exist
 * (little endian), documented in docs/storage-format.md; both share their first 28 bytes:
 *
 * <pre>
 *  0  4  magic "FRYC"
 *  4  1  frame format version (2 is written; 1 is still read)
 *  5  1  codec id (0 none, 1 zstd, ...)
 *  6  2  codec parameter (0 unless the codec says otherwise)
 *  8  8  raw (decoded) length
 * 16  8  stored payload length
 * 24  4  CRC32C of the payload
 * version 2 (64-byte header):
 * 28 32  the chunk id (SHA-256 of the raw bytes) the frame holds
 * 60  4  CRC32C of bytes 0..59
 * version 1 (32-byte header):
 * 28  4  CRC32C of bytes 0..27
 * </pre>
 *
 * Every read checks the header CRC and, in a version 2 frame, that the id it carries is the id asked for: a frame
 * stored under another id (a swapped object, a pack index entry pointing at another chunk's frame) fails at once,
 * without hashing. The payload CRC is checked on every read too; the SHA-256 of the decoded bytes on verify.
 */
public final class Frame {
  /** Length of the header of frames written now (version 2). */
  public static final int HEADER_LENGTH = 64;
  /** Length of a version 1 header, which frames written before version 2 carry. */
  public static final int V1_HEADER_LENGTH = 32;
  static final int MAGIC = 0x43595246; // "FRYC" read little endian
  /** The frame format version written now. */
  public static final int VERSION = 2;

  private static final int ID_OFFSET = 28;

  private Frame() {}

  /**
   * A parsed frame header.
   *
   * @param version the frame format version (1 or 2)
   */
  public record Header(int version, int codecId, int codecParam, long rawLength, long storedLength, int payloadCrc) {
    /** Offset of the payload in the stored frame: the length of its header. */
    public long payloadOffset() {
      return version == 1 ? V1_HEADER_LENGTH : HEADER_LENGTH;
    }

    /** Length of the whole stored frame. */
    public long frameLength() {
      return payloadOffset() + storedLength;
    }
  }

  /** The CRC32C of the remaining bytes (position unchanged). */
  public static int crc32c(ByteBuffer b) {
    CRC32C crc = new CRC32C();
    crc.update(b.duplicate());
    return (int) crc.getValue();
  }

  /**
   * Builds the (version 2) header of the frame that stores chunk {@code id} as {@code payload} (the payload's CRC is
   * computed here).
   */
  public static ByteBuffer header(ChunkId id, int codecId, int codecParam, long rawLength, ByteBuffer payload) {
    ByteBuffer h = ByteBuffer.allocate(HEADER_LENGTH).order(ByteOrder.LITTLE_ENDIAN);
    h.putInt(MAGIC).put((byte) VERSION).put((byte) codecId).putShort((short) codecParam);
    h.putLong(rawLength).putLong(payload.remaining()).putInt(crc32c(payload));
    h.put(id.toBytes());
    CRC32C crc = new CRC32C();
    crc.update(h.array(), 0, HEADER_LENGTH - 4);
    h.putInt((int) crc.getValue());
    return h.flip();
  }

  /**
   * Whether an object beginning with {@code head} (its first bytes, from the buffer's position) is a frame of a
   * version this reader knows: magic {@code FRYC} and version 1 or 2. An object that is not (another magic, a newer
   * frame version) may be another kind of object or newer software's, which this reader cannot judge.
   */
  public static boolean knownFrameStart(ByteBuffer head) {
    if (head.remaining() < 5) {
      return false;
    }
    ByteBuffer h = head.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    int version = h.get(h.position() + 4) & 0xff;
    return h.getInt(h.position()) == MAGIC && (version == 1 || version == VERSION);
  }

  /**
   * Parses and checks a header: magic, version, header checksum, and (version 2) that the frame holds {@code id}.
   * {@code b} must hold the whole header (for version 2, {@link #HEADER_LENGTH} bytes); bytes past it are ignored.
   *
   * @param id the chunk the caller asked for
   * @param where the backend and object, for the error
   * @throws CorruptObjectException if the frame is shorter than its header, or the magic, version, header checksum
   *     or chunk id is wrong
   */
  public static Header parseHeader(ByteBuffer b, ChunkId id, String where) throws CorruptObjectException {
    if (b.remaining() < V1_HEADER_LENGTH) {
      throw new CorruptObjectException(id, where, "truncated: " + b.remaining() + " bytes, shorter than a frame"
          + " header (" + V1_HEADER_LENGTH + " bytes or more)");
    }
    ByteBuffer h = b.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    int p = h.position();
    int magic = h.getInt(p);
    if (magic != MAGIC) {
      throw new CorruptObjectException(id, where, String.format("bad frame magic 0x%08x, expected 0x%08x", magic, MAGIC));
    }
    int version = h.get(p + 4) & 0xff;
    if (version != 1 && version != VERSION) {
      throw new CorruptObjectException(id, where, "unsupported frame version " + version + " (this reader knows 1"
          + " and " + VERSION + ")");
    }
    int length = version == 1 ? V1_HEADER_LENGTH : HEADER_LENGTH;
    if (b.remaining() < length) {
      throw new CorruptObjectException(id, where, "truncated: " + b.remaining() + " bytes, shorter than the "
          + length + "-byte header of a version " + version + " frame");
    }
    CRC32C crc = new CRC32C();
    crc.update(h.duplicate().position(p).limit(p + length - 4));
    int expected = h.getInt(p + length - 4);
    if ((int) crc.getValue() != expected) {
      throw new CorruptObjectException(id, where, String.format(
          "checksum failed (hardware problem?) in frame header: expected=%08x actual=%08x", expected,
          (int) crc.getValue()));
    }
    if (version != 1) {
      byte[] held = new byte[32];
      h.duplicate().position(p + ID_OFFSET).get(held);
      ChunkId actual = ChunkId.fromBytes(held);
      if (!actual.equals(id)) {
        throw new CorruptObjectException(id, where, "the frame holds chunk " + actual
            + " (an object swapped or misplaced in the store)");
      }
    }
    long raw = h.getLong(p + 8);
    long stored = h.getLong(p + 16);
    if (raw < 0 || stored < 0) {
      throw new CorruptObjectException(id, where, "negative length in frame header");
    }
    return new Header(version, h.get(p + 5) & 0xff, h.getShort(p + 6) & 0xffff, raw, stored, h.getInt(p + 24));
  }

  /** Checks the payload's CRC32C against the header. */
  public static void checkPayload(Header header, ByteBuffer payload, ChunkId id, String where)
      throws CorruptObjectException {
    if (payload.remaining() != header.storedLength()) {
      throw new CorruptObjectException(id, where,
          "payload is " + payload.remaining() + " bytes, the frame header says " + header.storedLength());
    }
    int actual = crc32c(payload);
    if (actual != header.payloadCrc()) {
      throw new CorruptObjectException(id, where, String.format(
          "checksum failed (hardware problem?) in payload: expected=%08x actual=%08x", header.payloadCrc(), actual));
    }
  }

  /**
   * Checks and decodes a whole frame into {@code out} (which must have exactly the raw length remaining). For codec
   * none this is a checked copy.
   */
  public static void decode(ByteBuffer frame, ByteBuffer out, Codecs codecs, ChunkId id, String where)
      throws IOException {
    Header h = parseHeader(frame, id, where);
    ByteBuffer payload = frame.duplicate().position(frame.position() + (int) h.payloadOffset());
    checkPayload(h, payload, id, where);
    if (out.remaining() != h.rawLength()) {
      throw new CorruptObjectException(id, where,
          "frame holds " + h.rawLength() + " raw bytes, the snapshot expects " + out.remaining());
    }
    Codec codec;
    try {
      codec = codecs.byId(h.codecId());
    } catch (IOException e) {
      throw new CorruptObjectException(id, where, e.getMessage());
    }
    try {
      codec.decode(payload, out);
    } catch (IOException e) {
      throw new CorruptObjectException(id, where, "codec " + codec.name() + ": " + e.getMessage());
    } catch (RuntimeException e) {
      // a payload whose CRC is right but that the codec cannot decode (forged, or written by a broken encoder):
      // zstd-jni throws ZstdException ("Data corruption detected"), a decoder may index out of its input
      throw new CorruptObjectException(id, where, "codec " + codec.name() + " cannot decode the payload: " + e);
    }
  }

  /** Decodes a whole frame into a new heap buffer; for small objects (snapshots, versions, headers). */
  public static ByteBuffer decode(ByteBuffer frame, Codecs codecs, ChunkId id, String where) throws IOException {
    Header h = parseHeader(frame, id, where);
    if (h.rawLength() > Integer.MAX_VALUE - 64) {
      throw new CorruptObjectException(id, where, "raw length " + h.rawLength() + " too big for one buffer");
    }
    ByteBuffer out = ByteBuffer.allocate((int) h.rawLength());
    decode(frame, out, codecs, id, where);
    return out.flip();
  }
}
