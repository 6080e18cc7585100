package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** No failure of a worker, an Error included, leaves the waiting thread parked (issue 9, item 5). */
@Timeout(30)
class TaskGroupTest {
  private final ExecutorService pool = Executors.newFixedThreadPool(4);

  @AfterEach
  void stop() {
    pool.shutdownNow();
  }

  @Test
  void anErrorInAWorkerFailsTheGroupAndLaterTasksAreSkipped() throws IOException {
    TaskGroup g = new TaskGroup(pool);
    AtomicInteger ran = new AtomicInteger();
    g.submit(() -> {
      throw new OutOfMemoryError("Java heap space (injected)");
    });
    assertThatThrownBy(() -> g.await("pulling")).isInstanceOf(IOException.class)
        .hasMessageContaining("pulling: a worker failed: java.lang.OutOfMemoryError")
        .hasCauseInstanceOf(OutOfMemoryError.class);
    TaskGroup h = new TaskGroup(pool);
    h.submit(() -> {
      throw new InternalError("a fault occurred in an unsafe memory access operation (injected)");
    });
    assertThatThrownBy(() -> h.await("pulling")).isInstanceOf(IOException.class)
        .hasMessageContaining("pulling: a worker failed: java.lang.InternalError");
    for (int i = 0; i < 1000; i++) {
      h.submit(ran::incrementAndGet);
    }
    assertThatThrownBy(() -> h.await("pulling")).isInstanceOf(IOException.class);
    assertThat(ran).hasValue(0);
  }

  @Test
  void theFirstIoFailureIsRethrownAsItIs() {
    TaskGroup g = new TaskGroup(pool);
    IOException boom = new IOException("dest/model.safetensors: No space left on device");
    for (int i = 0; i < 100; i++) {
      int n = i;
      g.submit(() -> {
        if (n == 10) {
          throw boom;
        }
      });
    }
    assertThatThrownBy(() -> g.await("pulling")).isSameAs(boom);
  }

  @Test
  void aRejectedTaskFailsTheGroup() {
    ExecutorService closed = Executors.newSingleThreadExecutor();
    closed.shutdown();
    TaskGroup g = new TaskGroup(closed);
    g.submit(() -> { });
    assertThatThrownBy(() -> g.await("pulling")).isInstanceOf(java.util.concurrent.RejectedExecutionException.class);
  }
}
