package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.store.StoreOptions;
import io.ferry.store.StoredObject;
import io.ferry.testkit.FreePort;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A read that runs past the recent p95 is sent to a second server and the first answer wins: with one of two servers
 * slowed down, no read waits for it; without hedging, reads do.
 */
@Timeout(60)
class HedgingTest {
  /**
   * How long the slowed server takes. A hedged read must end within half of it, so it is long enough that a loaded
   * machine's stall of a second or two (a descheduled thread, a GC pause) during a read, or in the reads whose p95
   * sets the hedging delay, does not reach that bound: with 800 ms, a pause of 0.6 s failed the test.
   */
  static final Duration SLOW = Duration.ofSeconds(6);

  @TempDir static Path tmp;
  static ServerGroup group;
  static List<StoredObject> objects = new ArrayList<>();

  @BeforeAll
  static void start() throws IOException {
    group = new ServerGroup(tmp.resolve("store"), 2, null);
    Path src = tmp.resolve("src");
    Files.createDirectories(src);
    byte[] big = new byte[2 << 20];
    new Random(5).nextBytes(big);
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
  void fast() {
    group.servers.forEach(s -> {
      s.chunkDelay.set(Duration.ZERO);
      s.headDelay.set(Duration.ZERO);
    });
  }

  /** The longest of {@code n} reads (round-robin, so half go to the slow server first), in nanoseconds. */
  private static long slowestOf(HttpBackend b, int n) throws IOException {
    long worst = 0;
    for (int i = 0; i < n; i++) {
      StoredObject o = objects.get(i % objects.size());
      long t = System.nanoTime();
      assertThat(b.chunks().read(o.id(), 0, (int) o.size()).remaining()).isEqualTo((int) o.size());
      worst = Math.max(worst, System.nanoTime() - t);
    }
    return worst;
  }

  @Test
  void aSlowServerIsHedgedAndTheLoserCancelled() throws IOException {
    try (HttpBackend b = group.client("?balance=round-robin&hedge_floor_ms=30", Map.of())) {
      slowestOf(b, 40); // fills the latency windows
      group.get(0).chunkDelay.set(SLOW);
      long worst = slowestOf(b, 8);
      assertThat(Duration.ofNanos(worst)).isLessThan(SLOW.dividedBy(2));
      assertThat(b.stats().get(1).hedges()).as("reads hedged to the fast server").isGreaterThanOrEqualTo(3);
      assertThat(b.stats().get(0).outstanding()).as("the slow server's requests, cancelled").isZero();
      assertThat(b.stats().get(0).down()).as("slow is not down").isFalse();
    }
  }

  /**
   * A chunk's size (a HEAD) is hedged like its bytes: one hung server of two held a pull for the whole request timeout
   * on a HEAD, which was only retried elsewhere once it timed out.
   */
  @Test
  void aSlowServersSizeLookupsAreHedgedToo() throws IOException {
    try (HttpBackend b = group.client("?balance=round-robin&hedge_floor_ms=30", Map.of())) {
      slowestOf(b, 40);
      group.get(0).headDelay.set(SLOW);
      long worst = 0;
      for (int i = 0; i < 8; i++) {
        StoredObject o = objects.get(i % objects.size());
        long t = System.nanoTime();
        assertThat(b.chunks().size(o.id())).isEqualTo(o.size());
        worst = Math.max(worst, System.nanoTime() - t);
      }
      assertThat(Duration.ofNanos(worst)).isLessThan(SLOW.dividedBy(2));
      assertThat(b.stats().get(1).hedges()).as("size lookups hedged to the fast server").isGreaterThanOrEqualTo(3);
    }
  }

  /**
   * A read is hedged only to a server that is up: a hedge to a server that could not be reached (not identified yet,
   * or marked down) once failed the whole read, though the first server was about to answer.
   */
  @Test
  void aReadIsNotHedgedToAServerThatIsDown() throws IOException {
    String uri = group.get(0).uri() + ",http://127.0.0.1:" + FreePort.pick() + "?balance=round-robin&hedge_floor_ms=5";
    try (HttpBackend b = HttpBackend.open(URI.create(uri), StoreOptions.existing(), Map.of())) {
      group.get(0).chunkDelay.set(Duration.ofMillis(300)); // past the first hedging delay, 10 × the floor
      for (int i = 0; i < 2; i++) {
        StoredObject o = objects.get(i % objects.size());
        assertThat(b.chunks().read(o.id(), 0, (int) o.size()).remaining()).isEqualTo((int) o.size());
      }
      assertThat(b.stats().get(1).down()).isTrue();
      assertThat(b.stats().get(1).hedges()).isZero();
    }
  }

  @Test
  void withoutHedgingReadsWaitForTheSlowServer() throws IOException {
    try (HttpBackend b = group.client("?balance=round-robin&hedge=false", Map.of())) {
      slowestOf(b, 4);
      group.get(0).chunkDelay.set(SLOW);
      assertThat(Duration.ofNanos(slowestOf(b, 2))).isGreaterThanOrEqualTo(SLOW);
      assertThat(b.stats().get(1).hedges()).isZero();
    }
  }
}
