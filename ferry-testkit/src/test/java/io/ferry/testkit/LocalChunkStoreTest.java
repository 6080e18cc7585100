package io.ferry.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.chunk.ChunkId;
import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import java.nio.ByteBuffer;
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
  void freshenAndPutOfAnExistingObjectRenewItsModifiedTime() throws Exception {
    byte[] c = content(1000);
    ChunkId id = putContent(c);
    Path file = scratch.resolve("store").resolve("objects").resolve(id.hex().substring(0, 2))
        .resolve(id.hex().substring(2));
    Instant old = Instant.now().minus(Duration.ofHours(2));
    Files.setLastModifiedTime(file, FileTime.from(old));
    assertThat(store.freshen(id)).isTrue();
    assertThat(Files.getLastModifiedTime(file).toInstant()).isAfter(old.plus(Duration.ofHours(1)));
    Files.setLastModifiedTime(file, FileTime.from(old));
    assertThat(store.put(id, ByteBuffer.wrap(c))).isFalse();
    assertThat(Files.getLastModifiedTime(file).toInstant()).isAfter(old.plus(Duration.ofHours(1)));
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
