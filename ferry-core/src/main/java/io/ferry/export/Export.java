package io.ferry.export;

import io.ferry.error.InvalidInputException;
import io.ferry.read.ModelReader;
import io.ferry.version.FileEntry;
import io.ferry.version.SafePaths;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Writes a stored version into a directory in another format than it was pushed in ({@code ferry pull --as}): the
 * files a conversion takes are converted under new names, every other file is written as it is, and every byte is
 * read through the verified chunk path of a {@link ModelReader}.
 *
 * <p>Files are written under temporary names in their directory and renamed when all are complete; a failure removes
 * them and leaves DEST's existing files as they were. No path component under DEST may be a symbolic link. Stateless.
 */
public final class Export {
  /** The formats {@code pull --as} writes. */
  public enum As {
    /** PyTorch checkpoints as safetensors ({@link SafetensorsExport}). */
    SAFETENSORS,
    /** safetensors files as PyTorch zip checkpoints ({@link TorchExport}). */
    TORCH;

    /** The format named {@code name} (case-insensitive). */
    public static As parse(String name) throws InvalidInputException {
      for (As a : values()) {
        if (a.name().equalsIgnoreCase(name)) {
          return a;
        }
      }
      throw new InvalidInputException("--as " + name + ": pull converts to safetensors or torch, not '" + name + "'");
    }

    @Override
    public String toString() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** What was written: DEST-relative paths, how many tensors were converted, and the bytes written. */
  public record Result(List<String> files, long tensors, long bytes) {
    public Result {
      files = List.copyOf(files);
    }
  }

  /** The name a conversion gives a file, or null when the file is written as it is. */
  @FunctionalInterface
  interface Naming {
    String convertedName(FileEntry f);
  }

  /** Writes a converted file into {@code out} (empty, at position 0); returns the tensors it converted. */
  @FunctionalInterface
  interface Converter {
    long convert(ModelReader reader, FileEntry f, FileChannel out) throws IOException;
  }

  private Export() {}

  /**
   * Writes the version {@code reader} reads into {@code dest} as {@code as}; with {@code fsync}, forces every file to
   * disk before it gets its final name.
   *
   * @throws InvalidInputException if a converted name clashes with a file of the version, a path is unsafe, or a
   *     tensor cannot be converted (the error names it)
   */
  public static Result write(ModelReader reader, Path dest, boolean fsync, As as) throws IOException {
    return switch (as) {
      case SAFETENSORS -> SafetensorsExport.write(reader, dest, fsync);
      case TORCH -> TorchExport.write(reader, dest, fsync);
    };
  }

  static Result write(ModelReader reader, Path dest, boolean fsync, String as, Naming naming, Converter converter)
      throws IOException {
    String what = "pull --as " + as;
    Set<String> paths = new HashSet<>();
    Map<String, FileEntry> plan = new LinkedHashMap<>();
    Set<String> converted = new HashSet<>();
    for (FileEntry f : reader.snapshot().files()) {
      paths.add(f.path());
    }
    for (FileEntry f : reader.snapshot().files()) {
      String name = naming.convertedName(f);
      String out = name != null ? name : f.path();
      SafePaths.check(out, what);
      if (plan.putIfAbsent(out, f) != null || !out.equals(f.path()) && paths.contains(out)) {
        throw new InvalidInputException(what + ": " + f.path() + " would be written as " + out
            + ", which the version also holds");
      }
      if (name != null) {
        converted.add(out);
      }
    }
    Files.createDirectories(dest);
    List<Path> temps = new ArrayList<>();
    List<String> written = new ArrayList<>();
    long tensors = 0;
    long bytes = 0;
    try {
      List<Path[]> moves = new ArrayList<>();
      for (Map.Entry<String, FileEntry> e : plan.entrySet()) {
        Path target = target(dest, e.getKey());
        Path temp = target.resolveSibling("." + target.getFileName() + ".ferry-" + Long.toHexString(System.nanoTime()));
        temps.add(temp);
        try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
          if (converted.contains(e.getKey())) {
            tensors += converter.convert(reader, e.getValue(), ch);
          } else {
            reader.copyFile(e.getValue().path(), ch);
          }
          bytes += ch.size();
          if (fsync) {
            ch.force(true);
          }
        }
        moves.add(new Path[] {temp, target});
        written.add(e.getKey());
      }
      for (Path[] m : moves) {
        Files.move(m[0], m[1], StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        temps.remove(m[0]);
      }
    } finally {
      for (Path t : temps) {
        Files.deleteIfExists(t);
      }
    }
    return new Result(written, tensors, bytes);
  }

  /** The file under DEST, its directories created; refuses a link or a non-directory on the way. */
  private static Path target(Path dest, String rel) throws IOException {
    Path at = dest;
    String[] parts = rel.split("/");
    for (int i = 0; i < parts.length; i++) {
      at = at.resolve(parts[i]);
      if (Files.isSymbolicLink(at)) {
        throw new InvalidInputException(at + ": is a symbolic link; pull does not write through links");
      }
      if (i < parts.length - 1) {
        if (!Files.exists(at, LinkOption.NOFOLLOW_LINKS)) {
          try {
            Files.createDirectory(at);
          } catch (FileAlreadyExistsException ignored) {
            // made meanwhile; checked below
          }
        }
        if (!Files.isDirectory(at, LinkOption.NOFOLLOW_LINKS)) {
          throw new InvalidInputException(at + ": exists and is not a directory");
        }
      } else if (Files.isDirectory(at, LinkOption.NOFOLLOW_LINKS)) {
        throw new InvalidInputException(at + ": is a directory where the version has a file");
      }
    }
    return at;
  }
}
