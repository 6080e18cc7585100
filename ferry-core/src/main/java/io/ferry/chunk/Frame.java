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
 * The stored form of a chunk: a 32-byte header followed by the codec's payload. Layout (little endian), documented
 * in docs/storage-format.md:
 *
 * <pre>
 *  0  4  magic "FRYC"
 *  4  1  frame format version (1)
 *  5  1  codec id (0 none, 1 zstd, ...)
 *  6  2  codec parameter (0 unless the codec says otherwise)
 *  8  8  raw (decoded) length
 * 16  8  stored payload length
 * 24  4  CRC32C of the payload
 * 28  4  CRC32C of bytes 0..27
 * </pre>
 *
 * The payload CRC is checked on every read; the SHA-256 of the decoded bytes (the chunk id) on verify.
 */
public final class Frame {
  public static final int HEADER_LENGTH = 32;
  static final int MAGIC = 0x43595246; // "FRYC" read little endian
  static final int VERSION = 1;

  private Frame() {}

  /** A parsed frame header. */
  public record Header(int codecId, int codecParam, long rawLength, long storedLength, int payloadCrc) {
    /** Offset of the payload in the stored object. */
    public long payloadOffset() {
      return HEADER_LENGTH;
    }

    /** Length of the whole stored object. */
    public long frameLength() {
      return HEADER_LENGTH + storedLength;
    }
  }

  /** The CRC32C of the remaining bytes (position unchanged). */
  public static int crc32c(ByteBuffer b) {
    CRC32C crc = new CRC32C();
    crc.update(b.duplicate());
    return (int) crc.getValue();
  }

  /** Builds the header for a payload (the payload's CRC is computed here). */
  public static ByteBuffer header(int codecId, int codecParam, long rawLength, ByteBuffer payload) {
    ByteBuffer h = ByteBuffer.allocate(HEADER_LENGTH).order(ByteOrder.LITTLE_ENDIAN);
    h.putInt(MAGIC).put((byte) VERSION).put((byte) codecId).putShort((short) codecParam);
    h.putLong(rawLength).putLong(payload.remaining()).putInt(crc32c(payload));
    CRC32C crc = new CRC32C();
    crc.update(h.array(), 0, 28);
    h.putInt((int) crc.getValue());
    return h.flip();
  }

  /**
   * Parses and checks a header.
   *
   * @param where the backend and object, for the error
   * @throws CorruptObjectException if the magic, version or header checksum is wrong
   */
  public static Header parseHeader(ByteBuffer b, ChunkId id, String where) throws CorruptObjectException {
    if (b.remaining() < HEADER_LENGTH) {
      throw new CorruptObjectException(id, where, "frame shorter than its " + HEADER_LENGTH + "-byte header");
    }
    ByteBuffer h = b.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    int p = h.position();
    int magic = h.getInt(p);
    if (magic != MAGIC) {
      throw new CorruptObjectException(id, where, String.format("bad frame magic 0x%08x, expected 0x%08x", magic, MAGIC));
    }
    CRC32C crc = new CRC32C();
    crc.update(h.duplicate().position(p).limit(p + 28));
    int expected = h.getInt(p + 28);
    if ((int) crc.getValue() != expected) {
      throw new CorruptObjectException(id, where, String.format(
          "checksum failed (hardware problem?) in frame header: expected=%08x actual=%08x", expected,
          (int) crc.getValue()));
    }
    int version = h.get(p + 4) & 0xff;
    if (version != VERSION) {
      throw new CorruptObjectException(id, where, "unsupported frame version " + version);
    }
    long raw = h.getLong(p + 8);
    long stored = h.getLong(p + 16);
    if (raw < 0 || stored < 0) {
      throw new CorruptObjectException(id, where, "negative length in frame header");
    }
    return new Header(h.get(p + 5) & 0xff, h.getShort(p + 6) & 0xffff, raw, stored, h.getInt(p + 24));
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
          "checksum failed (hardware problem?) : expected=%08x actual=%08x", header.payloadCrc(), actual));
    }
  }

  /**
   * Checks and decodes a whole frame into {@code out} (which must have exactly the raw length remaining). For codec
   * none this is a checked copy.
   */
  public static void decode(ByteBuffer frame, ByteBuffer out, Codecs codecs, ChunkId id, String where)
      throws IOException {
    Header h = parseHeader(frame, id, where);
    ByteBuffer payload = frame.duplicate().position(frame.position() + HEADER_LENGTH);
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
