package io.ferry.format.torch;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.zip.CRC32;

/**
 * Writes a state dict (tensor names to tensors, each with a storage of its own) as the zip checkpoint {@code
 * torch.save} writes: {@code archive/data.pkl}, a protocol 2 pickle of a {@code collections.OrderedDict} whose values
 * are {@code torch._utils._rebuild_tensor_v2} calls over persistent storage ids (for float8 and uint16/32/64 tensors,
 * which torch keeps in untyped storages, {@code _rebuild_tensor_v3} over a {@code torch.storage.UntypedStorage} of
 * bytes with the dtype, as torch 2 writes them: such a file needs torch 2.1 for float8, 2.3 for the unsigned types),
 * then one stored (uncompressed) entry {@code archive/data/N} per tensor with its bytes little-endian,
 * {@code archive/byteorder} and {@code archive/version}. The pickle uses only what {@code torch.load(...,
 * weights_only=True)} accepts and {@link Unpickler} reads. Entry data starts on 64-byte boundaries (padding in an extra
 * field, as torch's writer does, so a reader may map it); entries and offsets past 4 GiB use zip64. Output is
 * deterministic: the same tensors give the same bytes.
 *
 * <p>Use: {@link #start} with the tensors' names, dtypes and shapes; then, in order, {@link #tensor} once per tensor
 * with a callback that writes its bytes; then {@link #finish}. Not thread-safe.
 */
public final class TorchZipWriter {
  /** A tensor of the state dict: its name, element type and shape (row-major, contiguous). */
  public record Tensor(String name, DType dtype, List<Long> shape) {
    public Tensor {
      shape = List.copyOf(shape);
    }

    /** Its elements (1 for a scalar). */
    public long elements() {
      long n = 1;
      for (long d : shape) {
        n = Math.multiplyExact(n, d);
      }
      return n;
    }

    /** Its bytes. */
    public long bytes() {
      return dtype.byteLength(elements());
    }
  }

  /** Writes a tensor's bytes, exactly {@link Tensor#bytes()} of them, to a channel. */
  @FunctionalInterface
  public interface Body {
    void writeTo(WritableByteChannel out) throws IOException;
  }

  private static final String ROOT = "archive/";
  private static final int LOCAL = 0x04034b50;
  private static final int CENTRAL = 0x02014b50;
  private static final int END = 0x06054b50;
  private static final int END64 = 0x06064b50;
  private static final int LOCATOR64 = 0x07064b50;
  private static final long MAX32 = 0xFFFFFFFFL;
  private static final int ALIGN = 64;
  /** 1980-01-01 00:00, the earliest DOS date: no clock in the output. */
  private static final int DOS_DATE = (0 << 9) | (1 << 5) | 1;

  private static final Map<DType, String> STORAGES = storages();
  /** The dtypes torch keeps in untyped storages, by their {@code torch.} name ({@code _rebuild_tensor_v3}). */
  private static final Map<DType, String> UNTYPED = untyped();

  private record Written(String name, long offset, long size, int crc) {}

  private final FileChannel out;
  private final String what;
  /** Sizes and offsets at or above this take zip64 fields: 4 GiB - 1, lower only in tests. */
  private final long zip64At;
  private final List<Tensor> tensors;
  private final List<Written> written = new ArrayList<>();
  private int next;

  private TorchZipWriter(FileChannel out, String what, List<Tensor> tensors, long zip64At) {
    this.out = out;
    this.what = what;
    this.zip64At = zip64At;
    this.tensors = List.copyOf(tensors);
  }

  /**
   * Checks that torch can hold every tensor and writes the pickle; {@code out} must be empty and positioned at 0.
   *
   * @param what names the output in errors (its path)
   * @throws InvalidInputException if torch has no dtype for a tensor's (GGUF's block types, FP6; FP4 with an odd
   *     last dimension, as torch holds FP4 values in pairs), naming the tensor and its dtype, before anything is
   *     written
   */
  public static TorchZipWriter start(FileChannel out, String what, List<Tensor> tensors) throws IOException {
    return start(out, what, tensors, MAX32);
  }

  /** As {@link #start(FileChannel, String, List)}, with zip64 fields from {@code zip64At} on (tests). */
  static TorchZipWriter start(FileChannel out, String what, List<Tensor> tensors, long zip64At) throws IOException {
    check(what, tensors);
    TorchZipWriter w = new TorchZipWriter(out, what, tensors, zip64At);
    byte[] pickle = pickle(tensors);
    if (pickle.length > TorchLimits.MAX_PICKLE_BYTES) {
      throw new InvalidInputException(what + ": the tensor table pickles to " + pickle.length + " bytes, over the "
          + TorchLimits.MAX_PICKLE_BYTES + " a PyTorch checkpoint Ferry reads may hold (fewer or shorter names)");
    }
    w.entry("data.pkl", pickle.length, ch -> write(ch, ByteBuffer.wrap(pickle)));
    return w;
  }

  /**
   * Checks that a PyTorch checkpoint can hold every tensor.
   *
   * @throws InvalidInputException naming the first tensor whose dtype has no torch storage type or whose dimensions
   *     are more than Ferry's reader takes ({@link TorchLimits}), and the file; or if there are more tensors than it
   *     takes
   */
  public static void check(String what, List<Tensor> tensors) throws InvalidInputException {
    // what Ferry writes, it reads back: within the bounds its reader takes (TorchLimits)
    if (tensors.size() > TorchLimits.MAX_TENSORS) {
      throw new InvalidInputException(what + ": " + tensors.size() + " tensors, over the " + TorchLimits.MAX_TENSORS
          + " a PyTorch checkpoint Ferry reads may hold");
    }
    for (Tensor t : tensors) {
      if (t.shape().size() > TorchLimits.MAX_DIMS) {
        throw new InvalidInputException(what + ": tensor '" + t.name() + "' has " + t.shape().size()
            + " dimensions, over the " + TorchLimits.MAX_DIMS + " a PyTorch checkpoint Ferry reads may hold");
      }
      if (t.dtype() == DType.F4 && (t.shape().isEmpty() || t.shape().get(t.shape().size() - 1) % 2 != 0)) {
        throw new InvalidInputException(what + ": tensor '" + t.name() + "' is F4 " + t.shape() + "; torch holds"
            + " F4 only as " + Unpickler.FLOAT4_X2 + ", two values a byte along the last dimension, which must so be"
            + " even; pull such a version as it is, or as safetensors");
      }
      if (!STORAGES.containsKey(t.dtype()) && !UNTYPED.containsKey(t.dtype())) {
        throw new InvalidInputException(what + ": tensor '" + t.name() + "' is " + t.dtype()
            + ", which torch has no dtype for (a PyTorch checkpoint holds "
            + new TreeSet<>(java.util.stream.Stream.concat(STORAGES.keySet().stream(), UNTYPED.keySet().stream())
                .map(Enum::name).toList())
            + "); pull such a version as it is, or as safetensors");
      }
    }
  }

  /** Writes the next tensor's entry; {@code body} must write exactly its bytes. */
  public void tensor(Body body) throws IOException {
    if (next >= tensors.size()) {
      throw new IllegalStateException(what + ": all " + tensors.size() + " tensors are written");
    }
    Tensor t = tensors.get(next);
    entry("data/" + next, t.bytes(), body);
    next++;
  }

  /** Writes the last entries and the central directory. */
  public void finish() throws IOException {
    if (next != tensors.size()) {
      throw new IllegalStateException(what + ": " + next + " of " + tensors.size() + " tensors written");
    }
    byte[] order = "little".getBytes(StandardCharsets.US_ASCII);
    entry("byteorder", order.length, ch -> write(ch, ByteBuffer.wrap(order)));
    byte[] version = "3\n".getBytes(StandardCharsets.US_ASCII);
    entry("version", version.length, ch -> write(ch, ByteBuffer.wrap(version)));
    long cdStart = out.position();
    for (Written w : written) {
      byte[] name = (ROOT + w.name).getBytes(StandardCharsets.UTF_8);
      boolean bigSize = w.size >= zip64At;
      boolean bigOffset = w.offset >= zip64At;
      int extra = (bigSize ? 16 : 0) + (bigOffset ? 8 : 0);
      ByteBuffer h = le(46 + name.length + (extra > 0 ? 4 + extra : 0));
      h.putInt(CENTRAL).putShort((short) 45).putShort((short) (extra > 0 ? 45 : 20)).putShort((short) 0)
          .putShort((short) 0).putShort((short) 0).putShort((short) DOS_DATE).putInt(w.crc)
          .putInt((int) (bigSize ? MAX32 : w.size)).putInt((int) (bigSize ? MAX32 : w.size))
          .putShort((short) name.length).putShort((short) (extra > 0 ? 4 + extra : 0)).putShort((short) 0)
          .putShort((short) 0).putShort((short) 0).putInt(0).putInt((int) (bigOffset ? MAX32 : w.offset));
      h.put(name);
      if (extra > 0) {
        h.putShort((short) 1).putShort((short) extra);
        if (bigSize) {
          h.putLong(w.size).putLong(w.size);
        }
        if (bigOffset) {
          h.putLong(w.offset);
        }
      }
      write(out, h.flip());
    }
    long cdEnd = out.position();
    long cdSize = cdEnd - cdStart;
    boolean zip64 = cdStart >= zip64At || cdSize >= zip64At || written.size() >= 0xFFFF;
    if (zip64) {
      ByteBuffer e = le(56 + 20);
      e.putInt(END64).putLong(44).putShort((short) 45).putShort((short) 45).putInt(0).putInt(0)
          .putLong(written.size()).putLong(written.size()).putLong(cdSize).putLong(cdStart);
      e.putInt(LOCATOR64).putInt(0).putLong(cdEnd).putInt(1);
      write(out, e.flip());
    }
    ByteBuffer e = le(22);
    e.putInt(END).putShort((short) 0).putShort((short) 0)
        .putShort((short) Math.min(written.size(), 0xFFFF)).putShort((short) Math.min(written.size(), 0xFFFF))
        .putInt((int) (cdSize >= zip64At ? MAX32 : cdSize)).putInt((int) (cdStart >= zip64At ? MAX32 : cdStart))
        .putShort((short) 0);
    write(out, e.flip());
  }

  /** A stored entry: local header (CRC patched once the data is written), padding to 64 bytes, the data. */
  private void entry(String rel, long size, Body body) throws IOException {
    Open e = open(rel, size);
    body.writeTo(e.crc);
    closeEntry(e);
  }

  /**
   * Writes the entries of all tensors not written yet from one stream of their bytes, back to back in table order
   * (a safetensors data section is exactly that): the bytes are cut into entries as they come, so the whole run can
   * be read and decoded ahead as one range.
   */
  public void remainingTensors(Body body) throws IOException {
    Splitter s = new Splitter();
    s.advance();
    body.writeTo(s);
    if (s.current != null || next != tensors.size()) {
      throw new IOException(what + ": the tensors' bytes ended in tensor " + next + " of " + tensors.size()
          + (s.current == null ? "" : " after " + s.current.crc.count + " of its " + s.current.size + " bytes"));
    }
  }

  /** An entry whose header is written and whose data is being written. */
  private record Open(String rel, long offset, long size, Crc crc) {}

  private Open open(String rel, long size) throws IOException {
    byte[] name = (ROOT + rel).getBytes(StandardCharsets.UTF_8);
    long offset = out.position();
    boolean big = size >= zip64At;
    int zip64 = big ? 20 : 0;
    long base = offset + 30 + name.length + zip64 + 4;
    int pad = (int) ((ALIGN - base % ALIGN) % ALIGN);
    ByteBuffer h = le(30 + name.length + zip64 + 4 + pad);
    h.putInt(LOCAL).putShort((short) (big ? 45 : 20)).putShort((short) 0).putShort((short) 0).putShort((short) 0)
        .putShort((short) DOS_DATE).putInt(0).putInt((int) (big ? MAX32 : size)).putInt((int) (big ? MAX32 : size))
        .putShort((short) name.length).putShort((short) (zip64 + 4 + pad));
    h.put(name);
    if (big) {
      h.putShort((short) 1).putShort((short) 16).putLong(size).putLong(size);
    }
    // torch's writer pads with an extra field of id "FB" so that every entry's data starts on 64 bytes
    h.putShort((short) 0x4246).putShort((short) pad).put(new byte[pad]);
    write(out, h.flip());
    return new Open(rel, offset, size, new Crc(out));
  }

  private void closeEntry(Open e) throws IOException {
    if (e.crc.count != e.size) {
      throw new IOException(what + ": entry " + ROOT + e.rel + " got " + e.crc.count + " bytes, expected " + e.size);
    }
    int crc = (int) e.crc.crc.getValue();
    ByteBuffer c = le(4).putInt(crc).flip();
    while (c.hasRemaining()) {
      out.write(c, e.offset + 14 + c.position());
    }
    written.add(new Written(e.rel, e.offset, e.size, crc));
  }

  /** Cuts one stream of tensor bytes into the tensors' entries. */
  private final class Splitter implements WritableByteChannel {
    private Open current;

    /** Closes the current entry if full, and opens entries until one has room (empty tensors open and close). */
    void advance() throws IOException {
      while (current == null || current.crc.count == current.size) {
        if (current != null) {
          closeEntry(current);
          current = null;
          next++;
        }
        if (next == tensors.size()) {
          return;
        }
        current = open("data/" + next, tensors.get(next).bytes());
      }
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
      int n = 0;
      while (src.hasRemaining()) {
        if (current == null) {
          throw new IOException(what + ": more bytes than the " + tensors.size() + " tensors hold");
        }
        int take = (int) Math.min(src.remaining(), current.size - current.crc.count);
        ByteBuffer part = src.duplicate().limit(src.position() + take);
        while (part.hasRemaining()) {
          n += current.crc.write(part);
        }
        src.position(part.position());
        advance();
      }
      return n;
    }

    @Override
    public boolean isOpen() {
      return out.isOpen();
    }

    @Override
    public void close() {}
  }

  /** The channel a tensor's bytes go through: appends to the file and keeps their CRC-32. */
  private static final class Crc implements WritableByteChannel {
    private final FileChannel out;
    private final CRC32 crc = new CRC32();
    private long count;

    Crc(FileChannel out) {
      this.out = out;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
      ByteBuffer view = src.duplicate();
      int n = out.write(src);
      crc.update(view.limit(view.position() + n));
      count += n;
      return n;
    }

    @Override
    public boolean isOpen() {
      return out.isOpen();
    }

    @Override
    public void close() {}
  }

  // ----------------------------------------------------------------------------------------------------- the pickle

  /** The state dict's pickle: an OrderedDict of rebuilt tensors, each over its own storage {@code "N"}. */
  static byte[] pickle(List<Tensor> tensors) {
    Pickle p = new Pickle();
    p.op(0x80).op(2); // PROTO 2
    p.global("collections", "OrderedDict").op(')').op('R');
    p.op('(');
    for (int i = 0; i < tensors.size(); i++) {
      Tensor t = tensors.get(i);
      p.text(t.name());
      String untyped = UNTYPED.get(t.dtype());
      p.global("torch._utils", untyped == null ? "_rebuild_tensor_v2" : "_rebuild_tensor_v3");
      p.op('(');
      p.op('(').text("storage").global(untyped == null ? "torch" : Unpickler.UNTYPED_STORAGE_MODULE,
          untyped == null ? STORAGES.get(t.dtype()) : Unpickler.UNTYPED_STORAGE)
          .text(Integer.toString(i)).text("cpu").integer(untyped == null ? t.elements() : t.bytes()).op('t').op('Q');
      p.integer(0);
      List<Long> shape = t.dtype() == DType.F4 ? pairs(t.shape()) : t.shape();
      p.longs(shape);
      p.longs(contiguousStrides(shape));
      p.op(0x89); // NEWFALSE: requires_grad
      p.global("collections", "OrderedDict").op(')').op('R'); // backward hooks
      if (untyped != null) {
        p.global("torch", untyped); // the dtype
      }
      p.op('t').op('R');
      if ((i + 1) % 1000 == 0 && i + 1 < tensors.size()) {
        p.op('u').op('('); // SETITEMS in batches, as pickle itself does
      }
    }
    p.op('u').op('.');
    return p.bytes();
  }

  /** The shape of an F4 tensor as torch's float4_e2m1fn_x2 has it: the last dimension (even) halved. */
  private static List<Long> pairs(List<Long> shape) {
    List<Long> s = new ArrayList<>(shape);
    s.set(s.size() - 1, s.get(s.size() - 1) / 2);
    return s;
  }

  static List<Long> contiguousStrides(List<Long> shape) {
    Long[] s = new Long[shape.size()];
    long stride = 1;
    for (int d = shape.size() - 1; d >= 0; d--) {
      s[d] = stride;
      stride *= Math.max(shape.get(d), 1);
    }
    return List.of(s);
  }

  /** The few protocol 2 opcodes a state dict needs. */
  private static final class Pickle {
    private final ByteArrayOutputStream b = new ByteArrayOutputStream();

    Pickle op(int code) {
      b.write(code);
      return this;
    }

    Pickle global(String module, String name) {
      b.write('c');
      b.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
      return this;
    }

    Pickle text(String s) {
      byte[] u = s.getBytes(StandardCharsets.UTF_8);
      b.write('X');
      b.writeBytes(le(4).putInt(u.length).array());
      b.writeBytes(u);
      return this;
    }

    Pickle integer(long v) {
      if (v >= 0 && v < 256) {
        b.write('K');
        b.write((int) v);
      } else if (v >= 0 && v < 65536) {
        b.write('M');
        b.write((int) v & 0xFF);
        b.write((int) (v >>> 8));
      } else if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
        b.write('J');
        b.writeBytes(le(4).putInt((int) v).array());
      } else {
        // LONG1: little-endian two's complement; 8 bytes hold any long, and a positive one needs no sign byte more
        b.write(0x8a);
        b.write(8);
        b.writeBytes(le(8).putLong(v).array());
      }
      return this;
    }

    Pickle longs(List<Long> values) {
      if (values.isEmpty()) {
        return op(')');
      }
      op('(');
      for (long v : values) {
        integer(v);
      }
      return op('t');
    }

    byte[] bytes() {
      return b.toByteArray();
    }
  }

  private static Map<DType, String> untyped() {
    Map<DType, String> m = new HashMap<>();
    Unpickler.TENSOR_DTYPES.forEach((name, dtype) -> {
      if (!Unpickler.STORAGE_TYPES.containsValue(dtype)) {
        m.put(dtype, name);
      }
    });
    m.put(DType.F4, Unpickler.FLOAT4_X2);
    return Map.copyOf(m);
  }

  private static Map<DType, String> storages() {
    Map<DType, String> m = new HashMap<>();
    Unpickler.STORAGE_TYPES.forEach((name, dtype) -> m.put(dtype, name));
    return Map.copyOf(m);
  }

  private static ByteBuffer le(int n) {
    return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
  }

  private static void write(WritableByteChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }
}
