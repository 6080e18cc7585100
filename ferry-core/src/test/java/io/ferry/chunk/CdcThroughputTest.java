package io.ferry.chunk;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Prints single-threaded chunking throughput on random data, as a ratio against SHA-256 over the same bytes in the same
 * run (SHA-256 runs on every chunk anyway). Interleaved, best of several rounds; prints, does not assert speed.
 */
// A measurement, not a check: it runs only with -Dferry.bench=true.
@EnabledIfSystemProperty(named = "ferry.bench", matches = "true")
class CdcThroughputTest {
  @Test
  void printThroughput() throws Exception {
    int n = 256 << 20;
    byte[] b = new byte[n];
    new Random(1).nextBytes(b);
    ByteBuffer heap = ByteBuffer.wrap(b);
    ByteBuffer direct = ByteBuffer.allocateDirect(n).put(b).flip();
    CdcChunker c = new CdcChunker(CdcParams.DEFAULT);
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    long bestHeap = Long.MAX_VALUE;
    long bestDirect = Long.MAX_VALUE;
    long bestSha = Long.MAX_VALUE;
    long[] cuts = null;
    for (int round = 0; round < 6; round++) {
      long t0 = System.nanoTime();
      cuts = c.cuts(heap);
      long t1 = System.nanoTime();
      long[] d = c.cuts(direct);
      long t2 = System.nanoTime();
      md.update(heap.duplicate());
      md.digest();
      long t3 = System.nanoTime();
      bestHeap = Math.min(bestHeap, t1 - t0);
      bestDirect = Math.min(bestDirect, t2 - t1);
      bestSha = Math.min(bestSha, t3 - t2);
      assertThat(d).containsExactly(cuts);
    }
    System.out.printf("cdc heap   %.2f GB/s = %.2fx sha256 (%d chunks, mean %.0f bytes)%n",
        n / (double) bestHeap, bestSha / (double) bestHeap, cuts.length, n / (double) cuts.length);
    System.out.printf("cdc direct %.2f GB/s = %.2fx sha256%n", n / (double) bestDirect, bestSha / (double) bestDirect);
    System.out.printf("sha256     %.2f GB/s (baseline)%n", n / (double) bestSha);
  }
}
