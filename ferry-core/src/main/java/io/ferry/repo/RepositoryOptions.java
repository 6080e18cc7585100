package io.ferry.repo;

import java.time.Clock;
import java.util.Objects;

/**
 * How a repository runs.
 *
 * @param parallelism worker threads for hashing, uploads, pulls and verify (default: 2 x cores, at least 4)
 * @param author who moves refs and pushes, when an operation names nobody
 * @param clock time source for versions and ref logs (injected, so tests control it)
 * @param zstdLevel zstd level for the zstd codec
 */
public record RepositoryOptions(int parallelism, String author, Clock clock, int zstdLevel) {
  public RepositoryOptions {
    if (parallelism < 1 || parallelism > 1024) {
      throw new IllegalArgumentException("parallelism must be in 1..1024, got " + parallelism);
    }
    Objects.requireNonNull(author, "author");
    Objects.requireNonNull(clock, "clock");
  }

  /** Defaults: parallelism from the cores, author from FERRY_AUTHOR or the user name, system clock, zstd 3. */
  public static RepositoryOptions defaults() {
    return new RepositoryOptions(defaultParallelism(), defaultAuthor(), Clock.systemUTC(), 3);
  }

  public RepositoryOptions withParallelism(int p) {
    return new RepositoryOptions(p, author, clock, zstdLevel);
  }

  public RepositoryOptions withAuthor(String a) {
    return new RepositoryOptions(parallelism, a, clock, zstdLevel);
  }

  public RepositoryOptions withClock(Clock c) {
    return new RepositoryOptions(parallelism, author, c, zstdLevel);
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
