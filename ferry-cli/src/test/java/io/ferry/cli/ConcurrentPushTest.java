package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.PushResult;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.RefLogEntry;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.TestRandom;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Pushes from several threads of one repository at once. */
class ConcurrentPushTest {
  @RegisterExtension final TestRandom random = new TestRandom();

  @TempDir Path tmp;

  private Path model(String name, long seed) throws Exception {
    Path dir = tmp.resolve(name);
    ModelGenerator.writeHfModel(dir, ModelGenerator.transformer(2 << 20, DType.BF16, seed), 1 << 20);
    Files2.write(dir.resolve("id.txt"), name.getBytes());
    return dir;
  }

  private List<PushResult> pushTogether(Repository repo, Path[] sources, String[] targets) throws Exception {
    CyclicBarrier start = new CyclicBarrier(sources.length);
    ExecutorService ex = Executors.newFixedThreadPool(sources.length);
    try {
      List<Future<PushResult>> fs = new ArrayList<>();
      for (int i = 0; i < sources.length; i++) {
        Path s = sources[i];
        String t = targets[i];
        fs.add(ex.submit(() -> {
          start.await(30, TimeUnit.SECONDS);
          return repo.push(s, t, PushOptions.builder().message("from " + s.getFileName()).build());
        }));
      }
      List<PushResult> out = new ArrayList<>();
      for (Future<PushResult> f : fs) {
        out.add(f.get(120, TimeUnit.SECONDS));
      }
      return out;
    } finally {
      ex.shutdownNow();
    }
  }

  @RepeatedTest(3)
  void differentModels() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path a = model("a", random.seed());
    Path b = model("b", random.seed() + 1);
    try (Repository repo = Ferry.open(cli.store.toString())) {
      List<PushResult> r = pushTogether(repo, new Path[] {a, b}, new String[] {"ma", "mb"});
      assertThat(repo.resolve("ma").id()).isEqualTo(r.get(0).versionId());
      assertThat(repo.resolve("mb").id()).isEqualTo(r.get(1).versionId());
    }
    cli.run("verify").ok();
    cli.run("pull", "ma", tmp.resolve("oa").toString()).ok();
    cli.run("pull", "mb", tmp.resolve("ob").toString()).ok();
    Cli.assertSameTree(a, tmp.resolve("oa"));
    Cli.assertSameTree(b, tmp.resolve("ob"));
  }

  @RepeatedTest(3)
  void sameModel() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path base = model("base", random.seed());
    cli.push(base, "m");
    Path a = model("a", random.seed() + 1);
    Path b = model("b", random.seed() + 2);
    try (Repository repo = Ferry.open(cli.store.toString())) {
      ChunkId v0 = repo.resolve("m").id();
      List<PushResult> r = pushTogether(repo, new Path[] {a, b}, new String[] {"m", "m"});
      ChunkId va = r.get(0).versionId();
      ChunkId vb = r.get(1).versionId();
      assertThat(r).noneMatch(PushResult::upToDate);
      assertThat(va).isNotEqualTo(vb);
      // linear history: head -> the other -> v0
      List<VersionRef> log = repo.log("m", 10);
      assertThat(log).hasSize(3);
      assertThat(log.get(2).id()).isEqualTo(v0);
      Set<ChunkId> top = new HashSet<>(List.of(log.get(0).id(), log.get(1).id()));
      assertThat(top).containsExactlyInAnyOrder(va, vb);
      for (VersionRef v : log) {
        assertThat(v.version().parents()).hasSizeLessThanOrEqualTo(1);
      }
      assertThat(log.get(0).version().seq()).isEqualTo(3);
      Set<ChunkId> moved = new HashSet<>();
      for (RefLogEntry e : repo.refLog("m/head")) {
        moved.add(e.newId());
      }
      assertThat(moved).contains(v0, va, vb);
    }
    cli.run("verify").ok();
  }
}
