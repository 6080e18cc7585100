package io.ferry.cli;

import static io.ferry.cli.Files2.t;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Deleting tags, removing models, and the ref log that keeps their history. */
class LifecycleTest {
  @TempDir Path tmp;

  private Path model(String name, long seed) throws IOException {
    Path dir = tmp.resolve(name);
    List<Tensor> tensors = List.of(t("embed", DType.BF16, seed, 64, 128), t("head", DType.F32, seed + 1, 32, 64));
    ModelGenerator.writeHfModel(dir, tensors, 256 << 10);
    Files.writeString(dir.resolve("config.json"), "{\"seed\": " + seed + "}");
    return dir;
  }

  @Test
  void aDeletedTagIsGoneButItsLogStays() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    String v1 = cli.push(model("a", 1), "m");
    cli.run("tag", "m", "prod").ok();
    Cli.Result r = cli.run("tag", "-d", "m:prod").ok();
    assertThat(r.out()).contains("deleted m:prod").contains(v1.substring(0, 12));
    assertThat(cli.run("show", "m:prod").exits(1).err()).contains("prod");
    JsonNode ls = cli.run("ls", "--json").ok().json();
    assertThat(ls.get(0).toString()).doesNotContain("prod");
    JsonNode log = cli.run("reflog", "m:prod", "--json").ok().json();
    assertThat(log).hasSize(2);
    assertThat(log.get(0).get("new").isNull()).isTrue();
    assertThat(log.get(0).get("old").asText()).isEqualTo(v1);
    assertThat(log.get(0).get("why").asText()).isEqualTo("tag -d prod");
    assertThat(log.get(1).get("new").asText()).isEqualTo(v1);
    assertThat(cli.run("reflog", "m:prod").ok().out()).contains("(deleted)");
    // nothing left to delete; a wrong --expect changes nothing
    cli.run("tag", "-d", "m:prod").exits(1);
    cli.run("tag", "m", "prod").ok();
    Map<String, String> before = cli.state();
    cli.run("tag", "-d", "m:prod", "--expect", "0".repeat(64)).exits(4);
    assertThat(cli.state()).isEqualTo(before);
    // usage: -d takes model:tag alone; without -d a TAG is needed
    cli.run("tag", "-d", "m:prod", "x").exits(2);
    cli.run("tag", "m").exits(2);
    cli.run("tag", "-d", "m").exits(1);
  }

  @Test
  void rmRefusesWhileTagsOrDerivedModelsNeedTheModelThenGcFreesWhatOnlyItUsed() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    cli.push(model("base", 1), "base");
    cli.run("tag", "base", "prod").ok();
    cli.push(model("other", 7), "other");
    Map<String, String> before = cli.state();
    assertThat(cli.run("rm", "base").exits(1).err()).contains("still has tags prod").contains("--force");
    assertThat(cli.state()).isEqualTo(before);

    cli.run("tag", "-d", "base:prod").ok();
    cli.run("derive", "cast", "base", "--to", "f16", "--as", "base-f16:v1").ok();
    before = cli.state();
    assertThat(cli.run("rm", "base").exits(1).err()).contains("base-f16").contains("derive");
    assertThat(cli.state()).isEqualTo(before);

    cli.run("rm", "base-f16", "--force").ok();
    Cli.Result r = cli.run("rm", "base").ok();
    assertThat(r.out()).contains("removed base");
    JsonNode ls = cli.run("ls", "--json").ok().json();
    assertThat(ls).hasSize(1);
    assertThat(ls.get(0).get("model").asText()).isEqualTo("other");
    assertThat(cli.run("reflog", "base", "--json").ok().json().get(0).get("why").asText()).isEqualTo("rm base");
    cli.run("rm", "base").exits(1);

    long objectsBefore = objectFiles(cli);
    cli.run("gc", "--grace", "PT0S").ok();
    assertThat(objectFiles(cli)).as("objects after gc").isLessThan(objectsBefore);
    // what other still uses is intact
    cli.run("verify").ok();
    cli.run("pull", "other", tmp.resolve("out").toString(), "--verify").ok();
  }

  /**
   * What a killed put left in the store's tmp/ is removed by gc once older than the grace period, and gc says so: it
   * removed such files without a word, so a user freeing space could not tell where it came from.
   */
  @Test
  void gcSaysHowManyLeftoversOfInterruptedWritesItRemoved() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    cli.push(model("a", 1), "m");
    Path killedPut = Files.writeString(tmp.resolve("store/tmp/0123456789abcdef-1.tmp"), "half an object");
    Path young = Files.writeString(tmp.resolve("store/tmp/fedcba9876543210-2.tmp"), "a put in progress");
    Files.setLastModifiedTime(killedPut, FileTime.from(Instant.now().minus(Duration.ofHours(2))));
    JsonNode dry = cli.run("gc", "--grace", "1h", "--dry-run", "--json").ok().json();
    assertThat(dry.get("leftoversRemovedCount").asLong()).isZero();
    assertThat(killedPut).exists();
    assertThat(cli.run("gc", "--grace", "1h").ok().out()).contains("; removed 1 leftover of interrupted writes");
    assertThat(killedPut).doesNotExist();
    assertThat(young).exists();
    assertThat(cli.run("gc", "--grace", "1h", "--json").ok().json().get("leftoversRemovedCount").asLong()).isZero();
  }

  private static long objectFiles(Cli cli) {
    return cli.state().keySet().stream().filter(k -> k.startsWith("objects/")).count();
  }
}
