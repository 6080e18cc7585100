package io.ferry.store.http;

import java.util.Arrays;

/**
 * The last {@value #SIZE} latencies of one server's chunk reads, for the hedging threshold. Thread-safe (every method
 * holds the window's lock, which is held only for an array write or a sort of {@value #SIZE} longs).
 */
final class LatencyWindow {
  static final int SIZE = 128;
  /** Below this many samples a window says nothing ({@link #p95()} is -1). */
  static final int MIN_SAMPLES = 16;

  private final long[] nanos = new long[SIZE];
  private long count;

  synchronized void add(long latencyNanos) {
    nanos[(int) (count++ % SIZE)] = latencyNanos;
  }

  /** The 95th percentile of the window in nanoseconds, or -1 with fewer than {@value #MIN_SAMPLES} samples. */
  synchronized long p95() {
    int n = (int) Math.min(count, SIZE);
    if (n < MIN_SAMPLES) {
      return -1;
    }
    long[] sorted = Arrays.copyOf(nanos, n);
    Arrays.sort(sorted);
    return sorted[Math.min(n - 1, (int) Math.ceil(n * 0.95) - 1)];
  }
}
