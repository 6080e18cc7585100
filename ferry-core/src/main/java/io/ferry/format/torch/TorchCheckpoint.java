package io.ferry.format.torch;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.zip.CRC32;

/**
 * A {@code torch.save} checkpoint, read without running it: its archive ({@link TorchZip}) and {@code data.pkl}, or
 * the pickles and storages of the legacy format, interpreted by {@link Unpickler}, and what that gives: each tensor with its dotted name, storage entry, byte range
 * and strides, and each non-tensor value as JSON. Immutable.
 *
 * <p>Names: the keys from the root down, joined by dots ({@code optimizer.state.0.exp_avg}); integer keys and list
 * or tuple indexes in decimal; a float key or a tuple key as Python's {@code repr} writes it ({@code 1e-05},
 * {@code ('encoder', 0)}). A container holding a tensor somewhere below it is walked into; any other value (a
 * number, a string, the {@code param_groups} list) is one JSON value under its dotted path. A root that is a single
 * tensor is named {@code tensor}. A tensor on the meta device has no bytes: it is a value,
 * {@code {"device":"meta","dtype":"torch.float32","shape":[2,3],"stride":[3,1]}}.
 */
public final class TorchCheckpoint {
  /**
   * Said where Ferry refuses a file torch.load reads (compressed entries, bytes after the archive, big-endian data, a
   * storage type Ferry has no element type for): such a file can still be versioned, as bytes.
   */
  static final String OPAQUE = "push --opaque GLOB stores the file as its bytes, unread";
  private static final Pattern PICKLE = Pattern.compile("([^/]+)/data\\.pkl");
  /** A format version as torch.load parses it: a decimal number, blanks around it. */
  private static final Pattern VERSION = Pattern.compile("[ \\t\\r\\n]*\\+?0*([0-9]{1,9})[ \\t\\r\\n]*");
  /** The format versions torch.load reads ({@code kMinSupportedFileFormatVersion}, {@code kMax…}). */
  private static final long MIN_VERSION = 1;
  private static final long MAX_VERSION = 10;
  /** The legacy format's magic number. */
  private static final BigInteger LEGACY_MAGIC = new BigInteger("1950a86a20f9469cfc6c", 16);
  /** {@link #LEGACY_MAGIC} as pickled: the 10 little-endian bytes of a {@code LONG1} opcode's operand. */
  private static final byte[] LEGACY_MAGIC_PICKLED = {0x6c, (byte) 0xfc, (byte) 0x9c, 0x46, (byte) 0xf9, 0x20, 0x6a,
      (byte) 0xa8, 0x50, 0x19};

  /**
   * One tensor.
   *
   * @param name its dotted name
   * @param tensor its storage, offset, shape and strides
   * @param entry the archive entry of its storage
   * @param begin the file offset of the first byte it touches
   * @param end one past the last byte it touches
   */
  public record View(String name, Py.Tensor tensor, TorchZip.Entry entry, long begin, long end) {
    public View {
      Objects.requireNonNull(name, "name");
    }

    /** The element type. */
    public DType dtype() {
      return tensor.dtype();
    }

    /** Whether its bytes are exactly {@code [begin, end)} in row-major order. */
    public boolean contiguous() {
      return tensor.contiguous();
    }
  }

  private final boolean legacy;
  private final String root;
  private final List<View> tensors;
  private final SortedMap<String, String> values;
  private final Map<String, TorchZip.Entry> storages;

  private TorchCheckpoint(boolean legacy, String root, List<View> tensors, SortedMap<String, String> values,
      Map<String, TorchZip.Entry> storages) {
    this.legacy = legacy;
    this.root = root;
    this.tensors = List.copyOf(tensors);
    this.values = values;
    this.storages = storages;
  }

  /** Whether the file is in the legacy (non-zip) format. */
  public boolean legacy() {
    return legacy;
  }

  /**
   * The archive's top directory ({@code archive}, or the file's stem in older versions of PyTorch); empty for the
   * legacy format.
   */
  public String root() {
    return root;
  }

  /** The tensors, by file offset then name. */
  public List<View> tensors() {
    return tensors;
  }

  /** The non-tensor values as JSON, by dotted path. */
  public SortedMap<String, String> values() {
    return values;
  }

  /**
   * The storages tensors use, by name: zip entries ({@code archive/data/0}), or for the legacy format the runs
   * {@code storages/<key>} whose {@code start} is their 8-byte element count and {@code dataStart} their bytes.
   */
  public Map<String, TorchZip.Entry> storages() {
    return storages;
  }

  /**
   * Whether the first bytes of a file are a zip archive whose first entry is {@code <dir>/data.pkl}, or the legacy
   * format's magic number pickle followed by its protocol version (1001) pickle.
   */
  public static boolean recognises(ByteBuffer head) {
    ByteBuffer h = head.duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN);
    if (startsLegacy(h)) {
      return true;
    }
    if (!TorchZip.isZip(h) || h.remaining() < 30) {
      return false;
    }
    int p = h.position();
    int nameLen = h.getShort(p + 26) & 0xffff;
    if (h.remaining() < 30 + nameLen) {
      return false;
    }
    byte[] name = new byte[nameLen];
    h.get(p + 30, name);
    return PICKLE.matcher(new String(name, StandardCharsets.ISO_8859_1)).matches();
  }

  /**
   * Whether the bytes start as a legacy {@code torch.save} file does: a pickle of protocol 2 to 5 (with a FRAME
   * opcode from protocol 4 on) whose first value is the legacy magic number. torch writes protocol 2 by default and
   * any other with {@code pickle_protocol}; only protocol 2 was recognised, so a protocol-4 legacy file was stored as
   * an opaque file, its pickle never checked.
   */
  static boolean startsLegacy(ByteBuffer head) {
    ByteBuffer h = head.duplicate();
    int p = h.position();
    if (h.remaining() < 2 || (h.get(p) & 0xff) != 0x80 || h.get(p + 1) < 2 || h.get(p + 1) > 5) {
      return false;
    }
    int i = p + 2;
    if (h.limit() > i && (h.get(i) & 0xff) == 0x95) {
      i += 9;
    }
    if (h.limit() < i + 12 || (h.get(i) & 0xff) != 0x8a || h.get(i + 1) != 10) {
      return false;
    }
    for (int k = 0; k < LEGACY_MAGIC_PICKLED.length; k++) {
      if (h.get(i + 2 + k) != LEGACY_MAGIC_PICKLED[k]) {
        return false;
      }
    }
    return true;
  }

  /**
   * Reads and validates a checkpoint's structure: the archive, {@code data.pkl} (its CRC too), {@code byteorder},
   * and that every tensor lies inside its storage entry. Reads no tensor data.
   *
   * @throws InvalidInputException naming the file and the entry, opcode, global or tensor at fault
   */
  public static TorchCheckpoint read(ByteSource in) throws IOException {
    String f = in.name();
    if (in.size() >= 4) {
      ByteBuffer head = TorchZip.read(in, 0, 4);
      if (!TorchZip.isZip(head)) {
        if ((head.get(0) & 0xff) == 0x80 && head.get(1) >= 2 && head.get(1) <= 5) {
          // a pickle, as the legacy format starts (readLegacy says so when its first value is not the magic number)
          return readLegacy(in);
        }
        int magic = Integer.reverseBytes(head.getInt(0));
        throw new InvalidInputException(f + ": not a PyTorch checkpoint (" + (magic == 0x504b0506
            ? "an empty zip archive: no entries, where torch.save writes data.pkl and the tensors' data"
            : "a torch.save zip archive starts with a local file header, 'PK\\x03\\x04', this file with 0x"
                + String.format("%08x", magic)) + ")");
      }
    }
    TorchZip zip = TorchZip.read(in);
    Map<String, TorchZip.Entry> byName = new LinkedHashMap<>();
    String root = null;
    for (TorchZip.Entry e : zip.entries()) {
      byName.put(e.name(), e);
      var m = PICKLE.matcher(e.name());
      if (m.matches()) {
        if (root != null) {
          throw new InvalidInputException(f + ": the archive holds two pickles, '" + Unpickler.printable(root)
              + "/data.pkl' and '" + Unpickler.printable(e.name()) + "'");
        }
        root = m.group(1);
      }
    }
    if (root == null) {
      throw new InvalidInputException(f + ": the zip archive holds no '<dir>/data.pkl', so it is not a torch.save"
          + " checkpoint");
    }
    for (String n : byName.keySet()) {
      if (!n.startsWith(root + "/")) {
        throw new InvalidInputException(f + ": zip entry '" + Unpickler.printable(n) + "' lies outside the archive's"
            + " directory '" + Unpickler.printable(root) + "/'");
      }
    }
    // torch.save with torch.serialization.set_crc32_options(False) writes 0 for every entry's CRC-32, and torch.load
    // checks no CRC: such an archive has no CRC to check (one non-zero CRC and every CRC is checked)
    boolean crcs = zip.entries().stream().anyMatch(e -> e.crc() != 0);
    TorchZip.Entry order = byName.get(root + "/byteorder");
    if (order != null) {
      String bo = new String(small(in, order, crcs).array(), StandardCharsets.US_ASCII);
      if (!bo.equals("little")) {
        throw new InvalidInputException(f + ": '" + root + "/byteorder' says '" + Unpickler.printable(bo)
            + "'; Ferry reads little-endian checkpoints only (" + OPAQUE + ")");
      }
    }
    TorchZip.Entry pkl = byName.get(root + "/data.pkl");
    if (pkl.size() > TorchLimits.MAX_PICKLE_BYTES) {
      throw new InvalidInputException(f + ": '" + root + "/data.pkl' is " + pkl.size() + " bytes, over the limit of "
          + TorchLimits.MAX_PICKLE_BYTES);
    }
    ByteBuffer pickle = checked(in, pkl, crcs);
    Unpickler.Loaded loaded = Unpickler.loadWhole(f + ": " + pkl.name(), pickle);
    String dir = root;
    TorchCheckpoint checkpoint = resolve(f, false, dir, loaded.value(), key -> byName.get(dir + "/data/" + key));
    // torch.load reads every storage the pickle names, one only a value below the result names too: it must be there
    for (Py.Storage s : loaded.storages().values()) {
      TorchZip.Entry e = byName.get(dir + "/data/" + s.key());
      long bytes = s.dtype().byteLength(s.numel());
      if (e == null || e.size() != bytes) {
        throw new InvalidInputException(f + ": the pickle names storage '" + s.key() + "' (" + s.numel()
            + " elements of " + s.dtype() + ", " + bytes + " bytes), but the archive " + (e == null ? "has no entry '"
            + Unpickler.printable(dir + "/data/" + s.key()) + "'" : "entry '" + Unpickler.printable(e.name())
            + "' holds " + e.size() + " bytes") + "; torch.load refuses such a file");
      }
    }
    checkVersion(in, root, byName, crcs);
    return checkpoint;
  }

  /**
   * Checks the archive's format version as torch.load does: {@code <dir>/.data/version} if the archive has it, else
   * {@code <dir>/version} (torch.save writes {@code 3\n}), must exist and hold a decimal number from
   * {@link #MIN_VERSION} to {@link #MAX_VERSION}. torch.load refuses any other archive; Ferry stored them.
   */
  private static void checkVersion(ByteSource in, String root, Map<String, TorchZip.Entry> byName,
      boolean crcs) throws IOException {
    String f = in.name();
    TorchZip.Entry e = byName.getOrDefault(root + "/.data/version", byName.get(root + "/version"));
    if (e == null) {
      throw new InvalidInputException(f + ": the archive has no '" + Unpickler.printable(root) + "/version' entry,"
          + " which torch.save always writes and torch.load requires (" + OPAQUE + ")");
    }
    String text = new String(small(in, e, crcs).array(), StandardCharsets.ISO_8859_1);
    var m = VERSION.matcher(text);
    long version = m.matches() ? Long.parseLong(m.group(1)) : -1;
    if (version < MIN_VERSION || version > MAX_VERSION) {
      throw new InvalidInputException(f + ": '" + Unpickler.printable(e.name()) + "' says '"
          + Unpickler.printable(text.strip()) + "', where torch.load reads format versions " + MIN_VERSION + " to "
          + MAX_VERSION + " (torch.save writes 3)");
    }
  }

  /** Where a storage's bytes are, by its key; null if the file has no such storage. */
  private interface StorageEntries {
    TorchZip.Entry find(String key);
  }

  /** Names the tensors and values of an unpickled checkpoint and maps each tensor to its storage's bytes. */
  private static TorchCheckpoint resolve(String f, boolean legacy, String root, Object value,
      StorageEntries entries) throws InvalidInputException {
    Walk w = new Walk(f);
    w.scan(value, 0);
    if (value instanceof Py.Tensor t) {
      w.tensor("tensor", t);
    } else if (value instanceof Py.MetaTensor || value instanceof Py.Attributed) {
      w.node(value, "tensor", 0);
    } else if (isContainer(value)) {
      w.children(value, null, 0);
    } else {
      throw new InvalidInputException(f + ": the checkpoint holds " + Unpickler.typeName(value)
          + ", not tensors in dicts, lists or tuples");
    }
    List<View> views = new ArrayList<>();
    Map<String, TorchZip.Entry> used = new TreeMap<>();
    for (Map.Entry<String, Py.Tensor> e : w.tensors.entrySet()) {
      Py.Tensor t = e.getValue();
      Py.Storage s = t.storage();
      TorchZip.Entry se = entries.find(s.key());
      if (se == null) {
        throw new InvalidInputException(f + ": tensor '" + Unpickler.printable(e.getKey()) + "' uses storage '"
            + s.key() + "', but " + (legacy ? "the file lists no storage of that key" : "the archive has no entry '"
            + Unpickler.printable(root + "/data/" + s.key()) + "'"));
      }
      String entryName = se.name();
      long bytes = s.dtype().byteLength(s.numel());
      if (se.size() != bytes) {
        throw new InvalidInputException(f + ": storage '" + Unpickler.printable(entryName) + "' holds " + se.size()
            + " bytes, but the pickle makes it " + s.numel() + " elements of " + s.dtype() + " (" + bytes + " bytes)");
      }
      // in bits: an F4 tensor (torch's float4_e2m1fn_x2) starts and ends on whole bytes, at an even element
      long begin = se.dataStart() + t.offset() * t.dtype().bits() / 8;
      long end = se.dataStart() + t.endElement() * t.dtype().bits() / 8;
      views.add(new View(e.getKey(), t, se, begin, end));
      used.put(entryName, se);
    }
    views.sort(Comparator.comparingLong(View::begin).thenComparingLong(View::end).thenComparing(View::name));
    return new TorchCheckpoint(legacy, root, views, w.values, used);
  }

  /**
   * The legacy format ({@code torch.save(..., _use_new_zipfile_serialization=False)}, PyTorch's only format before
   * 1.6): five pickles one after the other (the magic number, the protocol version 1001, a dict of system information,
   * the object, the sorted list of storage keys), then for each key in that order the storage's element count
   * (8 bytes, little-endian) and its bytes, up to the end of the file.
   */
  private static TorchCheckpoint readLegacy(ByteSource in) throws IOException {
    String f = in.name();
    long[] at = {0};
    Object magic = legacyPickle(in, at, "magic number");
    if (!LEGACY_MAGIC.equals(magic)) {
      throw new InvalidInputException(f + ": the legacy format's first pickle is not its magic number");
    }
    if (!Long.valueOf(1001).equals(legacyPickle(in, at, "protocol version"))) {
      throw new InvalidInputException(f + ": the legacy format's protocol version is not 1001");
    }
    Object info = legacyPickle(in, at, "system information");
    if (!(info instanceof Py.Dict d) || !Boolean.TRUE.equals(d.map.get("little_endian"))) {
      throw new InvalidInputException(f + ": the legacy checkpoint was not written little-endian (its system"
          + " information says little_endian=" + (info instanceof Py.Dict d2 ? d2.map.get("little_endian") : "?")
          + "); Ferry reads little-endian checkpoints only (" + OPAQUE + ")");
    }
    long objectAt = at[0];
    ByteBuffer window = TorchZip.read(in, objectAt, (int) Math.min(in.size() - objectAt,
        TorchLimits.MAX_PICKLE_BYTES));
    Unpickler.Loaded object = Unpickler.loadPrefix(f + ": pickle at byte " + objectAt, window);
    at[0] += object.length();
    // as long as the storages are many (some 24 bytes each): read up to the limit of a pickle, as the object
    Object keys = legacyPickle(in, at, "storage keys", TorchLimits.MAX_PICKLE_BYTES);
    if (!(keys instanceof Py.PyList list)) {
      throw new InvalidInputException(f + ": the legacy format's storage keys are " + Unpickler.typeName(keys)
          + ", not a list");
    }
    // torch.load fills each listed storage that the object's pickle named, wherever its value went: one only values
    // below the result name (no tensor uses it) is read as bytes of the file, as the zip format's unused entries are
    Map<String, Py.Storage> named = object.storages();
    Map<String, TorchZip.Entry> byKey = new LinkedHashMap<>();
    long p = at[0];
    for (Object k : list.items) {
      if (!(k instanceof String key)) {
        throw new InvalidInputException(f + ": a storage key of the legacy format is " + Unpickler.typeName(k));
      }
      Py.Storage s = named.get(key);
      if (s == null) {
        throw new InvalidInputException(f + ": storage '" + Unpickler.printable(key) + "' is listed but the pickle"
            + " names no storage of that key");
      }
      if (byKey.containsKey(key)) {
        throw new InvalidInputException(f + ": storage '" + Unpickler.printable(key) + "' is listed twice");
      }
      long count = TorchZip.read(in, p, 8).getLong(0);
      if (count != s.numel()) {
        throw new InvalidInputException(f + ": storage '" + Unpickler.printable(key) + "' at byte " + p + " holds "
            + Long.toUnsignedString(count) + " elements, the pickle says " + s.numel());
      }
      long bytes = s.dtype().byteLength(s.numel());
      if (bytes > in.size() - p - 8) {
        throw new InvalidInputException(f + ": storage '" + key + "' of " + bytes + " bytes from byte " + (p + 8)
            + " runs past the end of the file (" + in.size() + " bytes; truncated?)");
      }
      byKey.put(key, new TorchZip.Entry("storages/" + key, p, p + 8, p + 8 + bytes, p + 8 + bytes, 0));
      p += 8 + bytes;
    }
    if (p != in.size()) {
      throw new InvalidInputException(f + ": " + (in.size() - p) + " bytes follow the last storage (at byte " + p
          + "; torch.load ignores them, Ferry stores a checkpoint only when it is nothing but its pickles and"
          + " storages: " + OPAQUE + ")");
    }
    return resolve(f, true, "", object.value(), byKey::get);
  }

  private static Object legacyPickle(ByteSource in, long[] at, String what) throws IOException {
    return legacyPickle(in, at, what, 64 << 10);
  }

  /** The pickle at {@code at[0]}, read from a window of at most {@code max} bytes; moves {@code at[0]} past it. */
  private static Object legacyPickle(ByteSource in, long[] at, String what, int max) throws IOException {
    ByteBuffer window = TorchZip.read(in, at[0], (int) Math.min(in.size() - at[0], max));
    Unpickler.Loaded l = Unpickler.loadPrefix(in.name() + ": " + what + " pickle at byte " + at[0], window);
    at[0] += l.length();
    return l.value();
  }

  private static ByteBuffer small(ByteSource in, TorchZip.Entry e, boolean crcs) throws IOException {
    if (e.size() > TorchLimits.MAX_SMALL_ENTRY_BYTES) {
      throw new InvalidInputException(in.name() + ": '" + Unpickler.printable(e.name()) + "' is " + e.size()
          + " bytes, over the limit of " + TorchLimits.MAX_SMALL_ENTRY_BYTES);
    }
    return checked(in, e, crcs);
  }

  /** The bytes of an entry, its CRC-32 checked unless {@code crcs} is false (an archive written without CRCs). */
  private static ByteBuffer checked(ByteSource in, TorchZip.Entry e, boolean crcs) throws IOException {
    ByteBuffer b = TorchZip.read(in, e.dataStart(), (int) e.size());
    if (!crcs) {
      return b;
    }
    CRC32 crc = new CRC32();
    crc.update(b.duplicate());
    if (crc.getValue() != e.crc()) {
      throw new InvalidInputException(in.name() + ": '" + Unpickler.printable(e.name()) + "' has CRC-32 "
          + Long.toHexString(crc.getValue()) + ", the zip directory says " + Long.toHexString(e.crc()) + " (corrupt)");
    }
    return b;
  }

  /**
   * A float as Python's {@code repr} writes it: the fewest digits that read back as the same float, in fixed
   * notation with at least one decimal ({@code 0.5}, {@code 2.0}, {@code 0.0001}) from 1e-4 up to 1e16, else in
   * exponent notation ({@code 1e-05}, {@code 1.5e+16}); {@code inf}, {@code -inf}, {@code nan}.
   */
  static String floatRepr(double x) {
    if (Double.isNaN(x)) {
      return "nan";
    }
    if (Double.isInfinite(x)) {
      return x > 0 ? "inf" : "-inf";
    }
    if (x == 0) {
      return 1 / x < 0 ? "-0.0" : "0.0";
    }
    java.math.BigDecimal exact = new java.math.BigDecimal(x);
    java.math.BigDecimal d = exact;
    for (int p = 1; p <= 17; p++) {
      d = exact.round(new java.math.MathContext(p, java.math.RoundingMode.HALF_EVEN));
      if (d.doubleValue() == x) {
        break;
      }
    }
    String digits = d.unscaledValue().abs().toString().replaceAll("0+$", "");
    digits = digits.isEmpty() ? "0" : digits;
    // the value is 0.DIGITS x 10^point
    int point = d.precision() - d.scale();
    StringBuilder b = new StringBuilder(x < 0 ? "-" : "");
    if (point > -4 && point <= 16) {
      if (point <= 0) {
        b.append("0.").append("0".repeat(-point)).append(digits);
      } else if (digits.length() <= point) {
        b.append(digits).append("0".repeat(point - digits.length())).append(".0");
      } else {
        b.append(digits, 0, point).append('.').append(digits.substring(point));
      }
      return b.toString();
    }
    b.append(digits.charAt(0));
    if (digits.length() > 1) {
      b.append('.').append(digits.substring(1));
    }
    int e = point - 1;
    return b.append(e < 0 ? "e-" : "e+").append(String.format("%02d", Math.abs(e))).toString();
  }

  private static boolean isContainer(Object v) {
    return v instanceof Py.Dict || v instanceof Py.PyList || v instanceof Py.Tuple;
  }

  /** Walks the unpickled value: which containers hold tensors, then names and JSON values. */
  private static final class Walk {
    private final String f;
    private final IdentityHashMap<Object, Boolean> holds = new IdentityHashMap<>();
    private final IdentityHashMap<Object, Boolean> open = new IdentityHashMap<>();
    private final SortedMap<String, Py.Tensor> tensors = new TreeMap<>();
    private final SortedMap<String, String> values = new TreeMap<>();
    private long visits;

    Walk(String f) {
      this.f = f;
    }

    private void visit(int depth) throws InvalidInputException {
      if (++visits > TorchLimits.MAX_VALUES) {
        throw new InvalidInputException(f + ": walking the pickle's values takes more than " + TorchLimits.MAX_VALUES
            + " steps (containers shared many times over)");
      }
      if (depth > TorchLimits.MAX_DEPTH) {
        throw new InvalidInputException(f + ": containers nest deeper than " + TorchLimits.MAX_DEPTH + " levels");
      }
    }

    /** Whether {@code v} is or holds a tensor; refuses cycles, depth and storages outside tensors. */
    boolean scan(Object v, int depth) throws InvalidInputException {
      visit(depth);
      if (v instanceof Py.Tensor) {
        return true;
      }
      if (v instanceof Py.Attributed a) {
        scan(a.attributes(), depth + 1);
        return true;
      }
      if (v instanceof Py.Storage || v instanceof Py.Global) {
        throw new InvalidInputException(f + ": the pickle holds " + Unpickler.typeName(v) + " as a value (outside a"
            + " tensor" + (v instanceof Py.Storage ? "; torch.save of a storage alone writes one, and torch.load reads"
            + " it, but Ferry lists tensors only" : "") + "); " + OPAQUE);
      }
      if (!isContainer(v)) {
        return false;
      }
      Boolean known = holds.get(v);
      if (known != null) {
        return known;
      }
      if (open.put(v, Boolean.TRUE) != null) {
        throw new InvalidInputException(f + ": a container of the pickle contains itself (a cycle)");
      }
      boolean any = false;
      for (Object c : items(v)) {
        any |= scan(c, depth + 1);
      }
      open.remove(v);
      holds.put(v, any);
      return any;
    }

    private static List<Object> items(Object v) {
      if (v instanceof Py.Dict d) {
        List<Object> out = new ArrayList<>(d.map.size() * 2);
        for (Map.Entry<Object, Object> e : d.map.entrySet()) {
          out.add(e.getKey());
          out.add(e.getValue());
        }
        return out;
      }
      return v instanceof Py.PyList l ? l.items : ((Py.Tuple) v).items();
    }

    void children(Object v, String path, int depth) throws InvalidInputException {
      visit(depth);
      if (v instanceof Py.Dict d) {
        for (Map.Entry<Object, Object> e : d.map.entrySet()) {
          node(e.getValue(), join(path, key(e.getKey())), depth + 1);
        }
      } else {
        List<Object> items = v instanceof Py.PyList l ? l.items : ((Py.Tuple) v).items();
        for (int i = 0; i < items.size(); i++) {
          node(items.get(i), join(path, Integer.toString(i)), depth + 1);
        }
      }
    }

    private void node(Object v, String path, int depth) throws InvalidInputException {
      if (v instanceof Py.Tensor t) {
        tensor(path, t);
      } else if (v instanceof Py.Attributed a) {
        // the tensor under its name, its attributes as what a dict of them would be under NAME.__dict__
        node(a.tensor(), path, depth + 1);
        node(a.attributes(), join(path, "__dict__"), depth + 1);
      } else if (isContainer(v) && holds.get(v)) {
        children(v, path, depth);
      } else {
        if (tensors.containsKey(path) || values.containsKey(path)) {
          throw new InvalidInputException(f + ": two values are named '" + Unpickler.printable(path) + "'");
        }
        StringBuilder b = new StringBuilder();
        json(v, b, depth, path);
        if (b.length() > TorchLimits.MAX_VALUE_JSON_CHARS) {
          throw tooLong(path);
        }
        values.put(path, b.toString());
      }
    }

    void tensor(String name, Py.Tensor t) throws InvalidInputException {
      if (tensors.size() >= TorchLimits.MAX_TENSORS) {
        throw new InvalidInputException(f + ": more than " + TorchLimits.MAX_TENSORS + " tensors");
      }
      if (tensors.putIfAbsent(name, t) != null || values.containsKey(name)) {
        throw new InvalidInputException(f + ": two values are named '" + Unpickler.printable(name) + "'");
      }
    }

    private static String join(String path, String key) {
      return path == null ? key : path + "." + key;
    }

    private static String key(Object k) {
      if (k instanceof Boolean b) {
        return b ? "True" : "False";
      }
      if (k instanceof Py.TupleKey t) {
        StringBuilder b = new StringBuilder("(");
        for (Object o : t.items()) {
          if (b.length() > 1) {
            b.append(", ");
          }
          b.append(o instanceof String s ? repr(s) : key(o));
        }
        return b.append(t.items().size() == 1 ? ",)" : ")").toString();
      }
      if (k instanceof Double x) {
        return floatRepr(x);
      }
      return k == Py.NONE ? "None" : k.toString();
    }


    /**
     * A string as Python's {@code repr} writes it: in single quotes, or double quotes when it holds a single quote
     * and no double quote; backslashes, the quote and control characters escaped.
     */
    private static String repr(String s) {
      char q = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
      StringBuilder b = new StringBuilder().append(q);
      for (int i = 0; i < s.length(); i++) {
        char c = s.charAt(i);
        if (c == q || c == '\\') {
          b.append('\\').append(c);
        } else if (c == '\n') {
          b.append("\\n");
        } else if (c == '\r') {
          b.append("\\r");
        } else if (c == '\t') {
          b.append("\\t");
        } else if (c < 0x20 || c >= 0x7f && c < 0xa0) {
          b.append(String.format("\\x%02x", (int) c));
        } else {
          b.append(c);
        }
      }
      return b.append(q).toString();
    }

    private InvalidInputException tooLong(String path) {
      return new InvalidInputException(f + ": the value '" + Unpickler.printable(path) + "' is longer than "
          + TorchLimits.MAX_VALUE_JSON_CHARS + " characters as JSON");
    }

    /** Appends {@code v} as JSON; {@code path} is the value's name, for messages. */
    private void json(Object v, StringBuilder b, int depth, String path) throws InvalidInputException {
      visit(depth);
      if (b.length() > TorchLimits.MAX_VALUE_JSON_CHARS) {
        throw tooLong(path);
      }
      if (v == Py.NONE) {
        b.append("null");
      } else if (v instanceof Boolean || v instanceof Long || v instanceof BigInteger) {
        b.append(v);
      } else if (v instanceof Double d) {
        b.append(d.isNaN() ? "NaN" : d.isInfinite() ? (d > 0 ? "Infinity" : "-Infinity") : d.toString());
      } else if (v instanceof String s) {
        string(s, b);
      } else if (v instanceof Py.Bytes by) {
        string(by.hex(), b);
      } else if (v instanceof Py.TorchDType || v instanceof Py.NpDType || v instanceof Py.TorchConstant) {
        string(v.toString(), b); // torch.bfloat16, <u4
      } else if (v instanceof Py.Complex c) {
        b.append("{\"complex\":[");
        json(c.real(), b, depth + 1, path);
        b.append(',');
        json(c.imag(), b, depth + 1, path);
        b.append("]}");
      } else if (v instanceof Py.MetaTensor t) {
        b.append("{\"device\":\"meta\",\"dtype\":");
        string(t.dtype().toString(), b);
        b.append(",\"shape\":").append(t.shape().toString().replace(" ", "")).append(",\"stride\":")
            .append(t.strides().toString().replace(" ", "")).append('}');
      } else if (v instanceof Py.NdArray arr) {
        if (!arr.built()) {
          throw new InvalidInputException(f + ": the value '" + Unpickler.printable(path) + "' holds a numpy array"
              + " that the pickle never filled (no BUILD)");
        }
        b.append("{\"dtype\":");
        string(arr.dtype.toString(), b);
        b.append(",\"shape\":").append(arr.shape.toString().replace(" ", "")).append(",\"hex\":");
        string(arr.hex, b);
        b.append('}');
      } else if (v instanceof Py.Dict d) {
        b.append('{');
        boolean first = true;
        for (Map.Entry<Object, Object> e : d.map.entrySet()) {
          if (!first) {
            b.append(',');
          }
          first = false;
          string(key(e.getKey()), b);
          b.append(':');
          json(e.getValue(), b, depth + 1, path);
        }
        b.append('}');
      } else {
        b.append('[');
        List<Object> items = items(v);
        for (int i = 0; i < items.size(); i++) {
          if (i > 0) {
            b.append(',');
          }
          json(items.get(i), b, depth + 1, path);
        }
        b.append(']');
      }
    }

    private static void string(String s, StringBuilder b) {
      b.append('"');
      for (int i = 0; i < s.length(); i++) {
        char c = s.charAt(i);
        switch (c) {
          case '"' -> b.append("\\\"");
          case '\\' -> b.append("\\\\");
          case '\n' -> b.append("\\n");
          case '\r' -> b.append("\\r");
          case '\t' -> b.append("\\t");
          default -> {
            if (c < 0x20) {
              b.append(String.format("\\u%04x", (int) c));
            } else {
              b.append(c);
            }
          }
        }
      }
      b.append('"');
    }
  }
}
