package io.ferry.testkit;

import io.ferry.format.DType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Writes GGUF files as the specification (and ggml's {@code gguf_write_to_file}) lays them out: magic, version,
 * tensor count, key-value count, the pairs, the tensor infos, padding to the alignment, then each tensor's bytes
 * padded to the alignment. Tensor bytes are pseudo-random from a seed, so files are the same on every machine.
 *
 * <p>For tests of malformed files the writer does what it is told: keys and names are not checked, counts, offsets,
 * type ids and versions can be overridden, and {@link #bytes()} can be cut or patched afterwards.
 */
public final class GgufWriter {
  /** GGUF value type ids. */
  public static final int U8 = 0;
  public static final int I8 = 1;
  public static final int U16 = 2;
  public static final int I16 = 3;
  public static final int U32 = 4;
  public static final int I32 = 5;
  public static final int F32 = 6;
  public static final int BOOL = 7;
  public static final int STR = 8;
  public static final int ARR = 9;
  public static final int U64 = 10;
  public static final int I64 = 11;
  public static final int F64 = 12;

  /** ggml's type ids of the DTypes a GGUF file can hold, by {@link DType#ordinal()}; -1 where none. */
  private static final int[] GGML_IDS = new int[DType.values().length];

  static {
    java.util.Arrays.fill(GGML_IDS, -1);
    Object[][] ids = {{DType.F32, 0}, {DType.F16, 1}, {DType.Q4_0, 2}, {DType.Q4_1, 3}, {DType.Q5_0, 6},
        {DType.Q5_1, 7}, {DType.Q8_0, 8}, {DType.Q8_1, 9}, {DType.Q2_K, 10}, {DType.Q3_K, 11}, {DType.Q4_K, 12},
        {DType.Q5_K, 13}, {DType.Q6_K, 14}, {DType.Q8_K, 15}, {DType.IQ2_XXS, 16}, {DType.IQ2_XS, 17},
        {DType.IQ3_XXS, 18}, {DType.IQ1_S, 19}, {DType.IQ4_NL, 20}, {DType.IQ3_S, 21}, {DType.IQ2_S, 22},
        {DType.IQ4_XS, 23}, {DType.I8, 24}, {DType.I16, 25}, {DType.I32, 26}, {DType.I64, 27}, {DType.F64, 28},
        {DType.IQ1_M, 29}, {DType.BF16, 30}, {DType.TQ1_0, 34}, {DType.TQ2_0, 35}, {DType.MXFP4, 39},
        {DType.NVFP4, 40}, {DType.Q1_0, 41}, {DType.Q2_0, 42}};
    for (Object[] e : ids) {
      GGML_IDS[((DType) e[0]).ordinal()] = (Integer) e[1];
    }
  }

  /** A tensor to write; {@code offset} null for the offset the layout gives it. */
  private record T(String name, int typeId, long[] ne, long bytes, long seed, Long offset, int nDims) {}

  private int version = 3;
  private long alignment = 32;
  private Long tensorCount;
  private Long kvCount;
  private boolean padLast = true;
  private final List<byte[]> kvs = new ArrayList<>();
  private final List<T> tensors = new ArrayList<>();

  /** The ggml type id of a DType, as GGUF files write it. @throws IllegalArgumentException if GGUF has none */
  public static int ggmlId(DType t) {
    int id = GGML_IDS[t.ordinal()];
    if (id < 0) {
      throw new IllegalArgumentException(t + " has no ggml type");
    }
    return id;
  }

  /** The version field (default 3). */
  public GgufWriter version(int v) {
    this.version = v;
    return this;
  }

  /** The alignment the writer pads to; does not write {@code general.alignment} (use {@link #u32}). */
  public GgufWriter alignment(long a) {
    this.alignment = a;
    return this;
  }

  /** Writes this tensor count instead of the real one. */
  public GgufWriter tensorCount(long n) {
    this.tensorCount = n;
    return this;
  }

  /** Writes this key-value count instead of the real one. */
  public GgufWriter kvCount(long n) {
    this.kvCount = n;
    return this;
  }

  /** Whether the last tensor is padded to the alignment too (ggml's writer does; default true). */
  public GgufWriter padLast(boolean pad) {
    this.padLast = pad;
    return this;
  }

  /** A key with a raw value: type id, then the value's encoded bytes. */
  public GgufWriter kv(String key, int type, byte[] value) {
    Enc e = new Enc().str(key).u32(type);
    e.raw(value);
    kvs.add(e.bytes());
    return this;
  }

  public GgufWriter str(String key, String value) {
    return kv(key, STR, new Enc().str(value).bytes());
  }

  public GgufWriter u32(String key, long value) {
    return kv(key, U32, new Enc().u32(value).bytes());
  }

  public GgufWriter i32(String key, int value) {
    return kv(key, I32, new Enc().u32(value).bytes());
  }

  public GgufWriter u64(String key, long value) {
    return kv(key, U64, new Enc().u64(value).bytes());
  }

  public GgufWriter f32(String key, float value) {
    return kv(key, F32, new Enc().u32(Float.floatToRawIntBits(value)).bytes());
  }

  public GgufWriter f64(String key, double value) {
    return kv(key, F64, new Enc().u64(Double.doubleToRawLongBits(value)).bytes());
  }

  public GgufWriter bool(String key, boolean value) {
    return kv(key, BOOL, new byte[] {(byte) (value ? 1 : 0)});
  }

  /** An array of strings. */
  public GgufWriter strings(String key, List<String> values) {
    Enc e = new Enc().u32(STR).u64(values.size());
    values.forEach(e::str);
    return kv(key, ARR, e.bytes());
  }

  /** An array of i32. */
  public GgufWriter ints(String key, int... values) {
    Enc e = new Enc().u32(I32).u64(values.length);
    for (int v : values) {
      e.u32(v);
    }
    return kv(key, ARR, e.bytes());
  }

  /** An array of f32. */
  public GgufWriter floats(String key, float... values) {
    Enc e = new Enc().u32(F32).u64(values.length);
    for (float v : values) {
      e.u32(Float.floatToRawIntBits(v));
    }
    return kv(key, ARR, e.bytes());
  }

  /** A tensor of a DType with dimensions innermost first (GGUF's {@code ne}), its bytes from the seed. */
  public GgufWriter tensor(String name, DType type, long... ne) {
    long elements = 1;
    for (long d : ne) {
      elements *= d;
    }
    return tensor(name, ggmlId(type), type.byteLength(elements), null, ne);
  }

  /** As {@link #tensor(String, DType, long...)}, with the bytes from the given seed. */
  public GgufWriter seeded(String name, DType type, long seed, long... ne) {
    long elements = 1;
    for (long d : ne) {
      elements *= d;
    }
    tensors.add(new T(name, ggmlId(type), ne.clone(), type.byteLength(elements), seed, null, ne.length));
    return this;
  }

  /**
   * A tensor with a raw ggml type id, byte length and offset (null: where the layout puts it), dimensions innermost
   * first.
   */
  public GgufWriter tensor(String name, int typeId, long bytes, Long offset, long... ne) {
    tensors.add(new T(name, typeId, ne.clone(), bytes, 17 + tensors.size(), offset, ne.length));
    return this;
  }

  /** The file's bytes. */
  public byte[] bytes() {
    Enc e = new Enc().raw("GGUF".getBytes(StandardCharsets.US_ASCII)).u32(version)
        .u64(tensorCount != null ? tensorCount : tensors.size()).u64(kvCount != null ? kvCount : kvs.size());
    kvs.forEach(e::raw);
    long at = 0;
    List<Long> offsets = new ArrayList<>();
    for (T t : tensors) {
      long off = t.offset() != null ? t.offset() : at;
      offsets.add(off);
      at = align(off + t.bytes());
      e.str(t.name()).u32(t.nDims());
      for (long d : t.ne()) {
        e.u64(d);
      }
      e.u32(t.typeId()).u64(off);
    }
    e.pad(alignment);
    long dataStart = e.size();
    for (int i = 0; i < tensors.size(); i++) {
      T t = tensors.get(i);
      e.padTo(dataStart + offsets.get(i));
      byte[] data = new byte[(int) t.bytes()];
      new SplittableRandom(t.seed()).nextBytes(data);
      e.raw(data);
      if (i < tensors.size() - 1 || padLast) {
        e.pad(alignment);
      }
    }
    return e.bytes();
  }

  /** Writes the file. */
  public Path write(Path file) throws IOException {
    Files.createDirectories(file.toAbsolutePath().getParent());
    return Files.write(file, bytes());
  }

  private long align(long x) {
    return (x + alignment - 1) / alignment * alignment;
  }

  /** Little-endian encoding of GGUF's primitive values. */
  public static final class Enc {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    public Enc u8(int v) {
      out.write(v);
      return this;
    }

    public Enc u16(int v) {
      return raw(ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN).putShort((short) v).array());
    }

    public Enc u32(long v) {
      return raw(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array());
    }

    public Enc u64(long v) {
      return raw(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
    }

    public Enc str(String s) {
      byte[] b = s.getBytes(StandardCharsets.UTF_8);
      return u64(b.length).raw(b);
    }

    public Enc raw(byte[] b) {
      out.write(b, 0, b.length);
      return this;
    }

    Enc pad(long alignment) {
      while (out.size() % alignment != 0) {
        out.write(0);
      }
      return this;
    }

    Enc padTo(long offset) {
      while (out.size() < offset) {
        out.write(0);
      }
      return this;
    }

    int size() {
      return out.size();
    }

    public byte[] bytes() {
      return out.toByteArray();
    }
  }
}
