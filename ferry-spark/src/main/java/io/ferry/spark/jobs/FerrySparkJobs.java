package io.ferry.spark.jobs;

import io.ferry.derive.DerivationInputException;
import io.ferry.spark.store.StoreSpec;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;

/**
 * The entry point of Ferry's cluster jobs for {@code spark-submit}:
 *
 * <pre>
 * spark-submit --class io.ferry.spark.jobs.FerrySparkJobs ferry-spark-all.jar verify --store URI [REF...]
 * spark-submit --class io.ferry.spark.jobs.FerrySparkJobs ferry-spark-all.jar copy --from URI --to URI [--verify] REF
 * spark-submit --class io.ferry.spark.jobs.FerrySparkJobs ferry-spark-all.jar derive --store URI \
 *     --method quantize --bits 8 [--group-size 128] SOURCE TARGET
 * </pre>
 *
 * <p>Common options: {@code --store-option key=value} (settings of {@code --store}, or of {@code --from} and {@code
 * --to}), {@code --task-bytes N} (bytes of chunks per task for verify and copy, default 64 MiB). Exit codes: 0 done,
 * 1 verify found errors or the job failed, 2 bad arguments. Results go to stdout, one {@code key=value} per line.
 * Under {@code --master yarn --deploy-mode cluster} the driver runs in YARN's application master, which takes no exit
 * code: there a non-zero code is thrown as an exception instead, and YARN reports the application as failed.
 */
public final class FerrySparkJobs {
  /** The group size of a quantization without {@code --group-size}: {@code ferry derive}'s default. */
  static final int DEFAULT_GROUP_SIZE = 128;

  private FerrySparkJobs() {}

  public static void main(String[] args) {
    SparkSession spark = SparkSession.builder().appName("ferry " + (args.length > 0 ? args[0] : "")).getOrCreate();
    // YARN's application master runs the driver's main in cluster deploy mode: it reports success only if main
    // returns and failure if main throws; an exit from inside main reaches it as "shutdown hook called before final
    // status was reported", a failure even for exit code 0
    boolean yarnCluster = spark.sparkContext().master().startsWith("yarn")
        && "cluster".equals(spark.sparkContext().deployMode());
    int code;
    try {
      code = run(spark, args, System.out, System.err);
    } finally {
      spark.stop();
    }
    if (!yarnCluster) {
      System.exit(code);
    } else if (code != 0) {
      throw new IllegalStateException("ferry spark " + (args.length > 0 ? args[0] : "") + " ended with exit code "
          + code + " (1: verify found errors or the job failed, 2: bad arguments); the driver's stderr says why");
    }
  }

  /** Runs one job on {@code spark}; returns the exit code. */
  public static int run(SparkSession spark, String[] args, PrintStream out, PrintStream err) {
    Args a;
    try {
      a = Args.parse(args);
    } catch (IllegalArgumentException e) {
      err.println("ferry spark: " + e.getMessage());
      err.println("usage: verify --store URI [REF...] | copy --from URI --to URI [--verify] REF"
          + " | derive --store URI --method M [options] SOURCE TARGET");
      return 2;
    }
    try {
      long t0 = System.nanoTime();
      switch (a.command) {
        case "verify" -> {
          VerifyJob.Result r = new VerifyJob(spark, a.spec("store"), a.taskBytes()).run(a.positional);
          out.println("versions=" + r.versions());
          out.println("chunks=" + r.chunks());
          out.println("bytes=" + r.bytes());
          out.println("tasks=" + r.tasks());
          out.println("errors=" + r.errorCount());
          r.errors().forEach(e -> err.println("error: " + e));
          out.println("seconds=" + seconds(t0));
          return r.ok() ? 0 : 1;
        }
        case "copy" -> {
          a.need(1, "REF");
          CopyJob.Result r = new CopyJob(spark, a.spec("from"), a.spec("to"), a.taskBytes())
              .run(a.positional.get(0), a.flag("verify"));
          out.println("version=" + r.copy().version().hex());
          out.println("chunks_by_executors=" + r.chunksByExecutors());
          out.println("bytes_by_executors=" + r.bytesByExecutors());
          out.println("objects_by_driver=" + r.copy().objectsSent());
          out.println("refs_moved=" + String.join(",", r.copy().refsMoved()));
          out.println("tasks=" + r.tasks());
          out.println("seconds=" + seconds(t0));
          return 0;
        }
        case "derive" -> {
          a.need(2, "SOURCE TARGET");
          String method = a.required("method");
          a.onlyOptionsOf(method);
          if (method.equals("quantize") && a.opt("bits") == null) {
            // as ferry derive quantize: the bits are the one choice a quantization has no default for
            throw new IllegalArgumentException("option --bits is required for derive --method quantize (8 or 4)");
          }
          DeriveArgs d = new DeriveArgs(method, method.equals("cast") ? a.required("to") : a.opt("to"),
              a.integer("bits", 0),
              a.integer("group-size", DEFAULT_GROUP_SIZE), a.symmetric(), a.dbl("threshold"),
              a.dbl("sparsity"), a.opt("include"), a.opt("exclude"));
          try {
            d.spec();
          } catch (DerivationInputException e) {
            // an option's value out of its range (--bits 3, --to q4): bad arguments, as ferry derive says
            throw new IllegalArgumentException(e.message(FerrySparkJobs::option), e);
          }
          DeriveJob.Result r = new DeriveJob(spark, a.spec("store")).run(a.positional.get(0), a.positional.get(1), d,
              a.opt("message"));
          out.println("version=" + r.derive().push().versionId().hex());
          out.println("tensors_changed=" + r.derive().report().changedCount());
          out.println("tasks=" + r.tasks());
          out.println("seconds=" + seconds(t0));
          return 0;
        }
        default -> {
          err.println("ferry spark: unknown job '" + a.command + "': expected verify, copy or derive");
          return 2;
        }
      }
    } catch (IllegalArgumentException e) {
      err.println("ferry spark " + a.command + ": " + e.getMessage());
      return 2;
    } catch (Exception e) {
      // IOException, RuntimeException, and the SparkException (checked, thrown undeclared from Scala) of a job whose
      // task failed for good
      err.println("ferry spark " + a.command + ": " + describe(e));
      return 1;
    }
  }

  /** How the job spells a parameter that a derivation's message names: as its option, or as the library does. */
  private static String option(DerivationInputException.Param p) {
    return p.key().equals("target") || p.key().startsWith("method:") ? null : "--" + p.key().replace('_', '-');
  }

  /**
   * Ferry's own errors by their message (they name the object and the defect), also where a failed task's error is
   * the cause of Spark's; others with their class, without the lines of a stack trace that Spark's message carries.
   */
  private static String describe(Exception e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof io.ferry.error.FerryException && t.getMessage() != null) {
        return t.getMessage();
      }
    }
    Throwable t = e instanceof java.io.UncheckedIOException u && u.getCause() != null ? u.getCause() : e;
    return t.toString().lines().takeWhile(l -> !l.startsWith("\tat ") && !l.equals("Driver stacktrace:"))
        .collect(java.util.stream.Collectors.joining(System.lineSeparator()));
  }

  private static String seconds(long t0) {
    return String.format(java.util.Locale.ROOT, "%.3f", (System.nanoTime() - t0) / 1e9);
  }

  /** {@code --key value} options (repeatable {@code --store-option}), flags, and positional arguments. */
  private static final class Args {
    static final List<String> FLAGS = List.of("verify", "symmetric", "asymmetric");
    /** The options each job takes: any other is refused rather than ignored (a typo would change the job). */
    static final Map<String, List<String>> OPTIONS = Map.of(
        "verify", List.of("store", "store-option", "task-bytes"),
        "copy", List.of("from", "to", "store-option", "task-bytes", "verify"),
        "derive", List.of("store", "store-option", "method", "to", "bits", "group-size", "symmetric", "asymmetric",
            "threshold", "sparsity", "include", "exclude", "message"));
    /** The derive options every method takes. */
    static final List<String> COMMON_DERIVE_OPTIONS = List.of("store", "store-option", "method", "message");
    /** The derive options of each method: those of {@code ferry derive}'s subcommand for it. */
    static final Map<String, List<String>> METHOD_OPTIONS = Map.of(
        "cast", List.of("to", "include", "exclude"),
        "quantize", List.of("bits", "group-size", "symmetric", "asymmetric", "include", "exclude"),
        "dequantize", List.of("to"),
        "prune", List.of("threshold", "sparsity", "include", "exclude"));
    String command;
    final Map<String, String> options = new HashMap<>();
    final Map<String, String> settings = new HashMap<>();
    final List<String> positional = new ArrayList<>();

    static Args parse(String[] args) {
      if (args.length == 0) {
        throw new IllegalArgumentException("no job given");
      }
      Args a = new Args();
      a.command = args[0];
      for (int i = 1; i < args.length; i++) {
        String s = args[i];
        if (!s.startsWith("--")) {
          a.positional.add(s);
          continue;
        }
        String key = s.substring(2);
        List<String> known = OPTIONS.get(a.command);
        if (known != null && !known.contains(key)) {
          throw new IllegalArgumentException("unknown option " + s + " for " + a.command + ": expected --"
              + String.join(", --", known));
        }
        if (FLAGS.contains(key)) {
          a.options.put(key, "true");
          continue;
        }
        if (i + 1 == args.length) {
          throw new IllegalArgumentException("option " + s + " needs a value");
        }
        String value = args[++i];
        if (key.equals("store-option")) {
          int eq = value.indexOf('=');
          if (eq < 1) {
            throw new IllegalArgumentException("--store-option '" + value + "': expected key=value");
          }
          if (a.settings.put(value.substring(0, eq), value.substring(eq + 1)) != null) {
            throw new IllegalArgumentException("--store-option " + value.substring(0, eq) + " given twice");
          }
        } else if (a.options.put(key, value) != null) {
          throw new IllegalArgumentException("option --" + key + " given twice");
        }
      }
      StoreSpec.checkSettings(a.settings, "--store-option %s");
      return a;
    }

    StoreSpec spec(String key) {
      return new StoreSpec(required(key), settings);
    }

    String required(String key) {
      String v = options.get(key);
      if (v == null) {
        throw new IllegalArgumentException("option --" + key + " is required for " + command);
      }
      return v;
    }

    String opt(String key) {
      return options.get(key);
    }

    String opt(String key, String dflt) {
      return options.getOrDefault(key, dflt);
    }

    Double dbl(String key) {
      String v = options.get(key);
      if (v == null) {
        return null;
      }
      try {
        return Double.valueOf(v.trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("option --" + key + " '" + v + "': expected a number");
      }
    }

    int integer(String key, int dflt) {
      String v = options.get(key);
      if (v == null) {
        return dflt;
      }
      try {
        return Integer.parseInt(v.trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("option --" + key + " '" + v + "': expected a whole number");
      }
    }

    /**
     * Refuses a derive option that {@code method} does not take ({@code --bits} of a cast): {@code ferry derive}'s
     * subcommand for the method has no such option, and the job would ignore it.
     */
    void onlyOptionsOf(String method) {
      List<String> taken = METHOD_OPTIONS.get(method);
      if (taken == null) {
        return; // an unknown method is refused naming the methods
      }
      for (String key : options.keySet()) {
        if (!COMMON_DERIVE_OPTIONS.contains(key) && !taken.contains(key)) {
          throw new IllegalArgumentException("option --" + key + " is not taken by derive --method " + method
              + ": expected --" + String.join(", --", taken));
        }
      }
    }

    boolean flag(String key) {
      return options.containsKey(key);
    }

    /**
     * Whether a quantization is symmetric: only with {@code --symmetric}, as {@code ferry derive quantize}; {@code
     * --asymmetric} names the default.
     */
    boolean symmetric() {
      if (flag("symmetric") && flag("asymmetric")) {
        throw new IllegalArgumentException("options --symmetric and --asymmetric contradict each other: give one");
      }
      return flag("symmetric");
    }

    long taskBytes() {
      String v = opt("task-bytes");
      if (v == null) {
        return 64L << 20;
      }
      long n;
      try {
        n = Long.parseLong(v.trim());
      } catch (NumberFormatException e) {
        n = -1;
      }
      if (n < 1) {
        throw new IllegalArgumentException("option --task-bytes '" + v + "': expected a positive number of bytes");
      }
      return n;
    }

    void need(int n, String what) {
      if (positional.size() != n) {
        throw new IllegalArgumentException(command + " takes " + what + ", got " + positional);
      }
    }
  }
}
