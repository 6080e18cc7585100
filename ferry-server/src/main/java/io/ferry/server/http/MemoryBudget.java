package io.ferry.server.http;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * Bytes of heap that requests holding whole objects (an uploaded chunk, a decoded chunk) may use together. A request
 * takes its bytes before it allocates and gives them back when done; one that cannot get them within the wait is
 * answered 503 with {@code Retry-After}, so many big uploads at once slow down instead of exhausting the heap.
 * Streaming reads of stored chunks take nothing: they hold one slice at a time. Thread-safe.
 */
public final class MemoryBudget {
  /**
   * The seconds a request refused for want of memory is told to wait before it asks again ({@code Retry-After}): it
   * waited for its share already, and shares come back as the transfers holding them end.
   */
  public static final int RETRY_AFTER_SECONDS = 1;

  private final int total;
  private final Semaphore permits;
  private final long waitMillis;

  /**
   * @param totalBytes the bytes all requests may hold together (kept in KiB units internally)
   * @param waitMillis how long a request waits for its bytes before it is refused
   */
  public MemoryBudget(long totalBytes, long waitMillis) {
    this.total = (int) Math.max(1, Math.min(Integer.MAX_VALUE, totalBytes >> 10));
    this.permits = new Semaphore(total, true);
    this.waitMillis = waitMillis;
  }

  /** Takes room for {@code bytes} (a request bigger than the whole budget takes all of it). */
  public Lease take(long bytes) throws HttpError, InterruptedException {
    int n = (int) Math.min(total, Math.max(1, (bytes + 1023) >> 10));
    if (!permits.tryAcquire(n, waitMillis, TimeUnit.MILLISECONDS)) {
      throw new HttpError(503, "busy", "the server holds its memory budget for requests (" + ((long) total << 10)
          + " bytes) in other transfers; retry later");
    }
    return new Lease(n);
  }

  /** Room taken from the budget; closing gives it back (once). */
  public final class Lease implements AutoCloseable {
    private int n;

    private Lease(int n) {
      this.n = n;
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
