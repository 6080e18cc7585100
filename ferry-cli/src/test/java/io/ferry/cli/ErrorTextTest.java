package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Errors read as words: no Java class names, and the JDK's bare-path file errors say what is wrong with the path. */
class ErrorTextTest {
  @Test
  void fileErrorsSayWhyAndNothingNamesAClass() {
    assertThat(ErrorText.of(new NoSuchFileException("/data/x"))).isEqualTo("/data/x: no such file or directory");
    assertThat(ErrorText.of(new AccessDeniedException("/data/x"))).isEqualTo("/data/x: permission denied");
    assertThat(ErrorText.of(new java.net.UnknownHostException("namenode"))).startsWith("unknown host namenode");
    assertThat(ErrorText.of(new NullPointerException())).doesNotContain("Exception").contains("-v");
    assertThat(ErrorText.of(new IOException(new IllegalStateException("the cause")))).contains("the cause");
    assertThat(ErrorText.of(new StackOverflowError())).doesNotContain("Error").contains("recursion");
  }

  @Test
  void aMissingPushSourceIsOneLineWithoutAClassName(@TempDir Path tmp) {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path missing = tmp.resolve("no-such-model");
    cli.run("push", missing.toString(), "m").exits(1).oneLineError(missing.toString());
    cli.run("pull", "m", tmp.resolve("out").toString()).exits(1).oneLineError("no model 'm'");
  }
}
