package io.ferry.testkit.crash;

import static io.ferry.testkit.crash.CrashSupport.assertChainedLog;
import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two child JVMs move one tag 1,000 times each through {@link Repository#tag} (no expected value), each between its
 * own two versions so that every move changes the tag. No move may be lost: the tag's log holds all 2,000, chained,
 * and each process's moves appear in the order it made them. ({@code RefStoreContract} checks the same at the SPI
 * level; this covers the repository's read-resolve-CAS-retry loop on top.)
 */
class TagRaceTest {
  private static final String MODEL = "crash/tagged";
  private static final int MOVES = 1000;

  @TempDir Path scratch;

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void twoProcessesMovingOneTagLoseNoMove() throws Exception {
    Path store = scratch.resolve("store");
    List<ChunkId> versions = new ArrayList<>();
    try (Repository repo = Ferry.open(store.toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      for (int i = 0; i < 4; i++) {
        Path f = scratch.resolve("model-" + i).resolve("model.safetensors");
        java.nio.file.Files.createDirectories(f.getParent());
        ModelGenerator.writeSafetensors(f, List.of(new Tensor("w", DType.F32, new long[] {64, 64}, i)), Map.of());
        versions.add(repo.push(f.getParent(), MODEL, PushOptions.builder().message("v" + i).build()).versionId());
      }
    }
    Map<String, List<ChunkId>> targets = Map.of("p1", versions.subList(0, 2), "p2", versions.subList(2, 4));
    List<CrashSupport.Child> children = new ArrayList<>();
    for (String who : List.of("p1", "p2")) {
      List<String> args = new ArrayList<>(List.of("tag", store.toString(), MODEL, "prod", who,
          Integer.toString(MOVES)));
      targets.get(who).forEach(v -> args.add(v.hex()));
      children.add(CrashSupport.start(scratch, args.toArray(String[]::new)));
    }
    try {
      for (CrashSupport.Child c : children) {
        assertThat(c.await(200)).as("moves the child logged").contains("MOVED " + MOVES);
      }
    } finally {
      for (CrashSupport.Child c : children) {
        c.process().destroyForcibly();
      }
    }
    try (Repository repo = Ferry.open(store.toString(), StoreOptions.existing(), RepositoryOptions.defaults())) {
      String ref = RefNames.tag(MODEL, "prod");
      List<RefLogEntry> log = assertChainedLog(repo, ref, repo.resolve(MODEL + ":prod").id());
      assertThat(log).as("moves in the log of %s", ref).hasSize(2 * MOVES);
      Map<String, Integer> perProcess = new HashMap<>();
      for (RefLogEntry e : log) {
        int n = perProcess.getOrDefault(e.who(), 0);
        assertThat(e.newId()).as("move %d of %s", n, e.who()).isEqualTo(targets.get(e.who()).get(n % 2));
        perProcess.put(e.who(), n + 1);
      }
      assertThat(perProcess).isEqualTo(Map.of("p1", MOVES, "p2", MOVES));
    }
  }
}
