package io.ferry.cli;

import static io.ferry.cli.Files2.t;
import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A pull into a directory that holds files: refuse, --merge, --force; identical files are kept as they are. */
class PullCheckoutTest {
  @TempDir Path tmp;

  private Path model(String name, long seed) throws IOException {
    Path dir = tmp.resolve(name);
    List<Tensor> tensors = List.of(t("embed", DType.BF16, seed, 512, 256), t("head", DType.F32, seed + 1, 64, 64));
    ModelGenerator.writeHfModel(dir, tensors, 128 << 10);
    Files.writeString(dir.resolve("config.json"), "{\"seed\": " + seed + "}");
    return dir;
  }

  @Test
  void otherFilesStopThePullUnlessMergeOrForce() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path v1 = model("v1", 1);
    cli.push(v1, "m:v1");
    Path v2 = model("v2", 2);
    Files.writeString(v2.resolve("ferry-derivation.json"), "{}");
    cli.push(v2, "m:v2");
    Path out = tmp.resolve("out");
    cli.run("pull", "m:v2", out.toString()).ok();
    Map<String, String> v2State = Cli.state(out);

    // the same version again: every file is identical, nothing is written
    long before = Files.getLastModifiedTime(out.resolve("config.json")).toMillis();
    Files.setLastModifiedTime(out.resolve("config.json"), java.nio.file.attribute.FileTime.fromMillis(1000));
    cli.run("pull", "m:v2", out.toString()).ok();
    assertThat(Files.getLastModifiedTime(out.resolve("config.json")).toMillis()).isEqualTo(1000).isNotEqualTo(before);
    assertThat(Cli.state(out)).isEqualTo(v2State);

    // another version: its files differ and ferry-derivation.json is not in it
    String err = cli.run("pull", "m:v1", out.toString()).exits(1).err();
    assertThat(err).contains("config.json").contains("ferry-derivation.json")
        .contains("nothing was written: pull --force makes").contains("--merge");
    assertThat(Cli.state(out)).isEqualTo(v2State);
    Files.writeString(out.resolve("mine.txt"), "user's own");
    Files.createDirectories(out.resolve("notes/deep"));
    Files.writeString(out.resolve("notes/deep/n.txt"), "n");

    cli.run("pull", "m:v1", out.toString(), "--merge").ok();
    Map<String, String> merged = Cli.state(out);
    assertThat(merged).containsKeys("mine.txt", "notes/deep/n.txt", "ferry-derivation.json");
    assertThat(merged).containsAllEntriesOf(Cli.state(v1));

    cli.run("pull", "m:v1", out.toString(), "--force").ok();
    assertThat(Cli.state(out)).isEqualTo(Cli.state(v1));
    assertThat(out.resolve("notes")).doesNotExist();
    cli.run("pull", "m:v1", out.toString(), "--force", "--merge").exits(2);
  }
}
