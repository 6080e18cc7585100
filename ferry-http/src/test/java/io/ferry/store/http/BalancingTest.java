package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.store.StoredObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chunk reads over three in-test servers of one store: each policy spreads them, a failing or stopped server is
 * marked down while the reads go on elsewhere, and it is probed back once it answers again.
 */
@Timeout(60)
class BalancingTest {
  @TempDir static Path tmp;
  static ServerGroup group;
  static List<StoredObject> objects = new ArrayList<>();

  @BeforeAll
  static void start() throws IOException {
    group = new ServerGroup(tmp.resolve("store"), 3, null);
    Path src = tmp.resolve("src");
    Files.createDirectories(src);
    byte[] big = new byte[3 << 20];
    new Random(3).nextBytes(big);
    Files.write(src.resolve("a.bin"), big);
    try (Repository r = group.local()) {
      r.push(src, "m", PushOptions.builder().build());
    }
    group.store.chunks().list(objects::add);
  }

  @AfterAll
  static void stop() throws IOException {
    group.close();
  }

  @BeforeEach
  void reset() throws IOException {
    for (ProtocolServer s : group.servers) {
      s.restart();
      s.chunkStatus.set(0);
      s.allStatus.set(0);
      s.chunkReads.set(0);
    }
  }

  /** Reads each stored object {@code rounds} times from {@code threads} threads, checking every byte. */
  private static void readAll(HttpBackend b, int threads, int rounds) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        done.add(pool.submit(() -> {
          for (int i = 0; i < rounds; i++) {
            for (StoredObject o : objects) {
              ByteBuffer got = b.chunks().read(o.id(), 0, (int) o.size());
              assertThat(got).isEqualTo(group.store.chunks().read(o.id(), 0, (int) o.size()));
            }
          }
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
  }

  private static long[] reads() {
    return group.servers.stream().mapToLong(s -> s.chunkReads.get()).toArray();
  }

  @Test
  void roundRobinTakesEachServerInTurn() throws Exception {
    try (HttpBackend b = group.client("?balance=round-robin&hedge=false", Map.of())) {
      readAll(b, 1, 10);
    }
    long total = objects.size() * 10L;
    for (long n : reads()) {
      assertThat(n).isBetween(total / 3 - 1, total / 3 + 1);
    }
  }

  @Test
  void leastOutstandingAndRandomUseEveryServer() throws Exception {
    for (String policy : List.of("least-outstanding", "random")) {
      reset();
      try (HttpBackend b = group.client("?balance=" + policy, Map.of())) {
        readAll(b, 6, 5);
      }
      long total = objects.size() * 30L;
      for (long n : reads()) {
        assertThat(n).as("reads of one server with %s, of %d", policy, total).isGreaterThan(total / 10);
      }
    }
  }

  @Test
  void aServerAnswering503IsMarkedDownAndProbedBackWhenItRecovers() throws Exception {
    ProtocolServer sick = group.get(1);
    sick.allStatus.set(503); // probes too: the whole server is unavailable
    try (HttpBackend b = group.client("?probe_min_ms=20&probe_max_ms=50", Map.of())) {
      readAll(b, 4, 5);
      assertThat(sick.chunkReads.get()).isZero();
      ServerStats st = b.stats().get(1);
      assertThat(st.down()).isTrue();
      assertThat(st.failures()).isPositive();
      assertThat(st.timesDown()).isPositive();
      sick.allStatus.set(0);
      ServerGroup.await("the probe to find the server up again", 10, () -> !b.stats().get(1).down());
      readAll(b, 4, 5);
      assertThat(sick.chunkReads.get()).isPositive();
    }
  }

  @Test
  void aStoppedServerIsMarkedDownAndTakesReadsAgainOnceRestarted() throws Exception {
    ProtocolServer stopped = group.get(2);
    try (HttpBackend b = group.client("?probe_min_ms=20&probe_max_ms=50", Map.of())) {
      readAll(b, 2, 2);
      stopped.stop();
      // the losing half of a hedged read may still be in the stopped server's handler, about to count its answer
      ServerGroup.await("the stopped server's handlers to end", 60, () -> stopped.running.get() == 0);
      long before = stopped.chunkReads.get();
      readAll(b, 4, 5);
      assertThat(stopped.chunkReads.get()).isEqualTo(before);
      assertThat(b.stats().get(2).down()).isTrue();
      stopped.restart();
      ServerGroup.await("the probe to find the restarted server", 10, () -> !b.stats().get(2).down());
      readAll(b, 4, 5);
      assertThat(stopped.chunkReads.get()).isGreaterThan(before);
    }
  }

  @Test
  void whenEveryServerIsDownTheErrorNamesEachAndWhy() throws Exception {
    try (HttpBackend b = group.client("", Map.of())) {
      group.servers.forEach(ProtocolServer::stop);
      ChunkId id = objects.get(0).id();
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> b.chunks().read(id, 0, 10))
          .isInstanceOf(IOException.class).hasMessageContaining("every server failed")
          .hasMessageContaining(group.get(0).uri() + ": ").hasMessageContaining(group.get(1).uri() + ": ")
          .hasMessageContaining(group.get(2).uri() + ": ")
          // each server's failure once, with how often the rounds of retries met it (it was said three times)
          .satisfies(e -> assertThat(e.getMessage().split("Connection refused", -1)).as(e.getMessage()).hasSize(4))
          .hasMessageContaining("Connection refused (3 times)");
    }
  }
}
