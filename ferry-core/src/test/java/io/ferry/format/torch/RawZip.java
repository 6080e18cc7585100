package io.ferry.format.torch;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;

/** A zip written byte by byte, so that tests can make the archives a zip library refuses to write. */
final class RawZip {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final List<byte[]> central = new ArrayList<>();

  /** A local header and its stored data. */
  static byte[] local(String name, byte[] data) {
    return local(name, data, crc(data));
  }

  /** A local header claiming CRC-32 {@code crc}, and its stored data. */
  static byte[] local(String name, byte[] data, long crc) {
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(30 + n.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putInt(0x04034b50).putShort((short) 20).putShort((short) 0).putShort((short) 0).putInt(0)
        .putInt((int) crc).putInt(data.length).putInt(data.length).putShort((short) n.length).putShort((short) 0)
        .put(n).put(data);
    return b.array();
  }

  static long crc(byte[] data) {
    CRC32 c = new CRC32();
    c.update(data);
    return c.getValue();
  }

  /** Appends an entry: its local record, and its central directory header. */
  RawZip add(String name, byte[] data) {
    central(name, data, out.size());
    out.writeBytes(local(name, data));
    return this;
  }

  /**
   * Appends an entry whose CRC-32 is 0 in both headers, as torch.save writes every entry after
   * {@code torch.serialization.set_crc32_options(False)}.
   */
  RawZip addWithoutCrc(String name, byte[] data) {
    central(name, data, out.size(), 0);
    out.writeBytes(local(name, data, 0));
    return this;
  }

  /** Appends bytes that belong to no entry. */
  RawZip junk(byte[] bytes) {
    out.writeBytes(bytes);
    return this;
  }

  /** Adds a central directory header for bytes at {@code offset}, written by the caller. */
  RawZip central(String name, byte[] data, long offset) {
    return central(name, data, offset, crc(data));
  }

  private RawZip central(String name, byte[] data, long offset, long crc) {
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(46 + n.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putInt(0x02014b50).putShort((short) 20).putShort((short) 20).putShort((short) 0).putShort((short) 0)
        .putInt(0).putInt((int) crc).putInt(data.length).putInt(data.length).putShort((short) n.length)
        .putShort((short) 0).putShort((short) 0).putShort((short) 0).putShort((short) 0).putInt(0)
        .putInt((int) offset).put(n);
    central.add(b.array());
    return this;
  }

  /** Where the next byte goes. */
  int size() {
    return out.size();
  }

  byte[] bytes() {
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    all.writeBytes(out.toByteArray());
    int cd = all.size();
    for (byte[] c : central) {
      all.writeBytes(c);
    }
    int cdSize = all.size() - cd;
    ByteBuffer e = ByteBuffer.allocate(22).order(ByteOrder.LITTLE_ENDIAN);
    e.putInt(0x06054b50).putShort((short) 0).putShort((short) 0).putShort((short) central.size())
        .putShort((short) central.size()).putInt(cdSize).putInt(cd).putShort((short) 0);
    all.writeBytes(e.array());
    return all.toByteArray();
  }
}
