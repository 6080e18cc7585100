package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import io.ferry.testkit.TestRandom;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The issue's dedup figures, measured as bytes of the store directory on disk. */
class DedupTest {
  private static final long MIB = 1 << 20;

  @RegisterExtension final TestRandom random = new TestRandom();

  @TempDir Path tmp;

  @Test
  void fineTuneResharedAddsOnlyChangedTensors() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<Tensor> base = ModelGenerator.transformer(48 * MIB, DType.BF16, random.seed());
    long baseBytes = base.stream().mapToLong(Tensor::byteLength).sum();
    assertThat(baseBytes).isBetween(40 * MIB, 64 * MIB);
    Path b = tmp.resolve("base");
    ModelGenerator.writeHfModel(b, base, 10 * MIB);
    String v1 = cli.push(b, "llm", "-m", "base");

    // pushing the same directory again adds nothing and makes no version
    long s0 = cli.bytesOnDisk();
    Map<String, String> state0 = cli.state();
    assertThat(cli.run("push", b.toString(), "llm").ok().err()).contains("up to date");
    assertThat(cli.bytesOnDisk()).isEqualTo(s0);
    assertThat(cli.state()).isEqualTo(state0);

    // a fine-tune of ~10% of the tensors, resharded into other sizes and other file names
    List<Tensor> ft = ModelGenerator.finetune(base, 0.10, random.seed() + 1);
    long changed = 0;
    int changedCount = 0;
    for (int i = 0; i < base.size(); i++) {
      if (ft.get(i).seed() != base.get(i).seed()) {
        changed += ft.get(i).byteLength();
        changedCount++;
      }
    }
    assertThat(changedCount).as("tensors changed by the fine-tune").isPositive();
    Path f = tmp.resolve("ft");
    ModelGenerator.writeHfModel(f, ft, 7 * MIB);
    renameShards(f);
    long s1 = cli.bytesOnDisk();
    JsonNode pushed = cli.run("push", f.toString(), "llm:candidate", "-m", "ft", "--json").ok().json();
    long growth = cli.bytesOnDisk() - s1;
    long bound = (long) (changed * 1.05) + MIB;
    assertThat(growth).as("store growth %d B for %d changed tensors of %d B (bound %d B)", growth, changedCount,
        changed, bound).isLessThanOrEqualTo(bound);
    assertThat(pushed.get("newStoredBytes").asLong()).isLessThanOrEqualTo(bound);

    // and the diff sees exactly the changed tensors, the pull is byte-identical
    JsonNode diff = cli.run("diff", "llm@" + v1, "llm:candidate", "--json").ok().json();
    assertThat(diff.get("tensors")).hasSize(changedCount);
    diff.get("tensors").forEach(t -> assertThat(t.get("change").asText()).isEqualTo("changed"));
    Path out = tmp.resolve("out");
    cli.run("pull", "llm:candidate", out.toString()).ok();
    Cli.assertSameTree(f, out);

    // pushing the fine-tune again: nothing
    long s2 = cli.bytesOnDisk();
    assertThat(cli.run("push", f.toString(), "llm:candidate").ok().err()).contains("up to date");
    assertThat(cli.bytesOnDisk()).isEqualTo(s2);
    assertThat(cli.run("log", "llm", "--json").ok().json()).hasSize(2);
  }

  /** Renames model-0000i-of-0000n.safetensors to weights-part-i.safetensors and rewrites the index. */
  private static void renameShards(Path dir) throws IOException {
    Path index = dir.resolve("model.safetensors.index.json");
    String json = Files.readString(index);
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : s.filter(p -> p.getFileName().toString().startsWith("model-")).toList()) {
        String old = p.getFileName().toString();
        String neu = "weights-part-" + Integer.parseInt(old.substring(6, 11)) + ".safetensors";
        Files.move(p, dir.resolve(neu));
        json = json.replace("\"" + old + "\"", "\"" + neu + "\"");
      }
    }
    Files.writeString(index, json);
  }
}
