package io.ferry.cli;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * A decimal number that a double holds: one too large for it ({@code 1e400}) or too small to tell from 0
 * ({@code 1e-400}) is refused as the user wrote it. picocli's own conversion made them Infinity and 0.0, and the range
 * checks after it then quoted a value the user never typed ("--threshold must be a finite number > 0, got Infinity").
 * The errors read as Ferry's other bad numbers: "--threshold '1e400' is beyond the range of a double (about 1.8e308)".
 */
final class FiniteNumberConverter implements ITypeConverter<Double> {
  @Override
  public Double convert(String text) {
    double v;
    try {
      v = Double.parseDouble(text);
    } catch (NumberFormatException e) {
      throw new TypeConversionException("'" + text + "' is not a double"); // said as picocli's own: "is not a number"
    }
    if (Double.isInfinite(v) && !text.strip().matches("[+-]?Infinity")) {
      throw new TypeConversionException("'" + text + "' is beyond the range of a double (about 1.8e308)");
    }
    // a mantissa with a digit other than 0 that came out as 0 is one below the smallest double (about 4.9e-324)
    if (v == 0 && text.strip().split("[eEpP]", 2)[0].matches(".*[1-9].*")) {
      throw new TypeConversionException("'" + text + "' is too small for a double (below about 4.9e-324) to tell"
          + " from 0");
    }
    return v;
  }
}
