package io.ferry.cli;

import io.ferry.repo.ByteSizes;
import io.ferry.version.Derivation;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.TimeZone;

/** Human-readable sizes and times for CLI output. */
final class Format {
  private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT);

  private Format() {}

  static String bytes(long n) {
    return ByteSizes.human(n);
  }

  /**
   * Text from a model (tensor and file names, metadata, messages) made safe for a terminal: control characters (C0,
   * DEL, C1) and the bidirectional overrides that can hide or reorder what follows are shown as a backslash and
   * {@code xNN} or {@code u{XXXX}}, and a backslash as two, so a name can never move the cursor, recolour or rewrite the
   * output, and two different names never print the same. JSON output needs none of this: its encoder escapes.
   */
  static String printable(String s) {
    if (s == null) {
      return "";
    }
    StringBuilder b = null;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      String esc = c == '\\' ? "\\\\"
          : c < 0x20 || c == 0x7f ? String.format(Locale.ROOT, "\\x%02x", (int) c)
          : (c >= 0x80 && c < 0xa0) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)
              || c == 0x200e || c == 0x200f || c == 0x061c
              ? String.format(Locale.ROOT, "\\u{%04x}", (int) c) : null;
      if (esc != null && b == null) {
        b = new StringBuilder(s.length() + 8).append(s, 0, i);
      }
      if (b != null) {
        if (esc != null) {
          b.append(esc);
        } else {
          b.append(c);
        }
      }
    }
    return b == null ? s : b.toString();
  }

  /** A duration as a user writes one ({@code 7d}, {@code 1h}, {@code 90s}, {@code 250ms}), not as ISO-8601. */
  static String duration(java.time.Duration d) {
    if (d.isNegative() || d.getNano() % 1_000_000 != 0) {
      return d.toString();
    }
    if (d.getNano() != 0) {
      return d.getSeconds() < Long.MAX_VALUE / 1000 ? d.toMillis() + "ms" : d.toString();
    }
    long s = d.getSeconds();
    long[] units = {86_400L, 3_600L, 60L};
    String[] names = {"d", "h", "m"};
    for (int i = 0; i < units.length; i++) {
      if (s != 0 && s % units[i] == 0) {
        return s / units[i] + names[i];
      }
    }
    return s + "s";
  }

  private static final Instant EARLIEST = Instant.parse("-9999-01-01T00:00:00Z");
  private static final Instant LATEST = Instant.parse("9999-12-31T23:59:59Z");

  /**
   * The local wall-clock time of an instant in the system's time zone. The offset comes from {@link TimeZone}, not from
   * {@code ZoneId.systemDefault()}: the first {@code ZoneId} of a region loads the time-zone rule providers through a
   * service lookup in every jar on the class path (about 70 ms of a {@code ferry log}); the offset at the instant,
   * daylight saving included, is the same.
   */
  static String time(Instant t) {
    if (t.isBefore(EARLIEST) || t.isAfter(LATEST)) {
      return t.toString(); // outside what a millisecond clock counts (a record a raw client wrote): UTC, as stored
    }
    int offsetMillis = TimeZone.getDefault().getOffset(t.toEpochMilli());
    return TIME.format(t.atOffset(ZoneOffset.ofTotalSeconds(offsetMillis / 1000)));
  }

  /** {@code n} and the noun, in the plural unless n is one: "1 version", "3 versions". */
  static String count(long n, String noun) {
    return n + " " + noun + (n == 1 ? "" : "s");
  }

  /**
   * {@code s} followed by the spaces that make it {@code width} columns wide on a terminal, or {@code s} alone when it
   * is as wide or wider: a column of tensor names stays aligned when a name holds CJK characters (two columns each) or
   * combining marks (none), which {@code %-48s} counts as one each.
   */
  static String padded(String s, int width) {
    int pad = width - columns(s);
    return pad <= 0 ? s : s + " ".repeat(pad);
  }

  /** How many columns a terminal gives {@code s}: East Asian wide and fullwidth characters 2, combining marks 0. */
  static int columns(String s) {
    int n = 0;
    for (int i = 0; i < s.length(); ) {
      int cp = s.codePointAt(i);
      i += Character.charCount(cp);
      int type = Character.getType(cp);
      if (type == Character.NON_SPACING_MARK || type == Character.ENCLOSING_MARK || type == Character.FORMAT) {
        continue;
      }
      n += isWide(cp) ? 2 : 1;
    }
    return n;
  }

  /** The code point blocks terminals draw two columns wide (Hangul Jamo, CJK, Hangul, fullwidth forms, emoji). */
  private static boolean isWide(int cp) {
    return cp >= 0x1100 && cp <= 0x115f || cp >= 0x2e80 && cp <= 0xa4cf && cp != 0x303f
        || cp >= 0xac00 && cp <= 0xd7a3 || cp >= 0xf900 && cp <= 0xfaff || cp >= 0xfe30 && cp <= 0xfe4f
        || cp >= 0xff00 && cp <= 0xff60 || cp >= 0xffe0 && cp <= 0xffe6 || cp >= 0x1f300 && cp <= 0x1f64f
        || cp >= 0x1f900 && cp <= 0x1f9ff || cp >= 0x20000 && cp <= 0x3fffd;
  }

  /**
   * A derivation's metric as text: a count ({@link Derivation#COUNTS}) as an integer ({@code non_finite = 286}, not
   * {@code 286.0}), any other figure with {@code format}.
   */
  static String metric(String name, double value, String format) {
    return Derivation.integral(name, value) ? Long.toString((long) value) : String.format(Locale.ROOT, format, value);
  }
}
