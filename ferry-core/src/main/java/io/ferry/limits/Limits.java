package io.ferry.limits;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.ferry.error.InvalidInputException;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * The one set of limits on what a store may hold, so that whatever a push accepts, every reader can read
 * (docs/storage-format.md, "Limits"). A push checks its arguments and every file against the writer limits below
 * before it writes anything, and the exact size of the snapshot and version JSON before it writes them; every JSON
 * reader of core and the CLI is built by {@link #jsonFactory()} or {@link #jsonMapper()} (or is {@link JsonTree}),
 * whose Jackson {@link StreamReadConstraints} ({@link #READ_CONSTRAINTS}) sit far above the writer limits, so a reader
 * never refuses what a writer wrote, including what older writers, which checked nothing, wrote.
 *
 * <p>Lengths of text are in UTF-16 chars ({@link String#length()}), as Jackson counts them; paths in UTF-8 bytes, as
 * file systems count them. Checks throw {@link InvalidInputException} naming what is over which limit.
 *
 * <p>Stateless; thread-safe.
 */
public final class Limits {
  /** Longest version message. */
  public static final int MAX_MESSAGE_CHARS = 64 * 1024;
  /** Longest author name. */
  public static final int MAX_AUTHOR_CHARS = 1024;
  /** Longest key of a metadata map (version metadata, a file's format metadata, derivation parameters, metric names). */
  public static final int MAX_KEY_CHARS = 1024;
  /** Longest single metadata value. */
  public static final int MAX_VALUE_CHARS = 16 << 20;
  /** Most characters in one metadata map, keys and values together. */
  public static final int MAX_METADATA_CHARS = 16 << 20;
  /** Most entries in one metadata map. */
  public static final int MAX_METADATA_ENTRIES = 10_000;
  /** Longest tensor name. */
  public static final int MAX_TENSOR_NAME_CHARS = 4096;
  /** Longest file path in a snapshot, in UTF-8 bytes (Linux's PATH_MAX). */
  public static final int MAX_PATH_BYTES = 4096;
  /** Most files in one snapshot. */
  public static final int MAX_FILES = 500_000;
  /** Most tensors in one snapshot, all files together. */
  public static final int MAX_TENSORS = 500_000;
  /** Largest canonical JSON of a snapshot, in bytes (an 80,000-tensor snapshot is about 13 MiB). */
  public static final int MAX_SNAPSHOT_JSON_BYTES = 128 << 20;
  /** Largest canonical JSON of a version, in bytes. */
  public static final int MAX_VERSION_JSON_BYTES = 64 << 20;

  /**
   * Longest name (object key) and string the JSON readers accept: far above every writer limit, and above the
   * 100,000,000-byte safetensors header cap, so that stores older writers filled without limits (a 60,000-character
   * metadata key, which Jackson's default of 50,000 refused) read again.
   */
  public static final int MAX_READ_TEXT_CHARS = 128 << 20;

  /**
   * What every JSON reader of core and the CLI accepts: names and strings up to {@link #MAX_READ_TEXT_CHARS},
   * documents up to the largest object a reader loads at all (2 GiB), nesting far deeper than any Ferry document
   * (which nest five levels at most) but not unbounded.
   */
  public static final StreamReadConstraints READ_CONSTRAINTS = StreamReadConstraints.builder()
      .maxNameLength(MAX_READ_TEXT_CHARS)
      .maxStringLength(MAX_READ_TEXT_CHARS)
      .maxDocumentLength(Integer.MAX_VALUE)
      .maxNestingDepth(200)
      .build();

  private Limits() {}

  /** A new JSON factory whose parsers apply {@link #READ_CONSTRAINTS}. */
  public static JsonFactory jsonFactory() {
    return JsonFactory.builder().streamReadConstraints(READ_CONSTRAINTS).build();
  }

  /** A new JSON mapper whose parsers apply {@link #READ_CONSTRAINTS}. */
  public static ObjectMapper jsonMapper() {
    return jsonMapperBuilder().build();
  }

  /** A builder of a JSON mapper whose parsers apply {@link #READ_CONSTRAINTS}, for callers with more settings. */
  public static JsonMapper.Builder jsonMapperBuilder() {
    return JsonMapper.builder(jsonFactory());
  }

  /**
   * Checks a text's length.
   *
   * @param what what the text is, for the error (e.g. "--message", "config.json: tensor 'x'")
   * @throws InvalidInputException if it is longer than {@code max} chars
   */
  public static void checkText(String what, String text, int max) throws InvalidInputException {
    if (text != null && text.length() > max) {
      throw new InvalidInputException(what + " is " + text.length() + " characters long, over the limit of " + max
          + " characters");
    }
  }

  /**
   * Refuses a control character (a line break, a tab, NUL...) in a one-line text such as an author: stored, it would
   * be shown escaped in every listing, or break the line of a tool that reads them.
   */
  public static void checkOneLine(String what, String text) throws InvalidInputException {
    if (text == null) {
      return;
    }
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (Character.isISOControl(c)) {
        throw new InvalidInputException(what + " '" + excerpt(text) + "' holds the"
            + " control character U+" + String.format("%04X", (int) c) + " at position " + (i + 1) + ": give it on"
            + " one line, without control characters");
      }
    }
  }

  /**
   * Checks a metadata map: entry count, each key and value, and their total.
   *
   * @param what the map, for errors (e.g. "--meta", "model.safetensors: __metadata__")
   */
  public static void checkMetadata(String what, Map<String, String> metadata) throws InvalidInputException {
    checkCount(what, "entries", metadata.size(), MAX_METADATA_ENTRIES);
    long total = 0;
    for (Map.Entry<String, String> e : metadata.entrySet()) {
      String key = e.getKey();
      if (key.length() > MAX_KEY_CHARS) {
        throw new InvalidInputException(what + ": a key of " + key.length() + " characters (starting '"
            + excerpt(key) + "') is over the limit of " + MAX_KEY_CHARS + " characters");
      }
      String value = e.getValue() == null ? "" : e.getValue();
      if (value.length() > MAX_VALUE_CHARS) {
        throw new InvalidInputException(what + ": the value of key '" + excerpt(key) + "' is " + value.length()
            + " characters long, over the limit of " + MAX_VALUE_CHARS + " characters");
      }
      total += key.length() + value.length();
    }
    if (total > MAX_METADATA_CHARS) {
      throw new InvalidInputException(what + ": keys and values add up to " + total + " characters, over the limit"
          + " of " + MAX_METADATA_CHARS + " characters");
    }
  }

  /** Checks the length of a file path of a snapshot, in UTF-8 bytes. */
  public static void checkPath(String path) throws InvalidInputException {
    int bytes = path.getBytes(StandardCharsets.UTF_8).length;
    if (bytes > MAX_PATH_BYTES) {
      throw new InvalidInputException("file path '" + excerpt(path) + "' is " + bytes + " bytes long, over the limit"
          + " of " + MAX_PATH_BYTES + " bytes");
    }
  }

  /** Checks a tensor name of a file. */
  public static void checkTensorName(String file, String name) throws InvalidInputException {
    if (name.length() > MAX_TENSOR_NAME_CHARS) {
      throw new InvalidInputException(file + ": tensor name of " + name.length() + " characters (starting '"
          + excerpt(name) + "') is over the limit of " + MAX_TENSOR_NAME_CHARS + " characters");
    }
  }

  /** Checks a count: {@code what} has {@code n} {@code things}, at most {@code max}. */
  public static void checkCount(String what, String things, long n, long max) throws InvalidInputException {
    if (n > max) {
      throw new InvalidInputException(what + " has " + n + " " + things + ", over the limit of " + max);
    }
  }

  /** Checks the size of canonical JSON about to be stored. */
  public static void checkJson(String what, byte[] json, int max) throws InvalidInputException {
    checkJsonLength(what, json.length, max);
  }

  /** Checks the length of canonical JSON about to be stored, counted without making it. */
  public static void checkJsonLength(String what, long length, int max) throws InvalidInputException {
    if (length > max) {
      throw new InvalidInputException(what + ": its JSON is " + length + " bytes, over the limit of " + max
          + " bytes; nothing was published");
    }
  }

  /**
   * The start of a text for an error message: at most 40 characters, control characters shown as '?', and '…' where
   * it was cut (a 10-million-character value made a 10 MB error line).
   */
  public static String excerpt(String s) {
    String head = s.length() > 40 ? s.substring(0, 40) + "…" : s;
    StringBuilder b = new StringBuilder(head.length());
    head.codePoints().forEach(c -> b.appendCodePoint(Character.isISOControl(c) ? '?' : c));
    return b.toString();
  }
}
