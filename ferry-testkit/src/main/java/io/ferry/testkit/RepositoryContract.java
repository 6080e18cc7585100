package io.ferry.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.id.ChunkId;
import io.ferry.error.ConflictException;
import io.ferry.format.DType;
import io.ferry.lease.LeaseSettings;
import io.ferry.transfer.PullOptions;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.GcReport;
import io.ferry.repo.Results.PushResult;
import io.ferry.repo.Results.VerifyReport;
import io.ferry.store.Backend;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import io.ferry.store.StoreLayers;
import io.ferry.testkit.ModelGenerator.Tensor;
import io.ferry.transfer.TransferListener;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * What every backend must give a {@link Repository}: push, tag compare-and-swap, rollback, verify, and above all gc
 * that never removes what a push relies on, however the two interleave. Subclasses supply one hook, {@link
 * #openBackend}, and run every test against their real engine (like Lucene's {@code BaseDirectoryTestCase}).
 *
 * <p>The gc tests put a gc exactly where the old code lost data: between a push finding that an old, unreferenced
 * chunk exists and the push publishing; after a push created objects but before it published (a push longer than the
 * grace period); and between a failed push creating an object and its rollback, while another push reuses it. Each
 * checks that gc really removed something, so a test that exercised no race cannot pass silently.
 */
public abstract class RepositoryContract {
  /** One tensor of 512 KiB: above the pack threshold, so a loose object of its own. */
  private static final long[] BIG = {256, 512};

  @TempDir protected Path scratch;
  @RegisterExtension final TestRandom random = new TestRandom();

  /**
   * Opens the store named {@code name} in this test's engine, creating it if needed. Two calls with one name give two
   * backends over the same store, as two processes would have.
   */
  protected abstract Backend openBackend(String name) throws Exception;

  /** Options for the repositories of these tests: no tolerated clock skew, so gc's age rules are exact. */
  protected RepositoryOptions options() {
    return RepositoryOptions.defaults().withParallelism(4)
        .withLeases(new LeaseSettings(Duration.ofMinutes(2), Duration.ZERO, Duration.ofMillis(50)));
  }

  private Repository open(Backend b) {
    return Repository.open(b, options());
  }

  private static Path model(Path dir, long seed, int bigTensors) throws IOException {
    Files.createDirectories(dir);
    List<Tensor> ts = new ArrayList<>();
    for (int i = 0; i < bigTensors; i++) {
      ts.add(new Tensor("layers." + i + ".weight", DType.F32, BIG, seed * 1000 + i));
    }
    ts.add(new Tensor("norm.weight", DType.F32, new long[] {64}, seed * 1000 + 999));
    ModelGenerator.writeSafetensors(dir.resolve("model.safetensors"), ts, Map.of("seed", Long.toString(seed)));
    Files.writeString(dir.resolve("config.json"), "{\"seed\": " + seed + "}", StandardCharsets.UTF_8);
    return dir;
  }

  private static PushOptions msg(String m) {
    return PushOptions.builder().message(m).build();
  }

  /** The loose chunks (above the pack threshold) of a version. */
  private static Set<ChunkId> bigChunks(Repository repo, String ref) throws IOException {
    Set<ChunkId> out = new HashSet<>();
    for (FileEntry f : repo.snapshot(repo.resolve(ref)).files()) {
      for (ChunkRef c : f.chunks()) {
        if (c.length() >= 256 * 1024) {
          out.add(c.id());
        }
      }
    }
    return out;
  }

  /** Makes a version unreachable: deletes the model's head, logged as a move long ago, so no ref keeps it. */
  private static void forget(Backend b, String model) throws IOException {
    String head = RefNames.head(model);
    ChunkId cur = b.refs().get(head).orElseThrow();
    b.refs().compareAndSet(head, cur, null, new RefLogEntry(cur, null, "test", Instant.now(), "forget " + model));
  }

  private void assertWhole(Repository repo, String ref, Path expected) throws IOException {
    VerifyReport r = repo.verify(ref, TransferListener.NONE);
    assertThat(r.errors()).as("verify %s in %s", ref, repo.uri()).isEmpty();
    Path out = scratch.resolve("pulled-" + System.nanoTime());
    repo.pull(ref, out, PullOptions.defaults());
    assertThat(DirectoryState.of(out)).as("pull of %s", ref).isEqualTo(DirectoryState.of(expected));
  }

  @Test
  void pushTagRollbackAndVerify() throws Exception {
    Path v1 = model(scratch.resolve("v1"), 1, 2);
    Path v2 = model(scratch.resolve("v2"), 2, 2);
    try (Repository repo = open(openBackend("basics"))) {
      PushResult a = repo.push(v1, "m:prod", msg("one"));
      assertThat(a.upToDate()).isFalse();
      assertThat(repo.push(v1, "m", msg("again")).upToDate()).isTrue();
      PushResult b = repo.push(v2, "m", msg("two"));
      assertThat(b.version().parents()).containsExactly(a.versionId());
      assertThat(repo.resolve("m:prod").id()).isEqualTo(a.versionId());
      assertThatThrownBy(() -> repo.tag("m", "prod", b.versionId())).isInstanceOf(ConflictException.class);
      assertThat(repo.tag("m", "prod", a.versionId()).newId()).isEqualTo(b.versionId());
      assertThat(repo.rollback("m:prod").newId()).isEqualTo(a.versionId());
      assertWhole(repo, "m:prod", v1);
      assertWhole(repo, "m", v2);
      assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
      assertThat(repo.gc(Duration.ZERO, false).deadObjects()).isZero();
      assertWhole(repo, "m@" + a.versionId().hex(), v1);
    }
  }

  /**
   * The small-chunk index's merges store a base table (neither a frame nor a pack) in the chunk store: a push's merge
   * and a gc that removes packs (and so merges to drop them) must work on every store (through a server, the upload
   * check refused such a table, so every gc that removed a pack failed as corrupt).
   */
  @Test
  void indexMergesAndAGcThatRemovesPacksWork() throws Exception {
    Path kept = model(scratch.resolve("kept"), 31, 0);
    Path gone = model(scratch.resolve("gone"), 32, 0);
    try (Repository repo = open(openBackend("index-merge"))) {
      repo.push(kept, "kept", msg("kept"));
      PushResult g = repo.push(gone, "gone", msg("gone"));
      assertThat(g.version().packs()).as("packs of the model to remove").isNotEmpty();
      assertThat(repo.smallChunks().merge(pack -> true, false))
          .isEqualTo(io.ferry.dedup.SmallChunkIndex.MergeOutcome.MERGED);
      forget(repo.backend(), "gone");
      GcReport r = repo.gc(Duration.ZERO, false);
      assertThat(r.deadObjects()).as("objects of the removed model").isPositive();
      for (ChunkId pack : g.version().packs()) {
        assertThat(repo.backend().chunks().contains(pack)).as("pack %s", pack).isFalse();
      }
      assertThat(repo.smallChunks().packsNamed()).doesNotContainAnyElementsOf(g.version().packs());
      assertThat(repo.verify(null, TransferListener.NONE).ok()).isTrue();
      assertWhole(repo, "kept", kept);
    }
  }

  @Test
  void gcBetweenAPushFindingAnOldChunkAndPublishingKeepsTheVersionWhole() throws Exception {
    Path src = model(scratch.resolve("src"), 3, 3);
    try (Backend shared = openBackend("reuse")) {
      Repository gcRepo = open(SharedBackend.withChunks(shared, shared.chunks()));
      gcRepo.push(src, "old", msg("left behind"));
      Set<ChunkId> old = bigChunks(gcRepo, "old");
      forget(shared, "old");
      FaultyChunkStore hooked = new FaultyChunkStore(shared.chunks());
      AtomicLong removed = new AtomicLong();
      AtomicBoolean fired = new AtomicBoolean();
      hooked.afterContains((id, present) -> {
        if (present && old.contains(id) && fired.compareAndSet(false, true)) {
          // the push has just found an old chunk; a gc now removes every unreferenced old object
          removed.addAndGet(gcRepo.gc(Duration.ZERO, false).deadObjects());
        }
      });
      try (Repository pushRepo = open(SharedBackend.withChunks(shared, hooked))) {
        pushRepo.push(src, "new", msg("reuses the old chunks"));
        assertThat(fired).as("the push looked up an old chunk").isTrue();
        assertThat(removed.get()).as("objects the racing gc removed").isPositive();
        assertWhole(pushRepo, "new", src);
      } finally {
        gcRepo.close();
      }
    }
  }

  /**
   * A tag moved onto a version that another ref of its model reaches, while that ref is deleted and a gc without
   * grace runs before the tag's compare-and-swap: the version the tag then points at must still be whole.
   */
  @Test
  void aTagMovedOntoAVersionWhoseOtherRefIsDeletedDuringAGcKeepsItWhole() throws Exception {
    Path src = model(scratch.resolve("src"), 6, 2);
    try (Backend shared = openBackend("tag-race")) {
      Repository gcRepo = open(SharedBackend.withChunks(shared, shared.chunks()));
      ChunkId v = gcRepo.push(src, "m", msg("only the head reaches it")).versionId();
      gcRepo.push(model(scratch.resolve("garbage"), 60, 1), "garbage", msg("to be collected"));
      forget(shared, "garbage");
      String head = RefNames.head("m");
      String tag = RefNames.tag("m", "t");
      AtomicLong removed = new AtomicLong(-1);
      RefStore hooked = new RefStore() {
        @Override
        public Optional<ChunkId> get(String name) throws IOException {
          return shared.refs().get(name);
        }

        @Override
        public CasResult compareAndSet(String name, ChunkId expected, ChunkId next, RefLogEntry entry)
            throws IOException {
          if (name.equals(tag) && removed.get() < 0) {
            // the tag found the version reachable; now its head is deleted and a gc runs before the tag moves
            shared.refs().compareAndSet(head, v, null, new RefLogEntry(v, null, "test", Instant.now(), "rm m"));
            removed.set(gcRepo.gc(Duration.ZERO, false).deadObjects());
          }
          return shared.refs().compareAndSet(name, expected, next, entry);
        }

        @Override
        public List<String> list(String prefix) throws IOException {
          return shared.refs().list(prefix);
        }

        @Override
        public List<String> listLogged(String prefix) throws IOException {
          return shared.refs().listLogged(prefix);
        }

        @Override
        public List<RefLogEntry> log(String name) throws IOException {
          return shared.refs().log(name);
        }

        @Override
        public void close() {}
      };
      try (Repository tagRepo = open(SharedBackend.withRefs(shared, hooked))) {
        tagRepo.tag("m@" + v.hex(), "t", null);
        assertThat(removed.get()).as("objects the racing gc removed (the garbage)").isPositive();
        assertThat(tagRepo.resolve("m:t").id()).isEqualTo(v);
        assertWhole(tagRepo, "m:t", src);
      } finally {
        gcRepo.close();
      }
    }
  }

  /**
   * A push derived from a version its model's head reaches, while that head is deleted and a gc without grace runs
   * (after the push looked, before it declared what it needs): the version and its history must stay whole.
   */
  @Test
  void aPushDerivedFromAVersionWhoseRefIsDeletedDuringAGcKeepsItsHistoryWhole() throws Exception {
    Path ft = model(scratch.resolve("ft"), 9, 1);
    try (Backend shared = openBackend("derived-race")) {
      Repository gcRepo = open(SharedBackend.withChunks(shared, shared.chunks()));
      ChunkId v1 = gcRepo.push(model(scratch.resolve("b1"), 7, 1), "base", msg("one")).versionId();
      ChunkId v2 = gcRepo.push(model(scratch.resolve("b2"), 8, 1), "base", msg("two")).versionId();
      List<ChunkId> history = new ArrayList<>(List.of(v1, v2));
      for (ChunkId v : List.of(v1, v2)) {
        history.add(gcRepo.resolve("base@" + v.hex()).version().snapshot());
        history.addAll(bigChunks(gcRepo, "base@" + v.hex()));
      }
      gcRepo.push(model(scratch.resolve("garbage"), 70, 1), "garbage", msg("to be collected"));
      forget(shared, "garbage");
      FaultyChunkStore hooked = new FaultyChunkStore(shared.chunks());
      AtomicLong removed = new AtomicLong(-1);
      hooked.afterPut((id, created) -> {
        if (created && removed.compareAndSet(-1, 0)) {
          // the push resolved what it derives from and stores its own chunks; the base's head goes, a gc runs
          forget(shared, "base");
          removed.set(gcRepo.gc(Duration.ZERO, false).deadObjects());
        }
      });
      try (Repository pushRepo = open(SharedBackend.withChunks(shared, hooked))) {
        pushRepo.push(ft, "ft", PushOptions.builder().message("fine-tuned").derivedFrom("base@" + v2.hex()).build());
        assertThat(removed.get()).as("objects the racing gc removed (the garbage)").isPositive();
        assertWhole(pushRepo, "ft", ft);
        assertThat(shared.chunks().missing(history)).as("objects of the versions it derives from").isEmpty();
      } finally {
        gcRepo.close();
      }
    }
  }

  @Test
  void aPushLongerThanTheGracePeriodKeepsWhatItWrote() throws Exception {
    Path src = model(scratch.resolve("src"), 4, 3);
    try (Backend shared = openBackend("long")) {
      Repository gcRepo = open(SharedBackend.withChunks(shared, shared.chunks()));
      gcRepo.push(model(scratch.resolve("garbage"), 40, 1), "garbage", msg("to be collected"));
      forget(shared, "garbage");
      FaultyChunkStore hooked = new FaultyChunkStore(shared.chunks());
      AtomicInteger puts = new AtomicInteger();
      AtomicLong removed = new AtomicLong();
      hooked.afterPut((id, created) -> {
        if (created && puts.incrementAndGet() == 2) {
          // the push has written objects and is still running; gc's grace period is already over
          removed.addAndGet(gcRepo.gc(Duration.ZERO, false).deadObjects());
        }
      });
      try (Repository pushRepo = open(SharedBackend.withChunks(shared, hooked))) {
        pushRepo.push(src, "m", msg("slow push"));
        assertThat(removed.get()).as("the gc during the push removed the old garbage").isPositive();
        assertWhole(pushRepo, "m", src);
        assertThat(gcRepo.gc(Duration.ZERO, true).deadObjects()).isZero();
      } finally {
        gcRepo.close();
      }
    }
  }

  @Test
  void aFailedPushRemovesNothingAnotherPushPublished() throws Exception {
    Path both = model(scratch.resolve("both"), 5, 1);
    Path failing = scratch.resolve("failing");
    Files.createDirectories(failing);
    Files.copy(both.resolve("model.safetensors"), failing.resolve("a.safetensors"));
    byte[] opaque = new byte[3 << 20];
    new java.util.Random(5).nextBytes(opaque);
    Files.write(failing.resolve("b.bin"), opaque);
    Path other = scratch.resolve("other");
    Files.createDirectories(other);
    Files.copy(both.resolve("model.safetensors"), other.resolve("a.safetensors"));
    try (Backend shared = openBackend("rollback")) {
      Repository otherRepo = Repository.open(SharedBackend.withChunks(shared, shared.chunks()), options());
      FaultyChunkStore hooked = new FaultyChunkStore(shared.chunks());
      AtomicBoolean published = new AtomicBoolean();
      hooked.afterPut((id, created) -> {
        if (created && published.compareAndSet(false, true)) {
          // the failing push created its first object; another push of the same tensor finds it and publishes
          otherRepo.push(other, "other", msg("reuses a chunk of a push about to fail"));
          hooked.failAfterBytes(hooked.bytesCreated());
        }
      });
      try (Repository failingRepo = Repository.open(SharedBackend.withChunks(shared, hooked), options().withParallelism(1))) {
        assertThatThrownBy(() -> failingRepo.push(failing, "failing", msg("fails"))).hasMessageContaining(
            "No space left");
        assertThat(published).isTrue();
        assertThat(failingRepo.models()).extracting(m -> m.model()).containsExactly("other");
        assertWhole(otherRepo, "other", other);
      } finally {
        otherRepo.close();
      }
    }
  }

  @Test
  @Timeout(value = 5, unit = TimeUnit.MINUTES)
  void gcRacingPushesThatReuseOldChunksNeverLeavesAVersionWithAMissingChunk() throws Exception {
    int rounds = 4;
    AtomicLong removed = new AtomicLong();
    ExecutorService threads = Executors.newFixedThreadPool(2);
    try (Backend shared = openBackend("race")) {
      Repository pusher = open(SharedBackend.withChunks(shared, shared.chunks()));
      Repository collector = open(SharedBackend.withChunks(shared, shared.chunks()));
      try {
        List<String> pushed = new ArrayList<>();
        List<Path> sources = new ArrayList<>();
        for (int round = 0; round < rounds; round++) {
          long seed = 100 + round;
          Path src = model(scratch.resolve("race-" + round), seed, 4);
          pusher.push(src, "garbage-" + round, msg("soon garbage"));
          forget(shared, "garbage-" + round);
          // the new model shares the old one's tensors, plus one of its own
          Path next = scratch.resolve("race-next-" + round);
          Files.createDirectories(next);
          List<Tensor> ts = new ArrayList<>();
          for (int i = 0; i < 4; i++) {
            ts.add(new Tensor("layers." + i + ".weight", DType.F32, BIG, seed * 1000 + i));
          }
          ts.add(new Tensor("extra.weight", DType.F32, BIG, random.random().nextLong()));
          ModelGenerator.writeSafetensors(next.resolve("model.safetensors"), ts, Map.of());
          AtomicBoolean done = new AtomicBoolean();
          String name = "m-" + round;
          Future<?> push = threads.submit(() -> {
            try {
              return pusher.push(next, name, msg("round"));
            } finally {
              done.set(true);
            }
          });
          Future<?> gcs = threads.submit(() -> {
            do {
              GcReport r = collector.gc(Duration.ZERO, false);
              removed.addAndGet(r.deadObjects());
            } while (!done.get());
            return null;
          });
          push.get(2, TimeUnit.MINUTES);
          gcs.get(2, TimeUnit.MINUTES);
          pushed.add(name);
          sources.add(next);
        }
        assertThat(removed.get()).as("objects the racing gcs removed").isPositive();
        for (int i = 0; i < pushed.size(); i++) {
          assertWhole(pusher, pushed.get(i), sources.get(i));
        }
        assertThat(collector.verify(null, TransferListener.NONE).errors()).isEmpty();
      } finally {
        threads.shutdownNow();
        pusher.close();
        collector.close();
      }
    }
  }

  @Test
  void aPushThatStopsHalfwayLeavesTheRefsAndIsCollectedOnceItsLeaseIsGone() throws Exception {
    Path v1 = model(scratch.resolve("v1"), 6, 2);
    Path v2 = model(scratch.resolve("v2"), 7, 3);
    try (Backend shared = openBackend("crash")) {
      Repository repo = open(SharedBackend.withChunks(shared, shared.chunks()));
      try {
        PushResult first = repo.push(v1, "m:prod", msg("committed"));
        FaultyChunkStore hooked = new FaultyChunkStore(shared.chunks());
        AtomicInteger puts = new AtomicInteger();
        hooked.afterPut((id, created) -> {
          if (created && puts.incrementAndGet() == 2) {
            throw new StoppedHere();
          }
        });
        // a push that stops dead after two objects, as a killed process would: nothing of it is rolled back here,
        // because the stop bypasses its error handling, and its lease stays behind like a dead process's
        Repository dying = Repository.open(SharedBackend.withChunks(shared, hooked), options().withParallelism(1));
        assertThatThrownBy(() -> dying.push(v2, "m:prod", msg("never lands"))).isInstanceOf(StoppedHere.class);
        assertThat(repo.resolve("m").id()).isEqualTo(first.versionId());
        assertThat(repo.resolve("m:prod").id()).isEqualTo(first.versionId());
        assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
        assertWhole(repo, "m:prod", v1);
        PushResult second = repo.push(v2, "m", msg("lands"));
        assertThat(second.version().parents()).containsExactly(first.versionId());
        assertWhole(repo, "m", v2);
        assertThat(repo.gc(Duration.ZERO, false).deadObjects()).isGreaterThanOrEqualTo(0);
        assertWhole(repo, "m", v2);
        assertWhole(repo, "m:prod", v1);
      } finally {
        repo.close();
      }
    }
  }

  /** Thrown by a hook to stop a push where it stands, past its own error handling (which catches IOException). */
  private static final class StoppedHere extends Error {
    StoppedHere() {
      super("stopped here", null, false, false);
    }
  }
}
