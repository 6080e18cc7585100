package io.ferry.read;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The read buffers of a push: reused, and never more than their limit in total (one oversized request runs alone). */
class ReadBuffersTest {
  private static final int KIB = 1024;

  @Test
  void aBufferGivenBackIsLentAgain() throws Exception {
    ReadBuffers b = new ReadBuffers(1024 * KIB);
    ByteBuffer first = b.take(10);
    assertThat(first.isDirect()).isTrue();
    assertThat(first.position()).isZero();
    assertThat(first.limit()).isEqualTo(10);
    first.put((byte) 1);
    b.give(first);
    ByteBuffer again = b.take(200 * KIB);
    assertThat(again).isSameAs(first);
    assertThat(again.position()).isZero();
    assertThat(again.limit()).isEqualTo(200 * KIB);
  }

  @Test
  void aBufferIsNeverLentTwice() throws Exception {
    ReadBuffers b = new ReadBuffers(4096 * KIB);
    ByteBuffer big = b.take(1024 * KIB);
    ByteBuffer small = b.take(10);
    // given back with equal (empty) contents: ByteBuffer.equals holds, identity does not
    b.give(big.limit(0));
    b.give(small.limit(0));
    ByteBuffer first = b.take(10);
    ByteBuffer second = b.take(10);
    assertThat(first).isSameAs(small);
    assertThat(second).isNotSameAs(first).isSameAs(big);
  }

  @Test
  void requestsPastTheLimitWaitForBuffersToComeBack() throws Exception {
    ReadBuffers b = new ReadBuffers(1024 * KIB);
    ByteBuffer x = b.take(512 * KIB);
    ByteBuffer y = b.take(512 * KIB);
    CompletableFuture<ByteBuffer> big = CompletableFuture.supplyAsync(() -> {
      try {
        return b.take(3000 * KIB); // bigger than the whole limit: waits until nothing else is lent
      } catch (java.io.InterruptedIOException e) {
        throw new IllegalStateException(e);
      }
    });
    b.give(x);
    assertThat(big).isNotDone();
    b.give(y);
    ByteBuffer got = big.get(30, TimeUnit.SECONDS);
    assertThat(got.capacity()).isGreaterThanOrEqualTo(3000 * KIB);
    assertThat(got.limit()).isEqualTo(3000 * KIB);
  }

  @Test
  void capacitiesWasteAtMostAnEighth() {
    assertThat(ReadBuffers.capacityFor(10)).isEqualTo(256 * KIB);
    assertThat(ReadBuffers.capacityFor(256 * KIB + 1)).isEqualTo(288 * KIB);
    // a pull's 40 MiB frame and 64 MiB of decoded bytes in one buffer
    assertThat(ReadBuffers.capacityFor(104 << 20)).isEqualTo(104 << 20);
    assertThat(ReadBuffers.capacityFor((104 << 20) + 1)).isEqualTo(112 << 20);
    for (int n : new int[] {300_000, 1 << 20, 67_108_864 + 64, 111_111_111, Integer.MAX_VALUE - 100}) {
      int c = ReadBuffers.capacityFor(n);
      assertThat((long) c).as("capacity for %d", n).isGreaterThanOrEqualTo(n).isLessThanOrEqualTo(n + n / 8L + 8);
    }
  }

  @Test
  void aUniformPoolMakesItsBuffersOnceWhateverTheSizesThatCome() throws Exception {
    int uniform = 8 << 20;
    int[] made = {0};
    ReadBuffers b = new ReadBuffers(2L * uniform, n -> {
      made[0]++;
      return ByteBuffer.allocate(n);
    }, uniform);
    int[] sizes = {1 << 20, uniform, 300 * KIB, 5 << 20, uniform - 7, 2 << 20, uniform, 700 * KIB};
    for (int round = 0; round < 3; round++) {
      for (int i = 0; i + 1 < sizes.length; i += 2) {
        ByteBuffer x = b.take(sizes[i]);
        ByteBuffer y = b.take(sizes[i + 1]);
        assertThat(x.limit()).isEqualTo(sizes[i]);
        assertThat(y.limit()).isEqualTo(sizes[i + 1]);
        b.give(x);
        b.give(y);
      }
    }
    assertThat(made[0]).as("buffers made for two chunks at a time of sizes from 300 KiB to %d", uniform).isEqualTo(2);
  }

  /**
   * A buffer the allocator could not make (the heap full: OutOfMemoryError) is not counted as lent: it was, and the
   * next request that needed the room waited for it for ever (a derive under a small heap hung instead of failing).
   */
  @Test
  void aBufferThatCouldNotBeMadeIsNotCountedAsLent() throws Exception {
    java.util.concurrent.atomic.AtomicBoolean full = new java.util.concurrent.atomic.AtomicBoolean(true);
    ReadBuffers buffers = new ReadBuffers(1 << 20, n -> {
      if (full.getAndSet(false)) {
        throw new OutOfMemoryError("Java heap space");
      }
      return ByteBuffer.allocate(n);
    });
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> buffers.take(768 << 10))
        .isInstanceOf(OutOfMemoryError.class);
    ByteBuffer whole = CompletableFuture.supplyAsync(() -> {
      try {
        return buffers.take(1 << 20);
      } catch (java.io.InterruptedIOException e) {
        throw new IllegalStateException(e);
      }
    }).get(10, TimeUnit.SECONDS);
    assertThat(whole.remaining()).isEqualTo(1 << 20);
  }
}
