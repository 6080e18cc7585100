package io.ferry.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The diagnosis written under the tables (why a figure misses its target, from profiling): the text of
 * {@code bench/why.md}, kept by hand next to the program because it comes from profiles, not from this run.
 */
final class Why {
  private Why() {}

  static String text(Path root) {
    Path f = root.resolve("bench/why.md");
    try {
      return Files.exists(f) ? "\n" + Files.readString(f) : "";
    } catch (IOException e) {
      return "\n(bench/why.md unreadable: " + e.getMessage() + ")\n";
    }
  }
}
