package io.ferry.chunk;

import io.ferry.id.ChunkId;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Property tests of {@link CdcChunker}. Random inputs come from a seed printed in every assertion message; rerun a
 * failure with {@code -Dtests.seed=<seed>}.
 */
class CdcChunkerTest {
  private static final long SEED = Long.getLong("tests.seed", new Random().nextLong());
  private static final CdcParams D = CdcParams.DEFAULT;
  private static final CdcParams SMALL = new CdcParams(1024, 4096, 16384);

  @TempDir Path dir;

  @Test
  void gearTableIsPinned() throws Exception {
    long[] g = CdcChunker.gear();
    assertThat(g).hasSize(256);
    assertThat(g[0]).isEqualTo(0xD4991979AE5435EAL);
    assertThat(g[1]).isEqualTo(0x145FAB3F8A925558L);
    assertThat(g[255]).isEqualTo(0xCBA351C9CB0CB0D3L);
    ByteBuffer all = ByteBuffer.allocate(256 * 8);
    for (long x : g) {
      all.putLong(x);
    }
    assertThat(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(all.array())))
        .isEqualTo("2a553865e3283a4f55bb8780798861381e5cdaa1520def58db701d9ffde480e4");
  }

  /** Boundaries are storage format: these must never change. The input is documented SplitMix64 output. */
  @Test
  void cutsArePinned() {
    assertThat(new CdcChunker(D).cuts(ByteBuffer.wrap(splitMixBytes(42, 12 << 20)))).containsExactly(
        880567, 2123595, 3541883, 5247489, 6346204, 7633618, 8768836, 10392618, 10837250, 11887878, 12582912);
    assertThat(new CdcChunker(SMALL).cuts(ByteBuffer.wrap(splitMixBytes(7, 100_000)))).containsExactly(
        4360, 8533, 10640, 15148, 20467, 24846, 30492, 36056, 40810, 47665, 53229, 57543, 61880, 66086, 74447, 78580,
        83297, 88839, 94281, 97516, 100000);
  }

  @Test
  void edgeSizes() throws IOException {
    Random r = new Random(SEED);
    for (int n : new int[] {0, 1, D.min() - 1, D.min(), D.min() + 1, D.max(), D.max() + 1}) {
      byte[] b = randomBytes(r, n);
      long[] cuts = allFormsAgree(new CdcChunker(D, 5 << 20), b, "size " + n);
      checkBounds(cuts, n, D, "size " + n);
      if (n == 0) {
        assertThat(cuts).isEmpty();
      } else if (n <= D.min()) {
        assertThat(cuts).as("seed %d size %d", SEED, n).containsExactly(n);
      }
    }
    assertThat(new CdcChunker(D).cuts(ByteBuffer.allocate(D.max() + 1)))
        .containsExactly(D.max(), D.max() + 1);
  }

  @Test
  void chunksStayWithinBoundsAndAverageNearAvg() {
    Random r = new Random(SEED);
    byte[] big = randomBytes(r, 64 << 20);
    long[] cuts = new CdcChunker(D).cuts(ByteBuffer.wrap(big));
    checkBounds(cuts, big.length, D, "64 MiB");
    checkAverage(cuts, D, "64 MiB");

    CdcChunker small = new CdcChunker(SMALL);
    long[] all = small.cuts(ByteBuffer.wrap(big, 0, 8 << 20));
    checkBounds(all, 8 << 20, SMALL, "8 MiB, small params");
    checkAverage(all, SMALL, "8 MiB, small params");
    for (int i = 0; i < 50; i++) {
      int n = r.nextInt(200_000);
      byte[] b = randomBytes(r, n);
      checkBounds(small.cuts(ByteBuffer.wrap(b)), n, SMALL, "size " + n);
    }
  }

  @Test
  void cutsAreDeterministicAndPositionIsUnchanged() {
    byte[] b = randomBytes(new Random(SEED), 9 << 20);
    CdcChunker c = new CdcChunker(D);
    ByteBuffer heap = ByteBuffer.wrap(b);
    heap.position(1000);
    long[] first = c.cuts(heap);
    assertThat(heap.position()).isEqualTo(1000);
    assertThat(c.cuts(heap)).as("seed %d", SEED).containsExactly(first);
    assertThat(new CdcChunker(D).cuts(ByteBuffer.wrap(Arrays.copyOfRange(b, 1000, b.length))))
        .as("seed %d", SEED).containsExactly(first);
    ByteBuffer direct = ByteBuffer.allocateDirect(b.length).put(b).position(1000);
    assertThat(c.cuts(direct)).as("seed %d", SEED).containsExactly(first);
    assertThat(direct.position()).isEqualTo(1000);
  }

  /** A 20 MiB file through a 5 MiB window, whole and as an unaligned region, against the in-memory forms. */
  @Test
  void channelAcrossWindowEdgesMatchesBuffers() throws IOException {
    byte[] b = randomBytes(new Random(SEED), 20 << 20);
    Path f = dir.resolve("opaque.bin");
    Files.write(f, b);
    CdcChunker small = new CdcChunker(D, 5 << 20);
    long[] expected = allFormsAgree(small, b, "20 MiB");
    assertThat(expected.length).as("seed %d", SEED).isGreaterThan(10);
    assertThat(new CdcChunker(D).cuts(ByteBuffer.wrap(b))).as("seed %d", SEED).containsExactly(expected);

    int start = 12_345;
    int end = b.length - 777;
    long[] region = new CdcChunker(D).cuts(ByteBuffer.wrap(b, start, end - start).slice());
    for (int i = 0; i < region.length; i++) {
      region[i] += start;
    }
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
      assertThat(small.cuts(ch, start, end)).as("seed %d", SEED).containsExactly(region);
      assertThat(small.cuts(ch, 5, 5)).isEmpty();
      assertThat(ch.position()).isZero();
    }
  }

  @Test
  void channelShorterThanRegionFails() throws IOException {
    Path f = dir.resolve("short.bin");
    Files.write(f, new byte[1000]);
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
      assertThatThrownBy(() -> new CdcChunker(D).cuts(ch, 0, 2000))
          .isInstanceOf(EOFException.class).hasMessageContaining("1000").hasMessageContaining("2000");
      assertThatThrownBy(() -> new CdcChunker(D).cuts(ch, 10, 5)).isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void allZerosCutAtMax() throws IOException {
    int n = 20 << 20 | 12345;
    long[] cuts = allFormsAgree(new CdcChunker(D, 5 << 20), new byte[n], "zeros");
    for (int i = 0; i < cuts.length; i++) {
      assertThat(cuts[i]).isEqualTo(Math.min((long) (i + 1) * D.max(), n));
    }
    assertThat(cuts).hasSize(n / D.max() + 1);
  }

  @Test
  void editsInTheMiddleChangeOnlyNearbyChunks() {
    Random r = new Random(SEED);
    byte[] base = randomBytes(r, 64 << 20);
    Set<String> before = chunkHashes(base);
    for (int trial = 0; trial < 4; trial++) {
      int at = base.length / 2 + r.nextInt(1 << 20) - (1 << 19);
      int k = 1 + r.nextInt(16);
      byte[] edited;
      String what;
      if (trial % 2 == 0) {
        edited = new byte[base.length + k];
        System.arraycopy(base, 0, edited, 0, at);
        System.arraycopy(randomBytes(r, k), 0, edited, at, k);
        System.arraycopy(base, at, edited, at + k, base.length - at);
        what = "insert " + k + " bytes at " + at;
      } else {
        edited = new byte[base.length - k];
        System.arraycopy(base, 0, edited, 0, at);
        System.arraycopy(base, at + k, edited, at, base.length - at - k);
        what = "delete " + k + " bytes at " + at;
      }
      Set<String> after = chunkHashes(edited);
      Set<String> shared = new HashSet<>(before);
      shared.retainAll(after);
      assertThat((double) shared.size() / before.size())
          .as("seed %d, %s: %d of %d chunks shared", SEED, what, shared.size(), before.size())
          .isGreaterThanOrEqualTo(0.9);
      assertThat(after.size() - shared.size()).as("seed %d, %s: new chunks", SEED, what).isPositive();
    }
  }

  private static Set<String> chunkHashes(byte[] b) {
    long[] cuts = new CdcChunker(D).cuts(ByteBuffer.wrap(b));
    Set<String> out = new HashSet<>();
    long from = 0;
    for (long c : cuts) {
      out.add(ChunkId.of(ByteBuffer.wrap(b, (int) from, (int) (c - from))).hex());
      from = c;
    }
    return out;
  }

  /** Cuts by a heap buffer, a read-only heap buffer, a direct buffer and a file channel; asserts they agree. */
  private long[] allFormsAgree(CdcChunker c, byte[] b, String what) throws IOException {
    long[] heap = c.cuts(ByteBuffer.wrap(b));
    ByteBuffer direct = ByteBuffer.allocateDirect(Math.max(1, b.length)).put(b).flip();
    Path f = Files.write(dir.resolve("forms-" + b.length + ".bin"), b);
    long[] channel;
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
      channel = c.cuts(ch, 0, b.length);
    }
    for (var e : List.of(
        new Object[] {"read-only heap", c.cuts(ByteBuffer.wrap(b).asReadOnlyBuffer())},
        new Object[] {"direct", c.cuts(direct)},
        new Object[] {"channel", channel})) {
      assertThat((long[]) e[1]).as("seed %d, %s: %s vs heap", SEED, what, e[0]).containsExactly(heap);
    }
    return heap;
  }

  private static void checkBounds(long[] cuts, long n, CdcParams p, String what) {
    if (n == 0) {
      assertThat(cuts).isEmpty();
      return;
    }
    assertThat(cuts[cuts.length - 1]).as("seed %d, %s: last cut", SEED, what).isEqualTo(n);
    long from = 0;
    for (int i = 0; i < cuts.length; i++) {
      long len = cuts[i] - from;
      if (i < cuts.length - 1) {
        assertThat(len).as("seed %d, %s: chunk %d at %d", SEED, what, i, from).isBetween((long) p.min(), (long) p.max());
      } else {
        assertThat(len).as("seed %d, %s: last chunk at %d", SEED, what, from).isBetween(1L, (long) p.max());
      }
      from = cuts[i];
    }
  }

  private static void checkAverage(long[] cuts, CdcParams p, String what) {
    double mean = (double) cuts[cuts.length - 1] / cuts.length;
    assertThat(mean).as("seed %d, %s: mean chunk size over %d chunks", SEED, what, cuts.length)
        .isBetween(0.5 * p.avg(), 2.0 * p.avg());
  }

  private static byte[] randomBytes(Random r, int n) {
    byte[] b = new byte[n];
    r.nextBytes(b);
    return b;
  }

  /** Little-endian SplitMix64 output from {@code seed}: a JDK-independent, documented input for pinned cuts. */
  static byte[] splitMixBytes(long seed, int n) {
    byte[] b = new byte[n];
    long s = seed;
    for (int i = 0; i < n; i += 8) {
      s += 0x9E3779B97F4A7C15L;
      long z = s;
      z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
      z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
      z ^= z >>> 31;
      for (int j = 0; j < 8 && i + j < n; j++) {
        b[i + j] = (byte) (z >>> (8 * j));
      }
    }
    return b;
  }
}
