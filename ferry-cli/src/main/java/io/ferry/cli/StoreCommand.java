package io.ferry.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.Ferry;
import io.ferry.error.FerryException;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.store.redis.CacheListener;
import io.ferry.store.redis.CacheSettings;
import io.ferry.store.redis.RedisCache;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Base of every subcommand: the common options, opening the store, and mapping failures to exit codes with a
 * one-line message (a stack trace only with {@code -v}).
 */
abstract class StoreCommand implements Callable<Integer> {
  /** Created on first use: building an ObjectMapper costs a few hundred classes that --help and --version never need. */
  private static final class Json {
    static final ObjectMapper MAPPER = io.ferry.limits.Limits.jsonMapper().enable(SerializationFeature.INDENT_OUTPUT);
  }

  static ObjectMapper json() {
    return Json.MAPPER;
  }

  @Spec CommandSpec spec;

  /** The root command, whose --store and --s3-endpoint apply when the subcommand names none. */
  private FerryCli root() {
    Object o = spec.root().userObject();
    return o instanceof FerryCli f ? f : null;
  }

  @Option(names = "--store", paramLabel = "URI", description = "Store URI or path (default: $FERRY_STORE, else the config"
      + " file's store, else .ferry/store in the home directory).")
  String store;

  @Option(names = "--s3-endpoint", paramLabel = "URL",
      description = "Endpoint of an S3-compatible store for s3:// stores, e.g. http://127.0.0.1:9000 (default:"
          + " $FERRY_S3_ENDPOINT, else AWS; path-style access is used with an endpoint).")
  String s3Endpoint;

  @Option(names = "--cache", paramLabel = "URI",
      description = {"Read through a Redis cache (default: $FERRY_CACHE, else the config file's, else none):",
          "  redis://host:port", "  rediss://host:port", "  redis-cluster://h1:p1,h2:p2",
          "  redis-sentinel://s1:26379#master",
          "Settings, as --store-option KEY=VALUE:", "  redis.timeout=1s", "  redis.ttl=7d"})
  String cache;

  @Option(names = "--token", paramLabel = "TOKEN",
      description = "Bearer token for an http(s):// store (default: $FERRY_TOKEN); never printed.")
  String token;

  @Option(names = "--json", description = "Print results as JSON (docs/json.md), and errors as one JSON"
      + " object on stderr.")
  boolean json;

  @Option(names = {"-v", "--verbose"}, description = "Print stack traces of errors.")
  boolean verbose;

  @Option(names = "--store-option", paramLabel = "KEY=VALUE",
      description = "A backend setting, e.g. dfs.replication=3 (repeatable).")
  KeyValues storeSettings = new KeyValues();

  @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and an example, then exit.")
  boolean help;

  @Option(names = "--parallelism", paramLabel = "N", description = "Worker threads (default: $FERRY_PARALLELISM, else"
      + " the config file's, else 2 x cores, at least 4).")
  Integer parallelism;

  @Option(names = {"-q", "--quiet"}, description = "No progress line on stderr (errors are still printed).")
  boolean quiet;

  private Config config;

  /**
   * The config file (docs: README, Configuration), read once per command: the root's {@code --config FILE}, else
   * {@code $FERRY_CONFIG}, else {@code $XDG_CONFIG_HOME/ferry/config.toml}, else {@code ~/.config/ferry/config.toml}.
   * A file named explicitly must exist; a bad one is an error naming the file, line and key.
   */
  Config config() throws IOException {
    if (config == null) {
      String explicit = root() == null ? null : root().config;
      if (explicit != null && explicit.isBlank()) {
        // Path.of("") is the working directory: the error said a config file ' ' was a directory
        throw usage("--config is empty (an unset shell variable?); name a config file, or leave --config out");
      }
      config = explicit != null ? Config.load(java.nio.file.Path.of(explicit), true)
          : Config.load(Config.path(System.getenv(), System.getProperty("user.home")),
              System.getenv("FERRY_CONFIG") != null && !System.getenv("FERRY_CONFIG").isBlank());
    }
    return config;
  }

  /** The config file the root's {@code --config} names, else null. */
  String explicitConfig() {
    return root() == null ? null : root().config;
  }

  /** Worker threads: the option, else {@code $FERRY_PARALLELISM}, else the config file's, else null (the default). */
  Integer parallelism() throws IOException {
    int max = RepositoryOptions.MAX_PARALLELISM;
    if (parallelism != null) {
      if (parallelism < 1 || parallelism > max) {
        throw usage("--parallelism must be 1 to " + max + ", not '" + given("--parallelism") + "'");
      }
      return parallelism;
    }
    String env = System.getenv("FERRY_PARALLELISM");
    if (env != null && !env.isBlank()) {
      try {
        int n = Integer.parseInt(env.trim());
        if (n >= 1 && n <= max) {
          return n;
        }
      } catch (NumberFormatException e) {
        // reported below
      }
      throw new io.ferry.error.InvalidInputException("$FERRY_PARALLELISM must be a whole number from 1 to " + max
          + ", not '" + env + "'");
    }
    return config().parallelism();
  }

  PrintWriter out() {
    return spec.commandLine().getOut();
  }

  /**
   * The last value of {@code option} as the user typed it, else null: errors quote it so, not as its Java value prints
   * ({@code --idle-timeout 0} is not "PT0S" to its user).
   */
  String given(String option) {
    picocli.CommandLine.Model.OptionSpec o = spec.commandLine().getParseResult().matchedOption(option);
    java.util.List<String> v = o == null ? java.util.List.of() : o.originalStringValues();
    return v.isEmpty() ? null : v.get(v.size() - 1);
  }

  /** A usage error of this command (exit 2, with its usage): for an option's value picocli's types cannot refuse. */
  picocli.CommandLine.ParameterException usage(String message) {
    return new picocli.CommandLine.ParameterException(spec.commandLine(), message);
  }

  /** A usage error of this command caused by {@code cause}, whose message it gives. */
  picocli.CommandLine.ParameterException usage(String message, Throwable cause) {
    return new picocli.CommandLine.ParameterException(spec.commandLine(), message, cause);
  }

  PrintWriter err() {
    return spec.commandLine().getErr();
  }

  @Override
  public final Integer call() {
    try {
      refuseEmptyArguments();
      int code = run();
      out().flush();
      return code;
    } catch (picocli.CommandLine.ParameterException e) {
      throw e; // a usage error: picocli's handler prints it and exits with USAGE
    } catch (FerryException e) {
      return fail(e, e.kind().exitCode());
    } catch (IOException | RuntimeException e) {
      return fail(e, 1);
    } catch (OutOfMemoryError e) {
      Integer workers;
      try {
        workers = parallelism();
      } catch (IOException | RuntimeException unreadable) {
        workers = null;
      }
      return fail(new IOException(outOfMemory(e, spec.name(), Runtime.getRuntime().maxMemory(), workers), e), 1);
    } catch (Error e) {
      // a fault of the Java runtime (InternalError, StackOverflowError...): one line, the trace only with -v
      return fail(new IOException("internal error: " + ErrorText.of(e), e), 1);
    }
  }

  /**
   * The one line an out-of-memory error of a command ends with: which memory, and the ways out. Fewer workers
   * ({@code --parallelism 1}) are suggested only when a worker thread ran out while others shared the memory: not when
   * the command's own thread did, which it does alone (a push's scan of a header and its snapshot write, one chunk's
   * work that no worker shares), nor when the command already ran one worker.
   *
   * @param workers the parallelism given (option, environment or config), or null for the default
   */
  static String outOfMemory(OutOfMemoryError e, String command, long maxHeap, Integer workers) {
    String m = String.valueOf(e.getMessage());
    String what = m.contains("direct buffer memory") ? "the JVM's direct memory (-XX:MaxDirectMemorySize, the heap's"
        + " size unless set) is too small for this " + command + " (" + m + ")"
        : "the Java heap (" + (maxHeap >> 20) + " MiB) is too small for this " + command;
    boolean inWorker = false;
    for (StackTraceElement f : e.getStackTrace()) {
      if (f.getClassName().equals("java.util.concurrent.ThreadPoolExecutor$Worker")
          || f.getClassName().equals("java.util.concurrent.ForkJoinWorkerThread")) {
        inWorker = true;
      }
    }
    boolean fewer = inWorker && (workers == null || workers > 1);
    return "out of memory: " + what + "; give Ferry more (FERRY_HEAP=2g, or -Xmx2g in FERRY_JAVA_OPTS)"
        + (fewer ? " or fewer workers (--parallelism 1)" : "");
  }

  /**
   * An argument given empty ({@code ferry mv m "$NEW"} with NEW unset) is a usage error naming it: each command said
   * something of its own ("empty ref", "model name is empty", exit 1) without saying which argument. So is an empty
   * {@code --store}, {@code --cache}, {@code --token}, {@code --s3-endpoint} (here or before the command) or
   * {@code --as}.
   */
  private void refuseEmptyArguments() {
    // likewise the options that name where to work: --store '' said "empty store location" (exit 1) without naming
    // it, and --cache '' and --token '' were taken for not given (the config file's cache, $FERRY_TOKEN)
    for (String name : OPTIONS_NOT_EMPTY) {
      picocli.CommandLine.Model.OptionSpec o = spec.findOption(name);
      picocli.CommandLine.Model.OptionSpec r = root() == null ? null : spec.root().findOption(name);
      if (o != null && "".equals(o.getValue()) || r != null && "".equals(r.getValue())) {
        throw usage(name + " is empty (an unset shell variable?): give a value, or leave " + name + " out");
      }
    }
    if (spec.findOption("--as") != null && "".equals(spec.findOption("--as").getValue())) {
      throw usage("--as is empty (an unset shell variable?): give a value");
    }
    for (picocli.CommandLine.Model.PositionalParamSpec p : spec.positionalParameters()) {
      Object v = p.getValue();
      boolean empty = v instanceof String s ? s.isEmpty()
          : v instanceof java.util.Collection<?> c && c.stream().anyMatch(""::equals);
      if (empty) {
        throw usage(p.paramLabel() + " is empty (an unset shell variable?): give a value");
      }
    }
  }

  /** Options of every command (and of the root) whose value may not be empty. */
  private static final java.util.List<String> OPTIONS_NOT_EMPTY = java.util.List.of("--store", "--cache", "--token",
      "--s3-endpoint");

  /** What errors and warnings start with: the command as typed, {@code ferry push}, {@code ferry checkpoint push}. */
  private String prefix() {
    String q = spec.qualifiedName();
    return q.startsWith("ferry ") ? q : "ferry " + q;
  }

  private int fail(Throwable e, int code) {
    out().flush();
    String msg = ErrorText.of(e) + verifyHint(e);
    if (json) {
      err().println(JsonOut.error(code, JsonOut.kind(e), msg, refArgument(), objectOf(e)).toString());
    } else {
      err().println(prefix() + ": " + ErrorText.printable(msg));
    }
    if (verbose) {
      e.printStackTrace(err());
    }
    err().flush();
    return code;
  }

  abstract int run() throws IOException;

  /**
   * For a damaged or missing object met by any command but verify: where to go next, {@code ferry verify}, which
   * checks every object of the version (or the store) and says how to repair them. Empty for other errors.
   */
  private String verifyHint(Throwable e) {
    if (!(e instanceof io.ferry.error.CorruptObjectException || e instanceof io.ferry.error.MissingObjectException)
        || spec.name().equals("verify") || String.valueOf(e.getMessage()).contains("ferry verify ")) {
      // an error that says which verify to run (copy --verify, of the target) is not given another
      return "";
    }
    // a push's target may not exist yet: the whole store is what to verify then
    String ref = spec.name().equals("push") ? null : refArgument();
    if (ref != null && ref.contains("//")) {
      ref = ref.substring(0, ref.indexOf("//"));
    }
    return "; run '" + verifyCommand(ref) + "' to check every object and see how to repair the store";
  }

  /**
   * The verify command to suggest: {@code ferry verify [REF]}, with the store the user named, else verify would
   * check another (the default store); never one whose URI holds a user and password, which stderr would show.
   */
  protected String verifyCommand(String ref) {
    String named = store != null ? store : root() == null ? null : root().store;
    String where = named == null || named.matches("(?s)[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@.*") ? ""
        : " --store " + (named.matches("[A-Za-z0-9_@%+=:,./-]+") ? named : "\"" + named.replace("\"", "\\\"") + "\"");
    return "ferry verify" + (ref == null || ref.isEmpty() ? "" : " " + ref) + where;
  }

  /**
   * The ref or model the command line gave (the first positional parameter labelled REF, MODEL[@ID], MODEL:TAG, RUN,
   * push's TARGET or OLD), or null; diff's two versions are not one.
   */
  private String refArgument() {
    for (picocli.CommandLine.Model.PositionalParamSpec p : spec.positionalParameters()) {
      String label = p.paramLabel();
      boolean names = label.startsWith("REF") || label.startsWith("MODEL") || label.equals("RUN")
          || label.equals("TARGET") || label.equals("OLD");
      if (names && p.getValue() instanceof String v) {
        return v;
      }
    }
    return null;
  }

  /** The id of the object an error is about, or null. */
  private static String objectOf(Throwable e) {
    if (e instanceof io.ferry.error.CorruptObjectException c && c.id() != null) {
      return c.id().hex();
    }
    if (e instanceof io.ferry.error.MissingObjectException m && m.id() != null) {
      return m.id().hex();
    }
    return null;
  }

  Repository openRepo() throws IOException {
    return openRepo(StoreOptions.existing());
  }

  Repository openRepo(StoreOptions storeOptions) throws IOException {
    RepositoryOptions o = repositoryOptions();
    String location = storeLocation();
    if (location == null) {
      location = System.getenv("FERRY_STORE"); // Ferry.open reads it there (a background checkpoint push's store)
    }
    if (location != null && location.startsWith("cassandra:")) {
      // the Cassandra driver's Netty logs a frame it cannot decode (a port that is not Cassandra's) as a stack trace
      ClientLogs.quiet();
    }
    String cacheUri = cacheUri();
    if (cacheUri == null) {
      return Ferry.open(storeLocation(), storeOptions.withSettings(settings()), o);
    }
    return RedisCache.open(storeLocation(), storeOptions.withSettings(settings()), o, cacheSettings(cacheUri),
        cacheListener());
  }

  /** The cache named on the subcommand, else before it, else {@code $FERRY_CACHE}; null for none. */
  String cacheUri() throws IOException {
    String c = cache != null ? cache : root() != null && root().cache != null ? root().cache : System.getenv(
        "FERRY_CACHE");
    if (c == null || c.isBlank()) {
      c = config().string("cache");
    }
    return c == null || c.isBlank() ? null : c.trim();
  }

  /**
   * The Redis client and the Cassandra driver's Netty log through java.util.logging, which would reach the terminal:
   * reconnection attempts at INFO, a frame Netty cannot decode (a port that is not the server's) at WARNING, a command
   * it could not encode (out of direct memory, say) at SEVERE, the last two with stack traces of 20 to 60 lines. The
   * cache reports an outage itself, once, in one line, and a store's failure is the command's error. Loaded only by
   * commands that use a cache or a Cassandra store; the loggers are held here so that the level stays set.
   */
  private static final class ClientLogs {
    static final java.util.logging.Logger LETTUCE = java.util.logging.Logger.getLogger("io.lettuce");
    static final java.util.logging.Logger NETTY = java.util.logging.Logger.getLogger("io.netty");

    static {
      LETTUCE.setLevel(java.util.logging.Level.OFF);
      NETTY.setLevel(java.util.logging.Level.OFF);
    }

    static void quiet() {
      // the class initializer did it
    }
  }

  /** The cache's settings: its URI and the {@code redis.*} store options. */
  CacheSettings cacheSettings(String uri) throws IOException {
    ClientLogs.quiet();
    java.util.Map<String, String> s = new java.util.LinkedHashMap<>(settings());
    s.put(CacheSettings.PREFIX + "uri", uri);
    return CacheSettings.fromSettings(s);
  }

  /** What this command says on stderr while it works (plain lines, or JSON objects with {@code --json}). */
  Notices notices() {
    return Notices.to(err(), prefix(), json);
  }

  /** Prints the cache's warnings (one per outage) as {@link #notices()}; the command goes on reading from the store. */
  CacheListener cacheListener() {
    Notices n = notices();
    return new CacheListener() {
      @Override
      public void warning(String message) {
        n.warning(message);
      }
    };
  }

  /** The store named on the subcommand, else before it, else null (the default store). */
  String storeLocation() throws IOException {
    String s = store != null ? store : root() == null ? null : root().store;
    if (s == null) {
      String env = System.getenv("FERRY_STORE");
      if (env == null || env.isBlank()) {
        s = config().string("store"); // null: Ferry's default store
      }
    }
    return s;
  }

  /** Backend settings from the options. */
  java.util.Map<String, String> settings() {
    if (storeSettings.repeatedProblem("--store-option") != null) {
      throw usage(storeSettings.repeatedProblem("--store-option"));
    }
    String unknown = io.ferry.store.SettingNames.firstUnknown(storeSettings);
    if (unknown != null) {
      throw usage("--store-option " + unknown + ": no store module here reads a setting '" + unknown + "'"
          + io.ferry.repo.Suggestions.didYouMean(unknown, io.ferry.store.SettingNames.knownNames())
          + " (each store's settings: docs/s3.md, hdfs.md, cassandra.md, http-store.md, redis.md)");
    }
    java.util.Map<String, String> all = new java.util.LinkedHashMap<>(storeSettings);
    String endpoint = s3Endpoint != null ? s3Endpoint : root() == null ? null : root().s3Endpoint;
    if (endpoint != null && endpoint.isBlank()) {
      // it meant AWS itself, without a word: a script's unset $ENDPOINT sent an S3-compatible store's requests there
      throw usage("--s3-endpoint is empty (an unset shell variable?): give http(s)://host[:port], or leave it out"
          + " for AWS");
    }
    if (endpoint != null) {
      all.put("s3.endpoint", endpoint);
    }
    String t = token != null ? token : root() == null ? null : root().token;
    if (t != null) {
      all.put("http.token", t);
    }
    return all;
  }

  /** Options from the command line, the environment and the config file, in that order of precedence. */
  RepositoryOptions repositoryOptions() throws IOException {
    RepositoryOptions o = RepositoryOptions.defaults();
    Integer p = parallelism();
    if (p != null) {
      o = o.withParallelism(p);
    }
    String env = System.getenv("FERRY_AUTHOR");
    String author = config().string("author");
    if ((env == null || env.isBlank()) && author != null) {
      o = o.withAuthor(author);
    }
    // a wait the user must know about (another machine's gc lease), one line on stderr even without progress
    return o.withNotices(notices()::info);
  }

  ObjectNode object() {
    return json().createObjectNode();
  }

  void printJson(Object node) throws IOException {
    out().println(json().writeValueAsString(node));
  }

  io.ferry.transfer.TransferListener progress() {
    return Progress.forTerminal(err(), json, quiet);
  }
}
