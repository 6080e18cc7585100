package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.store.StoredObject;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chunk reads into a caller's buffer ({@code readInto}, what a pull streams through): the body lands in the buffer's
 * remaining room and nowhere else, an answer of the wrong length is refused and read from another server without
 * spilling past the room, a hedged read that wins puts its bytes where the caller wants them while the abandoned
 * one writes nothing after the read returned, and a kept connection that the server closed is replaced quietly.
 */
@Timeout(60)
class ReadIntoTest {
  private static final byte GUARD = (byte) 0xA5;

  @TempDir static Path tmp;
  static ServerGroup group;
  static StoredObject big;

  @BeforeAll
  static void start() throws IOException {
    group = new ServerGroup(tmp.resolve("store"), 2, null);
    Path src = tmp.resolve("src");
    Files.createDirectories(src);
    byte[] bytes = new byte[3 << 20];
    new Random(13).nextBytes(bytes);
    Files.write(src.resolve("a.bin"), bytes);
    try (Repository r = group.local()) {
      r.push(src, "m", PushOptions.builder().build());
    }
    List<StoredObject> objects = new ArrayList<>();
    group.store.chunks().list(objects::add);
    big = objects.stream().max(Comparator.comparingLong(StoredObject::size)).orElseThrow();
    assertThat(big.size()).isGreaterThan(1 << 20);
  }

  @AfterAll
  static void stop() throws IOException {
    group.close();
  }

  @BeforeEach
  void healthy() {
    for (ProtocolServer s : group.servers) {
      s.chunkDelay.set(Duration.ZERO);
      s.chunkBodyDelta.set(0);
    }
  }

  /** A direct buffer of guard bytes with room for {@code length} bytes at position 100, and guards after it. */
  private static ByteBuffer guarded(int length) {
    ByteBuffer b = ByteBuffer.allocateDirect(length + 200);
    while (b.hasRemaining()) {
      b.put(GUARD);
    }
    return b.position(100).limit(100 + length);
  }

  private static void assertHolds(ByteBuffer dst, int length, ByteBuffer expected) {
    assertThat(dst.position()).isEqualTo(100 + length);
    ByteBuffer all = dst.duplicate().clear();
    for (int i = 0; i < 100; i++) {
      assertThat(all.get(i)).as("guard byte %d before the room", i).isEqualTo(GUARD);
      assertThat(all.get(100 + length + i)).as("guard byte %d after the room", i).isEqualTo(GUARD);
    }
    assertThat(all.duplicate().position(100).limit(100 + length)).isEqualTo(expected);
  }

  @Test
  void aRangeLandsInTheCallersRoomAndNowhereElse() throws IOException {
    try (HttpBackend b = group.client("?hedge=false", Map.of())) {
      int from = 12_345;
      int length = (int) big.size() - from - 7;
      ByteBuffer dst = guarded(length);
      b.chunks().readInto(big.id(), from, dst);
      assertHolds(dst, length, group.store.chunks().read(big.id(), from, length));
    }
  }

  @Test
  void anAnswerOfTheWrongLengthIsRefusedAndReadFromTheOtherServer() throws IOException {
    for (int delta : new int[] {5, -5}) {
      group.get(0).chunkBodyDelta.set(delta);
      try (HttpBackend b = group.client("?balance=round-robin&hedge=false", Map.of())) {
        for (int i = 0; i < 4; i++) {
          int length = 1 << 20;
          ByteBuffer dst = guarded(length);
          b.chunks().readInto(big.id(), 1000 + i, dst);
          assertHolds(dst, length, group.store.chunks().read(big.id(), 1000 + i, length));
        }
        assertThat(b.stats().get(0).failures()).as("server 0's wrong answers").isPositive();
      }
    }
  }

  /**
   * A body in a Content-Encoding Ferry did not ask for (a proxy that compresses answers) is refused naming the
   * encoding, and read from another server; it failed as an answer of the wrong length, or, when the compressed body
   * had the length asked for, as a damaged object.
   */
  @Test
  void anAnswerInAnEncodingFerryDidNotAskForIsRefusedNamingIt() throws IOException {
    group.get(0).gzipChunks.set(true);
    try {
      for (int length : new int[] {64 << 10, 8}) {
        try (HttpBackend b = HttpBackend.open(java.net.URI.create(group.get(0).uri().toString()),
            io.ferry.store.StoreOptions.existing(), Map.of())) {
          for (ByteBuffer dst : List.of(ByteBuffer.allocate(length), ByteBuffer.allocateDirect(length))) {
            assertThatThrownBy(() -> b.chunks().readInto(big.id(), 0, dst)).isInstanceOf(IOException.class)
                .hasMessageContaining("read bytes 0-" + (length - 1) + " of object " + big.id())
                .hasMessageContaining("Content-Encoding 'gzip', which Ferry does not ask for");
          }
          assertThat(b.stats().get(0).timesDown()).as("a server that answers is not down").isZero();
        }
      }
      try (HttpBackend b = group.client("?balance=round-robin&hedge=false", Map.of())) {
        for (int i = 0; i < 4; i++) {
          ByteBuffer dst = guarded(1 << 20);
          b.chunks().readInto(big.id(), i, dst);
          assertHolds(dst, 1 << 20, group.store.chunks().read(big.id(), i, 1 << 20));
        }
      }
    } finally {
      group.get(0).gzipChunks.set(false);
    }
  }

  @Test
  void withOneServerALongerAnswerFailsNamingWhatWasAskedFor() throws IOException {
    group.get(0).chunkBodyDelta.set(3);
    try (HttpBackend b = HttpBackend.open(java.net.URI.create(group.get(0).uri().toString()),
        io.ferry.store.StoreOptions.existing(), Map.of())) {
      ByteBuffer dst = guarded(4096);
      assertThatThrownBy(() -> b.chunks().readInto(big.id(), 0, dst))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("read bytes 0-4095 of object " + big.id())
          .hasMessageContaining("longer than the 4096 bytes asked for");
      assertThat(dst.position()).isEqualTo(100);
      ByteBuffer all = dst.duplicate().clear();
      for (int i = 100 + 4096; i < all.capacity(); i++) {
        assertThat(all.get(i)).as("byte %d past the room", i).isEqualTo(GUARD);
      }
    }
  }

  @Test
  void aHedgedReadThatWinsFillsTheBufferAndTheLoserWritesNothingAfterwards() throws Exception {
    try (HttpBackend b = group.client("?balance=round-robin&hedge_floor_ms=30", Map.of())) {
      for (int i = 0; i < 40; i++) { // fills the latency windows
        b.chunks().readInto(big.id(), 0, ByteBuffer.allocateDirect(64 << 10));
      }
      ProtocolServer slow = group.get(0);
      // far past the hedging delay even when a loaded machine's stalls in the reads above raised their p95
      slow.chunkDelay.set(Duration.ofSeconds(3));
      long answeredBySlow = slow.chunkReads.get();
      int length = (int) big.size() - 64;
      ByteBuffer expected = group.store.chunks().read(big.id(), 64, length);
      boolean sawHedge = false;
      for (int i = 0; i < 4 && !sawHedge; i++) { // round-robin: one of two reads goes to the slow server first
        long hedges = b.stats().get(1).hedges();
        ByteBuffer dst = guarded(length);
        b.chunks().readInto(big.id(), 64, dst);
        assertHolds(dst, length, expected);
        if (b.stats().get(1).hedges() > hedges) {
          sawHedge = true;
          ByteBuffer room = dst.duplicate().position(100).limit(100 + length);
          while (room.hasRemaining()) {
            room.put(GUARD);
          }
          // the slow server sends its answer after its delay; none of it may reach the buffer. Waited for as every
          // exchange of the slow server ended: a count of its answers could be met by one of an earlier test's
          ServerGroup.await("the slow server answering", 10,
              () -> slow.chunkReads.get() > answeredBySlow && slow.running.get() == 0);
          b.chunks().readInto(big.id(), 0, ByteBuffer.allocateDirect(4096)); // a round trip after it
          ByteBuffer after = dst.duplicate().clear();
          for (int j = 0; j < after.capacity(); j++) {
            assertThat(after.get(j)).as("byte %d after the read returned", j).isEqualTo(GUARD);
          }
        }
      }
      assertThat(sawHedge).as("a read was hedged").isTrue();
    }
  }

  @Test
  void aReadInTheCallersThreadEndsAtTheRequestTimeoutAndWritesNothingAfterwards() throws Exception {
    // the servers answer long after the request timeout, so that a read that waited for them is told from one that
    // ended at the timeout even when a loaded machine stalls the test for a second or two
    for (ProtocolServer s : group.servers) {
      s.chunkDelay.set(Duration.ofSeconds(5));
    }
    try (HttpBackend b = group.client("?hedge=false&request_timeout_ms=200", Map.of())) {
      int length = 64 << 10;
      ByteBuffer dst = guarded(length);
      long t = System.nanoTime();
      assertThatThrownBy(() -> b.chunks().readInto(big.id(), 0, dst))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("no answer within 200 ms (request_timeout_ms)");
      assertThat((System.nanoTime() - t) / 1_000_000).as("ms until the read failed").isLessThan(3500);
      assertThat(dst.position()).isEqualTo(100);
      long answered = group.get(0).chunkReads.get() + group.get(1).chunkReads.get();
      ServerGroup.await("the servers answering after their delay", 30,
          () -> group.get(0).chunkReads.get() + group.get(1).chunkReads.get() >= answered + 2
              && group.get(0).running.get() == 0 && group.get(1).running.get() == 0);
      healthy();
      b.chunks().readInto(big.id(), 0, ByteBuffer.allocateDirect(16)); // a round trip after they answered
      ByteBuffer all = dst.duplicate().clear();
      for (int i = 0; i < all.capacity(); i++) {
        assertThat(all.get(i)).as("byte %d after the read failed", i).isEqualTo(GUARD);
      }
    }
  }

  @Test
  void anInterruptedReadInTheCallersThreadFailsAsInterruptedAndMarksNoServerDown() throws Exception {
    for (ProtocolServer s : group.servers) {
      s.chunkDelay.set(Duration.ofMillis(3000));
    }
    try (HttpBackend b = group.client("?hedge=false", Map.of())) {
      ByteBuffer dst = guarded(4096);
      long before = group.get(0).requests.get() + group.get(1).requests.get();
      AtomicReference<Throwable> failure = new AtomicReference<>();
      Thread reader = new Thread(() -> {
        try {
          b.chunks().readInto(big.id(), 0, dst);
        } catch (Throwable t) {
          failure.set(t);
        }
      });
      reader.start();
      ServerGroup.await("a server receiving the read", 10,
          () -> group.get(0).requests.get() + group.get(1).requests.get() > before);
      reader.interrupt();
      reader.join(10_000);
      assertThat(reader.isAlive()).isFalse();
      assertThat(failure.get()).isInstanceOf(InterruptedIOException.class);
      for (ServerStats s : b.stats()) {
        assertThat(s.down()).as("%s marked down", s).isFalse();
        assertThat(s.failures()).as("failures booked against %s", s).isZero();
      }
      assertThat(dst.position()).isEqualTo(100);
    }
  }

  @Test
  void aKeptConnectionTheServerClosedIsReplacedWithoutCountingAFailure() throws Exception {
    ProtocolServer one = group.get(1);
    try (HttpBackend b = HttpBackend.open(one.uri(), io.ferry.store.StoreOptions.existing(), Map.of())) {
      int length = 64 << 10;
      ByteBuffer expected = group.store.chunks().read(big.id(), 0, length);
      ByteBuffer dst = guarded(length);
      b.chunks().readInto(big.id(), 0, dst); // leaves its connection open for the next read
      assertHolds(dst, length, expected);
      one.stop(); // closes every connection, the kept one too
      one.restart();
      dst = guarded(length);
      b.chunks().readInto(big.id(), 0, dst);
      assertHolds(dst, length, expected);
      assertThat(b.stats().get(0).failures()).as("failures booked against the server").isZero();
      assertThat(b.stats().get(0).down()).isFalse();
    }
  }

  @Test
  void aServerUnderAPathPrefixIsReadUnderIt() throws Exception {
    try (ProtocolServer proxied = ProtocolServer.startUnder(group.store, null, "/ferry");
        HttpBackend b = HttpBackend.open(java.net.URI.create(proxied.uri() + "/ferry"),
            io.ferry.store.StoreOptions.existing(), Map.of())) {
      int length = 64 << 10;
      ByteBuffer dst = guarded(length);
      b.chunks().readInto(big.id(), 5, dst);
      assertHolds(dst, length, group.store.chunks().read(big.id(), 5, length));
      assertThat(proxied.chunkReads.get()).isEqualTo(1);
      assertThat(proxied.stray.get()).as("requests outside /ferry/v1/store").isZero();
      assertThat(b.stats().get(0).failures()).isZero();
    }
  }
}
