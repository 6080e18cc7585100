package io.ferry.repo;

import io.ferry.id.ChunkId;
import io.ferry.error.ConflictException;
import io.ferry.repo.Results.TagResult;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Clock;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.LockSupport;

/**
 * Every ref move of a repository: one compare-and-swap per attempt, outcomes as {@link CasResult}, lost races retried
 * under one {@link RetryPolicy}. Thread-safe.
 */
final class RefUpdater {
  /** One attempt of an update that may lose a race: empty means "lost, try again" after re-reading. */
  @FunctionalInterface
  interface Attempt<T> {
    Optional<T> run() throws IOException;
  }

  private final RefStore refs;
  private final Clock clock;
  private final RetryPolicy policy;

  RefUpdater(RefStore refs, Clock clock, RetryPolicy policy) {
    this.refs = refs;
    this.clock = clock;
    this.policy = policy;
  }

  RefStore refs() {
    return refs;
  }

  /** One compare-and-swap, logged as {@code who} and {@code why} at the repository's clock. */
  CasResult compareAndSet(String ref, ChunkId expected, ChunkId next, String who, String why) throws IOException {
    return refs.compareAndSet(ref, expected, next, new RefLogEntry(expected, next, who, clock.instant(), why));
  }

  /**
   * Moves {@code ref} back from {@code moved} to {@code back} after a later step of the same command failed (a push's
   * or copy's tag move after its head move), so that the failed command leaves the refs as they were.
   *
   * @return empty when the ref is back; else why not (another writer moved it on, or the move back failed too), for
   *     an error that says the command is half done
   */
  Optional<String> moveBack(String ref, ChunkId moved, ChunkId back, String who, String why) {
    try {
      return compareAndSet(ref, moved, back, who, why).isSuccess() ? Optional.empty()
          : Optional.of("another writer moved it on meanwhile");
    } catch (IOException | RuntimeException e) {
      return Optional.of(String.valueOf(e.getMessage()));
    }
  }

  /**
   * Runs {@code attempt} until it succeeds, backing off between lost races.
   *
   * @throws ConflictException naming {@code what} when every attempt lost
   */
  <T> T retrying(String what, Attempt<T> attempt) throws IOException {
    for (int n = 0; n < policy.attempts(); n++) {
      long bound = policy.boundNanos(n);
      if (bound > 0) {
        LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(bound + 1));
        if (Thread.interrupted()) {
          Thread.currentThread().interrupt();
          throw new InterruptedIOException("interrupted while retrying: " + what);
        }
      }
      Optional<T> r = attempt.run();
      if (r.isPresent()) {
        return r.get();
      }
    }
    throw new ConflictException(what + " kept losing to concurrent updates; gave up after " + policy.attempts()
        + " tries");
  }

  /**
   * Points {@code ref} at {@code to}. With {@code expect} non-null the move is one compare-and-swap against that id
   * and a mismatch or a lost race is a {@link ConflictException}; without, the current value is re-read and the move
   * retried until it lands.
   */
  TagResult move(String ref, ChunkId to, ChunkId expect, String who, String why) throws IOException {
    String named = RefNames.asWritten(ref);
    return retrying("moving " + named, () -> {
      ChunkId old = refs.get(ref).orElse(null);
      if (expect != null && !expect.equals(old)) {
        throw new ConflictException(named + " points at " + (old == null ? "nothing" : old.hex()) + ", not at "
            + expect.hex() + " as expected; nothing changed");
      }
      CasResult r = compareAndSet(ref, old, to, who, why);
      if (r.isSuccess()) {
        return Optional.of(new TagResult(ref, old, to, r));
      }
      if (expect != null) {
        throw new ConflictException(named + " moved while it was being updated; nothing changed");
      }
      return Optional.empty();
    });
  }
}
