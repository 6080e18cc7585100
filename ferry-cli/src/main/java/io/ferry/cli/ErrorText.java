package io.ferry.cli;

import java.net.UnknownHostException;

/**
 * The text of an error as users read it: the message, saying what happened in words rather than with a Java class
 * name. The JDK's file errors carry only a path as their message ({@code NoSuchFileException: /data/x}); they get the
 * reason after the path ({@link io.ferry.error.FileErrors}). An exception without a message is described by what it
 * means, never by its class.
 */
final class ErrorText {
  private ErrorText() {}

  static String of(Throwable e) {
    String file = io.ferry.error.FileErrors.describe(e);
    if (file != null) {
      return file;
    }
    if (e instanceof UnknownHostException) {
      return "unknown host " + e.getMessage() + " (check the store URI and the network)";
    }
    String m = e.getMessage();
    if (m != null && !m.isBlank()) {
      // Hadoop's server errors end with a newline, which the error line showed as an escaped "\x0a"
      return withoutStackTraces(m).stripTrailing();
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
   * Lines of a Java stack trace inside a message, as a server's exception carries them to its client (Hadoop's
   * {@code RemoteException}: "Permission denied: user=...", then the NameNode's whole stack): the trace is the
   * server's, says nothing to a user, and buried the reason in kilobytes of one error line.
   */
  private static final java.util.regex.Pattern STACK_LINES =
      java.util.regex.Pattern.compile("(\\r?\\n[ \\t]*(at [\\w$.<>/-]+\\([^)\\n]*\\)|\\.\\.\\. \\d+ more))+");

  /** The message without the stack trace lines a remote exception carried in it ({@link #STACK_LINES}). */
  static String withoutStackTraces(String message) {
    return STACK_LINES.matcher(message).replaceAll("");
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
