package io.ferry.cli;

import io.ferry.transfer.TransferListener;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * A progress line on stderr, as {@code hf} and {@code aws s3 cp} draw it: phase, percent, a bar, bytes done / total,
 * rate, ETA and files done / total, redrawn in place at most ten times a second and never wider than the terminal
 * (so it never wraps), then replaced by one summary line. Shown only when stderr is a terminal (see {@link #shown}).
 * Thread-safe: workers report bytes concurrently.
 */
final class Progress implements TransferListener {
  /** Erases from the cursor to the end of the line (ANSI EL), after a carriage return. */
  private static final String CLEAR = "\r\u001b[K";
  private static final long REDRAW_NANOS = 100_000_000L;

  private final PrintWriter err;
  private final int width;
  private final LongSupplier clock;
  private final AtomicLong done = new AtomicLong();
  private final AtomicInteger filesDone = new AtomicInteger();
  private volatile int filesTotal = -1;
  private volatile long total;
  private volatile String phase = "";
  private long lastDraw = Long.MIN_VALUE;
  private long phaseStart;
  private boolean drawn;

  /** A progress line {@code width} columns wide at most, timed by {@code clock} (nanoseconds). */
  Progress(PrintWriter err, int width, LongSupplier clock) {
    this.err = err;
    this.width = Math.max(20, width);
    this.clock = clock;
    this.phaseStart = clock.getAsLong();
  }

  /** The listener for a command: a progress line when {@link #shown} says so, else none. */
  static TransferListener forTerminal(PrintWriter err, boolean json, boolean quiet) {
    if (!shown(json, quiet, System.getenv(), System.getProperty("ferry.stderr.tty"), System.console() != null)) {
      return TransferListener.NONE;
    }
    return new Progress(err, columns(System.getProperty("ferry.columns"), System.getenv("COLUMNS")), System::nanoTime);
  }

  /**
   * Whether to draw progress: never with {@code --json}, {@code --quiet} or {@code FERRY_NO_PROGRESS} set, or on a
   * dumb terminal; always with {@code FERRY_PROGRESS=1}; else when stderr is a terminal, as the launcher tells
   * ({@code -Dferry.stderr.tty=1|0}, from {@code [ -t 2 ]}), and without the launcher when Java sees a console.
   */
  static boolean shown(boolean json, boolean quiet, Map<String, String> env, String stderrTty, boolean console) {
    if (json || quiet || env.get("FERRY_NO_PROGRESS") != null || "dumb".equals(env.get("TERM"))) {
      return false;
    }
    if ("1".equals(env.get("FERRY_PROGRESS"))) {
      return true;
    }
    if (stderrTty != null) {
      return stderrTty.equals("1");
    }
    return console;
  }

  /** The terminal's width from the launcher's property or $COLUMNS, else 80. */
  static int columns(String property, String env) {
    for (String s : new String[] {property, env}) {
      if (s != null) {
        try {
          int n = Integer.parseInt(s.trim());
          if (n > 0) {
            return n;
          }
        } catch (NumberFormatException e) {
          // not a width: try the next
        }
      }
    }
    return 80;
  }

  @Override
  public void phase(String name, long totalBytes) {
    synchronized (this) {
      phase = name;
      total = totalBytes;
      done.set(0);
      phaseStart = clock.getAsLong();
      lastDraw = Long.MIN_VALUE;
      filesTotal = -1;
      filesDone.set(0);
    }
  }

  @Override
  public void files(int count) {
    filesTotal = count;
    filesDone.set(0);
  }

  @Override
  public void fileDone() {
    filesDone.incrementAndGet();
  }

  @Override
  public void progress(long bytes) {
    done.addAndGet(bytes);
    long now = clock.getAsLong();
    synchronized (this) {
      if (lastDraw == Long.MIN_VALUE || now - lastDraw >= REDRAW_NANOS) {
        lastDraw = now;
        err.print(CLEAR + line(now));
        err.flush();
        drawn = true;
      }
    }
  }

  @Override
  public synchronized void done() {
    if (drawn) {
      err.println(CLEAR + fit(summary(clock.getAsLong())));
      err.flush();
      drawn = false;
    }
  }

  /** The progress line at {@code now}, at most {@code width - 1} columns. */
  synchronized String line(long now) {
    long d = done.get();
    long t = total;
    double secs = Math.max((now - phaseStart) / 1e9, 1e-3);
    double rate = d / secs;
    int pct = t <= 0 ? 100 : (int) Math.min(100, d * 100 / t);
    String eta = t <= 0 || d == 0 ? "--:--" : clock((long) Math.ceil(Math.max(0, t - d) / rate));
    String files = filesTotal < 0 ? "" : "  " + filesDone.get() + "/" + filesTotal + " files";
    String head = String.format(Locale.ROOT, "%-6s %3d%% ", phase, pct);
    String tail = String.format(Locale.ROOT, " %s / %s  %s/s  ETA %s%s", Format.bytes(d), Format.bytes(t),
        Format.bytes((long) rate), eta, files);
    int bar = width - 1 - head.length() - tail.length() - 2;
    if (bar >= 10) {
      int barWidth = Math.min(bar, 40);
      int filled = t <= 0 ? barWidth : (int) Math.min(barWidth, d * barWidth / t);
      return head + "[" + "#".repeat(filled) + " ".repeat(barWidth - filled) + "]" + tail;
    }
    return fit(head + tail.strip());
  }

  /** The line left when the phase ends: what was done, in how long, how fast. */
  synchronized String summary(long now) {
    double secs = Math.max((now - phaseStart) / 1e9, 1e-3);
    long d = done.get();
    String files = filesTotal < 0 ? "" : ", " + filesDone.get() + "/" + filesTotal + " files";
    return String.format(Locale.ROOT, "%s: %s in %s (%s/s)%s", phase, Format.bytes(d),
        secs < 60 ? String.format(Locale.ROOT, "%.1f s", secs) : clock((long) secs),
        Format.bytes((long) (d / secs)), files);
  }

  private String fit(String s) {
    return s.length() < width ? s : s.substring(0, width - 1);
  }

  /** {@code 0:17}, {@code 12:03}, {@code 1:02:03}. */
  static String clock(long seconds) {
    long h = seconds / 3600;
    long m = seconds / 60 % 60;
    long s = seconds % 60;
    return h > 0 ? String.format(Locale.ROOT, "%d:%02d:%02d", h, m, s) : String.format(Locale.ROOT, "%d:%02d", m, s);
  }
}
