package io.ferry.cli;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * File and directory arguments. An empty one is refused: Java reads {@code ""} as the current directory, so {@code
 * ferry push "$DIR" m} with {@code DIR} unset pushed the whole working directory, and {@code ferry pull m "$OUT"}
 * wrote into it. Registered for every {@link Path} option and parameter; picocli names the argument in the error.
 */
final class PathConverter implements ITypeConverter<Path> {
  @Override
  public Path convert(String text) {
    if (text.isEmpty()) {
      throw new TypeConversionException("the path is empty (an unset shell variable?); give '.' for the current "
          + "directory");
    }
    try {
      return Path.of(text);
    } catch (InvalidPathException e) {
      throw new TypeConversionException("'" + text + "' is not a path: " + e.getReason());
    }
  }
}
