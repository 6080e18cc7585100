package io.ferry.cli;

import java.util.concurrent.Callable;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "completion",
    description = "Print a shell completion script for ferry: its subcommands and their options.",
    footer = {"%nExamples:%n  source <(ferry completion bash)", "  ferry completion bash > /etc/bash_completion.d/ferry",
        "  source <(ferry completion zsh)   # zsh runs bash's script through bashcompinit",
        "  ferry completion fish | source"})
final class CompletionCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "SHELL", description = "bash, zsh or fish.")
  String shell;

  @Spec CommandSpec spec;

  @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and an example, then exit.")
  boolean help;

  @Override
  public Integer call() {
    if (!shell.equals("bash") && !shell.equals("zsh") && !shell.equals("fish")) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "completion for '" + shell + "': the shells are bash, zsh and fish");
    }
    // every subcommand, whichever were built for this command line
    String script = shell.equals("fish") ? FishCompletion.script("ferry", FerryCli.commandLine())
        : AutoComplete.bash("ferry", FerryCli.commandLine());
    if (shell.equals("zsh")) {
      spec.commandLine().getOut().println("autoload -U +X compinit && compinit");
      spec.commandLine().getOut().println("autoload -U +X bashcompinit && bashcompinit");
    }
    spec.commandLine().getOut().print(script);
    spec.commandLine().getOut().flush();
    return 0;
  }
}
