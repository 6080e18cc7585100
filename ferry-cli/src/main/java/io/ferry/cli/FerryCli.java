package io.ferry.cli;

import io.ferry.Ferry;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code ferry} command: a git-like root over Ferry's subcommands. */
@Command(name = "ferry", mixinStandardHelpOptions = true, versionProvider = FerryCli.Version.class,
    description = "Stores, versions and loads AI model weights: content-addressed, deduplicated, verified.",
    footerHeading = "%nStores:%n",
    footer = {"  --store URI on any command, else $FERRY_STORE (a path or URI), else the",
        "  config file's store, else ~/.ferry/store. URIs: file:/path (or a plain path),",
        "  hdfs://, webhdfs://, s3://, cassandra:// (where their modules are installed);",
        "  http(s)://host:port for a Ferry server (ferry serve), or several:",
        "  http://a:8080,http://b:8080 (token: --token or $FERRY_TOKEN).",
        "  --cache redis://host:port (or redis-cluster://h1:p1,h2:p2), else $FERRY_CACHE:",
        "  reads go through Redis.",
        "  Config file: $XDG_CONFIG_HOME/ferry/config.toml or ~/.config/ferry/config.toml",
        "  (keys store, author, parallelism, cache; flags and environment win over it).",
        "",
        "Refs: name (the head), name:tag, name@<version id prefix>;",
        "  N versions back in its log: name~N (name~1: the head's parent);",
        "  a file inside: name:tag//config.json",
        "",
        "Exit codes:",
        "  0  ok",
        "  1  bad input (a file, or a model or tag name the naming rules refuse), or",
        "     something not found",
        "  2  usage error (unknown command or option, missing or empty argument, an",
        "     option's value out of its range)",
        "  3  integrity failure (a checksum or hash did not match, an object is missing)",
        "  4  conflict (a compare-and-swap lost: the ref moved meanwhile)"})
public final class FerryCli {
  /** Exit code of usage errors. */
  public static final int USAGE = 2;

  /** {@code ferry --store X push ...} works like {@code ferry push --store X ...}. */
  @picocli.CommandLine.Option(names = "--store", paramLabel = "URI",
      description = "Store URI or path for the subcommand (default: $FERRY_STORE, else the config file's"
          + " store, else the directory .ferry/store in your home).")
  String store;

  @picocli.CommandLine.Option(names = "--s3-endpoint", paramLabel = "URL",
      description = "Endpoint of an S3-compatible store, for the subcommand.")
  String s3Endpoint;

  /** {@code ferry --token X pull ...} works like {@code ferry pull --token X ...}. */
  @picocli.CommandLine.Option(names = "--token", paramLabel = "TOKEN",
      description = "Bearer token for http(s):// stores, for the subcommand (default: $FERRY_TOKEN).")
  String token;

  /** {@code ferry --cache X pull ...} works like {@code ferry pull --cache X ...}. */
  @picocli.CommandLine.Option(names = "--cache", paramLabel = "URI",
      description = "Redis cache for the subcommand's reads (default: $FERRY_CACHE, else the config"
          + " file's, else none).")
  String cache;

  /** {@code ferry --config FILE ...}: the config file to read instead of the default one. */
  @picocli.CommandLine.Option(names = "--config", paramLabel = "FILE",
      description = "Config file to read (default: $FERRY_CONFIG, else the one named under Stores below).")
  String config;

  /**
   * The subcommands by name, in the order help lists them. Only the one a command line names is built (picocli reads
   * a command's annotations when it is added, and building all of them costs more than a short command's own work).
   */
  private static final Map<String, Class<?>> SUBCOMMANDS = subcommands();

  /** Options of the root that take a value, so the subcommand's name is found after them. */
  private static final Set<String> ROOT_OPTIONS_WITH_VALUE = Set.of("--store", "--s3-endpoint", "--cache", "--token",
      "--config");

  private static Map<String, Class<?>> subcommands() {
    Map<String, Class<?>> m = new LinkedHashMap<>();
    m.put("help", HelpCommand.class);
    m.put("init", InitCommand.class);
    m.put("push", PushCommand.class);
    m.put("pull", PullCommand.class);
    m.put("ls", LsCommand.class);
    m.put("log", LogCommand.class);
    m.put("show", ShowCommand.class);
    m.put("diff", DiffCommand.class);
    m.put("tag", TagCommand.class);
    m.put("rollback", RollbackCommand.class);
    m.put("reflog", ReflogCommand.class);
    m.put("rm", RmCommand.class);
    m.put("mv", MvCommand.class);
    m.put("cat", CatCommand.class);
    m.put("copy", CopyCommand.class);
    m.put("verify", VerifyCommand.class);
    m.put("gc", GcCommand.class);
    m.put("index", IndexCommand.class);
    m.put("stats", StatsCommand.class);
    m.put("derive", DeriveCommand.class);
    m.put("lineage", LineageCommand.class);
    m.put("warm", WarmCommand.class);
    m.put("cache", CacheCommand.class);
    m.put("completion", CompletionCommand.class);
    m.put("checkpoint", CheckpointCommand.class);
    m.put("serve", ServeCommand.class);
    m.put("token", TokenCommand.class);
    return m;
  }

  /** Builds the command line with every subcommand, Ferry's exit codes and error handling; tests call this. */
  public static CommandLine commandLine() {
    return commandLine(SUBCOMMANDS.keySet());
  }

  /**
   * Builds the command line for these arguments: with only the subcommand they name when they name one (other than
   * {@code help}), else with all of them (for help, usage errors and their suggestions); with none for {@code --version}.
   */
  static CommandLine commandLineFor(String[] args) {
    String name = subcommandNamed(args);
    if (name == null && args.length > 0 && Arrays.stream(args).allMatch(a -> a.equals("-V") || a.equals("--version"))) {
      return commandLine(Set.of());
    }
    return commandLine(name == null || name.equals("help") ? SUBCOMMANDS.keySet() : Set.of(name));
  }

  /** The subcommand the arguments name after the root's options, or null when they name none that exists. */
  static String subcommandNamed(String[] args) {
    int i = 0;
    while (i < args.length && args[i].startsWith("-")) {
      i += ROOT_OPTIONS_WITH_VALUE.contains(args[i]) ? 2 : 1;
    }
    return i < args.length && SUBCOMMANDS.containsKey(args[i]) ? args[i] : null;
  }

  private static CommandLine commandLine(Iterable<String> names) {
    CommandLine cmd = new CommandLine(new FerryCli(), new Factory());
    for (String name : names) {
      cmd.addSubcommand(name, SUBCOMMANDS.get(name));
    }
    // after the subcommands: they reach them
    cmd.registerConverter(java.time.Duration.class, new DurationConverter());
    cmd.registerConverter(java.nio.file.Path.class, new PathConverter());
    cmd.setExitCodeExceptionMapper(new ExitCodes());
    cmd.setParameterExceptionHandler(new UsageErrors());
    return cmd;
  }

  /*
   * The two handlers are classes, not lambdas: a lambda of picocli's interfaces (Java 5 class files) makes the
   * class-data archive leave them out, and loading them from picocli's jar makes the JVM open the jars before it
   * on the class path, about 30 ms of every command's start-up.
   */

  /**
   * Makes the commands and their mixins through their declared no-argument constructors, as picocli's default factory
   * does after it has first tried and failed to call them as public ones (Ferry's commands are package-private): one
   * exception fewer, with its stack trace, per class of every command line. Interfaces (collections of option values)
   * are left to picocli's factory.
   */
  static final class Factory implements CommandLine.IFactory {
    private final CommandLine.IFactory fallback = CommandLine.defaultFactory();

    @Override
    public <K> K create(Class<K> cls) throws Exception {
      if (cls.isInterface()) {
        return fallback.create(cls);
      }
      java.lang.reflect.Constructor<K> c = cls.getDeclaredConstructor();
      c.setAccessible(true);
      return c.newInstance();
    }
  }

  /** Exit code 1 for an exception a command throws (its message is printed by the command). */
  static final class ExitCodes implements CommandLine.IExitCodeExceptionMapper {
    @Override
    public int getExitCode(Throwable t) {
      return 1;
    }
  }

  /** A usage error: its message, suggestions and a pointer to help on stderr (or a JSON error), exit code 2. */
  static final class UsageErrors implements CommandLine.IParameterExceptionHandler {
    @Override
    public int handleParseException(CommandLine.ParameterException ex, String[] args) {
      PrintWriter err = ex.getCommandLine().getErr();
      String message = message(ex);
      if (Arrays.asList(args).contains("--json")) {
        err.println(JsonOut.error(USAGE, "usage", message, null, null));
        return USAGE;
      }
      err.println("ferry: " + message);
      printSuggestions(ex, err);
      err.println("Try '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help'.");
      return USAGE;
    }
  }

  /** picocli's message for an option's value that is not a number of its Java type. */
  private static final java.util.regex.Pattern NUMBER_ERROR = java.util.regex.Pattern.compile(
      "Invalid value for option '(\\S+)': '(.*)' is not an? (int|long|double|float)", java.util.regex.Pattern.DOTALL);

  /** {@link FiniteNumberConverter}'s message for a number beyond a double's range, as picocli words it. */
  private static final java.util.regex.Pattern RANGE_ERROR = java.util.regex.Pattern.compile(
      "Invalid value for option '(\\S+)': ('.*' is (beyond the range|too small) .*)", java.util.regex.Pattern.DOTALL);

  /** picocli's message for a map option's value without '=' (its "option option" included). */
  private static final java.util.regex.Pattern KEY_VALUE_ERROR = java.util.regex.Pattern.compile(
      "Value for option option '(\\S+)' \\(([^)]*)\\) should be in KEY=VALUE format but was (.*)",
      java.util.regex.Pattern.DOTALL);

  /**
   * The error's message; picocli's own for a map option's value without '=' ("Value for option option '--meta'
   * (KEY=VALUE) should be in KEY=VALUE format but was x") is said as Ferry's other usage errors are, and the root's
   * {@code --config} given after a command (which picocli calls an unknown option) says where it goes, an unknown
   * command is named as one (picocli said "Unmatched arguments from index 0: 'pusj', 'x', 'y'"), and {@code ferry}
   * named alone says that a command is missing and where they are listed, a group's unknown subcommand is named
   * with the group's choices, and an argument more than a command takes is named with the arguments it takes.
   */
  static String message(CommandLine.ParameterException ex) {
    if ("Missing required subcommand".equals(ex.getMessage())) {
      return GroupCommand.missing(ex.getCommandLine());
    }
    if (ex instanceof CommandLine.UnmatchedArgumentException u && ex.getCommandLine().getParent() == null
        && !u.getUnmatched().isEmpty() && !u.getUnmatched().get(0).startsWith("-")) {
      return "'" + u.getUnmatched().get(0) + "' is not a ferry command (ferry --help lists them)";
    }
    if (ex instanceof CommandLine.UnmatchedArgumentException u && ex.getCommandLine().getParent() != null
        && !ex.getCommandLine().getSubcommands().isEmpty() && !u.getUnmatched().isEmpty()
        && !u.getUnmatched().get(0).startsWith("-")) {
      // picocli said "Unmatched argument at index 1: 'status'" (and with --json, that the group has no --json)
      return ex.getCommandLine().getCommandSpec().qualifiedName(" ").substring("ferry ".length())
          + " has no subcommand '" + u.getUnmatched().get(0) + "': " + GroupCommand.choices(ex.getCommandLine());
    }
    if (ex instanceof CommandLine.UnmatchedArgumentException u && ex.getCommandLine().getParent() != null
        && ex.getCommandLine().getSubcommands().isEmpty() && !u.getUnmatched().isEmpty()
        && !u.getUnmatched().get(0).startsWith("-") && unknownOption(ex) == null) {
      // picocli said "Unmatched argument at index 3: 'f69d...'" for one argument more than the command takes
      java.util.List<String> labels = ex.getCommandLine().getCommandSpec().positionalParameters().stream()
          .map(p -> p.arity().min() == 0 ? "[" + p.paramLabel() + "]" : p.paramLabel()).toList();
      return ex.getCommandLine().getCommandSpec().qualifiedName(" ").substring("ferry ".length()) + " takes "
          + (labels.isEmpty() ? "no arguments" : String.join(" ", labels)) + ": '" + u.getUnmatched().get(0)
          + "' is one too many";
    }
    if (ex instanceof CommandLine.UnmatchedArgumentException u && ex.getCommandLine().getParent() != null
        && u.getUnmatched().stream().anyMatch(a -> a.equals("--config") || a.startsWith("--config="))) {
      return "--config goes before the command: ferry --config FILE "
          + ex.getCommandLine().getCommandSpec().qualifiedName(" ").substring("ferry ".length()) + " ...";
    }
    String unknown = unknownOption(ex);
    if (unknown != null) {
      java.util.List<String> near = io.ferry.repo.Suggestions.near(unknown,
          ex.getCommandLine().getCommandSpec().optionsMap().keySet().stream().filter(o -> o.startsWith("--")).toList());
      return ex.getCommandLine().getCommandSpec().qualifiedName(" ").substring("ferry ".length()) + " has no option '"
          + unknown + "'" + (near.isEmpty() ? "" : " (did you mean " + String.join(" or ", near) + "?)");
    }
    String m = String.valueOf(ex.getMessage());
    java.util.regex.Matcher number = NUMBER_ERROR.matcher(m);
    if (number.matches()) {
      String what = switch (number.group(3)) {
        case "int" -> "a whole number up to " + Integer.MAX_VALUE;
        case "long" -> "a whole number up to " + Long.MAX_VALUE;
        default -> "a number";
      };
      return number.group(1) + " '" + number.group(2) + "' is not " + what;
    }
    java.util.regex.Matcher range = RANGE_ERROR.matcher(m);
    if (range.matches()) {
      return range.group(1) + " " + range.group(2);
    }
    java.util.regex.Matcher kv = KEY_VALUE_ERROR.matcher(m);
    return kv.matches() ? kv.group(1) + " " + kv.group(3) + ": expected " + kv.group(2) + " (a '=' between the key and"
        + " its value)" : m;
  }

  /**
   * The first word of an unmatched-argument error that looks like a long option of a subcommand but is none, else
   * null: picocli's "Unknown options: '--exlude', 'x'" took the option's value for a second unknown option.
   */
  private static String unknownOption(CommandLine.ParameterException ex) {
    if (ex.getCommandLine().getParent() == null) {
      return null;
    }
    // picocli checks required options before it reports unmatched arguments: "derive cast m --dtyp f16 --as m:x"
    // said --to was missing, not that --dtyp (meant for --to, say) is no option
    java.util.List<String> unmatched = ex instanceof CommandLine.UnmatchedArgumentException u ? u.getUnmatched()
        : ex instanceof CommandLine.MissingParameterException ? ex.getCommandLine().getUnmatchedArguments() : null;
    if (unmatched == null) {
      return null;
    }
    return unmatched.stream().filter(a -> a.startsWith("--") && a.length() > 2)
        .map(a -> a.contains("=") ? a.substring(0, a.indexOf('=')) : a)
        .filter(a -> ex.getCommandLine().getCommandSpec().findOption(a) == null).findFirst().orElse(null);
  }

  /**
   * "Did you mean: ferry log?" for an unknown subcommand (by edit distance over every subcommand's name, which an
   * unknown name has registered) and nothing when no command is near, else picocli's suggestions (options of the
   * subcommand).
   */
  private static void printSuggestions(CommandLine.ParameterException ex, PrintWriter err) {
    if (ex instanceof CommandLine.UnmatchedArgumentException u && ex.getCommandLine().getCommandSpec().root()
        == ex.getCommandLine().getCommandSpec() && !u.getUnmatched().isEmpty()
        && !u.getUnmatched().get(0).startsWith("-")) {
      java.util.List<String> near = io.ferry.repo.Suggestions.near(u.getUnmatched().get(0), SUBCOMMANDS.keySet());
      if (!near.isEmpty()) {
        err.println("Did you mean: ferry " + String.join(" or ferry ", near) + "?");
      }
      return; // picocli's guesses for a name no command is near ('nosuch': cache or checkpoint) mislead
    }
    if (unknownOption(ex) == null) {
      CommandLine.UnmatchedArgumentException.printSuggestions(ex, err);
    }
  }

  public static void main(String[] args) {
    if (args.length == 1 && (args[0].equals("--version") || args[0].equals("-V"))) {
      // the answer is two lines; building even the root's picocli model (annotations read by reflection, their
      // proxies, its converters) would take about half of this command's start-up
      for (String line : new Version().getVersion()) {
        System.out.println(line);
      }
      System.out.flush();
      if (System.out.checkError() && !stdoutIsPipe()) {
        System.err.println(OUTPUT_LOST);
        System.exit(1);
      }
      System.exit(0);
    }
    // picocli's default factory looks for Groovy's Closure class once; with no such class, that lookup searches every
    // jar on the class path (about 45 ms of every command's start-up). Ferry's commands are not Groovy scripts.
    System.setProperty("picocli.disable.closures", "true");
    // likewise SLF4J finds its provider by a service lookup in every jar (about 80 ms) unless it is named; the CLI
    // ships the no-op one (Ferry reports to the user itself), and a user's -Dslf4j.provider still wins
    if (System.getProperty("slf4j.provider") == null) {
      System.setProperty("slf4j.provider", "org.slf4j.nop.NOPServiceProvider");
      if (System.getProperty("slf4j.internal.verbosity") == null) {
        System.setProperty("slf4j.internal.verbosity", "WARN"); // else it says on stderr that it was named
      }
    }
    CommandLine cmd = commandLineFor(args);
    int code = cmd.execute(args);
    System.exit(outputLost(cmd) && code == 0 ? 1 : code);
  }

  /**
   * Whether some of what the command printed never reached stdout: Java's print streams swallow write errors, so
   * without this check {@code ferry log > /dev/full} lost its output and exited 0. Says so on stderr. A pipe whose
   * reader has gone ({@code ferry log | head -1}) is not an error, as for the shell's own tools, which end quietly
   * there.
   */
  static boolean outputLost(CommandLine cmd) {
    cmd.getOut().flush();
    if (!cmd.getOut().checkError() && !System.out.checkError() || stdoutIsPipe()) {
      return false;
    }
    System.err.println(OUTPUT_LOST);
    return true;
  }

  private static final String OUTPUT_LOST = "ferry: the output could not all be written to stdout (is the disk full,"
      + " or stdout closed?)";

  /** Whether stdout is a pipe (Linux: its descriptor links to {@code pipe:[...]}); false where that cannot be told. */
  private static boolean stdoutIsPipe() {
    try {
      return java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd/1")).toString()
          .startsWith("pipe:");
    } catch (java.io.IOException | UnsupportedOperationException | SecurityException e) {
      return false;
    }
  }

  /** Prints Ferry's version. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {"ferry " + Ferry.VERSION, "Java " + System.getProperty("java.version")};
    }
  }
}
