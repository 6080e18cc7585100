package io.ferry.server.web;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.GcReport;
import io.ferry.repo.Results.VerifyReport;
import io.ferry.server.http.Exchange;
import io.ferry.server.http.HttpError;
import io.ferry.transfer.TransferListener;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The admin jobs the health page starts: one verify or gc at a time, on a thread of its own, with its progress and the
 * last result of each kind kept for the page (in this server process only; a restart forgets them). Thread-safe.
 */
final class AdminJobs implements AutoCloseable {
  /** A job: what, who started it, when, how far, and how it ended. */
  record Job(String kind, String who, Instant started, String state, String phase, long done, long total,
      String result, boolean ok) {}

  private final Repository repo;
  private final ExecutorService thread = Executors.newSingleThreadExecutor(
      io.ferry.concurrent.DaemonThreads.named("ferry-web-admin"));
  private final AtomicLong done = new AtomicLong();
  private final AtomicLong total = new AtomicLong();
  private volatile String phase = "";
  private Job current;
  private Job lastVerify;
  private Job lastGc;

  AdminJobs(Repository repo) {
    this.repo = repo;
  }

  /** Parses a grace period: {@code 90s}, {@code 30m}, {@code 1h}, {@code 7d}, {@code 0} or ISO-8601. */
  static Duration grace(String text) throws HttpError {
    String t = text.trim().toLowerCase(Locale.ROOT);
    try {
      if (t.equals("0")) {
        return Duration.ZERO;
      }
      Duration d;
      if (t.startsWith("p")) {
        d = Duration.parse(t.toUpperCase(Locale.ROOT));
      } else {
        long n = Long.parseLong(t.substring(0, t.length() - 1));
        d = switch (t.charAt(t.length() - 1)) {
          case 's' -> Duration.ofSeconds(n);
          case 'm' -> Duration.ofMinutes(n);
          case 'h' -> Duration.ofHours(n);
          case 'd' -> Duration.ofDays(n);
          default -> throw new NumberFormatException("unit");
        };
      }
      if (d.isNegative()) {
        throw new NumberFormatException("negative");
      }
      return d;
    } catch (NumberFormatException | DateTimeParseException | StringIndexOutOfBoundsException e) {
      throw HttpError.badRequest("grace '" + Exchange.clip(text) + "' is not a duration: expected 90s, 30m, 1h, 7d,"
          + " 0 or ISO-8601 (PT1H)");
    }
  }

  synchronized void verify(String who) throws HttpError {
    start("verify", who);
    thread.execute(() -> {
      try {
        VerifyReport r = repo.verify(null, new TransferListener() {
          @Override
          public void phase(String name, long totalBytes) {
            phase = name;
            total.set(totalBytes);
            done.set(0);
          }

          @Override
          public void progress(long bytes) {
            done.addAndGet(bytes);
          }
        });
        List<String> problems = r.problems();
        finish(r.ok(), r.versions() + " versions, " + r.chunks() + " chunks, " + Html.bytes(r.bytes())
            + " checked; " + (r.ok() ? "no errors" : problems.size() + " errors: " + String.join("; ",
                problems.subList(0, Math.min(5, problems.size())))));
      } catch (Exception e) {
        finish(false, "failed: " + e.getMessage());
      }
    });
  }

  synchronized void gc(String who, Duration grace, boolean dryRun) throws HttpError {
    start(dryRun ? "gc (dry run)" : "gc", who);
    thread.execute(() -> {
      try {
        phase = "collecting";
        GcReport r = repo.gc(grace, dryRun);
        finish(true, (dryRun ? "would remove " : "removed ") + r.deadObjects() + " objects (" + Html.bytes(
            r.deadBytes()) + "), " + r.liveObjects() + " live, " + r.keptYoung() + " kept as younger than " + grace
            + (r.keptForPushes() == 0 ? "" : ", " + r.keptForPushes() + " kept for running pushes")
            + (r.leftoversRemoved() == 0 ? "" : "; removed " + r.leftoversRemoved() + " leftovers of interrupted"
                + " writes"));
      } catch (Exception e) {
        finish(false, "failed: " + e.getMessage());
      }
    });
  }

  private void start(String kind, String who) throws HttpError {
    if (current != null && current.state().equals("running")) {
      throw new HttpError(409, "busy", "a " + current.kind() + " started by " + current.who() + " at "
          + current.started() + " is still running; wait for it to end");
    }
    done.set(0);
    total.set(0);
    phase = "starting";
    current = new Job(kind, who, Instant.now(), "running", phase, 0, 0, null, false);
  }

  private synchronized void finish(boolean ok, String result) {
    Job j = new Job(current.kind(), current.who(), current.started(), ok ? "done" : "failed", phase, done.get(),
        total.get(), result, ok);
    current = j;
    if (j.kind().equals("verify")) {
      lastVerify = j;
    } else {
      lastGc = j;
    }
  }

  /** The running or last job, as the page and its script show it. */
  synchronized Job current() {
    if (current == null) {
      return null;
    }
    if (current.state().equals("running")) {
      return new Job(current.kind(), current.who(), current.started(), "running", phase, done.get(), total.get(),
          null, false);
    }
    return current;
  }

  synchronized Job lastVerify() {
    return lastVerify;
  }

  synchronized Job lastGc() {
    return lastGc;
  }

  /** The current job as JSON ({@code GET /ui/admin/job}). */
  ObjectNode state() {
    Job j = current();
    ObjectNode n = Exchange.JSON.createObjectNode();
    if (j == null) {
      return n.put("state", "none");
    }
    return n.put("kind", j.kind()).put("who", j.who()).put("started", j.started().toString()).put("state", j.state())
        .put("phase", j.phase()).put("done", j.done()).put("total", j.total()).put("result", j.result());
  }

  @Override
  public void close() {
    thread.shutdownNow();
  }
}
