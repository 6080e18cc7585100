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

  /** Whether the pattern matches the model name, in time bounded by the product of their lengths. */
  public boolean matches(String model) {
    return kind == Kind.ADMIN || glob(pattern, model);
  }

  /**
   * Whether the glob matches the whole name. On a mismatch after a '*', only the last '*' takes one more character:
   * an earlier one never needs to, since the last one matches any run, so no choice is tried twice.
   */
  private static boolean glob(String p, String s) {
    int i = 0;
    int j = 0;
    int star = -1;
    int starAt = 0;
    while (j < s.length()) {
      if (i < p.length() && p.charAt(i) == '*') {
        star = i++;
        starAt = j;
      } else if (i < p.length() && (p.charAt(i) == '?' || p.charAt(i) == s.charAt(j))) {
        i++;
        j++;
      } else if (star >= 0) {
        i = star + 1;
        j = ++starAt;
      } else {
        return false;
      }
    }
    while (i < p.length() && p.charAt(i) == '*') {
      i++;
    }
    return i == p.length();
  }

  @Override
  public String toString() {
    return kind == Kind.ADMIN ? "admin" : kind.name().toLowerCase(java.util.Locale.ROOT) + ":" + pattern;
  }
}
