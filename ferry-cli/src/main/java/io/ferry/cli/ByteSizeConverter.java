package io.ferry.cli;

import io.ferry.repo.ByteSizes;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * A byte count as people write it ({@code 135266304}, {@code 129m}, {@code 129MiB}, {@code 1g}); the command checks
 * its range and picocli names the option in the error.
 */
final class ByteSizeConverter implements ITypeConverter<Long> {
  @Override
  public Long convert(String text) {
    try {
      return ByteSizes.parse(text);
    } catch (IllegalArgumentException e) {
      throw new TypeConversionException(e.getMessage());
    }
  }
}
