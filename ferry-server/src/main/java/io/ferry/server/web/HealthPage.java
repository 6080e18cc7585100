package io.ferry.server.web;

import io.ferry.repo.Repository;
import io.ferry.repo.Results.StoreStats;
import io.ferry.server.http.Exchange;
import io.ferry.server.http.HttpError;
import java.io.IOException;
import java.util.Locale;

/**
 * Store health: the store-wide stats (dedup and compression ratios), the last verify and gc run from this server,
 * and for admins the buttons that run them. A running job's progress is shown by the page's script, or by the page
 * refreshing itself without script.
 */
final class HealthPage {
  private final Repository repo;
  private final AdminJobs jobs;

  HealthPage(Repository repo, AdminJobs jobs) {
    this.repo = repo;
    this.jobs = jobs;
  }

  void page(Exchange ex) throws HttpError, IOException {
    ex.require(ex.access().canReadAny(), "read access to some model");
    boolean admin = ex.access().isAdmin();
    AdminJobs.Job job = admin ? jobs.current() : null;
    boolean running = job != null && job.state().equals("running");
    StoreStats s;
    String uncounted = null;
    try {
      s = repo.stats();
    } catch (io.ferry.error.MissingObjectException | io.ferry.error.CorruptObjectException
        | io.ferry.error.CorruptRefException e) {
      // a damaged store is when verify is wanted most: the page stays up and says why there are no figures
      s = null;
      uncounted = e.getMessage();
    }
    Html h = Page.begin(ex, 200, "Store health", running
        ? "<noscript><meta http-equiv=\"refresh\" content=\"2\"></noscript>" : null);
    h.raw("<h1>Store health</h1>");
    if (admin) {
      h.raw("<p class=\"note\">Store ").text(repo.uri()).raw("</p>");
    }
    if (s == null) {
      h.raw("<p class=\"problem\" id=\"stats-problem\">").text("The store's figures cannot be counted: a version or a"
          + " ref log is damaged, or a version missing" + (admin ? " (" + uncounted + ")" : "")
          + ". Verify names the damage.").raw("</p>");
    } else {
      stats(h, s);
    }
    h.raw("<h2>Verify</h2>");
    AdminJobs.Job v = jobs.lastVerify();
    // only admins see what a job reported (its errors name versions of any model)
    h.raw("<p id=\"verify-state\">").text(v == null ? "Not run from this server since it started (ferry verify runs"
        + " it from the command line)." : (v.ok() ? "OK" : "FAILED") + (admin ? " — " + v.result() + " (started by "
        + v.who() + ")" : "") + " at " + ModelPages.time(v.started())).raw("</p>");
    AdminJobs.Job g = admin ? jobs.lastGc() : null;
    if (g != null) {
      h.raw("<h2>Garbage collection</h2><p id=\"gc-state\">").text(g.result() + " (" + g.kind() + " by " + g.who()
          + " at " + ModelPages.time(g.started()) + ")").raw("</p>");
    }
    if (admin) {
      h.raw("<h2>Admin</h2><div id=\"admin\" class=\"admin\"><form method=\"post\" action=\"/ui/admin/verify\">"
          + "<button type=\"submit\" id=\"run-verify\">Run verify</button></form>"
          + "<form method=\"post\" action=\"/ui/admin/gc\"><label>grace <input name=\"grace\" value=\"1h\" size=\"5\">"
          + "</label> <label><input type=\"checkbox\" name=\"dry-run\" checked> dry run</label> "
          + "<button type=\"submit\" id=\"run-gc\">Run gc</button></form></div>");
      h.raw("<div id=\"job\" class=\"job\" data-state=\"").text(job == null ? "none" : job.state()).raw("\">");
      if (job != null) {
        h.raw("<p><span id=\"job-kind\">").text(job.kind()).raw("</span>: <span id=\"job-state\">").text(job.state())
            .raw("</span> <span id=\"job-phase\">").text(job.phase()).raw("</span></p><progress id=\"job-progress\""
                + " max=\"").text(Math.max(1, job.total())).raw("\" value=\"").text(job.done()).raw("\"></progress>"
                    + "<p id=\"job-result\">").text(job.result() == null ? "" : job.result()).raw("</p>");
      }
      h.raw("</div>");
    }
    Page.end(h);
  }

  private static void stats(Html h, StoreStats s) throws IOException {
    h.raw("<table id=\"stats\"><tbody>");
    row(h, "Models", Long.toString(s.models()));
    row(h, "Versions", Long.toString(s.versions()));
    row(h, "Logical bytes (every version)", Html.bytes(s.logicalBytes()));
    row(h, "Unique chunk bytes", Html.bytes(s.uniqueBytes()));
    row(h, "Stored bytes", Html.bytes(s.storedBytes()));
    row(h, "Dedup ratio (logical / unique)", String.format(Locale.ROOT, "%.2f×", s.dedupRatio()));
    row(h, "Compression ratio (unique / stored)", String.format(Locale.ROOT, "%.2f×", s.compressionRatio()));
    row(h, "Chunks / packs / objects", s.chunks() + " / " + s.packs() + " / " + s.objects());
    h.raw("</tbody></table>");
  }

  private static void row(Html h, String k, String v) throws IOException {
    h.raw("<tr><th>").text(k).raw("</th><td class=\"num\">").text(v).raw("</td></tr>");
  }
}
