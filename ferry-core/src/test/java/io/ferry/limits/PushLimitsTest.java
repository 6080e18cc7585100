package io.ferry.limits;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.version.Derivation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Through the Java API: a push over a limit throws before writing anything, naming what and the limit. */
class PushLimitsTest {
  @TempDir Path tmp;

  private Repository repo;
  private Path src;

  @BeforeEach
  void open() throws IOException {
    repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    src = tmp.resolve("src");
    Files.createDirectories(src);
    Files.writeString(src.resolve("config.json"), "{}");
  }

  @AfterEach
  void close() throws IOException {
    repo.close();
  }

  private Map<String, Long> objects() throws IOException {
    Map<String, Long> out = new TreeMap<>();
    try (Stream<Path> s = Files.walk(tmp.resolve("store").resolve("objects"))) {
      for (Path p : (Iterable<Path>) s.filter(Files::isRegularFile)::iterator) {
        out.put(p.toString(), Files.size(p));
      }
    }
    return out;
  }

  private void refused(PushOptions opts, String... fragments) throws IOException {
    Map<String, Long> before = objects();
    var thrown = assertThatThrownBy(() -> repo.push(src, "m", opts)).isInstanceOf(InvalidInputException.class);
    for (String f : fragments) {
      thrown.hasMessageContaining(f);
    }
    assertThat(objects()).isEqualTo(before);
    assertThat(repo.models()).isEmpty();
  }

  @Test
  void metadataKeyMessageAuthorAndDerivationOverTheirLimitsAreRefused() throws IOException {
    refused(PushOptions.builder().metadata(Map.of("k".repeat(60_000), "v")).build(), "version metadata", "60000",
        "1024");
    refused(PushOptions.builder().metadata(Map.of("k", "v".repeat(Limits.MAX_VALUE_CHARS + 1))).build(),
        "version metadata", "'k'", String.valueOf(Limits.MAX_VALUE_CHARS));
    refused(PushOptions.builder().message("x".repeat(Limits.MAX_MESSAGE_CHARS + 1)).build(), "message");
    refused(PushOptions.builder().author("a".repeat(Limits.MAX_AUTHOR_CHARS + 1)).build(), "author");
    refused(PushOptions.builder().author("ada\tlovelace").build(), "author 'ada?lovelace' holds the control"
        + " character U+0009");
    refused(PushOptions.builder().derivation(new Derivation("finetune", Map.of("p".repeat(2000), "1"), null,
        Map.of())).build(), "derivation parameters");
    refused(PushOptions.builder().derivation(new Derivation("", Map.of(), null, Map.of())).build(),
        "derivation method is empty");
    refused(PushOptions.builder().derivation(new Derivation(" ", Map.of(), null, Map.of())).build(),
        "derivation method is empty");
    // a metric JSON cannot hold as a number (it was stored as the string "NaN")
    refused(PushOptions.builder().derivation(new Derivation("distill", Map.of(), null,
        Map.of("eval_loss", Double.NaN))).build(), "derivation metric 'eval_loss' is NaN: a metric must be a finite");
    refused(PushOptions.builder().derivation(new Derivation("distill", Map.of(), null,
        Map.of("eval_loss", Double.NEGATIVE_INFINITY))).build(), "derivation metric 'eval_loss' is -Infinity");
    Map<String, String> many = new TreeMap<>();
    for (int i = 0; i <= Limits.MAX_METADATA_ENTRIES; i++) {
      many.put("k" + i, "v");
    }
    refused(PushOptions.builder().metadata(many).build(), "version metadata", "entries");
    repo.push(src, "m", PushOptions.builder().metadata(Map.of("k".repeat(Limits.MAX_KEY_CHARS), "v")).build());
    assertThat(repo.resolve("m").version().metadata()).containsKey("k".repeat(Limits.MAX_KEY_CHARS));
  }

  /** Paths longer than PATH_MAX cannot be created under a temporary directory, so the check is tested alone. */
  @Test
  void filePathOverTheLimitIsRefused() throws IOException {
    Limits.checkPath("d/".repeat(Limits.MAX_PATH_BYTES / 2 - 1) + "f");
    assertThatThrownBy(() -> Limits.checkPath("d/".repeat(Limits.MAX_PATH_BYTES / 2) + "f"))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("file path")
        .hasMessageContaining(String.valueOf(Limits.MAX_PATH_BYTES + 1))
        .hasMessageContaining(String.valueOf(Limits.MAX_PATH_BYTES));
    assertThatThrownBy(() -> Limits.checkPath("é".repeat(Limits.MAX_PATH_BYTES / 2 + 1)))
        .as("bytes, not characters, count").isInstanceOf(InvalidInputException.class);
  }
}
