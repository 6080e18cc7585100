package io.ferry.transfer;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * Tasks run on a shared pool that end together: {@link #await} returns once every submitted task has ended, and
 * throws the first failure. A failure makes tasks that have not started yet skip their work, so a failed transfer
 * stops soon. Whatever a task throws, {@link Error}s included, is caught inside the task and counted, so a task that
 * dies can never leave the waiting thread parked (as a {@code Future} whose worker died while completing it can).
 *
 * <p>Not for tasks that wait on other tasks of the same pool. One thread submits and awaits; tasks run anywhere.
 */
final class TaskGroup {
  /** A unit of work. */
  @FunctionalInterface
  interface Task {
    void run() throws Exception;
  }

  private final Executor pool;
  private final Object lock = new Object();
  private int pending;
  private Throwable failure;
  private volatile boolean failed;

  TaskGroup(Executor pool) {
    this.pool = pool;
  }

  /** Runs {@code task} on the pool (or not at all once a task has failed). */
  void submit(Task task) {
    synchronized (lock) {
      pending++;
    }
    try {
      pool.execute(() -> run(task));
    } catch (RejectedExecutionException e) {
      ended(e);
    }
  }

  private void run(Task task) {
    Throwable thrown = null;
    try {
      if (!failed) {
        task.run();
      }
    } catch (Throwable t) {
      thrown = t;
    }
    ended(thrown);
  }

  private void ended(Throwable thrown) {
    synchronized (lock) {
      if (thrown != null && failure == null) {
        failure = thrown;
        failed = true;
      }
      pending--;
      lock.notifyAll();
    }
  }

  /**
   * Waits until every task has ended. A task's {@link IOException} or runtime exception is rethrown as it is; an
   * {@link Error} (an {@link OutOfMemoryError} in a worker, say) becomes an {@link IOException} that names it, since
   * the worker that had it is alive and the pool is usable; a checked exception is wrapped likewise.
   *
   * @param what what the tasks were doing, for messages
   * @throws InterruptedIOException if the waiting thread is interrupted (tasks not yet started then skip their work;
   *     those running finish on their own)
   */
  void await(String what) throws IOException {
    Throwable f;
    synchronized (lock) {
      while (pending > 0) {
        try {
          lock.wait();
        } catch (InterruptedException e) {
          failed = true;
          Thread.currentThread().interrupt();
          InterruptedIOException io = new InterruptedIOException("interrupted while " + what);
          io.initCause(e);
          throw io;
        }
      }
      f = failure;
    }
    if (f == null) {
      return;
    }
    if (f instanceof IOException io) {
      throw io;
    }
    if (f instanceof RuntimeException re) {
      throw re;
    }
    throw new IOException(what + ": a worker failed: " + f, f);
  }
}
