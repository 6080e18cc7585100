package io.ferry.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code ferry help [COMMAND [SUBCOMMAND]]}: the help of the command named, however deep ({@code ferry help derive
 * cast}); picocli's help command took only the first name and printed {@code derive}'s help for that line. A name that
 * is no command there is a usage error naming it and the choices.
 */
@Command(name = "help", helpCommand = true, description = "Show the help of a command: ferry help derive cast.")
final class HelpCommand implements CommandLine.IHelpCommandInitializable2, Runnable {
  @Parameters(paramLabel = "COMMAND", arity = "0..*", description = "The command, and subcommand, to show help for.")
  List<String> names = new ArrayList<>();

  @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help, then exit.")
  boolean help;

  private CommandLine self;
  private CommandLine.Help.ColorScheme colors;
  private PrintWriter out;

  @Override
  public void init(CommandLine helpCommandLine, CommandLine.Help.ColorScheme colorScheme, PrintWriter outWriter,
      PrintWriter errWriter) {
    self = helpCommandLine;
    colors = colorScheme;
    out = outWriter;
  }

  @Override
  public void run() {
    CommandLine at = self.getParent();
    for (String name : names) {
      CommandLine sub = at.getSubcommands().get(name);
      if (sub == null) {
        throw new CommandLine.ParameterException(self, notFound(at, name));
      }
      at = sub;
    }
    at.usage(out, colors);
  }

  /** The error for a name that is no subcommand of {@code at}. */
  private static String notFound(CommandLine at, String name) {
    if (at.getParent() == null) {
      return "'" + name + "' is not a ferry command (ferry --help lists them)";
    }
    String q = at.getCommandSpec().qualifiedName(" ").substring("ferry ".length());
    return at.getSubcommands().isEmpty() ? q + " has no subcommands, so no help for '" + name + "'"
        : q + " has no subcommand '" + name + "': " + GroupCommand.choices(at);
  }
}
