package io.ferry.bench;

import io.ferry.Ferry;
import io.ferry.derive.DeriveSpec;
import io.ferry.derive.Deriver;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.spark.jobs.DeriveArgs;
import io.ferry.spark.jobs.DeriveJob;
import io.ferry.spark.jobs.VerifyJob;
import io.ferry.spark.store.StoreSpec;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.transfer.PullOptions;
import io.ferry.transfer.TransferListener;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * Ferry on Spark ({@code local[2]} in this JVM) against Spark's own file reading, ratios in one run, interleaved, best
 * of N: reading every tensor of a model through the {@code ferry} data source vs Spark reading the pulled safetensors
 * files as {@code binaryFile}; a cluster derive (int8) vs the local derive core runs for {@code ferry derive}; and the
 * per-executor rate of the Spark verify (for docs/spark.md's estimate). Writes its section of BENCHMARKS.md between
 * {@code <!-- spark:start -->} and {@code <!-- spark:end -->}.
 */
public final class SparkBenchmarks {
  private static final String START = "<!-- spark:start -->";
  private static final String END = "<!-- spark:end -->";

  private SparkBenchmarks() {}

  public static void main(String[] args) throws Exception {
    long size = 1L << 30;
    int runs = 3;
    Path work = Path.of("bench-work", "spark").toAbsolutePath();
    Path out = Path.of("BENCHMARKS.md").toAbsolutePath();
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--size" -> size = Benchmarks.parseSize(args[++i]);
        case "--runs" -> runs = Integer.parseInt(args[++i]);
        case "--work" -> work = Path.of(args[++i]).toAbsolutePath();
        case "--out" -> out = Path.of(args[++i]).toAbsolutePath();
        default -> {
          System.err.println("usage: SparkBenchmarks [--size 1g] [--runs 3] [--work DIR] [--out FILE]");
          System.exit(2);
        }
      }
    }
    String shown = String.join(" ", args);
    long t0 = System.nanoTime();
    String load = loadavg();
    Path model = work.resolve("model-" + (size >> 20) + "m");
    Path pulled = work.resolve("pulled-" + (size >> 20) + "m");
    Path storeDir = work.resolve("store-" + (size >> 20) + "m");
    String store = storeDir.toUri().toString();
    List<ModelGenerator.Tensor> tensors = ModelGenerator.transformer(size, DType.BF16, 42);
    long modelBytes = tensors.stream().mapToLong(ModelGenerator.Tensor::byteLength).sum();
    if (!Files.exists(model)) {
      say("writing a " + Benchmarks.human(modelBytes) + " BF16 model");
      ModelGenerator.writeHfModel(model, tensors, Math.max(16L << 20, modelBytes / 4));
    }
    try (Repository repo = Ferry.open(store, StoreOptions.createIfMissing(), RepositoryOptions.defaults())) {
      repo.push(model, "bench", PushOptions.builder().message("spark bench").build());
      if (!Files.exists(pulled)) {
        repo.pull("bench", pulled, PullOptions.defaults());
      }
    }
    SparkSession spark = SparkSession.builder().master("local[2]").appName("ferry-spark-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.local.dir", work.resolve("spark-local").toString())
        .config("spark.sql.files.maxPartitionBytes", String.valueOf(64L << 20))
        .getOrCreate();
    spark.sparkContext().setLogLevel("ERROR");
    Map<String, List<Figure>> figures = new LinkedHashMap<>();
    List<String> notes = new ArrayList<>();
    try {
      // 1. read every tensor
      double ferryRead = Double.MAX_VALUE;
      double sparkRead = Double.MAX_VALUE;
      long ferryBytes = 0;
      long fileBytes = 0;
      for (int r = 0; r < runs + 1; r++) {
        long a = System.nanoTime();
        Row f = spark.read().format("ferry").option("store", store).load("bench")
            .selectExpr("sum(length(bytes))", "count(*)").first();
        double fs = (System.nanoTime() - a) / 1e9;
        long b = System.nanoTime();
        Row s = spark.read().format("binaryFile").load(pulled.resolve("*.safetensors").toString())
            .selectExpr("sum(length(content))").first();
        double ss = (System.nanoTime() - b) / 1e9;
        ferryBytes = f.getLong(0);
        fileBytes = s.getLong(0);
        if (r > 0) { // the first round warms up both (class loading, code generation)
          ferryRead = Math.min(ferryRead, fs);
          sparkRead = Math.min(sparkRead, ss);
        }
        say(String.format(Locale.ROOT, "read round %d: ferry %.2f s, binaryFile %.2f s", r, fs, ss));
      }
      figures.put("Spark: reading every tensor of a model (local[2])", List.of(new Figure(
          "`binaryFile` of the pulled safetensors (" + Benchmarks.human(fileBytes) + ")", sparkRead,
          "`format(\"ferry\")`, every chunk (" + Benchmarks.human(ferryBytes) + " of tensors)", ferryRead, true,
          Double.NaN, "one row per chunk, CRC-checked; binaryFile reads whole files, unchecked")));

      // 2. derive int8: cluster vs local (warm-up of each first, so every timed run finds the chunks stored)
      DeriveArgs int8 = DeriveArgs.quantize(8, 128);
      DeriveSpec spec = int8.spec();
      double cluster = Double.MAX_VALUE;
      double local = Double.MAX_VALUE;
      StoreSpec ss = StoreSpec.of(store);
      try (Repository repo = Ferry.open(store, StoreOptions.existing(), RepositoryOptions.defaults())) {
        for (int r = 0; r < runs + 1; r++) {
          long a = System.nanoTime();
          new DeriveJob(spark, ss).run("bench", "bench-int8-spark", int8, null);
          double cs = (System.nanoTime() - a) / 1e9;
          long b = System.nanoTime();
          Deriver.of(repo).derive("bench", "bench-int8-local", spec, null, TransferListener.NONE);
          double ls = (System.nanoTime() - b) / 1e9;
          if (r > 0) {
            cluster = Math.min(cluster, cs);
            local = Math.min(local, ls);
          }
          say(String.format(Locale.ROOT, "derive round %d: spark %.2f s, local %.2f s", r, cs, ls));
        }
        boolean same = repo.resolve("bench-int8-spark").version().snapshot()
            .equals(repo.resolve("bench-int8-local").version().snapshot());
        notes.add("Cluster and local derive gave " + (same ? "the same snapshot" : "**different snapshots**")
            + ". Both timed runs find the derived chunks already stored (a warm-up of each ran first): they measure"
            + " reading, quantizing, hashing and publishing.");
      }
      figures.put("Spark: derive (quantize int8, group 128)", List.of(new Figure(
          "local derive (core's `Deriver`, as `ferry derive`, in this JVM)", local,
          "cluster derive on `local[2]` (one task per shard)", cluster, false, Double.NaN,
          "same snapshot and report; tasks = shards")));

      // 3. the verify rate per executor core
      double verify = Double.MAX_VALUE;
      long verified = 0;
      for (int r = 0; r < runs; r++) {
        long a = System.nanoTime();
        VerifyJob.Result v = new VerifyJob(spark, ss, 64L << 20).run(List.of("bench"));
        verify = Math.min(verify, (System.nanoTime() - a) / 1e9);
        verified = v.bytes();
      }
      double perCore = verified / verify / 2 / 1e9;
      notes.add(String.format(Locale.ROOT, "Spark verify of `bench` (%s, SHA-256 of every chunk) on local[2]: best"
          + " %.2f s, %.2f GB/s, so **%.2f GB/s per executor core** (docs/spark.md's 100-node estimate uses it).",
          Benchmarks.human(verified), verify, verified / verify / 1e9, perCore));
    } finally {
      spark.stop();
    }
    double total = (System.nanoTime() - t0) / 1e9;
    StringBuilder b = new StringBuilder();
    b.append("## Spark: the ferry data source and cluster jobs\n\n");
    b.append("Generated by `io.ferry.bench.SparkBenchmarks` (`bench/spark.sh ").append(shown).append("`). Model ")
        .append(Benchmarks.human(modelBytes)).append(" BF16 in shards, local store, `local[2]` in the benchmark's JVM,"
            + " best of ").append(runs).append(" after a warm-up round, interleaved. Load average before / after: `")
        .append(load).append("` / `").append(loadavg()).append("`.\n\n");
    Figure.appendSections(b, "###", figures, Map.of());
    notes.forEach(n -> b.append(n).append("\n\n"));
    b.append("Whole run: ").append(Math.round(total)).append(" s.\n");
    writeSection(out, b.toString());
    say("wrote " + out);
  }

  private static void say(String s) {
    System.err.println("[spark-bench] " + s);
  }

  private static String loadavg() throws IOException {
    return Files.readString(Path.of("/proc/loadavg")).trim();
  }

  private static void writeSection(Path file, String section) throws IOException {
    String text = Files.exists(file) ? Files.readString(file) : "";
    int s = text.indexOf(START);
    int e = text.indexOf(END);
    String body = START + "\n" + section + END;
    if (s >= 0 && e > s) {
      text = text.substring(0, s) + body + text.substring(e + END.length());
    } else {
      text = text + (text.isEmpty() || text.endsWith("\n") ? "\n" : "\n\n") + body + "\n";
    }
    Files.writeString(file, text);
  }
}
