package io.ferry.transfer;

import java.io.InterruptedIOException;
import java.util.concurrent.Semaphore;

/**
 * Bounds the bytes a transfer holds in memory at once: a worker takes the size of the chunk it is about to read and
 * gives it back once the chunk is written. A chunk bigger than the whole budget takes all of it, so it still runs,
 * alone. Thread-safe.
 */
public final class ByteBudget {
  private static final int UNIT = 1024;
  private final Semaphore permits;
  private final int total;

  /** A budget of {@code bytes} (at least 1 KiB). */
  public ByteBudget(long bytes) {
    this.total = (int) Math.max(1, Math.min(Integer.MAX_VALUE, bytes / UNIT));
    this.permits = new Semaphore(total, true);
  }

  /**
   * A budget of a third of the maximum heap. On a small heap a big chunk takes the whole budget and runs alone, which
   * is the least memory a transfer can need; a budget larger than the heap would let two such chunks run together and
   * fail where one at a time fits.
   */
  public static ByteBudget forHeap() {
    return new ByteBudget(heapShare());
  }

  /** The bytes {@link #forHeap()} allows: a third of the maximum heap. */
  static long heapShare() {
    return Runtime.getRuntime().maxMemory() / 3;
  }

  /**
   * The bytes a push's pool (or budget) for chunks of at most {@code each} bytes may hold: room for two of them when
   * two fit in 40% of the maximum heap (one per core of a small machine: the launcher's heap on two cores is 384 MiB,
   * whose third, 123 MiB as the JVM counts it, held a single 64 MiB chunk), else a third of the heap.
   */
  static long forTwo(long each) {
    long heap = Runtime.getRuntime().maxMemory();
    return 2 * each <= heap * 2 / 5 ? Math.max(heapShare(), 2 * each) : heapShare();
  }

  /**
   * The bytes a pull's pool of buffers may hold: half the maximum heap. A pull holds little else on the heap (the
   * snapshot, the tensor tables), and two 64 MiB chunks with their frames fit in half of the launcher's default heap
   * on two cores, one per core.
   */
  static long poolShare() {
    return Runtime.getRuntime().maxMemory() / 2;
  }

  /** Takes room for {@code bytes}; returns the permits taken, to hand back to {@link #release}. */
  public int acquire(long bytes) throws InterruptedIOException {
    int n = (int) Math.min(total, Math.max(1, (bytes + UNIT - 1) / UNIT));
    try {
      permits.acquire(n);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while waiting for transfer memory");
    }
    return n;
  }

  public void release(int taken) {
    permits.release(taken);
  }
}
