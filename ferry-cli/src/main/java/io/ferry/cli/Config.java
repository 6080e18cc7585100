package io.ferry.cli;

import io.ferry.error.InvalidInputException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The user's config file, {@code $XDG_CONFIG_HOME/ferry/config.toml} (else {@code ~/.config/ferry/config.toml}, or
 * {@code $FERRY_CONFIG}, or {@code --config FILE}): defaults for {@code store}, {@code author}, {@code parallelism}
 * and {@code cache}, below the command line and the environment. A small subset of TOML, read by hand: {@code key =
 * value} lines, {@code #} comments, values as basic strings ({@code "..."} with {@code \"} and {@code \\}), literal
 * strings ({@code '...'}) or integers. Anything else is an error naming the file, the line and the key. Immutable.
 *
 * @param file where it was read from (null: no file)
 * @param values the keys set, by name
 */
record Config(Path file, Map<String, Object> values) {
  /** The keys a config file may set, with the type of their value. */
  static final Map<String, Class<?>> KEYS = Map.of("store", String.class, "author", String.class, "parallelism",
      Long.class, "cache", String.class);

  /** The largest config file read. */
  static final int MAX_BYTES = 1 << 20;

  /** No config file: every setting falls through to its default. */
  static final Config NONE = new Config(null, Map.of());

  Config {
    values = Map.copyOf(values);
  }

  /** The config file's path: {@code $FERRY_CONFIG}, else under {@code $XDG_CONFIG_HOME}, else under {@code home}. */
  static Path path(Map<String, String> env, String home) {
    String explicit = env.get("FERRY_CONFIG");
    if (explicit != null && !explicit.isBlank()) {
      return Path.of(explicit);
    }
    String xdg = env.get("XDG_CONFIG_HOME");
    Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(home, ".config");
    return base.resolve("ferry").resolve("config.toml");
  }

  /**
   * Reads {@code file}; a missing file is no config, unless {@code required} (a file named on the command line or in
   * {@code $FERRY_CONFIG}).
   */
  static Config load(Path file, boolean required) throws IOException {
    if (Files.isDirectory(file)) {
      throw new InvalidInputException("config file " + file + " is a directory, not a file");
    }
    byte[] bytes;
    try (InputStream in = Files.newInputStream(file)) {
      // read up to the bound, never more: a config that is a link to /dev/zero or a huge file ran out of memory
      bytes = in.readNBytes(MAX_BYTES + 1);
    } catch (NoSuchFileException e) {
      if (required) {
        throw new InvalidInputException("config file " + file + " does not exist");
      }
      return NONE;
    }
    if (bytes.length > MAX_BYTES) {
      throw new InvalidInputException("config file " + file + ": larger than " + (MAX_BYTES >> 20)
          + " MiB; a config file holds a few keys");
    }
    String text;
    try {
      text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes)).toString();
    } catch (CharacterCodingException e) {
      throw new InvalidInputException("config file " + file + ": not UTF-8 text");
    }
    return parse(file, text.lines().toList());
  }

  /** Parses the lines of {@code file}. */
  static Config parse(Path file, List<String> lines) throws InvalidInputException {
    Map<String, Object> values = new LinkedHashMap<>();
    for (int i = 0; i < lines.size(); i++) {
      String where = "config file " + file + ", line " + (i + 1);
      String line = lines.get(i).strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      if (line.startsWith("[")) {
        throw new InvalidInputException(where + ": tables (" + line + ") are not used; write the keys "
            + String.join(", ", KEYS.keySet().stream().sorted().toList()) + " at the top level");
      }
      int eq = line.indexOf('=');
      if (eq < 0) {
        throw new InvalidInputException(where + ": expected key = value, got '" + line + "'");
      }
      String key = line.substring(0, eq).strip();
      Class<?> type = KEYS.get(key);
      if (type == null) {
        throw new InvalidInputException(where + ": unknown key '" + key + "' (known: "
            + String.join(", ", KEYS.keySet().stream().sorted().toList()) + ")");
      }
      if (values.containsKey(key)) {
        throw new InvalidInputException(where + ": key '" + key + "' is set twice");
      }
      Object v = value(where + ", key " + key, line.substring(eq + 1).strip());
      if (!type.isInstance(v)) {
        throw new InvalidInputException(where + ", key " + key + ": expected " + (type == Long.class
            ? "an integer" : "a string in quotes") + ", got " + line.substring(eq + 1).strip());
      }
      if (key.equals("parallelism") && ((Long) v < 1 || (Long) v > 1024)) {
        throw new InvalidInputException(where + ", key parallelism: expected 1 to 1024, got " + v);
      }
      values.put(key, v);
    }
    return new Config(file, values);
  }

  /** One TOML value: a basic or literal string, or an integer, with an optional comment after it. */
  private static Object value(String where, String text) throws InvalidInputException {
    if (text.isEmpty()) {
      throw new InvalidInputException(where + ": no value after '='");
    }
    char q = text.charAt(0);
    if (q == '"' || q == '\'') {
      StringBuilder b = new StringBuilder();
      int i = 1;
      for (; i < text.length(); i++) {
        char c = text.charAt(i);
        if (c == q) {
          break;
        }
        if (q == '"' && c == '\\') {
          if (i + 1 == text.length()) {
            break;
          }
          char e = text.charAt(++i);
          switch (e) {
            case '"', '\\' -> b.append(e);
            case 'n' -> b.append('\n');
            case 't' -> b.append('\t');
            default -> throw new InvalidInputException(where + ": unsupported escape \\" + e);
          }
        } else {
          b.append(c);
        }
      }
      if (i >= text.length()) {
        throw new InvalidInputException(where + ": string not closed: " + text);
      }
      rest(where, text.substring(i + 1));
      return b.toString();
    }
    int end = text.indexOf('#');
    String num = (end < 0 ? text : text.substring(0, end)).strip().replace("_", "");
    try {
      return Long.parseLong(num);
    } catch (NumberFormatException e) {
      throw new InvalidInputException(where + ": expected a string in quotes or an integer, got " + text);
    }
  }

  private static void rest(String where, String after) throws InvalidInputException {
    String r = after.strip();
    if (!r.isEmpty() && !r.startsWith("#")) {
      throw new InvalidInputException(where + ": unexpected text after the value: " + r);
    }
  }

  /** A string setting, or null when the file does not set it. */
  String string(String key) {
    Object v = values.get(key);
    return v instanceof String s && !s.isBlank() ? s : null;
  }

  /** The parallelism setting, or null. */
  Integer parallelism() {
    Object v = values.get("parallelism");
    return v instanceof Long l ? Math.toIntExact(l) : null;
  }

  /** Names of the settings a file may hold (for docs and messages). */
  static Set<String> keys() {
    return KEYS.keySet();
  }
}
