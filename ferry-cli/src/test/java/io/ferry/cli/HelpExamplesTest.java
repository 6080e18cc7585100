package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * Every example in every help text can be copied from an 80-column terminal: picocli never wraps an example line
 * (which would split tokens such as {@code s3://models/ferry}), and an example longer than a line is continued with a
 * backslash, as a shell reads it. Every command that runs (not a group of subcommands) has an example, as the README
 * promises.
 */
class HelpExamplesTest {
  @Test
  void examplesAreNeverWrapped() {
    List<String> checked = new ArrayList<>();
    check(FerryCli.commandLine(), checked);
    assertThat(checked).as("examples found").hasSizeGreaterThan(30);
  }

  @Test
  void everyCommandThatRunsHasAnExample() {
    List<String> without = new ArrayList<>();
    withoutExample(FerryCli.commandLine(), without);
    assertThat(without).as("commands whose --help shows no example").isEmpty();
  }

  /**
   * copy's help says which of the target's refs it moves: it said "moves the target's head and tag", while a head on
   * another history is refused or left, and a tag moves whatever version it named.
   */
  @Test
  void copysHelpSaysWhenTheHeadAndTheTagMove() {
    String usage = FerryCli.commandLine().getSubcommands().get("copy").getUsageMessage(CommandLine.Help.Ansi.OFF)
        .replaceAll("\\s+", " ");
    assertThat(usage).contains("head if it is absent or behind the version (else exit 4")
        .contains("MODEL:TAG whatever version it named there").contains("rollback of MODEL:TAG in the target");
  }

  /**
   * Every option names its value as the descriptions do, in capitals ({@code -n, --max-count=N}, {@code -m TEXT}),
   * never with picocli's default label made from the field's name ({@code --max-count=<limit>}).
   */
  @Test
  void everyOptionValueHasALabel() {
    List<String> unlabelled = new ArrayList<>();
    unlabelled(FerryCli.commandLine(), unlabelled);
    assertThat(unlabelled).as("options whose value shows as <field>").isEmpty();
  }

  private static void unlabelled(CommandLine cmd, List<String> unlabelled) {
    cmd.getCommandSpec().options().stream()
        .filter(o -> !o.hidden() && o.arity().max() > 0 && o.paramLabel().startsWith("<"))
        .forEach(o -> unlabelled.add(cmd.getCommandSpec().qualifiedName(" ") + " " + o.longestName() + "="
            + o.paramLabel()));
    for (CommandLine sub : cmd.getSubcommands().values()) {
      if (sub != cmd) {
        unlabelled(sub, unlabelled);
      }
    }
  }

  private static void withoutExample(CommandLine cmd, List<String> without) {
    String name = cmd.getCommandSpec().qualifiedName(" ");
    boolean group = cmd.getSubcommands().values().stream().anyMatch(sub -> sub != cmd && !sub.getCommandName()
        .equals("help"));
    if (!group && !cmd.getCommandName().equals("help")
        && !cmd.getUsageMessage(CommandLine.Help.Ansi.OFF).lines().anyMatch(l -> l.matches("Examples?:"))) {
      without.add(name);
    }
    for (CommandLine sub : cmd.getSubcommands().values()) {
      if (sub != cmd && !sub.getCommandName().equals("help")) {
        withoutExample(sub, without);
      }
    }
  }

  private static void check(CommandLine cmd, List<String> checked) {
    String usage = cmd.getUsageMessage(CommandLine.Help.Ansi.OFF);
    for (String line : usage.split("\\R")) {
      assertThat(line.length()).as("%s: help line longer than 80 columns: %s", cmd.getCommandName(), line)
          .isLessThanOrEqualTo(80);
    }
    for (String f : cmd.getCommandSpec().usageMessage().footer()) {
      for (String line : f.split("%n")) {
        String example = line.stripTrailing();
        // an example may set environment variables first: FERRY_CACHE=... ferry warm ...
        String command = example.strip();
        boolean env = command.matches("[A-Z][A-Z0-9_]*=\\S*(\\s.*)?");
        if (!env && !command.startsWith("ferry ") && !command.startsWith("source <(")) {
          continue;
        }
        assertThat(usage.lines().map(String::stripTrailing).toList()).as("%s: example wrapped by picocli",
            cmd.getCommandName()).contains(example);
        checked.add(example);
      }
    }
    List<String> texts = new ArrayList<>(List.of(cmd.getCommandSpec().usageMessage().footer()));
    texts.addAll(List.of(cmd.getCommandSpec().usageMessage().description()));
    cmd.getCommandSpec().options().forEach(o -> texts.addAll(List.of(o.description())));
    List<String> words = new ArrayList<>();
    for (String line : usage.split("\\R")) {
      words.addAll(List.of(line.strip().split("\\s+")));
    }
    for (String t : texts) {
      for (String word : t.replace("%n", "\n").split("\\s+")) {
        if (word.length() > 1 && !word.contains("${") && !word.contains("%")) {
          assertThat(words).as("%s: '%s' split across lines in its help", cmd.getCommandName(), word).contains(word);
        }
      }
    }
    for (CommandLine sub : cmd.getSubcommands().values()) {
      if (sub != cmd) {
        check(sub, checked);
      }
    }
  }
}
