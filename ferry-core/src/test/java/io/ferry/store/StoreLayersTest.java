package io.ferry.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.store.local.LocalBackend;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StoreLayersTest {
  @TempDir Path dir;

  private Backend local() throws Exception {
    return LocalBackend.open(dir.resolve("store"), StoreOptions.createIfMissing());
  }

  @Test
  void noLayersGivesTheBackendItself() throws Exception {
    Backend b = local();
    try (Backend stacked = StoreLayers.stack(b, StoreOptions.existing(), Map.of(), Map.of())) {
      assertThat(stacked).isSameAs(b);
    }
  }

  @Test
  void layersStackOutermostFirstAndOptionsWinOverUriAndEnvironment() throws Exception {
    StoreOptions opts = StoreOptions.existing().withSettings(Map.of("layers", "tag-a,tag-b"));
    try (Backend stacked = StoreLayers.stack(local(), opts, Map.of("layers", "tag-b"), Map.of(StoreLayers.ENV,
        "tag-b"))) {
      assertThat(stacked.chunks().describe()).isEqualTo("a(b(" + stacked.uri() + "))");
      assertThat(stacked.refs()).isNotNull();
    }
    try (Backend stacked = StoreLayers.stack(local(), StoreOptions.existing(), Map.of("layers", "tag-a"),
        Map.of(StoreLayers.ENV, "tag-b"))) {
      assertThat(stacked.chunks().describe()).as("the URI before the environment").startsWith("a(");
    }
    try (Backend stacked = StoreLayers.stack(local(), StoreOptions.existing(), Map.of(), Map.of(StoreLayers.ENV,
        "tag-b"))) {
      assertThat(stacked.chunks().describe()).startsWith("b(");
    }
  }

  @Test
  void anUnknownLayerIsABadInputNamingIt() throws Exception {
    StoreOptions opts = StoreOptions.existing().withSettings(Map.of("layers", "nope"));
    assertThatThrownBy(() -> StoreLayers.stack(local(), opts, Map.of(), Map.of()))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("'nope'").hasMessageContaining("tag-a");
  }

  @Test
  void ferryOpenStacksLayersNamedInTheUriQuery() throws Exception {
    local().close();
    try (Backend b = Ferry.openBackend(dir.resolve("store").toUri() + "?layers=tag-a", StoreOptions.existing())) {
      assertThat(b.chunks().describe()).startsWith("a(");
    }
  }
}
