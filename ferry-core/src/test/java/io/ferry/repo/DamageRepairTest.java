package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.lease.LeaseSettings;
import io.ferry.repo.Results.DamagedObject;
import io.ferry.repo.Results.RepairReport;
import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.ForwardingChunkStore;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.PullOptions;
import io.ferry.transfer.TransferListener;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Repository#deleteDamaged}: deletes exactly the objects whose stored bytes fail their own id, under a gc lease,
 * so that a push of the same files (or a copy) stores them again; nothing else, ever.
 */
class DamageRepairTest {
  private static final RepositoryOptions OPTIONS = RepositoryOptions.defaults()
      .withLeases(new LeaseSettings(Duration.ofMinutes(2), Duration.ZERO, Duration.ofMillis(50)));

  @TempDir Path tmp;

  private Path storeDir;
  private Path src;
  private byte[] weights;

  @BeforeEach
  void model() throws IOException {
    storeDir = tmp.resolve("store");
    src = tmp.resolve("src");
    Files.createDirectories(src);
    weights = new byte[700_000];
    new Random(7).nextBytes(weights);
    Files.write(src.resolve("weights.bin"), weights);
    Files.writeString(src.resolve("config.json"), "{\"hidden_size\": 64}");
    try (Repository repo = open()) {
      repo.push(src, "m", PushOptions.builder().message("base").build());
    }
  }

  private Repository open() throws IOException {
    return Ferry.open(storeDir.toString(), StoreOptions.createIfMissing(), OPTIONS);
  }

  private Path fileOf(ChunkId id) {
    return storeDir.resolve("objects").resolve(id.hex().substring(0, 2)).resolve(id.hex().substring(2));
  }

  /** The loose chunks of the head, the biggest first (weights.bin is cut into at least one). */
  private static List<ChunkId> looseChunks(Repository repo) throws IOException {
    return repo.objects().snapshot(repo.resolve("m").version().snapshot()).files().stream()
        .flatMap(f -> f.chunks().stream()).filter(c -> c.length() >= 256 * 1024)
        .sorted((a, b) -> Long.compare(b.length(), a.length())).map(c -> c.id()).toList();
  }

  private static void flip(Path file, long at) throws IOException {
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
      raf.seek(at);
      int b = raf.read();
      raf.seek(at);
      raf.write(b ^ 0x40);
    }
  }

  /** Every file of the store but the records (leases come and go), with its SHA-256. */
  private Map<String, String> objectsTree() throws IOException {
    Map<String, String> out = new TreeMap<>();
    try (Stream<Path> s = Files.walk(storeDir)) {
      for (Path p : s.filter(Files::isRegularFile).filter(p -> !storeDir.relativize(p).startsWith("records"))
          .toList()) {
        try {
          out.put(storeDir.relativize(p).toString(),
              HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p))));
        } catch (java.security.NoSuchAlgorithmException e) {
          throw new IllegalStateException(e);
        }
      }
    }
    return out;
  }

  @Test
  void aDamagedChunkIsDeletedAndAPushOfTheSameFilesRestoresIt() throws IOException {
    try (Repository repo = open()) {
      ChunkId damaged = looseChunks(repo).get(0);
      flip(fileOf(damaged), Files.size(fileOf(damaged)) / 2);
      assertThat(repo.verify(null, TransferListener.NONE).ok()).isFalse();
      // a push of the same files before the repair keeps the damaged chunk: it holds an object of that id
      assertThat(repo.push(src, "m", PushOptions.builder().build()).upToDate()).isTrue();
      assertThat(repo.verify(null, TransferListener.NONE).ok()).as("push alone does not repair").isFalse();
      Map<String, String> before = objectsTree();

      RepairReport r = repo.deleteDamaged(null, TransferListener.NONE);

      assertThat(r.verify().ok()).isFalse();
      assertThat(r.kept()).isEmpty();
      assertThat(r.deleted()).extracting(DamagedObject::id).containsExactly(damaged);
      DamagedObject d = r.deleted().get(0);
      assertThat(d.kind()).isEqualTo("chunk");
      assertThat(d.uses()).singleElement().asString().startsWith("m@").contains("//weights.bin bytes [");
      assertThat(r.restore()).anySatisfy(l -> assertThat(l).contains("ferry push"))
          .anySatisfy(l -> assertThat(l).contains("ferry copy m@"));
      Map<String, String> after = objectsTree();
      String key = storeDir.relativize(fileOf(damaged)).toString();
      assertThat(after).doesNotContainKey(key);
      before.remove(key);
      assertThat(after).as("nothing but the damaged object was deleted").isEqualTo(before);

      assertThat(repo.push(src, "m", PushOptions.builder().build()).upToDate()).isTrue();
      assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
      Path out = tmp.resolve("out");
      repo.pull("m", out, PullOptions.defaults());
      assertThat(Files.readAllBytes(out.resolve("weights.bin"))).isEqualTo(weights);
    }
  }

  @Test
  void aHealthyStoreLosesNothing() throws IOException {
    try (Repository repo = open()) {
      Map<String, String> before = objectsTree();
      RepairReport r = repo.deleteDamaged(null, TransferListener.NONE);
      assertThat(r.verify().ok()).isTrue();
      assertThat(r.deleted()).isEmpty();
      assertThat(r.kept()).isEmpty();
      assertThat(r.restore()).isEmpty();
      assertThat(objectsTree()).isEqualTo(before);
    }
  }

  @Test
  void aDamagedSnapshotIsDeletedAndAPushRestoresIt() throws IOException {
    try (Repository repo = open()) {
      ChunkId snapshot = repo.resolve("m").version().snapshot();
      flip(fileOf(snapshot), Files.size(fileOf(snapshot)) - 3);
      RepairReport r = repo.deleteDamaged(null, TransferListener.NONE);
      assertThat(r.deleted()).extracting(DamagedObject::id, DamagedObject::kind)
          .containsExactly(org.assertj.core.groups.Tuple.tuple(snapshot, "snapshot"));
      assertThat(Files.exists(fileOf(snapshot))).isFalse();
      repo.push(src, "m", PushOptions.builder().build());
      assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
    }
  }

  @Test
  void aDamagedVersionIsDeletedAndACopyRestoresIt() throws IOException {
    try (Repository repo = open();
        Repository backup = Ferry.open(tmp.resolve("backup").toString(), StoreOptions.createIfMissing(), OPTIONS)) {
      repo.copyTo("m", backup, false, TransferListener.NONE);
      ChunkId version = repo.resolve("m").id();
      flip(fileOf(version), Files.size(fileOf(version)) - 3);
      RepairReport r = repo.deleteDamaged(null, TransferListener.NONE);
      assertThat(r.deleted()).extracting(DamagedObject::id, DamagedObject::kind)
          .containsExactly(org.assertj.core.groups.Tuple.tuple(version, "version"));
      assertThat(r.deleted().get(0).uses()).singleElement().asString().contains("m@" + version.shortHex(12));
      assertThat(r.restore()).anySatisfy(l -> assertThat(l).contains("ferry copy m@" + version.shortHex(12)))
          .anySatisfy(l -> assertThat(l).contains("comes back only by copy"));
      assertThat(Files.exists(fileOf(version))).isFalse();
      backup.copyTo("m", repo, false, TransferListener.NONE);
      assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
    }
  }

  @Test
  void anObjectOfAFrameVersionThisFerryDoesNotKnowIsKept() throws IOException {
    try (Repository repo = open()) {
      ChunkId newer = looseChunks(repo).get(0);
      try (RandomAccessFile raf = new RandomAccessFile(fileOf(newer).toFile(), "rw")) {
        raf.seek(4);
        raf.write(3); // frame format version 3: newer software's (encrypted frames, docs/encryption.md)
      }
      Map<String, String> before = objectsTree();
      RepairReport r = repo.deleteDamaged(null, TransferListener.NONE);
      assertThat(r.verify().ok()).isFalse();
      assertThat(r.deleted()).isEmpty();
      assertThat(r.kept()).singleElement().satisfies(k -> {
        assertThat(k.id()).isEqualTo(newer);
        assertThat(k.kept()).contains("newer software's");
      });
      assertThat(objectsTree()).isEqualTo(before);
    }
  }

  @Test
  void aFifoOrAnEmptyDirectoryInAnObjectsPlaceIsDeletedAndAPushRestoresIt() throws Exception {
    try (Repository repo = open()) {
      ChunkId odd = looseChunks(repo).get(0);
      for (String kind : List.of("fifo", "directory")) {
        Files.delete(fileOf(odd));
        if (kind.equals("fifo")) {
          assertThat(new ProcessBuilder("mkfifo", fileOf(odd).toString()).start().waitFor()).isZero();
        } else {
          Files.createDirectory(fileOf(odd));
        }

        RepairReport r = repo.deleteDamaged(null, TransferListener.NONE);
        assertThat(r.kept()).as(kind).isEmpty();
        assertThat(r.deleted()).as(kind).extracting(DamagedObject::id).containsExactly(odd);
        assertThat(fileOf(odd)).as(kind).doesNotExist();
        repo.push(src, "m", PushOptions.builder().build());
        assertThat(repo.verify(null, TransferListener.NONE).errors()).as(kind).isEmpty();
      }
    }
  }

  @Test
  void aDirectoryHoldingFilesInAnObjectsPlaceIsKeptWithItsFiles() throws IOException {
    try (Repository repo = open()) {
      ChunkId odd = looseChunks(repo).get(0);
      Files.delete(fileOf(odd));
      Files.createDirectory(fileOf(odd));
      Files.writeString(fileOf(odd).resolve("notes.txt"), "someone's");
      RepairReport r = repo.deleteDamaged(null, TransferListener.NONE);
      assertThat(r.deleted()).isEmpty();
      assertThat(r.kept()).extracting(DamagedObject::id).containsExactly(odd);
      assertThat(r.kept().get(0).kept()).startsWith("a directory holding files is in its place");
      assertThat(fileOf(odd).resolve("notes.txt")).hasContent("someone's");
    }
  }

  /** Reads of one object fail as a disk or a network can fail: an I/O error, no damage found. */
  private static final class FailingReads extends ForwardingChunkStore {
    private final ChunkId failing;

    FailingReads(ChunkStore inner, ChunkId failing) {
      super(inner);
      this.failing = failing;
    }

    @Override
    public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
      if (id.equals(failing)) {
        throw new IOException("injected I/O error reading " + id);
      }
      return super.read(id, offset, length);
    }

    @Override
    public void readInto(ChunkId id, long offset, ByteBuffer dst) throws IOException {
      if (id.equals(failing)) {
        throw new IOException("injected I/O error reading " + id);
      }
      super.readInto(id, offset, dst);
    }
  }

  @Test
  void anObjectThatFailsToReadIsNotDeletedAndNeitherIsAnythingElse() throws IOException {
    Path other = tmp.resolve("src2");
    Files.createDirectories(other);
    byte[] more = new byte[500_000];
    new Random(8).nextBytes(more);
    Files.write(other.resolve("more.bin"), more);
    ChunkId unreadable;
    ChunkId damaged;
    try (Repository repo = open()) {
      repo.push(other, "n", PushOptions.builder().build());
      damaged = looseChunks(repo).get(0);
      unreadable = repo.objects().snapshot(repo.resolve("n").version().snapshot()).files().get(0).chunks().get(0).id();
    }
    flip(fileOf(damaged), Files.size(fileOf(damaged)) / 2);
    Map<String, String> before = objectsTree();
    try (Backend local = Ferry.openBackend(storeDir.toString(), StoreOptions.existing());
        Repository repo = Repository.open(SwappedBackend.withChunks(local, new FailingReads(local.chunks(),
            unreadable)), OPTIONS)) {
      assertThatThrownBy(() -> repo.deleteDamaged(null, TransferListener.NONE)).isInstanceOf(IOException.class)
          .hasMessageContaining("injected I/O error").hasMessageContaining("nothing was deleted");
    }
    assertThat(objectsTree()).isEqualTo(before);
  }

  /** Runs {@code hook} once, when the push checks that what its version references exists. */
  private static final class HookBeforePublishCheck extends ForwardingChunkStore {
    private final ChunkId watched;
    volatile Runnable hook;

    HookBeforePublishCheck(ChunkStore inner, ChunkId watched) {
      super(inner);
      this.watched = watched;
    }

    @Override
    public List<ChunkId> missing(Collection<ChunkId> ids) throws IOException {
      Runnable h = hook;
      if (h != null && ids.contains(watched)) {
        hook = null;
        h.run();
      }
      return super.missing(ids);
    }
  }

  @Test
  void aPushThatReusedTheDamagedChunkWhileItWasDeletedStoresItAgain() throws IOException {
    ChunkId damaged;
    try (Repository repo = open()) {
      damaged = looseChunks(repo).get(0);
    }
    flip(fileOf(damaged), Files.size(fileOf(damaged)) / 2);
    Files.writeString(src.resolve("config.json"), "{\"hidden_size\": 65}"); // a new version, same weights
    try (Backend local = Ferry.openBackend(storeDir.toString(), StoreOptions.existing());
        Repository other = open()) {
      HookBeforePublishCheck chunks = new HookBeforePublishCheck(local.chunks(), damaged);
      // the push found the damaged chunk in the store and did not store it; before it publishes, the repair runs
      chunks.hook = () -> {
        try {
          assertThat(other.deleteDamaged(null, TransferListener.NONE).deleted()).extracting(DamagedObject::id)
              .containsExactly(damaged);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      };
      try (Repository pusher = Repository.open(SwappedBackend.withChunks(local, chunks), OPTIONS)) {
        assertThat(pusher.push(src, "m", PushOptions.builder().build()).upToDate()).isFalse();
      }
      assertThat(chunks.hook).as("the repair ran").isNull();
      assertThat(other.verify(null, TransferListener.NONE).errors()).isEmpty();
      other.gc(Duration.ZERO, false);
      assertThat(other.verify(null, TransferListener.NONE).errors()).isEmpty();
    }
  }

  /** Runs {@code hook} once, before the first delete. */
  private static final class HookBeforeDelete extends ForwardingChunkStore {
    volatile Runnable hook;

    HookBeforeDelete(ChunkStore inner) {
      super(inner);
    }

    @Override
    public void delete(ChunkId id) throws IOException {
      Runnable h = hook;
      if (h != null) {
        hook = null;
        h.run();
      }
      super.delete(id);
    }
  }

  @Test
  void aGcRunningWhileDamageIsDeletedLosesNothing() throws IOException {
    Path scratch = tmp.resolve("scratch");
    Files.createDirectories(scratch);
    byte[] garbage = new byte[400_000];
    new Random(9).nextBytes(garbage);
    Files.write(scratch.resolve("scratch.bin"), garbage);
    ChunkId damaged;
    try (Repository repo = open()) {
      repo.push(scratch, "scratch", PushOptions.builder().build());
      repo.removeModel("scratch", true);
      damaged = looseChunks(repo).get(0);
    }
    flip(fileOf(damaged), Files.size(fileOf(damaged)) / 2);
    try (Backend local = Ferry.openBackend(storeDir.toString(), StoreOptions.existing());
        Repository other = open()) {
      HookBeforeDelete chunks = new HookBeforeDelete(local.chunks());
      chunks.hook = () -> {
        try {
          assertThat(other.gc(Duration.ZERO, false).deadObjects()).as("the gc removed the scratch model").isPositive();
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      };
      try (Repository repairer = Repository.open(SwappedBackend.withChunks(local, chunks), OPTIONS)) {
        assertThat(repairer.deleteDamaged(null, TransferListener.NONE).deleted()).extracting(DamagedObject::id)
            .containsExactly(damaged);
      }
      assertThat(chunks.hook).as("the gc ran").isNull();
      assertThat(other.verify(null, TransferListener.NONE).errors()).singleElement().asString()
          .contains(damaged.hex()).contains("missing");
      other.push(src, "m", PushOptions.builder().build());
      assertThat(other.verify(null, TransferListener.NONE).errors()).isEmpty();
      Path out = tmp.resolve("out");
      other.pull("m", out, PullOptions.defaults());
      assertThat(Files.readAllBytes(out.resolve("weights.bin"))).isEqualTo(weights);
    }
  }

  /**
   * A push's backend that notes when the push looks for gc leases (before it checks that what it declared exists) and
   * when it makes that check for the watched object; {@code waitingOrChecked} opens at its second look (it found a
   * live gc lease and waits) or at the check, whichever comes first.
   */
  private static final class WatchedPush implements Backend {
    final Backend base;
    final ChunkId watched;
    final java.util.concurrent.atomic.AtomicInteger gcLooks = new java.util.concurrent.atomic.AtomicInteger();
    final java.util.concurrent.CountDownLatch waitingOrChecked = new java.util.concurrent.CountDownLatch(1);
    volatile boolean checked;

    WatchedPush(Backend base, ChunkId watched) {
      this.base = base;
      this.watched = watched;
    }

    @Override
    public ChunkStore chunks() {
      return new ForwardingChunkStore(base.chunks()) {
        @Override
        public List<ChunkId> missing(Collection<ChunkId> ids) throws IOException {
          if (ids.contains(watched)) {
            checked = true;
            waitingOrChecked.countDown();
          }
          return super.missing(ids);
        }
      };
    }

    @Override
    public io.ferry.store.RefStore refs() {
      return base.refs();
    }

    @Override
    public io.ferry.store.RecordStore records() {
      io.ferry.store.RecordStore r = base.records();
      return new io.ferry.store.ForwardingRecordStore(r) {
        @Override
        public boolean createOwn(String key, byte[] content) throws IOException {
          return r.createOwn(key, content);
        }

        @Override
        public List<String> list(String prefix) throws IOException {
          if (prefix.startsWith("leases/gc") && gcLooks.incrementAndGet() >= 2) {
            waitingOrChecked.countDown();
          }
          return r.list(prefix);
        }

        @Override
        public void close() {}
      };
    }

    @Override
    public String uri() {
      return base.uri();
    }

    @Override
    public void close() {}
  }

  @Test
  void aPushAboutToPublishWaitsWhileDamageIsDeletedThenStoresItAgain() throws Exception {
    ChunkId damaged;
    try (Repository repo = open()) {
      damaged = looseChunks(repo).get(0);
    }
    flip(fileOf(damaged), Files.size(fileOf(damaged)) / 2);
    Files.writeString(src.resolve("config.json"), "{\"hidden_size\": 65}"); // a new version, same weights
    java.util.concurrent.ExecutorService thread = java.util.concurrent.Executors.newSingleThreadExecutor();
    try (Backend forPush = Ferry.openBackend(storeDir.toString(), StoreOptions.existing());
        Backend forRepair = Ferry.openBackend(storeDir.toString(), StoreOptions.existing())) {
      WatchedPush watch = new WatchedPush(forPush, damaged);
      HookBeforeDelete chunks = new HookBeforeDelete(forRepair.chunks());
      java.util.concurrent.atomic.AtomicReference<java.util.concurrent.Future<Results.PushResult>> push =
          new java.util.concurrent.atomic.AtomicReference<>();
      boolean[] checkedDuringRepair = new boolean[1];
      try (Repository pusher = Repository.open(watch, OPTIONS);
          Repository repairer = Repository.open(SwappedBackend.withChunks(forRepair, chunks), OPTIONS)) {
        // the repair holds its gc lease and is about to delete the damaged chunk, which the push found in the store
        // and did not store: the push must wait for the repair before it checks that the chunk exists
        chunks.hook = () -> {
          push.set(thread.submit(() -> pusher.push(src, "m", PushOptions.builder().build())));
          try {
            assertThat(watch.waitingOrChecked.await(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
          } catch (InterruptedException e) {
            throw new IllegalStateException(e);
          }
          checkedDuringRepair[0] = watch.checked;
        };
        assertThat(repairer.deleteDamaged(null, TransferListener.NONE).deleted()).extracting(DamagedObject::id)
            .containsExactly(damaged);
        assertThat(push.get().get(60, java.util.concurrent.TimeUnit.SECONDS).upToDate()).isFalse();
        assertThat(checkedDuringRepair[0]).as("the push checked its objects while the repair held its lease")
            .isFalse();
      }
    } finally {
      thread.shutdownNow();
    }
    try (Repository repo = open()) {
      assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
      Path out = tmp.resolve("out");
      repo.pull("m", out, PullOptions.defaults());
      assertThat(Files.readAllBytes(out.resolve("weights.bin"))).isEqualTo(weights);
    }
  }

  @Test
  void aDamagedPackIsKeptUnlessAskedAndACopyThenRestoresIt() throws IOException {
    Path backup = tmp.resolve("backup");
    ChunkId pack;
    try (Repository repo = open();
        Repository copy = Ferry.open(backup.toString(), StoreOptions.createIfMissing(), OPTIONS)) {
      repo.copyTo("m", copy, false, TransferListener.NONE);
      pack = repo.resolve("m").version().packs().get(0);
      flip(fileOf(pack), 16 + 64 + 2); // the payload of the pack's first frame

      RepairReport kept = repo.deleteDamaged(null, TransferListener.NONE);
      assertThat(kept.deleted()).isEmpty();
      assertThat(kept.kept()).singleElement().satisfies(k -> {
        assertThat(k.id()).isEqualTo(pack);
        assertThat(k.kind()).isEqualTo("pack");
        assertThat(k.kept()).contains("--delete-damaged-packs");
        assertThat(k.defect()).as("where in the pack").startsWith("its frame of chunk ").contains("m@");
        assertThat(k.uses()).singleElement().asString().startsWith("m@");
      });
      assertThat(Files.exists(fileOf(pack))).isTrue();

      RepairReport r = repo.deleteDamaged(null, RepairOptions.WITH_PACKS, TransferListener.NONE);
      assertThat(r.deleted()).extracting(DamagedObject::id).containsExactly(pack);
      assertThat(r.restore()).anySatisfy(l -> assertThat(l).contains("pack comes back only by copy"));
      copy.copyTo("m", repo, false, TransferListener.NONE);
      assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
      Path out = tmp.resolve("out");
      repo.pull("m", out, PullOptions.defaults());
      assertThat(Files.readString(out.resolve("config.json"), StandardCharsets.UTF_8))
          .isEqualTo("{\"hidden_size\": 64}");
    }
  }
}
