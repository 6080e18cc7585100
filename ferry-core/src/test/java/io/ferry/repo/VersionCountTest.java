package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.repo.Results.ModelSummary;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.Backend;
import io.ferry.store.StoreLayers;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The version counts of {@link Repository#models} follow log's rule as the heads move, kept per version or not. */
class VersionCountTest {
  @TempDir Path tmp;

  @Test
  void countsFollowTheHeadThroughPushesAndRollbacks() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    try (Repository repo = open()) {
      for (int i = 1; i <= 3; i++) {
        Files.writeString(src.resolve("weights.bin"), "version " + i);
        repo.push(src, "m", PushOptions.builder().build());
        assertThat(versions(repo, "m")).as("after push %d", i).isEqualTo(i);
      }
      Files.writeString(src.resolve("weights.bin"), "another model");
      repo.push(src, "n", PushOptions.builder().build());
      assertThat(versions(repo, "n")).isEqualTo(1);
      repo.rollback("m");
      assertThat(versions(repo, "m")).as("after a rollback").isEqualTo(2);
      Files.writeString(src.resolve("weights.bin"), "version 4");
      repo.push(src, "m", PushOptions.builder().build());
      assertThat(versions(repo, "m")).as("a push after the rollback").isEqualTo(3);
      assertThat(repo.log("m", 100)).hasSize(3);
    }
    try (Repository fresh = open()) {
      assertThat(versions(fresh, "m")).as("counted afresh").isEqualTo(3);
      assertThat(versions(fresh, "n")).isEqualTo(1);
    }
  }

  @Test
  void aNewProcessCountsAModelOfManyVersionsByReadingItsHeadOnly() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    int n = 60;
    try (Repository repo = open()) {
      for (int i = 1; i <= n; i++) {
        Files.writeString(src.resolve("weights.bin"), "version " + i);
        repo.push(src, "m", PushOptions.builder().build());
      }
    }
    Backend base = Ferry.openBackend(tmp.resolve("store").toString(), StoreOptions.existing());
    CountingChunkStore counting = new CountingChunkStore(base.chunks());
    try (Repository fresh = Repository.open(StoreLayers.layered(base, counting), RepositoryOptions.defaults())) {
      int before = counting.reads.get();
      assertThat(versions(fresh, "m")).isEqualTo(n);
      assertThat(counting.reads.get() - before).as("objects read to count %d versions", n).isLessThanOrEqualTo(2);
      assertThat(fresh.log("m", 1000)).hasSize(n);
    }
  }

  @Test
  void theRecordedCountFollowsLogAcrossModelsDerivationsAndRenames() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    try (Repository repo = open()) {
      for (int i = 1; i <= 3; i++) {
        Files.writeString(src.resolve("weights.bin"), "base " + i);
        repo.push(src, "base", PushOptions.builder().build());
      }
      Files.writeString(src.resolve("weights.bin"), "derived");
      repo.push(src, "ft", PushOptions.builder().derivedFrom("base").build());
      Files.writeString(src.resolve("weights.bin"), "derived again");
      repo.push(src, "base", PushOptions.builder().derivedFrom("base").build());
      repo.renameModel("base", "renamed");
      Files.writeString(src.resolve("weights.bin"), "after the rename");
      repo.push(src, "renamed", PushOptions.builder().build());
      for (String model : new String[] {"ft", "base", "renamed"}) {
        if (repo.models().stream().noneMatch(s -> s.model().equals(model))) {
          continue;
        }
        VersionRef head = repo.resolve(model);
        assertThat(head.version().logLength()).as("recorded for %s", model).isEqualTo(repo.log(model, 100).size());
        assertThat(versions(repo, model)).as("ls of %s", model).isEqualTo(repo.log(model, 100).size());
      }
      assertThat(repo.resolve("ft").version().logLength()).isEqualTo(1);
      assertThat(repo.log("renamed", 100)).as("the push after the rename continues the history").hasSize(5);
    }
  }

  private Repository open() throws IOException {
    return Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
  }

  private static long versions(Repository repo, String model) throws IOException {
    return repo.models().stream().filter(s -> s.model().equals(model)).findFirst().map(ModelSummary::versions)
        .orElseThrow();
  }
}
