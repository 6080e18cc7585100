package io.ferry.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.chunk.Frame;
import io.ferry.codec.NoneCodec;
import io.ferry.dedup.SmallChunkIndex;
import io.ferry.format.DType;
import io.ferry.id.ChunkId;
import io.ferry.lease.LeaseSettings;
import io.ferry.pack.PackWriter;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.PushResult;
import io.ferry.repo.Results.StoreStats;
import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.ForwardingChunkStore;
import io.ferry.store.RecordStore;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import io.ferry.testkit.ModelGenerator.Tensor;
import io.ferry.transfer.PullOptions;
import io.ferry.transfer.TransferListener;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Store-wide dedup of small chunks (docs/small-chunk-index.md): identical small tensors are stored once whatever
 * model pushes them, and the index that finds them never makes a version reference a pack that is gone — with pushes
 * writing deltas at once, a merge racing a push, gc removing a pack the index names, and a push that died between
 * writing its delta and its version.
 */
class SmallChunkDedupTest {
  /** 300 tensors of 16 KiB: every one a small chunk (under the 256 KiB pack threshold), 4.7 MiB in all. */
  private static final int TENSORS = 300;

  @TempDir Path scratch;

  /** A model of small tensors; names carry the seed, so tensors of two seeds can share a file. */
  private static List<Tensor> smallModel(long seed) {
    List<Tensor> ts = new ArrayList<>();
    for (int i = 0; i < TENSORS; i++) {
      ts.add(new Tensor("m" + seed + ".layers." + i + ".weight", DType.F32, new long[] {64, 64}, seed * 10_000 + i));
    }
    return ts;
  }

  private Path write(String name, List<Tensor> tensors) throws IOException {
    Path dir = Files.createDirectories(scratch.resolve("src").resolve(name));
    ModelGenerator.writeSafetensors(dir.resolve("model.safetensors"), tensors, Map.of());
    return dir;
  }

  private static RepositoryOptions options() {
    return RepositoryOptions.defaults().withParallelism(4)
        .withLeases(new LeaseSettings(Duration.ofMinutes(2), Duration.ZERO, Duration.ofMillis(50)));
  }

  private Backend backend(String name) throws IOException {
    return LocalBackend.open(scratch.resolve("stores").resolve(name), StoreOptions.createIfMissing());
  }

  private static PushOptions msg(String m) {
    return PushOptions.builder().message(m).build();
  }

  private void assertWhole(Repository repo, String ref, Path expected) throws IOException {
    assertThat(repo.verify(ref, TransferListener.NONE).errors()).as("verify %s", ref).isEmpty();
    Path out = scratch.resolve("pulled-" + System.nanoTime());
    repo.pull(ref, out, PullOptions.defaults());
    assertThat(DirectoryState.of(out)).as("pull of %s", ref).isEqualTo(DirectoryState.of(expected));
  }

  /**
   * The same weights under a second name, beside a config of their own (as two Hugging Face repos holding one model
   * are): the small tensors are in a's pack, which b's push, searching only b's own versions, did not look in. (With
   * byte-identical directories the two pushes happen to build the same pack, so that case hid the defect.)
   */
  @Test
  void theSameModelUnderASecondNameStoresAlmostNothing() throws Exception {
    Path a = write("a", smallModel(1));
    Files.writeString(a.resolve("config.json"), "{\"_name_or_path\": \"org/a\"}");
    Path b = write("b", smallModel(1));
    Files.writeString(b.resolve("config.json"), "{\"_name_or_path\": \"org/b\"}");
    try (Repository repo = Repository.open(backend("same"), options())) {
      PushResult first = repo.push(a, "a", msg("first"));
      assertThat(first.newStoredBytes()).as("the first push stores the model").isGreaterThan(3L << 20);
      StoreStats before = repo.stats();
      PushResult second = repo.push(b, "b", msg("same weights, another name"));
      StoreStats after = repo.stats();
      // what is new: b's config (in a pack of its own), the snapshot, the version
      assertThat(second.newStoredBytes()).as("bytes b stored").isLessThan(16 << 10);
      assertThat(second.newChunks()).as("new chunks: the config").isEqualTo(1);
      assertThat(after.storedBytes() - before.storedBytes()).as("store growth").isLessThan(16 << 10);
      assertThat(second.version().packs()).as("b lists a's pack").containsAll(first.version().packs());
      assertWhole(repo, "b", b);
      assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
    }
  }

  /**
   * A pack whose frames name a model's chunks around other bytes (a writer with access to one model may upload such a
   * pack: a server checks a pack as a whole, not its frames) is indexed like any pack; a push of that model must not
   * reuse those frames, and the version it writes reads back byte for byte.
   */
  @Test
  void framesThatNameAChunkAroundOtherBytesAreNotReused() throws Exception {
    Path victim = write("victim", smallModel(7));
    List<ChunkRef> chunks;
    try (Repository probe = Repository.open(backend("probe"), options())) { // the chunks a push cuts
      probe.push(victim, "v", msg("ids"));
      chunks = probe.snapshot(probe.resolve("v")).files().get(0).chunks();
    }
    assertThat(chunks).hasSize(TENSORS + 1).allMatch(c -> c.length() < 256 * 1024);
    try (Repository repo = Repository.open(backend("forged"), options())) {
      PackWriter forged = new PackWriter();
      for (ChunkRef c : chunks) {
        byte[] other = new byte[(int) c.length()];
        java.util.Arrays.fill(other, (byte) 0x3c);
        ByteBuffer payload = ByteBuffer.wrap(other);
        // a valid frame (magic, CRC and all) that names c around other bytes
        forged.add(c.id(), Frame.header(c.id(), NoneCodec.ID, 0, other.length, payload), payload);
      }
      PackWriter.Finished pack = forged.finish();
      assertThat(repo.backend().chunks().put(pack.id(), pack.bytes())).isTrue();
      repo.smallChunks().add(List.of(pack.index()));
      assertThat(repo.smallChunks().load().entries()).as("the forged pack is indexed").isEqualTo(TENSORS + 1);

      PushResult r = repo.push(victim, "victim", msg("must not take the forged frames"));
      assertThat(r.newChunks()).as("every chunk stored anew").isEqualTo(TENSORS + 1);
      assertThat(r.version().packs()).doesNotContain(pack.id());
      assertWhole(repo, "victim", victim);
    }
  }

  /** A copy adds the packs it sends to the target's index, so a push into the target finds copied small chunks. */
  @Test
  void aCopiedModelsSmallChunksAreFoundByPushesIntoTheTarget() throws Exception {
    Path a = write("ca", smallModel(5));
    Files.writeString(a.resolve("config.json"), "{\"_name_or_path\": \"org/a\"}");
    Path b = write("cb", smallModel(5));
    Files.writeString(b.resolve("config.json"), "{\"_name_or_path\": \"org/b\"}");
    try (Repository source = Repository.open(backend("copy-source"), options());
        Repository target = Repository.open(backend("copy-target"), options())) {
      PushResult first = source.push(a, "a", msg("first"));
      source.copyTo("a", target, true, TransferListener.NONE);
      assertThat(target.smallChunks().packsNamed()).as("the target's index names the copied packs")
          .containsAll(first.version().packs());
      PushResult second = target.push(b, "b", msg("same weights, another name, in the target"));
      assertThat(second.newChunks()).as("new chunks: the config").isEqualTo(1);
      assertThat(second.version().packs()).as("b lists the copied pack").containsAll(first.version().packs());
      assertWhole(target, "b", b);
      // copying again sends nothing and adds no delta
      int deltas = target.smallChunks().load().tables();
      source.copyTo("a", target, false, TransferListener.NONE);
      assertThat(target.smallChunks().load().tables()).isEqualTo(deltas);
    }
  }

  /**
   * A copy that fails after it indexed the packs it sent (here: another push moved the target's head onto another
   * history meanwhile) removes its index deltas with its objects, so the target's index is as the other push left it.
   */
  @Test
  void aCopyThatFailsAfterIndexingItsPacksRemovesItsDeltas() throws Exception {
    Path a = write("fa", smallModel(50));
    Path rival = write("fr", smallModel(51));
    try (Backend sourceBackend = backend("fail-source"); Backend shared = backend("fail-target");
        Repository source = Repository.open(sourceBackend, options())) {
      source.push(a, "a", msg("first"));
      List<String> copysDeltas = new java.util.concurrent.CopyOnWriteArrayList<>();
      RecordStore intruding = new BarrierRecords(shared.records(), null) {
        @Override
        public boolean create(String key, byte[] content) throws IOException {
          boolean created = super.create(key, content);
          if (key.startsWith("dedup/deltas/") && copysDeltas.isEmpty()) {
            copysDeltas.add(key);
            try (Repository other = Repository.open(SharedBackend.withChunks(shared, shared.chunks()), options())) {
              other.push(rival, "a", msg("another history, pushed while the copy runs"));
            }
          }
          return created;
        }
      };
      try (Repository target = Repository.open(SharedBackend.with(shared, shared.chunks(), intruding), options())) {
        assertThatThrownBy(() -> source.copyTo("a", target, false, TransferListener.NONE))
            .isInstanceOf(io.ferry.error.ConflictException.class).hasMessageContaining("not in the history of");
      }
      assertThat(copysDeltas).hasSize(1);
      assertThat(shared.records().read(copysDeltas.get(0))).as("the copy's delta").isEmpty();
      try (Repository target = Repository.open(SharedBackend.withChunks(shared, shared.chunks()), options())) {
        assertThat(shared.records().list("dedup/deltas/")).as("the other push's delta only").hasSize(1);
        assertThat(target.smallChunks().packsNamed()).as("the index names the other push's packs only")
            .isEqualTo(Set.copyOf(target.resolve("a").version().packs()));
        assertThat(target.verify(null, TransferListener.NONE).errors()).isEmpty();
        assertWhole(target, "a", rival);
      }
    }
  }

  @Test
  void aFineTuneOfAnotherModelStoresOnlyWhatChanged() throws Exception {
    List<Tensor> base = smallModel(2);
    List<Tensor> tuned = ModelGenerator.finetune(base, 0.1, 7);
    long changed = 0;
    for (int i = 0; i < base.size(); i++) {
      if (!base.get(i).equals(tuned.get(i))) {
        changed += tuned.get(i).byteLength();
      }
    }
    Path baseSrc = write("base", base);
    Path tunedSrc = write("tuned", tuned);
    try (Repository repo = Repository.open(backend("tune"), options())) {
      repo.push(baseSrc, "llama-base", msg("base"));
      PushResult t = repo.push(tunedSrc, "llama-chat", msg("fine-tuned, another model's name"));
      assertThat(changed).as("the fine-tune changed some tensors").isGreaterThan(0);
      // the changed tensors (up to codec), the header chunk, the snapshot, the pack's index: nowhere near the model
      assertThat(t.newStoredBytes()).as("bytes the fine-tune stored").isLessThan(changed + (64 << 10));
      assertThat(t.version().packs()).as("packs of both pushes").hasSize(2);
      assertWhole(repo, "llama-chat", tunedSrc);
      assertWhole(repo, "llama-base", baseSrc);
    }
  }

  @Test
  void concurrentPushesWriteDeltasOfTheirOwn() throws Exception {
    int n = 4;
    List<Path> sources = new ArrayList<>();
    List<Tensor> all = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      List<Tensor> ts = smallModel(10 + i).subList(0, 60);
      sources.add(write("c" + i, ts));
      all.addAll(ts);
    }
    Path union = write("union", all);
    try (Backend shared = backend("concurrent")) {
      ExecutorService threads = Executors.newFixedThreadPool(n);
      List<Repository> repos = new ArrayList<>();
      try {
        List<Future<PushResult>> pushes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          Repository r = Repository.open(SharedBackend.withChunks(shared, shared.chunks()), options());
          repos.add(r);
          Path src = sources.get(i);
          String name = "c" + i;
          pushes.add(threads.submit(() -> r.push(src, name, msg("at once"))));
        }
        for (Future<PushResult> f : pushes) {
          f.get(60, TimeUnit.SECONDS);
        }
      } finally {
        threads.shutdownNow();
        for (Repository r : repos) {
          r.close();
        }
      }
      assertThat(shared.records().list("dedup/deltas/")).as("one delta per push").hasSize(n);
      try (Repository repo = Repository.open(SharedBackend.withChunks(shared, shared.chunks()), options())) {
        PushResult u = repo.push(union, "union", msg("every tensor of the four"));
        assertThat(u.newChunks()).as("new chunks: only the union's header").isEqualTo(1);
        assertThat(u.version().packs()).as("the four pushes' packs and the union's own (its header)").hasSize(n + 1);
        assertWhole(repo, "union", union);
      }
    }
  }

  @Test
  void aMergeRacingAPushLosesNothingTheIndexNeeds() throws Exception {
    Path a = write("a", smallModel(20));
    Path b = write("b", smallModel(21));
    List<Tensor> both = new ArrayList<>(smallModel(20).subList(0, 100));
    both.addAll(smallModel(21).subList(0, 100));
    Path ab = write("ab", both);
    try (Backend shared = backend("merge")) {
      Repository merger = Repository.open(SharedBackend.withChunks(shared, shared.chunks()), options());
      merger.push(a, "a", msg("a"));
      FaultyChunkStore hooked = new FaultyChunkStore(shared.chunks());
      AtomicBoolean merged = new AtomicBoolean();
      hooked.afterPut((id, created) -> {
        // b's push has written its pack and is about to write its delta: merge what the index has now
        if (created && merged.compareAndSet(false, true)) {
          assertThat(merger.smallChunks().merge(p -> true, false)).isEqualTo(SmallChunkIndex.MergeOutcome.MERGED);
        }
      });
      try (Repository pusher = Repository.open(SharedBackend.withChunks(shared, hooked), options())) {
        pusher.push(b, "b", msg("b, while a merge runs"));
      }
      assertThat(merged).isTrue();
      assertThat(shared.records().list("dedup/bases/")).as("the merge's pointer").hasSize(1);
      assertThat(shared.records().list("dedup/deltas/")).as("b's delta, not absorbed").hasSize(1);
      // two merges from the same state: exactly one publishes
      List<SmallChunkIndex.MergeOutcome> outcomes = racingMerges(merger, shared.records());
      assertThat(outcomes).containsExactlyInAnyOrder(SmallChunkIndex.MergeOutcome.MERGED,
          SmallChunkIndex.MergeOutcome.LOST_RACE);
      assertThat(shared.records().list("dedup/deltas/")).as("b's delta, absorbed by the winner").isEmpty();
      PushResult r = merger.push(ab, "ab", msg("half of each"));
      assertThat(r.newChunks()).as("only the header is new").isEqualTo(1);
      assertWhole(merger, "ab", ab);
      // the loser's table is garbage; the winner's base is kept; nothing a version needs goes
      merger.gc(Duration.ZERO, false);
      assertThat(merger.gc(Duration.ZERO, true).deadObjects()).isZero();
      assertWhole(merger, "ab", ab);
      // a's and b's tensors and headers, and ab's header
      assertThat(merger.smallChunks().load().entries()).as("entries after gc").isEqualTo(2L * (TENSORS + 1) + 1);
      merger.close();
    }
  }

  /**
   * Two merges that read the same pointer, then publish: one creates the next pointer record, the other finds it
   * taken. Both have read before either creates: their record stores hold each pointer creation until both got there.
   */
  private List<SmallChunkIndex.MergeOutcome> racingMerges(Repository repo, RecordStore records) throws Exception {
    ExecutorService threads = Executors.newFixedThreadPool(2);
    try {
      java.util.concurrent.CyclicBarrier barrier = new java.util.concurrent.CyclicBarrier(2);
      List<Future<SmallChunkIndex.MergeOutcome>> fs = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        SmallChunkIndex idx = new SmallChunkIndex(repo.objects(), new BarrierRecords(records, barrier), 32);
        fs.add(threads.submit(() -> idx.merge(p -> true, true)));
      }
      List<SmallChunkIndex.MergeOutcome> out = new ArrayList<>();
      for (Future<SmallChunkIndex.MergeOutcome> f : fs) {
        out.add(f.get(60, TimeUnit.SECONDS));
      }
      return out;
    } finally {
      threads.shutdownNow();
    }
  }

  @Test
  void gcRemovingAPackTheIndexNamesLeavesTheNextVersionWhole() throws Exception {
    Path src = write("m", smallModel(30));
    try (Backend shared = backend("gc")) {
      Repository gcRepo = Repository.open(SharedBackend.withChunks(shared, shared.chunks()), options());
      PushResult old = gcRepo.push(src, "old", msg("left behind"));
      Set<ChunkId> oldPacks = new HashSet<>(old.version().packs());
      forget(shared, "old");
      FaultyChunkStore hooked = new FaultyChunkStore(shared.chunks());
      AtomicLong removed = new AtomicLong();
      AtomicBoolean fired = new AtomicBoolean();
      hooked.afterPut((id, created) -> {
        // the push has found every small chunk in the old pack through the index and is writing its snapshot
        if (fired.compareAndSet(false, true)) {
          removed.addAndGet(gcRepo.gc(Duration.ZERO, false).deadObjects());
        }
      });
      try (Repository pushRepo = Repository.open(SharedBackend.withChunks(shared, hooked), options())) {
        PushResult r = pushRepo.push(src, "new", msg("reuses the old pack"));
        assertThat(fired).isTrue();
        assertThat(removed.get()).as("objects the racing gc removed").isPositive();
        // the push found the old pack missing before publishing and stored its chunks again (the same pack bytes)
        assertThat(r.newChunks()).as("chunks stored again").isEqualTo(TENSORS + 1L);
        assertThat(r.version().packs()).as("the version's packs").isEqualTo(List.copyOf(oldPacks))
            .allSatisfy(p -> assertThat(shared.chunks().contains(p)).isTrue());
        assertWhole(pushRepo, "new", src);
      } finally {
        gcRepo.close();
      }
    }
  }

  @Test
  void aPushThatDiedBetweenItsDeltaAndItsVersion() throws Exception {
    Path src = write("m", smallModel(40));
    try (Backend shared = backend("crash")) {
      // the "crash": the version cannot be written, and nothing is cleaned up (deletes fail too, of objects and of
      // the index delta the push wrote)
      CrashingStore crashing = new CrashingStore(shared.chunks(), shared.records());
      RecordStore undeletable = new BarrierRecords(shared.records(), null) {
        @Override
        public void delete(String key) throws IOException {
          if (key.startsWith("dedup/")) {
            throw new IOException("simulated crash: " + key + " stays");
          }
          // its lease goes (a dead process's lease would expire, or gc would see its holder gone): kept, every later
          // command here would wait out its time-to-live, since the holder is this very process
          super.delete(key);
        }
      };
      try (Repository dying = Repository.open(SharedBackend.with(shared, crashing, undeletable), options())) {
        assertThatThrownBy(() -> dying.push(src, "dead", msg("dies"))).hasMessageContaining("simulated crash");
      }
      assertThat(shared.refs().get(RefNames.head("dead"))).isEmpty();
      assertThat(shared.records().list("dedup/deltas/")).as("the delta it wrote").hasSize(1);
      Set<ChunkId> named;
      try (Repository repo = Repository.open(SharedBackend.withChunks(shared, shared.chunks()), options())) {
        named = repo.smallChunks().packsNamed();
      }
      assertThat(named).hasSize(1);
      try (Repository repo = Repository.open(SharedBackend.withChunks(shared, shared.chunks()), options())) {
        PushResult r = repo.push(src, "alive", msg("same files"));
        assertThat(r.version().packs()).as("reuses the dead push's pack").isEqualTo(List.copyOf(named));
        assertThat(r.newChunks()).as("new chunks").isZero();
        assertWhole(repo, "alive", src);
        repo.gc(Duration.ZERO, false);
        assertWhole(repo, "alive", src);
      }
      // and when gc removed the dead push's pack before anyone reused it
      try (Repository repo = Repository.open(SharedBackend.withChunks(shared, shared.chunks()), options())) {
        forget(shared, "alive");
        repo.gc(Duration.ZERO, false);
        assertThat(shared.chunks().missing(named)).as("the pack is gone").isEqualTo(List.copyOf(named));
        assertThat(repo.smallChunks().packsNamed()).as("gc dropped it from the index").isEmpty();
        PushResult again = repo.push(src, "later", msg("after gc"));
        assertThat(again.newChunks()).as("stored again").isEqualTo(TENSORS + 1L);
        assertWhole(repo, "later", src);
      }
    }
  }

  /** Fails every put once the push wrote its index delta (so: the version's), and every delete. */
  private static final class CrashingStore extends DelegatingStore {
    private final RecordStore records;

    CrashingStore(ChunkStore delegate, RecordStore records) {
      super(delegate);
      this.records = records;
    }

    @Override
    public boolean put(ChunkId id, ByteBuffer... parts) throws IOException {
      if (!records.list("dedup/deltas/").isEmpty()) {
        throw new IOException("simulated crash before writing " + id);
      }
      return super.put(id, parts);
    }

    @Override
    public void delete(ChunkId id) throws IOException {
      throw new IOException("simulated crash: " + id + " stays");
    }
  }

  /** Holds every creation of a pointer record until two callers got there (none without a barrier). */
  private static class BarrierRecords extends io.ferry.store.ForwardingRecordStore {
    private final RecordStore d;
    private final java.util.concurrent.CyclicBarrier barrier;

    BarrierRecords(RecordStore d, java.util.concurrent.CyclicBarrier barrier) {
      super(d);
      this.d = d;
      this.barrier = barrier;
    }

    @Override
    public boolean create(String key, byte[] content) throws IOException {
      if (barrier != null && key.startsWith("dedup/bases/")) {
        try {
          barrier.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new java.io.InterruptedIOException("waiting for the other merge");
        } catch (java.util.concurrent.BrokenBarrierException | java.util.concurrent.TimeoutException e) {
          throw new IOException("the other merge never came", e);
        }
      }
      return d.create(key, content);
    }

    @Override
    public void close() {}
  }

  /** Passes every call to another store, and leaves it open when closed. */
  private static class DelegatingStore extends ForwardingChunkStore {
    DelegatingStore(ChunkStore d) {
      super(d);
    }

    @Override
    public void close() {}
  }

  /** Makes a version unreachable: deletes the model's head, logged as a move long ago. */
  private static void forget(Backend b, String model) throws IOException {
    String head = RefNames.head(model);
    ChunkId cur = b.refs().get(head).orElseThrow();
    b.refs().compareAndSet(head, cur, null, new RefLogEntry(cur, null, "test", Instant.now(), "forget " + model));
  }

  @SuppressWarnings("unused")
  private static Set<ChunkId> smallChunksOf(Repository repo, String ref) throws IOException {
    Set<ChunkId> out = new HashSet<>();
    for (FileEntry f : repo.snapshot(repo.resolve(ref)).files()) {
      for (ChunkRef c : f.chunks()) {
        if (c.length() < 256 * 1024) {
          out.add(c.id());
        }
      }
    }
    return out;
  }
}
