package io.ferry.repo;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.Locale;

/**
 * Byte counts as people read and write them: the way the CLI and the store browser show sizes, and the way options
 * and settings take them.
 */
public final class ByteSizes {
  private static final String[] UNITS = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

  private ByteSizes() {}

  /** {@code 512 B}, {@code 1.5 KiB}, {@code 400.0 GiB}: bytes below 1 KiB exactly, else one decimal of the unit. */
  public static String human(long n) {
    if (n < 1024) {
      return n + " B";
    }
    double v = n;
    int u = -1;
    while (v >= 1024 && u < UNITS.length - 1) {
      v /= 1024;
      u++;
    }
    // what String.format("%.1f") prints (the shortest decimal of v, rounded half up), without the Formatter, whose
    // locale data is a noticeable part of a short command's start-up
    return BigDecimal.valueOf(v).setScale(1, RoundingMode.HALF_UP).toPlainString() + " " + UNITS[u];
  }

  /** The forms {@link #parse} takes, for error messages and help. */
  public static final String FORMS = "a number of bytes with an optional binary unit (262144, 256k, 256KiB, 1m, 1g)";

  /**
   * A byte count as people write it: a whole number, optionally negative (callers that take only positive counts
   * say so in their own words), with an optional binary unit, case ignored: {@code b}; {@code k} or {@code KiB} for
   * 1,024; {@code m} or {@code MiB}; {@code g} or {@code GiB}; {@code t} or {@code TiB}.
   *
   * @throws IllegalArgumentException naming the text and the forms taken, when it is none of them; {@link TooLarge}
   *     when the count does not fit a long
   */
  public static long parse(String text) {
    String t = text.strip().toLowerCase(Locale.ROOT);
    int digits = t.startsWith("-") ? 1 : 0;
    int first = digits;
    while (digits < t.length() && t.charAt(digits) >= '0' && t.charAt(digits) <= '9') {
      digits++;
    }
    int shift = switch (t.substring(digits)) {
      case "", "b" -> 0;
      case "k", "kib" -> 10;
      case "m", "mib" -> 20;
      case "g", "gib" -> 30;
      case "t", "tib" -> 40;
      default -> -1;
    };
    if (shift < 0 || digits == first) {
      throw new IllegalArgumentException("'" + text + "' is not a byte count: expected " + FORMS);
    }
    long n;
    try {
      n = Long.parseLong(t.substring(0, digits));
    } catch (NumberFormatException e) {
      throw new TooLarge(text);
    }
    if (n > Long.MAX_VALUE >> shift || n < Long.MIN_VALUE >> shift) {
      throw new TooLarge(text);
    }
    return n << shift;
  }

  /** A byte count written in a form {@link #parse} takes, whose value does not fit a long. */
  public static final class TooLarge extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    TooLarge(String text) {
      super("'" + text + "' is too large: expected " + FORMS);
    }
  }
}
