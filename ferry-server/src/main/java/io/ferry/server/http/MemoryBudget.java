package io.ferry.server.http;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Bytes of heap that requests holding whole objects (an uploaded chunk, a decoded chunk) may use together. A request
 * takes its bytes before it allocates and gives them back when done; one that cannot get them within the wait is
 * answered 503 with {@code Retry-After}, so many big uploads at once slow down instead of exhausting the heap.
 * Streaming reads of stored chunks take nothing: they hold one slice at a time.
 *
 * <p>A request waits for its bytes on its worker thread, so only a few may wait at once: one that finds as many
 * waiting already is answered 503 at once. Else requests that need no memory (a ref, a stored chunk, a listing, a
 * health check) would queue for a worker behind every waiting one, and a client sending more requests than the server
 * has workers while the budget is taken would stop the server for everyone for the whole wait. Thread-safe.
 */
public final class MemoryBudget {
  /**
   * The seconds a request refused for want of memory is told to wait before it asks again ({@code Retry-After}): it
   * waited for its share already, and shares come back as the transfers holding them end.
   */
  public static final int RETRY_AFTER_SECONDS = 1;

  /**
   * The slowest a transfer holding a share may go by default, in bytes per second (256 KiB/s, 2 Mbit/s): see {@link
   * #minHeldRate()}.
   */
  public static final long DEFAULT_MIN_HELD_RATE = 256 << 10;
  /** The highest minimum rate a budget takes (16 GiB/s), far above any one transfer's, so that no product overflows. */
  public static final long MAX_MIN_HELD_RATE = 1L << 34;

  private final int total;
  private final Semaphore permits;
  private final long waitMillis;
  private final int maxWaiting;
  private final long minHeldRate;
  private final AtomicInteger waiting = new AtomicInteger();

  /**
   * @param totalBytes the bytes all requests may hold together (kept in KiB units internally)
   * @param waitMillis how long a request waits for its bytes before it is refused
   * @param maxWaiting how many requests may wait for their bytes at once (at least 1)
   * @param minHeldRate the slowest a transfer holding a share may go, in bytes per second ({@link #minHeldRate()})
   */
  public MemoryBudget(long totalBytes, long waitMillis, int maxWaiting, long minHeldRate) {
    if (maxWaiting < 1) {
      throw new IllegalArgumentException("at most " + maxWaiting + " requests waiting: must be 1 or more");
    }
    if (minHeldRate < 1 || minHeldRate > MAX_MIN_HELD_RATE) {
      throw new IllegalArgumentException("minimum rate of a transfer holding a share " + minHeldRate
          + " bytes per second is outside 1.." + MAX_MIN_HELD_RATE);
    }
    this.minHeldRate = minHeldRate;
    this.total = (int) Math.max(1, Math.min(Integer.MAX_VALUE, totalBytes >> 10));
    this.permits = new Semaphore(total, true);
    this.waitMillis = waitMillis;
    this.maxWaiting = maxWaiting;
  }

  /**
   * Takes room for {@code bytes} (a request bigger than the whole budget takes all of it), waiting for it when
   * fewer than the most requests allowed to wait are waiting.
   *
   * @throws HttpError 503 {@code busy} when the room cannot be had within the wait, or at once when as many requests
   *     as may wait are waiting
   */
  public Lease take(long bytes) throws HttpError, InterruptedException {
    return take(bytes, waitMillis);
  }

  /**
   * As {@link #take(long)}, waiting at most {@code wait} milliseconds (and never longer than the budget's own wait),
   * for a client that gives up sooner than the budget waits.
   */
  public Lease take(long bytes, long wait) throws HttpError, InterruptedException {
    long patience = Math.min(wait, waitMillis);
    int n = (int) Math.min(total, Math.max(1, (bytes + 1023) >> 10));
    // a timed tryAcquire keeps the order of the requests waiting, where tryAcquire() would pass them
    if (permits.tryAcquire(n, 0, TimeUnit.MILLISECONDS)) {
      return new Lease(n);
    }
    if (waiting.incrementAndGet() > maxWaiting) {
      waiting.decrementAndGet();
      throw busy(maxWaiting + " other requests wait for a share already");
    }
    try {
      if (!permits.tryAcquire(n, patience, TimeUnit.MILLISECONDS)) {
        throw busy("no share came back within " + patience + " ms");
      }
    } finally {
      waiting.decrementAndGet();
    }
    return new Lease(n);
  }

  /**
   * The slowest a transfer that holds a share (a request body above {@code Exchange.UNBUDGETED_BODY} bytes, a decoded
   * chunk being sent) may go, in bytes per second, once it has taken longer than a grace of 5 s. The budget is the
   * server's: a client moving bytes slower than this gives its share back, so a few slow or malicious connections
   * cannot keep it from everyone else for longer than their bytes take at this rate.
   */
  public long minHeldRate() {
    return minHeldRate;
  }

  private HttpError busy(String why) {
    return new HttpError(503, "busy", "the server holds its memory budget for requests (" + ((long) total << 10)
        + " bytes) in other transfers and " + why + "; retry later");
  }

  /** Room taken from the budget; closing gives it back (once). */
  public final class Lease implements AutoCloseable {
    private int n;

    private Lease(int n) {
      this.n = n;
    }

    /**
     * Gives back all but {@code bytes} of the room (a transfer whose buffers but one are done with); keeps all when it
     * holds no more than that.
     */
    public void keepOnly(long bytes) {
      int keep = (int) Math.min(n, Math.max(1, (bytes + 1023) >> 10));
      if (n > keep) {
        permits.release(n - keep);
        n = keep;
      }
    }

    @Override
    public void close() {
      if (n > 0) {
        permits.release(n);
        n = 0;
      }
    }
  }
}
