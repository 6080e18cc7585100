package io.ferry.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A development server (no tokens) refuses an address beyond loopback, naming --listen and why. */
class DevelopmentListenTest {

  @Test
  void aWildcardAddressIsRefusedNamingTheOptionAndTheRule(@TempDir Path dir) throws Exception {
    try (Repository repo = Ferry.open(dir.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      assertThatThrownBy(() -> FerryServer.start(repo, ServerOptions.builder().listen("0.0.0.0", 0).build()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessageStartingWith("--listen 0.0.0.0: a development server (no --tokens) listens only on loopback")
          .hasMessageContaining("0.0.0.0 is not a loopback address")
          .hasMessageContaining("give --tokens FILE")
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain("0.0.0.0 is 0.0.0.0"));
    }
  }
}
