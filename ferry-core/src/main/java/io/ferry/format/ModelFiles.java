package io.ferry.format;

import io.ferry.error.InvalidInputException;
import io.ferry.format.hf.HfIndex;
import io.ferry.format.safetensors.SafetensorsHeader;
import io.ferry.format.safetensors.SafetensorsReader;
import io.ferry.version.SafePaths;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemLoopException;
import java.nio.file.FileVisitOption;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The files of a model to push, found and validated completely before anything is written: a single file, or a
 * directory walked recursively (following symbolic links, as Hugging Face caches use them; {@code .git} directories
 * are skipped). Safetensors files are parsed and validated; each {@code model.safetensors.index.json} is checked
 * against the shards beside it.
 */
public final class ModelFiles {
  /** Name of the Hugging Face shard index. */
  public static final String HF_INDEX = "model.safetensors.index.json";

  /** One file to push. {@code safetensors} is its parsed header, or null for opaque files. */
  public record SourceFile(String path, Path file, long size, SafetensorsHeader safetensors) {}

  private ModelFiles() {}

  /** Scans and validates a file or a directory. */
  public static List<SourceFile> scan(Path source) throws IOException {
    if (!Files.exists(source, LinkOption.NOFOLLOW_LINKS)) {
      throw new InvalidInputException(source + ": no such file or directory");
    }
    List<SourceFile> files = new ArrayList<>();
    if (Files.isRegularFile(source)) {
      files.add(load(source.getFileName().toString(), source));
    } else if (Files.isDirectory(source)) {
      walk(source, files);
    } else {
      throw new InvalidInputException(source + ": not a regular file or directory");
    }
    if (files.isEmpty()) {
      throw new InvalidInputException(source + ": no files to push (the directory is empty)");
    }
    files.sort(Comparator.comparing(SourceFile::path));
    checkIndexes(files);
    return files;
  }

  private static void walk(Path root, List<SourceFile> out) throws IOException {
    Files.walkFileTree(root, EnumSet.of(FileVisitOption.FOLLOW_LINKS), Integer.MAX_VALUE,
        new SimpleFileVisitor<>() {
          @Override
          public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
            if (!dir.equals(root) && dir.getFileName().toString().equals(".git")) {
              return FileVisitResult.SKIP_SUBTREE;
            }
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
            if (!attrs.isRegularFile()) {
              throw new InvalidInputException(file + ": not a regular file (device, socket or pipe)");
            }
            out.add(load(relative(root, file), file));
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
            if (e instanceof FileSystemLoopException) {
              throw new InvalidInputException(file + ": symbolic link loop");
            }
            if (e instanceof AccessDeniedException) {
              throw new InvalidInputException(file + ": not readable (permission denied)");
            }
            if (e instanceof NoSuchFileException) {
              throw new InvalidInputException(file + ": dangling symbolic link or file removed during the scan");
            }
            throw e;
          }
        });
  }

  private static String relative(Path root, Path file) throws InvalidInputException {
    StringBuilder b = new StringBuilder();
    for (Path part : root.relativize(file)) {
      if (b.length() > 0) {
        b.append('/');
      }
      b.append(part.toString());
    }
    return SafePaths.check(b.toString(), root.toString());
  }

  private static SourceFile load(String rel, Path file) throws IOException {
    SafePaths.check(rel, file.toString());
    if (!Files.isReadable(file)) {
      throw new InvalidInputException(file + ": not readable (permission denied)");
    }
    long size = Files.size(file);
    SafetensorsHeader st = null;
    if (rel.endsWith(".safetensors")) {
      try {
        st = SafetensorsReader.read(file);
      } catch (AccessDeniedException e) {
        throw new InvalidInputException(file + ": not readable (permission denied)");
      } catch (InvalidInputException e) {
        // the reader names the file by its base name; name it by its path in the model
        String msg = e.getMessage();
        String base = file.getFileName().toString();
        if (msg.startsWith(base + ":") && !rel.equals(base)) {
          msg = rel + msg.substring(base.length());
        }
        throw new InvalidInputException(msg, e);
      }
    }
    return new SourceFile(rel, file, size, st);
  }

  private static void checkIndexes(List<SourceFile> files) throws IOException {
    for (SourceFile f : files) {
      if (!f.path().equals(HF_INDEX) && !f.path().endsWith("/" + HF_INDEX)) {
        continue;
      }
      String dir = f.path().substring(0, f.path().length() - HF_INDEX.length());
      HfIndex index = HfIndex.read(f.file());
      Map<String, SafetensorsHeader> shards = new HashMap<>();
      List<String> present = new ArrayList<>();
      for (SourceFile g : files) {
        if (g.safetensors() != null && g.path().startsWith(dir)) {
          String rel = g.path().substring(dir.length());
          shards.put(rel, g.safetensors());
          if (!rel.contains("/")) {
            present.add(rel);
          }
        }
      }
      try {
        index.check(shards, present);
      } catch (InvalidInputException e) {
        if (!dir.isEmpty() && e.getMessage().startsWith(HF_INDEX)) {
          throw new InvalidInputException(dir + e.getMessage(), e);
        }
        throw e;
      }
    }
  }
}
