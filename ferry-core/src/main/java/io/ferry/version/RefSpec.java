package io.ferry.version;

import io.ferry.error.InvalidInputException;
import io.ferry.store.RefNames;

/**
 * What users type to name a version: {@code name} (the head), {@code name:tag}, {@code name@<id prefix>}, each
 * optionally followed by {@code //path} for a file inside, e.g. {@code llama:prod//config.json}.
 *
 * @param model the model name
 * @param tag the tag, or null
 * @param idPrefix a hex prefix of a version id (at least 4 digits), or null
 * @param path a file inside the version, or null
 */
public record RefSpec(String model, String tag, String idPrefix, String path) {

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
    int at = ref.indexOf('@');
    int colon = ref.indexOf(':');
    if (at >= 0 && colon >= 0) {
      throw new InvalidInputException("ref '" + text + "' has both ':' and '@': use name:tag or name@<version id>");
    }
    if (at >= 0) {
      String prefix = ref.substring(at + 1).toLowerCase(java.util.Locale.ROOT);
      // ASCII only: Character.digit takes fullwidth and other scripts' digits too, which no id is written in
      if (prefix.length() < 4 || prefix.length() > 64
          || !prefix.chars().allMatch(c -> c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
        throw new InvalidInputException(
            "ref '" + text + "': '" + prefix + "' is not a version id prefix (4 to 64 hex digits)");
      }
      return new RefSpec(RefNames.checkModel(ref.substring(0, at)), null, prefix, path);
    }
    if (colon >= 0) {
      String tag = ref.substring(colon + 1);
      if (tag.equals(RefNames.HEAD)) {
        return new RefSpec(RefNames.checkModel(ref.substring(0, colon)), null, null, path);
      }
      return new RefSpec(RefNames.checkModel(ref.substring(0, colon)), RefNames.checkTag(tag), null, path);
    }
    return new RefSpec(RefNames.checkModel(ref), null, null, path);
  }

  /** The ref name this spec reads: the tag's, or the head's (also for id prefixes, which name no ref). */
  public String refName() {
    return tag != null ? RefNames.tag(model, tag) : RefNames.head(model);
  }

  /** The spec without its path. */
  public String refText() {
    if (idPrefix != null) {
      return model + "@" + idPrefix;
    }
    return tag != null ? model + ":" + tag : model;
  }

  @Override
  public String toString() {
    return path == null ? refText() : refText() + "//" + path;
  }
}
