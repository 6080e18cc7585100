package io.ferry.format.gguf;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.Region;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads and validates one GGUF file's structure (not its tensor data) into a layout. One instance per file; not
 * thread-safe. Every read is a positional read through a 64 KiB buffer; nothing of the file is held but the text of
 * short metadata values and the tensor infos.
 *
 * <p>The rules are those of ggml's loader ({@code gguf_init_from_file_impl} in {@code ggml/src/gguf.cpp}) and of
 * llama.cpp's model loader (tensor data inside the file), plus a few bounds of Ferry's own, all listed in
 * {@code docs/formats.md}.
 */
final class GgufReader {
  /** "GGUF" read as a little-endian 32-bit integer. */
  static final int MAGIC = 0x46554747;
  /** The newest GGUF version. */
  static final int VERSION = 3;
  static final long DEFAULT_ALIGNMENT = 32;
  /** The key that sets the alignment. */
  static final String ALIGNMENT_KEY = "general.alignment";
  /** ggml's GGML_MAX_DIMS. */
  static final int MAX_DIMS = 4;
  /** ggml's GGML_MAX_NAME is 64 bytes with the terminating NUL. */
  static final int MAX_NAME_BYTES = 63;
  /** ggml's GGUF_MAX_STRING_LENGTH. */
  static final long MAX_STRING_BYTES = 1L << 30;
  /** ggml's GGUF_MAX_ARRAY_ELEMENTS. */
  static final long MAX_ARRAY_ELEMENTS = 1L << 30;
  /** The GGUF specification: keys are at most 65535 bytes. */
  static final int MAX_KEY_BYTES = 65535;
  /** Arrays of arrays nest at most this deep (ggml reads none; the specification allows them). */
  static final int MAX_NESTING = 8;
  /** Magic to the end of the tensor infos: one chunk, held in memory when pushed (as safetensors headers). */
  static final long MAX_HEADER_BYTES = 100_000_000L;
  /** Alignments above this would make absurd padding chunks. */
  static final long MAX_ALIGNMENT = 64L << 20;
  /** As many tensors as a snapshot may record of a whole model. */
  static final long MAX_TENSORS = 500_000;
  /** Key-value pairs (real files have dozens). */
  static final long MAX_KV = 65_536;
  /** The text recorded of all values together (Ferry's limit on one metadata map). */
  static final long MAX_TEXT_TOTAL = 16L << 20;
  /** Smallest tensor info: name length, name of one byte, n_dims, type, offset. */
  private static final int MIN_TENSOR_INFO = 8 + 1 + 4 + 4 + 8;
  /** Smallest key-value pair: key length, key of one byte, type, a one-byte value. */
  private static final int MIN_KV = 8 + 1 + 4 + 1;

  private static final int T_U8 = 0;
  private static final int T_I8 = 1;
  private static final int T_U16 = 2;
  private static final int T_I16 = 3;
  private static final int T_U32 = 4;
  private static final int T_I32 = 5;
  private static final int T_F32 = 6;
  private static final int T_BOOL = 7;
  private static final int T_STR = 8;
  private static final int T_ARR = 9;
  private static final int T_U64 = 10;
  private static final int T_I64 = 11;
  private static final int T_F64 = 12;
  private static final String[] TYPE_NAMES =
      {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"};
  /** Bytes of one value of each type; strings at least their length field, arrays their type and count. */
  private static final int[] MIN_SIZE = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};

  private final FormatInput in;
  private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
  /** The file offset of {@code buf[0]}; the buffer holds {@code [bufStart, bufStart + buf.limit())}. */
  private long bufStart;
  private long pos;
  /** Every byte read is also fed to this digest, when set (the value being summarised). */
  private MessageDigest tap;
  private long textTotal;

  private GgufReader(FormatInput in) {
    this.in = in;
    buf.limit(0);
  }

  /** Reads the file's layout. @throws InvalidInputException naming the file, the key or tensor, and the defect */
  static FileLayout read(FormatInput in) throws IOException {
    return new GgufReader(in).read();
  }

  private record Info(String name, DType type, long[] ne, int nDims, long bytes, long offset) {}

  private FileLayout read() throws IOException {
    long size = in.size();
    int magic = i32("the magic number");
    if (magic != MAGIC) {
      byte[] b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(magic).array();
      throw defect("no GGUF magic at byte 0: found " + HexFormat.of().formatHex(b) + ", expected 47475546 ('GGUF')");
    }
    long version = u32("the version");
    if (version != 0 && (version & 0xFFFF) == 0) {
      throw defect("version field reads " + version + " (0x" + Long.toHexString(version) + "): a big-endian GGUF "
          + "file; Ferry reads little-endian GGUF files only (as llama.cpp does on little-endian machines)");
    }
    if (version == 0 || version == 1) {
      throw defect("GGUF version " + version + " is not supported" + (version == 1 ? " (version 1 used 32-bit "
          + "counts and lengths, and llama.cpp no longer reads it): convert the file to version 3" : ""));
    }
    if (version > VERSION) {
      throw defect("GGUF version " + version + " is newer than version " + VERSION + ", the newest Ferry reads");
    }
    long nTensors = i64("the tensor count");
    long nKv = i64("the key-value count");
    if (nTensors < 0 || nTensors > MAX_TENSORS) {
      throw defect("tensor count " + Long.toUnsignedString(nTensors) + " is outside [0, " + MAX_TENSORS + "]");
    }
    if (nKv < 0 || nKv > MAX_KV) {
      throw defect("key-value count " + Long.toUnsignedString(nKv) + " is outside [0, " + MAX_KV + "]");
    }
    long least = nTensors * MIN_TENSOR_INFO + nKv * MIN_KV;
    if (least > size - pos) {
      throw defect(nKv + " key-value pairs and " + nTensors + " tensor infos need at least " + least
          + " bytes, but the file has " + (size - pos) + " after byte " + pos);
    }

    List<GgufEntry> entries = new ArrayList<>();
    Set<String> keys = new HashSet<>();
    long alignment = DEFAULT_ALIGNMENT;
    boolean alignmentFound = false;
    for (long i = 0; i < nKv; i++) {
      long at = pos;
      String key = key(i);
      if (!keys.add(key)) {
        throw defect("key '" + key + "' (pair " + i + ", byte " + at + ") appears twice");
      }
      int type = i32("the type of key '" + key + "'");
      GgufEntry e = value(key, type);
      // ggml looks keys up as C strings: the first key that reads "general.alignment" up to a NUL byte is the one
      if (!alignmentFound && GgufMetadata.cString(key).equals(ALIGNMENT_KEY)) {
        alignmentFound = true;
        boolean exact = key.equals(ALIGNMENT_KEY);
        String which = "key '" + key + "'" + (exact ? "" : " (which ggml reads as '" + ALIGNMENT_KEY + "': it stops "
            + "at the NUL byte)");
        if (type != T_U32) {
          throw defect(which + " must be of type u32 but is " + e.type());
        }
        alignment = Long.parseLong(e.value());
        if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > MAX_ALIGNMENT) {
          throw defect((exact ? ALIGNMENT_KEY + " " : which + ": ") + alignment + " is not a power of two of at most "
              + MAX_ALIGNMENT);
        }
      }
      entries.add(e);
    }

    List<Info> infos = new ArrayList<>();
    Map<String, String> names = new HashMap<>(); // as ggml compares them (up to a NUL byte) -> as in the file
    for (long i = 0; i < nTensors; i++) {
      long at = pos;
      String name = tensorName(i);
      String first = names.putIfAbsent(GgufMetadata.cString(name), name);
      if (first != null) {
        throw defect("tensor '" + name + "' (info " + i + ", byte " + at + ") appears twice" + (first.equals(name) ? ""
            : ": ggml reads tensor names up to a NUL byte, so it and tensor '" + first + "' are both '"
                + GgufMetadata.cString(name) + "'"));
      }
      long nDims = u32("the dimension count of tensor '" + name + "'");
      if (nDims > MAX_DIMS) {
        throw defect("tensor '" + name + "' has " + nDims + " dimensions; GGUF allows at most " + MAX_DIMS);
      }
      long[] ne = {1, 1, 1, 1};
      for (int d = 0; d < nDims; d++) {
        ne[d] = i64("dimension " + d + " of tensor '" + name + "'");
        if (ne[d] < 0) { // ggml reads dimensions as int64
          throw defect("tensor '" + name + "': dimension " + d + " is negative: " + ne[d] + " (as a signed 64-bit "
              + "integer, which ggml reads it as)");
        }
      }
      long elements = 0; // a zero dimension makes the tensor empty, however large the others
      if (ne[0] != 0 && ne[1] != 0 && ne[2] != 0 && ne[3] != 0) {
        try {
          elements = Math.multiplyExact(Math.multiplyExact(ne[0], ne[1]), Math.multiplyExact(ne[2], ne[3]));
        } catch (ArithmeticException e) {
          throw defect("tensor '" + name + "': shape " + shape(ne, (int) nDims) + " has more than 2^63 elements");
        }
      }
      int typeId = i32("the type of tensor '" + name + "'");
      DType type = GgmlTypes.byId(typeId);
      if (type == null) {
        throw defect("tensor '" + name + "' has " + GgmlTypes.describeUnknown(typeId));
      }
      if (ne[0] % type.blockSize() != 0) {
        throw defect("tensor '" + name + "' of type " + type + " has " + ne[0] + " elements per row (dimension 0), "
            + "not a multiple of its block size " + type.blockSize());
      }
      long bytes;
      try {
        bytes = Math.multiplyExact(elements / type.blockSize(), (long) type.blockBytes());
      } catch (ArithmeticException e) {
        throw defect("tensor '" + name + "': shape " + shape(ne, (int) nDims) + " of " + type
            + " is more than 2^63 bytes");
      }
      long offset = i64("the offset of tensor '" + name + "'");
      infos.add(new Info(name, type, ne, (int) nDims, bytes, offset));
    }

    long infosEnd = pos;
    List<Region> regions = new ArrayList<>();
    regions.add(new Region.Header(0, infosEnd));
    if (infos.isEmpty()) {
      long end = align(infosEnd, alignment);
      if (size > end) {
        throw trailing(size, end, alignment);
      }
      regions.add(new Region.Padding(infosEnd, size));
      return layout(size, infosEnd, regions, entries, (int) version, alignment);
    }
    long dataStart = align(infosEnd, alignment);
    if (dataStart > size) {
      throw defect("the data section would start at byte " + dataStart + " (the tensor infos end at " + infosEnd
          + ", aligned to " + alignment + "), past the end of the file (" + size + " bytes)");
    }
    regions.add(new Region.Padding(infosEnd, dataStart));
    long expected = 0;
    Info before = null;
    for (Info t : infos) {
      if (t.offset() != expected) {
        String off = Long.toUnsignedString(t.offset());
        if (Long.remainderUnsigned(t.offset(), alignment) != 0) {
          throw defect("tensor '" + t.name() + "' has offset " + off + ", not a multiple of the alignment "
              + alignment);
        }
        if (before != null && Long.compareUnsigned(t.offset(), expected) < 0) {
          throw defect("tensor '" + t.name() + "' at offset " + off + " overlaps tensor '" + before.name()
              + "' (offsets " + before.offset() + " to " + (before.offset() + before.bytes()) + ")");
        }
        throw defect("tensor '" + t.name() + "' has offset " + off + ", expected " + expected + (before == null
            ? " (the first tensor starts the data section)"
            : " (right after tensor '" + before.name() + "' and its padding: GGUF tensors follow each other in the "
                + "order of their infos)"));
      }
      long start = dataStart + t.offset();
      if (t.bytes() > size - start) {
        throw defect("tensor '" + t.name() + "' (" + t.bytes() + " bytes from byte " + start + ") ends past the end "
            + "of the file (" + size + " bytes): truncated");
      }
      long end = start + t.bytes();
      long rowBytes = t.ne()[0] == 0 || t.bytes() == 0 ? -1 : t.ne()[0] / t.type().blockSize() * t.type().blockBytes();
      regions.add(new Region.Tensor(t.name(), t.type(), shape(t.ne(), t.nDims()), start, end, rowBytes));
      expected = t.offset() + align(t.bytes(), alignment);
      long padEnd = Math.min(dataStart + expected, size);
      regions.add(new Region.Padding(end, padEnd));
      before = t;
    }
    if (size > dataStart + expected) {
      throw trailing(size, dataStart + expected, alignment);
    }
    return layout(size, dataStart, regions, entries, (int) version, alignment);
  }

  private FileLayout layout(long size, long dataStart, List<Region> regions, List<GgufEntry> entries, int version,
      long alignment) {
    return new FileLayout(GgufFormat.NAME, in.name(), size, dataStart, regions,
        new GgufMetadata(version, alignment, entries));
  }

  private InvalidInputException trailing(long size, long end, long alignment) {
    return defect((size - end) + " bytes follow the end of the data at byte " + end + " (the last tensor and its "
        + "padding to " + alignment + " bytes); a GGUF file ends there");
  }

  private static long align(long x, long alignment) {
    return (x + alignment - 1) / alignment * alignment;
  }

  /** The dimensions outermost first: GGUF lists them innermost first ({@code ne[0]} is a row). */
  private static List<Long> shape(long[] ne, int nDims) {
    List<Long> s = new ArrayList<>(nDims);
    for (int d = nDims - 1; d >= 0; d--) {
      s.add(ne[d]);
    }
    return s;
  }

  // ------------------------------------------------------------------ values

  private GgufEntry value(String key, int type) throws IOException {
    if (type < 0 || type >= TYPE_NAMES.length) {
      throw defect("key '" + key + "' has invalid value type " + type + " (GGUF types are 0 to 12)");
    }
    if (type == T_ARR) {
      return array(key);
    }
    if (type == T_STR) {
      long len = stringLength("the value of key '" + key + "'");
      if (len <= GgufMetadata.MAX_TEXT_BYTES) {
        byte[] b = bytes((int) len, "the value of key '" + key + "'");
        String text = utf8(b);
        return new GgufEntry(key, "str", 1,
            text != null ? text(text) : summary("str", len, " bytes, not UTF-8", sha256().digest(b)));
      }
      return new GgufEntry(key, "str", 1, summary("str", len, " bytes", skipHashed(len)));
    }
    return new GgufEntry(key, TYPE_NAMES[type], 1, text(scalar(type, key)));
  }

  private GgufEntry array(String key) throws IOException {
    String what = "the array of key '" + key + "'";
    int elem = i32("the element type of " + what);
    long count = arrayCount(elem, what, 1);
    String type = "arr[" + TYPE_NAMES[elem] + "]";
    tap = sha256();
    StringBuilder list = count <= GgufMetadata.MAX_LISTED && elem != T_ARR ? new StringBuilder("[") : null;
    for (long i = 0; i < count; i++) {
      if (elem == T_ARR) {
        int inner = i32("the element type of element " + i + " of " + what);
        type = "arr[arr[" + (inner >= 0 && inner < TYPE_NAMES.length ? TYPE_NAMES[inner] : "?") + "]]";
        skipArray(inner, what, 2);
        continue;
      }
      String item;
      if (elem == T_STR) {
        long len = stringLength("element " + i + " of " + what);
        if (list != null && len <= GgufMetadata.MAX_TEXT_BYTES) {
          String s = utf8(bytes((int) len, "element " + i + " of " + what));
          item = s == null ? null : quote(s);
        } else {
          skip(len, "element " + i + " of " + what);
          item = null;
        }
      } else {
        item = scalar(elem, key);
      }
      if (list != null) {
        if (item == null || list.length() + item.length() + 3 > GgufMetadata.MAX_TEXT_BYTES) {
          list = null;
        } else {
          list.append(i == 0 ? "" : ", ").append(item);
        }
      }
    }
    byte[] digest = tap.digest();
    tap = null;
    return new GgufEntry(key, type, count,
        list != null ? text(list.append(']').toString()) : summary(type, count, " elements", digest));
  }

  /** Skips an array nested {@code depth} deep, checking its structure. */
  private void skipArray(int elem, String what, int depth) throws IOException {
    if (depth > MAX_NESTING) {
      throw defect(what + " nests arrays more than " + MAX_NESTING + " deep");
    }
    long count = arrayCount(elem, what, depth);
    for (long i = 0; i < count; i++) {
      if (elem == T_ARR) {
        skipArray(i32("an element type of " + what), what, depth + 1);
      } else if (elem == T_STR) {
        skip(stringLength("a string in " + what), "a string in " + what);
      } else if (elem == T_BOOL) {
        scalar(elem, what);
      } else {
        skip(MIN_SIZE[elem], what);
      }
    }
  }

  private long arrayCount(int elem, String what, int depth) throws IOException {
    if (elem < 0 || elem >= TYPE_NAMES.length) {
      throw defect(what + " has invalid element type " + elem + " (GGUF types are 0 to 12)");
    }
    if (elem == T_ARR && depth >= MAX_NESTING) {
      throw defect(what + " nests arrays more than " + MAX_NESTING + " deep");
    }
    long count = i64("the element count of " + what);
    if (count < 0 || count > MAX_ARRAY_ELEMENTS) {
      throw defect(what + " has " + Long.toUnsignedString(count) + " elements, above the limit of "
          + MAX_ARRAY_ELEMENTS);
    }
    long least = count * MIN_SIZE[elem];
    if (least > in.size() - pos) {
      throw defect(what + " has " + count + " elements of " + TYPE_NAMES[elem] + ", at least " + least
          + " bytes, but the file ends " + (in.size() - pos) + " bytes after byte " + pos);
    }
    return count;
  }

  private String scalar(int type, String key) throws IOException {
    String what = "a value of key '" + key + "'";
    return switch (type) {
      case T_U8 -> Integer.toString(u8(what));
      case T_I8 -> Integer.toString((byte) u8(what));
      case T_U16 -> Integer.toString(u16(what));
      case T_I16 -> Integer.toString((short) u16(what));
      case T_U32 -> Long.toString(u32(what));
      case T_I32 -> Integer.toString(i32(what));
      case T_F32 -> formatFloat(Float.intBitsToFloat(i32(what)));
      case T_BOOL -> {
        long at = pos;
        int b = u8(what);
        if (b > 1) {
          throw defect("key '" + key + "': boolean at byte " + at + " is " + b + "; GGUF booleans are 0 or 1");
        }
        yield b == 1 ? "true" : "false";
      }
      case T_U64 -> Long.toUnsignedString(i64(what));
      case T_I64 -> Long.toString(i64(what));
      case T_F64 -> formatDouble(Double.longBitsToDouble(i64(what)));
      default -> throw new IllegalStateException("not a scalar type: " + type);
    };
  }

  private String summary(String type, long n, String unit, byte[] digest) throws InvalidInputException {
    return text("<" + type + ", " + n + unit + ", sha256 " + HexFormat.of().formatHex(digest) + ">");
  }

  private String text(String s) throws InvalidInputException {
    textTotal += s.length();
    if (textTotal > MAX_TEXT_TOTAL) {
      throw defect("the metadata's text takes more than " + MAX_TEXT_TOTAL + " characters");
    }
    return s;
  }

  private static String quote(String s) {
    return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
  }

  private byte[] skipHashed(long n) throws IOException {
    MessageDigest outer = tap;
    tap = sha256();
    skip(n, "a string");
    byte[] d = tap.digest();
    tap = outer;
    return d;
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is not available", e);
    }
  }

  /**
   * The shortest decimal that reads back as the same float, deterministic across JDK versions (unlike
   * {@link Float#toString}, whose output changed in JDK 19).
   */
  static String formatFloat(float f) {
    if (Float.isNaN(f) || Float.isInfinite(f)) {
      return Float.toString(f);
    }
    if (f == 0) {
      return Float.floatToRawIntBits(f) == 0 ? "0" : "-0";
    }
    BigDecimal exact = new BigDecimal(f);
    for (int p = 1; ; p++) {
      BigDecimal r = exact.round(new MathContext(p, RoundingMode.HALF_EVEN));
      if (Float.parseFloat(r.toString()) == f) {
        return decimal(r);
      }
    }
  }

  /** {@link #formatFloat} for doubles. */
  static String formatDouble(double v) {
    if (Double.isNaN(v) || Double.isInfinite(v)) {
      return Double.toString(v);
    }
    if (v == 0) {
      return Double.doubleToRawLongBits(v) == 0 ? "0" : "-0";
    }
    BigDecimal exact = new BigDecimal(v);
    for (int p = 1; ; p++) {
      BigDecimal r = exact.round(new MathContext(p, RoundingMode.HALF_EVEN));
      if (Double.parseDouble(r.toString()) == v) {
        return decimal(r);
      }
    }
  }

  private static String decimal(BigDecimal r) {
    BigDecimal s = r.stripTrailingZeros();
    int exponent = s.precision() - s.scale() - 1;
    return exponent >= -6 && exponent < 21 ? s.toPlainString() : s.toString();
  }

  // ------------------------------------------------------------------ primitive reads

  /**
   * A key as text. ggml reads keys as bytes; one that is not UTF-8 is recorded as its text with each malformed
   * sequence replaced by U+FFFD, then {@code <not UTF-8: HEX>}, HEX being its bytes, so that two keys stay two.
   */
  private String key(long i) throws IOException {
    String what = "key " + i;
    byte[] b = nameBytes(what, MAX_KEY_BYTES);
    String s = utf8(b);
    return s != null ? s : new String(b, StandardCharsets.UTF_8) + " <not UTF-8: " + HexFormat.of().formatHex(b) + ">";
  }

  /** A tensor name, which must be UTF-8: Ferry records, shows, diffs and exports tensors by name. */
  private String tensorName(long i) throws IOException {
    String what = "tensor name " + i;
    long at = pos;
    String s = utf8(nameBytes(what, MAX_NAME_BYTES));
    if (s == null) {
      throw defect(what + " at byte " + at + " is not valid UTF-8");
    }
    return s;
  }

  private byte[] nameBytes(String what, int max) throws IOException {
    long at = pos;
    long len = i64("the length of " + what);
    if (len < 0 || len > max) {
      throw defect(what + " at byte " + at + " is " + Long.toUnsignedString(len) + " bytes long; at most " + max
          + " are allowed");
    }
    if (len == 0) {
      throw defect(what + " at byte " + at + " is empty");
    }
    return bytes((int) len, what);
  }

  private long stringLength(String what) throws IOException {
    long at = pos;
    long len = i64("the length of " + what);
    if (len < 0 || len > MAX_STRING_BYTES) {
      throw defect(what + ": string at byte " + at + " is " + Long.toUnsignedString(len) + " bytes long, above the "
          + "limit of " + MAX_STRING_BYTES);
    }
    if (len > in.size() - pos) {
      throw defect(what + ": string of " + len + " bytes at byte " + pos + " runs past the end of the file ("
          + in.size() + " bytes)");
    }
    return len;
  }

  private static String utf8(byte[] b) {
    try {
      CharBuffer c = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b));
      return c.toString();
    } catch (CharacterCodingException e) {
      return null;
    }
  }

  private int u8(String what) throws IOException {
    return buf.get(take(1, what)) & 0xff;
  }

  private int u16(String what) throws IOException {
    return buf.getShort(take(2, what)) & 0xffff;
  }

  private int i32(String what) throws IOException {
    return buf.getInt(take(4, what));
  }

  private long u32(String what) throws IOException {
    return i32(what) & 0xffffffffL;
  }

  private long i64(String what) throws IOException {
    return buf.getLong(take(8, what));
  }

  private byte[] bytes(int n, String what) throws IOException {
    byte[] out = new byte[n];
    int done = 0;
    while (done < n) {
      int k = (int) Math.min(n - done, buf.capacity());
      int at = take(k, what);
      buf.get(at, out, done, k);
      done += k;
    }
    return out;
  }

  private void skip(long n, String what) throws IOException {
    if (n > in.size() - pos) {
      throw defect("file ends at byte " + in.size() + " inside " + what + " (" + n + " bytes from byte " + pos
          + "): truncated");
    }
    while (n > 0) {
      int k = (int) Math.min(n, buf.capacity());
      take(k, what);
      n -= k;
    }
  }

  /**
   * Makes {@code n} (at most the buffer's capacity) bytes at the current position available, advances past them and
   * returns their index in the buffer.
   */
  private int take(int n, String what) throws IOException {
    if (n > in.size() - pos) {
      throw defect("file ends at byte " + in.size() + " inside " + what + " (" + n + " bytes from byte " + pos
          + "): truncated");
    }
    if (pos + n > MAX_HEADER_BYTES) {
      throw defect("the metadata and tensor infos run past byte " + MAX_HEADER_BYTES + " (at " + what + "); Ferry "
          + "reads GGUF headers of at most " + MAX_HEADER_BYTES + " bytes");
    }
    if (pos < bufStart || pos + n > bufStart + buf.limit()) {
      buf.clear();
      buf.limit((int) Math.min(buf.capacity(), in.size() - pos));
      in.readFully(buf, pos);
      buf.flip();
      bufStart = pos;
    }
    int at = (int) (pos - bufStart);
    if (tap != null) {
      tap.update(buf.array(), at, n);
    }
    pos += n;
    return at;
  }

  private InvalidInputException defect(String what) {
    return new InvalidInputException(in.name() + ": " + what);
  }
}
