package io.ferry.server.web;

import io.ferry.error.InvalidInputException;
import io.ferry.repo.Results.Change;
import io.ferry.repo.Results.FileDiff;
import io.ferry.server.http.Exchange;
import io.ferry.server.http.HttpError;
import io.ferry.version.RefSpec;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The diff page: two versions tensor by tensor (from {@link WeightDiff}, as the JSON API's {@code /v1/diff}), a bar
 * chart of the largest relative change per layer, a heat strip across tensors, and the tables.
 */
final class DiffPage {
  /** Unchanged tensors are listed one by one only up to this many tensors in all. */
  static final int LIST_ALL_UP_TO = 2000;
  private final WeightDiff diffs;

  DiffPage(WeightDiff diffs) {
    this.diffs = diffs;
  }

  /** Checks that the caller may read the model of a ref text; returns the model. */
  static String readable(Exchange ex, String ref, String which) throws HttpError {
    String model;
    try {
      model = RefSpec.parse(ref).model();
    } catch (InvalidInputException | IllegalArgumentException e) {
      throw HttpError.badRequest(which + "='" + Exchange.clip(ref) + "' is not a version reference (model,"
          + " model:tag or model@id): " + e.getMessage());
    }
    ex.require(ex.access().canRead(model), "read access to model '" + model + "'");
    return model;
  }

  void page(Exchange ex) throws HttpError, IOException, InterruptedException {
    String a = ex.query("a");
    String b = ex.query("b");
    boolean both = a != null && !a.isBlank() && b != null && !b.isBlank();
    WeightDiff.Result r = null;
    String ma = null;
    String mb = null;
    if (both) {
      ma = readable(ex, a.trim(), "a");
      mb = readable(ex, b.trim(), "b");
      r = diffs.diff(a.trim(), b.trim());
    }
    Html h = Page.begin(ex, 200, both ? "Diff " + a + " → " + b : "Diff", null);
    h.raw("<h1>Diff</h1><form method=\"get\" action=\"/ui/diff\" class=\"filter\"><label>A <input name=\"a\""
        + " id=\"diff-a\" placeholder=\"model@id or model:tag\" value=\"").text(a == null ? "" : a)
        .raw("\"></label> <label>B <input name=\"b\" id=\"diff-b\" value=\"").text(b == null ? "" : b)
        .raw("\"></label> <button type=\"submit\">Compare</button></form>");
    if (r == null) {
      h.raw("<p class=\"note\">Give two versions: the magnitude of every changed tensor is measured on the"
          + " server.</p>");
      Page.end(h);
      return;
    }
    List<TensorDelta> ts = r.tensors();
    long changed = r.changedCount();
    h.raw("<p id=\"diff-summary\">").link(Page.sub(ma, "versions", r.a().hex()), ma + "@" + r.a().shortHex(12))
        .raw(" → ").link(Page.sub(mb, "versions", r.b().hex()), mb + "@" + r.b().shortHex(12)).raw(": ")
        .text(changed + " of " + ts.size() + " tensors differ" + (r.moved().isEmpty() ? ""
            : " (" + r.moved().size() + " unchanged moved to another file)") + "; " + r.files().size()
            + " files differ").raw("</p>");
    // per layer: the largest relative change of its tensors
    Map<Integer, double[]> layers = new TreeMap<>();
    for (TensorDelta t : ts) {
      double[] l = layers.computeIfAbsent(t.layer(), k -> new double[] {0, 0, 0, 0});
      l[0]++;
      if (t.changed()) {
        l[1]++;
        if (Double.isNaN(t.relFrobenius())) {
          l[3]++;
        } else {
          l[2] = Math.max(l[2], t.relFrobenius());
        }
      }
    }
    List<Svg.Bar> bars = new ArrayList<>();
    for (Map.Entry<Integer, double[]> e : layers.entrySet()) {
      double[] l = e.getValue();
      double value = l[1] > 0 && l[1] == l[3] ? Double.NaN : l[2];
      bars.add(new Svg.Bar(e.getKey() < 0 ? "other" : Integer.toString(e.getKey()), value, l[1] > 0,
          e.getKey() < 0 ? "other" : Integer.toString(e.getKey())));
    }
    h.raw("<h2>Change by layer</h2><p class=\"note\">Largest relative Frobenius norm of the difference ‖B−A‖/‖A‖ among"
        + " a layer's tensors (\"other\": tensors outside numbered layers). Orange: the layer changed.</p>");
    Svg.bars(h, bars, "largest relative change per layer");
    h.raw("<h2>Change by tensor</h2>");
    Svg.strip(h, ts);
    h.raw("<table id=\"layers\"><thead><tr><th>Layer</th><th>Tensors</th><th>Changed</th><th>Largest ‖B−A‖/‖A‖</th>"
        + "</tr></thead><tbody>");
    for (Map.Entry<Integer, double[]> e : layers.entrySet()) {
      double[] l = e.getValue();
      String id = e.getKey() < 0 ? "other" : Integer.toString(e.getKey());
      h.raw("<tr data-layer=\"").text(id).raw("\" class=\"" + (l[1] > 0 ? "changed" : "unchanged") + "\"><td>")
          .text(id).raw("</td><td class=\"num\">").text((long) l[0]).raw("</td><td class=\"num\">").text((long) l[1])
          .raw("</td><td class=\"num rel\">").text(l[1] > 0 && l[1] == l[3] ? "–" : Html.fig(l[2]))
          .raw("</td></tr>");
    }
    h.raw("</tbody></table><h2>Tensors</h2><table id=\"diff-tensors\"><thead><tr><th>Tensor</th><th>Change</th>"
        + "<th>A</th><th>B</th><th>‖B−A‖/‖A‖</th><th>Cosine</th></tr></thead><tbody>\n");
    boolean all = ts.size() <= LIST_ALL_UP_TO;
    for (TensorDelta t : ts) {
      if (!all && !t.changed()) {
        continue;
      }
      String change = t.change() == null ? "unchanged" : t.change().name().toLowerCase(Locale.ROOT)
          .replace('_', '-');
      h.raw("<tr class=\"" + change + "\"><td>").text(t.name()).raw("</td><td>").text(change).raw("</td><td>")
          .text(t.dtypeA() == null ? "" : t.dtypeA() + " " + t.shapeA()).raw("</td><td>")
          .text(t.dtypeB() == null ? "" : t.dtypeB() + " " + t.shapeB()).raw("</td><td class=\"num\">")
          .text(Html.fig(t.relFrobenius())).raw("</td><td class=\"num\">").text(Html.fig(t.cosine()))
          .raw("</td></tr>\n");
    }
    h.raw("</tbody></table>");
    if (!all) {
      h.raw("<p class=\"note\">").text((ts.size() - changed) + " unchanged tensors not listed.").raw("</p>");
    }
    if (!r.files().isEmpty()) {
      h.raw("<h2>Files</h2><table id=\"diff-files\"><thead><tr><th>Path</th><th>Change</th><th>Size A</th>"
          + "<th>Size B</th></tr></thead><tbody>");
      for (FileDiff f : r.files()) {
        String change = f.renamedFrom() != null ? "renamed from " + f.renamedFrom()
            : f.formatA() != null ? (f.sameBytes() ? "same bytes, stored as " : "changed, stored as ") + f.formatA()
                + " → " + f.formatB()
            : f.change().name().toLowerCase(Locale.ROOT);
        h.raw("<tr><td>").text(f.path()).raw("</td><td>").text(change)
            .raw("</td><td class=\"num\">").text(f.change() == Change.ADDED ? "" : Html.bytes(f.sizeA()))
            .raw("</td><td class=\"num\">").text(f.change() == Change.REMOVED ? "" : Html.bytes(f.sizeB()))
            .raw("</td></tr>");
      }
      h.raw("</tbody></table>");
    }
    Page.end(h);
  }
}
