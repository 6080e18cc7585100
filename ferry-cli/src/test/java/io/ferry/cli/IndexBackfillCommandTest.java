package io.ferry.cli;

import static io.ferry.cli.Files2.t;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.format.DType;
import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ferry index backfill}: in a store written before the small-chunk index, it indexes the packs of the
 * versions there, so that the same small tensors pushed under another name are not stored again; exit codes, text and
 * JSON, and a second run that adds nothing.
 */
class IndexBackfillCommandTest {
  private static final int TENSORS = 48;

  @TempDir Path tmp;

  private Path model(String name) throws IOException {
    List<Tensor> ts = new ArrayList<>();
    for (int i = 0; i < TENSORS; i++) {
      ts.add(t("layers." + i + ".weight", DType.F32, 7_000 + i, 64, 64)); // 16 KiB each: small chunks
    }
    Path dir = Files.createDirectories(tmp.resolve(name));
    ModelGenerator.writeSafetensors(dir.resolve("model.safetensors"), ts, Map.of());
    Files.writeString(dir.resolve("config.json"), "{\"_name_or_path\": \"org/" + name + "\"}");
    return dir;
  }

  /** Removes the index's records, as in a store that an older Ferry wrote. */
  private void dropIndex(Cli cli) throws IOException {
    try (Backend b = LocalBackend.open(cli.store, StoreOptions.existing())) {
      for (String k : b.records().list("dedup/")) {
        b.records().delete(k);
      }
    }
  }

  @Test
  void onePackIsCountedInTheSingular() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    cli.push(model("a"), "org/a");
    dropIndex(cli);
    assertThat(cli.run("index", "backfill").ok().out()).matches("index backfill: read 1 of 1 pack \\(0 already"
        + " indexed, 0 gone or damaged\\); added [0-9]+ chunks in 1 delta record\\R");
  }

  @Test
  void backfillIndexesAnOldStoreOnceAndSaysWhatItDid() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    cli.push(model("a"), "org/a", "-m", "before the index");
    dropIndex(cli);
    JsonNode b = cli.run("push", model("b").toString(), "org/b", "--json").ok().json();
    assertThat(b.get("pushedChunkCount").asLong()).as("chunks stored again without the index")
        .isGreaterThan(TENSORS);
    dropIndex(cli);

    Cli.Result text = cli.run("index", "backfill").ok();
    assertThat(text.out()).matches("index backfill: read 2 of 2 packs \\(0 already indexed, 0 gone or damaged\\);"
        + " added " + (TENSORS + 3) + " chunks in 1 delta record\\R");
    assertThat(text.err()).isEmpty();

    JsonNode c = cli.run("push", model("c").toString(), "org/c", "--json").ok().json();
    assertThat(c.get("pushedChunkCount").asLong()).as("new chunks after the backfill: c's config").isEqualTo(1);

    JsonNode again = cli.run("index", "backfill", "--json").ok().json();
    assertThat(again.get("packCount").asLong()).isEqualTo(3);
    assertThat(again.get("alreadyIndexedPackCount").asLong()).as("a's, b's (its config) and c's packs")
        .isEqualTo(3);
    assertThat(again.get("readPackCount").asLong()).isZero();
    assertThat(again.get("unreadablePackCount").asLong()).isZero();
    assertThat(again.get("addedChunkCount").asLong()).as("a second run adds nothing").isZero();
    assertThat(again.get("writtenDeltaCount").asLong()).isZero();
    cli.run("verify").ok();
  }

  @Test
  void backfillNeedsAStoreAndTakesNoArguments() {
    Cli missing = new Cli(tmp.resolve("none"));
    assertThat(missing.run("index", "backfill").code()).isNotZero();
    assertThat(Cli.raw("index", "backfill", "extra").code()).isEqualTo(FerryCli.USAGE);
    assertThat(Cli.raw("index").code()).isEqualTo(FerryCli.USAGE);
  }
}
