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
