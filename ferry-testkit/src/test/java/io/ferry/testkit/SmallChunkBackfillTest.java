package io.ferry.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.dedup.SmallChunkIndex;
import io.ferry.dedup.SmallChunkIndex.BackfillReport;
import io.ferry.format.DType;
import io.ferry.id.ChunkId;
import io.ferry.lease.LeaseSettings;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results;
import io.ferry.repo.Results.PushResult;
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
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The backfill of the small-chunk index (docs/small-chunk-index.md, "Backfill"): a store written before the index
 * existed stores a model's small chunks again under another name; once backfilled it stores almost nothing, a second
 * backfill adds nothing, a pack gone from under a version is skipped rather than named, and a gc running during the
 * backfill keeps the packs it names.
 */
class SmallChunkBackfillTest {
  /** Tensors of 16 KiB: every one a small chunk (under the 256 KiB pack threshold). */
  private static final int TENSORS = 64;

  @TempDir Path scratch;

  private Path write(String name, long seed) throws IOException {
    List<Tensor> ts = new ArrayList<>();
    for (int i = 0; i < TENSORS; i++) {
      ts.add(new Tensor("layers." + i + ".weight", DType.F32, new long[] {64, 64}, seed * 10_000 + i));
    }
    Path dir = Files.createDirectories(scratch.resolve("src").resolve(name));
    ModelGenerator.writeSafetensors(dir.resolve("model.safetensors"), ts, Map.of());
    Files.writeString(dir.resolve("config.json"), "{\"_name_or_path\": \"org/" + name + "\"}");
    return dir;
  }

  private static RepositoryOptions options() {
    return RepositoryOptions.defaults().withParallelism(4)
        .withLeases(new LeaseSettings(Duration.ofMinutes(2), Duration.ZERO, Duration.ofMillis(50)));
  }

  private static PushOptions msg(String m) {
    return PushOptions.builder().message(m).build();
  }

  /** Makes the store look as one written before the index: no records under {@code dedup/}. */
  private static void dropIndex(RecordStore records) throws IOException {
    for (String k : records.list("dedup/")) {
      records.delete(k);
    }
    assertThat(records.list("dedup/")).isEmpty();
  }

  @Test
  void anOldStoreBackfilledStoresTheSameWeightsOnce() throws Exception {
    Path a = write("a", 1);
    Path b = write("b", 1);
    Path c = write("c", 1);
    try (Backend backend = LocalBackend.open(scratch.resolve("store"), StoreOptions.createIfMissing());
        Repository repo = Repository.open(backend, options())) {
      repo.push(a, "a", msg("written before the index"));
      dropIndex(backend.records());
      // today's behaviour in such a store: the same weights under another name are stored again
      PushResult again = repo.push(b, "b", msg("same weights, old store"));
      // (its tensors, the safetensors header, its config)
      assertThat(again.newChunks()).as("chunks b stored again").isEqualTo(TENSORS + 2L);
      dropIndex(backend.records());

      BackfillReport first = repo.backfillSmallChunkIndex();
      assertThat(first.packs()).as("packs of the live versions").isEqualTo(packsOf(repo, "a", "b"));
      assertThat(first.read()).isEqualTo(first.packs());
      assertThat(first.alreadyIndexed()).isZero();
      assertThat(first.unreadable()).isZero();
      // a's tensors, header and config, and b's config: b's tensors and header are a's chunks, added once
      assertThat(first.chunksAdded()).as("chunks added").isEqualTo(TENSORS + 3L);
      assertThat(first.deltas()).isEqualTo(1);
      assertThat(backend.records().list("dedup/deltas/")).hasSize(1);

      repo.gc(Duration.ZERO, false);
      PushResult third = repo.push(c, "c", msg("same weights after the backfill"));
      assertThat(third.newChunks()).as("new chunks: c's config").isEqualTo(1);
      assertThat(third.newStoredBytes()).as("bytes c stored").isLessThan(16 << 10);
      assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
      Path out = scratch.resolve("pulled");
      repo.pull("c", out, PullOptions.defaults());
      assertThat(DirectoryState.of(out)).isEqualTo(DirectoryState.of(c));

      BackfillReport second = repo.backfillSmallChunkIndex();
      assertThat(second.chunksAdded()).as("a second backfill adds nothing").isZero();
      assertThat(second.deltas()).isZero();
      assertThat(second.unreadable()).isZero();
    }
  }

  @Test
  void aPackGoneFromUnderAVersionIsSkippedNotNamed() throws Exception {
    Path a = write("a", 2);
    try (Backend backend = LocalBackend.open(scratch.resolve("store"), StoreOptions.createIfMissing());
        Repository repo = Repository.open(backend, options())) {
      PushResult r = repo.push(a, "a", msg("written before the index"));
      dropIndex(backend.records());
      List<ChunkId> packs = r.version().packs();
      assertThat(packs).isNotEmpty();
      ChunkId lost = packs.get(0);
      backend.chunks().delete(lost);

      BackfillReport report = repo.backfillSmallChunkIndex();
      assertThat(report.unreadable()).as("the pack that is gone").isEqualTo(1);
      assertThat(report.read()).isEqualTo(packs.size() - 1L);
      assertThat(repo.smallChunks().packsNamed()).as("packs the index names").doesNotContain(lost)
          .allSatisfy(p -> assertThat(backend.chunks().contains(p)).isTrue());
      assertThat(backend.records().list("leases/")).as("the backfill's lease, released").isEmpty();
    }
  }

  /**
   * Damage in the index itself (a delta record with a flipped byte, a base table with a flipped byte, a newest pointer
   * record that is not one): pushes read each as absent, which costs only dedup; a merge still publishes (above the
   * damaged pointer's number, which it once tried and lost to forever); a store-wide verify names each part; a
   * backfill replaces them, after which verify is clean and pushes find the chunks again.
   */
  @Test
  void aDamagedIndexIsNamedByVerifyAndRepairedByBackfill() throws Exception {
    Path a = write("a", 5);
    Path b = write("b", 6);
    try (Backend backend = LocalBackend.open(scratch.resolve("store"), StoreOptions.createIfMissing());
        Repository repo = Repository.open(backend, options())) {
      RecordStore records = backend.records();
      repo.push(a, "a", msg("a"));
      assertThat(repo.smallChunks().merge(pack -> true, false)).isEqualTo(SmallChunkIndex.MergeOutcome.MERGED);
      ChunkId base = repo.smallChunks().baseObjects().iterator().next();
      repo.push(b, "b", msg("b"));
      List<String> deltas = records.list("dedup/deltas/");
      assertThat(deltas).hasSize(1);
      String delta = deltas.get(0);
      assertThat(repo.verify(null, TransferListener.NONE).ok()).isTrue();

      byte[] d = records.read(delta).orElseThrow();
      d[d.length / 2] ^= 0x10;
      records.replace(delta, d);
      Path baseFile = scratch.resolve("store/objects").resolve(base.hex().substring(0, 2))
          .resolve(base.hex().substring(2));
      byte[] t = Files.readAllBytes(baseFile);
      t[t.length / 2] ^= 0x10;
      Files.write(baseFile, t);
      String junk = "dedup/bases/" + String.format("%020d", 7);
      assertThat(records.create(junk, "not a pointer\n".getBytes(java.nio.charset.StandardCharsets.UTF_8))).isTrue();

      Results.VerifyReport v = repo.verify(null, TransferListener.NONE);
      assertThat(v.ok()).isFalse();
      assertThat(v.errors()).as("no model is damaged").isEmpty();
      assertThat(v.indexProblems()).hasSize(3);
      assertThat(String.join("\n", v.indexProblems())).contains(junk).contains(delta).contains(base.hex());
      assertThat(repo.verify("a", TransferListener.NONE).ok()).as("a version's verify").isTrue();

      BackfillReport report = repo.backfillSmallChunkIndex();
      assertThat(report.repaired()).as("damaged parts replaced").isEqualTo(3);
      assertThat(repo.verify(null, TransferListener.NONE).ok()).as("verify after the backfill").isTrue();
      assertThat(records.list("dedup/")).doesNotContain(junk, delta);
      PushResult again = repo.push(write("a2", 5), "a2", msg("a's weights again"));
      assertThat(again.newChunks()).as("new chunks: a2's config").isEqualTo(1);

      // a merge is not blocked by a damaged newest pointer record: it publishes above its number
      long top = records.list("dedup/bases/").stream().mapToLong(k -> Long.parseLong(k.substring(12))).max()
          .orElseThrow();
      String junk2 = "dedup/bases/" + String.format("%020d", top + 1);
      records.create(junk2, new byte[] {1, 2, 3});
      repo.push(write("c", 7), "c", msg("c"));
      assertThat(repo.smallChunks().merge(pack -> true, false)).isEqualTo(SmallChunkIndex.MergeOutcome.MERGED);
      assertThat(records.list("dedup/bases/")).contains("dedup/bases/" + String.format("%020d", top + 2));
      assertThat(repo.verify(null, TransferListener.NONE).indexProblems()).singleElement().asString()
          .contains(junk2);
      assertThat(repo.backfillSmallChunkIndex().repaired()).isEqualTo(1);
      assertThat(repo.verify(null, TransferListener.NONE).ok()).isTrue();
    }
  }

  /**
   * Records among the pointer records that no merge makes, as whoever may write records could plant them: a number
   * past a long's range (a push failed with NumberFormatException on it), one at the very top of the range (the next
   * number overflowed), a name that is no number (record keys are ASCII: the store refuses others). Pushes and merges go on, verify names each, backfill removes them.
   */
  @Test
  void plantedPointerRecordsStopNoPushAndAreRemovedByBackfill() throws Exception {
    try (Backend backend = LocalBackend.open(scratch.resolve("store"), StoreOptions.createIfMissing());
        Repository repo = Repository.open(backend, options())) {
      RecordStore records = backend.records();
      repo.push(write("a", 5), "a", msg("a"));
      byte[] junk = "junk".getBytes(java.nio.charset.StandardCharsets.UTF_8);
      List<String> planted = List.of("dedup/bases/99999999999999999999", "dedup/bases/09223372036854775807",
          "dedup/bases/00999999999999999999", "dedup/bases/notanumber");
      for (String k : planted) {
        assertThat(records.create(k, junk)).as(k).isTrue();
      }
      PushResult b = repo.push(write("b", 6), "b", msg("b"));
      assertThat(b.version()).isNotNull();
      assertThat(repo.smallChunks().merge(pack -> true, false)).as("no number left above the planted one")
          .isEqualTo(SmallChunkIndex.MergeOutcome.NOTHING);
      Results.VerifyReport v = repo.verify(null, TransferListener.NONE);
      assertThat(v.errors()).as("no model is damaged").isEmpty();
      assertThat(v.indexProblems()).hasSize(planted.size());
      for (String k : planted) {
        assertThat(String.join("\n", v.indexProblems())).contains(k);
      }
      assertThat(repo.backfillSmallChunkIndex().repaired()).isEqualTo(planted.size());
      assertThat(records.list("dedup/bases/")).doesNotContainAnyElementsOf(planted);
      assertThat(repo.verify(null, TransferListener.NONE).ok()).isTrue();
      PushResult again = repo.push(write("b2", 6), "b2", msg("b's weights again"));
      assertThat(again.newChunks()).as("new chunks: b2's config").isEqualTo(1);
    }
  }

  /**
   * A gc that runs while the backfill is about to read the packs it declared in its lease: the model was removed
   * meanwhile, so only the lease keeps its packs; they stay, the index names them, and the next gc (no lease) removes
   * them and drops them from the index.
   */
  @Test
  void aGcDuringTheBackfillKeepsThePacksItNames() throws Exception {
    Path a = write("a", 3);
    try (Backend shared = LocalBackend.open(scratch.resolve("store"), StoreOptions.createIfMissing());
        Repository gcRepo = Repository.open(SharedBackend.withChunks(shared, shared.chunks()), options())) {
      PushResult r = gcRepo.push(a, "a", msg("written before the index"));
      dropIndex(shared.records());
      List<ChunkId> packs = r.version().packs();
      long[] removed = {-1};
      ChunkStore hooked = new ForwardingChunkStore(shared.chunks()) {
        @Override
        public long size(ChunkId id) throws IOException {
          // the backfill is about to read a pack's index: remove the model, and gc with no grace. The removal's
          // log entry is stamped an hour back (a remover whose clock is behind): gc keeps what entries made since a
          // running push lease began name, which would keep a's version and its packs too, and this test is about
          // what the backfill's lease alone keeps
          if (packs.contains(id) && removed[0] < 0) {
            ChunkId head = shared.refs().get(RefNames.head("a")).orElseThrow();
            shared.refs().compareAndSet(RefNames.head("a"), head, null,
                new RefLogEntry(head, null, "test", Instant.now().minus(Duration.ofHours(1)), "remove a"));
            removed[0] = gcRepo.gc(Duration.ZERO, false).deadObjects();
          }
          return super.size(id);
        }

        @Override
        public void close() {}
      };
      BackfillReport report;
      try (Repository backfilling = Repository.open(SharedBackend.withChunks(shared, hooked), options())) {
        report = backfilling.backfillSmallChunkIndex();
      }
      assertThat(removed[0]).as("objects the racing gc removed (a's version and snapshot)").isPositive();
      assertThat(report.read()).as("packs read").isEqualTo(packs.size());
      assertThat(report.unreadable()).isZero();
      assertThat(shared.chunks().missing(packs)).as("packs gone").isEmpty();
      assertThat(gcRepo.smallChunks().packsNamed()).containsExactlyInAnyOrderElementsOf(packs);

      gcRepo.gc(Duration.ZERO, false);
      assertThat(shared.chunks().missing(packs)).as("packs gone after the backfill's lease ended")
          .containsExactlyInAnyOrderElementsOf(packs);
      assertThat(gcRepo.smallChunks().packsNamed()).as("packs the index names").isEmpty();
    }
  }

  private static long packsOf(Repository repo, String... refs) throws IOException {
    java.util.Set<ChunkId> packs = new java.util.HashSet<>();
    for (String ref : refs) {
      packs.addAll(repo.resolve(ref).version().packs());
    }
    return packs.size();
  }
}
