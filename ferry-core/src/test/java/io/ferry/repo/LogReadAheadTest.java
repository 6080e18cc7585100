package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.ChunkStore;
import io.ferry.store.ForwardingChunkStore;
import io.ferry.store.StoreLayers;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A long {@code log} on a store that is not local reads its versions ahead, several at once: it read them one after
 * the other, one request per version (10,000 GETs in a row on S3 for 10,000 versions).
 */
class LogReadAheadTest {
  @TempDir Path tmp;

  @Test
  void aLongLogOnAStoreThatIsNotLocalReadsVersionsSeveralAtOnce() throws IOException {
    Path src = tmp.resolve("model");
    Files.createDirectories(src);
    List<String> pushed = new java.util.ArrayList<>();
    try (Repository repo = Repository.open(LocalBackend.open(tmp.resolve("store"), StoreOptions.createIfMissing()),
        RepositoryOptions.defaults())) {
      for (int i = 0; i <= History.PREFETCH_FROM; i++) {
        Files.writeString(src.resolve("config.json"), "{\"step\": " + i + "}");
        pushed.add(repo.push(src, "m", PushOptions.builder().message("step " + i).build()).versionId().hex());
      }
    }
    java.util.Collections.reverse(pushed);

    LocalBackend local = LocalBackend.open(tmp.resolve("store"), StoreOptions.existing());
    Remote remote = new Remote(local.chunks());
    try (Repository repo = Repository.open(StoreLayers.layered(local, remote), RepositoryOptions.defaults())) {
      remote.hold = true;
      List<VersionRef> log = repo.log("m", Integer.MAX_VALUE);
      assertThat(log.stream().map(v -> v.id().hex()).toList()).isEqualTo(pushed);
      assertThat(remote.most.get()).as("reads of the store in flight at once").isGreaterThanOrEqualTo(2);
    }
    // a page of history does not read ahead: it reads the versions it shows, one after the other
    LocalBackend again = LocalBackend.open(tmp.resolve("store"), StoreOptions.existing());
    Remote fresh = new Remote(again.chunks());
    try (Repository repo = Repository.open(StoreLayers.layered(again, fresh), RepositoryOptions.defaults())) {
      assertThat(repo.log("m", 50)).hasSize(50);
      assertThat(fresh.most.get()).as("reads of the store in flight at once").isEqualTo(1);
    }
  }

  /**
   * A store that is not local: its reads are counted, and while {@link #hold} is set each waits (at most 0.5 s) until
   * another read is in flight, so that reads made together are seen together however fast the disk is.
   */
  private static final class Remote extends ForwardingChunkStore {
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger most = new AtomicInteger();
    volatile boolean hold;

    Remote(ChunkStore inner) {
      super(inner);
    }

    @Override
    public boolean trusted() {
      return false;
    }

    @Override
    public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
      enter();
      try {
        return super.read(id, offset, length);
      } finally {
        inFlight.decrementAndGet();
      }
    }

    @Override
    public void readInto(ChunkId id, long offset, ByteBuffer dst) throws IOException {
      enter();
      try {
        super.readInto(id, offset, dst);
      } finally {
        inFlight.decrementAndGet();
      }
    }

    private void enter() {
      most.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
      long deadline = System.nanoTime() + 500_000_000L;
      while (hold && inFlight.get() < 2 && System.nanoTime() < deadline) {
        Thread.onSpinWait();
      }
    }
  }
}
