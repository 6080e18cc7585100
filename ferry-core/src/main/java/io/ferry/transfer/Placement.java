package io.ferry.transfer;

import io.ferry.error.InvalidInputException;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Puts the finished temporary files of a pull (plain, or converting with {@code --as}) under their final names: all of
 * them or, undoing what was done, none. Each existing file is first kept under a second name, a hard link where the
 * file system has them, so that a final name never goes missing, not even if the process is killed midway (else the
 * file is renamed aside); the second names are removed once every file is in place. Stateless.
 */
public final class Placement {
  /** Renames a file; tests inject one that fails. */
  @FunctionalInterface
  public interface Renamer {
    void rename(Path from, Path to) throws IOException;
  }

  /** The renamer of real pulls: an atomic rename within the directory. */
  public static final Renamer ATOMIC = (from, to) -> Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);

  /**
   * One file to put in place.
   *
   * @param temp the finished temporary file, in the target's directory
   * @param target where it goes
   * @param file the version's path of the file, for messages
   */
  public record Move(Path temp, Path target, String file) {}

  private Placement() {}

  /**
   * Puts every {@code temp} at its {@code target}, or none of them.
   *
   * @param what the command, for messages ({@code pull}, {@code pull --as torch})
   * @throws InvalidInputException if a target is a directory (nothing is changed)
   * @throws IOException if a rename fails (what was done is undone; if undoing fails too, the message names every file
   *     left changed and where its previous content is)
   */
  public static void commit(List<Move> moves, Path dest, Renamer renamer, String what) throws IOException {
    int n = moves.size();
    Path[] aside = new Path[n];
    boolean[] linked = new boolean[n];
    boolean[] placed = new boolean[n];
    int i = 0;
    try {
      for (; i < n; i++) {
        Move m = moves.get(i);
        BasicFileAttributes a = attributes(m.target());
        if (a != null) {
          if (a.isDirectory()) {
            throw directoryInTheWay(m.target(), m.file());
          }
          Path side = m.target().resolveSibling(sideName());
          linked[i] = linkAside(m.target(), side);
          if (!linked[i]) {
            renamer.rename(m.target(), side);
          }
          aside[i] = side;
        }
        renamer.rename(m.temp(), m.target());
        placed[i] = true;
      }
    } catch (IOException | RuntimeException e) {
      undo(moves, aside, linked, placed, Math.min(i, n - 1), dest, renamer, what, e);
      throw e;
    }
    List<Path> left = new ArrayList<>();
    IOException first = null;
    for (Path p : aside) {
      if (p != null) {
        try {
          Files.deleteIfExists(p);
        } catch (IOException e) {
          left.add(p);
          first = first == null ? e : first;
        }
      }
    }
    if (first != null) {
      throw new IOException(what + " put every file into " + dest + ", but could not remove the previous files it kept"
          + " aside: " + left + " (" + first.getMessage() + ")", first);
    }
  }

  /** The error for a directory where the version has a file. */
  public static InvalidInputException directoryInTheWay(Path target, String file) {
    return new InvalidInputException(target + ": is a directory where the version has the file '" + file
        + "'; pull replaces files, not directories");
  }

  /** A second name for a file being replaced, of the form pulls clean up after a crash ({@code .ferry-<hex>.old}). */
  private static String sideName() {
    return String.format(".ferry-%016x.old", ThreadLocalRandom.current().nextLong());
  }

  /**
   * Gives the file (or link) at {@code target} the second name {@code side} with a hard link (link(2) does not follow
   * a link on Linux); false where hard links are not available, and the caller renames instead.
   */
  private static boolean linkAside(Path target, Path side) throws IOException {
    try {
      Files.createLink(side, target);
      return true;
    } catch (UnsupportedOperationException e) {
      return false;
    } catch (FileAlreadyExistsException e) {
      throw e;
    } catch (java.nio.file.FileSystemException e) {
      if (Files.exists(side, LinkOption.NOFOLLOW_LINKS)) {
        throw e;
      }
      return false;
    }
  }

  /**
   * Undoes files {@code last} down to 0: the original gets its name back (replacing the new file), or the new file is
   * removed, and second names are dropped. Throws, naming every file left changed, if a step fails; else returns and
   * the caller rethrows {@code cause}.
   */
  private static void undo(List<Move> moves, Path[] aside, boolean[] linked, boolean[] placed, int last, Path dest,
      Renamer renamer, String what, Exception cause) throws IOException {
    List<String> changed = new ArrayList<>();
    for (int j = last; j >= 0; j--) {
      Move m = moves.get(j);
      try {
        if (aside[j] != null && (placed[j] || !linked[j])) {
          renamer.rename(aside[j], m.target());
        } else if (aside[j] != null) {
          Files.deleteIfExists(aside[j]);
        } else if (placed[j]) {
          Files.deleteIfExists(m.target());
        }
      } catch (IOException | RuntimeException u) {
        cause.addSuppressed(u);
        if (aside[j] != null && !placed[j] && linked[j]) {
          changed.add(aside[j] + " is left over (a second name of the unchanged " + m.target().getFileName() + ")");
        } else if (aside[j] != null) {
          changed.add(m.target() + (placed[j] ? " holds the pulled file" : " is missing") + " (its previous content is "
              + aside[j].getFileName() + " in the same directory)");
        } else {
          changed.add(m.target() + " holds the pulled file (it did not exist before)");
        }
      }
    }
    if (!changed.isEmpty()) {
      throw new IOException(what + " into " + dest + " failed (" + cause.getMessage() + ") and undoing it failed too;"
          + " changed: " + String.join("; ", changed) + "; every other file is as it was", cause);
    }
  }

  private static BasicFileAttributes attributes(Path p) throws IOException {
    try {
      return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return null;
    }
  }
}
