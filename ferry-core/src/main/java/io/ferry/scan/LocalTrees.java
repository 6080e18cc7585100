package io.ferry.scan;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Removal of local directory trees Ferry made itself: a derivation's scratch directory, a staged checkpoint, the store
 * a failed copy created. Stateless.
 */
public final class LocalTrees {
  private LocalTrees() {}

  /**
   * Deletes {@code dir} and everything under it, deepest first, without following links: a link inside is removed,
   * never what it points at. Nothing there is not an error.
   */
  public static void delete(Path dir) throws IOException {
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
