package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Options given before the subcommand, and help on command groups. */
class RootOptionsTest {
  @TempDir Path tmp;

  @Test
  void storeBeforeTheSubcommandWorksLikeAfterIt() {
    Path store = tmp.resolve("store");
    Cli.raw("--store", store.toString(), "init").ok();
    assertThat(Cli.raw("--store", store.toString(), "ls", "--json").ok().json().isArray()).isTrue();
    // the subcommand's own --store wins over the root's
    Path other = tmp.resolve("other");
    Cli.raw("--store", store.toString(), "init", "--store", other.toString()).ok();
    assertThat(other.resolve("ferry-store.json")).exists();
  }

  @Test
  void nestedSubcommandsBuildAndShowHelp() {
    Cli.Result r = Cli.raw("derive", "--help").ok();
    assertThat(r.out()).contains("cast").contains("quantize").contains("prune");
    assertThat(Cli.raw("derive", "cast", "--help").ok().out()).contains("--to");
  }

  /** A group named alone says what is missing and the choices, in two lines, exit 2; it printed its whole usage. */
  @Test
  void aGroupWithoutItsSubcommandNamesTheChoices() {
    Cli.Result r = Cli.raw("derive").exits(FerryCli.USAGE);
    assertThat(r.err().lines()).containsExactly("ferry: derive needs a subcommand: cast, quantize, dequantize or prune",
        "Try 'ferry derive --help'.");
    assertThat(r.out()).isEmpty();
    assertThat(Cli.raw("token").exits(FerryCli.USAGE).err()).startsWith("ferry: token needs a subcommand: ")
        .doesNotContain("Usage:");
    assertThat(Cli.raw().exits(FerryCli.USAGE).err().lines()).containsExactly(
        "ferry: no command given (ferry --help lists them)", "Try 'ferry --help'.");
  }

  /** An unknown subcommand of a group is named with the choices; picocli said "Unmatched argument at index 1". */
  @Test
  void anUnknownSubcommandOfAGroupIsNamedWithTheChoices() {
    assertThat(Cli.raw("index", "status").exits(FerryCli.USAGE).err().lines()).containsExactly(
        "ferry: index has no subcommand 'status': backfill", "Try 'ferry index --help'.");
    assertThat(Cli.raw("derive", "cats", "m").exits(FerryCli.USAGE).err())
        .startsWith("ferry: derive has no subcommand 'cats': cast, quantize, dequantize or prune\n")
        .contains("Did you mean: derive cast?");
    assertThat(Cli.raw("derive", "cats", "m", "--json").exits(FerryCli.USAGE).err().strip()).isEqualTo(
        "{\"code\":2,\"kind\":\"usage\",\"message\":\"derive has no subcommand 'cats': cast, quantize, dequantize"
            + " or prune\"}");
  }

  /** {@code ferry help derive cast} shows cast's help; it showed derive's and ignored the rest. */
  @Test
  void helpOfANestedCommandShowsThatCommand() {
    assertThat(Cli.raw("help", "derive", "cast").ok().out()).startsWith("Usage: ferry derive cast ")
        .isEqualTo(Cli.raw("derive", "cast", "--help").ok().out());
    assertThat(Cli.raw("help", "push").ok().out()).startsWith("Usage: ferry push ");
    assertThat(Cli.raw("help").ok().out()).startsWith("Usage: ferry ");
    assertThat(Cli.raw("help", "derive", "cats").exits(FerryCli.USAGE).err())
        .startsWith("ferry: derive has no subcommand 'cats': cast, quantize, dequantize or prune");
    assertThat(Cli.raw("help", "push", "x").exits(FerryCli.USAGE).err())
        .startsWith("ferry: push has no subcommands, so no help for 'x'");
    assertThat(Cli.raw("help", "pusj").exits(FerryCli.USAGE).err())
        .startsWith("ferry: 'pusj' is not a ferry command");
  }

  @Test
  void everyCommandAndSubcommandAnswersHelp() {
    List<String> answered = new ArrayList<>();
    helpOfEvery(FerryCli.commandLine(), new ArrayList<>(), answered);
    assertThat(answered).contains("index", "cache", "checkpoint", "token", "token create", "derive cast")
        .hasSizeGreaterThan(35);
  }

  private static void helpOfEvery(CommandLine cmd, List<String> path, List<String> answered) {
    for (Map.Entry<String, CommandLine> e : cmd.getSubcommands().entrySet()) {
      if (!e.getKey().equals(e.getValue().getCommandName()) || e.getKey().equals("help")) {
        continue; // an alias, or picocli's help command (which takes a command, not --help)
      }
      List<String> sub = new ArrayList<>(path);
      sub.add(e.getKey());
      for (String flag : new String[] {"--help", "-h"}) {
        List<String> args = new ArrayList<>(sub);
        args.add(flag);
        Cli.Result r = Cli.raw(args.toArray(new String[0])).ok();
        assertThat(r.out()).as("ferry %s %s", String.join(" ", sub), flag)
            .contains("Usage: ferry " + String.join(" ", sub));
      }
      answered.add(String.join(" ", sub));
      helpOfEvery(e.getValue(), sub, answered);
    }
  }

  @Test
  void versionAloneIsAnsweredBeforePicocliAndSaysWhatPicocliWould() throws Exception {
    String picocli = Cli.raw("--version").ok().out();
    assertThat(picocli).startsWith("ferry " + io.ferry.Ferry.VERSION).contains("Java ");
    for (String flag : new String[] {"--version", "-V"}) {
      Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), FerryCli.class.getName(), flag)
          .redirectError(ProcessBuilder.Redirect.DISCARD).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
      assertThat(p.exitValue()).as(flag).isZero();
      assertThat(out.lines()).as(flag).containsExactlyElementsOf(picocli.lines().toList());
    }
  }

  /**
   * Only {@code ferry} itself has {@code --version}: a subcommand that showed it printed an empty line and exited 0
   * ({@code ferry completion -V} even without its required SHELL), so a subcommand's {@code -V} is a usage error.
   */
  @Test
  void onlyTheRootAnswersVersion() {
    List<String> with = new ArrayList<>();
    withVersion(FerryCli.commandLine(), with);
    assertThat(with).as("subcommands whose --help offers --version").isEmpty();
    assertThat(Cli.raw("derive", "-V").exits(FerryCli.USAGE).err()).contains("'-V'");
    assertThat(Cli.raw("completion", "bash", "-V").exits(FerryCli.USAGE).err()).contains("'-V'");
  }

  private static void withVersion(CommandLine cmd, List<String> with) {
    for (CommandLine sub : cmd.getSubcommands().values()) {
      if (sub != cmd && !sub.getCommandName().equals("help")) {
        if (sub.getCommandSpec().findOption("--version") != null
            || sub.getUsageMessage(CommandLine.Help.Ansi.OFF).contains("--version")) {
          with.add(sub.getCommandSpec().qualifiedName(" "));
        }
        withVersion(sub, with);
      }
    }
  }

  /** Output that cannot be written (stdout on a full device) is an error, not a silent exit 0. */
  @Test
  void outputThatCannotBeWrittenIsAnError() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isWritable(Path.of("/dev/full")),
        "needs /dev/full (Linux)");
    Path store = tmp.resolve("store");
    Cli.raw("init", "--store", store.toString()).ok();
    Path src = tmp.resolve("src");
    java.nio.file.Files.createDirectories(src);
    java.nio.file.Files.writeString(src.resolve("notes.txt"), "some notes\n".repeat(1000));
    Cli.raw("push", src.toString(), "m", "--store", store.toString()).ok();
    for (String[] args : new String[][] {{"--help"}, {"--version"},
        {"cat", "m//notes.txt", "--store", store.toString()}}) {
      java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of(
          Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:+UseSerialGC", "-cp",
          System.getProperty("java.class.path"), FerryCli.class.getName()));
      cmd.addAll(java.util.List.of(args));
      Process p = new ProcessBuilder(cmd).redirectOutput(new java.io.File("/dev/full")).start();
      String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
      assertThat(p.exitValue()).as(String.join(" ", args)).isEqualTo(1);
      assertThat(err).as(String.join(" ", args)).contains("could not all be written to stdout");
    }
    // stdout closed (>&-): cat said only "Bad file descriptor", and the others blamed a full disk
    org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isExecutable(Path.of("/bin/sh")));
    for (String[] args : new String[][] {{"cat", "m//notes.txt", "--store", store.toString(),
        "stdout is not open for writing (closed"}, {"ls", "--store", store.toString(), "or stdout closed?"}}) {
      java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of("/bin/sh", "-c",
          "exec \"$0\" \"$@\" >&-", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), FerryCli.class.getName()));
      cmd.addAll(java.util.List.of(args).subList(0, args.length - 1));
      Process p = new ProcessBuilder(cmd).start();
      String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
      assertThat(p.exitValue()).as(args[0] + " >&-").isEqualTo(1);
      assertThat(err).as(args[0] + " >&-").contains(args[args.length - 1]).doesNotContain("\tat ");
    }
  }

  /** A store of an unknown scheme named by $FERRY_STORE is named in the error; the error's own making failed (NPE). */
  @Test
  void anUnknownSchemeInTheEnvironmentIsNamed() throws Exception {
    ProcessBuilder b = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), FerryCli.class.getName(), "ls");
    b.environment().put("FERRY_STORE", "foo://host/x");
    b.environment().put("FERRY_CONFIG", "");
    b.environment().put("XDG_CONFIG_HOME", tmp.toString());
    Process p = b.redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
    assertThat(p.exitValue()).isEqualTo(1);
    assertThat(err.strip()).isEqualTo("ferry ls: no backend for store 'foo://host/x': scheme 'foo' is not supported"
        + " here (is its module on the class path?)");
  }

  @Test
  void onlyTheNamedSubcommandIsBuiltAndEveryOneForHelpOrAnUnknownName() {
    assertThat(FerryCli.commandLineFor(new String[] {"--store", "x", "--cache", "y", "ls", "--json"})
        .getSubcommands()).containsOnlyKeys("ls");
    assertThat(FerryCli.commandLineFor(new String[] {"--store=x", "pull", "a", "b"}).getSubcommands())
        .containsOnlyKeys("pull");
    assertThat(FerryCli.commandLineFor(new String[] {"--version"}).getSubcommands()).isEmpty();
    assertThat(FerryCli.commandLineFor(new String[] {"help", "push"}).getSubcommands())
        .containsKeys("help", "push", "pull", "ls", "derive");
    assertThat(FerryCli.commandLineFor(new String[] {"pusj"}).getSubcommands()).containsKeys("push", "pull");
    assertThat(FerryCli.commandLineFor(new String[] {}).getSubcommands())
        .containsOnlyKeys(FerryCli.commandLine().getSubcommands().keySet());
    // an option value that happens to be a command's name is not taken for the command
    assertThat(FerryCli.commandLineFor(new String[] {"--store", "ls", "push", "d", "m"}).getSubcommands())
        .containsOnlyKeys("push");
  }

  @Test
  void helpListsEveryCommandAndUsageErrorsStillSuggest() {
    Cli.Result r = Cli.raw("--help").ok();
    for (String name : FerryCli.commandLine().getSubcommands().keySet()) {
      assertThat(r.out()).contains("  " + name + " ");
    }
  }
}
