package io.ferry.store.local;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.chunk.ChunkId;
import io.ferry.store.RefLogEntry;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.zip.CRC32C;

/**
 * The line format of a local ref log ({@code refs/<name>.log}): one line per move,
 *
 * <pre>
 * &lt;crc32c of the json, 8 lower case hex digits&gt; &lt;json&gt;\n
 * json = {"old":id|null,"new":id|null,"who":"...","when":"2026-11-23T09:06:41.123Z","why":"..."}
 * </pre>
 *
 * The JSON is written on one line (newlines in strings are escaped) in UTF-8; the CRC covers exactly its bytes. A line
 * without its newline or with a CRC mismatch is torn (a crash during an append) and is not an entry.
 *
 * <p>Stateless and thread-safe.
 */
public final class RefLogFormat {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

  private RefLogFormat() {}

  /** Encodes an entry as one complete line, newline included. */
  public static byte[] encode(RefLogEntry e) {
    ObjectNode n = JSON.createObjectNode();
    n.put("old", e.oldId() == null ? null : e.oldId().hex());
    n.put("new", e.newId() == null ? null : e.newId().hex());
    n.put("who", e.who());
    n.put("when", e.when().toString());
    n.put("why", e.why());
    byte[] json;
    try {
      json = JSON.writeValueAsBytes(n);
    } catch (JsonProcessingException ex) {
      throw new IllegalStateException("cannot encode ref log entry " + e, ex);
    }
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
   * @return the entry, or null if the line is torn or damaged (bad CRC, bad JSON, bad fields)
   */
  public static RefLogEntry decode(byte[] buf, int from, int to) {
    int len = to - from;
    if (len < 11 || buf[from + 8] != ' ') {
      return null;
    }
    long expected = 0;
    for (int i = 0; i < 8; i++) {
      int d = Character.digit(buf[from + i], 16);
      if (d < 0) {
        return null;
      }
      expected = (expected << 4) | d;
    }
    CRC32C crc = new CRC32C();
    crc.update(buf, from + 9, len - 9);
    if (crc.getValue() != expected) {
      return null;
    }
    try {
      JsonNode n = JSON.readTree(buf, from + 9, len - 9);
      if (n == null || !n.isObject() || !n.path("who").isTextual() || !n.path("why").isTextual()
          || !n.path("when").isTextual()) {
        return null;
      }
      return new RefLogEntry(id(n.get("old")), id(n.get("new")), n.get("who").asText(),
          Instant.parse(n.get("when").asText()), n.get("why").asText());
    } catch (java.io.IOException | DateTimeParseException | IllegalArgumentException e) {
      return null;
    }
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
}
