package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;

/**
 * The line a command that ran out of memory ends with suggests fewer workers only where they would help: when a
 * worker ran out while others shared the heap. It suggested {@code --parallelism 1} for every out-of-memory error, also
 * one on the command's own thread (a push's snapshot write, which runs alone) and one of a command that already ran
 * one worker.
 */
class OutOfMemoryMessageTest {
  private static final long HEAP = 371L << 20;

  @Test
  void fewerWorkersAreSuggestedWhenAWorkerRanOut() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(1);
    OutOfMemoryError inWorker;
    try {
      inWorker = pool.submit(() -> new OutOfMemoryError("Java heap space")).get();
    } finally {
      pool.shutdownNow();
    }
    assertThat(StoreCommand.outOfMemory(inWorker, "push", HEAP, null)).isEqualTo("out of memory: the Java heap"
        + " (371 MiB) is too small for this push; give Ferry more (FERRY_HEAP=2g, or -Xmx2g in FERRY_JAVA_OPTS) or"
        + " fewer workers (--parallelism 1)");
    assertThat(StoreCommand.outOfMemory(inWorker, "push", HEAP, 4)).contains("--parallelism 1");
    assertThat(StoreCommand.outOfMemory(inWorker, "push", HEAP, 1)).as("already one worker")
        .doesNotContain("parallelism");
  }

  @Test
  void theCommandsOwnThreadRunningOutSuggestsOnlyMoreMemory() {
    OutOfMemoryError own = new OutOfMemoryError("Java heap space");
    assertThat(StoreCommand.outOfMemory(own, "push", HEAP, null)).isEqualTo("out of memory: the Java heap"
        + " (371 MiB) is too small for this push; give Ferry more (FERRY_HEAP=2g, or -Xmx2g in FERRY_JAVA_OPTS)");
  }
}
