package io.ferry.testkit;

import io.ferry.id.ChunkId;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * A snapshot of a directory tree for "this failed operation changed nothing" assertions: every file and directory
 * under the root, by relative path, with the SHA-256 of each file's content ({@code "dir"} for directories).
 */
public final class DirectoryState {
  private DirectoryState() {}

  /** The state of the tree under {@code root}, sorted by path. */
  public static Map<String, String> of(Path root) throws IOException {
    Map<String, String> out = new TreeMap<>();
    try (Stream<Path> s = Files.walk(root)) {
      s.forEach(p -> {
        String rel = root.relativize(p).toString();
        try {
          out.put(rel, Files.isDirectory(p) ? "dir" : ChunkId.of(Files.readAllBytes(p)).hex());
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      });
    } catch (UncheckedIOException e) {
      throw e.getCause();
    }
    return out;
  }

  /**
   * Copies the tree at {@code from} into {@code to} (created, with its directories), each file with its attributes
   * (modification time included: stores and pulls look at it).
   */
  public static void copy(Path from, Path to) throws IOException {
    try (Stream<Path> s = Files.walk(from)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        Path t = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(t);
        } else {
          Files.copy(p, t, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
        }
      }
    }
  }
}
