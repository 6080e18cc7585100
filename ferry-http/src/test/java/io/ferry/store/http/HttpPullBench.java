package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.codec.CodecPolicy;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.server.FerryServer;
import io.ferry.server.ServerOptions;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.transfer.PullOptions;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Not a test: a measurement, run only with {@code -Dferry.bench.http=true} (model size with {@code
 * -Dferry.bench.http.mib=N}, default 512; rounds with {@code -Dferry.bench.http.rounds=N}, default 3; extra store
 * options with {@code -Dferry.bench.http.options=k=v&...}). A pull of a bf16 model (codec none) from a local store
 * directly against the same pull through one {@link FerryServer} on loopback in this JVM, interleaved, fresh
 * repositories each round, best of the rounds; prints the ratio and the client's CPU time (the process's CPU time
 * less that of the server's threads).
 */
class HttpPullBench {
  @TempDir Path scratch;

  @Test
  void pullThroughOneServerAgainstDirect() throws Exception {
    Assumptions.assumeTrue(Boolean.getBoolean("ferry.bench.http"), "a benchmark: -Dferry.bench.http=true");
    long mib = Long.getLong("ferry.bench.http.mib", 512);
    int rounds = Integer.getInteger("ferry.bench.http.rounds", 3);
    String options = System.getProperty("ferry.bench.http.options", "");
    Path src = scratch.resolve("model");
    Files.createDirectories(src);
    ModelGenerator.writeSafetensors(src.resolve("model.safetensors"),
        ModelGenerator.transformer(mib << 20, DType.BF16, 1), Map.of());
    String want = sha256(src.resolve("model.safetensors"));
    String store = scratch.resolve("store").toString();
    try (Repository repo = Ferry.open(store, StoreOptions.createIfMissing(), RepositoryOptions.defaults())) {
      repo.push(src, "m:prod", PushOptions.builder().message("bench").codec(CodecPolicy.NONE).build());
    }
    Run direct = Run.NONE;
    Run http = Run.NONE;
    try (Repository served = Ferry.open(store, StoreOptions.existing(), RepositoryOptions.defaults());
        FerryServer server = FerryServer.start(served, ServerOptions.builder().listen("127.0.0.1", 0).build())) {
      String uri = "http://127.0.0.1:" + server.port() + (options.isEmpty() ? "" : "?" + options);
      for (int round = 0; round < rounds; round++) {
        direct = direct.best(pull(store, scratch.resolve("direct-" + round), want));
        http = http.best(pull(uri, scratch.resolve("http-" + round), want));
        System.out.printf("round %d: direct %s, http %s%n", round, direct, http);
      }
    }
    System.out.printf("model %d MiB (bf16, codec none), best of %d: direct %s, through one server %s, ratio %.2f×%n",
        mib, rounds, direct, http, direct.seconds / http.seconds);
  }

  private static Run pull(String uri, Path dest, String want) throws IOException {
    long cpu0 = processCpu();
    long server0 = serverCpu();
    long t0 = System.nanoTime();
    RepositoryOptions ro = RepositoryOptions.defaults();
    int workers = Integer.getInteger("ferry.bench.http.workers", 0);
    if (workers > 0) {
      ro = ro.withParallelism(workers);
    }
    try (Repository repo = Ferry.open(uri, StoreOptions.existing(), ro)) {
      repo.pull("m:prod", dest, PullOptions.defaults());
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    long server = serverCpu() - server0;
    long client = processCpu() - cpu0 - server;
    assertThat(sha256(dest.resolve("model.safetensors"))).isEqualTo(want);
    delete(dest);
    return new Run(seconds, client / 1e9, server / 1e9);
  }

  /** Wall time and CPU time of one pull. */
  private record Run(double seconds, double clientCpu, double serverCpu) {
    static final Run NONE = new Run(Double.MAX_VALUE, 0, 0);

    Run best(Run other) {
      return other.seconds < seconds ? other : this;
    }

    @Override
    public String toString() {
      return String.format("%.2f s (client CPU %.2f s, server CPU %.2f s)", seconds, clientCpu, serverCpu);
    }
  }

  private static long processCpu() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  /** CPU time of the server's live threads (its pool keeps them between requests). */
  private static long serverCpu() {
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    long sum = 0;
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().startsWith("ferry-server")) {
        long c = mx.getThreadCpuTime(t.getId());
        sum += Math.max(0, c);
      }
    }
    return sum;
  }

  /** The file's SHA-256, streamed (the model does not fit the heap of a CLI-sized JVM twice). */
  private static String sha256(Path file) throws IOException {
    MessageDigest md;
    try {
      md = MessageDigest.getInstance("SHA-256");
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    try (InputStream in = Files.newInputStream(file)) {
      byte[] buf = new byte[1 << 20];
      for (int n; (n = in.read(buf)) > 0; ) {
        md.update(buf, 0, n);
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  private static void delete(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
