package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.format.TensorInfo;
import io.ferry.id.ChunkId;
import io.ferry.store.RefNames;
import io.ferry.version.Derivation;
import io.ferry.version.FileEntry;
import io.ferry.version.Version;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The objects of the {@code --json} schema (docs/json.md) that more than one command prints: a version, a file, a
 * tensor and an error. Names are camelCase; a count is named {@code fooCount} and a plural name is always an array;
 * refs are written as on the command line ({@code tiny}, {@code tiny:prod}); numbers are JSON numbers.
 */
final class JsonOut {
  private static final Pattern NUMBER = Pattern.compile("-?(0|[1-9][0-9]{0,17})(\\.[0-9]+)?");

  private JsonOut() {}

  /**
   * Fills {@code n} with the version object: the same fields, in the same order, for log, show, lineage, push, pull,
   * derive and checkpoint. {@code refs} are the refs pointing at it as users write them (empty when none or unknown).
   */
  static ObjectNode version(ObjectNode n, ChunkId id, Version v, List<String> refs) {
    n.put("version", id.hex()).put("model", v.model()).put("time", v.time().toString()).put("author", v.author())
        .put("message", v.message()).put("seq", v.seq()).put("snapshot", v.snapshot().hex());
    ArrayNode parents = n.putArray("parents");
    v.parents().forEach(p -> parents.add(p.hex()));
    n.put("logicalBytes", v.stats().logicalBytes()).put("newStoredBytes", v.stats().newStoredBytes())
        .put("newChunkCount", v.stats().newChunks()).put("fileCount", v.stats().files())
        .put("tensorCount", v.stats().tensors());
    ObjectNode md = n.putObject("metadata");
    v.metadata().forEach(md::put);
    if (v.derivation() == null) {
      n.putNull("derivation");
    } else {
      ObjectNode d = n.putObject("derivation").put("method", v.derivation().method())
          .put("source", v.derivation().source());
      parameters(d.putObject("parameters"), v.derivation().parameters());
      metrics(d.putObject("metrics"), v.derivation().metrics());
    }
    ArrayNode r = n.putArray("refs");
    refs.forEach(r::add);
    return n;
  }

  /** Fills {@code n} with the file object; {@code tensors} false leaves its tensor list empty. */
  static ObjectNode file(ObjectNode n, FileEntry f, boolean tensors) {
    n.put("path", f.path()).put("size", f.size()).put("sha256", f.sha256()).put("format", f.format())
        .put("chunkCount", f.chunks().size()).put("tensorCount", f.tensors().size());
    ObjectNode md = n.putObject("metadata");
    f.metadata().forEach(md::put);
    ArrayNode ts = n.putArray("tensors");
    if (tensors) {
      for (TensorInfo t : f.tensors()) {
        tensor(ts.addObject(), f, t);
      }
    }
    return n;
  }

  /** Fills {@code n} with the tensor object of {@code t}, a tensor of {@code f}. */
  static ObjectNode tensor(ObjectNode n, FileEntry f, TensorInfo t) {
    n.put("name", t.name()).put("dtype", t.dtype().name()).put("bytes", f.tensorBytes(t));
    ArrayNode shape = n.putArray("shape");
    t.shape().forEach(shape::add);
    return n;
  }

  /** Derivation parameters: a value written as a decimal number ({@code bits=4}) is a JSON number. */
  static ObjectNode parameters(ObjectNode n, Map<String, String> params) {
    params.forEach((k, v) -> {
      String key = camel(k);
      if (v != null && NUMBER.matcher(v).matches()) {
        if (v.indexOf('.') < 0) {
          n.put(key, Long.parseLong(v));
        } else {
          n.put(key, new java.math.BigDecimal(v));
        }
      } else {
        n.put(key, v);
      }
    });
    return n;
  }

  /** Metrics by camelCase name ({@code max_abs_error} is {@code maxAbsError}, {@code eval_loss} {@code evalLoss}). */
  static ObjectNode metrics(ObjectNode n, Map<String, Double> metrics) {
    metrics.forEach((k, v) -> {
      if (Derivation.integral(k, v)) {
        n.put(camel(k), v.longValue());
      } else {
        n.put(camel(k), v);
      }
    });
    return n;
  }

  /** {@code snake_case} or {@code kebab-case} as camelCase; a name without {@code _} or {@code -} as it is. */
  static String camel(String name) {
    if (name.indexOf('_') < 0 && name.indexOf('-') < 0) {
      return name;
    }
    StringBuilder b = new StringBuilder(name.length());
    boolean up = false;
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      if (c == '_' || c == '-') {
        up = b.length() > 0;
      } else {
        b.append(up ? Character.toUpperCase(c) : c);
        up = false;
      }
    }
    return b.toString();
  }

  /** A stored ref name ({@code tiny/head}, {@code tiny/tags/prod}) as users write it ({@code tiny}, {@code tiny:prod}). */
  static String userRef(String stored) {
    return RefNames.asWritten(stored);
  }

  /** An enum constant as a JSON value: {@code LOCK_FAILURE} is {@code lockFailure}. */
  static String value(Enum<?> e) {
    return camel(e.name().toLowerCase(Locale.ROOT));
  }

  /**
   * The error object that commands print on stderr with {@code --json}, as one line: {@code code} (the exit code),
   * {@code kind}, {@code message}, and {@code ref} and {@code object} when known.
   */
  static ObjectNode error(int code, String kind, String message, String ref, String object) {
    ObjectNode n = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode().put("code", code)
        .put("kind", kind).put("message", message);
    if (ref != null) {
      n.put("ref", ref);
    }
    if (object != null) {
      n.put("object", object);
    }
    return n;
  }

  /** A notice on stderr with {@code --json} ({@link Notices}): {@code {"kind":"warning","message":...}}, one line. */
  static ObjectNode notice(String kind, String message) {
    return new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode().put("kind", kind)
        .put("message", message);
  }

  /** The {@code kind} of an error object. */
  static String kind(Throwable e) {
    if (e instanceof io.ferry.error.NotFoundException) {
      return "notFound";
    } else if (e instanceof io.ferry.error.InvalidInputException) {
      return "badInput";
    } else if (e instanceof io.ferry.error.ConflictException) {
      return "conflict";
    } else if (e instanceof io.ferry.error.CorruptObjectException) {
      return "corruptObject";
    } else if (e instanceof io.ferry.error.MissingObjectException) {
      return "missingObject";
    } else if (e instanceof io.ferry.error.CorruptRefException) {
      return "corruptRef";
    } else if (e instanceof io.ferry.error.FerryException f) {
      return f.kind() == io.ferry.error.FerryException.Kind.INTEGRITY ? "integrity" : "badInput";
    } else if (e instanceof java.io.IOException) {
      return "io";
    } else if (e instanceof OutOfMemoryError) {
      return "outOfMemory";
    }
    return "internal";
  }
}
