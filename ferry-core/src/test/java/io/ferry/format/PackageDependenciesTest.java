package io.ferry.format;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The direction of dependencies around formats: formats know nothing of chunking, snapshots, stores or transfers;
 * chunking knows layouts but not snapshots. Read from the sources (every {@code io.ferry.x} a file names, imports
 * and fully qualified names alike), so a new dependency fails here before it makes a package cycle.
 */
class PackageDependenciesTest {
  private static final Path MAIN = Path.of("src/main/java/io/ferry");
  private static final Pattern REF = Pattern.compile("\\bio\\.ferry\\.([a-z]+)\\b");

  private static List<String> violations(String pkg, Set<String> allowed) throws IOException {
    List<String> out = new ArrayList<>();
    try (Stream<Path> files = Files.walk(MAIN.resolve(pkg))) {
      for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".java"))::iterator) {
        Matcher m = REF.matcher(Files.readString(f));
        while (m.find()) {
          if (!allowed.contains(m.group(1))) {
            out.add(MAIN.relativize(f) + " names io.ferry." + m.group(1));
          }
        }
      }
    }
    return out;
  }

  @Test
  void formatDependsOnlyOnErrors() throws IOException {
    assertThat(Files.isDirectory(MAIN.resolve("format"))).as("sources found").isTrue();
    assertThat(violations("format", Set.of("format", "error", "id"))).isEmpty();
  }

  @Test
  void chunkingDependsOnLayoutsNotOnSnapshots() throws IOException {
    assertThat(violations("chunk", Set.of("chunk", "codec", "error", "format", "id"))).isEmpty();
  }
}
