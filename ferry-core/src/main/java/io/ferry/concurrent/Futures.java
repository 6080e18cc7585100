package io.ferry.concurrent;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

/**
 * Waiting on worker tasks with the failure they had: an {@link IOException}, runtime exception or error thrown by the
 * task is rethrown as it is; an interrupt keeps the thread's interrupt flag and becomes an {@link
 * InterruptedIOException}. Used by transfers, readers and backends that fan requests out to their own pools.
 */
public final class Futures {
  private Futures() {}

  /**
   * The task's result.
   *
   * @param what what the caller was doing, for the messages of interrupts, cancellations and checked failures
   */
  public static <T> T await(Future<T> f, String what) throws IOException {
    try {
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      InterruptedIOException io = new InterruptedIOException("interrupted while " + what);
      io.initCause(e);
      throw io;
    } catch (CancellationException e) {
      throw new IOException("cancelled while " + what, e);
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof IOException io) {
        throw io;
      }
      if (c instanceof RuntimeException re) {
        throw re;
      }
      if (c instanceof Error err) {
        throw err;
      }
      throw new IOException(what + ": " + c, c);
    }
  }
}
