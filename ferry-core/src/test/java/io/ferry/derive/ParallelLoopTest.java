package io.ferry.derive;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ParallelLoopTest {
  @Test
  void everyTaskRunsOnceOnAtMostThatManyThreads() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(3);
    try {
      AtomicIntegerArray runs = new AtomicIntegerArray(200);
      Set<Thread> threads = ConcurrentHashMap.newKeySet();
      new ParallelLoop().run(pool, 4, 200, i -> {
        runs.incrementAndGet(i);
        threads.add(Thread.currentThread());
      });
      for (int i = 0; i < 200; i++) {
        assertThat(runs.get(i)).as("task %d", i).isEqualTo(1);
      }
      assertThat(threads).hasSizeLessThanOrEqualTo(4);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void theCallerDoesTheWorkWhenTheExecutorNeverRunsOrRejectsTheHelpers() throws Exception {
    for (java.util.concurrent.Executor ex : new java.util.concurrent.Executor[] {r -> { },
        r -> {
          throw new RejectedExecutionException("shut down");
        }}) {
      AtomicIntegerArray runs = new AtomicIntegerArray(10);
      Thread caller = Thread.currentThread();
      new ParallelLoop().run(ex, 8, 10, i -> {
        assertThat(Thread.currentThread()).isSameAs(caller);
        runs.incrementAndGet(i);
      });
      for (int i = 0; i < 10; i++) {
        assertThat(runs.get(i)).isEqualTo(1);
      }
    }
  }

  @Test
  void theFirstFailureStopsTheTakingOfTasksAndIsThrown() {
    AtomicIntegerArray runs = new AtomicIntegerArray(10);
    ParallelLoop loop = new ParallelLoop();
    assertThatThrownBy(() -> loop.run(r -> { }, 1, 10, i -> {
      runs.incrementAndGet(i);
      if (i == 3) {
        throw new IOException("task 3 failed");
      }
    })).isInstanceOf(IOException.class).hasMessage("task 3 failed");
    assertThat(loop.failed()).isTrue();
    assertThat(runs.get(3)).isEqualTo(1);
    assertThat(runs.get(4)).isZero();
  }

  @Test
  void aHelpersFailureIsThrownByTheCaller() {
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      Thread caller = Thread.currentThread();
      CountDownLatch helperFailed = new CountDownLatch(1);
      assertThatThrownBy(() -> new ParallelLoop().run(pool, 2, 50, i -> {
        if (Thread.currentThread() != caller) {
          helperFailed.countDown();
          throw new IllegalStateException("helper failed on task " + i);
        }
        try {
          assertThat(helperFailed.await(30, TimeUnit.SECONDS)).as("a helper ran").isTrue();
        } catch (InterruptedException e) {
          throw new AssertionError(e);
        }
      })).isInstanceOf(IllegalStateException.class).hasMessageStartingWith("helper failed");
    } finally {
      pool.shutdownNow();
    }
  }
}
