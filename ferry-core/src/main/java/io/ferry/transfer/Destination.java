package io.ferry.transfer;

import io.ferry.error.InvalidInputException;
import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * What pulls (plain, and converting with {@code --as}) share about the directory they write into: walking what it
 * holds without following a link below it, removing what a forced pull must not leave, and the words of a refusal.
 * Stateless.
 */
public final class Destination {
  /** How many paths a refusal names of each kind before it says how many more there are. */
  private static final int SHOW = 10;

  private Destination() {}

  /** Receives what {@link #walk} finds, by paths relative to DEST with {@code /} between names. */
  public interface Visitor {
    /** A directory below DEST (not DEST itself), before what it holds. */
    void directory(String rel);

    /** Anything that is not a directory: a file, a link (not followed), a fifo, a device. */
    void file(String rel, Path path, BasicFileAttributes attrs) throws IOException;
  }

  /**
   * Walks {@code dest}, which may itself be a link to a directory (as for {@code cp}); below it nothing is followed.
   * An entry that cannot be read is an error naming it. Git's entries ({@code .git}) are not walked (see
   * {@link #isGit}).
   *
   * @return the real path of DEST the relative paths are relative to
   */
  public static Path walk(Path dest, Visitor visitor) throws IOException {
    Path root = dest.toRealPath();
    Files.walkFileTree(root, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
        if (!dir.equals(root)) {
          if (isGit(dir)) {
            return FileVisitResult.SKIP_SUBTREE;
          }
          visitor.directory(relative(root, dir));
        }
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        if (!isGit(file)) {
          visitor.file(relative(root, file), file, attrs);
        }
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
        throw new IOException(file + ": cannot be read to compare it with the version (" + e.getMessage() + ")", e);
      }
    });
    return root;
  }

  /**
   * Whether an entry of DEST is git's (a clone's {@code .git} directory, a submodule's {@code .git} file): no version
   * holds such a path ({@link io.ferry.version.SafePaths}), so a pull neither counts it as a file the version does not
   * have nor removes it with {@code --force}, as a push never stores it.
   */
  private static boolean isGit(Path p) {
    return io.ferry.version.SafePaths.isGit(p.getFileName().toString());
  }

  /**
   * After a forced pull put every file of a version in place ({@code what}: {@code pull}, {@code pull --as torch}):
   * removes {@code files} under {@code root} (links themselves, never their targets), then {@code dirs}, given
   * shallowest first, deepest first where they ended up empty; a directory in which something appeared meanwhile is
   * kept.
   *
   * @throws IOException if one cannot be removed, saying that the version's files are in place (they cannot be taken
   *     back now) and naming what is left, so that the error does not read as a pull that left DEST as it was
   */
  public static void remove(Path root, List<String> files, List<String> dirs, String what) throws IOException {
    try {
      for (String rel : files) {
        Files.deleteIfExists(root.resolve(rel));
      }
      for (int i = dirs.size() - 1; i >= 0; i--) {
        Path d = root.resolve(dirs.get(i));
        if (Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS)) {
          try {
            Files.deleteIfExists(d);
          } catch (DirectoryNotEmptyException keep) {
            // something appeared there meanwhile: keep it
          }
        }
      }
    } catch (IOException e) {
      throw new IOException(what + " put every file of the version into " + root + ", but could not remove every"
          + " file the version does not have (" + e.getMessage() + "); remove what is left by hand", e);
    }
  }

  /**
   * Refuses, before anything is written, a destination where a link or a non-directory stands where {@code files}
   * (paths relative to {@code dest}) need a directory, or a directory where one of them is a file. Paths below a
   * missing directory are not looked at. Refuses too two paths that would be one file there ({@link NameClashes}).
   */
  public static void check(Path dest, Collection<String> files) throws IOException {
    NameClashes.check(dest, files);
    if (!Files.isDirectory(dest)) {
      return;
    }
    Set<Path> checkedDirs = new HashSet<>();
    for (String file : files) {
      String[] parts = file.split("/");
      Path p = dest;
      boolean absent = false;
      for (int i = 0; i < parts.length - 1 && !absent; i++) {
        p = p.resolve(parts[i]);
        if (checkedDirs.contains(p)) {
          continue;
        }
        BasicFileAttributes a = attributes(p);
        if (a == null) {
          absent = true;
        } else {
          requireDirectory(p, a, file);
          checkedDirs.add(p);
        }
      }
      if (!absent) {
        Path target = p.resolve(parts[parts.length - 1]);
        BasicFileAttributes a = attributes(target);
        if (a != null && a.isDirectory()) {
          throw Placement.directoryInTheWay(target, file);
        }
      }
    }
  }

  /** Refuses {@code p} (with attributes {@code a}, not following links) as the directory {@code file} needs. */
  public static void requireDirectory(Path p, BasicFileAttributes a, String file) throws InvalidInputException {
    if (a.isSymbolicLink()) {
      String to;
      try {
        to = " (to " + Files.readSymbolicLink(p) + ")";
      } catch (IOException e) {
        to = "";
      }
      throw new InvalidInputException(p + ": is a symbolic link" + to + " where the version has a directory (for '"
          + file + "'); pull does not write through links: remove the link or pull into another directory");
    }
    if (!a.isDirectory()) {
      throw new InvalidInputException(p + ": exists and is not a directory, where the version has a directory (for '"
          + file + "')");
    }
  }

  /** The attributes of {@code p} itself (a link is not followed), or null if nothing is there. */
  private static BasicFileAttributes attributes(Path p) throws IOException {
    try {
      return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return null;
    }
  }

  /**
   * The message of a refused pull: the files in the way (the first ten of each kind) and the two ways on.
   *
   * @param version what is being pulled, as the message names it ("the version", "the converted version")
   * @param command the command as the user gave it, to which {@code --force} and {@code --merge} are added
   */
  public static String refusal(Path dest, List<String> differing, List<String> others, String version,
      String command) {
    StringBuilder b = new StringBuilder(dest.toString()).append(": holds ");
    if (!differing.isEmpty()) {
      b.append(differing.size()).append(differing.size() == 1 ? " file that differs" : " files that differ")
          .append(" from ").append(version).append("'s (").append(names(differing)).append(')');
    }
    if (!others.isEmpty()) {
      b.append(differing.isEmpty() ? "" : " and ").append(others.size())
          .append(others.size() == 1 ? " file" : " files").append(' ').append(version).append(" does not have (")
          .append(names(others)).append(')');
    }
    return b.append("; nothing was written: ").append(command).append(" --force makes the directory exactly ")
        .append(version).append(" (replacing and removing them), --merge replaces ").append(version)
        .append("'s files and keeps the others").toString();
  }

  private static String names(List<String> paths) {
    List<String> shown = paths.subList(0, Math.min(SHOW, paths.size()));
    return String.join(", ", shown) + (paths.size() > SHOW ? ", and " + (paths.size() - SHOW) + " more" : "");
  }

  private static String relative(Path root, Path p) {
    return root.relativize(p).toString().replace(p.getFileSystem().getSeparator(), "/");
  }
}
