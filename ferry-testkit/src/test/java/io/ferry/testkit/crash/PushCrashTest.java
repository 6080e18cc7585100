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
import io.ferry.repo.Results.GcReport;
import io.ferry.repo.Results.ModelSummary;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.RefNames;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.TestRandom;
import java.nio.file.Path;
import java.time.Duration;
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
 * Invariant 1 under SIGKILL: a pushing child JVM is killed at 20 random moments (seeded); after each kill the store
 * verifies, every committed version pulls byte-identical, the head is the old head or the complete new version, every
 * ref's log is a chain, and gc with grace 0 removes every leftover (tmp files, unreferenced objects).
 */
class PushCrashTest {
  private static final String MODEL = "crash/llama";
  private static final String TAG = "candidate";
  private static final int KILLS = 20;

  @RegisterExtension final TestRandom random = new TestRandom();
  @TempDir Path scratch;

  private record Committed(ChunkId id, Map<String, String> files) {}

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void pushKilledAtRandomMomentsLeavesAValidStore() throws Exception {
    Random rnd = random.random();
    Path store = scratch.resolve("store");
    Path model = scratch.resolve("model");
    ModelGenerator.writeHfModel(model, ModelGenerator.transformer(48L << 20, DType.BF16, 7), 16L << 20);
    List<Committed> committed = new ArrayList<>();
    ChunkId stable;
    try (Repository repo = open(store, true)) {
      for (int i = 0; i < 2; i++) {
        stamp(model, -1 - i);
        String target = i == 1 ? MODEL + ":stable" : MODEL;
        ChunkId id = repo.push(model, target, PushOptions.builder().message("base " + i).build()).versionId();
        committed.add(new Committed(id, hashFiles(model)));
      }
      stable = committed.get(1).id();
    }

    // calibrate: one uninterrupted push in a child JVM
    stamp(model, 0);
    Map<String, String> calibrationFiles = hashFiles(model);
    CrashSupport.Child calibration = CrashSupport.start(scratch, "push", store.toString(), model.toString(),
        MODEL + ":" + TAG, "calibration");
    String out = calibration.await(120);
    long duration = calibration.elapsedMillis();
    ChunkId calibrated = ChunkId.parse(out.lines().filter(l -> l.startsWith("COMMITTED ")).findFirst()
        .orElseThrow().substring("COMMITTED ".length()));
    committed.add(new Committed(calibrated, calibrationFiles));
    System.out.printf("push crash test: seed %d, uninterrupted push in a child JVM takes %d ms%n", random.seed(),
        duration);

    int commits = 0;
    ChunkId candidate = calibrated;
    for (int i = 1; i <= KILLS; i++) {
      stamp(model, i);
      Map<String, String> files = hashFiles(model);
      long delay = switch (i) {
        case 1 -> 0;
        case 2 -> duration * 97 / 100;
        case 3 -> duration * 20; // lets this push finish: the "committed before the kill" path always runs
        default -> (long) (duration * (0.02 + 1.23 * rnd.nextDouble()));
      };
      ChunkId oldHead = committed.get(committed.size() - 1).id();
      CrashSupport.Child child = CrashSupport.start(scratch, "push", store.toString(), model.toString(),
          MODEL + ":" + TAG, "push " + i);
      long t0 = System.nanoTime();
      int exit = child.killAfter(delay);
      long t1 = System.nanoTime();
      String what = "after kill " + i + " at " + delay + " ms (exit " + exit + ")";
      assertThat(exit).as("child exit code %s; output:%n%s", what, child.output()).isIn(0, 137);
      if (exit == 0) {
        // a calibration slowed by a busy machine would put most kills after the commit: keep the fastest push seen
        duration = Math.min(duration, child.elapsedMillis());
      }
      try (Repository repo = open(store, false)) {
        ChunkId head = repo.resolve(MODEL).id();
        if (!head.equals(oldHead)) {
          VersionRef v = repo.resolve(MODEL + "@" + head.hex());
          assertThat(v.version().parents()).as("parents of the new head %s", what).containsExactly(oldHead);
          assertPullsIdentical(repo, MODEL + "@" + head.hex(), files, scratch);
          committed.add(new Committed(head, files));
          commits++;
        } else {
          assertThat(exit).as("a push that exited 0 moved the head %s", what).isEqualTo(137);
        }
        long t2 = System.nanoTime();
        ChunkId tag = repo.resolve(MODEL + ":" + TAG).id();
        // the tag moves after the head: a kill between the two moves leaves it where it was
        assertThat(tag).as("tag %s %s", TAG, what).isIn(candidate, head);
        if (exit == 0) {
          assertThat(tag).as("tag %s after a push that exited 0", TAG).isEqualTo(head);
        }
        candidate = tag;
        checkStore(repo, committed, stable, candidate, what, rnd);
        long t3 = System.nanoTime();
        GcReport gc = repo.gc(Duration.ZERO, false);
        assertThat(CrashSupport.tmpFiles(store)).as("tmp files left after gc %s", what).isEmpty();
        assertThat(repo.gc(Duration.ZERO, true).deadObjects()).as("dead objects after gc %s", what).isZero();
        assertThat(CrashSupport.objectBytes(store)).as("object bytes after gc %s (gc removed %d objects)", what,
            gc.deadObjects()).isEqualTo(expectedObjectBytes(repo, committed));
        long t4 = System.nanoTime();
        assertVerifies(repo, "after gc " + what);
        System.out.printf("kill %d: child %d ms, head %d ms, check %d ms, gc %d ms, verify %d ms%n", i,
            (t1 - t0) / 1000000, (t2 - t1) / 1000000, (t3 - t2) / 1000000, (t4 - t3) / 1000000,
            (System.nanoTime() - t4) / 1000000);
      }
    }
    System.out.printf("push crash test: %d of %d killed pushes had committed%n", commits, KILLS);
    try (Repository repo = open(store, false)) {
      for (Committed c : committed) {
        assertPullsIdentical(repo, MODEL + "@" + c.id().hex(), c.files(), scratch);
      }
    }
  }

  /** Checks everything a reader can see: verify, log, refs and their logs, and pulls of two committed versions. */
  private void checkStore(Repository repo, List<Committed> committed, ChunkId stable, ChunkId candidate, String what,
      Random rnd) throws Exception {
    assertVerifies(repo, what);
    List<ChunkId> expectedLog = new ArrayList<>();
    for (Committed c : committed) {
      expectedLog.add(0, c.id());
    }
    assertThat(repo.log(MODEL, Integer.MAX_VALUE).stream().map(VersionRef::id).toList()).as("log %s", what)
        .isEqualTo(expectedLog);
    List<ModelSummary> models = repo.models();
    assertThat(models).as("models %s", what).hasSize(1);
    ModelSummary m = models.get(0);
    assertThat(m.head()).isEqualTo(expectedLog.get(0));
    assertThat(m.tags()).as("tags %s", what).containsOnlyKeys("stable", TAG);
    assertThat(m.tags().get("stable")).isEqualTo(stable);
    assertThat(m.tags().get(TAG)).isEqualTo(candidate);
    for (Map.Entry<String, ChunkId> e : Map.of(RefNames.head(MODEL), m.head(), RefNames.tag(MODEL, "stable"), stable,
        RefNames.tag(MODEL, TAG), candidate).entrySet()) {
      assertChainedLog(repo, e.getKey(), e.getValue());
    }
    for (String tag : m.tags().keySet()) {
      assertThat(repo.resolve(MODEL + ":" + tag).id()).isEqualTo(m.tags().get(tag));
    }
    Committed old = committed.get(rnd.nextInt(committed.size()));
    assertPullsIdentical(repo, MODEL + "@" + old.id().hex(), old.files(), scratch);
  }

  /**
   * What the objects of the committed versions weigh: each push's new stored bytes plus its version object, plus the
   * small-chunk index's bases that gc keeps (objects of the store, not of a version).
   */
  private static long expectedObjectBytes(Repository repo, List<Committed> committed) throws Exception {
    long sum = 0;
    for (ChunkId base : repo.smallChunks().baseObjects()) {
      if (repo.backend().chunks().contains(base)) {
        sum += repo.backend().chunks().size(base);
      }
    }
    for (Committed c : committed) {
      VersionRef v = repo.resolve(MODEL + "@" + c.id().hex());
      sum += v.version().stats().newStoredBytes() + repo.backend().chunks().size(c.id());
    }
    return sum;
  }

  private static Repository open(Path store, boolean create) throws Exception {
    return Ferry.open(store.toString(), create ? StoreOptions.createIfMissing() : StoreOptions.existing(),
        RepositoryOptions.defaults());
  }
}
