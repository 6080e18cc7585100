package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.error.NotFoundException;
import io.ferry.id.ChunkId;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code REF~N}: the version N steps back along the history {@code ferry log REF} lists, wherever a version is read
 * (resolve, show, pull, cat, diff, tag's target); refused where a ref is named (push, rollback, rm, tag -d).
 */
class StepsBackTest {
  @TempDir Path tmp;

  private ChunkId push(Repository repo, int n, String target) throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.writeString(src.resolve("config.json"), "{\"v\": " + n + "}");
    return repo.push(src, target, PushOptions.builder().message("v" + n).build()).versionId();
  }

  @Test
  void stepsBackFollowTheModelsHistory() throws IOException {
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      ChunkId v1 = push(repo, 1, "m");
      ChunkId v2 = push(repo, 2, "m:prod");
      ChunkId v3 = push(repo, 3, "m");
      assertThat(repo.resolve("m~0").id()).isEqualTo(v3);
      assertThat(repo.resolve("m~").id()).isEqualTo(v2);
      assertThat(repo.resolve("m~2").id()).isEqualTo(v1);
      assertThat(repo.resolve("m~1~1").id()).isEqualTo(v1);
      assertThat(repo.resolve("m:prod~1").id()).isEqualTo(v1);
      assertThat(repo.resolve("m@" + v3.shortHex(8) + "~1").id()).isEqualTo(v2);
      assertThat(StandardCharsets.UTF_8.decode(repo.readFile("m~2//config.json")).toString()).isEqualTo("{\"v\": 1}");
      assertThat(repo.diff("m~1", "m").files()).hasSize(1);

      assertThatThrownBy(() -> repo.resolve("m~3")).isInstanceOf(NotFoundException.class)
          .hasMessage("m~3: there are 2 versions before m in the history of m (ferry log m), not 3");
      assertThatThrownBy(() -> repo.resolve("m:prod~2")).isInstanceOf(NotFoundException.class)
          .hasMessageContaining("there is 1 version before m:prod");

      repo.tag("m~2", "old", null);
      assertThat(repo.resolve("m:old").id()).isEqualTo(v1);
      for (String notARef : new String[] {"m~1", "m:prod~1"}) {
        assertThatThrownBy(() -> push(repo, 4, notARef)).as(notARef).isInstanceOf(InvalidInputException.class);
        assertThatThrownBy(() -> repo.rollback(notARef, null)).as(notARef).isInstanceOf(InvalidInputException.class);
      }
      assertThatThrownBy(() -> repo.untag("m:prod~1", null)).isInstanceOf(InvalidInputException.class);
      assertThatThrownBy(() -> repo.removeModel("m~1", false)).isInstanceOf(InvalidInputException.class);
      assertThatThrownBy(() -> repo.removeVersion("m@" + v3.hex() + "~1", false))
          .isInstanceOf(InvalidInputException.class);
      assertThat(repo.resolve("m").id()).isEqualTo(v3);
      assertThat(repo.resolve("m:prod").id()).isEqualTo(v2);
    }
  }

  @Test
  void aDerivedModelsHistoryEndsAtItsFirstVersion() throws IOException {
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      push(repo, 1, "base");
      Path src = Files.createDirectories(tmp.resolve("student"));
      Files.writeString(src.resolve("config.json"), "{\"student\": 1}");
      ChunkId base = repo.resolve("base").id();
      repo.push(src, "student", PushOptions.builder().derivedFrom("base").build());
      assertThatThrownBy(() -> repo.resolve("student~1")).isInstanceOf(NotFoundException.class)
          .hasMessageContaining("there are 0 versions before student")
          .hasMessageContaining("it continues in another model from " + base.shortHex(12));
    }
  }

  /**
   * A walk reads the versions it shows and no parent past them: {@code m~1} and {@code log -n 2} still answer when an
   * older version cannot be read (and cost no request more).
   */
  @Test
  void aStepBackReadsNoVersionPastTheOneItNames() throws IOException {
    Path store = tmp.resolve("store");
    ChunkId v1;
    ChunkId v2;
    try (Repository repo = Ferry.open(store.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults())) {
      v1 = push(repo, 1, "m");
      v2 = push(repo, 2, "m");
      push(repo, 3, "m");
    }
    Files.delete(store.resolve("objects").resolve(v1.hex().substring(0, 2)).resolve(v1.hex().substring(2)));
    try (Repository repo = Ferry.open(store.toString(), StoreOptions.existing(), RepositoryOptions.defaults())) {
      assertThat(repo.resolve("m~1").id()).isEqualTo(v2);
      assertThat(repo.log("m", 2)).hasSize(2);
      assertThatThrownBy(() -> repo.resolve("m~2")).hasMessageContaining(v1.hex());
    }
  }
}
