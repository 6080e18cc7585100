package io.ferry.repo;

import java.time.Duration;
import java.util.Objects;

/**
 * How a ref update that lost a compare-and-swap race is retried: at most {@code attempts} tries, waiting between them
 * a random time up to a bound that starts at {@code firstBackoff} and doubles up to {@code maxBackoff} (full jitter,
 * so that racing writers spread out instead of colliding again).
 */
public record RetryPolicy(int attempts, Duration firstBackoff, Duration maxBackoff) {
  public RetryPolicy {
    Objects.requireNonNull(firstBackoff, "firstBackoff");
    Objects.requireNonNull(maxBackoff, "maxBackoff");
    if (attempts < 1) {
      throw new IllegalArgumentException("retry attempts must be at least 1, got " + attempts);
    }
    if (firstBackoff.isNegative() || maxBackoff.compareTo(firstBackoff) < 0) {
      throw new IllegalArgumentException("backoff must satisfy 0 <= first <= max, got " + firstBackoff + " and "
          + maxBackoff);
    }
  }

  /** 100 attempts, backoff from 1 ms doubling up to 250 ms: about 20 s of contention before giving up. */
  public static RetryPolicy defaults() {
    return new RetryPolicy(100, Duration.ofMillis(1), Duration.ofMillis(250));
  }

  /** The longest wait before attempt {@code n} (0-based; no wait before the first). */
  long boundNanos(int n) {
    if (n == 0) {
      return 0;
    }
    long first = firstBackoff.toNanos();
    long max = maxBackoff.toNanos();
    int shift = Math.min(n - 1, 30);
    long bound = first << shift;
    return bound < 0 || bound > max ? max : bound;
  }
}
