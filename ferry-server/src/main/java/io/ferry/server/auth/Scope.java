package io.ferry.server.auth;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * One permission of a token: {@code read:PATTERN}, {@code write:PATTERN} or {@code admin}. A pattern is a glob over
 * model names: {@code *} matches any run of characters ({@code /} included), {@code ?} one character, anything else
 * itself ({@code llama*}, {@code org/*}, {@code meta-llama/Llama-3.1-8B}). Write implies read of the same models; admin
 * implies everything, including the store-wide operations (listing and deleting chunks, records outside leases).
 *
 * @param kind what the scope allows
 * @param pattern the glob over model names; {@code *} for admin
 */
public record Scope(Kind kind, String pattern) {
  /** The kinds of scope. */
  public enum Kind {
    READ, WRITE, ADMIN
  }

  private static final Pattern GLOB = Pattern.compile("[A-Za-z0-9._/*?-]{1,257}");

  public Scope {
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(pattern, "pattern");
    if (!GLOB.matcher(pattern).matches()) {
      throw new IllegalArgumentException("scope pattern '" + pattern + "' is invalid: expected a glob of letters,"
          + " digits, '.', '_', '-', '/', '*' and '?' (1 to 257 characters)");
    }
  }

  /**
   * Parses {@code read:PATTERN}, {@code write:PATTERN} or {@code admin}.
   *
   * @throws IllegalArgumentException naming the text and what was expected
   */
  public static Scope parse(String text) {
    if (text == null) {
      throw new IllegalArgumentException("scope is missing");
    }
    if (text.equals("admin")) {
      return new Scope(Kind.ADMIN, "*");
    }
    int colon = text.indexOf(':');
    String kind = colon < 0 ? text : text.substring(0, colon);
    if (colon < 0 || !(kind.equals("read") || kind.equals("write"))) {
      throw new IllegalArgumentException("scope '" + text + "' is invalid: expected read:PATTERN, write:PATTERN or"
          + " admin");
    }
    return new Scope(kind.equals("read") ? Kind.READ : Kind.WRITE, text.substring(colon + 1));
  }

  /** Whether the pattern matches the model name. */
  public boolean matches(String model) {
    return kind == Kind.ADMIN || glob(pattern, 0, model, 0);
  }

  private static boolean glob(String p, int i, String s, int j) {
    while (i < p.length()) {
      char c = p.charAt(i);
      if (c == '*') {
        while (i < p.length() && p.charAt(i) == '*') {
          i++;
        }
        if (i == p.length()) {
          return true;
        }
        for (int k = j; k <= s.length(); k++) {
          if (glob(p, i, s, k)) {
            return true;
          }
        }
        return false;
      }
      if (j >= s.length() || (c != '?' && c != s.charAt(j))) {
        return false;
      }
      i++;
      j++;
    }
    return j == s.length();
  }

  @Override
  public String toString() {
    return kind == Kind.ADMIN ? "admin" : kind.name().toLowerCase(java.util.Locale.ROOT) + ":" + pattern;
  }
}
