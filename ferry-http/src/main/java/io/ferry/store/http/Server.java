package io.ferry.store.http;

import java.net.URI;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One server of an HTTP store as the client sees it: its request slots, what is in flight, its recent read
 * latencies, whether it is marked down, and counters for {@link HttpBackend#stats()}. Thread-safe.
 */
final class Server {
  final URI base;
  final Semaphore slots;
  final AtomicInteger outstanding = new AtomicInteger();
  final LatencyWindow latencies = new LatencyWindow();
  final AtomicBoolean down = new AtomicBoolean();
  final AtomicLong requests = new AtomicLong();
  final AtomicLong failures = new AtomicLong();
  final AtomicLong hedges = new AtomicLong();
  final AtomicLong timesDown = new AtomicLong();
  /**
   * Whether the server's store id was read and found to be the others' since the client first talked to it or since
   * it was last marked down ({@link ServerPool#identify}).
   */
  volatile boolean identified;
  /** The store id it reported last, or null (none yet, or a server that reports none). */
  volatile String storeId;
  /** The next wait between probes while down; guarded by the probe task (one per down period). */
  volatile Duration probeDelay;

  Server(URI base, int maxRequests) {
    this.base = base;
    this.slots = new Semaphore(maxRequests);
  }

  boolean isDown() {
    return down.get();
  }

  ServerStats stats() {
    return new ServerStats(base, requests.get(), failures.get(), hedges.get(), timesDown.get(), down.get(),
        outstanding.get());
  }

  @Override
  public String toString() {
    return base.toString();
  }
}
