package io.ferry.format.torch;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/** Hand-made pickles and torch-style zip archives for tests. */
final class Pickles {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();

  static Pickles proto2() {
    return new Pickles().op(0x80).op(2);
  }

  Pickles op(int... bytes) {
    for (int b : bytes) {
      out.write(b);
    }
    return this;
  }

  Pickles raw(byte[] b) {
    out.writeBytes(b);
    return this;
  }

  Pickles global(String module, String name) {
    return op('c').raw((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
  }

  Pickles str(String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    return op('X').raw(le32(b.length)).raw(b);
  }

  Pickles shortStr(String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    return op(0x8c, b.length).raw(b);
  }

  Pickles int1(int v) {
    return op('K', v);
  }

  Pickles binint(int v) {
    return op('J').raw(le32(v));
  }

  Pickles mark() {
    return op('(');
  }

  /** {@code _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())} of a FloatStorage-like type. */
  Pickles tensor(String storageType, String key, int numel, int offset, int[] size, int[] stride) {
    return tensor(storageType, key, numel, offset, size, stride, false);
  }

  /** The same; with {@code legacy}, the persistent id of the legacy format (a sixth item, None). */
  Pickles tensor(String storageType, String key, int numel, int offset, int[] size, int[] stride, boolean legacy) {
    global("torch._utils", "_rebuild_tensor_v2");
    mark();
    mark().str("storage").global("torch", storageType).str(key).str("cpu").binint(numel);
    if (legacy) {
      op('N');
    }
    op('t').op('Q');
    viewArgs(offset, size, stride);
    op('t').op('R');
    return this;
  }

  /** A tensor's arguments after its storage: offset, size, stride, {@code False}, an empty OrderedDict. */
  private void viewArgs(int offset, int[] size, int[] stride) {
    binint(offset);
    mark();
    for (int s : size) {
      binint(s);
    }
    op('t');
    mark();
    for (int s : stride) {
      binint(s);
    }
    op('t');
    op(0x89);
    global("collections", "OrderedDict").op(')').op('R');
  }

  /**
   * {@code _rebuild_tensor_v3(storage, offset, size, stride, False, OrderedDict(), torch.<dtype>)} over a
   * {@code torch.storage.UntypedStorage} of {@code bytes} bytes, as torch 2 pickles float8 and uint16-64 tensors.
   */
  Pickles tensorV3(String dtype, String key, int bytes, int offset, int[] size, int[] stride) {
    return tensorV3("torch.storage", dtype, key, bytes, offset, size, stride);
  }

  /** As {@link #tensorV3(String, String, int, int, int[], int[])}, the untyped storage's class in {@code module}. */
  Pickles tensorV3(String module, String dtype, String key, int bytes, int offset, int[] size, int[] stride) {
    return tensorV3(module, dtype, key, bytes, offset, size, stride, false);
  }

  /** The same; with {@code legacy}, the persistent id of the legacy format (a sixth item, None), as torch 2 writes. */
  Pickles tensorV3(String module, String dtype, String key, int bytes, int offset, int[] size, int[] stride,
      boolean legacy) {
    global("torch._utils", "_rebuild_tensor_v3");
    mark();
    mark().str("storage").global(module, "UntypedStorage").str(key).str("cpu").binint(bytes);
    if (legacy) {
      op('N');
    }
    op('t').op('Q');
    viewArgs(offset, size, stride);
    global("torch", dtype);
    op('t').op('R');
    return this;
  }

  Pickles stop() {
    return op('.');
  }

  byte[] bytes() {
    return out.toByteArray();
  }

  static byte[] le32(int v) {
    return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
  }

  /** A file in the legacy format: its five pickles, then each storage (count, bytes) in the order of {@code keys}. */
  static byte[] legacy(byte[] object, String[] keys, long[] counts, byte[][] storages) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    b.writeBytes(new byte[] {(byte) 0x80, 2, (byte) 0x8a, 10, 0x6c, (byte) 0xfc, (byte) 0x9c, 0x46, (byte) 0xf9, 0x20,
        0x6a, (byte) 0xa8, 0x50, 0x19, '.'});
    b.writeBytes(new byte[] {(byte) 0x80, 2, 'M', (byte) 0xe9, 3, '.'});
    b.writeBytes(proto2().op('}').str("little_endian").op(0x88).op('s').stop().bytes());
    b.writeBytes(object);
    Pickles k = proto2().op(']').mark();
    for (String key : keys) {
      k.str(key);
    }
    b.writeBytes(k.op('e').stop().bytes());
    for (int i = 0; i < storages.length; i++) {
      b.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(counts[i]).array());
      b.writeBytes(storages[i]);
    }
    return b.toByteArray();
  }

  /** A zip of stored entries, name then bytes, in order. */
  static byte[] zip(Object... nameAndBytes) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    try (ZipOutputStream z = new ZipOutputStream(b)) {
      for (int i = 0; i < nameAndBytes.length; i += 2) {
        byte[] data = (byte[]) nameAndBytes[i + 1];
        ZipEntry e = new ZipEntry((String) nameAndBytes[i]);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        e.setCompressedSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setCrc(crc.getValue());
        z.putNextEntry(e);
        z.write(data);
        z.closeEntry();
      }
    }
    return b.toByteArray();
  }

  /** A checkpoint archive around a pickle, with storages named "0", "1", ... */
  static byte[] checkpoint(byte[] pickle, byte[]... storages) throws IOException {
    Object[] parts = new Object[4 + storages.length * 2];
    parts[0] = "archive/data.pkl";
    parts[1] = pickle;
    for (int i = 0; i < storages.length; i++) {
      parts[2 + 2 * i] = "archive/data/" + i;
      parts[3 + 2 * i] = storages[i];
    }
    parts[parts.length - 2] = "archive/version";
    parts[parts.length - 1] = "3\n".getBytes(StandardCharsets.US_ASCII);
    return zip(parts);
  }
}
