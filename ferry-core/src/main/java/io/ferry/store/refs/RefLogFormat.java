package io.ferry.store.refs;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.error.CorruptRefException;
import io.ferry.id.ChunkId;
import io.ferry.limits.JsonTree;
import io.ferry.limits.Limits;
import io.ferry.store.RefLogEntry;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Objects;
import java.util.zip.CRC32C;

/**
 * The encoding of one ref-log entry, shared by every backend: one line per move,
 *
 * <pre>
 * &lt;crc32c of the json, 8 lower case hex digits&gt; &lt;json&gt;\n
 * json = {"old":id|null,"new":id|null,"who":"...","when":"2026-11-23T09:06:41.123Z","why":"..."}
 * </pre>
 *
 * The JSON is written on one line (newlines in strings are escaped) in UTF-8; the CRC covers exactly its bytes. A
 * local log ({@code refs/<name>.log}) is a file of such lines; a numbered log ({@link NumberedRefStore}) holds one line
 * per record. A line without its newline or with a CRC mismatch is not an entry.
 *
 * <p>A whole log is valid when every entry decodes and the entries chain: the first entry's old id is null (the ref did
 * not exist), and each later entry's old id is the previous entry's new id ({@link #checkChain}).
 *
 * <p>Stateless and thread-safe.
 */
public final class RefLogFormat {
  private static final JsonFactory JSON = Limits.jsonFactory();
  private static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

  private RefLogFormat() {}

  /** Encodes an entry as one complete line, newline included. */
  public static byte[] encode(RefLogEntry e) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    try (JsonGenerator g = JSON.createGenerator(out)) {
      g.writeStartObject();
      g.writeStringField("old", e.oldId() == null ? null : e.oldId().hex());
      g.writeStringField("new", e.newId() == null ? null : e.newId().hex());
      g.writeStringField("who", e.who());
      g.writeStringField("when", e.when().toString());
      g.writeStringField("why", e.why());
      g.writeEndObject();
    } catch (java.io.IOException ex) {
      throw new IllegalStateException("cannot encode ref log entry " + e, ex);
    }
    byte[] json = out.toByteArray();
    CRC32C crc = new CRC32C();
    crc.update(json);
    long c = crc.getValue();
    byte[] line = new byte[9 + json.length + 1];
    for (int i = 0; i < 8; i++) {
      line[i] = HEX[(int) (c >>> (28 - 4 * i)) & 0xf];
    }
    line[8] = ' ';
    System.arraycopy(json, 0, line, 9, json.length);
    line[line.length - 1] = '\n';
    return line;
  }

  /**
   * Decodes the line in {@code buf[from, to)}, without its newline.
   *
   * @return the entry, or null if the line is torn or damaged (bad CRC, bad JSON, bad fields; {@link #defect} says
   *     which)
   */
  public static RefLogEntry decode(byte[] buf, int from, int to) {
    Object r = parse(buf, from, to);
    return r instanceof RefLogEntry e ? e : null;
  }

  /** Why {@link #decode} refuses the line in {@code buf[from, to)}, or null if it is a valid entry. */
  public static String defect(byte[] buf, int from, int to) {
    Object r = parse(buf, from, to);
    return r instanceof String why ? why : null;
  }

  /** The entry, or a String saying what is wrong. */
  private static Object parse(byte[] buf, int from, int to) {
    int len = to - from;
    if (len < 11 || buf[from + 8] != ' ') {
      return "not '<8 hex digits of CRC32C> <JSON>' (" + len + " bytes)";
    }
    long expected = 0;
    for (int i = 0; i < 8; i++) {
      int d = Character.digit(buf[from + i], 16);
      if (d < 0) {
        return "its CRC32C field '" + new String(buf, from, 8, StandardCharsets.ISO_8859_1) + "' is not 8 hex digits";
      }
      expected = (expected << 4) | d;
    }
    CRC32C crc = new CRC32C();
    crc.update(buf, from + 9, len - 9);
    if (crc.getValue() != expected) {
      return String.format("CRC32C mismatch: stored %08x, computed %08x over its %d bytes of JSON", expected,
          crc.getValue(), len - 9);
    }
    return entry(buf, from + 9, len - 9);
  }

  /** The entry the JSON in {@code buf[from, from + len)} holds, or a String saying what is wrong. */
  private static Object entry(byte[] buf, int from, int len) {
    try {
      JsonNode n = JsonTree.read(buf, from, len);
      if (n == null || !n.isObject() || !n.path("who").isTextual() || !n.path("why").isTextual()
          || !n.path("when").isTextual()) {
        return "its JSON is not an object with text fields who, when and why";
      }
      return new RefLogEntry(id(n.get("old")), id(n.get("new")), n.get("who").asText(),
          Instant.parse(n.get("when").asText()), n.get("why").asText());
    } catch (java.io.IOException | DateTimeParseException | IllegalArgumentException e) {
      return "its JSON does not decode: " + e.getMessage();
    }
  }

  /**
   * Whether the line in {@code buf[from, to)} (without its newline) is a whole entry of which only the checksum
   * fails: its JSON decodes to an entry and its CRC field holds no NUL byte, but the field is not the JSON's CRC32C.
   * A crash tears a line by leaving it short or with zeros where sectors were not written, never as a whole entry
   * under a wrong checksum; such a line is damage (a flipped bit) even as the last line of a log, where a torn
   * append is otherwise skipped.
   */
  public static boolean onlyItsChecksumFails(byte[] buf, int from, int to) {
    int len = to - from;
    if (len < 11 || buf[from + 8] != ' ') {
      return false;
    }
    for (int i = from; i < from + 8; i++) {
      if (buf[i] == 0) {
        return false;
      }
    }
    return !(parse(buf, from, to) instanceof RefLogEntry) && entry(buf, from + 9, len - 9) instanceof RefLogEntry;
  }

  /**
   * Whether the line in {@code buf[from, to)} (without its newline) is a whole line that is not an entry: damage (a
   * flipped bit, a hand edit) rather than what a crash leaves of an append. An append writes its line in one write
   * ending with the JSON's closing brace and the newline; a crash cuts the line short (no newline) or leaves zeros where
   * sectors were not written, so a newline-ended line that holds no NUL byte and ends with {@code '}'} was written
   * whole. That covers a flip anywhere in the JSON as well as in the checksum ({@link #onlyItsChecksumFails}, which
   * also counts a whole entry whose JSON ends differently), and in the closing brace itself: a line that is an entry
   * once its last byte is {@code '}'} again. (A line that ends otherwise and is no entry either way is skipped as
   * torn: what a crash may expose of stale disk bytes after an append is not called damage.)
   */
  public static boolean wholeButDamaged(byte[] buf, int from, int to) {
    if (to - from < 11 || parse(buf, from, to) instanceof RefLogEntry) {
      return false;
    }
    if (onlyItsChecksumFails(buf, from, to)) {
      return true;
    }
    for (int i = from; i < to; i++) {
      if (buf[i] == 0) {
        return false;
      }
    }
    if (buf[to - 1] == '}') {
      return true;
    }
    byte[] braced = java.util.Arrays.copyOfRange(buf, from, to);
    braced[braced.length - 1] = '}';
    return parse(braced, 0, braced.length) instanceof RefLogEntry;
  }

  /**
   * Whether the bytes after a log's last newline, {@code buf[from, to)}, are a whole entry whose newline was changed
   * into another byte: damage, since a crash leaves an append short or zeroed, never whole with a wrong last byte.
   */
  public static boolean wholeWithoutItsNewline(byte[] buf, int from, int to) {
    return to - from >= 12 && buf[to - 1] != 0 && buf[to - 1] != '\n' && decode(buf, from, to - 1) != null;
  }

  private static ChunkId id(JsonNode n) {
    if (n == null || n.isNull()) {
      return null;
    }
    if (!n.isTextual()) {
      throw new IllegalArgumentException("id is not a string: " + n);
    }
    return ChunkId.parse(n.asText());
  }

  /**
   * Checks that the entries of a whole log, oldest first, chain: entry 1 creates the ref (old id null), every later
   * entry starts where the one before it ended, and no entry moves a ref to the value it had.
   *
   * @param ref the ref, for the message
   * @param store the store's URI, for the message
   * @throws CorruptRefException naming the first entry that breaks the chain
   */
  public static void checkChain(String ref, String store, List<RefLogEntry> log) throws CorruptRefException {
    ChunkId prev = null;
    for (int i = 0; i < log.size(); i++) {
      RefLogEntry e = log.get(i);
      if (!Objects.equals(e.oldId(), prev)) {
        throw new CorruptRefException(ref, store, i + 1, i == 0
            ? "the first entry must move the ref from nothing, but its old id is " + e.oldId()
            : "its old id " + e.oldId() + " is not the new id " + prev + " of entry " + i);
      }
      if (Objects.equals(e.oldId(), e.newId())) {
        throw new CorruptRefException(ref, store, i + 1, "it moves the ref from " + e.oldId() + " to the same value");
      }
      prev = e.newId();
    }
  }
}
