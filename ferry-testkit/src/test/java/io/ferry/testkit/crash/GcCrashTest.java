package io.ferry.testkit.crash;

import static io.ferry.testkit.crash.CrashSupport.assertChainedLog;
import static io.ferry.testkit.crash.CrashSupport.assertPullsIdentical;
import static io.ferry.testkit.crash.CrashSupport.assertVerifies;
import static io.ferry.testkit.crash.CrashSupport.hashFiles;
import static io.ferry.testkit.crash.CrashSupport.stamp;
import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.TestRandom;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A gc child JVM (grace 0) killed with SIGKILL at 10 random moments (seeded), each time over fresh garbage: the
 * versions of a model whose refs were deleted, unreferenced objects and files left in {@code tmp/}. After each kill
 * the store verifies and every committed version pulls byte-identical; a last, uninterrupted gc leaves no garbage.
 */
class GcCrashTest {
  private static final String KEEP = "crash/keep";
  private static final String SCRATCH = "crash/scratch";
  private static final int KILLS = 10;
  private static final int LOOSE_GARBAGE = 400;

  @RegisterExtension final TestRandom random = new TestRandom();
  @TempDir Path scratch;

  private record Committed(ChunkId id, Map<String, String> files) {}

  @Test
  @Timeout(value = 180, unit = TimeUnit.SECONDS)
  void gcKilledAtRandomMomentsLeavesAValidStore() throws Exception {
    Random rnd = random.random();
    Path store = scratch.resolve("store");
    Path model = scratch.resolve("model");
    ModelGenerator.writeHfModel(model, ModelGenerator.transformer(16L << 20, DType.BF16, 11), 8L << 20);
    List<Committed> committed = new ArrayList<>();
    try (Repository repo = open(store, true)) {
      for (int i = 0; i < 3; i++) {
        stamp(model, -1 - i);
        ChunkId id = repo.push(model, KEEP + (i == 1 ? ":stable" : ""), PushOptions.builder().message("keep " + i)
            .build()).versionId();
        committed.add(new Committed(id, hashFiles(model)));
      }
    }
    long stamp = 0;

    makeGarbage(store, model, rnd, stamp++);
    CrashSupport.Child calibration = CrashSupport.start(scratch, "gc", store.toString());
    String out = calibration.await(120);
    long duration = calibration.elapsedMillis();
    System.out.printf("gc crash test: seed %d, uninterrupted gc in a child JVM takes %d ms (%s)%n", random.seed(),
        duration, out.strip());
    check(store, committed, "after the calibration gc");

    for (int i = 1; i <= KILLS; i++) {
      makeGarbage(store, model, rnd, stamp++);
      long delay = switch (i) {
        case 1 -> 0;
        case 2 -> duration * 95 / 100;
        default -> (long) (duration * 1.1 * rnd.nextDouble());
      };
      CrashSupport.Child child = CrashSupport.start(scratch, "gc", store.toString());
      int exit = child.killAfter(delay);
      String what = "after kill " + i + " at " + delay + " ms (exit " + exit + ")";
      assertThat(exit).as("child exit code %s; output:%n%s", what, child.output()).isIn(0, 137);
      check(store, committed, what);
    }

    try (Repository repo = open(store, false)) {
      repo.gc(Duration.ZERO, false);
      assertThat(repo.gc(Duration.ZERO, true).deadObjects()).as("dead objects after a full gc").isZero();
      assertThat(CrashSupport.tmpFiles(store)).as("tmp files after a full gc").isEmpty();
    }
    check(store, committed, "after a full gc");
  }

  /**
   * Pushes two versions of a scratch model and deletes its refs, adds loose unreferenced objects and leftover temp
   * files; all of it older than "now" by the time gc starts.
   */
  private void makeGarbage(Path store, Path model, Random rnd, long stamp) throws Exception {
    try (Repository repo = open(store, false)) {
      for (int i = 0; i < 2; i++) {
        stamp(model, 1_000_000 + stamp * 10 + i);
        repo.push(model, SCRATCH + ":t", PushOptions.builder().message("scratch").build());
      }
      for (String ref : List.of(RefNames.head(SCRATCH), RefNames.tag(SCRATCH, "t"))) {
        ChunkId cur = repo.resolve(SCRATCH + (ref.endsWith("/head") ? "" : ":t")).id();
        CasResult r = repo.backend().refs().compareAndSet(ref, cur, null,
            new RefLogEntry(cur, null, "crash-test", Instant.now(), "delete"));
        assertThat(r).isEqualTo(CasResult.DELETED);
      }
    }
    byte[] content = new byte[512];
    for (int i = 0; i < LOOSE_GARBAGE; i++) {
      rnd.nextBytes(content);
      String hex = ChunkId.of(content).hex();
      Path f = store.resolve("objects").resolve(hex.substring(0, 2)).resolve(hex.substring(2));
      Files.createDirectories(f.getParent());
      Files.write(f, content);
    }
    for (int i = 0; i < 3; i++) {
      Path t = store.resolve("tmp").resolve("0123456789abcdef-" + Integer.toHexString(i) + ".tmp"); // a killed put's
      Files.write(t, content);
      Files.setLastModifiedTime(t, FileTime.from(Instant.now().minusSeconds(60)));
    }
  }

  private void check(Path store, List<Committed> committed, String what) throws Exception {
    try (Repository repo = open(store, false)) {
      assertVerifies(repo, what);
      List<ChunkId> expectedLog = new ArrayList<>();
      for (Committed c : committed) {
        expectedLog.add(0, c.id());
      }
      assertThat(repo.log(KEEP, Integer.MAX_VALUE).stream().map(VersionRef::id).toList()).as("log %s", what)
          .isEqualTo(expectedLog);
      assertChainedLog(repo, RefNames.head(KEEP), expectedLog.get(0));
      assertChainedLog(repo, RefNames.tag(KEEP, "stable"), committed.get(1).id());
      assertThat(repo.models()).as("models %s", what).hasSize(1);
      for (Committed c : committed) {
        assertPullsIdentical(repo, KEEP + "@" + c.id().hex(), c.files(), scratch);
      }
    }
  }

  private static Repository open(Path store, boolean create) throws Exception {
    return Ferry.open(store.toString(), create ? StoreOptions.createIfMissing() : StoreOptions.existing(),
        RepositoryOptions.defaults());
  }
}
