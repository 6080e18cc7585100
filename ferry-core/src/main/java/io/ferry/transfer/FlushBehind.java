package io.ferry.transfer;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Starts writing a pull's files to disk while the pull is still decoding and writing them, so that the disk works
 * beside the CPU instead of after it: once {@link #step} bytes of a file are written since its last flush, one
 * background thread forces the file's data ({@code fdatasync}) through a read-only channel it opens for that flush
 * (and closes: a pull of thousands of big files holds no descriptor for them between flushes). The pull
 * never waits for it, and it never makes a pull durable: a pull that must be on disk when it returns is {@link
 * PullOptions#fsync()}, which still forces every file at the end (the flushes only leave less for that to do).
 *
 * <p>Without it the kernel keeps a pull's pages dirty until a {@code sync}, its dirty-page limits or its 30-second
 * expiry, then writes them all at once: a 2 GB pull on a 24 GB machine ends with 2 GB still to write, after the CPU
 * work is done. Flushing behind the writes overlaps that I/O with the decode, and turns the pages clean (reclaimable)
 * early. One flush runs at a time, at most one is queued per file, and the flushes use one thread's time in system
 * calls that mostly wait on the disk. {@code -Dferry.pull.flushBehindMiB=0} turns it off (for comparisons);
 * the default step is 64 MiB, and files smaller than one step are left to the kernel.
 *
 * <p>A flush that fails is not an error of the pull (the file's own channel reports a write error on its writes, and
 * {@code --fsync} on its final force); it stops the flushing of that file.
 */
final class FlushBehind implements AutoCloseable {
  static final long DEFAULT_STEP = 64L << 20;

  /** The step {@code -Dferry.pull.flushBehindMiB} sets, in bytes; 0 (off) for 0 or below. */
  static long stepFromSystemProperty() {
    long mib = Long.getLong("ferry.pull.flushBehindMiB", DEFAULT_STEP >> 20);
    return mib <= 0 ? 0 : mib << 20;
  }

  private final long step;
  private final ExecutorService thread;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final AtomicInteger flushes = new AtomicInteger();

  FlushBehind(long step) {
    this.step = step;
    this.thread = step <= 0 ? null : Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "ferry-flush");
      t.setDaemon(true);
      return t;
    });
  }

  /**
   * A file being written at {@code path} (the pull's temporary file, just created), {@code size} bytes; null when it
   * is too small to flush behind.
   */
  File track(Path path, long size) {
    if (thread == null || size < step) {
      return null;
    }
    try {
      if (!Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).isRegularFile()) {
        return null;
      }
    } catch (IOException e) {
      return null; // flushing behind is an optimization; the pull's own writes report what fails
    }
    return new File(path);
  }

  /**
   * Stops flushing: flushes queued and not started are skipped; one running ends on its own. Never waits for the
   * disk.
   */
  @Override
  public void close() {
    if (thread == null || !closed.compareAndSet(false, true)) {
      return;
    }
    thread.shutdown();
  }

  /** Flushes done so far (for tests). */
  int flushes() {
    return flushes.get();
  }

  /** Waits until the flushing thread has stopped after {@link #close()} (for tests). */
  boolean awaitStopped(long millis) throws InterruptedException {
    return thread == null || thread.awaitTermination(millis, TimeUnit.MILLISECONDS);
  }

  /** One file being written, and its bytes written since its last flush. */
  final class File {
    private final Path path;
    private final AtomicLong unflushed = new AtomicLong();
    private final AtomicBoolean queued = new AtomicBoolean();
    private volatile boolean failed;

    private File(Path path) {
      this.path = path;
    }

    /** {@code n} more bytes of this file are written: queues a flush once a step of them is. */
    void wrote(long n) {
      if (unflushed.addAndGet(n) >= step && !failed && !closed.get() && queued.compareAndSet(false, true)) {
        try {
          thread.execute(this::flush);
        } catch (RejectedExecutionException e) {
          queued.set(false); // closed meanwhile
        }
      }
    }

    private void flush() {
      queued.set(false);
      if (closed.get() || failed) {
        return;
      }
      unflushed.set(0);
      try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
        ch.force(false);
        flushes.incrementAndGet();
      } catch (IOException e) {
        failed = true; // see the class comment: the pull's own writes and --fsync report what matters
      }
    }
  }
}
