package io.ferry.lease;

import java.time.Duration;
import java.util.Objects;

/**
 * Timing of leases.
 *
 * @param ttl how long a lease lives without renewal; a holder renews it every {@code ttl / 4}
 * @param skew the clock difference tolerated between machines (and stores that stamp objects in whole seconds, as
 *     S3 does): another holder's lease counts as live until {@code skew} after its expiry, a holder stops trusting its
 *     own lease {@code skew} before its expiry, and gc keeps objects stamped up to {@code skew} before the earliest
 *     live push began
 * @param pollInterval the longest wait between two looks while a push waits for a running gc's deletions to end
 */
public record LeaseSettings(Duration ttl, Duration skew, Duration pollInterval) {
  /**
   * The longest ttl any holder may use: a lease record that expires further ahead than this (plus skew) was written
   * by no holder, and waiting for it would wait for ever.
   */
  public static final Duration MAX_TTL = Duration.ofDays(1);

  public LeaseSettings {
    Objects.requireNonNull(ttl, "ttl");
    Objects.requireNonNull(skew, "skew");
    Objects.requireNonNull(pollInterval, "pollInterval");
    if (ttl.isNegative() || ttl.isZero() || ttl.compareTo(MAX_TTL) > 0) {
      throw new IllegalArgumentException("lease ttl must be positive and at most " + MAX_TTL + ", got " + ttl);
    }
    if (skew.isNegative() || skew.multipliedBy(2).compareTo(ttl) >= 0) {
      throw new IllegalArgumentException("lease skew must be in [0, ttl/2), got " + skew + " for ttl " + ttl);
    }
    if (pollInterval.isNegative() || pollInterval.isZero()) {
      throw new IllegalArgumentException("lease poll interval must be positive, got " + pollInterval);
    }
  }

  /** Ten minutes to live, two minutes of tolerated clock skew, polls at most every two seconds. */
  public static LeaseSettings defaults() {
    return new LeaseSettings(Duration.ofMinutes(10), Duration.ofMinutes(2), Duration.ofSeconds(2));
  }
}
