package io.ferry.transfer;

import java.io.IOException;
import java.nio.channels.FileChannel;

/**
 * A file's channel, opened by the first task that uses the file and closed when no task uses it: a transfer holds as
 * many files open at once as it runs tasks, whatever the number of files (a model of thousands of files under {@code
 * ulimit -n 1024} would otherwise fail with "Too many open files"). Thread-safe. How the file is opened, and what
 * makes sure a reopened file is the one meant, is the {@link Opener}'s business.
 */
final class OpenWhileUsed {
  /** Opens the file; called again after every time the last user let go. */
  @FunctionalInterface
  interface Opener {
    FileChannel open() throws IOException;
  }

  /** A task's use of the open file. */
  @FunctionalInterface
  interface Use<T> {
    T with(FileChannel ch) throws IOException;
  }

  private final Opener opener;
  private FileChannel channel;
  private int users;

  OpenWhileUsed(Opener opener) {
    this.opener = opener;
  }

  /** What {@code task} makes of the file, with the file open meanwhile. */
  <T> T use(Use<T> task) throws IOException {
    FileChannel ch = acquire();
    try {
      return task.with(ch);
    } finally {
      release();
    }
  }

  private synchronized FileChannel acquire() throws IOException {
    if (users == 0) {
      channel = opener.open();
    }
    users++;
    return channel;
  }

  private synchronized void release() throws IOException {
    if (--users == 0) {
      FileChannel c = channel;
      channel = null;
      c.close();
    }
  }
}
