package io.ferry.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * A command that only groups subcommands ({@code ferry index}, {@code ferry token}...): {@code --help} prints its usage
 * and exits 0; named without a subcommand, it prints the usage to stderr and exits with {@link FerryCli#USAGE}.
 */
abstract class GroupCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help, then exit.")
  boolean help;

  @Override
  public final Integer call() {
    spec.commandLine().usage(spec.commandLine().getErr());
    return FerryCli.USAGE;
  }
}
