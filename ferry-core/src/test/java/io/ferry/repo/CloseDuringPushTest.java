package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.ferry.Ferry;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.TransferListener;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A repository closed while a push runs in another thread: the push waited forever for the tasks it had queued,
 * which the closed pool dropped without running or cancelling them. It now fails, and the store opened again takes
 * the same push and verifies clean.
 */
class CloseDuringPushTest {
  @TempDir Path tmp;

  @Test
  void aPushWhoseRepositoryClosesFailsInsteadOfHanging() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    for (int i = 0; i < 40; i++) {
      Files.writeString(src.resolve("f" + i + ".json"), "{\"i\": " + i + "}");
    }
    String store = tmp.resolve("store").toString();
    Repository repo = Ferry.open(store, StoreOptions.createIfMissing(), RepositoryOptions.defaults()
        .withParallelism(1));
    AtomicBoolean closed = new AtomicBoolean();
    TransferListener closer = new TransferListener() {
      @Override
      public void fileDone() {
        if (closed.compareAndSet(false, true)) {
          try {
            repo.close();
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }
      }
    };
    PushOptions opts = PushOptions.builder().listener(closer).build();
    assertTimeoutPreemptively(Duration.ofSeconds(20),
        () -> assertThatThrownBy(() -> repo.push(src, "m", opts)).isNotNull());
    assertThat(closed).isTrue();
    repo.close();

    try (Repository again = Ferry.open(store)) {
      again.push(src, "m", PushOptions.builder().build());
      assertThat(again.verify(null, null).errors()).isEmpty();
      assertThat(again.log("m", 10)).hasSize(1);
    }
  }
}
