package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.lease.Lease;
import io.ferry.lease.LeaseSettings;
import io.ferry.lease.Leases;
import io.ferry.repo.Results.GcReport;
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
 * Two gcs at the same moment on one local store: each deletes what it found unreferenced, so both try to delete the
 * same objects. Each must report only what it removed itself, so that the two reports add up to what was freed.
 */
class ConcurrentGcTest {
  /** No tolerated clock skew, so that gc's age rules are exact (as in RepositoryContract). */
  private static final RepositoryOptions OPTIONS = RepositoryOptions.defaults()
      .withLeases(new LeaseSettings(Duration.ofMinutes(2), Duration.ZERO, Duration.ofMillis(50)));

  @TempDir Path tmp;

  /** Runs {@code gc} once, before the first object is deleted through it. */
  private static final class GcBeforeDelete extends ForwardingChunkStore {
    volatile Runnable gc;

    GcBeforeDelete(ChunkStore inner) {
      super(inner);
    }

    private void runOnce() {
      Runnable once = gc;
      if (once != null) {
        gc = null;
        once.run();
      }
    }

    @Override
    public void delete(ChunkId id) throws IOException {
      runOnce();
      super.delete(id);
    }

    @Override
    public boolean deleteIfPresent(ChunkId id) throws IOException {
      runOnce();
      return super.deleteIfPresent(id);
    }
  }

  private Path source(String name, String content) throws IOException {
    Path dir = Files.createDirectories(tmp.resolve(name));
    Files.writeString(dir.resolve("config.json"), content);
    return dir;
  }

  /**
   * Garbage written while a push runs is kept for that push, whatever its age: gc reports it as kept for running
   * pushes, not as younger than the grace period, which with no grace nothing is.
   */
  @Test
  void gcReportsWhatItKeptForARunningPushApartFromYoungObjects() throws IOException {
    Path dir = tmp.resolve("store");
    try (Repository repo = Ferry.open(dir.toString(), StoreOptions.createIfMissing(), OPTIONS)) {
      repo.push(source("keep", "{\"keep\": 1}"), "keep", PushOptions.builder().build());
    }
    GcReport held;
    GcReport dryHeld;
    try (Backend local = Ferry.openBackend(dir.toString(), StoreOptions.existing());
        Leases pushSide = new Leases(local.records(), java.time.Clock.systemUTC(), OPTIONS.leases(), "test");
        Repository repo = Repository.open(local, OPTIONS)) {
      try (Lease push = pushSide.take(Lease.Kind.PUSH, "push elsewhere")) {
        repo.push(source("a", "{\"v\": 1}"), "scratch", PushOptions.builder().build());
        repo.removeModel("scratch", true);
        dryHeld = repo.gc(Duration.ZERO, true);
        held = repo.gc(Duration.ZERO, false);
      }
      GcReport after = repo.gc(Duration.ZERO, false);
      assertThat(after.deadObjects()).as("garbage once the push ended").isPositive();
      for (GcReport r : new GcReport[] {dryHeld, held}) {
        assertThat(r.deadObjects()).as("removed while the push ran").isZero();
        assertThat(r.keptYoung()).as("kept as younger than no grace").isZero();
        assertThat(r.keptForPushes()).as("kept for the running push").isEqualTo(after.deadObjects());
      }
    }
  }

  @Test
  void twoGcsAtOnceReportTogetherWhatWasFreed() throws IOException {
    Path dir = tmp.resolve("store");
    GcReport expected;
    try (Repository repo = Ferry.open(dir.toString(), StoreOptions.createIfMissing(), OPTIONS)) {
      repo.push(source("keep", "{\"keep\": 1}"), "keep", PushOptions.builder().build());
      repo.push(source("a", "{\"v\": 1}"), "scratch", PushOptions.builder().build());
      repo.push(source("b", "{\"v\": 2}"), "scratch", PushOptions.builder().build());
      repo.removeModel("scratch", true);
      expected = repo.gc(Duration.ZERO, true);
    }
    assertThat(expected.deadObjects()).as("garbage to free").isGreaterThanOrEqualTo(4);
    try (Backend local = Ferry.openBackend(dir.toString(), StoreOptions.existing())) {
      GcBeforeDelete chunks = new GcBeforeDelete(local.chunks());
      GcReport[] other = new GcReport[1];
      Repository second = Repository.open(local, OPTIONS);
      chunks.gc = () -> {
        try {
          other[0] = second.gc(Duration.ZERO, false);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      };
      try (Repository first = Repository.open(SwappedBackend.withChunks(local, chunks), OPTIONS)) {
        GcReport mine = first.gc(Duration.ZERO, false);
        assertThat(chunks.gc).as("the second gc ran").isNull();
        assertThat(other[0].deadObjects()).as("the second gc freed it all").isEqualTo(expected.deadObjects());
        assertThat(mine.deadObjects() + other[0].deadObjects()).as("objects freed by both")
            .isEqualTo(expected.deadObjects());
        assertThat(mine.deadBytes() + other[0].deadBytes()).as("bytes freed by both")
            .isEqualTo(expected.deadBytes());
        assertThat(first.gc(Duration.ZERO, true).deadObjects()).as("garbage left").isZero();
        assertThat(first.verify(null, TransferListener.NONE).errors()).isEmpty();
        assertThat(first.log("keep", Integer.MAX_VALUE)).hasSize(1);
      }
    }
  }
}
