package io.ferry.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.store.local.LocalBackend;
import java.net.URI;
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

  /**
   * One rule for every scheme's query: a pair without {@code =} was an option named by the whole pair for one store,
   * ignored by another, and a duplicate won silently where a backend read the query itself.
   */
  @Test
  void aQueryPairWithoutKeyOrValueSeparatorOrGivenTwiceIsRefusedNamingIt() throws Exception {
    for (String u : new String[] {"s3://b/p?layers", "hdfs://nn:8020/f?=x", "cassandra://h/ks?a=1&&b", "http://h?x"}) {
      URI uri = URI.create(u);
      assertThatThrownBy(() -> StoreLayers.query(uri)).as(u).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("store URI '" + u.replaceFirst("\\?.*", "") + "'")
          .hasMessageContaining("is not key=value");
    }
    assertThatThrownBy(() -> StoreLayers.query(URI.create("s3://b/p?layers=a&layers=b")))
        .isInstanceOf(InvalidInputException.class).hasMessage("store URI 's3://b/p': query option 'layers' is given"
            + " twice; give it once");
    // what may hold a secret (user information, the query's values) is not in the message
    assertThatThrownBy(() -> StoreLayers.query(URI.create("http://u:pw@h:80/p?token=tk1&token=tk2&x")))
        .isInstanceOf(InvalidInputException.class).hasMessage("store URI 'http://h:80/p': query option 'token' is"
            + " given twice; give it once");
    assertThatThrownBy(() -> StoreLayers.query(URI.create("http://h?=tk1"))).isInstanceOf(
        InvalidInputException.class).hasMessage("store URI 'http://h': a query part is not key=value (its key is"
            + " empty)");
    assertThat(StoreLayers.query(URI.create("s3://b/p?&layers=a%2Cb&k=&"))).containsExactly(
        Map.entry("layers", "a,b"), Map.entry("k", ""));
    assertThat(StoreLayers.query(URI.create("s3://b/p?"))).isEmpty();
  }

  @Test
  void ferryOpenStacksLayersNamedInTheUriQuery() throws Exception {
    local().close();
    try (Backend b = Ferry.openBackend(dir.resolve("store").toUri() + "?layers=tag-a", StoreOptions.existing())) {
      assertThat(b.chunks().describe()).startsWith("a(");
    }
  }
}
