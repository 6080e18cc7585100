package io.ferry.cli;

import io.ferry.transfer.TransferListener;
import java.io.PrintWriter;
import java.util.concurrent.atomic.AtomicLong;

/** A progress bar on stderr, shown only when stderr is a terminal and output is not json(). */
final class Progress implements TransferListener {
  private final PrintWriter err;
  private final AtomicLong done = new AtomicLong();
  private volatile long total;
  private volatile String phase = "";
  private volatile long lastPrint;
  private final long start = System.nanoTime();

  private Progress(PrintWriter err) {
    this.err = err;
  }

  static TransferListener forTerminal(PrintWriter err, boolean json) {
    if (json || System.console() == null || System.getenv("FERRY_NO_PROGRESS") != null) {
      return TransferListener.NONE;
    }
    return new Progress(err);
  }

  @Override
  public void phase(String name, long totalBytes) {
    phase = name;
    total = totalBytes;
    done.set(0);
  }

  @Override
  public void progress(long bytes) {
    long d = done.addAndGet(bytes);
    long now = System.nanoTime();
    if (now - lastPrint > 100_000_000L) {
      lastPrint = now;
      print(d);
    }
  }

  private synchronized void print(long d) {
    int width = 30;
    int filled = total == 0 ? width : (int) Math.min(width, d * width / total);
    double secs = (System.nanoTime() - start) / 1e9;
    err.printf("\r%-6s [%s%s] %s / %s  %s/s ", phase, "#".repeat(filled), " ".repeat(width - filled),
        Format.bytes(d), Format.bytes(total), Format.bytes((long) (d / Math.max(secs, 1e-3))));
    err.flush();
  }

  @Override
  public void done() {
    err.print("\r" + " ".repeat(79) + "\r");
    err.flush();
  }
}
