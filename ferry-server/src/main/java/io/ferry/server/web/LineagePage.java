package io.ferry.server.web;

import io.ferry.error.MissingObjectException;
import io.ferry.id.ChunkId;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.ModelSummary;
import io.ferry.repo.Results.VersionRef;
import io.ferry.server.hf.Revisions;
import io.ferry.server.http.Exchange;
import io.ferry.server.http.HttpError;
import io.ferry.version.Version;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The lineage page: the derivation graph around a version across models (base → fine-tune → quantized, pruned,
 * cast...), drawn as SVG, with each derivation's recorded metrics (error, sparsity, bits). The graph holds the versions
 * that matter to lineage (the one asked about, ref targets, derived versions and their sources, versions with a parent
 * in another model); runs of plain history between them are drawn as one edge that says how many versions it spans.
 * Versions are found by walking every ref's full history once per request (cost O(versions in the store)).
 */
final class LineagePage {
  /** Most versions walked, and most nodes drawn. */
  static final int MAX_WALK = 200_000;
  static final int MAX_NODES = 300;
  private static final int BOX_W = 230;
  private static final int BOX_H = 54;
  private static final int GAP_X = 70;
  private static final int GAP_Y = 18;

  private final Repository repo;

  LineagePage(Repository repo) {
    this.repo = repo;
  }

  /** An edge between two drawn versions: {@code derived} for a derivation or a cross-model parent. */
  record Edge(ChunkId from, ChunkId to, boolean derived, int skipped) {}

  void page(Exchange ex, String model, String rev) throws HttpError, IOException {
    VersionRef self = Revisions.resolve(repo, ex.access(), model, rev);
    Map<ChunkId, Version> all = new HashMap<>();
    Map<ChunkId, List<String>> names = new HashMap<>();
    Deque<ChunkId> todo = new ArrayDeque<>();
    // only the refs are wanted: a damaged log or version elsewhere leaves out what it hides (the walk below skips
    // missing versions), as it does on the models list
    for (ModelSummary m : repo.models(e -> { }, e -> { })) {
      if (m.head() != null) {
        names.computeIfAbsent(m.head(), k -> new ArrayList<>()).add(m.model());
        todo.add(m.head());
      }
      m.tags().forEach((t, id) -> {
        names.computeIfAbsent(id, k -> new ArrayList<>()).add(m.model() + ":" + t);
        todo.add(id);
      });
    }
    todo.add(self.id());
    all.put(self.id(), self.version());
    Set<ChunkId> seen = new HashSet<>();
    Map<ChunkId, List<ChunkId>> children = new HashMap<>();
    while (!todo.isEmpty() && seen.size() < MAX_WALK) {
      ChunkId id = todo.pop();
      if (!seen.add(id)) {
        continue;
      }
      Version v = all.containsKey(id) ? all.get(id) : versionOrNull(id);
      if (v == null) {
        continue;
      }
      all.put(id, v);
      for (ChunkId p : links(v)) {
        children.computeIfAbsent(p, k -> new ArrayList<>()).add(id);
        todo.add(p);
      }
    }
    // the connected component of self, over parent links both ways
    Set<ChunkId> component = new HashSet<>();
    Deque<ChunkId> walk = new ArrayDeque<>(List.of(self.id()));
    while (!walk.isEmpty()) {
      ChunkId id = walk.pop();
      if (!all.containsKey(id) || !component.add(id)) {
        continue;
      }
      walk.addAll(links(all.get(id)));
      walk.addAll(children.getOrDefault(id, List.of()));
    }
    Set<ChunkId> sources = new HashSet<>();
    for (ChunkId id : component) {
      Version v = all.get(id);
      for (ChunkId p : links(v)) {
        if (derivedLink(v, p)) {
          sources.add(p);
        }
      }
    }
    List<ChunkId> nodes = new ArrayList<>();
    int hidden = 0;
    for (ChunkId id : component) {
      Version v = all.get(id);
      if (!ex.access().canRead(v.model())) {
        hidden++; // versions of models the token may not read are left out, edges through them too
        continue;
      }
      boolean interesting = id.equals(self.id()) || names.containsKey(id) || sources.contains(id)
          || v.derivation() != null || links(v).stream().anyMatch(p -> derivedLink(v, p));
      if (interesting) {
        nodes.add(id);
      }
    }
    nodes.sort(Comparator.comparing((ChunkId id) -> all.get(id).time()).thenComparing(ChunkId::hex));
    boolean truncated = nodes.size() > MAX_NODES;
    if (truncated) {
      // keep the nodes nearest in time to self
      int at = nodes.indexOf(self.id());
      int from = Math.max(0, Math.min(at - MAX_NODES / 2, nodes.size() - MAX_NODES));
      nodes = new ArrayList<>(nodes.subList(from, from + MAX_NODES));
    }
    Set<ChunkId> drawn = new HashSet<>(nodes);
    List<Edge> edges = new ArrayList<>();
    for (ChunkId id : nodes) {
      Version v = all.get(id);
      for (ChunkId p : links(v)) {
        boolean derived = derivedLink(v, p);
        // follow plain history up to the next drawn version
        ChunkId at = p;
        int skipped = 0;
        while (at != null && !drawn.contains(at) && all.containsKey(at) && ex.access().canRead(all.get(at).model())
            && skipped < MAX_WALK) {
          List<ChunkId> up = all.get(at).parents();
          at = up.isEmpty() ? null : up.get(0);
          skipped++;
        }
        if (at != null && drawn.contains(at)) {
          edges.add(new Edge(at, id, derived, skipped));
        }
      }
    }
    // layers: a node sits right of every node it comes from
    Map<ChunkId, Integer> depth = new LinkedHashMap<>();
    for (ChunkId id : nodes) {
      int d = 0;
      for (Edge e : edges) {
        if (e.to().equals(id) && depth.containsKey(e.from())) {
          d = Math.max(d, depth.get(e.from()) + 1);
        }
      }
      depth.put(id, d);
    }
    Map<Integer, Integer> rows = new HashMap<>();
    Map<ChunkId, int[]> pos = new HashMap<>();
    int maxRow = 0;
    int maxCol = 0;
    for (ChunkId id : nodes) {
      int col = depth.get(id);
      int row = rows.merge(col, 1, Integer::sum) - 1;
      pos.put(id, new int[] {col, row});
      maxRow = Math.max(maxRow, row);
      maxCol = Math.max(maxCol, col);
    }

    Html h = Page.begin(ex, 200, "Lineage of " + model + "@" + self.id().shortHex(12), null);
    h.raw("<h1>Lineage of ").link(Page.sub(model, "versions", self.id().hex()), model + "@"
        + self.id().shortHex(12)).raw("</h1><p class=\"note\">Across models: orange dashed edges are derivations or"
            + " parents in another model; grey edges are a model's own history (with the number of versions they"
            + " span).</p>");
    if (hidden > 0) {
      h.raw("<p class=\"note\">").text(hidden + " versions of models this token may not read are left out.")
          .raw("</p>");
    }
    if (truncated) {
      h.raw("<p class=\"note\">").text("Showing " + MAX_NODES + " of " + drawn.size() + " versions, nearest in time.")
          .raw("</p>");
    }
    int width = (maxCol + 1) * (BOX_W + GAP_X) + 10;
    int height = (maxRow + 1) * (BOX_H + GAP_Y) + 10;
    h.raw("<svg class=\"lineage\" id=\"lineage-graph\" width=\"" + width + "\" height=\"" + height + "\" viewBox=\"0 0 "
        + width + " " + height + "\" role=\"img\" aria-label=\"lineage graph\">");
    for (Edge e : edges) {
      int[] a = pos.get(e.from());
      int[] b = pos.get(e.to());
      double x1 = 5 + a[0] * (BOX_W + GAP_X) + BOX_W;
      double y1 = 5 + a[1] * (BOX_H + GAP_Y) + BOX_H / 2.0;
      double x2 = 5 + b[0] * (BOX_W + GAP_X);
      double y2 = 5 + b[1] * (BOX_H + GAP_Y) + BOX_H / 2.0;
      if (b[0] <= a[0]) { // same column (cannot happen for layered nodes, but keep lines visible)
        x2 = x1;
      }
      double mx = (x1 + x2) / 2;
      h.raw("<g class=\"edge" + (e.derived() ? " derived" : "") + "\"><path d=\"M" + Svg.n(x1) + " " + Svg.n(y1)
          + " C " + Svg.n(mx) + " " + Svg.n(y1) + ", " + Svg.n(mx) + " " + Svg.n(y2) + ", " + Svg.n(x2) + " "
          + Svg.n(y2) + "\" fill=\"none\" stroke=\"" + (e.derived() ? "#c2410c" : "#8a94a6") + "\" stroke-width=\"2\""
          + (e.derived() ? " stroke-dasharray=\"6 3\"" : "") + "/>");
      if (e.skipped() > 0) {
        h.raw("<text x=\"" + Svg.n(mx) + "\" y=\"" + Svg.n((y1 + y2) / 2 - 4) + "\" font-size=\"10\""
            + " text-anchor=\"middle\" fill=\"#4b5563\">").text("+" + e.skipped()).raw("</text>");
      }
      h.raw("</g>");
    }
    for (ChunkId id : nodes) {
      Version v = all.get(id);
      int[] p = pos.get(id);
      int x = 5 + p[0] * (BOX_W + GAP_X);
      int y = 5 + p[1] * (BOX_H + GAP_Y);
      List<String> refs = names.getOrDefault(id, List.of());
      String label = refs.isEmpty() ? v.model() + "@" + id.shortHex(8) : String.join(", ", refs);
      String method = v.derivation() == null ? "version" : v.derivation().method();
      String detail = detail(v);
      h.raw("<a href=\"").text(Page.sub(v.model(), "versions", id.hex())).raw("\"><g class=\"node"
          + (id.equals(self.id()) ? " self" : "") + "\" data-model=\"").text(v.model()).raw("\" data-method=\"")
          .text(method).raw("\" data-id=\"").text(id.hex()).raw("\"><title>").text(label + " (" + id.hex() + ")")
          .raw("</title><rect x=\"" + x + "\" y=\"" + y + "\" width=\"" + BOX_W + "\" height=\"" + BOX_H
              + "\" rx=\"6\" fill=\"" + (id.equals(self.id()) ? "#fff7ed" : "#f8fafc") + "\" stroke=\""
              + (v.derivation() != null ? "#c2410c" : "#64748b") + "\" stroke-width=\""
              + (id.equals(self.id()) ? 3 : 1.5) + "\"/>");
      text(h, x + 8, y + 17, 12, "#111827", cut(label, 32));
      text(h, x + 8, y + 32, 10, "#374151", cut(method + " · " + ModelPages.time(v.time()), 38));
      if (detail != null) {
        text(h, x + 8, y + 46, 10, "#9a3412", cut(detail, 38));
      }
      h.raw("</g></a>");
    }
    h.raw("</svg>");
    h.raw("<h2>Derivations</h2><table id=\"derivations\"><thead><tr><th>Version</th><th>Model</th><th>Method</th>"
        + "<th>Parameters</th><th>Source</th><th>Error</th><th>Sparsity</th><th>Bits</th></tr></thead><tbody>\n");
    for (ChunkId id : nodes) {
      Version v = all.get(id);
      if (v.derivation() == null) {
        continue;
      }
      var d = v.derivation();
      Map<String, Double> m = d.metrics();
      h.raw("<tr class=\"derivation\" data-method=\"").text(d.method()).raw("\"><td>")
          .link(Page.sub(v.model(), "versions", id.hex()), id.shortHex(12)).raw("</td><td>").text(v.model())
          .raw("</td><td>").text(d.method()).raw("</td><td>").text(d.parameters()).raw("</td><td>");
      Version s = d.source() != null && ChunkId.isValid(d.source()) ? all.get(ChunkId.parse(d.source())) : null;
      if (d.source() != null) {
        ModelPages.source(h, ex.access(), d.source(), s == null ? null : s.model());
      }
      h.raw("</td><td class=\"metric\">").text(error(m)).raw("</td><td class=\"num\">")
          .text(m.containsKey("sparsity") ? Html.fig(m.get("sparsity")) : "–").raw("</td><td class=\"num\">")
          .text(d.parameters().getOrDefault("bits", "–")).raw("</td></tr>\n");
    }
    h.raw("</tbody></table>");
    Page.end(h);
  }

  private static String error(Map<String, Double> m) {
    List<String> parts = new ArrayList<>();
    for (String k : List.of("rel_frobenius_error", "cosine_similarity", "rmse", "max_abs_error")) {
      if (m.containsKey(k)) {
        parts.add(k.replace('_', ' ') + " " + Html.fig(m.get(k)));
      }
    }
    return parts.isEmpty() ? "–" : String.join(", ", parts);
  }

  private static String detail(Version v) {
    if (v.derivation() == null) {
      return v.message() == null || v.message().isEmpty() ? null : v.message();
    }
    var d = v.derivation();
    StringBuilder b = new StringBuilder();
    if (d.parameters().containsKey("bits")) {
      b.append(d.parameters().get("bits")).append(" bits ");
    }
    Double rel = d.metrics().get("rel_frobenius_error");
    if (rel != null) {
      b.append("err ").append(Html.fig(rel)).append(' ');
    }
    Double sp = d.metrics().get("sparsity");
    if (sp != null && sp > 0) {
      b.append("sparsity ").append(Html.fig(sp));
    }
    return b.toString().trim();
  }

  private static void text(Html h, int x, int y, int size, String fill, String s) throws IOException {
    h.raw("<text x=\"" + x + "\" y=\"" + y + "\" font-size=\"" + size + "\" fill=\"" + fill + "\">").text(s)
        .raw("</text>");
  }

  private static String cut(String s, int n) {
    return s.codePointCount(0, s.length()) <= n ? s : s.substring(0, s.offsetByCodePoints(0, n - 1)) + "…";
  }

  /** The versions a version comes from: its parents and its derivation source. */
  private static List<ChunkId> links(Version v) {
    List<ChunkId> out = new ArrayList<>(v.parents());
    if (v.derivation() != null && v.derivation().source() != null && ChunkId.isValid(v.derivation().source())) {
      ChunkId s = ChunkId.parse(v.derivation().source());
      if (!out.contains(s)) {
        out.add(s);
      }
    }
    return out;
  }

  /** Whether the link from {@code v} to {@code p} is a derivation rather than the model's own history. */
  private boolean derivedLink(Version v, ChunkId p) {
    if (v.derivation() != null && p.hex().equals(v.derivation().source())) {
      return true;
    }
    int at = v.parents().indexOf(p);
    if (at != 0) {
      return true;
    }
    try {
      return !repo.objects().version(p).model().equals(v.model());
    } catch (IOException e) {
      return false;
    }
  }

  private Version versionOrNull(ChunkId id) throws IOException {
    try {
      return repo.objects().version(id);
    } catch (MissingObjectException e) {
      return null;
    }
  }
}
