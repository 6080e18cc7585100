package io.ferry.cli;

import static io.ferry.cli.Files2.t;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * verify names the model, version and file of a damaged object once, even when several versions share it, and says
 * what to do; doing it (delete the object, copy the version back from another store) repairs the store.
 */
class VerifyRepairTest {
  @TempDir Path tmp;

  @Test
  void namesModelVersionAndFileOnceAndTheRepairWorks() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path dir = tmp.resolve("m");
    ModelGenerator.writeHfModel(dir, List.of(t("big", DType.F32, 7, 512, 1024)), 64 << 20);
    cli.push(dir, "tiny", "--codec", "none");
    cli.run("tag", "tiny", "prod").ok();
    Files.writeString(dir.resolve("README.md"), "second version, same tensor");
    cli.push(dir, "tiny", "--codec", "none");
    Cli backup = new Cli(tmp.resolve("backup")).init();
    cli.run("copy", "tiny", "--to", backup.store.toString()).ok();

    Path obj = cli.objects().stream().max(java.util.Comparator.comparingLong(p -> p.toFile().length()))
        .orElseThrow();
    try (RandomAccessFile raf = new RandomAccessFile(obj.toFile(), "rw")) {
      raf.seek(Files.size(obj) / 2);
      int b = raf.read();
      raf.seek(Files.size(obj) / 2);
      raf.write(b ^ 0x40);
    }

    Cli.Result r = cli.run("verify").exits(3);
    List<String> errors = r.err().lines().filter(l -> !l.contains("to repair")).toList();
    assertThat(errors).as("the damaged chunk, shared by both versions, is reported once: %s", r.err()).hasSize(1);
    assertThat(errors.get(0)).startsWith("ferry verify: tiny@").contains(".safetensors");
    String last = r.err().strip().lines().reduce((a, b) -> b).orElseThrow();
    assertThat(last).contains("to repair").contains("ferry copy tiny@").contains("--to")
        .contains("ferry verify --delete-damaged");
    JsonNode j = cli.run("verify", "--json").exits(3).json();
    assertThat(j.get("damagedVersions")).hasSize(1);
    assertThat(j.get("repair").asText()).contains("ferry copy " + j.get("damagedVersions").get(0).asText());

    // what it says: delete the damaged object, copy the version back
    Files.delete(obj);
    // with the object missing and nothing damaged, deleting damaged objects is no longer part of the advice
    String missing = cli.run("verify").exits(3).err().strip().lines().reduce((a, b) -> b).orElseThrow();
    assertThat(missing).contains("to repair").contains("ferry copy tiny@").doesNotContain("--delete-damaged");
    backup.run("copy", j.get("damagedVersions").get(0).asText(), "--to", cli.store.toString()).ok();
    cli.run("verify").ok();
    cli.run("pull", "tiny:prod", tmp.resolve("out").toString(), "--verify").ok();
  }
}
