package io.ferry.format.torch;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * A restricted interpreter of the pickle opcodes (protocols 2 to 5) that {@code torch.save} writes for state dicts
 * and training checkpoints. It only builds data ({@link Py}): a global is a name checked against an allow-list, never
 * imported, and {@code REDUCE} of an allowed name builds the value that function would have returned (an
 * {@code OrderedDict}, a tensor described by its storage, offset, shape and strides) without calling anything.
 *
 * <p>Allowed globals: those of PyTorch 2's own {@code torch.load(weights_only=True)} that build dense tensors and
 * plain values. {@code collections.OrderedDict} and {@code Counter}; {@code torch._utils._rebuild_tensor},
 * {@code _rebuild_tensor_v2}, {@code _rebuild_tensor_v3} (torch's newer element types: float8, uint16/32/64),
 * {@code _rebuild_parameter} and {@code _rebuild_parameter_with_state}; {@code _rebuild_meta_tensor_no_storage} (a
 * tensor on the meta device, with no bytes: a value); {@code torch._tensor._rebuild_from_type_v2} of
 * {@code torch.Tensor} or {@code torch.nn.parameter.Parameter} (a tensor with Python attributes, kept as
 * {@link Py.Attributed}); {@code builtins.complex} ({@link Py.Complex}); {@code torch.Size} (a tuple),
 * {@code torch.device} (its name, {@code "cuda:0"}), the {@code torch.dtype} values ({@code torch.bfloat16},
 * recorded by name); {@code builtins.set}, {@code builtins.bytearray} and {@code _codecs.encode} (how protocol 2 pickles sets and
 * bytes; {@code __builtin__} is read as {@code builtins}, as Python reads it); numpy's number arrays, dtypes and
 * scalars ({@link #NUMPY}: a checkpoint's random state, a metric saved as {@code np.float64}); and the storage types
 * {@code torch.<Type>Storage} of {@link #STORAGE_TYPES} and {@code torch.UntypedStorage} (only inside a persistent
 * id). Everything else is refused with an {@link InvalidInputException} naming the global or opcode and its byte
 * position: any other global (a module, {@code argparse.Namespace}, numpy object arrays, quantized and sparse
 * tensors), a
 * {@code REDUCE} or {@code BUILD} of anything but the cases above or with other arguments, {@code INST},
 * {@code OBJ}, {@code NEWOBJ}, {@code EXT1/2/4}, the text opcodes of protocols 0 and 1, out-of-band buffers and
 * unknown opcodes. Every length, count and size is bounded by {@link TorchLimits}.
 *
 * <p>Stateless; each {@link #load} call uses its own interpreter state.
 */
public final class Unpickler {
  /** The storage types a persistent id may name ({@code torch.<name>}) and the element type of each. */
  public static final Map<String, DType> STORAGE_TYPES = Map.ofEntries(
      Map.entry("FloatStorage", DType.F32), Map.entry("DoubleStorage", DType.F64),
      Map.entry("HalfStorage", DType.F16), Map.entry("BFloat16Storage", DType.BF16),
      Map.entry("LongStorage", DType.I64), Map.entry("IntStorage", DType.I32),
      Map.entry("ShortStorage", DType.I16), Map.entry("CharStorage", DType.I8),
      Map.entry("ByteStorage", DType.U8), Map.entry("BoolStorage", DType.BOOL),
      Map.entry("ComplexFloatStorage", DType.C64), Map.entry("ComplexDoubleStorage", DType.C128));

  /**
   * The storage types torch.load(weights_only=True) reads that Ferry has no element type for: complex32 and the
   * quantized types, which cannot be laid out as regions of plain elements.
   */
  static final Set<String> UNHELD_STORAGE_TYPES = Set.of("ComplexHalfStorage", "QInt8Storage", "QUInt8Storage",
      "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage");

  /**
   * The builders torch.save writes for tensors that are not dense (quantized, sparse, nested), which
   * torch.load(weights_only=True) reads and Ferry does not, with what each builds.
   */
  static final Map<String, String> UNHELD_BUILDERS = Map.of(
      "torch._utils._rebuild_qtensor", "a quantized tensor", "torch._utils._rebuild_sparse_tensor", "a sparse tensor",
      "torch._utils._rebuild_sparse_csr_tensor", "a sparse CSR tensor",
      "torch._utils._rebuild_nested_tensor", "a nested tensor");

  /** The storage type of a persistent id that holds bytes of no one type ({@code _rebuild_tensor_v3} uses it). */
  public static final String UNTYPED_STORAGE = "UntypedStorage";

  /**
   * The module torch pickles {@link #UNTYPED_STORAGE} under ({@code torch.storage}: the class's {@code __module__}),
   * the only one torch.load(weights_only=True) accepts. {@code torch.UntypedStorage} names the same class and is read
   * too: Ferry wrote that name before it was checked against torch 2.
   */
  public static final String UNTYPED_STORAGE_MODULE = "torch.storage";

  /** The callables of the allow-list, {@code module.name}. */
  public static final List<String> CALLABLES = List.of("collections.OrderedDict", "collections.Counter",
      "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
      "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
      "torch._utils._rebuild_meta_tensor_no_storage", "torch._tensor._rebuild_from_type_v2", "torch.Size",
      "torch.device", "torch.serialization._get_layout", "builtins.set", "builtins.bytearray", "builtins.complex",
      "_codecs.encode");

  /**
   * The classes a pickle may name, never call: the types {@code torch._tensor._rebuild_from_type_v2} makes a tensor of
   * (torch's own; a subclass is not on torch's allow-list either).
   */
  public static final List<String> CLASSES = List.of("torch.Tensor", "torch.nn.parameter.Parameter");

  /** The callables that build a tensor, which {@code torch._tensor._rebuild_from_type_v2} may be given. */
  private static final Set<String> TENSOR_BUILDERS = Set.of("torch._utils._rebuild_tensor",
      "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
      "torch._utils._rebuild_meta_tensor_no_storage");

  /** The callables that wrap a tensor, their first argument, in a Parameter. */
  private static final Set<String> PARAMETERS = Set.of("torch._utils._rebuild_parameter",
      "torch._utils._rebuild_parameter_with_state");

  /** The {@code torch.layout} names {@code torch.serialization._get_layout} finds (torch 2.13's). */
  public static final Set<String> LAYOUTS = Set.of("strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr",
      "sparse_bsc", "_mkldnn", "jagged");

  /** The {@code torch.qscheme} values a pickle may name (torch.load(weights_only=True) allows them as values). */
  public static final Set<String> QSCHEMES = Set.of("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
      "per_channel_symmetric", "per_channel_affine_float_qparams");

  /**
   * The numpy names a pickle may use to build number arrays, number dtypes and number scalars as values: what numpy's
   * random state pickles to ({@code rng_state.pth} of a Hugging Face Trainer checkpoint; transformers loads it with
   * these names on torch's allow-list) and what a metric saved as {@code np.float64} pickles to. numpy 2 names the
   * module {@code numpy._core}.
   */
  public static final List<String> NUMPY = List.of("numpy.core.multiarray._reconstruct",
      "numpy._core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype", "numpy.core.multiarray.scalar",
      "numpy._core.multiarray.scalar", "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer");

  /** The {@code torch.dtype} names whose tensors Ferry holds, with their element types. */
  public static final Map<String, DType> TENSOR_DTYPES = Map.ofEntries(
      Map.entry("float64", DType.F64), Map.entry("float32", DType.F32), Map.entry("float16", DType.F16),
      Map.entry("bfloat16", DType.BF16), Map.entry("int64", DType.I64), Map.entry("int32", DType.I32),
      Map.entry("int16", DType.I16), Map.entry("int8", DType.I8), Map.entry("uint8", DType.U8),
      Map.entry("uint16", DType.U16), Map.entry("uint32", DType.U32), Map.entry("uint64", DType.U64),
      Map.entry("bool", DType.BOOL), Map.entry("complex64", DType.C64), Map.entry("complex128", DType.C128),
      Map.entry("float8_e4m3fn", DType.F8_E4M3), Map.entry("float8_e5m2", DType.F8_E5M2),
      Map.entry("float8_e4m3fnuz", DType.F8_E4M3FNUZ), Map.entry("float8_e5m2fnuz", DType.F8_E5M2FNUZ),
      Map.entry("float8_e8m0fnu", DType.F8_E8M0));

  /**
   * The {@code torch.dtype} of two FP4 values in a byte, whose tensors Ferry reads as {@link DType#F4} with their last
   * dimension doubled.
   */
  static final String FLOAT4_X2 = "float4_e2m1fn_x2";

  /** The other {@code torch.dtype} names a pickle may hold as values (no tensor of them is read but FLOAT4_X2's). */
  public static final Set<String> OTHER_DTYPES = Set.of("complex32", "qint8", "quint8", "qint32", "quint4x2",
      "quint2x4", "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16", "float4_e2m1fn_x2", "uint1", "uint2", "uint3",
      "uint4", "uint5", "uint6", "uint7", "int1", "int2", "int3", "int4", "int5", "int6", "int7");

  private static final String ALLOWED = "a checkpoint may name only what torch.load(weights_only=True) reads as"
      + " dense tensors and plain values: collections.OrderedDict and Counter, torch._utils._rebuild_tensor,"
      + " _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter, _rebuild_parameter_with_state and"
      + " _rebuild_meta_tensor_no_storage, torch._tensor._rebuild_from_type_v2 of torch.Tensor or"
      + " torch.nn.parameter.Parameter, torch.Size, torch.device, torch.serialization._get_layout, torch dtypes and"
      + " qschemes, torch.<Type>Storage and torch.storage.UntypedStorage, builtins.set, bytearray and complex,"
      + " _codecs.encode, and numpy's number arrays, dtypes and scalars (push --opaque GLOB stores a file that names"
      + " more as its bytes, unread)";

  private static final String KEYS = "keys may be strings, integers, floats, booleans, None or tuples of them";
  private static final Pattern STORAGE_KEY = Pattern.compile("[A-Za-z0-9_]{1,64}");
  private static final Map<Integer, String> OPCODES = opcodeNames();

  private Unpickler() {}

  /**
   * Interprets one pickle.
   *
   * @param what the pickle's name for messages ({@code "model.pt: archive/data.pkl"})
   * @param pickle the pickle, from its position to its limit; not changed
   * @return the value {@code STOP} returns: {@link Py} containers, tensors and scalars
   * @throws InvalidInputException naming {@code what}, the opcode or global and its byte offset in the pickle, if
   *     the pickle uses anything outside the allow-list, breaks a limit, or is malformed
   */
  public static Object load(String what, ByteBuffer pickle) throws InvalidInputException {
    return loadWhole(what, pickle).value();
  }

  /**
   * Interprets one pickle, as {@link #load} does, and hands back the storages its persistent ids named too.
   *
   * @throws InvalidInputException as {@link #load} does
   */
  public static Loaded loadWhole(String what, ByteBuffer pickle) throws InvalidInputException {
    return new Machine(what, pickle.slice().order(ByteOrder.LITTLE_ENDIAN), false).run();
  }

  /**
   * A value, the bytes of the pickle that held it (up to and including its {@code STOP}), and every storage its
   * persistent ids named, by key: those of values left below the result too, as Python's unpickler loads them all.
   */
  public record Loaded(Object value, int length, Map<String, Py.Storage> storages) {}

  /**
   * Interprets the pickle at the start of {@code bytes}, which may go on after its {@code STOP} (the legacy format
   * writes several pickles one after the other), with the persistent ids of the legacy format:
   * {@code ('storage', type, key, location, size, None)}.
   *
   * @throws InvalidInputException as {@link #load} does; positions count from the start of {@code bytes}
   */
  public static Loaded loadPrefix(String what, ByteBuffer bytes) throws InvalidInputException {
    return new Machine(what, bytes.slice().order(ByteOrder.LITTLE_ENDIAN), true).run();
  }

  private static final class Machine {
    private final String what;
    private final ByteBuffer in;
    private final List<Object> stack = new ArrayList<>();
    private final List<Integer> marks = new ArrayList<>();
    /** Memo entries at indexes 0, 1, 2…, as Python's pickler numbers them; others go to {@link #sparseMemo}. */
    private final List<Object> memo = new ArrayList<>();
    private final Map<Long, Object> sparseMemo = new HashMap<>();
    private final Map<String, Py.Storage> storages = new TreeMap<>();
    private final boolean legacy;
    private long values;
    private int op;
    private int at;

    Machine(String what, ByteBuffer in, boolean legacy) {
      this.what = what;
      this.in = in;
      this.legacy = legacy;
    }

    private InvalidInputException fail(String message) {
      return new InvalidInputException(what + ": " + message);
    }

    private InvalidInputException failHere(String message) {
      return fail(message + " (opcode " + name(op) + " at byte " + at + ")");
    }

    Loaded run() throws InvalidInputException {
      if (!legacy && in.remaining() > TorchLimits.MAX_PICKLE_BYTES) {
        throw fail("the pickle is " + in.remaining() + " bytes, over the limit of " + TorchLimits.MAX_PICKLE_BYTES);
      }
      boolean first = true;
      while (true) {
        if (!in.hasRemaining()) {
          throw fail("the pickle ends at byte " + in.position() + " without a STOP opcode (truncated)");
        }
        at = in.position();
        op = in.get() & 0xff;
        if (first && op != 0x80) {
          throw failHere("a checkpoint pickle starts with PROTO (protocol 2 or later), not " + name(op));
        }
        first = false;
        switch (op) {
          case 0x80 -> { // PROTO
            int v = u8();
            if (v < 2 || v > 5) {
              throw failHere("pickle protocol " + v + " is not supported (expected 2 to 5)");
            }
          }
          case 0x95 -> { // FRAME: a length hint; the bytes follow as usual
            long n = in.getLong(need(8));
            if (n < 0 || n > in.remaining()) {
              throw failHere("frame of " + Long.toUnsignedString(n) + " bytes runs past the end of the pickle ("
                  + in.limit() + " bytes)");
            }
          }
          case '.' -> { // STOP: the value on top, as Python's unpickler returns it, whatever lies below
            int floor = marks.isEmpty() ? 0 : marks.get(marks.size() - 1);
            if (stack.size() <= floor) {
              throw failHere(marks.isEmpty() ? "STOP with no value on the stack"
                  : "STOP with an open mark and no value above it");
            }
            // bytes after it are never read, here as in Python (torch.load reads a data.pkl that goes on after STOP)
            return new Loaded(stack.get(stack.size() - 1), in.position(), Collections.unmodifiableMap(storages));
          }
          case '(' -> { // MARK
            if (marks.size() >= TorchLimits.MAX_MARKS) {
              throw failHere("more than " + TorchLimits.MAX_MARKS + " open marks (nesting too deep)");
            }
            marks.add(stack.size());
          }
          case '0' -> { // POP: with a mark on top and no value above it, Python pops the mark
            if (!marks.isEmpty() && marks.get(marks.size() - 1) == stack.size()) {
              marks.remove(marks.size() - 1);
            } else {
              pop();
            }
          }
          case '1' -> popMark(); // POP_MARK
          case '2' -> push(peek()); // DUP
          case '}' -> push(new Py.Dict(false)); // EMPTY_DICT
          case ']' -> push(new Py.PyList()); // EMPTY_LIST
          case 0x8f -> push(new Py.PyList(true)); // EMPTY_SET
          case 0x90 -> { // ADDITEMS
            List<Object> vs = popMark();
            set(peek()).items.addAll(vs);
          }
          case 0x91 -> { // FROZENSET
            Py.PyList set = new Py.PyList(true);
            set.items.addAll(popMark());
            push(set);
          }
          case ')' -> push(new Py.Tuple(List.of())); // EMPTY_TUPLE
          case 't' -> push(new Py.Tuple(popMark())); // TUPLE
          case 0x85 -> push(tuple(1)); // TUPLE1
          case 0x86 -> push(tuple(2)); // TUPLE2
          case 0x87 -> push(tuple(3)); // TUPLE3
          case 'l' -> { // LIST
            Py.PyList l = new Py.PyList();
            l.items.addAll(popMark());
            push(l);
          }
          case 'd' -> { // DICT
            List<Object> kv = popMark();
            Py.Dict d = new Py.Dict(false);
            try {
              setItems(d, kv);
            } catch (InvalidInputException e) {
              throw named(e, stack.size());
            }
            push(d);
          }
          case 'a' -> { // APPEND
            Object v = pop();
            list(peek()).items.add(v);
          }
          case 'e' -> { // APPENDS
            List<Object> vs = popMark();
            list(peek()).items.addAll(vs);
          }
          case 's' -> { // SETITEM
            Object v = pop();
            Object k = pop();
            Py.Dict d = dict(peek());
            try {
              setItems(d, List.of(k, v));
            } catch (InvalidInputException e) {
              throw namedTop(e);
            }
          }
          case 'u' -> { // SETITEMS
            List<Object> kv = popMark();
            Py.Dict d = dict(peek());
            try {
              setItems(d, kv);
            } catch (InvalidInputException e) {
              throw namedTop(e);
            }
          }
          case 'N' -> push(Py.NONE);
          case 0x88 -> push(Boolean.TRUE); // NEWTRUE
          case 0x89 -> push(Boolean.FALSE); // NEWFALSE
          case 'J' -> push((long) in.getInt(need(4))); // BININT
          case 'K' -> push((long) u8()); // BININT1
          case 'M' -> push((long) (in.getShort(need(2)) & 0xffff)); // BININT2
          case 0x8a -> push(longOf(u8())); // LONG1
          case 0x8b -> { // LONG4: a signed length
            int n = in.getInt(need(4));
            if (n < 0) {
              throw failHere("negative length " + n);
            }
            push(longOf(n));
          }
          case 'G' -> push(Double.longBitsToDouble(Long.reverseBytes(in.getLong(need(8))))); // BINFLOAT, big-endian
          case 'X' -> push(utf8(in.getInt(need(4)) & 0xffffffffL)); // BINUNICODE
          case 0x8c -> push(utf8(u8())); // SHORT_BINUNICODE
          case 0x8d -> push(utf8(in.getLong(need(8)))); // BINUNICODE8
          case 'T' -> push(latin1(in.getInt(need(4)) & 0xffffffffL)); // BINSTRING
          case 'U' -> push(latin1(u8())); // SHORT_BINSTRING
          case 'B' -> push(bytes(in.getInt(need(4)) & 0xffffffffL)); // BINBYTES
          case 'C' -> push(bytes(u8())); // SHORT_BINBYTES
          case 0x8e -> push(bytes(in.getLong(need(8)))); // BINBYTES8
          case 0x96 -> push(bytes(in.getLong(need(8)))); // BYTEARRAY8
          case 'q' -> put(u8()); // BINPUT
          case 'r' -> put(in.getInt(need(4)) & 0xffffffffL); // LONG_BINPUT
          case 0x94 -> put(memo.size() + sparseMemo.size()); // MEMOIZE: the next index, as Python counts
          case 'h' -> get(u8()); // BINGET
          case 'j' -> get(in.getInt(need(4)) & 0xffffffffL); // LONG_BINGET
          case 'c' -> { // GLOBAL
            String module = line();
            String name = line();
            push(namedGlobal(module, name));
          }
          case 0x93 -> { // STACK_GLOBAL
            Object name = pop();
            Object module = pop();
            if (!(module instanceof String m) || !(name instanceof String n)) {
              throw failHere("STACK_GLOBAL needs two strings, found " + typeName(module) + " and " + typeName(name));
            }
            push(namedGlobal(m, n));
          }
          case 'R' -> { // REDUCE
            Object args = pop();
            Object callable = pop();
            Object value;
            try {
              value = reduce(callable, args);
            } catch (InvalidInputException e) {
              throw named(e, stack.size());
            }
            push(value);
          }
          case 'b' -> { // BUILD
            Object state = pop();
            Object target = peek();
            try {
              build(target, state);
            } catch (InvalidInputException e) {
              throw namedTop(e);
            }
          }
          case 'Q' -> { // BINPERSID
            Object id = pop();
            Object storage;
            try {
              storage = persistent(id);
            } catch (InvalidInputException e) {
              // a storage is an argument of a tensor builder: its value goes where the builder's callable is
              int mark = marks.isEmpty() ? -1 : marks.get(marks.size() - 1);
              throw mark >= 1 && stack.get(mark - 1) instanceof Py.Global ? named(e, mark - 1) : e;
            }
            push(storage);
          }
          default -> throw failHere(OPCODES.containsKey(op)
              ? "opcode " + name(op) + " is not allowed in a checkpoint (it is not used by state dicts, or it runs code)"
              : "unknown opcode 0x" + String.format("%02x", op));
        }
      }
    }

    // --- bytes -------------------------------------------------------------------------------------------------

    private int need(int n) throws InvalidInputException {
      if (in.remaining() < n) {
        throw failHere("needs " + n + " more bytes, the pickle ends at byte " + in.limit() + " (truncated)");
      }
      int p = in.position();
      in.position(p + n);
      return p;
    }

    private int u8() throws InvalidInputException {
      return in.get(need(1)) & 0xff;
    }

    private int length(long n, int max) throws InvalidInputException {
      if (n < 0 || n > in.remaining()) {
        throw failHere("length " + Long.toUnsignedString(n) + " runs past the end of the pickle (" + in.remaining()
            + " bytes left of " + in.limit() + ")");
      }
      if (n > max) {
        throw failHere("length " + n + " is over the limit of " + max + " bytes");
      }
      return (int) n;
    }

    private byte[] raw(long n, int max) throws InvalidInputException {
      byte[] b = new byte[length(n, max)];
      in.get(b);
      return b;
    }

    private String utf8(long n) throws InvalidInputException {
      byte[] b = raw(n, TorchLimits.MAX_STRING_BYTES);
      try {
        return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString();
      } catch (CharacterCodingException e) {
        // Python pickles a str holding a lone surrogate ('a\ud800') as UTF-8 with surrogatepass, and reads it back
        InvalidInputException bad = failHere("string '" + escaped(b) + "' is not valid UTF-8 (Python pickles a str"
            + " holding a lone surrogate so; Ferry cannot hold one); " + TorchCheckpoint.OPAQUE);
        int mark = marks.isEmpty() ? 0 : marks.get(marks.size() - 1);
        String name = pendingName(stack.size());
        if (name == null && mark > 0 && stack.get(mark - 1) instanceof Py.Dict) {
          name = pendingName(mark - 1); // a key: its dict's name
          throw name == null ? bad : new InvalidInputException(bad.getMessage() + ", a key of the dict '"
              + printable(name) + "'", bad);
        }
        throw named(bad, stack.size());
      }
    }

    /**
     * The first bytes of a string that is not UTF-8, for a message: printable ASCII as is, other bytes as
     * {@code \xNN}.
     */
    private static String escaped(byte[] b) {
      StringBuilder out = new StringBuilder();
      for (int i = 0; i < Math.min(b.length, 64); i++) {
        int c = b[i] & 0xff;
        out.append(c >= 0x20 && c < 0x7f && c != '\\' && c != '\'' ? String.valueOf((char) c)
            : String.format("\\x%02x", c));
      }
      return b.length > 64 ? out + "..." : out.toString();
    }

    private String latin1(long n) throws InvalidInputException {
      return new String(raw(n, TorchLimits.MAX_STRING_BYTES), StandardCharsets.ISO_8859_1);
    }

    private Py.Bytes bytes(long n) throws InvalidInputException {
      return new Py.Bytes(HexFormat.of().formatHex(raw(n, TorchLimits.MAX_STRING_BYTES)));
    }

    private Object longOf(long n) throws InvalidInputException {
      byte[] b = raw(n, TorchLimits.MAX_LONG_BYTES);
      if (b.length == 0) {
        return 0L;
      }
      byte[] be = new byte[b.length];
      for (int i = 0; i < b.length; i++) {
        be[i] = b[b.length - 1 - i];
      }
      BigInteger v = new BigInteger(be);
      return v.bitLength() < 64 ? (Object) v.longValue() : v;
    }

    private String line() throws InvalidInputException {
      int start = in.position();
      int max = Math.min(in.limit(), start + 256);
      for (int i = start; i < max; i++) {
        if (in.get(i) == '\n') {
          byte[] b = new byte[i - start];
          in.get(b);
          in.get();
          for (byte c : b) {
            if (c < 0x20 || c > 0x7e) {
              throw failHere("GLOBAL names a module or name that is not printable ASCII");
            }
          }
          return new String(b, StandardCharsets.US_ASCII);
        }
      }
      throw failHere("GLOBAL has no end of line within 256 bytes (truncated or not a name)");
    }

    // --- stack -------------------------------------------------------------------------------------------------

    private void push(Object v) throws InvalidInputException {
      if (stack.size() >= TorchLimits.MAX_STACK) {
        throw failHere("more than " + TorchLimits.MAX_STACK + " values on the stack");
      }
      if (++values > TorchLimits.MAX_VALUES) {
        throw failHere("more than " + TorchLimits.MAX_VALUES + " values");
      }
      stack.add(v);
    }

    /**
     * The dotted name (as the tensor table gives it) of the value that will be at {@code slot} of the stack (the one
     * the failing opcode would push, or the one a tensor builder at that slot will make). The stack alone does not
     * say it: short tuples are built without a mark, so a value above a list's or dict's mark may be an item or a
     * part of one. So the rest of the pickle is read ahead, its opcodes and stack depths only (nothing is built),
     * until that value goes into its container, and that container into its own, up to the value {@code STOP}
     * returns: a dict's value is named by its key (a string or an integer, on the stack already, being below the
     * value), a list's or tuple's item by its index, the tensor a Parameter's builder is given by the Parameter, and
     * the storage a tensor's builder is given by the tensor.
     * Null when the value is a key, a set's item, another argument of a callable, or not what {@code STOP} returns
     * or part of it, or when the rest of the pickle cannot be read so (malformed or truncated).
     */
    private String pendingName(int slot) {
      ByteBuffer ahead = in.duplicate().order(ByteOrder.LITTLE_ENDIAN);
      List<Integer> open = new ArrayList<>(marks);
      List<String> path = new ArrayList<>(); // the outermost first
      int s = slot;
      int d = stack.size() + 1;
      while (ahead.hasRemaining() && open.size() <= TorchLimits.MAX_MARKS) {
        int code = ahead.get() & 0xff;
        if (!skipArgument(ahead, code)) {
          return null;
        }
        int floor = open.isEmpty() ? 0 : open.get(open.size() - 1);
        int low; // the lowest slot the opcode takes
        switch (code) {
          case '.' -> {
            return s == d - 1 && !path.isEmpty() ? String.join(".", path) : null;
          }
          case '(' -> {
            open.add(d);
            continue;
          }
          case '0' -> low = floor == d && !open.isEmpty() ? Integer.MAX_VALUE : d - 1;
          case 'a', 'b', 'Q' -> low = d - 1;
          case 's', 'R', 0x93, 0x81 -> low = d - 2;
          case 0x92 -> low = d - 3;
          case 0x85, 0x86, 0x87 -> low = d - (code - 0x84);
          case '1', 0x90, 0x91, 't', 'l', 'd', 'e', 'u' -> low = floor;
          case 0x80, 0x95, 'q', 'r', 0x94 -> low = Integer.MAX_VALUE;
          default -> low = d; // pushes one value
        }
        if (low == Integer.MAX_VALUE) {
          if (code == '0') {
            open.remove(open.size() - 1);
          }
          continue;
        }
        boolean marked = code == '1' || code == 0x90 || code == 0x91 || code == 't' || code == 'l' || code == 'd'
            || code == 'e' || code == 'u';
        if (low < floor || marked && open.isEmpty()) {
          return null;
        }
        if (marked) {
          open.remove(open.size() - 1);
        }
        boolean pushes = code != 'a' && code != 'b' && code != '0' && code != '1' && code != 0x90 && code != 'e'
            && code != 's' && code != 'u';
        if (s >= low) {
          // the value, or the container that holds it, goes into a container here
          String key;
          if (code == 't' || code == 'l' || code >= 0x85 && code <= 0x87) {
            key = Integer.toString(s - low);
          } else if (code == 'a' || code == 'e') {
            key = low >= 1 && stack.get(low - 1) instanceof Py.PyList l && !l.set
                ? Integer.toString(l.items.size() + s - low) : null;
          } else if (code == 'd' || code == 's' || code == 'u') {
            Object k = (s - low) % 2 == 1 ? stack.get(s - 1) : null;
            key = k instanceof String || k instanceof Long || k instanceof BigInteger ? k.toString() : null;
          } else if ((code == 'R' || code == 0x81 || code == 0x92 || code == 'Q') && s == low) {
            // a callable, or a persistent id: the value it gives takes its place, and what was inside it is gone
            path.clear();
            key = "";
          } else if (code == 'R' && stack.get(low) instanceof Py.Global g && (PARAMETERS.contains(g.toString())
              || TENSOR_BUILDERS.contains(g.toString())) && !path.isEmpty() && path.get(0).equals("0")) {
            // the first argument of a Parameter's builder (the tensor) or of a tensor's (the storage): its name is the
            // Parameter's or the tensor's
            path.remove(0);
            key = "";
          } else {
            key = null;
          }
          if (key == null) {
            return null;
          }
          if (!key.isEmpty()) {
            path.add(0, key);
          }
          s = code == 'a' || code == 'e' || code == 's' || code == 'u' ? low - 1 : low;
        }
        d = low + (pushes ? 1 : 0);
      }
      return null;
    }

    /** Moves {@code ahead} past the argument of opcode {@code code}; false if it is unknown or runs past the end. */
    private static boolean skipArgument(ByteBuffer ahead, int code) {
      long n;
      switch (code) {
        case 'K', 'q', 'h', 0x80 -> n = 1;
        case 'U', 'C', 0x8a, 0x8c -> n = 1 + (ahead.remaining() < 1 ? 0 : ahead.get(ahead.position()) & 0xff);
        case 'M' -> n = 2;
        case 'J', 'r', 'j' -> n = 4;
        case 'X', 'T', 'B', 0x8b -> n = 4 + (ahead.remaining() < 4 ? 0 : ahead.getInt(ahead.position()) & 0xffffffffL);
        case 'G', 0x95 -> n = 8;
        case 0x8d, 0x8e, 0x96 -> n = ahead.remaining() < 8 ? 8 : 8 + ahead.getLong(ahead.position());
        case 'c' -> {
          for (int lines = 0; lines < 2; lines++) {
            while (ahead.hasRemaining() && ahead.get() != '\n') {
              // to the end of the module's line, then the name's
            }
          }
          return ahead.hasRemaining();
        }
        case '.', '(', '0', '1', '2', '}', ']', ')', 'N', 0x88, 0x89, 0x8f, 0x90, 0x91, 't', 'l', 'd', 'a', 'e', 's',
            'u', 0x85, 0x86, 0x87, 0x94, 0x93, 'R', 'b', 'Q', 0x81, 0x92 -> n = 0;
        default -> {
          return false;
        }
      }
      if (n < 0 || n > ahead.remaining()) {
        return false;
      }
      ahead.position(ahead.position() + (int) n);
      return true;
    }

    /** {@code e}, with the name of the value that will be at {@code slot} when {@link #pendingName} knows it. */
    private InvalidInputException named(InvalidInputException e, int slot) {
      String name = pendingName(slot);
      return name == null ? e : new InvalidInputException(e.getMessage() + ", building the value of '"
          + printable(name) + "'", e);
    }

    /**
     * {@code e}, with the name of the value on top of the stack, which the failing opcode (a {@code BUILD}, a dict's
     * {@code SETITEM(S)}) would have left there, when {@link #pendingName} knows it. The machine stops here, so the
     * value is taken off: the rest of the pickle then sees the stack as it would after the opcode.
     */
    private InvalidInputException namedTop(InvalidInputException e) {
      stack.remove(stack.size() - 1);
      return named(e, stack.size());
    }

    private Object pop() throws InvalidInputException {
      int floor = marks.isEmpty() ? 0 : marks.get(marks.size() - 1);
      if (stack.size() <= floor) {
        throw failHere("the stack is empty" + (floor > 0 ? " above the mark" : ""));
      }
      return stack.remove(stack.size() - 1);
    }

    private Object peek() throws InvalidInputException {
      int floor = marks.isEmpty() ? 0 : marks.get(marks.size() - 1);
      if (stack.size() <= floor) {
        throw failHere("the stack is empty" + (floor > 0 ? " above the mark" : ""));
      }
      return stack.get(stack.size() - 1);
    }

    private List<Object> popMark() throws InvalidInputException {
      if (marks.isEmpty()) {
        throw failHere("no MARK to pop to");
      }
      int m = marks.remove(marks.size() - 1);
      List<Object> top = new ArrayList<>(stack.subList(m, stack.size()));
      stack.subList(m, stack.size()).clear();
      return top;
    }

    private Py.Tuple tuple(int n) throws InvalidInputException {
      Object[] items = new Object[n];
      for (int i = n - 1; i >= 0; i--) {
        items[i] = pop();
      }
      return new Py.Tuple(List.of(items));
    }

    private void put(long index) throws InvalidInputException {
      Object v = peek();
      if (index < memo.size()) {
        memo.set((int) index, v);
      } else if (index == memo.size() && !sparseMemo.containsKey(index)) {
        if (memo.size() >= TorchLimits.MAX_MEMO) {
          throw failHere("more than " + TorchLimits.MAX_MEMO + " memo entries");
        }
        memo.add(v);
      } else {
        if (sparseMemo.size() >= TorchLimits.MAX_SPARSE_MEMO && !sparseMemo.containsKey(index)) {
          throw failHere("more than " + TorchLimits.MAX_SPARSE_MEMO + " memo entries out of sequence");
        }
        sparseMemo.put(index, v);
      }
    }

    private void get(long index) throws InvalidInputException {
      Object v = index < memo.size() ? memo.get((int) index) : sparseMemo.get(index);
      if (v == null) {
        throw failHere("memo entry " + index + " was never stored");
      }
      push(v);
    }

    private Py.PyList list(Object o) throws InvalidInputException {
      if (o instanceof Py.PyList l && !l.set) {
        return l;
      }
      throw failHere("appends to " + typeName(o) + ", not a list");
    }

    private Py.PyList set(Object o) throws InvalidInputException {
      if (o instanceof Py.PyList l && l.set) {
        return l;
      }
      throw failHere("adds items to " + typeName(o) + ", not a set");
    }

    private Py.Dict dict(Object o) throws InvalidInputException {
      if (o instanceof Py.Dict d) {
        return d;
      }
      throw failHere("sets an item of " + typeName(o) + ", not a dict");
    }

    private void setItems(Py.Dict d, List<Object> kv) throws InvalidInputException {
      if (kv.size() % 2 != 0) {
        throw failHere("odd number of values (" + kv.size() + ") for key-value pairs");
      }
      for (int i = 0; i < kv.size(); i += 2) {
        Object k = kv.get(i);
        if (k instanceof Py.Tuple t) {
          d.map.put(tupleKey(t, 0), kv.get(i + 1));
          continue;
        }
        if (!plainKey(k)) {
          throw failHere("dict key of type " + typeName(k) + " (" + KEYS + ")");
        }
        d.map.put(pythonKey(d, k), kv.get(i + 1));
      }
    }

    private static boolean plainKey(Object k) {
      return k instanceof String || k instanceof Long || k instanceof BigInteger || k instanceof Boolean
          || k instanceof Double || k == Py.NONE;
    }

    /**
     * The integer Python takes a key for: a bool, an int, a float with an integral value ({@code 1.0 == 1 == True});
     * null for any other key.
     */
    private static BigInteger integer(Object k) {
      if (k instanceof Double x) {
        return Double.isFinite(x) && x == Math.rint(x) ? new java.math.BigDecimal(x).toBigIntegerExact() : null;
      }
      return k instanceof Boolean b ? (b ? BigInteger.ONE : BigInteger.ZERO)
          : k instanceof Long l ? BigInteger.valueOf(l) : k instanceof BigInteger big ? big : null;
    }

    /**
     * A tuple as a dict key ({@code sd[('encoder', 0)]}; torch's weights-only loader reads them): its items must be
     * keys themselves, and it compares as Python compares tuples, an integer equal to a boolean.
     */
    private Py.TupleKey tupleKey(Py.Tuple t, int depth) throws InvalidInputException {
      if (depth > TorchLimits.MAX_DEPTH) {
        throw failHere("a tuple dict key nests deeper than " + TorchLimits.MAX_DEPTH + " levels");
      }
      List<Object> items = new ArrayList<>();
      List<Object> compared = new ArrayList<>();
      for (Object o : t.items()) {
        if (o instanceof Py.Tuple inner) {
          Py.TupleKey k = tupleKey(inner, depth + 1);
          items.add(k);
          compared.add(k);
        } else if (plainKey(o)) {
          items.add(o);
          BigInteger n = integer(o);
          compared.add(n != null ? n : o);
        } else {
          throw failHere("dict key of a tuple holding " + typeName(o) + " (" + KEYS + ")");
        }
      }
      return new Py.TupleKey(items, compared);
    }

    /**
     * The key Python's dict would store the value under: an equal key already in the dict keeps its place and its
     * own form ({@code True} and {@code 1}, {@code False} and {@code 0}, an integer pickled as a long or as an int are
     * one key to Python, which keeps the first and the last value). They were two keys here, and a checkpoint listed a
     * tensor that torch.load never returns.
     */
    private static Object pythonKey(Py.Dict d, Object k) {
      BigInteger n = integer(k);
      if (n == null) {
        return k;
      }
      List<Object> forms = new ArrayList<>(List.of(n));
      if (n.bitLength() < 64) {
        forms.add(n.longValue());
      }
      if (n.signum() >= 0 && n.compareTo(BigInteger.ONE) <= 0) {
        forms.add(n.signum() == 1);
      }
      if (n.bitLength() <= 53) {
        forms.add(n.doubleValue());
        if (n.signum() == 0) {
          forms.add(-0.0);
        }
      }
      for (Object form : forms) {
        if (!form.equals(k) && d.map.containsKey(form)) {
          return form;
        }
      }
      return k;
    }

    // --- globals, calls, persistent ids ------------------------------------------------------------------------

    /** {@link #global}; refused, with the name of the value it would be part of, when {@link #pendingName} knows it. */
    private Object namedGlobal(String module, String name) throws InvalidInputException {
      try {
        return global(module, name);
      } catch (InvalidInputException e) {
        throw named(e, stack.size());
      }
    }

    private Object global(String module, String name) throws InvalidInputException {
      // protocol 2 names Python 2's module, which Python reads as builtins
      String m = module.equals("__builtin__") ? "builtins" : module;
      if (CALLABLES.contains(m + "." + name) || NUMPY.contains(m + "." + name) || CLASSES.contains(m + "." + name)
          || m.equals("torch") && (STORAGE_TYPES.containsKey(name) || name.equals(UNTYPED_STORAGE))
          || m.equals(UNTYPED_STORAGE_MODULE) && name.equals(UNTYPED_STORAGE)) {
        return new Py.Global(m, name);
      }
      if (m.equals("torch") && (TENSOR_DTYPES.containsKey(name) || OTHER_DTYPES.contains(name))) {
        return new Py.TorchDType(name, TENSOR_DTYPES.get(name));
      }
      if (m.equals("torch") && QSCHEMES.contains(name)) {
        return new Py.TorchConstant(name);
      }
      if (m.equals("torch") && UNHELD_STORAGE_TYPES.contains(name)) {
        throw failHere("storage type 'torch." + name + "' is one torch.load(weights_only=True) reads, but Ferry has no"
            + " element type for it (complex32 and quantized tensors are not read); " + TorchCheckpoint.OPAQUE);
      }
      String builds = UNHELD_BUILDERS.get(m + "." + name);
      if (builds != null) {
        throw failHere("global '" + m + "." + name + "' builds " + builds + ", which torch.load(weights_only=True)"
            + " reads but Ferry does not (it reads dense tensors only); " + TorchCheckpoint.OPAQUE);
      }
      throw failHere("global '" + printable(module + "." + name) + "' is not allowed; " + ALLOWED);
    }

    private Object reduce(Object callable, Object args) throws InvalidInputException {
      if (!(callable instanceof Py.Global g)) {
        throw failHere("REDUCE calls " + typeName(callable) + ", not an allowed function");
      }
      if (!(args instanceof Py.Tuple t)) {
        throw failHere("REDUCE of '" + g + "' with " + typeName(args) + " instead of an argument tuple");
      }
      List<Object> a = t.items();
      switch (g.toString()) {
        case "collections.OrderedDict" -> {
          if (!a.isEmpty()) {
            throw failHere("REDUCE of 'collections.OrderedDict' with " + a.size() + " arguments (expected none)");
          }
          return new Py.Dict(true);
        }
        case "collections.Counter" -> {
          Py.Dict d = new Py.Dict(false);
          if (a.size() == 1 && a.get(0) instanceof Py.Dict from && !from.ordered) {
            d.map.putAll(from.map);
          } else if (!a.isEmpty()) {
            throw failHere("REDUCE of 'collections.Counter' with arguments (" + typeNames(a) + "); expected (dict)");
          }
          return d;
        }
        case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3" -> {
          return tensor(g, a);
        }
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state" -> {
          int n = g.name().endsWith("state") ? 4 : 3;
          if (a.size() != n || !(a.get(0) instanceof Py.Tensor || a.get(0) instanceof Py.MetaTensor)
              || !(a.get(1) instanceof Boolean) || !emptyHooks(a.get(2))) {
            throw failHere("REDUCE of '" + g + "' with arguments (" + typeNames(a) + "); expected (tensor, bool,"
                + " empty OrderedDict" + (n == 4 ? ", state" : "") + ")");
          }
          return n == 4 ? withState(g, a.get(0), a.get(3)) : a.get(0);
        }
        case "torch._tensor._rebuild_from_type_v2" -> {
          // (func, type, args, state): torch.Tensor or Parameter of func(*args), the state set as its attributes
          if (a.size() != 4 || !(a.get(0) instanceof Py.Global f) || !TENSOR_BUILDERS.contains(f.toString())
              || !(a.get(1) instanceof Py.Global type) || !CLASSES.contains(type.toString())
              || !(a.get(2) instanceof Py.Tuple)) {
            throw failHere("REDUCE of '" + g + "' with arguments (" + typeNames(a) + "); expected (a tensor builder"
                + " of torch._utils, torch.Tensor or torch.nn.parameter.Parameter, argument tuple, state)");
          }
          return withState(g, reduce(f, a.get(2)), a.get(3));
        }
        case "builtins.complex" -> {
          // complex(real, imag), as pickle writes a complex number
          if (a.size() > 2 || !a.stream().allMatch(x -> x instanceof Double || x instanceof Long
              || x instanceof Boolean)) {
            throw failHere("REDUCE of 'builtins.complex' with arguments (" + typeNames(a) + "); expected (float,"
                + " float), as pickle writes a complex number");
          }
          double[] parts = new double[2];
          for (int i = 0; i < a.size(); i++) {
            Object x = a.get(i);
            parts[i] = x instanceof Double d ? d : x instanceof Long l ? l : (Boolean) x ? 1 : 0;
          }
          return new Py.Complex(parts[0], parts[1]);
        }
        case "torch._utils._rebuild_meta_tensor_no_storage" -> {
          // (dtype, size, stride, requires_grad): a tensor on the meta device, with no bytes
          if (a.size() != 4 || !(a.get(0) instanceof Py.TorchDType dt) || !(a.get(1) instanceof Py.Tuple size)
              || !(a.get(2) instanceof Py.Tuple stride) || !(a.get(3) instanceof Boolean)) {
            throw failHere("REDUCE of '" + g + "' with arguments (" + typeNames(a) + "); expected (dtype, size"
                + " tuple, stride tuple, bool)");
          }
          List<Long> shape = ints(size, "meta tensor size");
          List<Long> strides = ints(stride, "meta tensor stride");
          if (shape.size() != strides.size() || shape.size() > TorchLimits.MAX_DIMS) {
            throw failHere("meta tensor of size " + shape + " and stride " + strides + ": " + (shape.size()
                > TorchLimits.MAX_DIMS ? "over the limit of " + TorchLimits.MAX_DIMS + " dimensions"
                : "as many strides as dimensions expected"));
          }
          return new Py.MetaTensor(dt, shape, strides);
        }
        case "torch.serialization._get_layout" -> {
          // (name): the torch.layout of that name, 'torch.strided'
          if (a.size() != 1 || !(a.get(0) instanceof String n) || !n.startsWith("torch.")
              || !LAYOUTS.contains(n.substring(6))) {
            throw failHere("REDUCE of '" + g + "' with arguments (" + (a.size() == 1 && a.get(0) instanceof String n
                ? "'" + printable(n) + "'" : typeNames(a)) + "); expected the name of a torch.layout, one of "
                + new TreeSet<>(LAYOUTS).stream().map(l -> "torch." + l).toList());
          }
          return new Py.TorchConstant(n.substring(6));
        }
        case "torch.Size" -> {
          if (a.size() != 1 || !(a.get(0) instanceof Py.Tuple dims)) {
            throw failHere("REDUCE of 'torch.Size' with arguments (" + typeNames(a) + "); expected (tuple of ints)");
          }
          ints(dims, "torch.Size");
          return dims;
        }
        case "torch.device" -> {
          if (a.isEmpty() || a.size() > 2 || !(a.get(0) instanceof String type) || type.isEmpty()
              || a.size() == 2 && !(a.get(1) instanceof Long i && i >= 0)) {
            throw failHere("REDUCE of 'torch.device' with arguments (" + typeNames(a) + "); expected (type[, index])");
          }
          return a.size() == 2 ? type + ":" + a.get(1) : type;
        }
        case "builtins.set" -> {
          Py.PyList set = new Py.PyList(true);
          if (a.size() == 1 && (a.get(0) instanceof Py.PyList || a.get(0) instanceof Py.Tuple)) {
            set.items.addAll(a.get(0) instanceof Py.PyList l ? l.items : ((Py.Tuple) a.get(0)).items());
          } else if (!a.isEmpty()) {
            throw failHere("REDUCE of 'builtins.set' with arguments (" + typeNames(a) + "); expected (list)");
          }
          return set;
        }
        case "builtins.bytearray" -> {
          if (a.isEmpty()) {
            return new Py.Bytes("");
          }
          if (a.size() == 1 && a.get(0) instanceof Py.Bytes b) {
            return b;
          }
          throw failHere("REDUCE of 'builtins.bytearray' with arguments (" + typeNames(a) + "); expected (bytes)");
        }
        case "_codecs.encode" -> {
          // pickle's protocol 2 writes bytes as _codecs.encode(<the bytes as latin-1 text>, 'latin1')
          if (a.size() != 2 || !(a.get(0) instanceof String text) || !"latin1".equals(a.get(1))) {
            throw failHere("REDUCE of '_codecs.encode' with arguments (" + (a.size() == 2 && a.get(1) instanceof String
                ? typeName(a.get(0)) + ", '" + printable((String) a.get(1)) + "'" : typeNames(a))
                + "); expected (string, 'latin1'),"
                + " as pickle writes bytes");
          }
          byte[] b = new byte[text.length()];
          for (int i = 0; i < b.length; i++) {
            char c = text.charAt(i);
            if (c > 0xff) {
              throw failHere("REDUCE of '_codecs.encode' of a string with a character over U+00FF, which latin1"
                  + " cannot encode");
            }
            b[i] = (byte) c;
          }
          return new Py.Bytes(HexFormat.of().formatHex(b));
        }
        case "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct" -> {
          if (a.size() != 3 || !(a.get(0) instanceof Py.Global cls) || !cls.toString().equals("numpy.ndarray")) {
            throw failHere("REDUCE of '" + g + "' with arguments (" + typeNames(a) + "); expected (numpy.ndarray,"
                + " shape, typecode)");
          }
          return new Py.NdArray();
        }
        case "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer" -> {
          // protocol 5: (bytes, dtype, shape, 'C' or 'F')
          if (a.size() != 4 || !(a.get(0) instanceof Py.Bytes data) || !(a.get(1) instanceof Py.NpDType d) || !d.built
              || !(a.get(2) instanceof Py.Tuple shape) || !("C".equals(a.get(3)) || "F".equals(a.get(3)))) {
            throw failHere("REDUCE of '" + g + "' with arguments (" + typeNames(a) + "); expected (bytes, number"
                + " dtype, shape, 'C' or 'F')");
          }
          return fill(new Py.NdArray(), d, shape, data, "F".equals(a.get(3)));
        }
        case "numpy.dtype" -> {
          if (a.size() != 3 || !(a.get(0) instanceof String code)) {
            throw failHere("REDUCE of 'numpy.dtype' with arguments (" + typeNames(a) + "); expected (type string,"
                + " bool, bool)");
          }
          return npDType(code);
        }
        case "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar" -> {
          if (a.size() != 2 || !(a.get(0) instanceof Py.NpDType d) || !d.built || !(a.get(1) instanceof Py.Bytes b)
              || b.hex().length() != d.size * 2) {
            throw failHere("REDUCE of '" + g + "' with arguments (" + typeNames(a) + "); expected (a number dtype,"
                + " its bytes)");
          }
          return scalar(d, HexFormat.of().parseHex(b.hex()));
        }
        default -> throw failHere("REDUCE of '" + g + "': " + (g.module().equals("torch")
            ? "a storage type may only appear in a persistent id" : "it is a class, not a function Ferry reads"));
      }
    }

    /** Gives {@code arr} its dtype, shape and bytes, checked to fill the shape exactly. */
    /**
     * Gives {@code arr} its dtype, shape and bytes, which must fill the shape; the bytes of a Fortran-ordered array
     * (column-major, as numpy pickles one) are recorded in row-major order, as the value's JSON means them.
     */
    private Py.NdArray fill(Py.NdArray arr, Py.NpDType d, Py.Tuple shape, Py.Bytes data, boolean fortran)
        throws InvalidInputException {
      List<Long> dims = ints(shape, "numpy array shape");
      long n = d.size;
      try {
        for (long x : dims) {
          n = Math.multiplyExact(n, x);
        }
      } catch (ArithmeticException e) {
        throw failHere("numpy array of shape " + dims + " and dtype " + d + " overflows");
      }
      if (n != data.hex().length() / 2) {
        throw failHere("numpy array of shape " + dims + " and dtype " + d + " needs " + n + " bytes, its data has "
            + data.hex().length() / 2);
      }
      arr.dtype = d;
      arr.shape = dims;
      arr.hex = fortran && dims.size() > 1 ? rowMajor(data.hex(), dims, d.size) : data.hex();
      return arr;
    }

    /** The hex of a column-major array's elements ({@code size} bytes each) in row-major order. */
    private static String rowMajor(String hex, List<Long> dims, int size) {
      int rank = dims.size();
      long[] strides = new long[rank];
      long count = 1;
      for (int k = 0; k < rank; k++) {
        strides[k] = count;
        count *= dims.get(k);
      }
      StringBuilder out = new StringBuilder(hex.length());
      long[] index = new long[rank];
      for (long i = 0; i < count; i++) {
        long element = 0;
        for (int k = 0; k < rank; k++) {
          element += index[k] * strides[k];
        }
        int at = (int) (element * size * 2);
        out.append(hex, at, at + size * 2);
        for (int k = rank - 1; k >= 0 && ++index[k] == dims.get(k); k--) {
          index[k] = 0;
        }
      }
      return out.toString();
    }

    /** A numpy number dtype from its type string ({@code u4}, {@code f8}, {@code b1}); anything else is refused. */
    private Py.NpDType npDType(String code) throws InvalidInputException {
      if (code.length() >= 2 && "biufc".indexOf(code.charAt(0)) >= 0 && code.substring(1).matches("1|2|4|8|16")) {
        int size = Integer.parseInt(code.substring(1));
        char kind = code.charAt(0);
        boolean fits = kind == 'b' ? size == 1 : kind == 'f' ? size >= 2 && size <= 8 : kind == 'c' ? size >= 8
            : size <= 8;
        if (fits) {
          return new Py.NpDType(kind, size);
        }
      }
      throw failHere("numpy dtype '" + printable(code) + "' is not a number type (Ferry reads numpy arrays of"
          + " booleans, integers, floats and complex numbers; object and string arrays hold other pickles)");
    }

    /** An IEEE half's value, exactly (Java 17 has no {@code Float.float16ToFloat}). */
    private static double half(short h) {
      int exp = (h >>> 10) & 0x1f;
      int mant = h & 0x3ff;
      double sign = h < 0 ? -1 : 1;
      if (exp == 0x1f) {
        return mant == 0 ? sign * Double.POSITIVE_INFINITY : Double.NaN;
      }
      return sign * (exp == 0 ? Math.scalb((double) mant, -24) : Math.scalb((double) (1024 + mant), exp - 25));
    }

    /**
     * A numpy scalar's value: a bool, an integer or a float; a complex number as a {@link Py.Complex}, as Python's
     * {@code complex} is.
     */
    private Object scalar(Py.NpDType d, byte[] b) {
      ByteBuffer v = ByteBuffer.wrap(b).order(d.order == '>' ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
      switch (d.kind) {
        case 'b':
          return b[0] != 0;
        case 'f':
          return d.size == 2 ? half(v.getShort()) : d.size == 4 ? (double) v.getFloat() : v.getDouble();
        case 'c':
          return d.size == 8 ? new Py.Complex(v.getFloat(), v.getFloat())
              : new Py.Complex(v.getDouble(), v.getDouble());
        default:
          long x = d.size == 1 ? v.get() : d.size == 2 ? v.getShort() : d.size == 4 ? v.getInt() : v.getLong();
          if (d.kind == 'u') {
            return d.size == 8 && x < 0 ? new BigInteger(Long.toUnsignedString(x)) : x & (-1L >>> (64 - 8 * d.size));
          }
          return x;
      }
    }

    /**
     * A tensor from the arguments of {@code torch._utils._rebuild_tensor} {@code (storage, offset, size, stride)},
     * {@code _rebuild_tensor_v2} {@code (…, requires_grad, hooks[, metadata])} or {@code _rebuild_tensor_v3}
     * {@code (…, requires_grad, hooks, dtype[, metadata])}. A v3 tensor's offset, size and strides count elements of
     * its dtype in the storage's bytes (its storage is untyped); the others count elements of the storage's type.
     */
    private Py.Tensor tensor(Py.Global g, List<Object> a) throws InvalidInputException {
      int version = g.name().endsWith("v3") ? 3 : g.name().endsWith("v2") ? 2 : 1;
      int n = version == 1 ? 4 : version == 2 ? 6 : 7;
      boolean ok = (a.size() == n || version > 1 && a.size() == n + 1) && a.get(0) instanceof Py.Storage
          && a.get(1) instanceof Long && a.get(2) instanceof Py.Tuple && a.get(3) instanceof Py.Tuple
          && (version == 1 || a.get(4) instanceof Boolean && emptyHooks(a.get(5)))
          && (version != 3 || a.get(6) instanceof Py.TorchDType)
          && (a.size() == n || a.get(n) == Py.NONE || a.get(n) instanceof Py.Dict);
      if (!ok) {
        throw failHere("REDUCE of '" + g + "' with arguments (" + typeNames(a) + "); expected (storage, int offset,"
            + " size tuple, stride tuple" + (version == 1 ? "" : ", bool, empty OrderedDict")
            + (version == 3 ? ", dtype" : "") + (version == 1 ? "" : "[, metadata]") + ")");
      }
      // torch.load gives the conjugate or the negation of the stored values of a tensor whose metadata sets the bit
      if (a.size() > n && a.get(n) instanceof Py.Dict meta) {
        for (String bit : List.of("conj", "neg")) {
          if (Boolean.TRUE.equals(meta.map.get(bit))) {
            throw failHere("tensor metadata sets '" + bit + "': torch.load gives the " + (bit.equals("conj")
                ? "conjugate" : "negation") + " of its stored values, which Ferry does not apply (save t.resolve_"
                + bit + "() instead); " + TorchCheckpoint.OPAQUE);
          }
        }
      }
      Py.Storage s = (Py.Storage) a.get(0);
      long off = (Long) a.get(1);
      DType dtype = s.dtype();
      long capacity = s.numel();
      if (version == 3) {
        Py.TorchDType t = (Py.TorchDType) a.get(6);
        if (t.name().equals(FLOAT4_X2)) {
          return float4x2(s, off, ints((Py.Tuple) a.get(2), "tensor size"), ints((Py.Tuple) a.get(3), "tensor stride"));
        }
        if (t.tensorType() == null) {
          throw failHere("tensor of " + t + ", a type Ferry does not hold (it holds "
              + String.join(", ", new TreeMap<>(TENSOR_DTYPES).keySet()) + "); " + TorchCheckpoint.OPAQUE);
        }
        dtype = t.tensorType();
        capacity = s.dtype().byteLength(s.numel()) / (dtype.bits() / 8);
      }
      return view(s, dtype, capacity, off, ints((Py.Tuple) a.get(2), "tensor size"),
          ints((Py.Tuple) a.get(3), "tensor stride"));
    }

    /** A tensor of {@code dtype} over a storage of {@code capacity} such elements, its size and strides checked. */
    private Py.Tensor view(Py.Storage s, DType dtype, long capacity, long off, List<Long> shape, List<Long> strides)
        throws InvalidInputException {
      if (shape.size() != strides.size()) {
        throw failHere("tensor has " + shape.size() + " dimensions but " + strides.size() + " strides");
      }
      if (shape.size() > TorchLimits.MAX_DIMS) {
        throw failHere("tensor has " + shape.size() + " dimensions, over the limit of " + TorchLimits.MAX_DIMS);
      }
      if (off < 0) {
        throw failHere("tensor has the negative storage offset " + off);
      }
      long elements = 1;
      long last = off;
      try {
        for (int i = 0; i < shape.size(); i++) {
          elements = Math.multiplyExact(elements, shape.get(i));
        }
        // its bytes as one contiguous tensor (what an export writes) must be a number of bytes too
        dtype.byteLength(elements);
        if (elements > 0) {
          for (int i = 0; i < shape.size(); i++) {
            last = Math.addExact(last, Math.multiplyExact(shape.get(i) - 1, strides.get(i)));
          }
          dtype.byteLength(Math.addExact(last, 1));
        }
      } catch (ArithmeticException e) {
        throw failHere("tensor of size " + shape + " and stride " + strides + " overflows");
      }
      if (elements == 0) {
        // no bytes: torch loads an empty tensor whose offset lies past its storage's end (Tensor.set_ makes one); its
        // place in the storage is read as the storage's end, so that its byte range is empty and inside the file
        return new Py.Tensor(s, dtype, Math.min(off, capacity), shape, strides);
      }
      long end = last + 1;
      if (end > capacity) {
        throw failHere("tensor of size " + shape + ", stride " + strides + " and offset " + off + " reaches element "
            + end + " of storage '" + s.key() + "', which has " + capacity + " elements"
            + (dtype != s.dtype() ? " of " + dtype : ""));
      }
      return new Py.Tensor(s, dtype, off, shape, strides);
    }

    /**
     * A {@code torch.float4_e2m1fn_x2} tensor (one byte holds two FP4 values) as the F4
     * tensor of the same bytes: its last dimension doubled (a scalar becomes {@code [2]}), offset and strides counted
     * in F4 elements, as safetensors writes such a tensor. Only a contiguous one can be laid out so: in a view whose
     * bytes are not one row-major run the two values of a byte are not F4 elements with strides.
     */
    private Py.Tensor float4x2(Py.Storage s, long off, List<Long> shape, List<Long> strides)
        throws InvalidInputException {
      Py.Tensor bytes = view(s, DType.U8, s.dtype().byteLength(s.numel()), off, shape, strides);
      if (!bytes.contiguous()) {
        throw failHere("tensor of torch." + FLOAT4_X2 + " with size " + shape + " and stride " + strides + " is not"
            + " contiguous; Ferry reads such a tensor as F4 with its last dimension doubled, which only a contiguous"
            + " one can be; " + TorchCheckpoint.OPAQUE);
      }
      List<Long> f4 = new ArrayList<>(shape.isEmpty() ? List.of(1L) : shape);
      f4.set(f4.size() - 1, f4.get(f4.size() - 1) * 2);
      return view(s, DType.F4, 2 * s.dtype().byteLength(s.numel()), 2 * off, f4,
          TorchZipWriter.contiguousStrides(f4));
    }

    private List<Long> ints(Py.Tuple t, String what) throws InvalidInputException {
      List<Long> out = new ArrayList<>();
      for (Object o : t.items()) {
        if (!(o instanceof Long l) || l < 0) {
          throw failHere(what + " holds " + (o instanceof Long ? o : typeName(o))
              + ", expected integers >= 0");
        }
        out.add(l);
      }
      return out;
    }

    private static boolean emptyHooks(Object o) {
      return o instanceof Py.Dict d && d.map.isEmpty();
    }

    /**
     * The tensor with the attributes {@code state} gives it, as torch's {@code _set_obj_state} sets them: None, a
     * dict of attributes, or a pair (dict or None, dict of slots or None); names must be strings, as
     * {@code setattr} requires. Without attributes, the tensor itself.
     */
    private Object withState(Py.Global g, Object tensor, Object state) throws InvalidInputException {
      List<Object> parts = state instanceof Py.Tuple t ? t.items() : List.of(state);
      Py.Dict attributes = new Py.Dict(false);
      boolean ok = parts.size() == (state instanceof Py.Tuple ? 2 : 1);
      for (Object part : parts) {
        if (part instanceof Py.Dict d && !d.ordered) {
          for (Map.Entry<Object, Object> e : d.map.entrySet()) {
            if (!(e.getKey() instanceof String)) {
              throw failHere("REDUCE of '" + g + "' sets an attribute named by " + typeName(e.getKey())
                  + " (attribute names are strings)");
            }
            attributes.map.put(e.getKey(), e.getValue());
          }
        } else {
          ok &= part == Py.NONE;
        }
      }
      if (!ok) {
        throw failHere("REDUCE of '" + g + "' with the state " + typeName(state) + "; expected None, a dict of"
            + " attributes or a pair (dict, dict of slots)");
      }
      return attributes.map.isEmpty() ? tensor : new Py.Attributed(tensor, attributes);
    }

    private void build(Object target, Object state) throws InvalidInputException {
      if (target instanceof Py.NpDType d && !d.built) {
        // (version, byte order, subarray, names, fields, element size, alignment, flags): a number type's
        if (!(state instanceof Py.Tuple t) || t.items().size() < 8 || !(t.items().get(1) instanceof String order)
            || order.length() != 1 || "<>|=".indexOf(order.charAt(0)) < 0 || t.items().get(2) != Py.NONE
            || t.items().get(3) != Py.NONE || t.items().get(4) != Py.NONE) {
          throw failHere("BUILD of a numpy dtype with " + typeName(state) + " that is not a number type's state");
        }
        d.order = order.charAt(0) == '=' ? '<' : order.charAt(0);
        d.built = true;
        return;
      }
      if (target instanceof Py.NdArray arr && !arr.built()) {
        // (version, shape, dtype, Fortran order, data)
        List<Object> it = state instanceof Py.Tuple t ? t.items() : List.of();
        if (it.size() != 5 || !(it.get(1) instanceof Py.Tuple shape) || !(it.get(2) instanceof Py.NpDType d) || !d.built
            || !(it.get(3) instanceof Boolean) || !(it.get(4) instanceof Py.Bytes data)) {
          throw failHere("BUILD of a numpy array with " + typeName(state) + " (" + (it.isEmpty() ? "" : typeNames(it))
              + "); expected (version, shape, number dtype, bool, bytes)");
        }
        fill(arr, d, shape, data, (Boolean) it.get(3));
        return;
      }
      // OrderedDict.__reduce__ hands the instance's __dict__ (a state dict's _metadata) to BUILD: kept as data only
      if (target instanceof Py.Dict d && d.ordered && state instanceof Py.Dict s) {
        for (Object k : s.map.keySet()) {
          if (!(k instanceof String)) {
            throw failHere("BUILD of an OrderedDict with an attribute named by " + typeName(k));
          }
        }
        return;
      }
      throw failHere("BUILD of " + typeName(target) + " with " + typeName(state)
          + " (only an OrderedDict's attributes may be set)");
    }

    private Py.Storage persistent(Object pid) throws InvalidInputException {
      int size = legacy ? 6 : 5;
      if (!(pid instanceof Py.Tuple t) || t.items().size() != size || !"storage".equals(t.items().get(0))
          || !(t.items().get(1) instanceof Py.Global type) || !(t.items().get(2) instanceof String key)
          || !(t.items().get(3) instanceof String location) || !(t.items().get(4) instanceof Long numel)) {
        throw failHere("persistent id " + (pid instanceof Py.Tuple t2 ? "(" + typeNames(t2.items()) + ")"
            : typeName(pid)) + " is not ('storage', torch.<Type>Storage, key, location, size" + (legacy ? ", None"
            : "") + ")");
      }
      if (legacy && t.items().get(5) != Py.NONE) {
        throw failHere("persistent id of storage '" + printable(key) + "' is a view of another storage (view"
            + " metadata " + typeName(t.items().get(5)) + "), which Ferry does not read");
      }
      boolean untyped = type.name().equals(UNTYPED_STORAGE)
          && (type.module().equals("torch") || type.module().equals(UNTYPED_STORAGE_MODULE));
      if (untyped && legacy) {
        // torch 2's legacy writer gives a storage of a type without a typed storage class (uint16, float8...) so,
        // and its loader then asks that class for a dtype it does not have
        throw failHere("storage '" + printable(key) + "' is a torch.storage.UntypedStorage, which torch.save writes"
            + " in the legacy format (_use_new_zipfile_serialization=False) for a tensor of uint16, uint32, uint64"
            + " or a float8 type, or for a storage saved alone, and which torch.load cannot read back either; save it"
            + " again in torch.save's default (zip) format, or " + TorchCheckpoint.OPAQUE);
      }
      DType dtype = untyped ? DType.U8
          : type.module().equals("torch") ? STORAGE_TYPES.get(type.name()) : null;
      if (dtype == null) {
        throw failHere("persistent id names '" + type + "', not a storage type");
      }
      if (!STORAGE_KEY.matcher(key).matches()) {
        throw failHere("storage key '" + printable(key) + "' is not 1-64 letters, digits or '_'");
      }
      if (numel < 0) {
        throw failHere("storage '" + key + "' has the negative size " + numel);
      }
      try {
        dtype.byteLength(numel);
      } catch (ArithmeticException e) {
        throw failHere("storage '" + key + "' of " + numel + " elements overflows");
      }
      Py.Storage s = new Py.Storage(key, dtype, numel, printable(location));
      Py.Storage before = storages.putIfAbsent(key, s);
      if (before != null && (before.dtype() != dtype || before.numel() != numel)) {
        throw failHere("storage '" + key + "' is named as " + numel + " elements of " + dtype + " here and as "
            + before.numel() + " elements of " + before.dtype() + " before");
      }
      return before != null ? before : s;
    }
  }

  // --- messages --------------------------------------------------------------------------------------------------

  static String typeName(Object o) {
    if (o == Py.NONE) {
      return "None";
    }
    if (o instanceof Py.Global g) {
      return "global '" + g + "'";
    }
    if (o instanceof Py.Dict d) {
      return d.ordered ? "an OrderedDict" : "a dict";
    }
    if (o instanceof Py.PyList l) {
      return l.set ? "a set" : "a list";
    }
    if (o instanceof Py.TorchDType t) {
      return "dtype '" + t + "'";
    }
    if (o instanceof Py.NdArray) {
      return "a numpy array";
    }
    if (o instanceof Py.NpDType) {
      return "a numpy dtype";
    }
    if (o instanceof Py.Tuple) {
      return "a tuple";
    }
    if (o instanceof Py.Tensor) {
      return "a tensor";
    }
    if (o instanceof Py.MetaTensor) {
      return "a meta tensor";
    }
    if (o instanceof Py.Attributed) {
      return "a tensor with attributes";
    }
    if (o instanceof Py.Complex) {
      return "a complex";
    }
    if (o instanceof Py.TorchConstant c) {
      return "'" + c + "'";
    }
    if (o instanceof Py.Storage) {
      return "a storage";
    }
    if (o instanceof String) {
      return "a string";
    }
    if (o instanceof Long || o instanceof BigInteger) {
      return "an int";
    }
    if (o instanceof Double) {
      return "a float";
    }
    if (o instanceof Boolean) {
      return "a bool";
    }
    if (o instanceof Py.Bytes) {
      return "bytes";
    }
    return o.getClass().getSimpleName();
  }

  private static String typeNames(List<Object> a) {
    List<String> out = new ArrayList<>();
    for (Object o : a) {
      out.add(typeName(o));
    }
    return String.join(", ", out);
  }

  static String printable(String s) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < s.length() && i < 200; i++) {
      char c = s.charAt(i);
      b.append(c >= 0x20 && c < 0x7f ? String.valueOf(c) : String.format("\\u%04x", (int) c));
    }
    return s.length() > 200 ? b + "..." : b.toString();
  }

  private static String name(int op) {
    String n = OPCODES.get(op);
    return n != null ? n : String.format("0x%02x", op);
  }

  private static Map<Integer, String> opcodeNames() {
    Map<Integer, String> m = new HashMap<>();
    String[] pairs = {"(", "MARK", ".", "STOP", "0", "POP", "1", "POP_MARK", "2", "DUP", "F", "FLOAT", "I", "INT",
        "J", "BININT", "K", "BININT1", "L", "LONG", "M", "BININT2", "N", "NONE", "P", "PERSID", "Q", "BINPERSID",
        "R", "REDUCE", "S", "STRING", "T", "BINSTRING", "U", "SHORT_BINSTRING", "V", "UNICODE", "X", "BINUNICODE",
        "a", "APPEND", "b", "BUILD", "c", "GLOBAL", "d", "DICT", "}", "EMPTY_DICT", "e", "APPENDS", "g", "GET",
        "h", "BINGET", "i", "INST", "j", "LONG_BINGET", "l", "LIST", "]", "EMPTY_LIST", "o", "OBJ", "p", "PUT",
        "q", "BINPUT", "r", "LONG_BINPUT", "s", "SETITEM", "t", "TUPLE", ")", "EMPTY_TUPLE", "u", "SETITEMS",
        "G", "BINFLOAT", "B", "BINBYTES", "C", "SHORT_BINBYTES"};
    for (int i = 0; i < pairs.length; i += 2) {
      m.put((int) pairs[i].charAt(0), pairs[i + 1]);
    }
    String[] high = {"PROTO", "NEWOBJ", "EXT1", "EXT2", "EXT4", "TUPLE1", "TUPLE2", "TUPLE3", "NEWTRUE", "NEWFALSE",
        "LONG1", "LONG4", "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES8", "EMPTY_SET", "ADDITEMS", "FROZENSET",
        "NEWOBJ_EX", "STACK_GLOBAL", "MEMOIZE", "FRAME", "BYTEARRAY8", "NEXT_BUFFER", "READONLY_BUFFER"};
    for (int i = 0; i < high.length; i++) {
      m.put(0x80 + i, high[i]);
    }
    return Map.copyOf(m);
  }
}
