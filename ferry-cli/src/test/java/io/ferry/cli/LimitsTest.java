package io.ferry.cli;

import static io.ferry.cli.Files2.t;
import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.limits.Limits;
import io.ferry.testkit.ModelGenerator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Whatever a push accepts, every command can read afterwards: input over a limit is refused before anything is
 * written (arguments: usage error, exit 2; files: bad input, exit 1), naming the argument or file and the limit, and
 * the store stays readable.
 */
class LimitsTest {
  @TempDir Path tmp;

  private Cli cli;
  private Path model;

  @BeforeEach
  void storeWithOneModel() throws IOException {
    cli = new Cli(tmp.resolve("store")).init();
    model = tmp.resolve("model");
    Files2.safetensors(model.resolve("model.safetensors"), t("w", DType.F32, 1, 64, 64));
    cli.push(model, "m:prod", "-m", "base");
  }

  /** Every reading command still works. */
  private void storeStillReads() {
    cli.run("ls").ok();
    cli.run("show", "m:prod").ok();
    cli.run("log", "m").ok();
    cli.run("verify").ok();
    cli.run("stats").ok();
    cli.run("gc", "--dry-run").ok();
    cli.run("pull", "m:prod", tmp.resolve("out-" + System.nanoTime()).toString()).ok();
    cli.run("cat", "m:prod//model.safetensors").ok();
  }

  private void refused(int code, String[] args, String... fragments) {
    Map<String, String> before = cli.state();
    Cli.Result r = cli.run(args);
    assertThat(r.code()).as("exit code of a refused push; stderr: %s", r.err().substring(0, Math.min(300, r.err().length())))
        .isEqualTo(code);
    for (String f : fragments) {
      assertThat(r.err()).as("stderr of a refused push").contains(f);
    }
    assertThat(r.err()).doesNotContain("Exception").doesNotContain("\tat ");
    assertThat(cli.state()).as("store files after a refused push").isEqualTo(before);
    storeStillReads();
  }

  @Test
  void metaKeyOverTheLimitIsAUsageErrorAndTheStoreStillReads() {
    String key = "k".repeat(60_000);
    refused(2, new String[] {"push", model.toString(), "m", "--meta", key + "=v"}, "--meta", "60000",
        String.valueOf(Limits.MAX_KEY_CHARS));
  }

  @Test
  void messageOverTheLimitIsAUsageError() {
    refused(2, new String[] {"push", model.toString(), "m", "-m", "x".repeat(Limits.MAX_MESSAGE_CHARS + 1)},
        "--message", String.valueOf(Limits.MAX_MESSAGE_CHARS));
  }

  @Test
  void safetensorsMetadataKeyOverTheLimitIsRefused() throws IOException {
    Path src = tmp.resolve("src");
    ModelGenerator.writeSafetensors(src.resolve("big-key.safetensors"), List.of(t("w", DType.F32, 2, 8)),
        Map.of("k".repeat(60_000), "v"));
    refused(1, new String[] {"push", src.toString(), "m"}, "big-key.safetensors", "metadata", "60000",
        String.valueOf(Limits.MAX_KEY_CHARS));
  }

  @Test
  void safetensorsMetadataValueOfTwentyMillionCharactersIsRefused() throws IOException {
    Path src = tmp.resolve("src");
    ModelGenerator.writeSafetensors(src.resolve("big-value.safetensors"), List.of(t("w", DType.F32, 2, 8)),
        Map.of("notes", "v".repeat(20_000_000)));
    refused(1, new String[] {"push", src.toString(), "m"}, "big-value.safetensors", "notes", "20000000",
        String.valueOf(Limits.MAX_VALUE_CHARS));
  }

  @Test
  void tensorNameOverTheLimitIsRefused() throws IOException {
    Path src = tmp.resolve("src");
    Files2.safetensors(src.resolve("long-name.safetensors"), t("n".repeat(5000), DType.F32, 3, 8));
    refused(1, new String[] {"push", src.toString(), "m"}, "long-name.safetensors", "tensor name", "5000",
        String.valueOf(Limits.MAX_TENSOR_NAME_CHARS));
  }

  /** Up to the limits, everything is accepted and reads back: keys and values at their limits, 10,000 files. */
  @Test
  void inputAtTheLimitsIsAcceptedAndReadsBack() throws IOException {
    Path src = tmp.resolve("src");
    ModelGenerator.writeSafetensors(src.resolve("a.safetensors"), List.of(t("w", DType.F32, 2, 8)),
        Map.of("k".repeat(Limits.MAX_KEY_CHARS), "v".repeat(1 << 20)));
    for (int i = 0; i < 10_000; i++) {
      Files2.write(src.resolve("files/" + (i % 100) + "/f" + i + ".txt"), ("file " + i).getBytes());
    }
    cli.push(src, "big", "--meta", "m".repeat(Limits.MAX_KEY_CHARS) + "=value", "-m",
        "x".repeat(Limits.MAX_MESSAGE_CHARS));
    Path out = tmp.resolve("out");
    cli.run("pull", "big", out.toString()).ok();
    Cli.assertSameTree(src, out);
    assertThat(cli.run("show", "big", "--json").ok().json().get("metadata").has("m".repeat(Limits.MAX_KEY_CHARS)))
        .isTrue();
    cli.run("verify").ok();
    assertThat(Files.readString(out.resolve("files/7/f7.txt"))).isEqualTo("file 7");
  }
}
