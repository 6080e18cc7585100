package io.ferry.server;

import com.fasterxml.jackson.core.JsonGenerator;
import io.ferry.error.InvalidInputException;
import io.ferry.error.NotFoundException;
import io.ferry.id.ChunkId;
import io.ferry.read.Location;
import io.ferry.read.Locator;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.ModelSummary;
import io.ferry.repo.Results.VersionRef;
import io.ferry.server.hf.Revisions;
import io.ferry.server.http.Exchange;
import io.ferry.server.http.HttpError;
import io.ferry.server.http.Route;
import io.ferry.store.RefNames;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import io.ferry.format.TensorInfo;
import java.io.IOException;
import java.io.OutputStream;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.eclipse.jetty.http.HttpHeader;

/**
 * The readable model API (docs/http-api.md) for people and for clients that read tensors by fetching chunks
 * themselves (the Python client): models, a model's versions and refs, and one version with its files, their chunks
 * and where each tensor lies in them.
 *
 * <ul>
 *   <li>{@code GET /v1/models}: every model the token may read: name, head, tags, number of versions, bytes.
 *   <li>{@code GET /v1/models/{model}/versions?limit=&after=}: the head's first-parent history, newest first, a page
 *       at a time ({@code after} = the last id of the previous page).
 *   <li>{@code GET /v1/models/{model}/refs}: the model's head and tags.
 *   <li>{@code GET /v1/versions/{revision}?model=}: a version (by {@code main}, tag, id or {@code @<id prefix>}) with
 *       its files and tensors.
 * </ul>
 */
final class ModelApi implements Route {
  static final int MAX_PAGE = 1000;
  private final Repository repo;

  ModelApi(Repository repo) {
    this.repo = repo;
  }

  @Override
  public boolean handle(Exchange ex) throws HttpError, IOException {
    List<String> s = ex.segments();
    if (s.size() < 2 || !s.get(0).equals("v1") || !(s.get(1).equals("models") || s.get(1).equals("versions"))) {
      return false;
    }
    StoreApi.requireMethod(ex, "GET", "HEAD");
    if (s.get(1).equals("models")) {
      if (s.size() == 2) {
        models(ex);
        return true;
      }
      String last = s.get(s.size() - 1);
      if (s.size() >= 4 && s.size() <= 5 && (last.equals("versions") || last.equals("refs"))) {
        String model = model(String.join("/", s.subList(2, s.size() - 1)));
        ex.require(ex.access().canRead(model), "read access to model '" + model + "'");
        if (last.equals("versions")) {
          versions(ex, model);
        } else {
          refs(ex, model);
        }
        return true;
      }
      throw HttpError.notFound("no such model resource: " + Exchange.clip(ex.rawPath()));
    }
    if (s.size() != 3) {
      throw HttpError.notFound("expected /v1/versions/{revision}?model=NAME, got " + Exchange.clip(ex.rawPath()));
    }
    version(ex, s.get(2));
    return true;
  }

  private static String model(String name) throws HttpError {
    try {
      return RefNames.checkModel(name);
    } catch (InvalidInputException e) {
      throw new HttpError(400, "bad-model", e.getMessage());
    }
  }

  private void models(Exchange ex) throws HttpError, IOException {
    ex.require(ex.access().canReadAny(), "read access to some model");
    var out = Exchange.JSON.createObjectNode();
    var arr = out.putArray("models");
    // one damaged ref log ends no listing: its ref is left out, and named to a token that may read its model
    List<io.ferry.error.CorruptRefException> damaged = new java.util.ArrayList<>();
    // a model whose versions cannot be read is listed with its count and size null, as ferry ls --json lists it
    for (ModelSummary m : repo.models(damaged::add, e -> { })) {
      if (!ex.access().canRead(m.model())) {
        continue;
      }
      var o = arr.addObject().put("name", m.model()).put("head", m.head() == null ? null : m.head().hex())
          .put("versions", m.versions() == ModelSummary.UNKNOWN ? null : m.versions())
          .put("bytes", m.logicalBytes() == ModelSummary.UNKNOWN ? null : m.logicalBytes());
      var tags = o.putObject("tags");
      m.tags().forEach((t, id) -> tags.put(t, id.hex()));
    }
    var bad = out.putArray("damagedRefs");
    for (io.ferry.error.CorruptRefException e : damaged) {
      if (ex.access().canRead(RefNames.modelOf(e.ref()))) {
        bad.addObject().put("ref", e.ref()).put("entry", e.entry())
            .put("defect", ServerPaths.hidden(repo.backend(), e.defect()));
      }
    }
    ex.json(200, out);
  }

  private void versions(Exchange ex, String model) throws HttpError, IOException {
    int limit = ex.intQuery("limit", 100, MAX_PAGE);
    String after = ex.query("after");
    List<VersionRef> page;
    if (after == null || after.isEmpty()) {
      page = repo.log(model, limit + 1);
    } else {
      ChunkId a = StoreApi.id(after, "after");
      List<VersionRef> from = repo.log(model + "@" + a.hex(), limit + 2);
      page = from.subList(Math.min(1, from.size()), from.size());
    }
    var out = Exchange.JSON.createObjectNode();
    var arr = out.putArray("versions");
    for (VersionRef v : page.subList(0, Math.min(limit, page.size()))) {
      versionFields(arr.addObject().put("id", v.id().hex()), v.version());
    }
    out.put("next", page.size() > limit && limit > 0 ? page.get(limit - 1).id().hex() : null);
    ex.json(200, out);
  }

  private static void versionFields(com.fasterxml.jackson.databind.node.ObjectNode o, Version v) {
    o.put("model", v.model()).put("seq", v.seq()).put("message", v.message()).put("author", v.author())
        .put("time", v.time().toString()).put("snapshot", v.snapshot().hex());
    var parents = o.putArray("parents");
    v.parents().forEach(p -> parents.add(p.hex()));
    var meta = o.putObject("metadata");
    v.metadata().forEach(meta::put);
  }

  private void refs(Exchange ex, String model) throws IOException {
    var out = Exchange.JSON.createObjectNode().put("model", model);
    Optional<ChunkId> head = repo.backend().refs().get(RefNames.head(model));
    out.put("head", head.map(ChunkId::hex).orElse(null));
    var tags = out.putObject("tags");
    String prefix = model + "/tags/";
    for (String name : repo.backend().refs().list(prefix)) {
      if (RefNames.isValidRef(name) && RefNames.modelOf(name).equals(model)) {
        Optional<ChunkId> id = repo.backend().refs().get(name);
        id.ifPresent(i -> tags.put(name.substring(prefix.length()), i.hex()));
      }
    }
    if (head.isEmpty() && tags.isEmpty()) {
      // a model with neither head nor tag does not exist (or was removed): a 404 with suggestions, as on every
      // endpoint, not an empty answer that a client reads as "a model without tags"
      throw new NotFoundException("no model '" + model + "' in this store");
    }
    ex.json(200, out);
  }

  /** One version, streamed: a big model's snapshot lists a hundred thousand chunks. */
  private void version(Exchange ex, String revision) throws HttpError, IOException {
    String model = ex.query("model");
    if (model == null) {
      throw HttpError.badRequest("GET /v1/versions/" + Exchange.clip(revision) + " needs ?model=NAME");
    }
    model(model);
    ex.require(ex.access().canRead(model), "read access to model '" + model + "'");
    // "@<id prefix>": the version found as ferry show MODEL@PREFIX finds it (no tag starts with '@')
    VersionRef v = revision.startsWith("@") ? Revisions.byPrefix(repo, ex.access(), model, revision.substring(1))
        : Revisions.resolve(repo, ex.access(), model, revision);
    Snapshot snap = repo.snapshot(v);
    Locator locator = repo.objects().locator(v.version().packs());
    String etag = "\"" + v.id().hex() + "\"";
    ex.set(HttpHeader.ETAG, etag);
    if (ex.noneMatch(etag)) {
      ex.notModified();
      return;
    }
    ex.response().setStatus(200);
    ex.set(HttpHeader.CONTENT_TYPE, "application/json");
    if (ex.isHead()) {
      // the GET's headers: the length its body would have (counted, not sent)
      CountingSink count = new CountingSink();
      writeVersion(count, v, snap, locator);
      ex.response().getHeaders().put(HttpHeader.CONTENT_LENGTH, count.bytes);
      ex.write(true, java.nio.ByteBuffer.allocate(0));
      return;
    }
    try (OutputStream os = ex.output()) {
      writeVersion(os, v, snap, locator);
    }
  }

  /** Counts the bytes written to it and drops them. */
  private static final class CountingSink extends OutputStream {
    long bytes;

    @Override
    public void write(int b) {
      bytes++;
    }

    @Override
    public void write(byte[] b, int off, int len) {
      bytes += len;
    }
  }

  private static void writeVersion(OutputStream os, VersionRef v, Snapshot snap, Locator locator)
      throws IOException {
    try (JsonGenerator g = Exchange.JSON.getFactory().createGenerator(os)) {
      var head = Exchange.JSON.createObjectNode().put("id", v.id().hex());
      versionFields(head, v.version());
      g.writeStartObject();
      head.fields().forEachRemaining(e -> {
        try {
          g.writeFieldName(e.getKey());
          Exchange.JSON.writeTree(g, e.getValue());
        } catch (IOException x) {
          throw new java.io.UncheckedIOException(x);
        }
      });
      g.writeArrayFieldStart("files");
      for (FileEntry f : snap.files()) {
        file(g, f, locator);
      }
      g.writeEndArray();
      g.writeEndObject();
    }
  }

  private static void file(JsonGenerator g, FileEntry f, Locator locator) throws IOException {
    g.writeStartObject();
    g.writeStringField("path", f.path());
    g.writeNumberField("size", f.size());
    g.writeStringField("sha256", f.sha256());
    g.writeStringField("format", f.format());
    g.writeNumberField("dataStart", f.dataStart());
    g.writeObjectFieldStart("metadata");
    for (Map.Entry<String, String> e : f.metadata().entrySet()) {
      g.writeStringField(e.getKey(), e.getValue());
    }
    g.writeEndObject();
    long[] starts = new long[f.chunks().size() + 1];
    g.writeArrayFieldStart("chunks");
    for (int i = 0; i < f.chunks().size(); i++) {
      ChunkRef c = f.chunks().get(i);
      starts[i + 1] = starts[i] + c.length();
      Location loc = locator.locate(c.id());
      g.writeStartObject();
      g.writeStringField("id", c.id().hex());
      g.writeNumberField("offset", starts[i]);
      g.writeNumberField("length", c.length());
      g.writeStringField("pack", loc.packed() ? loc.object().hex() : null);
      g.writeEndObject();
    }
    g.writeEndArray();
    g.writeArrayFieldStart("tensors");
    for (TensorInfo t : f.tensors()) {
      long begin = f.dataStart() + t.begin();
      long end = f.dataStart() + t.end();
      g.writeStartObject();
      g.writeStringField("name", t.name());
      g.writeStringField("dtype", t.dtype().name());
      g.writeArrayFieldStart("shape");
      for (long d : t.shape()) {
        g.writeNumber(d);
      }
      g.writeEndArray();
      g.writeNumberField("offset", begin);
      g.writeNumberField("length", end - begin);
      // the chunks holding [begin, end): index into "chunks", and the byte range within each chunk's content
      g.writeArrayFieldStart("chunks");
      int i = Math.max(0, FileEntry.chunkAt(starts, begin));
      for (; i < f.chunks().size() && starts[i] < end; i++) {
        long a = Math.max(begin, starts[i]) - starts[i];
        long b = Math.min(end, starts[i + 1]) - starts[i];
        if (b <= a) {
          continue;
        }
        g.writeStartObject();
        g.writeNumberField("chunk", i);
        g.writeNumberField("from", a);
        g.writeNumberField("to", b);
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    }
    g.writeEndArray();
    g.writeEndObject();
  }
}
