package io.ferry.cli;

import static io.ferry.cli.Files2.t;
import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the CLI prints about a model cannot be used against the terminal reading it, and what it prints can be used
 * again: names with escape sequences, NUL or bidirectional overrides come out escaped; every id {@code log} prints
 * for a model resolves as {@code model@id}.
 */
class OutputSafetyTest {
  @TempDir Path tmp;

  private static final String EVIL = "layer.\u001b[2J\u001b[31mred\u0000nul\u202eevil\\x";

  @Test
  void namesWithControlCharactersArePrintedEscaped() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path a = tmp.resolve("a");
    ModelGenerator.writeSafetensors(a.resolve("model.safetensors"),
        List.of(new Tensor(EVIL, DType.F32, new long[] {4, 4}, 1), new Tensor("ok", DType.F32, new long[] {4}, 2)),
        Map.of("note\u001b]0;title\u0007", "v\u001b[1m"));
    cli.push(a, "m:v1", "-m", "first\u001b[Aline");
    Path b = tmp.resolve("b");
    ModelGenerator.writeSafetensors(b.resolve("model.safetensors"),
        List.of(new Tensor(EVIL, DType.F32, new long[] {4, 4}, 3)), Map.of());
    cli.push(b, "m:v2");
    cli.push(b, "d:v1", "--derived-from", "m:v1", "--derivation", "ft\u001b[31mRED\nFAKE-LINE", "--metric",
        "loss\u001b[0m=0.5");
    List<String> outputs = new ArrayList<>();
    outputs.add(cli.run("show", "m:v1").ok().out());
    outputs.add(cli.run("diff", "m:v1", "m:v2").ok().out());
    outputs.add(cli.run("log", "m").ok().out());
    outputs.add(cli.run("log", "d").ok().out());
    outputs.add(cli.run("lineage", "m:v1").ok().out());
    outputs.add(cli.run("show", "d:v1").ok().out());
    for (String out : outputs) {
      assertThat(out).doesNotContain("\u001b").doesNotContain("\u0000").doesNotContain("\u202e")
          .doesNotContain("\u0007");
    }
    assertThat(outputs.get(0)).contains("layer.\\x1b[2J\\x1b[31mred\\x00nul\\u{202e}evil\\\\x")
        .contains("note\\x1b]0;title\\x07 = v\\x1b[1m");
    assertThat(outputs.get(1)).contains("layer.\\x1b[2J");
    assertThat(outputs.get(2)).contains("first\\x1b[Aline");
    // a derivation's method and metric names, whatever a pusher wrote, in log, lineage and show
    assertThat(outputs.get(3)).contains("ft\\x1b[31mRED\\x0aFAKE-LINE");
    assertThat(outputs.get(4)).contains("ft\\x1b[31mRED\\x0aFAKE-LINE").contains("loss\\x1b[0m=0.5")
        .doesNotContain("\nFAKE-LINE");
    assertThat(outputs.get(5)).contains("loss\\x1b[0m = 0.5");
    // JSON output carries the names exactly (its encoder escapes them)
    assertThat(cli.run("show", "m:v1", "--json").ok().out()).contains("\\u001B[2J");
  }

  /**
   * An error about a file is one line on stderr, whatever the file names: a tensor name with an escape sequence and a
   * newline in a rejected safetensors header comes out escaped, as in {@code show}.
   */
  @Test
  void errorsNamingHostileTensorsAreOneEscapedLine() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path dir = Files.createDirectories(tmp.resolve("bad"));
    String header = "{\"x\\u001b[2J\\nferry push: all good\\u202e\":{\"dtype\":\"F99\",\"shape\":[1],"
        + "\"data_offsets\":[0,4]}}";
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + 4).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h);
    Files.write(dir.resolve("model.safetensors"), b.array());
    Map<String, String> before = cli.state();
    Cli.Result r = cli.run("push", dir.toString(), "m").exits(1)
        .oneLineError("model.safetensors: tensor 'x\\x1b[2J\\x0aferry push: all good\\u{202e}': unknown dtype 'F99'");
    assertThat(r.err()).doesNotContain("\u001b").doesNotContain("\u202e");
    assertThat(cli.state()).isEqualTo(before);
    // JSON errors carry the exact text; their encoder escapes it
    assertThat(cli.run("push", dir.toString(), "m", "--json").exits(1).err()).contains("\\u001B[2J\\n");
  }

  @Test
  void everyVersionTheLogOfADerivedModelListsResolves() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path dir = tmp.resolve("m");
    ModelGenerator.writeHfModel(dir, List.of(t("w", DType.F32, 1, 32, 32), t("n", DType.F32, 2, 32)), 1 << 20);
    cli.push(dir, "base:v1");
    ModelGenerator.writeHfModel(dir, List.of(t("w", DType.F32, 3, 32, 32), t("n", DType.F32, 4, 32)), 1 << 20);
    cli.push(dir, "base:v2");
    cli.run("derive", "cast", "base:v2", "--to", "f16", "--as", "half:v1").ok();
    String log = cli.run("log", "half").ok().out();
    List<String> ids = new ArrayList<>();
    for (String line : log.strip().split("\n")) {
      if (line.matches("^[0-9a-f]{12} .*")) {
        ids.add(line.substring(0, 12));
      }
    }
    assertThat(ids).as("versions in the log of half:%n%s", log).hasSize(1);
    assertThat(log).contains("derived from");
    for (String id : ids) {
      cli.run("show", "half@" + id, "--no-tensors").ok();
      cli.run("pull", "half@" + id, tmp.resolve("out-" + id).toString()).ok();
    }
    assertThat(cli.run("log", "base").ok().out().strip().split("\n")).hasSize(2);
  }
}
