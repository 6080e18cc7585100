package io.ferry.cli;

import io.ferry.Ferry;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code ferry} command: a git-like root over Ferry's subcommands. */
@Command(name = "ferry", mixinStandardHelpOptions = true, versionProvider = FerryCli.Version.class,
    description = "Stores, versions and loads AI model weights: content-addressed, deduplicated, verified.",
    subcommands = {CommandLine.HelpCommand.class, InitCommand.class, PushCommand.class, PullCommand.class,
        LsCommand.class, LogCommand.class, ShowCommand.class, DiffCommand.class, TagCommand.class,
        RollbackCommand.class, CatCommand.class, CopyCommand.class, VerifyCommand.class, GcCommand.class, StatsCommand.class,
        DeriveCommand.class, LineageCommand.class, WarmCommand.class, CacheCommand.class},
    footerHeading = "%nStores:%n",
    footer = {"  --store URI on any command, else $FERRY_STORE (a path or URI), else ~/.ferry/store.",
        "  URIs: file:/path (or a plain path), and hdfs://, webhdfs://, s3:// where their modules are installed.",
        "  --cache redis://host:port (or redis-cluster://h1:p1,h2:p2), else $FERRY_CACHE: reads go through Redis.",
        "",
        "Refs: name (the head), name:tag, name@<version id prefix>; a file inside: name:tag//config.json",
        "",
        "Exit codes:",
        "  0  ok",
        "  1  bad input, or something not found",
        "  2  usage error",
        "  3  integrity failure (a checksum or hash did not match, an object is missing)",
        "  4  conflict (a compare-and-swap lost: the ref moved meanwhile)"})
public final class FerryCli {
  /** Exit code of usage errors. */
  public static final int USAGE = 2;

  /** {@code ferry --store X push ...} works like {@code ferry push --store X ...}. */
  @picocli.CommandLine.Option(names = "--store", paramLabel = "URI",
      description = "Store URI or path for the subcommand (default: $FERRY_STORE, else ~/.ferry/store).")
  String store;

  @picocli.CommandLine.Option(names = "--s3-endpoint", paramLabel = "URL",
      description = "Endpoint of an S3-compatible store, for the subcommand.")
  String s3Endpoint;

  /** {@code ferry --cache X pull ...} works like {@code ferry pull --cache X ...}. */
  @picocli.CommandLine.Option(names = "--cache", paramLabel = "URI",
      description = "Redis cache for the subcommand's reads (default: $FERRY_CACHE, else none).")
  String cache;

  /** Builds the command line with Ferry's exit codes and error handling; tests call this. */
  public static CommandLine commandLine() {
    CommandLine cmd = new CommandLine(new FerryCli());
    cmd.setExitCodeExceptionMapper(t -> 1);
    cmd.setParameterExceptionHandler((ex, args) -> {
      PrintWriter err = ex.getCommandLine().getErr();
      err.println("ferry: " + ex.getMessage());
      err.println("Try '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help'.");
      return USAGE;
    });
    return cmd;
  }

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  /** Prints Ferry's version. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {"ferry " + Ferry.VERSION, "Java " + System.getProperty("java.version")};
    }
  }
}
