package io.ferry.cli;

import java.net.UnknownHostException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/**
 * The text of an error as users read it: the message, saying what happened in words rather than with a Java class
 * name. The JDK's file errors carry only a path as their message ({@code NoSuchFileException: /data/x}); they get the
 * reason after the path. An exception without a message is described by what it means, never by its class.
 */
final class ErrorText {
  private ErrorText() {}

  static String of(Throwable e) {
    if (e instanceof FileSystemException f && f.getReason() == null && f.getFile() != null) {
      String why = e instanceof NoSuchFileException ? "no such file or directory"
          : e instanceof AccessDeniedException ? "permission denied"
          : e instanceof FileAlreadyExistsException ? "already exists"
          : e instanceof NotDirectoryException ? "not a directory"
          : e instanceof DirectoryNotEmptyException ? "directory not empty" : "file system error";
      return f.getFile() + (f.getOtherFile() == null ? "" : " -> " + f.getOtherFile()) + ": " + why;
    }
    if (e instanceof UnknownHostException) {
      return "unknown host " + e.getMessage() + " (check the store URI and the network)";
    }
    String m = e.getMessage();
    if (m != null && !m.isBlank()) {
      return m;
    }
    if (e.getCause() != null && e.getCause() != e) {
      return of(e.getCause());
    }
    if (e instanceof StackOverflowError) {
      return "internal error: too deep a recursion (run with -v for the stack trace)";
    }
    if (e instanceof java.io.InterruptedIOException) {
      return "interrupted";
    }
    return "internal error without a message (run with -v for the stack trace, and report it)";
  }

  /**
   * A message made safe to print as one line on a terminal: messages quote tensor names, keys and paths from the
   * files a command reads, so control characters (a newline included) and bidirectional overrides are escaped as
   * {@link Format#printable} escapes them. Backslashes are left as they are: some messages already hold escaped text
   * (an unsafe file path's) or Windows-style paths, and an error line is read, not parsed back.
   */
  static String printable(String message) {
    String[] parts = message.split("\\\\", -1);
    for (int i = 0; i < parts.length; i++) {
      parts[i] = Format.printable(parts[i]);
    }
    return String.join("\\", parts);
  }
}
