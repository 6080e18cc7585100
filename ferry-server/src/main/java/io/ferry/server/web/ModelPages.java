package io.ferry.server.web;

import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import io.ferry.id.ChunkId;
import io.ferry.read.ModelReader;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.ModelSummary;
import io.ferry.repo.Results.VersionRef;
import io.ferry.server.hf.Revisions;
import io.ferry.server.http.Exchange;
import io.ferry.server.http.HttpError;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.eclipse.jetty.http.HttpHeader;

/** The models list, a model's page (tags, history graph, ref logs), a version's page and its downloads. */
final class ModelPages {
  static final int MODELS_PAGE = 50;
  /** Most tags shown in a model's row of the models list, and in a version's row of a model's history. */
  static final int TAGS_SHOWN = 10;
  static final int HISTORY_PAGE = 50;
  /** Tags a page of a model's refs (and of its ref log) shows. */
  static final int TAGS_PAGE = 50;
  static final int REFLOG_ROWS = 20;
  /** Largest config.json shown inline on a version's page. */
  static final int CONFIG_SHOWN = 64 << 10;

  private final Repository repo;

  ModelPages(Repository repo) {
    this.repo = repo;
  }

  static String time(java.time.Instant t) {
    return DateTimeFormatter.ISO_INSTANT.format(t.truncatedTo(ChronoUnit.SECONDS)).replace('T', ' ');
  }

  // ------------------------------------------------------------------------------------------------ models

  void list(Exchange ex) throws HttpError, IOException {
    ex.require(ex.access().canReadAny(), "read access to some model");
    String q = ex.query("q");
    String filter = q == null ? "" : q.trim().toLowerCase(Locale.ROOT);
    int page = ex.intQuery("page", 0, 1_000_000);
    List<ModelSummary> shown = new ArrayList<>();
    List<io.ferry.error.CorruptRefException> damaged = new ArrayList<>();
    // a model whose versions cannot be read is listed with its size and count unknown, as ferry ls lists it
    for (ModelSummary m : repo.models(damaged::add, e -> { })) {
      if (ex.access().canRead(m.model()) && m.model().toLowerCase(Locale.ROOT).contains(filter)) {
        shown.add(m);
      }
    }
    // a page past the last (a link kept from when there were more models) shows the last
    page = Math.min(page, Math.max(0, (shown.size() - 1) / MODELS_PAGE));
    int from = page * MODELS_PAGE;
    int to = Math.min(shown.size(), from + MODELS_PAGE);
    Html h = Page.begin(ex, 200, "Models", null);
    h.raw("<h1>Models</h1><form method=\"get\" action=\"/\" class=\"filter\"><input type=\"search\" name=\"q\""
        + " id=\"filter\" placeholder=\"filter by name\" value=\"").text(q == null ? "" : q)
        .raw("\"> <button type=\"submit\">Filter</button></form>");
    h.raw("<p class=\"count\">").text(shown.size() + " model" + (shown.size() == 1 ? "" : "s")
        + (shown.isEmpty() ? "" : ", showing " + (from + 1) + "–" + to)).raw("</p>");
    for (io.ferry.error.CorruptRefException e : damaged) {
      // one damaged ref log hides only its ref (as ferry ls and GET /v1/models), said to whoever may read its model
      if (ex.access().canRead(io.ferry.store.RefNames.modelOf(e.ref()))) {
        h.raw("<p class=\"problem\">").text("ref " + e.ref() + " is not listed: its log is damaged at entry "
            + e.entry() + " (ferry verify names the damage)").raw("</p>");
      }
    }
    for (ModelSummary m : shown) {
      if (m.versions() == ModelSummary.UNKNOWN) {
        h.raw("<p class=\"problem\">").text("model " + m.model() + ": a version of its history is damaged or"
            + " missing, so what it cannot count shows as ? (ferry verify names the damage)").raw("</p>");
      }
    }
    h.raw("<table id=\"models\"><thead><tr><th>Model</th><th>Tags</th><th>Versions</th><th>Logical size</th>"
        + "<th>Stored by head</th><th>Last change</th></tr></thead><tbody>\n");
    for (ModelSummary m : shown.subList(from, to)) {
      h.raw("<tr class=\"model\" data-model=\"").text(m.model()).raw("\"><td>")
          .link(Page.modelPath(m.model()), m.model()).raw("</td><td>");
      int tags = 0;
      for (Map.Entry<String, ChunkId> t : m.tags().entrySet()) {
        if (tags++ == TAGS_SHOWN) {
          h.link(Page.modelPath(m.model()), "+" + (m.tags().size() - TAGS_SHOWN) + " more");
          break;
        }
        h.raw("<span class=\"tag\">").text(t.getKey()).raw("</span> ")
            .link(Page.sub(m.model(), "versions", t.getValue().hex()), t.getValue().shortHex(8)).raw(" ");
      }
      h.raw("</td><td class=\"num\">").text(m.versions() == ModelSummary.UNKNOWN ? "?" : m.versions())
          .raw("</td><td class=\"num\">")
          .text(m.logicalBytes() == ModelSummary.UNKNOWN ? "?" : Html.bytes(m.logicalBytes())).raw("</td>");
      // a known size means the head version was read
      if (m.head() != null && m.logicalBytes() != ModelSummary.UNKNOWN) {
        Version v = repo.objects().version(m.head());
        h.raw("<td class=\"num\">").text(Html.bytes(v.stats().newStoredBytes())).raw("</td><td>")
            .text(time(v.time())).raw("</td>");
      } else {
        h.raw("<td></td><td></td>");
      }
      h.raw("</tr>\n");
    }
    h.raw("</tbody></table><p class=\"pages\">");
    String qs = q == null || q.isEmpty() ? "" : "q=" + Html.q(q) + "&";
    if (page > 0) {
      h.link("/?" + qs + "page=" + (page - 1), "← previous").raw(" ");
    }
    if (to < shown.size()) {
      h.raw("<a id=\"next\" href=\"").text("/?" + qs + "page=" + (page + 1)).raw("\">next →</a>");
    }
    h.raw("</p>");
    Page.end(h);
  }

  // ------------------------------------------------------------------------------------------------ a model

  void model(Exchange ex, String model) throws HttpError, IOException {
    Map<ChunkId, List<String>> refs = repo.refsOf(model);
    if (refs.isEmpty()) {
      throw HttpError.notFound("no model '" + model + "' in this store");
    }
    int limit = ex.intQuery("limit", HISTORY_PAGE, 1000);
    String after = ex.query("after");
    List<VersionRef> page;
    if (after == null || after.isEmpty()) {
      page = refs.keySet().stream().anyMatch(id -> refs.get(id).contains(model)) ? repo.log(model, limit + 1)
          : List.of();
    } else {
      if (!ChunkId.isValid(after)) {
        throw HttpError.badRequest("after='" + Exchange.clip(after) + "' is not a version id (64 hex digits)");
      }
      List<VersionRef> l = repo.log(model + "@" + after.toLowerCase(Locale.ROOT), limit + 2);
      page = l.subList(Math.min(1, l.size()), l.size());
    }
    // the head and one page of the tags by name; the ref log shows the moves of these refs only, each log read once
    Map<String, ChunkId> shown = new java.util.LinkedHashMap<>();
    TreeMap<String, ChunkId> tags = new TreeMap<>();
    for (Map.Entry<ChunkId, List<String>> e : refs.entrySet()) {
      for (String r : e.getValue()) {
        if (r.equals(model)) {
          shown.put(RefNames.head(model), e.getKey());
        } else {
          tags.put(r.substring(model.length() + 1), e.getKey());
        }
      }
    }
    int tagPage = Math.min(ex.intQuery("tags", 0, 1_000_000), Math.max(0, (tags.size() - 1) / TAGS_PAGE));
    int tagsFrom = tagPage * TAGS_PAGE;
    int tagsTo = Math.min(tags.size(), tagsFrom + TAGS_PAGE);
    new ArrayList<>(tags.entrySet()).subList(tagsFrom, tagsTo)
        .forEach(t -> shown.put(RefNames.tag(model, t.getKey()), t.getValue()));
    Html h = Page.begin(ex, 200, model, null);
    h.raw("<h1 id=\"model-name\">").text(model).raw("</h1>");
    h.raw("<h2>Refs</h2>");
    if (tags.size() > TAGS_PAGE) {
      h.raw("<p class=\"count\">").text(tags.size() + " tags, showing " + (tagsFrom + 1) + "–" + tagsTo + " by name")
          .raw("</p>");
    }
    h.raw("<table id=\"refs\"><thead><tr><th>Ref</th><th>Version</th><th></th></tr></thead><tbody>");
    for (Map.Entry<String, ChunkId> e : shown.entrySet()) {
      h.raw("<tr><td><span class=\"tag\">").text(refLabel(model, e.getKey())).raw("</span></td><td>")
          .link(Page.sub(model, "versions", e.getValue().hex()), e.getValue().shortHex(12)).raw("</td><td>")
          .link(Page.sub(model, "lineage", e.getValue().hex()), "lineage").raw("</td></tr>");
    }
    h.raw("</tbody></table>");
    if (tags.size() > TAGS_PAGE) {
      h.raw("<p class=\"pages\">");
      if (tagPage > 0) {
        h.link(Page.modelPath(model) + "?tags=" + (tagPage - 1), "← previous tags").raw(" ");
      }
      if (tagsTo < tags.size()) {
        h.raw("<a id=\"more-tags\" href=\"").text(Page.modelPath(model) + "?tags=" + (tagPage + 1))
            .raw("\">more tags →</a>");
      }
      h.raw("</p>");
    }
    h.raw("<h2>History</h2><p class=\"note\">Newest first, following first parents; a side branch marks a parent"
        + " in another model or a derivation source.</p>");
    history(h, model, refs, page.subList(0, Math.min(limit, page.size())), ex.access());
    if (page.size() > limit && limit > 0) {
      h.raw("<p class=\"pages\"><a id=\"older\" href=\"").text(Page.modelPath(model) + "?after="
          + page.get(limit - 1).id().hex()).raw("\">older →</a></p>");
    }
    h.raw("<h2>Ref log</h2><p class=\"note\">Who moved each ref, when, from what (newest first, at most ")
        .text(REFLOG_ROWS).raw(" per ref).</p><table id=\"reflog\"><thead><tr><th>When</th><th>Ref</th><th>Who</th>"
            + "<th>From</th><th>To</th><th>Why</th></tr></thead><tbody>");
    List<String> names = new ArrayList<>(shown.keySet());
    if (!names.contains(RefNames.head(model))) {
      names.add(0, RefNames.head(model)); // a removed head keeps its log
    }
    for (String ref : names) {
      List<RefLogEntry> log = repo.refLog(ref);
      String label = refLabel(model, ref);
      for (int i = log.size() - 1; i >= Math.max(0, log.size() - REFLOG_ROWS); i--) {
        RefLogEntry e = log.get(i);
        h.raw("<tr><td>").text(time(e.when())).raw("</td><td><span class=\"tag\">").text(label)
            .raw("</span></td><td>").text(e.who()).raw("</td><td>");
        idCell(h, model, e.oldId());
        h.raw("</td><td>");
        idCell(h, model, e.newId());
        h.raw("</td><td>").text(e.why()).raw("</td></tr>\n");
      }
    }
    h.raw("</tbody></table>");
    Page.end(h);
  }

  /** {@code head}, or the tag's name, of one of the model's refs ({@code model/head}, {@code model/tags/t}). */
  private static String refLabel(String model, String ref) {
    return ref.equals(RefNames.head(model)) ? "head" : ref.substring(model.length() + "/tags/".length());
  }

  private static void idCell(Html h, String model, ChunkId id) throws IOException {
    if (id == null) {
      h.raw("<span class=\"none\">none</span>");
    } else {
      h.link(Page.sub(model, "versions", id.hex()), id.shortHex(12));
    }
  }

  /** The history as rows, each with a slice of the graph drawn as inline SVG. */
  private void history(Html h, String model, Map<ChunkId, List<String>> refs, List<VersionRef> page,
      io.ferry.server.auth.Access access) throws IOException {
    h.raw("<table id=\"history\" class=\"history\"><thead><tr><th>Graph</th><th>Version</th><th>Refs</th><th>Author"
        + "</th><th>Time</th><th>Message</th><th>Size</th><th>New in store</th><th></th></tr></thead><tbody>\n");
    for (int i = 0; i < page.size(); i++) {
      VersionRef vr = page.get(i);
      Version v = vr.version();
      boolean hasNext = !v.parents().isEmpty();
      List<String> side = new ArrayList<>();
      for (int p = 0; p < v.parents().size(); p++) {
        if (p > 0 || !sameModel(v.parents().get(p), model)) {
          side.add("parent " + v.parents().get(p).shortHex(8));
        }
      }
      if (v.derivation() != null) {
        String source = v.derivation().source();
        side.add(v.derivation().method() + (source == null ? ""
            : ChunkId.isValid(source) ? " of " + source.substring(0, 12)
            : access.isAdmin() ? " of " + source.substring(0, Math.min(12, source.length()))
            : " of a source outside this store"));
      }
      h.raw("<tr class=\"version\" data-id=\"").text(vr.id().hex()).raw("\"><td class=\"graph\">");
      Svg.historyCell(h, i > 0, hasNext && sameModel(v.parents().get(0), model), !side.isEmpty(),
          v.derivation() != null);
      h.raw("</td><td>").link(Page.sub(model, "versions", vr.id().hex()), vr.id().shortHex(12)).raw("</td><td>");
      List<String> at = refs.getOrDefault(vr.id(), List.of());
      for (String r : at.subList(0, Math.min(at.size(), TAGS_SHOWN))) {
        h.raw("<span class=\"tag\">").text(r.equals(model) ? "head" : r.substring(model.length() + 1))
            .raw("</span> ");
      }
      if (at.size() > TAGS_SHOWN) {
        h.raw("<span class=\"more\">").text("+" + (at.size() - TAGS_SHOWN) + " more").raw("</span>");
      }
      h.raw("</td><td>").text(v.author()).raw("</td><td>").text(time(v.time())).raw("</td><td>")
          .text(v.message());
      for (String s : side) {
        h.raw(" <span class=\"side\">").text(s).raw("</span>");
      }
      h.raw("</td><td class=\"num\">").text(v.stats() == null ? "" : Html.bytes(v.stats().logicalBytes()))
          .raw("</td><td class=\"num\">").text(v.stats() == null ? "" : Html.bytes(v.stats().newStoredBytes()))
          .raw("</td><td>");
      String pm = v.parents().isEmpty() ? null : parentModel(v.parents().get(0), model);
      if (pm != null && access.canRead(pm)) {
        ChunkId p = v.parents().get(0);
        h.link("/ui/diff?a=" + Html.q(pm + "@" + p.hex()) + "&b=" + Html.q(model + "@" + vr.id().hex()), "diff");
        h.raw(" ");
      }
      h.link(Page.sub(model, "lineage", vr.id().hex()), "lineage").raw("</td></tr>\n");
    }
    h.raw("</tbody></table>");
  }

  private boolean sameModel(ChunkId id, String model) throws IOException {
    return parentModel(id, model).equals(model);
  }

  private String parentModel(ChunkId id, String dflt) throws IOException {
    try {
      return repo.objects().version(id).model();
    } catch (io.ferry.error.MissingObjectException e) {
      return dflt;
    }
  }

  // ------------------------------------------------------------------------------------------------ a version

  void version(Exchange ex, String model, String rev) throws HttpError, IOException {
    VersionRef vr = Revisions.resolve(repo, ex.access(), model, rev);
    Version v = vr.version();
    Snapshot snap = repo.snapshot(vr);
    String own = v.model() + "@" + vr.id().hex();
    Html h = Page.begin(ex, 200, model + "@" + vr.id().shortHex(12), null);
    h.raw("<h1>").link(Page.modelPath(model), model).raw(" @ <span id=\"version-id\">").text(vr.id().shortHex(12))
        .raw("</span></h1><dl class=\"facts\"><dt>Id</dt><dd><code>").text(vr.id().hex()).raw("</code></dd>")
        .raw("<dt>Author</dt><dd>").text(v.author()).raw("</dd><dt>Time</dt><dd>").text(time(v.time()))
        .raw("</dd><dt>Message</dt><dd id=\"message\">").text(v.message()).raw("</dd><dt>Parents</dt><dd>");
    for (ChunkId p : v.parents()) {
      String pm = parentModel(p, model);
      if (ex.access().canRead(pm)) {
        h.link(Page.sub(pm, "versions", p.hex()), pm + "@" + p.shortHex(12)).raw(" ");
      } else {
        h.raw("<code>").text(p.shortHex(12)).raw("</code> (a model this token may not read) ");
      }
    }
    h.raw("</dd>");
    if (v.derivation() != null) {
      String source = v.derivation().source();
      String sourceModel = source != null && ChunkId.isValid(source) ? parentModel(ChunkId.parse(source), null)
          : null;
      h.raw("<dt>Derivation</dt><dd>").text(v.derivation().method()).raw(" ").text(v.derivation().parameters())
          .raw(" from ");
      source(h, ex.access(), source, sourceModel);
      h.raw("; ").text(metrics(v.derivation().metrics())).raw("</dd>");
    }
    h.raw("</dl><p>").link(Page.sub(model, "archive", vr.id().hex()), "Download the whole version (tar)")
        .raw(" · ").link(Page.sub(model, "lineage", vr.id().hex()), "Lineage").raw("</p>");
    boolean anyMeta = !v.metadata().isEmpty() || snap.files().stream().anyMatch(f -> !f.metadata().isEmpty());
    if (anyMeta) {
      h.raw("<h2>Metadata</h2><table id=\"metadata\"><thead><tr><th>Of</th><th>Key</th><th>Value</th></tr></thead>"
          + "<tbody>");
      for (Map.Entry<String, String> e : v.metadata().entrySet()) {
        h.raw("<tr><td>version</td><th>").text(e.getKey()).raw("</th><td>").text(e.getValue()).raw("</td></tr>");
      }
      for (FileEntry f : snap.files()) {
        for (Map.Entry<String, String> e : f.metadata().entrySet()) {
          h.raw("<tr><td>").text(f.path()).raw("</td><th>").text(e.getKey()).raw("</th><td>").text(e.getValue())
              .raw("</td></tr>");
        }
      }
      h.raw("</tbody></table>");
    }
    // summary: parameters and dtypes
    long params = 0;
    Map<DType, long[]> dtypes = new TreeMap<>();
    for (FileEntry f : snap.files()) {
      for (TensorInfo t : f.tensors()) {
        long n = t.elements();
        params += n;
        long[] s = dtypes.computeIfAbsent(t.dtype(), k -> new long[3]);
        s[0]++;
        s[1] += n;
        s[2] += t.byteLength();
      }
    }
    h.raw("<h2>Summary</h2><p id=\"params\">").text(String.format(Locale.ROOT, "%,d parameters", params))
        .raw("</p><table id=\"dtypes\"><thead><tr><th>Dtype</th><th>Tensors</th><th>Elements</th><th>Bytes</th>"
            + "</tr></thead><tbody>");
    for (Map.Entry<DType, long[]> e : dtypes.entrySet()) {
      h.raw("<tr><td>").text(e.getKey()).raw("</td><td class=\"num\">").text(e.getValue()[0])
          .raw("</td><td class=\"num\">").text(e.getValue()[1]).raw("</td><td class=\"num\">")
          .text(Html.bytes(e.getValue()[2])).raw("</td></tr>");
    }
    h.raw("</tbody></table><h2>Files</h2><table id=\"files\"><thead><tr><th>Path</th><th>Format</th><th>Size</th>"
        + "<th>SHA-256</th></tr></thead><tbody>");
    FileEntry config = null;
    for (FileEntry f : snap.files()) {
      if (f.path().equals("config.json") && f.size() <= CONFIG_SHOWN) {
        config = f;
      }
      h.raw("<tr><td>").link(Page.modelPath(model) + "/-/files/" + vr.id().hex() + "/" + filePath(f.path()),
          f.path()).raw("</td><td>").text(f.format()).raw("</td><td class=\"num\">").text(Html.bytes(f.size()))
          .raw("</td><td><code>").text(f.sha256().substring(0, Math.min(16, f.sha256().length())))
          .raw("</code></td></tr>\n");
    }
    h.raw("</tbody></table>");
    if (config != null) {
      try (ModelReader r = repo.open(own)) {
        ByteBuffer b = r.readFile(config.path());
        h.raw("<h2>Config</h2><pre id=\"config\">").text(StandardCharsets.UTF_8.decode(b)).raw("</pre>");
      }
    }
    h.raw("<h2>Tensors</h2><table id=\"tensors\"><thead><tr><th>Name</th><th>Dtype</th><th>Shape</th><th>Bytes</th>"
        + "<th>File</th></tr></thead><tbody>\n");
    for (FileEntry f : snap.files()) {
      for (TensorInfo t : f.tensors()) {
        h.raw("<tr class=\"tensor\"><td>").text(t.name()).raw("</td><td>").text(t.dtype()).raw("</td><td>")
            .text(t.shape()).raw("</td><td class=\"num\">").text(Html.bytes(t.byteLength())).raw("</td><td>")
            .text(f.path()).raw("</td></tr>\n");
      }
    }
    h.raw("</tbody></table>");
    Page.end(h);
  }

  /**
   * A derivation's source as the token may see it, on the version page and the lineage page alike: a version of a
   * model it may read as a link; one of a model it may not read, or a source outside this store (a ref text, which
   * may name a path or a bucket), only as that (an admin sees the text); an id this store does not hold as the id.
   *
   * @param sourceModel the model of the source version when this store holds it, else null
   */
  static void source(Html h, io.ferry.server.auth.Access access, String source, String sourceModel)
      throws IOException {
    if (source == null) {
      h.raw("<span class=\"none\">none recorded</span>");
    } else if (ChunkId.isValid(source) && sourceModel != null) {
      if (access.canRead(sourceModel)) {
        h.link(Page.sub(sourceModel, "versions", source), sourceModel + "@" + source.substring(0, 12));
      } else {
        h.raw("<span class=\"none\">a model this token may not read</span>");
      }
    } else if (!ChunkId.isValid(source) && !access.isAdmin()) {
      h.raw("<span class=\"none\">outside this store</span>");
    } else {
      h.raw("<code>").text(source).raw("</code>");
    }
  }

  static String metrics(Map<String, Double> m) {
    StringBuilder b = new StringBuilder();
    m.forEach((k, v) -> b.append(b.length() == 0 ? "" : ", ").append(k).append(' ').append(Html.fig(v)));
    return b.toString();
  }

  /** A file's path as URL segments (its {@code /}s stay separators). */
  static String filePath(String path) {
    StringBuilder b = new StringBuilder();
    for (String p : path.split("/", -1)) {
      b.append(b.length() == 0 ? "" : "/").append(Html.seg(p));
    }
    return b.toString();
  }

  // ------------------------------------------------------------------------------------------------ downloads

  void file(Exchange ex, String model, String rev, String path) throws HttpError, IOException {
    VersionRef vr = Revisions.resolve(repo, ex.access(), model, rev);
    try (ModelReader r = repo.open(vr.version().model() + "@" + vr.id().hex())) {
      FileEntry f = r.file(path);
      String etag = "\"" + f.sha256() + "\"";
      ex.set(HttpHeader.ETAG, etag);
      if (ex.noneMatch(etag)) {
        ex.notModified();
        return;
      }
      ex.response().setStatus(200);
      ex.set(HttpHeader.CONTENT_TYPE, "application/octet-stream");
      ex.set(HttpHeader.CONTENT_LENGTH, Long.toString(f.size()));
      ex.set("Content-Disposition", "attachment; filename*=UTF-8''" + Html.seg(leaf(path)));
      ex.set("X-Content-Type-Options", "nosniff");
      if (ex.isHead()) {
        ex.write(true, ByteBuffer.allocate(0));
        return;
      }
      try (OutputStream os = ex.output()) {
        r.copyFile(path, Channels.newChannel(os));
      }
    }
  }

  private static String leaf(String path) {
    return path.substring(path.lastIndexOf('/') + 1);
  }

  /** The whole version as a tar, streamed file by file (nothing of the version is held beyond a chunk). */
  void archive(Exchange ex, String model, String rev) throws HttpError, IOException {
    VersionRef vr = Revisions.resolve(repo, ex.access(), model, rev);
    String name = model.replace('/', '_') + "-" + vr.id().shortHex(12);
    String etag = "\"" + vr.id().hex() + "\"";
    ex.set(HttpHeader.ETAG, etag);
    if (ex.noneMatch(etag)) {
      ex.notModified();
      return;
    }
    ex.response().setStatus(200);
    ex.set(HttpHeader.CONTENT_TYPE, "application/x-tar");
    ex.set("Content-Disposition", "attachment; filename=\"" + name + ".tar\"");
    if (ex.isHead()) {
      ex.write(true, ByteBuffer.allocate(0));
      return;
    }
    try (ModelReader r = repo.open(vr.version().model() + "@" + vr.id().hex()); OutputStream os = ex.output()) {
      TarStream tar = new TarStream(os, vr.version().time().getEpochSecond());
      for (FileEntry f : r.snapshot().files()) {
        tar.file(name + "/" + f.path(), f.size(), out -> r.copyFile(f.path(), Channels.newChannel(out)));
      }
      tar.finish();
    }
  }
}
