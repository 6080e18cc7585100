package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.lease.LeaseSettings;
import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.ForwardingChunkStore;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.TransferListener;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A copy into a store that still holds the version's history as garbage (the model was removed there) while a gc
 * deletes it: the copy relies on what the target has and sends only the rest, so it must make sure, under its lease,
 * that the history it did not send is still there. Seen with real processes ({@code ferry rm} on the target, then
 * {@code ferry copy} beside {@code ferry gc --grace 0}): 1 round in 6 published a head whose parent was gone; log and
 * verify failed, and every later gc stopped on the missing object.
 */
class CopyOverGarbageTest {
  /** No tolerated clock skew, so that gc's age rules are exact (as in RepositoryContract). */
  private static final RepositoryOptions OPTIONS = RepositoryOptions.defaults()
      .withLeases(new LeaseSettings(Duration.ofMinutes(2), Duration.ZERO, Duration.ofMillis(50)));

  @TempDir Path tmp;

  private Path source(String name, String content) throws IOException {
    Path dir = Files.createDirectories(tmp.resolve(name));
    Files.writeString(dir.resolve("config.json"), content);
    return dir;
  }

  /** The target's chunks: a gc runs right after the copy found that the target holds {@code watched}. */
  private static final class GcAfterContains extends ForwardingChunkStore {
    volatile ChunkId watched;
    volatile Runnable gc;

    GcAfterContains(ChunkStore inner) {
      super(inner);
    }

    @Override
    public boolean contains(ChunkId id) throws IOException {
      boolean has = inner.contains(id);
      Runnable once = gc;
      if (has && id.equals(watched) && once != null) {
        gc = null;
        once.run();
      }
      return has;
    }
  }

  @Test
  void aCopyKeepsTheHistoryItFoundInTheTargetWhileAGcRemovesGarbage() throws IOException {
    Path targetDir = tmp.resolve("target");
    try (Repository src = Ferry.open(tmp.resolve("source").toString(), StoreOptions.createIfMissing(),
        OPTIONS)) {
      src.push(source("a", "{\"v\": 1}"), "m", PushOptions.builder().build());
      ChunkId v2 = src.push(source("b", "{\"v\": 2}"), "m", PushOptions.builder().build()).versionId();
      try (Repository target = Ferry.open(targetDir.toString(), StoreOptions.createIfMissing(),
          OPTIONS)) {
        src.copyTo("m", target, false, TransferListener.NONE);
        target.removeModel("m", true); // v1 and v2 are garbage in the target now
      }
      try (Backend local = Ferry.openBackend(targetDir.toString(), StoreOptions.existing())) {
        GcAfterContains chunks = new GcAfterContains(local.chunks());
        chunks.watched = v2;
        Repository other = Repository.open(local, OPTIONS);
        chunks.gc = () -> {
          try {
            assertThat(other.gc(Duration.ZERO, false).deadObjects()).as("the gc removed garbage").isPositive();
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        };
        try (Repository target = Repository.open(SwappedBackend.withChunks(local, chunks), OPTIONS)) {
          src.copyTo("m", target, false, TransferListener.NONE);
          assertThat(chunks.gc).as("the gc ran").isNull();
          assertThat(target.verify(null, TransferListener.NONE).errors()).isEmpty();
          assertThat(target.log("m", Integer.MAX_VALUE)).hasSize(2);
          target.gc(Duration.ZERO, false);
          assertThat(target.verify(null, TransferListener.NONE).errors()).isEmpty();
        }
      }
    }
  }
}
