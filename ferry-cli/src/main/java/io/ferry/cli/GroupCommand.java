package io.ferry.cli;

import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * A command that only groups subcommands ({@code ferry index}, {@code ferry token}...): {@code --help} prints its usage
 * and exits 0; named without a subcommand, it is a usage error that names the subcommands to choose from, exit
 * {@link FerryCli#USAGE}.
 */
abstract class GroupCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help, then exit.")
  boolean help;

  @Override
  public final Integer call() {
    // the whole usage on stderr buried what was missing under forty lines
    throw new CommandLine.ParameterException(spec.commandLine(), missing(spec.commandLine()));
  }

  /**
   * What a group named alone is missing: "derive needs a subcommand: cast, quantize, dequantize or prune"; for
   * {@code ferry} itself, which has too many to list, where they are listed.
   */
  static String missing(CommandLine group) {
    return group.getParent() == null ? "no command given (ferry --help lists them)"
        : group.getCommandSpec().qualifiedName(" ").substring("ferry ".length()) + " needs a subcommand: "
            + choices(group);
  }

  /** The group's subcommands, aliases left out: "cast, quantize, dequantize or prune". */
  static String choices(CommandLine group) {
    List<String> names = group.getSubcommands().entrySet().stream()
        .filter(e -> e.getKey().equals(e.getValue().getCommandName())).map(java.util.Map.Entry::getKey).toList();
    return names.size() < 2 ? String.join("", names)
        : String.join(", ", names.subList(0, names.size() - 1)) + " or " + names.get(names.size() - 1);
  }
}
