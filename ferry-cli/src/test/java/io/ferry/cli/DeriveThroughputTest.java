package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.ferry.Ferry;
import io.ferry.derive.DeriveResult;
import io.ferry.derive.DeriveSpec;
import io.ferry.derive.Deriver;
import io.ferry.derive.TensorFilter;
import io.ferry.format.DType;
import io.ferry.read.ModelReader;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.transfer.TransferListener;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Derivation throughput, in GB/s of source tensor bytes, end to end (read, transform, write, push with the default
 * codec), against two baselines measured in the same run: reading every tensor of the source, and pushing the source
 * into an empty store. Best of three rounds, each on a fresh store. Runs with {@code -Dferry.bench=true}; size with
 * {@code -Dferry.bench.bytes} (default 128 MiB of F32). Prints a table and writes it to target/derive-throughput.md.
 */
class DeriveThroughputTest {
  @TempDir Path tmp;

  @Test
  void derivationThroughput() throws Exception {
    assumeTrue(Boolean.getBoolean("ferry.bench"), "set -Dferry.bench=true to measure");
    long bytes = Long.getLong("ferry.bench.bytes", 128L << 20);
    Path model = tmp.resolve("model");
    ModelGenerator.writeHfModel(model, ModelGenerator.transformer(bytes, DType.F32, 7), 1L << 30);
    Map<String, Double> best = new LinkedHashMap<>();
    long tensorBytes = 0;
    int threads = Runtime.getRuntime().availableProcessors();
    for (int round = 0; round < 3; round++) {
      Path store = tmp.resolve("store-" + round);
      try (Repository repo = Ferry.open(store.toString(), StoreOptions.createIfMissing(),
          RepositoryOptions.defaults())) {
        long t0 = System.nanoTime();
        repo.push(model, "m:base", PushOptions.builder().build());
        long pushNanos = System.nanoTime() - t0;
        long[] read = {0};
        t0 = System.nanoTime();
        try (ModelReader r = repo.open("m:base")) {
          r.forEachTensor((t, data) -> read[0] += data.remaining());
        }
        long readNanos = System.nanoTime() - t0;
        tensorBytes = read[0];
        record(best, "baseline: read every tensor", tensorBytes, readNanos);
        record(best, "baseline: push the source", tensorBytes, pushNanos);
        Deriver d = new Deriver(repo, threads, tmp.resolve("work"));
        List<Object[]> ops = new ArrayList<>();
        ops.add(new Object[] {"cast to bf16", "m:base", new DeriveSpec.Cast(DType.BF16, TensorFilter.ALL)});
        ops.add(new Object[] {"cast to f16", "m:base", new DeriveSpec.Cast(DType.F16, TensorFilter.ALL)});
        ops.add(new Object[] {"quantize int8 symmetric g128", "m:base",
            new DeriveSpec.Quantize(8, 128, true, TensorFilter.ALL)});
        ops.add(new Object[] {"quantize int4 asymmetric g128", "m:base",
            new DeriveSpec.Quantize(4, 128, false, TensorFilter.ALL)});
        ops.add(new Object[] {"prune threshold 0.01", "m:base",
            new DeriveSpec.Prune(0.01, Double.NaN, TensorFilter.ALL)});
        ops.add(new Object[] {"prune sparsity 0.5", "m:base", new DeriveSpec.Prune(Double.NaN, 0.5,
            TensorFilter.ALL)});
        ops.add(new Object[] {"dequantize int8 to f32", "m:q", new DeriveSpec.Dequantize(DType.F32)});
        int i = 0;
        for (Object[] op : ops) {
          String target = op[0].toString().startsWith("quantize int8") ? "m:q" : "m:d" + i++;
          t0 = System.nanoTime();
          DeriveResult r = d.derive((String) op[1], target, (DeriveSpec) op[2], "", TransferListener.NONE);
          long nanos = System.nanoTime() - t0;
          assertThat(r.changedCount()).isPositive();
          record(best, op[0].toString(), r.sourceTensorBytes(), nanos);
          record(best, op[0].toString() + ": derive only (no push)", r.sourceTensorBytes(), r.deriveNanos());
        }
      }
    }
    double read = best.get("baseline: read every tensor");
    double push = best.get("baseline: push the source");
    StringBuilder table = new StringBuilder(String.format(Locale.ROOT,
        "%d MiB of F32 tensors, %d threads, best of 3 rounds%n%n| operation | GB/s of source tensors | vs read | vs "
            + "push |%n|---|---:|---:|---:|%n", tensorBytes >> 20, threads));
    best.forEach((k, v) -> table.append(String.format(Locale.ROOT, "| %s | %.3f | %.2f | %.2f |%n", k, v, v / read,
        v / push)));
    System.out.print(table);
    Files.createDirectories(Path.of("target"));
    Files.writeString(Path.of("target", "derive-throughput.md"), table);
  }

  private static void record(Map<String, Double> best, String what, long bytes, long nanos) {
    double gbs = bytes / (double) nanos;
    best.merge(what, gbs, Math::max);
  }
}
