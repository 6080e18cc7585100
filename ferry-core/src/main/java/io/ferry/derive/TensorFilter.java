package io.ferry.derive;

import static io.ferry.derive.DerivationInputException.param;

import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Which tensors a derivation may touch, by name: those that {@code include} finds (all when null) and {@code exclude}
 * does not find (none excluded when null). Regexes are searched (Java {@link java.util.regex.Matcher#find()}), so
 * {@code embed} matches {@code model.embed_tokens.weight}; anchor with {@code ^...$} for whole names. Immutable.
 */
public record TensorFilter(Pattern include, Pattern exclude) {
  /** Every tensor. */
  public static final TensorFilter ALL = new TensorFilter(null, null);

  /**
   * Compiles the regexes (null or empty = not set).
   *
   * @throws DerivationInputException naming the parameter {@code include} or {@code exclude} if a regex does not
   *     compile
   */
  public static TensorFilter of(String include, String exclude) throws DerivationInputException {
    return new TensorFilter(compile("include", include), compile("exclude", exclude));
  }

  private static Pattern compile(String parameter, String regex) throws DerivationInputException {
    if (regex == null || regex.isEmpty()) {
      return null;
    }
    try {
      return Pattern.compile(regex);
    } catch (PatternSyntaxException e) {
      throw new DerivationInputException(e, param(parameter), " '" + regex + "' is not a valid regular expression: "
          + e.getDescription());
    }
  }

  /**
   * Null if the tensor passes, else why not ("excluded by --exclude 'x'"). The reason is recorded in {@code
   * ferry-derivation.json}, spelled as format {@code ferry-derivation/1} has always spelled it, so that the same
   * derivation keeps giving the same bytes.
   */
  public String rejects(String name) {
    if (include != null && !include.matcher(name).find()) {
      return "not matched by --include '" + include.pattern() + "'";
    }
    if (exclude != null && exclude.matcher(name).find()) {
      return "excluded by --exclude '" + exclude.pattern() + "'";
    }
    return null;
  }

  /** The regexes as derivation parameters. */
  void describe(java.util.Map<String, String> params) {
    if (include != null) {
      params.put("include", include.pattern());
    }
    if (exclude != null) {
      params.put("exclude", exclude.pattern());
    }
  }
}
