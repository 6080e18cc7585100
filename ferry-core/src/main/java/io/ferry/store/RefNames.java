package io.ferry.store;

import io.ferry.error.InvalidInputException;
import java.util.regex.Pattern;

/**
 * Names of models, tags and refs. A model is {@code [A-Za-z0-9][A-Za-z0-9._-]{0,127}} with at most one {@code org/}
 * prefix of the same form, so that Hugging Face repository ids ({@code meta-llama/Llama-3.1-8B}) are model names as
 * they are; a tag is {@code [A-Za-z0-9][A-Za-z0-9._-]{0,127}}. Names compare exactly: case counts ({@code Llama} and
 * {@code llama} are two names). Ref names are {@code <model>/head} and {@code <model>/tags/<tag>}. Because every component starts with a letter or digit, no name can be {@code .}, {@code ..},
 * absolute, or hold a separator or NUL, so backends can map names to paths and keys directly.
 */
public final class RefNames {
  private static final Pattern PART = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  private static final Pattern TAG = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  /** The tag name that means "the model's head"; it cannot be used as a tag. */
  public static final String HEAD = "head";

  private RefNames() {}

  /** Checks a model name, e.g. {@code llama-3-8b} or {@code meta-llama/Llama-3.1-8B}. */
  public static String checkModel(String model) throws InvalidInputException {
    if (model == null || model.isEmpty()) {
      throw new InvalidInputException("model name is empty");
    }
    String[] parts = model.split("/", -1);
    if (parts.length > 2) {
      throw new InvalidInputException(
          "model name '" + model + "' has more than one '/': use at most one org/ prefix");
    }
    for (String p : parts) {
      if (!PART.matcher(p).matches()) {
        throw new InvalidInputException("model name '" + model + "' is invalid: " + defect(p) + "; each part must"
            + " match " + PART.pattern() + " (letters, digits, '.', '_', '-'; starting with a letter or digit)");
      }
    }
    return model;
  }

  /** Checks a tag name, e.g. {@code prod}. */
  public static String checkTag(String tag) throws InvalidInputException {
    if (tag == null || !TAG.matcher(tag).matches()) {
      throw new InvalidInputException("tag name '" + tag + "' is invalid: " + (tag == null ? "it is null"
          : defect(tag)) + "; it must match " + TAG.pattern());
    }
    if (tag.equals(HEAD)) {
      throw new InvalidInputException("'head' is reserved and cannot be used as a tag");
    }
    return tag;
  }

  /**
   * Refuses a name for a new model or tag that {@link #checkModel} and {@link #checkTag} accept (names already in a
   * store stay usable) but that git refuses in a ref name: a name, or a part of a model's name, that ends with
   * {@code .} (which Windows file systems drop, so that {@code llama.} and {@code llama} would share a directory) or
   * with {@code .lock} (git's lock files), or that holds {@code ..}. Such a name could not be mirrored as a git ref (a
   * Hugging Face revision, say) under its own name.
   *
   * @param kind {@code model} or {@code tag}, for the message
   * @throws InvalidInputException naming the name and the rule it breaks
   */
  public static void checkNewName(String kind, String name) throws InvalidInputException {
    for (String p : name.split("/", -1)) {
      String defect = p.contains("..") ? "it holds '..'" : p.endsWith(".lock") ? "it ends with '.lock'"
          : p.endsWith(".") ? "it ends with '.'" : null;
      if (defect != null) {
        throw new InvalidInputException(kind + " name '" + name + "' cannot be created: " + defect + "; a new model or"
            + " tag name (each part of a model's) may not end with '.' or '.lock' nor hold '..', as git's ref names");
      }
    }
  }

  /**
   * What breaks the rule of a name (or a part of one) that {@link #PART} and {@link #TAG} refuse: which character, or
   * its length, so that a user need not count 129 characters or find an accent.
   */
  private static String defect(String name) {
    if (name.isEmpty()) {
      return "it is empty";
    }
    for (int i = 0; i < name.length(); ) {
      int c = name.codePointAt(i);
      boolean ok = c < 128 && (Character.isLetterOrDigit(c) || i > 0 && (c == '.' || c == '_' || c == '-'));
      if (!ok) {
        boolean shown = !Character.isISOControl(c) && Character.getType(c) != Character.FORMAT;
        return (i == 0 ? "it starts with " : "it has ") + (shown ? "'" + new String(Character.toChars(c)) + "' " : "")
            + "U+" + String.format("%04X", c) + (i == 0 ? "" : " at character " + (name.codePointCount(0, i) + 1));
      }
      i += Character.charCount(c);
    }
    return "it is " + name.length() + " characters, more than 128";
  }

  /** The ref that holds the model's head. */
  public static String head(String model) {
    return model + "/" + HEAD;
  }

  /** The ref that holds a tag of the model. */
  public static String tag(String model, String tag) {
    return model + "/tags/" + tag;
  }

  /** Whether a ref name is well formed ({@code <model>/head} or {@code <model>/tags/<tag>}). */
  public static boolean isValidRef(String ref) {
    try {
      checkRef(ref);
      return true;
    } catch (InvalidInputException e) {
      return false;
    }
  }

  /** Checks a full ref name. */
  public static String checkRef(String ref) throws InvalidInputException {
    if (ref != null) {
      if (ref.endsWith("/" + HEAD)) {
        checkModel(ref.substring(0, ref.length() - HEAD.length() - 1));
        return ref;
      }
      int t = ref.lastIndexOf("/tags/");
      if (t > 0) {
        checkModel(ref.substring(0, t));
        checkTag(ref.substring(t + 6));
        return ref;
      }
    }
    throw new InvalidInputException("ref name '" + ref + "' is invalid: expected <model>/head or <model>/tags/<tag>");
  }

  /**
   * A ref name as users write it, for messages: {@code tiny/head} is {@code tiny}, {@code tiny/tags/prod} is
   * {@code tiny:prod}; anything else as it is.
   */
  public static String asWritten(String ref) {
    if (!isValidRef(ref)) {
      return ref;
    }
    String model = modelOf(ref);
    return ref.endsWith("/" + HEAD) ? model : model + ":" + ref.substring(model.length() + "/tags/".length());
  }

  /** The model part of a valid ref name. */
  public static String modelOf(String ref) {
    if (ref.endsWith("/" + HEAD)) {
      return ref.substring(0, ref.length() - HEAD.length() - 1);
    }
    return ref.substring(0, ref.lastIndexOf("/tags/"));
  }
}
