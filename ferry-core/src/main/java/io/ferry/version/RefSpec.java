package io.ferry.version;

import io.ferry.error.InvalidInputException;
import io.ferry.store.RefNames;

/**
 * What users type to name a version: {@code name} (the head), {@code name:tag}, {@code name@<id prefix>}, each
 * optionally followed by {@code ~N}, the version N steps back in the model's history (what {@code ferry log} lists
 * N lines further down; {@code ~} alone is {@code ~1}, and {@code ~2~1} is {@code ~3}), and by {@code //path} for a
 * file inside, e.g. {@code llama:prod//config.json} or {@code llama~1//config.json}.
 *
 * @param model the model name
 * @param tag the tag, or null
 * @param idPrefix a hex prefix of a version id (at least 4 digits), or null
 * @param path a file inside the version, or null
 * @param back how many versions back from the one the rest names (0: that version)
 */
public record RefSpec(String model, String tag, String idPrefix, String path, int back) {
  /** The most versions {@code ~N} goes back. */
  public static final int MAX_BACK = 1_000_000;

  public RefSpec(String model, String tag, String idPrefix, String path) {
    this(model, tag, idPrefix, path, 0);
  }

  /** Parses and validates a ref text. */
  public static RefSpec parse(String text) throws InvalidInputException {
    if (text == null || text.isBlank()) {
      throw new InvalidInputException("empty ref: expected name, name:tag or name@<version id>");
    }
    String ref = text;
    String path = null;
    int slashes = text.indexOf("//");
    if (slashes >= 0) {
      ref = text.substring(0, slashes);
      path = SafePaths.check(text.substring(slashes + 2), "ref '" + text + "'");
    }
    int caret = ref.indexOf('^');
    if (caret > 0) {
      throw new InvalidInputException(gitParent(text, ref, caret));
    }
    int back = 0;
    int tilde = ref.indexOf('~');
    if (tilde >= 0) {
      back = back(text, ref.substring(tilde));
      ref = ref.substring(0, tilde);
    }
    RefSpec spec = parseRef(text, ref, path);
    return back == 0 ? spec : new RefSpec(spec.model, spec.tag, spec.idPrefix, spec.path, back);
  }

  /**
   * Whether {@code text} is what {@code name@} takes: 4 to 64 hex digits, either case; ASCII only, since {@code
   * Character.digit} takes fullwidth and other scripts' digits too, which no id is written in.
   */
  public static boolean isIdPrefix(String text) {
    return text.length() >= 4 && text.length() <= 64
        && text.chars().allMatch(c -> c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F');
  }

  /** Parses {@code ref}, the part of {@code text} without its {@code ~N} and {@code //path}. */
  private static RefSpec parseRef(String text, String ref, String path) throws InvalidInputException {
    int at = ref.indexOf('@');
    int colon = ref.indexOf(':');
    if (at >= 0 && colon >= 0) {
      throw new InvalidInputException("ref '" + text + "' has both ':' and '@': use name:tag or name@<version id>");
    }
    if (at >= 0) {
      String prefix = ref.substring(at + 1).toLowerCase(java.util.Locale.ROOT);
      if (!isIdPrefix(prefix)) {
        throw new InvalidInputException(
            "ref '" + text + "': '" + prefix + "' is not a version id prefix (4 to 64 hex digits)");
      }
      return new RefSpec(model(text, ref.substring(0, at)), null, prefix, path);
    }
    if (colon >= 0) {
      String tag = ref.substring(colon + 1);
      if (tag.equals(RefNames.HEAD)) {
        return new RefSpec(model(text, ref.substring(0, colon)), null, null, path);
      }
      String model = model(text, ref.substring(0, colon));
      try {
        return new RefSpec(model, RefNames.checkTag(tag), null, path);
      } catch (InvalidInputException e) {
        throw new InvalidInputException("ref '" + text + "': " + e.getMessage());
      }
    }
    return new RefSpec(model(text, ref), null, null, path);
  }

  /**
   * Checks the model name of {@code text}; when it is not the whole text ({@code :prod}, {@code //config.json}),
   * the error names the ref too, which "model name is empty" alone did not.
   */
  private static String model(String text, String name) throws InvalidInputException {
    try {
      return RefNames.checkModel(name);
    } catch (InvalidInputException e) {
      if (name.equals(text)) {
        throw e;
      }
      throw new InvalidInputException("ref '" + text + "': " + e.getMessage()
          + (name.isEmpty() ? " (expected name, name:tag or name@<version id> before it)" : ""));
    }
  }

  /**
   * What to say of git's {@code ^} at {@code caret} in {@code ref} (the part of {@code text} before its path): the
   * model name refused it as invalid. Here {@code name^} (and {@code name^1}) is {@code name~1}, {@code name^^} is
   * {@code name~2}; a merge's other parents ({@code name^2}) have no syntax, so the message names the first parent and
   * where the others are listed.
   */
  private static String gitParent(String text, String ref, int caret) {
    String base = ref.substring(0, caret);
    String suffix = ref.substring(caret);
    String path = text.substring(ref.length());
    String said = "ref '" + text + "': '^' is git's syntax for a parent; Ferry writes ~N for the version N steps back"
        + " along first parents, as ferry log lists them";
    if (suffix.chars().allMatch(c -> c == '^')) {
      return said + ": " + base + "~" + suffix.length() + path;
    }
    if (suffix.equals("^1")) {
      return said + ": " + base + "~1" + path;
    }
    String first = " (the first parent is " + base + "~1" + path + ")";
    if (suffix.length() <= 8 && suffix.substring(1).chars().allMatch(c -> c >= '0' && c <= '9')) {
      return said + first + "; a version's other parents have no such syntax: ferry show " + base
          + " lists its parents, and MODEL@ID names one";
    }
    return said + first;
  }

  /** Adds up {@code ~}, {@code ~N}, {@code ~N~M}...: ASCII digits only, at most {@link #MAX_BACK} in all. */
  private static int back(String text, String suffix) throws InvalidInputException {
    long n = 0;
    for (String step : suffix.substring(1).split("~", -1)) {
      if (step.isEmpty()) {
        n++;
      } else if (step.length() <= 7 && step.chars().allMatch(c -> c >= '0' && c <= '9')) {
        n += Long.parseLong(step);
      } else {
        n = -1;
        break;
      }
      if (n > MAX_BACK) {
        break;
      }
    }
    if (n < 0 || n > MAX_BACK) {
      throw new InvalidInputException("ref '" + text + "': '" + suffix + "' is not a step back in history (~ or ~N,"
          + " N from 0 to " + MAX_BACK + ": the version N steps back, as ferry log lists them)");
    }
    return (int) n;
  }

  /** Whether this spec picks a version rather than naming a ref: an id prefix, or steps back ({@code ~N}). */
  public boolean selectsVersion() {
    return idPrefix != null || back > 0;
  }

  /** The spec without its steps back: the version {@code ~N} counts from. */
  public RefSpec withoutBack() {
    return new RefSpec(model, tag, idPrefix, path, 0);
  }

  /** The ref name this spec reads: the tag's, or the head's (also for id prefixes, which name no ref). */
  public String refName() {
    return tag != null ? RefNames.tag(model, tag) : RefNames.head(model);
  }

  /** The spec without its path. */
  public String refText() {
    String base = idPrefix != null ? model + "@" + idPrefix : tag != null ? model + ":" + tag : model;
    return back == 0 ? base : base + "~" + back;
  }

  @Override
  public String toString() {
    return path == null ? refText() : refText() + "//" + path;
  }
}
