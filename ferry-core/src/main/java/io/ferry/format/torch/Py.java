package io.ferry.format.torch;

import io.ferry.format.DType;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The values {@link Unpickler} builds: plain data, never an object of a class the pickle names. Python's {@code int}
 * is a {@link Long} (or a {@link java.math.BigInteger} when it does not fit), {@code float} a {@link Double},
 * {@code str} a {@link String}, {@code bool} a {@link Boolean}, {@code None} {@link #NONE}; containers, storages and
 * tensors are the types below. Containers compare by identity (as Python objects do), so that a cyclic or deeply
 * nested pickle cannot make {@code equals}, {@code hashCode} or {@code toString} recurse.
 */
public final class Py {
  /** Python's {@code None}. */
  public static final Object NONE = new Object() {
    @Override
    public String toString() {
      return "None";
    }
  };

  private Py() {}

  /** A {@code bytes} value (hex for messages and metadata). */
  public record Bytes(String hex) {
    public Bytes {
      Objects.requireNonNull(hex, "hex");
    }
  }

  /** A tuple: immutable once built. */
  public static final class Tuple {
    private final List<Object> items;

    Tuple(List<Object> items) {
      this.items = Collections.unmodifiableList(new ArrayList<>(items));
    }

    /** The items, in order. */
    public List<Object> items() {
      return items;
    }

    @Override
    public String toString() {
      return "tuple of " + items.size();
    }
  }

  /**
   * A tuple used as a dict key: its items (strings, integers, booleans, None, such tuples), and equal to another as
   * Python compares them ({@code (1, 'a')} and {@code (True, 'a')} are one key), so that a dict holds one entry where
   * Python's does.
   */
  public static final class TupleKey {
    private final List<Object> items;
    private final List<Object> compared;

    TupleKey(List<Object> items, List<Object> compared) {
      this.items = List.copyOf(items);
      this.compared = List.copyOf(compared);
    }

    /** The items, in order, as the pickle gave them (a nested tuple as a {@code TupleKey}). */
    public List<Object> items() {
      return items;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof TupleKey t && compared.equals(t.compared);
    }

    @Override
    public int hashCode() {
      return compared.hashCode();
    }

    @Override
    public String toString() {
      return "tuple key of " + items.size();
    }
  }

  /**
   * A list, filled by {@code APPEND}/{@code APPENDS} while the pickle runs; or a {@code set} or {@code frozenset}
   * (filled by {@code ADDITEMS}, or built by {@code FROZENSET} or {@code builtins.set}), kept as its items in the
   * pickle's order: Ferry only records such values, it never looks anything up in them.
   */
  public static final class PyList {
    final List<Object> items = new ArrayList<>();
    final boolean set;

    PyList() {
      this(false);
    }

    PyList(boolean set) {
      this.set = set;
    }

    /** Whether it was pickled as a {@code set} or {@code frozenset}. */
    public boolean set() {
      return set;
    }

    /** The items, in order. */
    public List<Object> items() {
      return Collections.unmodifiableList(items);
    }

    @Override
    public String toString() {
      return (set ? "set of " : "list of ") + items.size();
    }
  }

  /** A dict or {@code collections.OrderedDict}; keys are strings, integers, booleans or None, in insertion order. */
  public static final class Dict {
    final Map<Object, Object> map = new LinkedHashMap<>();
    final boolean ordered;

    Dict(boolean ordered) {
      this.ordered = ordered;
    }

    /** The entries in insertion order. */
    public Map<Object, Object> map() {
      return Collections.unmodifiableMap(map);
    }

    /** Whether it was built as a {@code collections.OrderedDict}. */
    public boolean ordered() {
      return ordered;
    }

    @Override
    public String toString() {
      return (ordered ? "OrderedDict" : "dict") + " of " + map.size();
    }
  }

  /** A global of the allow-list, as {@code GLOBAL} or {@code STACK_GLOBAL} loaded it: a name, nothing imported. */
  public record Global(String module, String name) {
    @Override
    public String toString() {
      return module + "." + name;
    }
  }

  /**
   * A numpy dtype as a pickle builds it ({@code numpy.dtype('u4', False, True)}, then {@code BUILD} with its byte
   * order): a number type only ({@code b i u f c} kinds, and bool).
   */
  public static final class NpDType {
    final char kind;
    final int size;
    char order = '|';
    boolean built;

    NpDType(char kind, int size) {
      this.kind = kind;
      this.size = size;
    }

    /** numpy's type string, {@code <u4}. */
    @Override
    public String toString() {
      return "" + order + kind + size;
    }
  }

  /**
   * A numpy array as a pickle builds it ({@code numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')}, then
   * {@code BUILD} with its shape, dtype and bytes): what numpy's random state (a training checkpoint's
   * {@code rng_state.pth}) holds. Recorded as its dtype, shape and bytes in hex.
   */
  public static final class NdArray {
    NpDType dtype;
    List<Long> shape;
    String hex;

    /** Whether {@code BUILD} gave it its contents. */
    boolean built() {
      return hex != null;
    }
  }

  /**
   * A {@code torch.dtype} as a value ({@code torch.bfloat16}, pickled as the global of that name): recorded as its
   * name, and the element type of a {@code _rebuild_tensor_v3} tensor.
   *
   * @param name the name after {@code torch.} ({@code bfloat16})
   * @param tensorType the element type a tensor of it has in Ferry, or null when Ferry has none (complex32, the
   *     quantized and bit types)
   */
  public record TorchDType(String name, DType tensorType) {
    public TorchDType {
      Objects.requireNonNull(name, "name");
    }

    @Override
    public String toString() {
      return "torch." + name;
    }
  }

  /**
   * A {@code torch.layout} ({@code torch.strided}) or {@code torch.qscheme} ({@code torch.per_tensor_affine}) as a
   * value, recorded by name.
   *
   * @param name its name in module {@code torch}
   */
  public record TorchConstant(String name) {
    public TorchConstant {
      Objects.requireNonNull(name, "name");
    }

    @Override
    public String toString() {
      return "torch." + name;
    }
  }

  /**
   * A tensor on torch's {@code meta} device ({@code torch._utils._rebuild_meta_tensor_no_storage}): a dtype, a size
   * and strides, and no bytes. Ferry records it as a value, not a tensor of the file.
   *
   * @param dtype its element type, any torch dtype
   * @param shape its size
   * @param strides its strides, in elements
   */
  public record MetaTensor(TorchDType dtype, List<Long> shape, List<Long> strides) {
    public MetaTensor {
      Objects.requireNonNull(dtype, "dtype");
      shape = List.copyOf(shape);
      strides = List.copyOf(strides);
    }
  }

  /**
   * A tensor or parameter with Python attributes ({@code p.tag = 3}): torch pickles it with
   * {@code torch._utils._rebuild_parameter_with_state} or {@code torch._tensor._rebuild_from_type_v2} and its
   * {@code __dict__} (and slots) as state, which {@code torch.load} sets on the tensor. Ferry records the attributes
   * as the values (or tensors) {@code NAME.__dict__.ATTRIBUTE}.
   *
   * @param tensor a {@link Tensor} or a {@link MetaTensor}
   * @param attributes its attributes by name (a dict with string keys, not empty)
   */
  public record Attributed(Object tensor, Dict attributes) {
    public Attributed {
      Objects.requireNonNull(tensor, "tensor");
      Objects.requireNonNull(attributes, "attributes");
    }
  }

  /**
   * Python's {@code complex} ({@code builtins.complex(real, imag)}, as pickle writes it): recorded as JSON
   * {@code {"complex":[real,imag]}}.
   *
   * @param real its real part
   * @param imag its imaginary part
   */
  public record Complex(double real, double imag) {}

  /**
   * A storage named by a persistent id {@code ('storage', torch.<Type>Storage, key, location, numel)}: entry
   * {@code <root>/data/<key>} of the archive holds its {@code numel} elements of {@code dtype}.
   */
  public record Storage(String key, DType dtype, long numel, String location) {}

  /**
   * A tensor as {@code torch._utils._rebuild_tensor_v2} (or {@code _v3}, {@code _rebuild_tensor}) describes it: a
   * view of {@code storage} from element {@code offset}, with {@code shape} and {@code strides} in elements of
   * {@code dtype}, all validated to lie inside the storage. {@code dtype} is the storage's own type, except for a
   * {@code _rebuild_tensor_v3} tensor (torch's newer types: float8, uint16/32/64), whose storage is untyped bytes.
   */
  public record Tensor(Storage storage, DType dtype, long offset, List<Long> shape, List<Long> strides) {
    public Tensor {
      Objects.requireNonNull(dtype, "dtype");
      shape = List.copyOf(shape);
      strides = List.copyOf(strides);
    }

    /** The number of elements (1 for a scalar). Never overflows: the unpickler checked it. */
    public long elements() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }

    /** Whether the elements are the row-major run {@code [offset, offset + elements)} of the storage. */
    public boolean contiguous() {
      long expect = 1;
      for (int i = shape.size() - 1; i >= 0; i--) {
        long d = shape.get(i);
        if (d == 0) {
          return true;
        }
        if (d != 1 && strides.get(i) != expect) {
          return false;
        }
        expect *= d;
      }
      return true;
    }

    /** One past the highest element index the tensor touches in its storage ({@code offset} when it is empty). */
    public long endElement() {
      if (elements() == 0) {
        return offset;
      }
      long last = offset;
      for (int i = 0; i < shape.size(); i++) {
        last += (shape.get(i) - 1) * strides.get(i);
      }
      return last + 1;
    }
  }
}
