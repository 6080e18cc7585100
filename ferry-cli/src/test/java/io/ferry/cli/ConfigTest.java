package io.ferry.cli;

import static io.ferry.cli.Files2.t;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The config file: where it is, what it may say, how bad ones are reported, and its place below flags and env. */
class ConfigTest {
  @TempDir Path tmp;

  @Test
  void itsPathFollowsXdgAndFerryConfig() {
    assertThat(Config.path(Map.of(), "/home/ada")).isEqualTo(Path.of("/home/ada/.config/ferry/config.toml"));
    assertThat(Config.path(Map.of("XDG_CONFIG_HOME", "/xdg"), "/home/ada"))
        .isEqualTo(Path.of("/xdg/ferry/config.toml"));
    assertThat(Config.path(Map.of("XDG_CONFIG_HOME", "/xdg", "FERRY_CONFIG", "/etc/ferry.toml"), "/home/ada"))
        .isEqualTo(Path.of("/etc/ferry.toml"));
  }

  @Test
  void parsesTheTomlSubset() throws IOException {
    Config c = Config.parse(Path.of("c.toml"), List.of("# defaults", "", "store = \"s3://models/ferry\"  # shared",
        "author = 'Ada \"the\" Lovelace'", "parallelism = 8", "cache = \"redis://cache:6379\""));
    assertThat(c.string("store")).isEqualTo("s3://models/ferry");
    assertThat(c.string("author")).isEqualTo("Ada \"the\" Lovelace");
    assertThat(c.parallelism()).isEqualTo(8);
    assertThat(c.string("cache")).isEqualTo("redis://cache:6379");
    assertThat(Config.parse(Path.of("c.toml"), List.of("author = \"a\\\\b \\\"q\\\"\"")).string("author"))
        .isEqualTo("a\\b \"q\"");
    assertThat(Config.load(tmp.resolve("absent.toml"), false)).isEqualTo(Config.NONE);
  }

  @Test
  void aBadFileNamesTheFileTheLineAndTheKey() throws IOException {
    Path f = Path.of("/home/ada/.config/ferry/config.toml");
    bad(f, List.of("store = \"x\"", "colour = \"red\""), "config.toml, line 2: unknown key 'colour'");
    bad(f, List.of("parallelism = \"eight\""), "line 1, key parallelism: expected an integer");
    bad(f, List.of("parallelism = 0"), "line 1, key parallelism: expected 1 to 1024, got 0");
    bad(f, List.of("store = x"), "line 1, key store: expected a string in quotes or an integer");
    bad(f, List.of("store = \"x"), "line 1, key store: string not closed");
    bad(f, List.of("", "store = \"a\"", "store = \"b\""), "line 3: key 'store' is set twice");
    bad(f, List.of("[ferry]"), "line 1: tables ([ferry]) are not used");
    bad(f, List.of("just words"), "line 1: expected key = value");
    bad(f, List.of("author = \"a\" b"), "line 1, key author: unexpected text after the value");
    assertThatThrownBy(() -> Config.load(tmp.resolve("absent.toml"), true)).hasMessageContaining("does not exist");
    // a directory given for a file: named, not a bare "Is a directory"; for the tokens and TLS files of serve too
    Path dir = tmp.resolve("dir");
    java.nio.file.Files.createDirectories(dir.resolve("store"));
    Cli.raw("--config", dir.toString(), "ls").exits(1).oneLineError("config file " + dir + " is a directory");
    Cli.raw("token", "list", "--tokens", dir.toString()).exits(1).oneLineError("tokens file " + dir
        + " is a directory");
    Cli.raw("init", "--store", dir.resolve("store").toString()).ok();
    // an empty name (an unset shell variable) was the working directory: "config file  is a directory"
    assertThat(Cli.raw("--config", "", "ls", "--store", dir.resolve("store").toString()).exits(FerryCli.USAGE).err())
        .contains("--config is empty (an unset shell variable?)");
    // --config is the root's: after the command it was "Unknown options: '--config', 'FILE'", as if it did not exist
    for (String[] args : new String[][] {{"ls", "--config", "c.toml"}, {"ls", "--config=c.toml"}}) {
      assertThat(Cli.raw(args).exits(FerryCli.USAGE).err()).as(String.join(" ", args))
          .startsWith("ferry: --config goes before the command: ferry --config FILE ls ...");
    }
    Cli.raw("serve", "--store", dir.resolve("store").toString(), "--listen", "127.0.0.1:0", "--tls-cert",
        dir.toString(), "--tls-key", dir.toString()).exits(1).oneLineError("TLS certificate " + dir
            + " is a directory");
  }

  /** A config file is read up to a bound: one that linked to /dev/zero ran every command out of memory. */
  @Test
  void anEndlessOrHugeFileIsRefusedWithoutReadingItAll() throws IOException {
    Path zero = tmp.resolve("config.toml");
    java.nio.file.Files.createSymbolicLink(zero, Path.of("/dev/zero"));
    assertThatThrownBy(() -> Config.load(zero, false)).isInstanceOf(InvalidInputException.class)
        .hasMessage("config file " + zero + ": larger than 1 MiB; a config file holds a few keys");
    Path big = tmp.resolve("big.toml");
    java.nio.file.Files.writeString(big, "# " + "x".repeat(Config.MAX_BYTES) + "\n");
    assertThatThrownBy(() -> Config.load(big, true)).hasMessageContaining("larger than 1 MiB");
    java.nio.file.Files.writeString(big, "# comment\r\nauthor = \"ada\"\r\n");
    assertThat(Config.load(big, true).values()).isEqualTo(java.util.Map.of("author", "ada"));
    java.nio.file.Files.write(big, new byte[] {'#', (byte) 0xff, '\n'});
    assertThatThrownBy(() -> Config.load(big, true)).hasMessageContaining(": not UTF-8 text");
  }

  private static void bad(Path f, List<String> lines, String fragment) {
    assertThatThrownBy(() -> Config.parse(f, lines)).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("config file " + f).hasMessageContaining(fragment);
  }

  @Test
  void flagsWinOverTheConfigFileWhichWinsOverDefaults() throws IOException {
    Path fromConfig = tmp.resolve("config-store");
    Path conf = Files.writeString(tmp.resolve("config.toml"), "store = \"" + fromConfig.toString().replace("\\",
        "\\\\") + "\"\nauthor = \"config-author\"\nparallelism = 2\n");
    String c = conf.toString();
    Cli.raw("--config", c, "init").ok();
    assertThat(fromConfig.resolve("ferry-store.json")).as("init made the config's store").exists();
    Path model = tmp.resolve("m");
    ModelGenerator.writeHfModel(model, List.of(t("w", DType.F32, 1, 16, 16)), 1 << 20);
    Cli.raw("--config", c, "push", model.toString(), "m").ok();
    assertThat(Cli.raw("--config", c, "log", "m", "--json").ok().json().get(0).get("author").asText())
        .isEqualTo("config-author");
    Path flagStore = tmp.resolve("flag-store");
    Cli.raw("--config", c, "--store", flagStore.toString(), "init").ok();
    Cli.raw("--config", c, "push", model.toString(), "m2", "--store", flagStore.toString(), "--author", "flag")
        .ok();
    assertThat(Cli.raw("--config", c, "ls", "--json", "--store", flagStore.toString()).ok().json().get(0)
        .get("model").asText()).isEqualTo("m2");
    assertThat(Cli.raw("--config", c, "log", "m2", "--json", "--store", flagStore.toString()).ok().json().get(0)
        .get("author").asText()).isEqualTo("flag");
    // a bad file is one clear error, whatever the command
    Path bad = Files.writeString(tmp.resolve("bad.toml"), "store = \"x\"\nparalelism = 4\n");
    Cli.raw("--config", bad.toString(), "ls").exits(1)
        .oneLineError("config file " + bad, "line 2", "unknown key 'paralelism'");
  }
}
