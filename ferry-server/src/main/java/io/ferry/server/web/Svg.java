package io.ferry.server.web;

import java.io.IOException;
import java.util.List;
import java.util.Locale;

/**
 * Graphs and charts drawn on the server as inline SVG: no script, no library and no CDN; every label is escaped like
 * any other text of the page. Colours and sizes are presentation attributes (the page's CSP allows no inline style).
 */
final class Svg {
  private Svg() {}

  static String n(double v) {
    return String.format(Locale.ROOT, "%.1f", v);
  }

  /**
   * One row's slice of the history graph: the first-parent line through the row (from the row above, down to the
   * parent), the version's dot, and a branch coming in from the right when it has a parent in another model or a
   * derivation source.
   */
  static void historyCell(Html h, boolean lineAbove, boolean lineBelow, boolean side, boolean derived)
      throws IOException {
    h.raw("<svg class=\"hist\" width=\"44\" height=\"28\" viewBox=\"0 0 44 28\" aria-hidden=\"true\">");
    if (lineAbove) {
      h.raw("<line x1=\"12\" y1=\"0\" x2=\"12\" y2=\"14\" stroke=\"#8a94a6\" stroke-width=\"2\"/>");
    }
    if (lineBelow) {
      h.raw("<line x1=\"12\" y1=\"14\" x2=\"12\" y2=\"28\" stroke=\"#8a94a6\" stroke-width=\"2\"/>");
    }
    if (side) {
      h.raw("<path d=\"M12 14 C 24 14, 34 22, 40 28\" fill=\"none\" stroke=\"" + (derived ? "#c2410c" : "#2563eb")
          + "\" stroke-width=\"2\" stroke-dasharray=\"" + (derived ? "4 2" : "none") + "\"/>");
    }
    h.raw("<circle cx=\"12\" cy=\"14\" r=\"5\" fill=\"" + (derived ? "#c2410c" : "#1f6feb") + "\"/></svg>");
  }

  /** A colour from white-ish (0) to deep red (1) for a magnitude of change. */
  static String heat(double v, double max) {
    if (Double.isNaN(v)) {
      return "#c8ccd4";
    }
    double t = max <= 0 ? 0 : Math.min(1, v / max);
    int r = (int) Math.round(240 - t * (240 - 185));
    int g = (int) Math.round(244 - t * (244 - 28));
    int b = (int) Math.round(248 - t * (248 - 28));
    return String.format(Locale.ROOT, "#%02x%02x%02x", r, g, b);
  }

  /** One bar of {@link #bars}: a label, a value (NaN: not measured) and whether it changed. */
  record Bar(String label, double value, boolean changed, String id) {}

  /** A bar chart, one bar per layer, heights scaled to the largest value; changed bars carry class {@code changed}. */
  static void bars(Html h, List<Bar> bars, String title) throws IOException {
    double max = 0;
    for (Bar b : bars) {
      if (!Double.isNaN(b.value())) {
        max = Math.max(max, b.value());
      }
    }
    int bw = bars.size() > 80 ? 8 : 18;
    int gap = 4;
    int chartH = 160;
    int left = 48;
    int width = left + bars.size() * (bw + gap) + 10;
    h.raw("<svg class=\"chart\" id=\"layer-chart\" width=\"" + width + "\" height=\"" + (chartH + 50)
        + "\" viewBox=\"0 0 " + width + " " + (chartH + 50) + "\" role=\"img\" aria-label=\"").text(title)
        .raw("\"><title>").text(title).raw("</title>");
    h.raw("<line x1=\"" + left + "\" y1=\"" + (chartH + 10) + "\" x2=\"" + width + "\" y2=\"" + (chartH + 10)
        + "\" stroke=\"#8a94a6\"/>");
    h.raw("<text x=\"2\" y=\"18\" font-size=\"10\" fill=\"#4b5563\">").text(Html.fig(max)).raw("</text>");
    h.raw("<text x=\"2\" y=\"" + (chartH + 10) + "\" font-size=\"10\" fill=\"#4b5563\">0</text>");
    for (int i = 0; i < bars.size(); i++) {
      Bar b = bars.get(i);
      double v = Double.isNaN(b.value()) ? 0 : b.value();
      double bh = max <= 0 ? 0 : Math.max(b.changed() ? 2 : 0, v / max * chartH);
      double x = left + i * (bw + gap);
      h.raw("<g class=\"bar" + (b.changed() ? " changed" : "") + "\" data-layer=\"").text(b.id())
          .raw("\" data-value=\"").text(Html.fig(b.value())).raw("\"><title>").text(b.label() + ": "
              + Html.fig(b.value())).raw("</title><rect x=\"" + n(x) + "\" y=\"" + n(chartH + 10 - bh)
              + "\" width=\"" + bw + "\" height=\"" + n(bh) + "\" fill=\"" + (b.changed() ? "#c2410c" : "#94a3b8")
              + "\"/>");
      if (bars.size() <= 80 || i % 5 == 0) {
        h.raw("<text x=\"" + n(x + bw / 2.0) + "\" y=\"" + (chartH + 24) + "\" font-size=\"9\" text-anchor=\"middle\""
            + " fill=\"#374151\">").text(b.label()).raw("</text>");
      }
      h.raw("</g>");
    }
    h.raw("</svg>");
  }

  /** A heat strip: one cell per tensor, in order, coloured by its magnitude of change. */
  static void strip(Html h, List<TensorDelta> tensors) throws IOException {
    double max = 0;
    for (TensorDelta t : tensors) {
      if (t.changed() && !Double.isNaN(t.relFrobenius())) {
        max = Math.max(max, t.relFrobenius());
      }
    }
    double cw = Math.max(1.5, Math.min(12, 900.0 / Math.max(1, tensors.size())));
    int width = (int) Math.ceil(cw * tensors.size()) + 2;
    h.raw("<svg class=\"strip\" id=\"heat-strip\" width=\"" + width + "\" height=\"26\" viewBox=\"0 0 " + width
        + " 26\" role=\"img\" aria-label=\"relative change per tensor\">");
    for (int i = 0; i < tensors.size(); i++) {
      TensorDelta t = tensors.get(i);
      double v = t.changed() ? t.relFrobenius() : 0;
      h.raw("<rect x=\"" + n(1 + i * cw) + "\" y=\"1\" width=\"" + n(cw) + "\" height=\"24\" fill=\""
          + (t.changed() && Double.isNaN(v) ? "#6366f1" : heat(v, max)) + "\"><title>").text(t.name() + ": "
              + (t.changed() ? (Double.isNaN(v) ? String.valueOf(t.change()).toLowerCase(Locale.ROOT) : Html.fig(v))
              : "0")).raw("</title></rect>");
    }
    h.raw("</svg>");
  }
}
