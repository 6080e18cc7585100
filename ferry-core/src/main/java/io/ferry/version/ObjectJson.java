package io.ferry.version;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import io.ferry.id.ChunkId;
import io.ferry.limits.JsonTree;
import io.ferry.limits.Limits;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Canonical JSON of snapshots and versions: fixed field order, maps sorted by key, no whitespace, UTF-8. The id of a
 * version or snapshot is the SHA-256 of these bytes, so this format is part of the storage format
 * (docs/storage-format.md) and must never change for a given format version.
 */
public final class ObjectJson {
  public static final String SNAPSHOT_FORMAT = "ferry-snapshot/1";
  public static final String VERSION_FORMAT = "ferry-version/1";
  private static final JsonFactory FACTORY = Limits.jsonFactory();

  private ObjectJson() {}

  /** Canonical bytes of a snapshot. */
  public static byte[] toJson(Snapshot s) {
    return write(snapshotBody(s));
  }

  /**
   * The length of {@link #toJson(Snapshot)}'s bytes, counted without making them: a check of a push's limits built
   * the whole JSON of a snapshot of 300,000 tensors (55 MB) only to learn its length.
   */
  public static long jsonLength(Snapshot s) {
    return length(snapshotBody(s));
  }

  private static Body snapshotBody(Snapshot s) {
    return g -> {
      g.writeStartObject();
      g.writeStringField("format", SNAPSHOT_FORMAT);
      g.writeArrayFieldStart("files");
      for (FileEntry f : s.files()) {
        g.writeStartObject();
        g.writeStringField("path", f.path());
        g.writeNumberField("size", f.size());
        g.writeStringField("sha256", f.sha256());
        g.writeStringField("format", f.format());
        g.writeNumberField("dataStart", f.dataStart());
        writeStringMap(g, "metadata", f.metadata());
        g.writeArrayFieldStart("tensors");
        for (TensorInfo t : f.tensors()) {
          g.writeStartArray();
          g.writeString(t.name());
          g.writeString(t.dtype().name());
          g.writeStartArray();
          for (long d : t.shape()) {
            g.writeNumber(d);
          }
          g.writeEndArray();
          g.writeNumber(t.begin());
          g.writeNumber(t.end());
          g.writeEndArray();
        }
        g.writeEndArray();
        g.writeArrayFieldStart("chunks");
        for (ChunkRef c : f.chunks()) {
          g.writeStartArray();
          g.writeString(c.id().hex());
          g.writeNumber(c.length());
          g.writeEndArray();
        }
        g.writeEndArray();
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    };
  }

  /** Parses a snapshot; {@code what} names the object for errors. */
  public static Snapshot snapshot(byte[] json, String what) throws IOException {
    JsonNode root = tree(json, SNAPSHOT_FORMAT, what);
    requireFormat(root, SNAPSHOT_FORMAT, what);
    List<FileEntry> files = new ArrayList<>();
    for (JsonNode f : root.path("files")) {
      List<TensorInfo> tensors = new ArrayList<>();
      for (JsonNode t : f.path("tensors")) {
        List<Long> shape = new ArrayList<>();
        for (JsonNode d : t.get(2)) {
          shape.add(d.asLong());
        }
        String dt = t.get(1).asText();
        DType dtype = DType.parse(dt).orElseThrow(() -> new IOException(what + ": unknown dtype " + dt));
        tensors.add(new TensorInfo(t.get(0).asText(), dtype, shape, t.get(3).asLong(), t.get(4).asLong()));
      }
      List<ChunkRef> chunks = new ArrayList<>();
      for (JsonNode c : f.path("chunks")) {
        chunks.add(new ChunkRef(ChunkId.parse(c.get(0).asText()), c.get(1).asLong()));
      }
      files.add(new FileEntry(f.path("path").asText(), f.path("size").asLong(), f.path("sha256").asText(),
          f.path("format").asText(), f.path("dataStart").asLong(), stringMap(f.path("metadata")), tensors, chunks));
    }
    return new Snapshot(files);
  }

  /** Canonical bytes of a version. */
  public static byte[] toJson(Version v) {
    return write(g -> {
      g.writeStartObject();
      g.writeStringField("format", VERSION_FORMAT);
      g.writeStringField("snapshot", v.snapshot().hex());
      g.writeArrayFieldStart("parents");
      for (ChunkId p : v.parents()) {
        g.writeString(p.hex());
      }
      g.writeEndArray();
      g.writeStringField("model", v.model());
      g.writeStringField("message", v.message());
      g.writeStringField("author", v.author());
      g.writeStringField("time", v.time().toString());
      g.writeNumberField("seq", v.seq());
      if (v.logLength() > 0) { // absent where unknown, so versions written before it keep their canonical bytes
        g.writeNumberField("logLength", v.logLength());
      }
      g.writeArrayFieldStart("packs");
      for (ChunkId p : v.packs()) {
        g.writeString(p.hex());
      }
      g.writeEndArray();
      VersionStats s = v.stats();
      g.writeObjectFieldStart("stats");
      g.writeNumberField("logicalBytes", s.logicalBytes());
      g.writeNumberField("newStoredBytes", s.newStoredBytes());
      g.writeNumberField("newChunks", s.newChunks());
      g.writeNumberField("files", s.files());
      g.writeNumberField("tensors", s.tensors());
      g.writeEndObject();
      writeStringMap(g, "metadata", v.metadata());
      Derivation d = v.derivation();
      if (d != null) {
        g.writeObjectFieldStart("derivation");
        g.writeStringField("method", d.method());
        writeStringMap(g, "parameters", d.parameters());
        if (d.source() != null) {
          g.writeStringField("source", d.source());
        }
        g.writeObjectFieldStart("metrics");
        for (Map.Entry<String, Double> e : new TreeMap<>(d.metrics()).entrySet()) {
          if (Derivation.integral(e.getKey(), e.getValue())) {
            g.writeNumberField(e.getKey(), e.getValue().longValue());
          } else {
            g.writeNumberField(e.getKey(), e.getValue());
          }
        }
        g.writeEndObject();
        g.writeEndObject();
      }
      g.writeEndObject();
    });
  }

  /** Parses a version; {@code what} names the object for errors. */
  public static Version version(byte[] json, String what) throws IOException {
    JsonNode r = tree(json, VERSION_FORMAT, what);
    requireFormat(r, VERSION_FORMAT, what);
    List<ChunkId> parents = new ArrayList<>();
    for (JsonNode p : r.path("parents")) {
      parents.add(ChunkId.parse(p.asText()));
    }
    List<ChunkId> packs = new ArrayList<>();
    for (JsonNode p : r.path("packs")) {
      packs.add(ChunkId.parse(p.asText()));
    }
    JsonNode s = r.path("stats");
    VersionStats stats = new VersionStats(s.path("logicalBytes").asLong(), s.path("newStoredBytes").asLong(),
        s.path("newChunks").asLong(), s.path("files").asInt(), s.path("tensors").asInt());
    Derivation derivation = null;
    JsonNode d = r.get("derivation");
    if (d != null && d.isObject()) {
      Map<String, Double> metrics = new LinkedHashMap<>();
      d.path("metrics").fields().forEachRemaining(e -> metrics.put(e.getKey(), e.getValue().asDouble()));
      derivation = new Derivation(d.path("method").asText(), stringMap(d.path("parameters")),
          d.hasNonNull("source") ? d.get("source").asText() : null, metrics);
    }
    return new Version(ChunkId.parse(r.path("snapshot").asText()), parents, r.path("model").asText(),
        r.path("message").asText(), r.path("author").asText(), Instant.parse(r.path("time").asText()),
        r.path("seq").asLong(), logLength(r), packs, stats, stringMap(r.path("metadata")), derivation);
  }

  /**
   * A version's recorded log length, or 0 (unknown: counted by walking) when it is absent or not a number from 1 to
   * the version's seq, which no push writes: a count is only shown, never trusted for anything else.
   */
  private static long logLength(JsonNode r) {
    JsonNode n = r.get("logLength");
    long seq = r.path("seq").asLong();
    return n != null && n.canConvertToLong() && n.isIntegralNumber() && n.asLong() >= 1 && n.asLong() <= seq
        ? n.asLong() : 0;
  }

  /** Whether the bytes look like a version object (for listing tools that meet untyped objects). */
  public static boolean isVersion(byte[] json) {
    return VERSION_FORMAT.equals(formatOf(json));
  }

  /**
   * The format an object's bytes declare first ({@value #VERSION_FORMAT}, {@value #SNAPSHOT_FORMAT}...), or null if
   * they do not begin as Ferry's JSON objects do (a chunk of model data, say). Only the first bytes are looked at.
   */
  public static String formatOf(byte[] json) {
    byte[] p = FORMAT_PREFIX;
    if (json.length < p.length || !java.util.Arrays.equals(json, 0, p.length, p, 0, p.length)) {
      return null;
    }
    int end = p.length;
    while (end < json.length && end < p.length + 64 && json[end] != '"') {
      end++;
    }
    if (end >= json.length || json[end] != '"') {
      return null;
    }
    String format = new String(json, p.length, end - p.length, java.nio.charset.StandardCharsets.ISO_8859_1);
    return FORMAT_NAME.matcher(format).matches() ? format : null;
  }

  private static final java.util.regex.Pattern FORMAT_NAME = java.util.regex.Pattern.compile("[a-z-]+/[0-9]+");

  private static final byte[] FORMAT_PREFIX = "{\"format\":\"".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  /** The object's JSON tree; bytes that are no JSON (another kind of object: a chunk, a pack) are not a {@code format}. */
  private static JsonNode tree(byte[] json, String format, String what) throws IOException {
    try {
      return JsonTree.read(json);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IOException(what + ": not a " + format + " object (its bytes are not JSON: another kind of object)",
          e);
    }
  }

  private static void requireFormat(JsonNode root, String format, String what) throws IOException {
    if (!root.isObject() || !format.equals(root.path("format").asText())) {
      throw new IOException(what + ": not a " + format + " object (format '" + root.path("format").asText() + "')");
    }
  }

  private static Map<String, String> stringMap(JsonNode n) {
    Map<String, String> m = new TreeMap<>();
    n.fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asText()));
    return m;
  }

  private static void writeStringMap(JsonGenerator g, String field, Map<String, String> m) throws IOException {
    g.writeObjectFieldStart(field);
    for (Map.Entry<String, String> e : new TreeMap<>(m).entrySet()) {
      g.writeStringField(e.getKey(), e.getValue());
    }
    g.writeEndObject();
  }

  private interface Body {
    void write(JsonGenerator g) throws IOException;
  }

  /**
   * The document's bytes, written twice: once to count them, then into an array of exactly that size. A snapshot of
   * half a million tensors is some 80 MB of JSON; a growing buffer would hold up to twice that while it doubles, and
   * its copy another time as much.
   */
  private static byte[] write(Body body) {
    long length = length(body);
    if (length > Integer.MAX_VALUE - 16) {
      throw new UncheckedIOException(new IOException("a JSON document of " + length + " bytes is too big"));
    }
    byte[] out = new byte[(int) length];
    int[] at = {0};
    emit(body, new OutputStream() {
      @Override
      public void write(int b) {
        out[at[0]++] = (byte) b;
      }

      @Override
      public void write(byte[] b, int off, int len) {
        System.arraycopy(b, off, out, at[0], len);
        at[0] += len;
      }
    });
    return out;
  }

  /** The length of the document's bytes, counted as they are written and dropped. */
  private static long length(Body body) {
    long[] count = {0};
    emit(body, new OutputStream() {
      @Override
      public void write(int b) {
        count[0]++;
      }

      @Override
      public void write(byte[] b, int off, int len) {
        count[0] += len;
      }
    });
    return count[0];
  }

  private static void emit(Body body, OutputStream out) {
    try (JsonGenerator g = FACTORY.createGenerator(out)) {
      body.write(g);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
