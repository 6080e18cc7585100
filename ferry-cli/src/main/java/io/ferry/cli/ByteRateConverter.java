package io.ferry.cli;

import io.ferry.repo.ByteSizes;
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
    String t = text.strip();
    if (t.toLowerCase(Locale.ROOT).endsWith("/s")) {
      t = t.substring(0, t.length() - 2);
    }
    long n;
    try {
      n = ByteSizes.parse(t);
    } catch (ByteSizes.TooLarge e) {
      throw new TypeConversionException("'" + text + "' is too large: expected " + FORMS);
    } catch (IllegalArgumentException e) {
      throw new TypeConversionException("'" + text + "' is not a rate: expected " + FORMS);
    }
    if (n <= 0) {
      throw new TypeConversionException("'" + text + "' is not above 0: expected " + FORMS);
    }
    return n;
  }
}
