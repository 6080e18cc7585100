package io.ferry.store.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.codec.CodecPolicy;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.RedisServer;
import io.ferry.transfer.PullOptions;
import io.lettuce.core.KeyScanCursor;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanCursor;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Not a test: a measurement, run only with {@code -Dferry.bench.redis=true} (e.g. {@code -Dferry.bench.redis.mib=512}).
 * A pull through a warm cache against the same pull from the backing local store, against raw GETs of the same keys
 * with the same client (Lettuce, pipelined, as many in flight as the pull's workers), and against the same GETs with
 * each value written at its place in a file as it arrives (what a pull must also do with the bytes); interleaved,
 * best of three; prints ratios. The model is stored with {@code --codec none} ({@code -Dferry.bench.redis.codec=auto}
 * for the default codec), so that the ratios measure the cache, not the float decode.
 */
class RedisThroughputBench {
  @TempDir Path scratch;

  @Test
  void warmPullAgainstTheStoreAndRawGets() throws Exception {
    Assumptions.assumeTrue(Boolean.getBoolean("ferry.bench.redis"), "a benchmark: -Dferry.bench.redis=true");
    long mib = Long.getLong("ferry.bench.redis.mib", 256);
    Path src = scratch.resolve("model");
    Files.createDirectories(src);
    ModelGenerator.writeSafetensors(src.resolve("model.safetensors"),
        ModelGenerator.transformer(mib << 20, DType.F32, 1), Map.of());
    long bytes = Files.size(src.resolve("model.safetensors"));
    String store = scratch.resolve("store").toString();
    try (Repository repo = Ferry.open(store, StoreOptions.createIfMissing(), RepositoryOptions.defaults())) {
      repo.push(src, "m:prod", PushOptions.builder().message("bench")
          .codec(CodecPolicy.parse(System.getProperty("ferry.bench.redis.codec", "none"))).build());
    }
    try (RedisServer redis = RedisServer.start(scratch.resolve("redis"), "--maxmemory", (4 * mib) + "mb")) {
      CacheSettings cache = CacheSettings.fromSettings(Map.of("redis.uri", redis.uri(), "redis.timeout", "5s"))
          .withWriteMode(CacheSettings.WriteMode.WAIT);
      try (Repository repo = RedisCache.open(store, StoreOptions.existing(), RepositoryOptions.defaults(), cache,
          new Warnings())) {
        repo.verify("m:prod", io.ferry.transfer.TransferListener.NONE);
      }
      String ns = RedisChunkCache.namespaceOf(Ferry.toUri(store).toString());
      double bestStore = Double.MAX_VALUE;
      double bestCache = Double.MAX_VALUE;
      double bestRaw = Double.MAX_VALUE;
      double bestCopy = Double.MAX_VALUE;
      long rawBytes = 0;
      for (int round = 0; round < 3; round++) {
        bestStore = Math.min(bestStore, pull(scratch, store, null, round));
        bestCache = Math.min(bestCache, pull(scratch, store, cache, round));
        long[] raw = rawGets(redis.uri(), "ferry:" + ns + ":*", RepositoryOptions.defaultParallelism(), null);
        rawBytes = raw[0];
        bestRaw = Math.min(bestRaw, raw[1] / 1e9);
        Path copy = scratch.resolve("gets-copy-" + round);
        long[] copied = rawGets(redis.uri(), "ferry:" + ns + ":*", RepositoryOptions.defaultParallelism(), copy);
        assertThat(copied[0]).isEqualTo(rawBytes);
        assertThat(Files.size(copy)).isEqualTo(rawBytes);
        Files.delete(copy);
        bestCopy = Math.min(bestCopy, copied[1] / 1e9);
      }
      assertThat(rawBytes).isGreaterThan(bytes / 2);
      System.out.printf("model %d MiB; pull from the local store %.2f s (%.0f MB/s); pull through the warm cache "
          + "%.2f s (%.0f MB/s); raw GETs of the %d MiB in Redis %.2f s (%.0f MB/s)%n", bytes >> 20, bestStore,
          bytes / bestStore / 1e6, bestCache, bytes / bestCache / 1e6, rawBytes >> 20, bestRaw,
          rawBytes / bestRaw / 1e6);
      System.out.printf("the same GETs, each value written at its place in a file: %.2f s (%.0f MB/s)%n", bestCopy,
          rawBytes / bestCopy / 1e6);
      System.out.printf("ratios (codec %s): cached pull / raw GETs = %.2f of Redis's throughput; cached pull / GETs"
          + " written to a file = %.2f; cached pull vs store pull = %.2fx%n",
          System.getProperty("ferry.bench.redis.codec", "none"), (bytes / bestCache) / (rawBytes / bestRaw),
          (bytes / bestCache) / (rawBytes / bestCopy), bestStore / bestCache);
    }
  }

  private static double pull(Path scratch, String store, CacheSettings cache, int round) throws Exception {
    Path dest = scratch.resolve("out-" + (cache == null ? "store" : "cache") + "-" + round);
    long t0 = System.nanoTime();
    try (Repository repo = cache == null
        ? Ferry.open(store, StoreOptions.existing(), RepositoryOptions.defaults())
        : RedisCache.open(store, StoreOptions.existing(), RepositoryOptions.defaults(), cache, new Warnings())) {
      repo.pull("m:prod", dest, PullOptions.defaults());
    }
    double s = (System.nanoTime() - t0) / 1e9;
    try (Stream<Path> walk = Files.walk(dest)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
    return s;
  }

  /**
   * GETs every key matching the pattern, {@code inFlight} at a time, and if {@code copy} is not null writes each value
   * at its place in that file as it is taken (values in key order, back to back); returns bytes and nanoseconds.
   */
  private static long[] rawGets(String uri, String pattern, int inFlight, Path copy) throws Exception {
    RedisClient client = RedisClient.create(uri);
    try (StatefulRedisConnection<byte[], byte[]> c = client.connect(ByteArrayCodec.INSTANCE)) {
      List<byte[]> keys = new ArrayList<>();
      ScanArgs args = ScanArgs.Builder.matches(pattern).limit(1000);
      KeyScanCursor<byte[]> cur = c.sync().scan(args);
      while (true) {
        keys.addAll(cur.getKeys());
        if (cur.isFinished()) {
          break;
        }
        cur = c.sync().scan(ScanCursor.of(cur.getCursor()), args);
      }
      keys.removeIf(k -> new String(k, StandardCharsets.UTF_8).endsWith(":stats")
          || new String(k, StandardCharsets.UTF_8).endsWith(":store")
          || new String(k, StandardCharsets.UTF_8).contains(":fill:"));
      RedisAsyncCommands<byte[], byte[]> a = c.async();
      long t0 = System.nanoTime();
      long total = 0;
      try (FileChannel out = copy == null ? null
          : FileChannel.open(copy, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        ArrayDeque<RedisFuture<byte[]>> window = new ArrayDeque<>();
        for (byte[] k : keys) {
          if (window.size() >= inFlight) {
            total += take(window.poll(), out, total);
          }
          window.add(a.get(k));
        }
        while (!window.isEmpty()) {
          total += take(window.poll(), out, total);
        }
      }
      return new long[] {total, System.nanoTime() - t0};
    } finally {
      client.shutdown();
    }
  }

  /** Waits for one GET and writes its value at {@code at} in {@code out} if there is a file; returns its length. */
  private static int take(RedisFuture<byte[]> get, FileChannel out, long at) throws Exception {
    byte[] v = get.get();
    if (out != null) {
      ByteBuffer b = ByteBuffer.wrap(v);
      for (long pos = at; b.hasRemaining(); ) {
        pos += out.write(b, pos);
      }
    }
    return v.length;
  }
}
