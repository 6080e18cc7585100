package io.ferry.derive;

import io.ferry.limits.Limits;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.id.ChunkId;
import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.version.Derivation;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * What a derivation did, tensor by tensor: the record stored as {@value #FILE} in every derived version (format
 * {@value #FORMAT}, described in {@code docs/derivations.md}). {@link #toJson()} and {@link #fromJson} are its one
 * codec: a report read back from the bytes it wrote is equal to it, and the bytes are deterministic (the same
 * derivation of the same source gives the same bytes, so the same snapshot). Immutable.
 *
 * @param method the derivation method ({@code cast}, {@code quantize}, {@code dequantize}, {@code prune})
 * @param parameters the method's parameters ({@link DeriveSpec#parameters()})
 * @param source the version derived from
 * @param sourceModel its model
 * @param comparedWith the version the error was measured against when it is not the source (a dequantization
 *     measures against the version that was quantized), or null
 * @param overall the metrics over every changed tensor together
 * @param tensors one entry per source tensor, in file order (tensors that another one absorbs, such as the scales of
 *     a dequantized tensor, have none)
 * @param keptFiles the tensor files of the source that are not safetensors (a {@code pytorch_model.bin} beside a
 *     {@code model.safetensors}), which the derived version holds as they are, by path in snapshot order, each with
 *     the reason; written as {@code kept_files} when there are any
 */
public record DerivationReport(String method, Map<String, String> parameters, ChunkId source, String sourceModel,
    ChunkId comparedWith, MetricFigures overall, List<TensorReport> tensors, Map<String, String> keptFiles) {
  /** Name of the report file in a derived version. */
  public static final String FILE = "ferry-derivation.json";
  /** Format name written in the report. */
  public static final String FORMAT = "ferry-derivation/1";
  /**
   * Parameters that a derivation record ({@link #derivation()}) holds besides the method's own: counts of changed
   * and kept tensors, the report's file name, and the version compared with.
   */
  public static final Set<String> RECORD_PARAMETERS = Set.of("tensors_changed", "tensors_kept", "details",
      "compared_with");

  private static final ObjectMapper JSON = Limits.jsonMapperBuilder().enable(SerializationFeature.INDENT_OUTPUT)
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

  /** Checks for nulls and copies the collections (order kept). */
  public DerivationReport {
    Objects.requireNonNull(method, "method");
    parameters = Collections.unmodifiableMap(new LinkedHashMap<>(Objects.requireNonNull(parameters, "parameters")));
    Objects.requireNonNull(source, "source");
    Objects.requireNonNull(sourceModel, "sourceModel");
    Objects.requireNonNull(overall, "overall");
    tensors = List.copyOf(tensors);
    keptFiles = Collections.unmodifiableMap(new LinkedHashMap<>(Objects.requireNonNull(keptFiles, "keptFiles")));
  }

  /** A report of a source with no tensor file other than safetensors. */
  public DerivationReport(String method, Map<String, String> parameters, ChunkId source, String sourceModel,
      ChunkId comparedWith, MetricFigures overall, List<TensorReport> tensors) {
    this(method, parameters, source, sourceModel, comparedWith, overall, tensors, Map.of());
  }

  /** Tensors the derivation changed. */
  public long changedCount() {
    return tensors.stream().filter(TensorReport::changed).count();
  }

  /**
   * The derivation record of the version that holds this report: the method, its parameters plus {@link
   * #RECORD_PARAMETERS}, the source's id and the overall figures.
   */
  public Derivation derivation() {
    Map<String, String> params = new LinkedHashMap<>(parameters);
    long changed = changedCount();
    params.put("tensors_changed", Long.toString(changed));
    params.put("tensors_kept", Long.toString(tensors.size() - changed));
    params.put("details", FILE);
    if (comparedWith != null) {
      params.put("compared_with", comparedWith.hex());
    }
    return new Derivation(method, params, source.hex(), overall.figures());
  }

  // ------------------------------------------------------------------ the codec

  /** The report as stored: indented UTF-8 JSON ending with a newline. */
  public byte[] toJson() {
    ObjectNode root = JSON.createObjectNode();
    root.put("format", FORMAT).put("method", method);
    ObjectNode params = root.putObject("parameters");
    parameters.forEach(params::put);
    root.put("source", source.hex()).put("source_model", sourceModel);
    if (comparedWith != null) {
      root.put("compared_with", comparedWith.hex());
    }
    writeMetrics(root.putObject("overall"), overall);
    ArrayNode ts = root.putArray("tensors");
    for (TensorReport r : tensors) {
      ObjectNode n = ts.addObject().put("name", r.name()).put("action", r.action().label());
      if (r.reason() != null) {
        n.put("reason", r.reason());
      }
      n.put("source_dtype", r.sourceDtype().name());
      ArrayNode shape = n.putArray("shape");
      r.shape().forEach(shape::add);
      if (r.changed()) {
        ArrayNode outs = n.putArray("outputs");
        for (TensorReport.Output o : r.outputs()) {
          ArrayNode os = outs.addObject().put("name", o.name()).put("dtype", o.dtype().name()).putArray("shape");
          o.shape().forEach(os::add);
        }
        if (!r.compared()) {
          n.put("compared", false);
        }
        writeMetrics(n.putObject("metrics"), r.metrics());
      }
    }
    if (!keptFiles.isEmpty()) {
      ObjectNode kept = root.putObject("kept_files");
      keptFiles.forEach(kept::put);
    }
    try {
      return (JSON.writeValueAsString(root) + "\n").getBytes(StandardCharsets.UTF_8);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("a tree of strings and numbers could not be written as JSON", e);
    }
  }

  /**
   * Reads a report written by {@link #toJson()}. A kept tensor's outputs are the tensor itself, as when it was
   * written.
   *
   * @param where what the bytes are, for messages (e.g. {@code m@1a2b3c4d5e6f//ferry-derivation.json})
   * @throws InvalidInputException naming {@code where} and the defect, if the bytes are not JSON, not of format
   *     {@value #FORMAT}, or miss or mistype a field
   */
  public static DerivationReport fromJson(byte[] json, String where) throws InvalidInputException {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (java.io.IOException e) {
      throw new InvalidInputException(where + ": not valid JSON: " + io.ferry.limits.JsonTree.problem(e), e);
    }
    Reader r = new Reader(where);
    if (root == null || !root.isObject()) {
      throw new InvalidInputException(where + ": not a JSON object");
    }
    String format = r.text(root, "format", "");
    if (!format.equals(FORMAT)) {
      throw new InvalidInputException(where + ": format is '" + format + "', expected " + FORMAT);
    }
    Map<String, String> params = new LinkedHashMap<>();
    JsonNode p = r.object(root, "parameters", "");
    for (var it = p.fields(); it.hasNext(); ) {
      var e = it.next();
      params.put(e.getKey(), r.text(p, e.getKey(), "parameters: "));
    }
    ChunkId comparedWith = root.has("compared_with") ? r.id(root, "compared_with") : null;
    List<TensorReport> tensors = new ArrayList<>();
    JsonNode ts = root.get("tensors");
    if (ts == null || !ts.isArray()) {
      throw new InvalidInputException(where + ": 'tensors' is missing or not an array");
    }
    for (JsonNode t : ts) {
      tensors.add(r.tensor(t));
    }
    Map<String, String> kept = new LinkedHashMap<>();
    if (root.has("kept_files")) {
      JsonNode k = r.object(root, "kept_files", "");
      for (var it = k.fields(); it.hasNext(); ) {
        var e = it.next();
        kept.put(e.getKey(), r.text(k, e.getKey(), "kept_files: "));
      }
    }
    return new DerivationReport(r.text(root, "method", ""), params, r.id(root, "source"),
        r.text(root, "source_model", ""), comparedWith, r.metrics(root, "overall", ""), tensors, kept);
  }

  private static void writeMetrics(ObjectNode n, MetricFigures m) {
    n.put("elements", m.elements());
    m.figures().forEach((k, v) -> {
      if (Derivation.integral(k, v)) {
        n.put(k, v.longValue());
      } else {
        n.put(k, v);
      }
    });
  }

  /** Field readers that name the report and the field in their errors. */
  private record Reader(String where) {
    TensorReport tensor(JsonNode t) throws InvalidInputException {
      if (!t.isObject()) {
        throw new InvalidInputException(where + ": an entry of 'tensors' is not an object");
      }
      String name = text(t, "name", "");
      String in = "tensor '" + name + "': ";
      String label = text(t, "action", in);
      TensorReport.Action action = null;
      for (TensorReport.Action a : TensorReport.Action.values()) {
        if (a.label().equals(label)) {
          action = a;
        }
      }
      if (action == null) {
        throw new InvalidInputException(where + ": " + in + "unknown action '" + label + "'");
      }
      DType dtype = dtype(t, "source_dtype", in);
      List<Long> shape = shape(t, in);
      String reason = t.has("reason") ? text(t, "reason", in) : null;
      try {
        if (action == TensorReport.Action.KEPT) {
          return new TensorReport(name, action, reason, dtype, shape,
              List.of(new TensorReport.Output(name, dtype, shape)), null, true);
        }
        return changed(t, name, action, dtype, shape, in);
      } catch (IllegalArgumentException e) {
        throw new InvalidInputException(where + ": " + e.getMessage(), e);
      }
    }

    private TensorReport changed(JsonNode t, String name, TensorReport.Action action, DType dtype, List<Long> shape,
        String in) throws InvalidInputException {
      if (t.has("reason")) {
        throw new InvalidInputException(where + ": " + in + "a " + action.label() + " tensor has a 'reason'");
      }
      List<TensorReport.Output> outputs = new ArrayList<>();
      JsonNode outs = t.get("outputs");
      if (outs == null || !outs.isArray()) {
        throw new InvalidInputException(where + ": " + in + "'outputs' is missing or not an array");
      }
      for (JsonNode o : outs) {
        String on = text(o, "name", in + "output: ");
        String oin = in + "output '" + on + "': ";
        outputs.add(new TensorReport.Output(on, dtype(o, "dtype", oin), shape(o, oin)));
      }
      JsonNode compared = t.get("compared");
      if (compared != null && !compared.isBoolean()) {
        throw new InvalidInputException(where + ": " + in + "'compared' is not true or false");
      }
      return new TensorReport(name, action, null, dtype, shape, outputs, metrics(t, "metrics", in),
          compared == null || compared.booleanValue());
    }

    MetricFigures metrics(JsonNode parent, String field, String in) throws InvalidInputException {
      JsonNode m = object(parent, field, in);
      JsonNode elements = m.get("elements");
      if (elements == null || !elements.canConvertToLong() || !elements.isIntegralNumber() || elements.asLong() < 0) {
        throw new InvalidInputException(where + ": " + in + field + ".elements is missing or not a count");
      }
      Map<String, Double> figures = new LinkedHashMap<>();
      for (var it = m.fields(); it.hasNext(); ) {
        var e = it.next();
        if (e.getKey().equals("elements")) {
          continue;
        }
        if (!e.getValue().isNumber()) {
          throw new InvalidInputException(where + ": " + in + field + "." + e.getKey() + " is not a number");
        }
        figures.put(e.getKey(), e.getValue().doubleValue());
      }
      return new MetricFigures(elements.asLong(), figures);
    }

    JsonNode object(JsonNode parent, String field, String in) throws InvalidInputException {
      JsonNode n = parent.get(field);
      if (n == null || !n.isObject()) {
        throw new InvalidInputException(where + ": " + in + "'" + field + "' is missing or not an object");
      }
      return n;
    }

    String text(JsonNode parent, String field, String in) throws InvalidInputException {
      JsonNode n = parent.get(field);
      if (n == null || !n.isTextual()) {
        throw new InvalidInputException(where + ": " + in + "'" + field + "' is missing or not a string");
      }
      return n.textValue();
    }

    ChunkId id(JsonNode parent, String field) throws InvalidInputException {
      String hex = text(parent, field, "");
      if (!ChunkId.isValid(hex)) {
        throw new InvalidInputException(where + ": '" + field + "' is '" + hex + "', expected a 64-digit hex "
            + "version id");
      }
      return ChunkId.parse(hex);
    }

    DType dtype(JsonNode parent, String field, String in) throws InvalidInputException {
      String s = text(parent, field, in);
      return DType.parse(s).orElseThrow(() -> new InvalidInputException(where + ": " + in + "unknown dtype '" + s
          + "'"));
    }

    List<Long> shape(JsonNode parent, String in) throws InvalidInputException {
      JsonNode s = parent.get("shape");
      if (s == null || !s.isArray()) {
        throw new InvalidInputException(where + ": " + in + "'shape' is missing or not an array");
      }
      List<Long> shape = new ArrayList<>();
      for (JsonNode d : s) {
        if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0) {
          throw new InvalidInputException(where + ": " + in + "shape " + s + " has a dimension that is not a "
              + "count");
        }
        shape.add(d.asLong());
      }
      return shape;
    }
  }
}
