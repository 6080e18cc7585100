package io.ferry.pack;

import io.ferry.id.ChunkId;
import io.ferry.error.CorruptObjectException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;

/**
 * The index of one pack: where each chunk's frame sits in it. Immutable.
 *
 * <p>Pack layout (little endian; see docs/storage-format.md):
 *
 * <pre>
 * header  16 bytes: magic "FRYP", version u8 (1), 11 reserved zero bytes
 * frames  back to back, each a complete chunk frame (see {@link io.ferry.chunk.Frame})
 * index   count x 44 bytes: chunk id (32), frame offset in the pack u64, frame length u32
 * footer  24 bytes: index offset u64, entry count u32, CRC32C of the index u32, reserved u32, magic "FRYP"
 * </pre>
 *
 * A pack is named by the SHA-256 of all its bytes, like every stored object.
 */
public final class PackIndex {
  public static final int MAGIC = 0x50595246; // "FRYP" little endian
  static final int VERSION = 1;
  public static final int HEADER_LENGTH = 16;
  public static final int FOOTER_LENGTH = 24;
  static final int ENTRY_LENGTH = 44;

  /** Where a chunk's frame is. */
  public record Entry(ChunkId pack, long offset, int length) {}

  private final ChunkId pack;
  private final Map<ChunkId, Entry> entries;

  PackIndex(ChunkId pack, Map<ChunkId, Entry> entries) {
    this.pack = pack;
    this.entries = Collections.unmodifiableMap(entries);
  }

  public ChunkId pack() {
    return pack;
  }

  /** Chunk id to frame location. */
  public Map<ChunkId, Entry> entries() {
    return entries;
  }

  /**
   * Parses a pack's footer (the last {@link #FOOTER_LENGTH} bytes).
   *
   * @return the index offset and entry count, checked against the pack size
   */
  public static long[] parseFooter(ChunkId pack, String where, ByteBuffer footer, long packSize)
      throws CorruptObjectException {
    ByteBuffer f = footer.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    int p = f.position();
    if (f.remaining() != FOOTER_LENGTH || f.getInt(p + 20) != MAGIC) {
      throw new CorruptObjectException(pack, where, "not a pack: bad footer magic");
    }
    if (f.getInt(p + 16) != 0) {
      throw new CorruptObjectException(pack, where, String.format("pack footer's reserved field is %08x, not zero",
          f.getInt(p + 16)));
    }
    long indexOffset = f.getLong(p);
    long count = f.getInt(p + 8) & 0xffffffffL;
    if (indexOffset < HEADER_LENGTH || indexOffset + count * ENTRY_LENGTH + FOOTER_LENGTH != packSize) {
      throw new CorruptObjectException(pack, where, "pack footer says index at " + indexOffset + " with " + count
          + " entries, which does not fit a pack of " + packSize + " bytes");
    }
    return new long[] {indexOffset, count, f.getInt(p + 12)};
  }

  /**
   * Checks a pack's header (its first {@link #HEADER_LENGTH} bytes): magic, version and reserved zeros. No checksum
   * covers them (the frames and the index have their own), so verify and copy check them here.
   */
  public static void checkHeader(ChunkId pack, String where, ByteBuffer header) throws CorruptObjectException {
    ByteBuffer h = header.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    int p = h.position();
    if (h.remaining() != HEADER_LENGTH || h.getInt(p) != MAGIC) {
      throw new CorruptObjectException(pack, where, "not a pack: bad header magic");
    }
    if ((h.get(p + 4) & 0xff) != VERSION) {
      throw new CorruptObjectException(pack, where, "pack header gives version " + (h.get(p + 4) & 0xff)
          + ", not " + VERSION);
    }
    for (int i = 5; i < HEADER_LENGTH; i++) {
      if (h.get(p + i) != 0) {
        throw new CorruptObjectException(pack, where, "pack header byte " + i + " is " + (h.get(p + i) & 0xff)
            + ", a reserved byte that must be zero");
      }
    }
  }

  /** Parses the index section read from the pack, checking its CRC32C against the footer's. */
  public static PackIndex parse(ChunkId pack, String where, ByteBuffer index, long indexOffset, long count,
      int expectedCrc) throws CorruptObjectException {
    int actual = io.ferry.chunk.Frame.crc32c(index);
    if (actual != expectedCrc) {
      throw new CorruptObjectException(pack, where, String.format(
          "checksum failed (hardware problem?) in pack index: expected=%08x actual=%08x", expectedCrc, actual));
    }
    ByteBuffer b = index.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    Map<ChunkId, Entry> map = new HashMap<>((int) (count * 4 / 3) + 1);
    for (long i = 0; i < count; i++) {
      byte[] id = new byte[32];
      b.get(id);
      long off = b.getLong();
      int len = b.getInt();
      if (off < HEADER_LENGTH || len < 0 || off + len > indexOffset) {
        throw new CorruptObjectException(pack, where, "pack index entry " + i + " points outside the frames");
      }
      map.put(ChunkId.fromBytes(id), new Entry(pack, off, len));
    }
    return new PackIndex(pack, map);
  }
}
