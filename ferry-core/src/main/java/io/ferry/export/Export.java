package io.ferry.export;

import io.ferry.error.InvalidInputException;
import io.ferry.read.ModelReader;
import io.ferry.transfer.Destination;
import io.ferry.transfer.Placement;
import io.ferry.transfer.PullOptions;
import io.ferry.version.FileEntry;
import io.ferry.version.SafePaths;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes a stored version into a directory in another format than it was pushed in ({@code ferry pull --as}): the
 * files a conversion takes are converted under new names, every other file is written as it is, and every byte is
 * read through the verified chunk path of a {@link ModelReader}.
 *
 * <p>Files are written under temporary names in their directory and renamed when all are complete; a failure removes
 * them (and the directories it made) and leaves DEST's existing files as they were. Files already in DEST are handled
 * as a pull handles them ({@link PullOptions.Existing}): kept when identical to the converted ones; otherwise the pull
 * is refused unless it may replace them (merge) or make DEST exactly the converted version (force). No path component
 * under DEST may be a symbolic link. Stateless.
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
   * A full disk's error with the file being written in front: the JDK says only "No space left on device". Only
   * errors no read makes (no space, no quota) are named so, as the writes share a call with reads from the store.
   */
  private static IOException naming(Path file, IOException e) {
    boolean full = e.getClass() == IOException.class && io.ferry.error.FileErrors.outOfSpace(e.getMessage());
    return full ? new IOException(file + ": " + e.getMessage(), e) : e;
  }

  /**
   * Writes the version {@code reader} reads into {@code dest} as {@code as}; with {@code fsync}, forces every file to
   * disk before it gets its final name. Other files in {@code dest} make it refuse ({@link
   * PullOptions.Existing#REFUSE}).
   *
   * @throws InvalidInputException if a converted name clashes with a file of the version, a path is unsafe, or a
   *     tensor cannot be converted (the error names it)
   */
  public static Result write(ModelReader reader, Path dest, boolean fsync, As as) throws IOException {
    return write(reader, dest, fsync, as, PullOptions.Existing.REFUSE);
  }

  /**
   * Writes the version {@code reader} reads into {@code dest} as {@code as}, as a pull does: files already there and
   * identical to the converted ones are kept; files that differ and files the conversion does not write are what
   * {@code existing} decides (refuse, naming them, before anything is written; replace and keep the others; replace
   * and remove the others).
   *
   * @throws InvalidInputException if a converted name clashes with a file of the version, a path is unsafe, a tensor
   *     cannot be converted (the error names it), or {@code existing} is {@code REFUSE} and DEST holds other files
   */
  public static Result write(ModelReader reader, Path dest, boolean fsync, As as, PullOptions.Existing existing)
      throws IOException {
    return switch (as) {
      case SAFETENSORS -> SafetensorsExport.write(reader, dest, fsync, existing);
      case TORCH -> TorchExport.write(reader, dest, fsync, existing);
    };
  }

  static Result write(ModelReader reader, Path dest, boolean fsync, String as, Naming naming, Converter converter,
      PullOptions.Existing existing) throws IOException {
    return write(reader, dest, fsync, as, naming, converter, existing, Placement.ATOMIC);
  }

  /** As above, renaming the finished files into place with {@code renamer} (tests make it fail). */
  static Result write(ModelReader reader, Path dest, boolean fsync, String as, Naming naming, Converter converter,
      PullOptions.Existing existing, Placement.Renamer renamer) throws IOException {
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
    // a link or a file where a written file needs a directory is named as such, before it would count as a file in
    // the way (which --force would then refuse to write through)
    Destination.check(dest, plan.keySet());
    Others others = others(dest, plan.keySet());
    if (existing == PullOptions.Existing.REFUSE && !others.files.isEmpty()) {
      throw refusal(dest, as, List.of(), others.files);
    }
    for (Path leftover : others.leftovers) {
      Files.deleteIfExists(leftover);
    }
    List<Path> made = new ArrayList<>();
    if (!Files.isDirectory(dest)) {
      Files.createDirectories(dest);
      made.add(dest);
    }
    List<Path> temps = new ArrayList<>();
    List<String> written = new ArrayList<>();
    long tensors = 0;
    long bytes = 0;
    boolean done = false;
    try {
      List<Placement.Move> moves = new ArrayList<>();
      List<String> differing = new ArrayList<>();
      for (Map.Entry<String, FileEntry> e : plan.entrySet()) {
        Path target = target(dest, e.getKey(), made);
        // a short name, as a pull's: any file name up to the file system's limit can be written
        Path temp = target.resolveSibling(".ferry-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current()
            .nextLong()) + ".tmp");
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
        } catch (IOException full) {
          throw naming(target, full);
        }
        written.add(e.getKey());
        if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
          moves.add(new Placement.Move(temp, target, e.getKey()));
        } else if (!Files.isRegularFile(target, LinkOption.NOFOLLOW_LINKS) || Files.mismatch(temp, target) != -1) {
          moves.add(new Placement.Move(temp, target, e.getKey()));
          differing.add(e.getKey());
        } else {
          Files.delete(temp);
          temps.remove(temp);
        }
      }
      if (existing == PullOptions.Existing.REFUSE && !differing.isEmpty()) {
        throw refusal(dest, as, differing, List.of());
      }
      // all or none: a failed rename puts back what the earlier ones replaced (the temporary files go below)
      Placement.commit(moves, dest, renamer, what);
      for (Placement.Move m : moves) {
        temps.remove(m.temp());
      }
      done = true;
    } finally {
      if (!done) {
        undo(temps, made);
      }
    }
    if (existing == PullOptions.Existing.FORCE) {
      others.remove(what);
    }
    return new Result(written, tensors, bytes);
  }

  /**
   * After a failure: removes the temporary files, then the directories made, deepest first. Never throws, so that the
   * failure is what the caller sees; what cannot be removed stays (a later pull removes {@code .ferry-*.tmp} files).
   */
  private static void undo(List<Path> temps, List<Path> made) {
    for (Path t : temps) {
      try {
        Files.deleteIfExists(t);
      } catch (IOException leftForALaterPull) {
        // named like a pull's temporary file
      }
    }
    for (int i = made.size() - 1; i >= 0; i--) {
      try {
        Files.deleteIfExists(made.get(i));
      } catch (IOException keep) {
        // not empty (something else was put there meanwhile) or not removable: keep it
      }
    }
  }

  /**
   * What DEST holds besides the files a conversion writes: files (and links, never followed) and the directories that
   * none of the written files is in, shallowest first; and apart, the temporary files ({@code .ferry-<16 hex>.tmp} or
   * {@code .old}) of pulls and conversions that were killed, which are removed, not counted as files in the way.
   */
  private record Others(Path root, List<String> files, List<String> dirs, List<Path> leftovers) {
    /** Removes the files, then the directories that ended up empty, deepest first (links themselves, not targets). */
    void remove(String what) throws IOException {
      Destination.remove(root, files, dirs, what);
    }
  }

  private static Others others(Path dest, Set<String> writes) throws IOException {
    List<String> files = new ArrayList<>();
    List<String> dirs = new ArrayList<>();
    List<Path> leftovers = new ArrayList<>();
    if (!Files.isDirectory(dest)) {
      return new Others(dest, files, dirs, leftovers);
    }
    Set<String> needed = new HashSet<>();
    for (String w : writes) {
      for (int slash = w.indexOf('/'); slash >= 0; slash = w.indexOf('/', slash + 1)) {
        needed.add(w.substring(0, slash));
      }
    }
    Path root = Destination.walk(dest, new Destination.Visitor() {
      @Override
      public void directory(String rel) {
        if (!needed.contains(rel)) {
          dirs.add(rel);
        }
      }

      @Override
      public void file(String rel, Path path, BasicFileAttributes attrs) {
        if (writes.contains(rel) || io.ferry.version.SafePaths.isToolState(rel)) {
          return;
        }
        String name = path.getFileName().toString();
        // a temporary file, not the lock of a pull running there (a file in the way, as before)
        if (io.ferry.version.SafePaths.RESERVED_NAME.matcher(name).matches() && !name.endsWith(".lock")) {
          leftovers.add(path);
        } else {
          files.add(rel);
        }
      }
    });
    files.sort(null);
    return new Others(root, files, dirs, leftovers);
  }

  /** The error of a refused conversion, worded as a refused pull's. */
  private static InvalidInputException refusal(Path dest, String as, List<String> differing, List<String> others) {
    return new InvalidInputException(Destination.refusal(dest, differing, others, "the converted version",
        "pull --as " + as));
  }

  /**
   * The file under DEST, its directories created (and added to {@code made}); refuses a link or a non-directory on
   * the way. A link where the file goes is a file that differs, as for a pull: refused, or replaced (the link itself,
   * never its target) with --force or --merge.
   */
  private static Path target(Path dest, String rel, List<Path> made) throws IOException {
    Path at = dest;
    String[] parts = rel.split("/");
    for (int i = 0; i < parts.length; i++) {
      at = at.resolve(parts[i]);
      if (i < parts.length - 1) {
        if (Files.isSymbolicLink(at)) {
          throw new InvalidInputException(at + ": is a symbolic link; pull does not write through links");
        }
        if (!Files.exists(at, LinkOption.NOFOLLOW_LINKS)) {
          try {
            Files.createDirectory(at);
            made.add(at);
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
