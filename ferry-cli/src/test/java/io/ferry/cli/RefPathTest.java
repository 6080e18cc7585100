package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A file path (ref//path) where a command expects a version is an error, not silently ignored. */
class RefPathTest {
  @TempDir Path tmp;

  @Test
  void commandsThatTakeAVersionRejectAPath() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path model = tmp.resolve("m");
    Files2.write(model.resolve("config.json"), "{}".getBytes(StandardCharsets.UTF_8));
    cli.push(model, "m:prod");
    var before = cli.state();
    cli.run("show", "m:prod//config.json").exits(1).oneLineError("m:prod//config.json", "names a file");
    cli.run("log", "m//config.json").exits(1).oneLineError("names a file");
    cli.run("tag", "m//config.json", "x").exits(1).oneLineError("names a file");
    cli.run("diff", "m//config.json", "m:prod").exits(1).oneLineError("names a file");
    assertThat(cli.state()).isEqualTo(before);
    assertThat(cli.run("cat", "m:prod//config.json").code()).isZero();
  }
}
