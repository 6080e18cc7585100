package io.ferry.server;

import io.ferry.store.Backend;
import io.ferry.store.StoreIdentity;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The id of the store a server serves ({@link StoreIdentity}), read once and then kept. A store made before markers
 * had an id, which this server may only read, has none until a writer gives it one: its record is then asked for at
 * most once per {@link #RETRY} (by one request; the others meanwhile go without), not on every request, where each
 * ask costs a read and a refused create on the backend (two round trips to S3 or HDFS) for an answer that does not
 * change.
 *
 * <p>Thread-safe.
 */
final class StoreIdReader {
  /** How long a failed read of the id is taken as the answer before the store is asked again. */
  static final Duration RETRY = Duration.ofSeconds(30);

  private static final Logger LOG = LoggerFactory.getLogger(StoreIdReader.class);

  private final Backend backend;
  private final Clock clock;
  private volatile String id;
  /** The clock's millis before which no read is tried again; Long.MIN_VALUE until a read failed. */
  private final AtomicLong nextTry = new AtomicLong(Long.MIN_VALUE);

  StoreIdReader(Backend backend, Clock clock) {
    this.backend = backend;
    this.clock = clock;
  }

  /** The store's id, or null while it cannot be had (the store has none and this server may not give it one). */
  String get() {
    String known = id;
    if (known != null) {
      return known;
    }
    long now = clock.millis();
    long due = nextTry.get();
    // one caller tries at a time, and only when the last failure is old enough; the others answer without an id
    if (now < due || !nextTry.compareAndSet(due, now + RETRY.toMillis())) {
      return null;
    }
    try {
      known = StoreIdentity.of(backend);
      id = known;
      return known;
    } catch (IOException e) {
      LOG.debug("store {} has no id to report (asked again in {} s at the earliest): {}", backend.uri(),
          RETRY.toSeconds(), e.toString());
      return null;
    }
  }
}
