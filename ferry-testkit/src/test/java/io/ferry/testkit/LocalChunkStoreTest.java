package io.ferry.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** Runs the {@link ChunkStoreContract} against the local backend. */
class LocalChunkStoreTest extends ChunkStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return LocalBackend.open(scratch.resolve("store"), StoreOptions.createIfMissing());
  }

  @Test
  void removeAbandonedDeletesOnlyTempFilesOlderThanTheCutoff() throws Exception {
    Path tmp = scratch.resolve("store").resolve("tmp");
    Path killed = Files.createTempFile(tmp, "killed-", ".tmp");
    Files.setLastModifiedTime(killed, FileTime.from(Instant.now().minus(Duration.ofHours(2))));
    Path running = Files.createTempFile(tmp, "running-", ".tmp");
    assertThat(store.removeAbandoned(Instant.now().minus(Duration.ofHours(1)))).isEqualTo(1);
    assertThat(killed).doesNotExist();
    assertThat(running).exists();
  }
}
