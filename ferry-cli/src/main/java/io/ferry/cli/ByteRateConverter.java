package io.ferry.cli;

import java.util.Locale;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * A rate in bytes per second as people write it: a whole number of bytes, or one with a binary unit ({@code 256k} or
 * {@code 256KiB} for 262,144, {@code 1m} or {@code 1MiB}, {@code 1g}), optionally followed by {@code /s}. Only rates
 * above 0 are taken; picocli names the option in the error.
 */
final class ByteRateConverter implements ITypeConverter<Long> {
  /** The accepted forms, for error messages and help. */
  static final String FORMS = "bytes per second, as a number with an optional unit (262144, 256k, 256KiB, 1m, 1g)";

  @Override
  public Long convert(String text) {
    String t = text.strip().toLowerCase(Locale.ROOT);
    if (t.endsWith("/s")) {
      t = t.substring(0, t.length() - 2);
    }
    int unit = 0;
    while (unit < t.length() && (Character.isDigit(t.charAt(unit)) || (unit == 0 && t.charAt(0) == '-'))) {
      unit++;
    }
    int shift = switch (t.substring(unit)) {
      case "", "b" -> 0;
      case "k", "kib" -> 10;
      case "m", "mib" -> 20;
      case "g", "gib" -> 30;
      default -> -1;
    };
    long n = 0;
    try {
      n = shift < 0 || unit == 0 ? 0 : Long.parseLong(t.substring(0, unit));
    } catch (NumberFormatException e) {
      shift = -1; // a lone '-', or more digits than a long holds
    }
    if (shift < 0 || unit == 0) {
      throw new TypeConversionException("'" + text + "' is not a rate: expected " + FORMS);
    }
    if (n <= 0) {
      throw new TypeConversionException("'" + text + "' is not above 0: expected " + FORMS);
    }
    if (n > Long.MAX_VALUE >> shift) {
      throw new TypeConversionException("'" + text + "' is too large: expected " + FORMS);
    }
    return n << shift;
  }
}
