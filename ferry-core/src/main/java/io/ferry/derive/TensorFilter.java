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
  public String rejects(String name) throws DerivationInputException {
    if (include != null && !finds("include", include, name)) {
      return "not matched by --include '" + include.pattern() + "'";
    }
    if (exclude != null && finds("exclude", exclude, name)) {
      return "excluded by --exclude '" + exclude.pattern() + "'";
    }
    return null;
  }

  /** How many characters one search may look at: far more than any regex needs on a name, far less than a minute. */
  static final long STEPS = 20_000_000;

  /**
   * Whether {@code regex} finds a match in {@code name}, giving up past {@link #STEPS} characters looked at. Tensor
   * names come from the store (whoever pushed chose them, up to thousands of characters), and Java's regexes
   * backtrack: {@code .*layers.*proj.*} on a long name of repeated {@code layers} stalled the derivation.
   */
  private static boolean finds(String parameter, Pattern regex, String name) throws DerivationInputException {
    try {
      return regex.matcher(new Budgeted(name)).find();
    } catch (Budgeted.Exhausted e) {
      String shown = name.length() <= 80 ? name : name.substring(0, 80) + "... (" + name.length() + " characters)";
      throw new DerivationInputException(param(parameter), " '" + regex.pattern() + "' gave up on tensor '" + shown
          + "' after looking at " + STEPS + " characters: the regex backtracks on such a name; anchor it or"
          + " make it simpler (e.g. one .* between fixed parts)");
    }
  }

  /** A name that counts the characters a search looks at and stops it past {@link #STEPS}. */
  private static final class Budgeted implements CharSequence {
    private final String text;
    private long left = STEPS;

    Budgeted(String text) {
      this.text = text;
    }

    @Override
    public char charAt(int index) {
      if (--left < 0) {
        throw new Exhausted();
      }
      return text.charAt(index);
    }

    @Override
    public int length() {
      return text.length();
    }

    @Override
    public CharSequence subSequence(int start, int end) {
      return text.subSequence(start, end);
    }

    @Override
    public String toString() {
      return text;
    }

    /** Thrown out of a search that looked at too many characters. */
    static final class Exhausted extends RuntimeException {
      Exhausted() {
        super(null, null, false, false);
      }
    }
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
