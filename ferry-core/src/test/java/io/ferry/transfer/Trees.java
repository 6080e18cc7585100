package io.ferry.transfer;

import io.ferry.id.ChunkId;
import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Map;
import java.util.TreeMap;

/** What a directory holds, for comparing before and after: relative path to "dir", "link -> target" or a hash. */
final class Trees {
  private Trees() {}

  /** Every entry below {@code root} (hidden ones included), never following links. */
  static Map<String, String> of(Path root) throws IOException {
    Map<String, String> out = new TreeMap<>();
    Files.walkFileTree(root, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
        if (!dir.equals(root)) {
          out.put(root.relativize(dir).toString().replace('\\', '/'), "dir");
        }
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        String rel = root.relativize(file).toString().replace('\\', '/');
        if (attrs.isSymbolicLink()) {
          out.put(rel, "link -> " + Files.readSymbolicLink(file));
        } else if (attrs.isRegularFile()) {
          out.put(rel, "file " + ChunkId.of(java.nio.ByteBuffer.wrap(Files.readAllBytes(file))).hex());
        } else {
          out.put(rel, "other");
        }
        return FileVisitResult.CONTINUE;
      }
    });
    return out;
  }
}
