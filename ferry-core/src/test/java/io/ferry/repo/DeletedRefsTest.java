package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.NotFoundException;
import io.ferry.id.ChunkId;
import io.ferry.lease.MovableClock;
import io.ferry.store.Backend;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.TransferListener;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What deleted refs keep: a removed model or a deleted tag leaves its log, and gc keeps what the log's recent entries
 * name for the grace period (as for refs that still exist), where a version stays readable by the short id its
 * reflog prints; once gc removed it, neither a lookup nor a rollback treats it as a version.
 */
class DeletedRefsTest {
  @TempDir Path tmp;

  private final MovableClock clock = new MovableClock(Instant.parse("2030-01-01T00:00:00Z"));

  private Repository open() throws IOException {
    return Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing().withClock(clock),
        RepositoryOptions.defaults().withClock(clock));
  }

  private Path source(String name, String content) throws IOException {
    Path dir = Files.createDirectories(tmp.resolve(name));
    Files.writeString(dir.resolve("config.json"), content);
    return dir;
  }

  private ChunkId push(Repository repo, String content, String target) throws IOException {
    return repo.push(source("src-" + content.hashCode(), content), target, PushOptions.builder().build()).versionId();
  }

  @Test
  void gcKeepsWhatARemovedModelPointedAtForTheGracePeriod() throws IOException {
    try (Repository repo = open()) {
      ChunkId v = push(repo, "{\"a\": 1}", "scratch");
      push(repo, "{\"b\": 2}", "other");
      clock.advance(Duration.ofHours(2)); // the objects are older than the grace period now
      repo.removeModel("scratch", false);
      String shortId = "scratch@" + v.shortHex(12);

      assertThatThrownBy(() -> repo.resolve("scratch")).isInstanceOf(NotFoundException.class)
          .hasMessageContaining("no model 'scratch'").hasMessageContaining("its refs were deleted (ferry reflog scratch")
          .hasMessageContaining("scratch@ID");
      repo.gc(Duration.ofHours(1), false);
      assertThat(repo.resolve(shortId).id()).as("rm was a minute ago: its log entry keeps the version").isEqualTo(v);
      assertThat(repo.verify(shortId, TransferListener.NONE).errors()).isEmpty();

      clock.advance(Duration.ofHours(2));
      repo.gc(Duration.ofHours(1), false);
      assertThatThrownBy(() -> repo.resolve(shortId)).isInstanceOf(NotFoundException.class)
          .hasMessageContaining("no version " + v.shortHex(12) + " any more").hasMessageContaining("which gc removed");
      assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
      assertThat(repo.resolve("other").version().model()).isEqualTo("other");
    }
  }

  @Test
  void rollbackToAVersionGcRemovedIsRefusedAndChangesNothing() throws IOException {
    try (Repository repo = open()) {
      ChunkId v1 = push(repo, "{\"v\": 1}", "m");
      ChunkId v2 = push(repo, "{\"v\": 2}", "m");
      repo.tag("m", "prod", null);
      repo.tag("m@" + v1.hex(), "prod", null);
      repo.removeVersion("m@" + v2.hex(), false); // the head goes back to v1: nothing keeps v2 but old log entries
      clock.advance(Duration.ofHours(2));
      repo.gc(Duration.ofHours(1), false);
      String prodRef = RefNames.tag("m", "prod");
      int entries = repo.refLog(prodRef).size();

      assertThatThrownBy(() -> repo.rollback("m:prod")).isInstanceOf(NotFoundException.class)
          .hasMessageContaining("m:prod cannot roll back to " + v2.shortHex(12))
          .hasMessageContaining("gc removed it").hasMessageContaining("nothing changed");
      assertThat(repo.backend().refs().get(prodRef)).isEqualTo(Optional.of(v1));
      assertThat(repo.refLog(prodRef)).hasSize(entries);
      assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
      repo.gc(Duration.ZERO, false); // no ref points at a missing version, so gc still runs
    }
  }

  /** Pushes two versions of m and removes the second, which only the head's log names then; older than 1 hour. */
  private ChunkId removedSecondVersion() throws IOException {
    try (Repository repo = open()) {
      push(repo, "{\"v\": 1}", "m");
      ChunkId v2 = push(repo, "{\"v\": 2}", "m");
      repo.removeVersion("m@" + v2.hex(), false);
      clock.advance(Duration.ofHours(2));
      return v2;
    }
  }

  /** {@code local}'s refs, with a gc of grace 1 hour (by another repository) run right before the first move of ref. */
  private GcBeforeMove gcBeforeMove(Backend local, String ref) throws IOException {
    GcBeforeMove refs = new GcBeforeMove(local.refs(), ref);
    Repository other = Repository.open(local, RepositoryOptions.defaults().withClock(clock));
    refs.gc = () -> {
      try {
        other.gc(Duration.ofHours(1), false); // the removed version's log entry is older than the grace period
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    };
    return refs;
  }

  /** The local store's refs, with a gc run right before the first move of one ref, as a concurrent process would. */
  private static final class GcBeforeMove extends ForwardingRefStore {
    private final String ref;
    volatile Runnable gc;

    GcBeforeMove(RefStore d, String ref) {
      super(d);
      this.ref = ref;
    }

    @Override
    public CasResult compareAndSet(String name, ChunkId expected, ChunkId next, RefLogEntry entry)
        throws IOException {
      Runnable once = gc;
      if (name.equals(ref) && once != null) {
        gc = null;
        once.run();
      }
      return d.compareAndSet(name, expected, next, entry);
    }
  }

  /**
   * A tag of a version only a ref log names (a removed version) while a gc that marked before the tag deletes after
   * it: the tag must not end up pointing at a version gc removed. Seen with real processes: 4 of 4 tags exited 0,
   * and then verify said the store was corrupt and every later gc refused to run.
   */
  @Test
  void aTagOfARemovedVersionRacingGcNeverPointsAtNothing() throws IOException {
    ChunkId v2 = removedSecondVersion();
    try (Backend local = io.ferry.Ferry.openBackend(tmp.resolve("store").toString(),
        StoreOptions.existing().withClock(clock))) {
      GcBeforeMove refs = gcBeforeMove(local, RefNames.tag("m", "t"));
      try (Repository repo = Repository.open(SwappedBackend.withRefs(local, refs), RepositoryOptions.defaults().withClock(clock))) {
        repo.tag("m@" + v2.shortHex(12), "t", null);
        assertThat(refs.gc).as("the gc ran").isNull();
        assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
        assertThat(repo.resolve("m:t").id()).isEqualTo(v2);
        repo.gc(Duration.ZERO, false); // no ref points at a missing version, so gc still runs
        assertThat(repo.verify("m:t", TransferListener.NONE).errors()).isEmpty();
      }
    }
  }

  /**
   * A push {@code --derived-from} a removed version (one only a ref log names) while a gc that marked before the push
   * deletes after it: the new version's parent must not lose its snapshot and packs.
   */
  @Test
  void aPushDerivedFromARemovedVersionRacingGcKeepsItsParentWhole() throws IOException {
    ChunkId v2 = removedSecondVersion();
    try (Backend local = io.ferry.Ferry.openBackend(tmp.resolve("store").toString(),
        StoreOptions.existing().withClock(clock))) {
      GcBeforeMove refs = gcBeforeMove(local, RefNames.head("d"));
      try (Repository repo = Repository.open(SwappedBackend.withRefs(local, refs),
          RepositoryOptions.defaults().withClock(clock))) {
        ChunkId d = repo.push(source("derived", "{\"d\": 1}"), "d",
            PushOptions.builder().derivedFrom("m@" + v2.shortHex(12)).build()).versionId();
        assertThat(refs.gc).as("the gc ran").isNull();
        assertThat(repo.resolve("d").version().parents()).containsExactly(v2);
        assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
        assertThat(repo.resolve("d").id()).isEqualTo(d);
        repo.gc(Duration.ZERO, false);
        assertThat(repo.verify("d", TransferListener.NONE).errors()).isEmpty();
      }
    }
  }

  private void deleteObject(ChunkId id) throws IOException {
    Files.delete(tmp.resolve("store").resolve("objects").resolve(id.hex().substring(0, 2))
        .resolve(id.hex().substring(2)));
  }

  /**
   * A gc interrupted (or still running) while it removes a removed model's version leaves part of it: reading that
   * version says it is gone, as once gc removed all of it, not that the store is damaged; a version a ref reaches
   * with an object missing is still damage.
   */
  @Test
  void aVersionGcRemovedPartOfIsGoneNotDamaged() throws IOException {
    ChunkId v;
    ChunkId live;
    try (Repository repo = open()) {
      v = push(repo, "{\"a\": 1}", "scratch");
      live = push(repo, "{\"b\": 2}", "other");
      repo.removeModel("scratch", false);
    }
    String ref = "scratch@" + v.shortHex(12);
    try (Repository repo = open()) {
      deleteObject(repo.resolve(ref).version().packs().get(0));
      assertThatThrownBy(() -> repo.readFile(ref + "//config.json")).isInstanceOf(NotFoundException.class)
          .hasMessageContaining("no ref reaches it");
      assertThatThrownBy(() -> repo.pull(ref, tmp.resolve("out"), io.ferry.transfer.PullOptions.defaults()))
          .isInstanceOf(NotFoundException.class).hasMessageContaining("no ref reaches it");
      assertThat(tmp.resolve("out")).doesNotExist();
      deleteObject(repo.resolve(ref).version().snapshot());
    }
    try (Repository repo = open()) {
      assertThatThrownBy(() -> repo.snapshot(repo.resolve(ref))).isInstanceOf(NotFoundException.class)
          .hasMessageStartingWith(ref + " is no longer in ");
      assertThatThrownBy(() -> repo.diff("other", ref)).isInstanceOf(NotFoundException.class)
          .hasMessageContaining("no ref reaches it");
      deleteObject(repo.resolve("other").version().packs().get(0));
      assertThatThrownBy(() -> repo.readFile("other//config.json"))
          .isInstanceOf(io.ferry.error.MissingObjectException.class);
      assertThat(repo.resolve("other").id()).isEqualTo(live);
    }
  }

  /**
   * readFile of a version gc removed a chunk object of (not a pack: one found missing while reading, not on opening)
   * said the store was damaged (MissingObjectException); it says the version is gone, as read, cat and pull do.
   */
  @Test
  void readFileOfAVersionGcRemovedAChunkOfSaysItIsGone() throws IOException {
    ChunkId v;
    String big = "\"" + "x".repeat(300_000) + "\"";
    try (Repository repo = open()) {
      v = push(repo, big, "scratch");
      repo.removeModel("scratch", false);
    }
    String ref = "scratch@" + v.shortHex(12);
    try (Repository repo = open()) {
      io.ferry.version.FileEntry file = repo.snapshot(repo.resolve(ref)).files().get(0);
      assertThat(file.chunks()).hasSize(1);
      assertThat(file.chunks().get(0).length()).isGreaterThanOrEqualTo(io.ferry.objects.ObjectDatabase.PACK_THRESHOLD);
      deleteObject(file.chunks().get(0).id());
      assertThatThrownBy(() -> repo.readFile(ref + "//config.json")).isInstanceOf(NotFoundException.class)
          .hasMessageStartingWith(ref + " is no longer in ").hasMessageContaining("no ref reaches it");
    }
  }

  /**
   * verify of a version gc removed part of said it was damaged (a report with errors, which the CLI printed as
   * CORRUPT with advice to push it again or copy it back); it says the version is gone, as reading it does. A version
   * a ref reaches with an object missing is still reported damaged.
   */
  @Test
  void verifyOfAVersionGcRemovedPartOfSaysItIsGone() throws IOException {
    ChunkId v;
    try (Repository repo = open()) {
      v = push(repo, "{\"a\": 1}", "scratch");
      push(repo, "{\"b\": 2}", "other");
      repo.removeModel("scratch", false);
    }
    String ref = "scratch@" + v.shortHex(12);
    try (Repository repo = open()) {
      deleteObject(repo.resolve(ref).version().packs().get(0));
      assertThatThrownBy(() -> repo.verify(ref, TransferListener.NONE)).isInstanceOf(NotFoundException.class)
          .hasMessageStartingWith(ref + " is no longer in ").hasMessageContaining("no ref reaches it");
      assertThatThrownBy(() -> repo.deleteDamaged(ref, TransferListener.NONE)).isInstanceOf(NotFoundException.class)
          .hasMessageContaining("no ref reaches it");
      deleteObject(repo.resolve(ref).version().snapshot());
      assertThatThrownBy(() -> repo.verify(ref, TransferListener.NONE)).isInstanceOf(NotFoundException.class)
          .hasMessageContaining("no ref reaches it");
      deleteObject(repo.resolve("other").version().packs().get(0));
      Results.VerifyReport damaged = repo.verify("other", TransferListener.NONE);
      assertThat(damaged.ok()).isFalse();
      assertThat(damaged.damagedVersions()).hasSize(1);
      assertThat(repo.deleteDamaged("other", TransferListener.NONE).verify().ok()).isFalse();
    }
  }

  /** The same when what gc removed is a chunk of a file, met only while the file is read. */
  @Test
  void aFileWhoseChunkGcRemovedIsGoneNotDamaged() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("big"));
    byte[] data = new byte[400 * 1024];
    new java.util.Random(7).nextBytes(data);
    Files.write(src.resolve("weights.bin.dat"), data);
    ChunkId v;
    try (Repository repo = open()) {
      v = repo.push(src, "scratch", PushOptions.builder().build()).versionId();
      repo.removeModel("scratch", false);
      ChunkId chunk = repo.snapshot(repo.resolve("scratch@" + v.shortHex(12))).files().get(0).chunks().get(0).id();
      deleteObject(chunk);
    }
    String ref = "scratch@" + v.shortHex(12);
    try (Repository repo = open()) {
      assertThatThrownBy(() -> repo.cat(ref + "//weights.bin.dat", java.nio.channels.Channels.newChannel(
          java.io.OutputStream.nullOutputStream()))).isInstanceOf(NotFoundException.class)
          .hasMessageContaining("no ref reaches it");
      assertThatThrownBy(() -> repo.pull(ref, tmp.resolve("out"), io.ferry.transfer.PullOptions.defaults()))
          .isInstanceOf(NotFoundException.class).hasMessageContaining("no ref reaches it");
      assertThat(tmp.resolve("out")).doesNotExist();
      assertThatThrownBy(() -> repo.verify(ref, TransferListener.NONE)).isInstanceOf(NotFoundException.class)
          .hasMessageContaining("no ref reaches it");
    }
  }

  @Test
  void anObjectExactlyAsOldAsTheGracePeriodIsCountedByDryRunAsGcTreatsIt() throws IOException {
    try (Repository repo = open()) {
      push(repo, "{\"a\": 1}", "m");
      byte[] content = {1, 2, 3};
      ChunkId stray = ChunkId.of(content);
      repo.backend().chunks().put(stray, java.nio.ByteBuffer.wrap(content));
      clock.advance(Duration.ofHours(1)); // the stray object's age is now exactly the grace period

      Results.GcReport dry = repo.gc(Duration.ofHours(1), true);
      Results.GcReport real = repo.gc(Duration.ofHours(1), false);
      assertThat(repo.backend().chunks().contains(stray)).as("gc keeps an object of exactly the grace's age").isTrue();
      assertThat(dry.deadObjects()).as("what --dry-run would remove").isEqualTo(real.deadObjects()).isZero();
      assertThat(dry.keptYoung()).isEqualTo(real.keptYoung());
    }
  }

  /**
   * A gc with no grace, killed while it removed a removed model, leaves part of its versions; a gc with the default
   * grace then met a version that the rm's recent log entry names without its parent or its snapshot, and failed on
   * the missing object until that entry was older than its grace. It keeps what is left, and removes it later.
   */
  @Test
  void aGcAfterAKilledGcLeftPartOfARemovedVersionKeepsWhatIsLeftAndRemovesItLater() throws IOException {
    try (Repository repo = open()) {
      ChunkId v1 = push(repo, "{\"v\": 1}", "scratch");
      ChunkId v2 = push(repo, "{\"v\": 2}", "scratch");
      push(repo, "{\"b\": 2}", "other");
      clock.advance(Duration.ofHours(2));
      repo.removeModel("scratch", false);
      ChunkId snapshot = repo.resolve("scratch@" + v2.shortHex(12)).version().snapshot();
      // what the killed gc removed: the first version, and the second's snapshot
      repo.backend().chunks().delete(v1);
      repo.backend().chunks().delete(snapshot);

      repo.gc(Duration.ofHours(1), false);
      assertThat(repo.backend().chunks().contains(v2)).as("the rm was a minute ago: its log entry keeps it").isTrue();
      assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();

      clock.advance(Duration.ofHours(2));
      assertThat(repo.gc(Duration.ofHours(1), false).deadObjects()).isPositive();
      assertThat(repo.backend().chunks().contains(v2)).isFalse();
      assertThat(repo.gc(Duration.ZERO, true).deadObjects()).isZero();
      assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
    }
  }
}
