package io.ferry.cli;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * File and directory arguments. An empty one is refused: Java reads {@code ""} as the current directory, so {@code
 * ferry push "$DIR" m} with {@code DIR} unset pushed the whole working directory, and {@code ferry pull m "$OUT"}
 * wrote into it. So is one that holds bytes the locale's character set cannot decode, which Java turns into U+FFFD
 * (a different name). Registered for every {@link Path} option and parameter; picocli names the argument in the
 * error.
 */
final class PathConverter implements ITypeConverter<Path> {
  @Override
  public Path convert(String text) {
    if (text.isEmpty()) {
      throw new TypeConversionException("the path is empty (an unset shell variable?); give '.' for the current "
          + "directory");
    }
    if (text.indexOf('\uFFFD') >= 0) {
      // Java decodes arguments in the locale's character set and puts U+FFFD for bytes it cannot decode: 'pull m
      // out<0xFF>' pulled into a new directory 'out\uFFFD', not the one named
      throw new TypeConversionException("'" + text + "' holds U+FFFD, which stands for bytes that are not valid in the"
          + " locale's character set (" + System.getProperty("sun.jnu.encoding") + "): Java cannot name that file;"
          + " rename it, or give another path");
    }
    try {
      return Path.of(text);
    } catch (InvalidPathException e) {
      throw new TypeConversionException("'" + text + "' is not a path: " + e.getReason());
    }
  }
}
