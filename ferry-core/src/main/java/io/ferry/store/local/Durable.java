package io.ferry.store.local;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** fsync helpers for the local backend: making file contents and directory entries durable. */
final class Durable {
  /** How often a directory is made again when deletes keep removing it between another's mkdir and our look. */
  private static final int CREATE_ATTEMPTS = 100;

  private Durable() {}

  /**
   * The error of a failed write with what was being written in front of its message: the JDK's write errors are a
   * bare reason ({@code No space left on device}). Subclasses (interruptions, file system errors that name their
   * file) are returned as they are, so that callers still see what they are.
   */
  static IOException named(IOException e, String what) {
    return e.getClass() == IOException.class ? new IOException(what + ": " + e.getMessage(), e) : e;
  }

  /** Whether a link or rename failed because its two names lie on different file systems. */
  static boolean crossDevice(java.nio.file.FileSystemException e) {
    return "Invalid cross-device link".equals(e.getReason());
  }

  /**
   * The error of a write into {@code dir} (objects or records) from {@code tmp}, which lie on different file systems:
   * the kernel said only "Invalid cross-device link" between two paths.
   */
  static IOException splitStore(String uri, Path dir, Path tmp, Exception cause) {
    return new IOException(uri + ": " + where(dir) + " and " + where(tmp) + " are on different file systems: a write"
        + " goes to tmp first and is then linked or renamed into place, which only works within one file system;"
        + " keep tmp on the file system of " + dir.getFileName() + " (a link to a directory there will do)", cause);
  }

  /** A directory of the store for a message, with where it really is when it is (or lies under) a link. */
  private static String where(Path dir) {
    try {
      Path real = dir.toRealPath();
      return real.equals(dir) ? dir.toString() : dir + " (" + real + ")";
    } catch (IOException e) {
      return dir.toString();
    }
  }

  /**
   * Forces a directory's entries (files created, renamed or removed in it) to disk. On platforms that cannot open a
   * directory for reading (Windows) this is a no-op, as the OS gives no such handle.
   */
  static void syncDirectory(Path dir) throws IOException {
    FileChannel ch;
    try {
      ch = FileChannel.open(dir, StandardOpenOption.READ);
    } catch (IOException e) {
      if (System.getProperty("os.name", "").startsWith("Windows")) {
        return;
      }
      throw e;
    }
    try (ch) {
      ch.force(true);
    }
  }

  /**
   * Fails when {@code base}, a directory a store made when it was opened ({@code objects}, {@code refs},
   * {@code records}), is gone: the store was moved, deleted or unmounted while a process (a server) had it open.
   * Without this check such a store read as empty (no models, no such model) and writes made its directories again
   * wherever its path now leads.
   */
  static void requireBase(Path base, String store) throws IOException {
    if (!Files.isDirectory(base)) {
      throw new IOException("store " + store + " has lost its " + base.getFileName() + " directory (" + base
          + "): the store was moved, deleted or unmounted while it was open; nothing was read or written there");
    }
  }

  /**
   * {@link #createDirectories} of {@code dir} inside {@code base}, which must still be there ({@link #requireBase}).
   *
   * @throws io.ferry.error.CorruptStoreException if something other than a directory stands where one of them goes
   *     (mkdir said only "already exists")
   */
  static void createDirectoriesIn(Path base, Path dir, String store) throws IOException {
    requireBase(base, store);
    try {
      createDirectories(dir);
    } catch (java.nio.file.FileAlreadyExistsException e) {
      Path p = e.getFile() == null ? dir : Path.of(e.getFile());
      throw new io.ferry.error.CorruptStoreException(store, p + " is " + whatIs(p) + " where the store keeps a"
          + " directory; move it out of the store and retry", e);
    }
  }

  /** What a path that is not a directory is, for messages. */
  static String whatIs(Path p) {
    try {
      java.nio.file.attribute.BasicFileAttributes a = Files.readAttributes(p,
          java.nio.file.attribute.BasicFileAttributes.class, java.nio.file.LinkOption.NOFOLLOW_LINKS);
      if (a.isSymbolicLink()) {
        return "a symbolic link (to " + Files.readSymbolicLink(p) + ")";
      }
      return a.isRegularFile() ? "a file" : a.isDirectory() ? "a directory" : "a fifo, socket or device";
    } catch (IOException e) {
      return "something other than a directory";
    }
  }

  /**
   * Creates {@code dir} and any missing parents, syncing the parent of every directory it created so that the new
   * entries survive a crash. Safe to race with other threads and processes creating the same directories.
   */
  static void createDirectories(Path dir) throws IOException {
    if (Files.isDirectory(dir)) {
      return;
    }
    Path parent = dir.getParent();
    if (parent != null) {
      createDirectories(parent);
    }
    for (int attempt = 1; ; attempt++) {
      try {
        Files.createDirectory(dir);
        break;
      } catch (java.nio.file.FileAlreadyExistsException e) {
        if (Files.isDirectory(dir)) {
          return;
        }
        // one look at what is there now: two looks (is it a directory? does anything exist?) could see a delete of
        // its last entry remove it and another thread's put make it again in between, and took that for a file
        java.nio.file.attribute.BasicFileAttributes now;
        try {
          now = Files.readAttributes(dir, java.nio.file.attribute.BasicFileAttributes.class,
              java.nio.file.LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.NoSuchFileException gone) {
          // another thread made it and a delete of its last entry removed it again before we looked: make it
          if (attempt == CREATE_ATTEMPTS) {
            throw e;
          }
          continue;
        }
        if (now.isDirectory()) {
          return;
        }
        throw e;
      }
    }
    if (parent != null) {
      syncDirectory(parent);
    }
  }
}
