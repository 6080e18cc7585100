package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The quickstart's model generator ({@code examples/make_model.py}) as a user runs it: {@code --help} prints its usage
 * and writes nothing (it wrote a model into a directory named {@code --help}), and a mistyped option is refused.
 */
class ExampleModelScriptTest {
  @TempDir Path dir;

  private record Run(int code, String output) {}

  private Run run(String... args) throws IOException, InterruptedException {
    String python = Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
    Path script = Path.of("..").toAbsolutePath().normalize().resolve("examples").resolve("make_model.py");
    List<String> cmd = new ArrayList<>(List.of(python, script.toString()));
    cmd.addAll(List.of(args));
    Process p;
    try {
      p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    } catch (IOException e) {
      assertThat("true".equals(System.getenv("CI"))).as("CI=true needs python3: " + e).isFalse();
      assumeTrue(false, "python3 is not available: " + e);
      throw e;
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("make_model.py ends").isTrue();
    return new Run(p.exitValue(), out);
  }

  @Test
  void helpPrintsTheUsageAndWritesNothing() throws Exception {
    Run help = run("--help");
    assertThat(help.code()).as(help.output()).isZero();
    assertThat(help.output()).contains("OUT_DIR").contains("--finetune");
    try (var listed = Files.list(dir)) {
      assertThat(listed).as("nothing written").isEmpty();
    }
  }

  @Test
  void aMistypedOptionOrNoDirectoryIsRefused() throws Exception {
    Run typo = run("out", "--fintune");
    assertThat(typo.code()).as(typo.output()).isEqualTo(2);
    assertThat(typo.output()).contains("--fintune");
    assertThat(run().code()).isEqualTo(2);
    try (var listed = Files.list(dir)) {
      assertThat(listed).as("nothing written").isEmpty();
    }
  }

  @Test
  void aModelIsWrittenWhereAsked() throws Exception {
    assertThat(run("m", "--finetune").code()).isZero();
    assertThat(dir.resolve("m").resolve("model.safetensors.index.json")).isRegularFile();
  }
}
