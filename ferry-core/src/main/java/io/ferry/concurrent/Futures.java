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

  /**
   * Waits until every task has ended, after {@code cause} failed the work they belong to, so that nothing they do
   * happens after the caller cleans up (a put finishing after a rollback would leave its object behind). Their own
   * failures are dropped: {@code cause} is what the caller reports; an interrupt is added to it, and stops the wait.
   * Tasks are not cancelled: get() on a cancelled future returns while the task may still be running.
   */
  public static void awaitEnd(Iterable<? extends Future<?>> tasks, Throwable cause) {
    for (Future<?> f : tasks) {
      try {
        f.get();
      } catch (InterruptedException ie) {
        Thread.currentThread().interrupt();
        cause.addSuppressed(ie);
        return;
      } catch (ExecutionException | CancellationException ignored) {
        // already failed or stopped; the first failure is what the caller reports
      }
    }
  }
}
