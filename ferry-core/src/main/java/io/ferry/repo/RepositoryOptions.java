package io.ferry.repo;

import io.ferry.lease.LeaseSettings;
import java.time.Clock;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * How a repository runs.
 *
 * @param parallelism worker threads for hashing, uploads, pulls and verify (default: 2 x cores, at least 4)
 * @param author who moves refs and pushes, when an operation names nobody
 * @param clock the one time source of the repository: versions, ref logs, leases, gc's cutoff, and the modification
 *     times of objects in stores that stamp them themselves (injected, so tests control it)
 * @param zstdLevel zstd level for the zstd codec
 * @param leases timing of the leases that protect pushes from gc
 * @param retry how ref moves that lose a compare-and-swap race are retried
 * @param notices what the user should hear while an operation runs, not an error (a push waiting for another
 *     machine's gc to end, with whose lease and until when); the CLI prints them on stderr, the default logs them
 */
public record RepositoryOptions(int parallelism, String author, Clock clock, int zstdLevel, LeaseSettings leases,
    RetryPolicy retry, Consumer<String> notices) {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(RepositoryOptions.class);

  /** The most worker threads a repository runs. */
  public static final int MAX_PARALLELISM = 1024;

  public RepositoryOptions {
    if (parallelism < 1 || parallelism > MAX_PARALLELISM) {
      throw new IllegalArgumentException("parallelism must be in 1.." + MAX_PARALLELISM + ", got " + parallelism);
    }
    Objects.requireNonNull(author, "author");
    Objects.requireNonNull(clock, "clock");
    Objects.requireNonNull(leases, "leases");
    Objects.requireNonNull(retry, "retry");
    Objects.requireNonNull(notices, "notices");
  }

  /** Defaults: parallelism from the cores, author from FERRY_AUTHOR or the user name, system clock, zstd 3. */
  public static RepositoryOptions defaults() {
    return new RepositoryOptions(defaultParallelism(), defaultAuthor(), Clock.systemUTC(), 3,
        LeaseSettings.defaults(), RetryPolicy.defaults(), message -> LOG.warn("{}", message));
  }

  public RepositoryOptions withParallelism(int p) {
    return new RepositoryOptions(p, author, clock, zstdLevel, leases, retry, notices);
  }

  public RepositoryOptions withAuthor(String a) {
    return new RepositoryOptions(parallelism, a, clock, zstdLevel, leases, retry, notices);
  }

  public RepositoryOptions withClock(Clock c) {
    return new RepositoryOptions(parallelism, author, c, zstdLevel, leases, retry, notices);
  }

  public RepositoryOptions withZstdLevel(int level) {
    return new RepositoryOptions(parallelism, author, clock, level, leases, retry, notices);
  }

  public RepositoryOptions withLeases(LeaseSettings l) {
    return new RepositoryOptions(parallelism, author, clock, zstdLevel, l, retry, notices);
  }

  public RepositoryOptions withRetry(RetryPolicy r) {
    return new RepositoryOptions(parallelism, author, clock, zstdLevel, leases, r, notices);
  }

  public RepositoryOptions withNotices(Consumer<String> n) {
    return new RepositoryOptions(parallelism, author, clock, zstdLevel, leases, retry, n);
  }

  public static int defaultParallelism() {
    return Math.max(4, 2 * Runtime.getRuntime().availableProcessors());
  }

  public static String defaultAuthor() {
    String a = System.getenv("FERRY_AUTHOR");
    if (a != null && !a.isBlank()) {
      return a;
    }
    return System.getProperty("user.name", "unknown");
  }
}
