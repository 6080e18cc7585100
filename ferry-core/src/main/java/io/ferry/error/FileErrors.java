package io.ferry.error;

import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/**
 * The JDK's file errors carry only a path as their message ({@code AccessDeniedException: /data/x}); this says what
 * happened after the path, in words rather than with a Java class name. Stateless.
 */
public final class FileErrors {
  private FileErrors() {}

  /**
   * {@code path: reason} for a file error that has a path and no reason of its own ({@code /data/x: permission
   * denied}), else null.
   */
  public static String describe(Throwable e) {
    if (!(e instanceof FileSystemException f) || f.getReason() != null || f.getFile() == null) {
      return null;
    }
    return f.getFile() + (f.getOtherFile() == null ? "" : " -> " + f.getOtherFile()) + ": " + why(e);
  }

  /**
   * What went wrong, without the path, for a message that names the file itself: the words for a file error that
   * has no reason of its own ({@code permission denied}), else the exception's message.
   */
  public static String reason(Throwable e) {
    if (e instanceof FileSystemException f && f.getReason() == null) {
      return why(e);
    }
    return e instanceof FileSystemException f ? f.getReason() : e.getMessage();
  }

  /**
   * Whether a message is the system's word for a write that found no room: no space left on the device, or the
   * user's disk quota used up (the JDK's whole message for such a write).
   */
  public static boolean outOfSpace(String message) {
    return "No space left on device".equals(message) || "Disk quota exceeded".equals(message);
  }

  private static String why(Throwable e) {
    return e instanceof NoSuchFileException ? "no such file or directory"
        : e instanceof AccessDeniedException ? "permission denied"
        : e instanceof FileAlreadyExistsException ? "already exists"
        : e instanceof NotDirectoryException ? "not a directory"
        : e instanceof DirectoryNotEmptyException ? "directory not empty" : "file system error";
  }
}
