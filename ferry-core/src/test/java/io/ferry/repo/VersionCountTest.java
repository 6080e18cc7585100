package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.repo.Results.ModelSummary;
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

  private Repository open() throws IOException {
    return Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
  }

  private static long versions(Repository repo, String model) throws IOException {
    return repo.models().stream().filter(s -> s.model().equals(model)).findFirst().map(ModelSummary::versions)
        .orElseThrow();
  }
}
