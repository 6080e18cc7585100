package io.ferry.cli;

import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Durations as people write them: a whole number and a unit ({@code 250ms}, {@code 90s}, {@code 30m}, {@code 1h},
 * {@code 7d}), {@code 0}, or ISO-8601 ({@code PT1H}, {@code P7D}). Negative durations are refused. Registered for every
 * {@link Duration} option and parameter of the command line; picocli names the option in the error.
 */
final class DurationConverter implements ITypeConverter<Duration> {
  /** The accepted forms, for error messages and help. */
  static final String FORMS = "a number and a unit (250ms, 90s, 30m, 1h, 7d) or ISO-8601 (PT1H, P7D)";

  @Override
  public Duration convert(String text) {
    Duration d = parse(text);
    if (d == null) {
      throw new TypeConversionException("'" + text + "' is not a duration: expected " + FORMS);
    }
    if (d.isNegative()) {
      throw new TypeConversionException("'" + text + "' is negative: expected a duration of 0 or more, " + FORMS);
    }
    return d;
  }

  /** The duration {@code text} writes, or null if it is none of the accepted forms. */
  static Duration parse(String text) {
    String t = text.strip().toLowerCase(Locale.ROOT);
    if (t.startsWith("p") || t.startsWith("-p")) {
      try {
        return Duration.parse(t);
      } catch (DateTimeParseException e) {
        return null;
      }
    }
    int unit = 0;
    while (unit < t.length() && (Character.isDigit(t.charAt(unit)) || (unit == 0 && t.charAt(0) == '-'))) {
      unit++;
    }
    if (unit == 0 || unit > 19 || (unit == 1 && t.charAt(0) == '-')) {
      return null;
    }
    long n;
    try {
      n = Long.parseLong(t.substring(0, unit));
    } catch (NumberFormatException e) {
      return null;
    }
    try {
      return switch (t.substring(unit)) {
        case "ms" -> Duration.ofMillis(n);
        case "s" -> Duration.ofSeconds(n);
        case "m" -> Duration.ofMinutes(n);
        case "h" -> Duration.ofHours(n);
        case "d" -> Duration.ofDays(n);
        case "" -> n == 0 ? Duration.ZERO : null;
        default -> null;
      };
    } catch (ArithmeticException e) {
      return null;
    }
  }
}
