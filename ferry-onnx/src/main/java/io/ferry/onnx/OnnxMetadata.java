package io.ferry.onnx;

import io.ferry.format.DType;
import io.ferry.format.FormatMetadata;
import io.ferry.limits.Limits;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * What an ONNX file says besides the tensors in it: the model's header fields, its opsets and metadata properties,
 * how many initializers it has, and the initializers whose data lies in other files. Immutable.
 *
 * <p>The snapshot records {@link #asStrings()}, sorted by key: {@code ir_version}, {@code opset_import}
 * ({@code ai.onnx=17, com.microsoft=1}), {@code producer_name}, {@code producer_version}, {@code domain},
 * {@code model_version} where the model sets them, {@code metadata_props.KEY} for each metadata property,
 * {@code initializers} (the graph's initializers), {@code initializers.unlisted} (those not listed as tensors of the
 * file: data in varint-encoded typed fields, element types Ferry has no dtype for, segments) and, for each initializer
 * in an external file, {@code external.NAME} = {@code DTYPE [dims] in LOCATION at OFFSET+LENGTH}: for as many as
 * the metadata map has room for (and whose key is not too long, {@link Limits}), the others counted in
 * {@code externals.unrecorded}. A file with initializers below the main graph (of the subgraphs of {@code If},
 * {@code Loop} or {@code Scan} nodes) or with sparse initializers, which are not listed as tensors, records
 * {@code initializers.below} (how many) and {@code below.NAME} = where each one named so is ({@code an initializer of
 * subgraph then_branch of node 'if0' (If)}; several with one name, as two branches may have, joined by "; "), with
 * the same room, the others counted in {@code initializers.below.unrecorded}; a file without any records none of
 * these keys.
 *
 * @param header the model's header fields as text, by key (as above), without the graph
 * @param initializers how many initializers the main graph has
 * @param unlisted how many of them are not tensor regions of this file nor external
 * @param external the initializers whose data is in another file, in file order
 * @param below the initializers of subgraphs and the sparse initializers, in file order
 */
public record OnnxMetadata(Map<String, String> header, int initializers, int unlisted, List<External> external,
    List<Below> below) implements FormatMetadata {
  /**
   * An initializer that is not listed as a tensor because it is not one of the main graph's: a subgraph's, or a
   * sparse initializer (named by its values). ONNX does not name these uniquely: two branches of an {@code If} may
   * each have an initializer {@code c}, and one may have the name of the main graph's.
   *
   * @param name its name
   * @param where what it is and where it lies, as a message says it ({@code a sparse initializer of the main graph})
   */
  public record Below(String name, String where) {
    /** @throws NullPointerException if name or where is null */
    public Below {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(where, "where");
    }
  }

  /** Metadata without initializers below the main graph. */
  public OnnxMetadata(Map<String, String> header, int initializers, int unlisted, List<External> external) {
    this(header, initializers, unlisted, external, List.of());
  }

  /**
   * An initializer whose data lies in another file of the model.
   *
   * @param name the initializer's name
   * @param dtype its element type, or null for an ONNX type Ferry has no dtype for (its data is still checked to be
   *     a file of the model)
   * @param shape its dimensions
   * @param location the file, relative to the directory of the {@code .onnx} file, '/'-separated, checked to stay
   *     inside it
   * @param offset where its bytes start in that file
   * @param length how many bytes: the byte length of its shape and type; for an initializer whose type has no dtype,
   *     its {@code length} entry (not recorded in {@link #asStrings()}, as before it was checked), -1 if it has none
   * @param initializer true for an initializer of the main graph; false for a tensor below it (a node's attribute,
   *     a subgraph's initializer, a sparse tensor's values or indices), named by its byte offset in the file and
   *     recorded without a dtype: its data is checked to lie in the model, not cut into tensors
   * @param what how errors name a tensor below the main graph, as the reader's checks of it do ({@code initializer
   *     'c' of subgraph then_branch of node 'if0' (If), at byte 120}); null gives {@code tensor NAME}. An initializer
   *     of the main graph is always named {@code initializer 'w'}, whatever is given
   */
  public record External(String name, DType dtype, List<Long> shape, String location, long offset, long length,
      boolean initializer, String what) {
    /**
     * @throws NullPointerException if name, shape or location is null
     * @throws IllegalArgumentException if offset is negative or length below -1
     */
    public External {
      Objects.requireNonNull(name, "name");
      shape = List.copyOf(shape);
      Objects.requireNonNull(location, "location");
      if (offset < 0 || length < -1) {
        throw new IllegalArgumentException("initializer '" + name + "': offset " + offset + ", length " + length
            + ": expected offset >= 0 and length >= -1");
      }
      if (initializer || what == null) {
        what = initializer ? "initializer '" + name + "'" : "tensor " + name;
      }
    }

    /** As the canonical constructor, naming it in errors by its role and {@code name}. */
    public External(String name, DType dtype, List<Long> shape, String location, long offset, long length,
        boolean initializer) {
      this(name, dtype, shape, location, offset, length, initializer, null);
    }

    /** An initializer of the main graph. */
    public External(String name, DType dtype, List<Long> shape, String location, long offset, long length) {
      this(name, dtype, shape, location, offset, length, true);
    }

    String describe() {
      return (dtype == null ? "(no dtype)" : dtype.name()) + " " + shape + " in " + location + " at " + offset
          + (length < 0 || initializer && dtype == null ? "" : "+" + length);
    }
  }

  /**
   * Copies the collections.
   *
   * @throws IllegalArgumentException if a count is negative or more initializers are unlisted than exist
   */
  public OnnxMetadata {
    header = Collections.unmodifiableMap(new TreeMap<>(header));
    external = List.copyOf(external);
    below = List.copyOf(below);
    if (initializers < 0 || unlisted < 0 || unlisted > initializers) {
      throw new IllegalArgumentException(initializers + " initializers, " + unlisted + " unlisted: expected "
          + "0 <= unlisted <= initializers");
    }
  }

  /** The key that counts the tensors with external data {@link #asStrings()} has no {@code external.NAME} for. */
  static final String UNRECORDED = "externals.unrecorded";

  /**
   * The key that names the {@code external_data} keys of the file's tensors that onnx.proto does not list (other than
   * location, offset, length, checksum and onnxruntime's {@code ort_prepacked*}), with the first tensor having each.
   */
  public static final String UNRECOGNIZED_KEYS = "external_data.unrecognized_keys";

  /** The prefix of the keys that say where an initializer below the main graph is. */
  public static final String BELOW = "below.";

  @Override
  public Map<String, String> asStrings() {
    Map<String, String> m = new TreeMap<>(header);
    m.put("initializers", Integer.toString(initializers));
    m.put("initializers.unlisted", Integer.toString(unlisted));
    // within the limits a push checks metadata against: a model with more external tensors than the map may hold
    // entries (or a name too long for a key) was refused; those past the room left are counted, not described
    boolean all = m.size() + external.size() <= Limits.MAX_METADATA_ENTRIES;
    int room = Limits.MAX_METADATA_ENTRIES - m.size() - 1;
    int left = 0;
    for (External e : external) {
      String key = "external." + (e.initializer() ? e.name() : "tensor " + e.name());
      if (key.length() <= Limits.MAX_KEY_CHARS && (all || room-- > 0)) {
        m.put(key, e.describe());
      } else {
        left++;
      }
    }
    if (left > 0) {
      m.put(UNRECORDED, left + " more tensors with external data (their files are checked and cut as for the others;"
          + " the metadata holds at most " + Limits.MAX_METADATA_ENTRIES + " entries and keys of "
          + Limits.MAX_KEY_CHARS + " characters)");
    }
    if (!below.isEmpty()) {
      m.put("initializers.below", Integer.toString(below.size()));
      Map<String, String> where = new TreeMap<>();
      for (Below b : below) {
        where.merge(BELOW + b.name(), b.where(), (x, y) -> x.length() > 4096 ? x : x + "; " + y);
      }
      int room2 = Limits.MAX_METADATA_ENTRIES - m.size() - 1;
      int left2 = 0;
      for (Map.Entry<String, String> e : where.entrySet()) {
        if (e.getKey().length() <= Limits.MAX_KEY_CHARS && room2-- > 0) {
          m.put(e.getKey(), e.getValue());
        } else {
          left2++;
        }
      }
      if (left2 > 0) {
        m.put("initializers.below.unrecorded", left2 + " more names of initializers below the main graph (the"
            + " metadata holds at most " + Limits.MAX_METADATA_ENTRIES + " entries and keys of " + Limits.MAX_KEY_CHARS
            + " characters)");
      }
    }
    return Collections.unmodifiableMap(m);
  }
}
