package io.ferry.store.redis;

/**
 * What the cache tells its user: that it stopped being used (once per outage, not once per read), that it works
 * again, and its counters when it closes. The CLI prints the warning on stderr; the store layer's default logs it
 * through SLF4J. Called from reading threads and from the Redis client's I/O thread: implementations must be quick,
 * thread-safe, and must not throw.
 */
public interface CacheListener {
  /** The cache is bypassed from now on (down, slow, refusing writes, unbounded...); reads go to the store. */
  default void warning(String message) {}

  /**
   * Something the user should hear while the cache stays in use: an object read through it failed its checks
   * (damaged in Redis, or forged by whoever may write there) and was dropped and read from the store; fills that other
   * readers claimed never came, and this process stops waiting for fills. By default a {@link #warning}.
   */
  default void notice(String message) {
    warning(message);
  }

  /** The cache answers again after a {@link #warning}. */
  default void recovered(String message) {}

  /** The cache closed; {@code totals} are this instance's counters from its opening. */
  default void closed(CacheCounters totals) {}
}
