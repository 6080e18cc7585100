package io.ferry.derive;

import io.ferry.concurrent.Futures;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs tasks {@code 0..n-1}, in that order of taking, on the calling thread and on up to {@code threads - 1} helpers
 * of a shared executor (the repository's workers). The caller always works too, so the loop finishes even when the
 * executor is busy with other work; a helper the executor has not started by the time the tasks run out is not waited
 * for. The first failure stops the taking of tasks ({@link #failed()} lets a long task stop early) and is thrown once
 * every helper that started has returned; later failures are added to it as suppressed. One use per instance.
 */
final class ParallelLoop {
  /** One task. */
  @FunctionalInterface
  interface Task {
    void run(int index) throws IOException;
  }

  private final AtomicInteger next = new AtomicInteger();
  private final AtomicBoolean failed = new AtomicBoolean();

  /** Whether a task has failed: the others may stop. */
  boolean failed() {
    return failed.get();
  }

  /**
   * Runs the tasks and returns when all are done.
   *
   * @throws IOException the first failure of a task (runtime exceptions and errors as they are)
   */
  void run(Executor executor, int threads, int n, Task task) throws IOException {
    List<Helper> helpers = new ArrayList<>();
    for (int i = 1; i < Math.min(threads, n); i++) {
      Helper h = new Helper(task, n);
      try {
        executor.execute(h);
      } catch (RejectedExecutionException e) {
        break; // the executor is shut down or full: the caller does the work
      }
      helpers.add(h);
    }
    Throwable failure = null;
    try {
      loop(task, n);
    } catch (IOException | RuntimeException | Error e) {
      failure = e;
    }
    for (Helper h : helpers) {
      if (h.claimed.compareAndSet(false, true)) {
        continue; // never started, and now never will
      }
      try {
        Futures.await(h.done, "deriving tensors");
      } catch (IOException | RuntimeException | Error e) {
        failed.set(true);
        if (failure == null) {
          failure = e;
        } else if (failure != e) {
          failure.addSuppressed(e);
        }
      }
    }
    if (failure instanceof IOException io) {
      throw io;
    }
    if (failure instanceof RuntimeException re) {
      throw re;
    }
    if (failure instanceof Error err) {
      throw err;
    }
  }

  private void loop(Task task, int n) throws IOException {
    try {
      for (int i; !failed.get() && (i = next.getAndIncrement()) < n; ) {
        task.run(i);
      }
    } catch (IOException | RuntimeException | Error e) {
      failed.set(true);
      throw e;
    }
  }

  /** A loop on a helper thread; runs only if the caller has not claimed it first. */
  private final class Helper implements Runnable {
    final AtomicBoolean claimed = new AtomicBoolean();
    final CompletableFuture<Void> done = new CompletableFuture<>();
    private final Task task;
    private final int n;

    Helper(Task task, int n) {
      this.task = task;
      this.n = n;
    }

    @Override
    public void run() {
      if (!claimed.compareAndSet(false, true)) {
        return;
      }
      try {
        loop(task, n);
        done.complete(null);
      } catch (Throwable t) {
        done.completeExceptionally(t);
      }
    }
  }
}
