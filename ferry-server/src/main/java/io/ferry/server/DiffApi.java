package io.ferry.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.repo.Results.FileDiff;
import io.ferry.repo.Results.TensorMove;
import io.ferry.server.http.Exchange;
import io.ferry.server.http.HttpError;
import io.ferry.server.http.Route;
import io.ferry.server.web.TensorDelta;
import io.ferry.server.web.WeightDiff;
import io.ferry.version.RefSpec;
import java.io.IOException;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.eclipse.jetty.http.HttpHeader;

/**
 * {@code GET /v1/diff?a=REF&b=REF}: two versions tensor by tensor with the measured magnitude of each change (relative
 * Frobenius norm of the difference and cosine), the numbers the browser's diff page draws; computed by {@link
 * WeightDiff} and cached by version pair. Needs read access to both models. A {@code HEAD} measures nothing.
 */
final class DiffApi implements Route {
  private final WeightDiff diffs;

  DiffApi(WeightDiff diffs) {
    this.diffs = diffs;
  }

  @Override
  public boolean handle(Exchange ex) throws HttpError, IOException, InterruptedException {
    List<String> s = ex.segments();
    if (s.size() != 2 || !s.get(0).equals("v1") || !s.get(1).equals("diff")) {
      return false;
    }
    StoreApi.requireMethod(ex, "GET", "HEAD");
    String a = ex.query("a");
    String b = ex.query("b");
    if (a == null || b == null || a.isBlank() || b.isBlank()) {
      throw HttpError.badRequest("GET /v1/diff needs ?a=REF&b=REF (model, model:tag or model@id), got a="
          + Exchange.clip(a) + " b=" + Exchange.clip(b));
    }
    for (String ref : List.of(a, b)) {
      String model;
      try {
        model = RefSpec.parse(ref).model();
      } catch (IllegalArgumentException | io.ferry.error.InvalidInputException e) {
        throw HttpError.badRequest("'" + Exchange.clip(ref) + "' is not a version reference: " + e.getMessage());
      }
      ex.require(ex.access().canRead(model), "read access to model '" + model + "'");
    }
    WeightDiff.Result r;
    if (ex.isHead()) {
      // a HEAD measures nothing: the GET's headers, with its length only when its answer is cached
      Optional<WeightDiff.Result> cached = diffs.ifCached(a, b);
      if (cached.isEmpty()) {
        ex.response().setStatus(200);
        ex.set(HttpHeader.CONTENT_TYPE, "application/json");
        ex.headersOnly();
        return true;
      }
      r = cached.get();
    } else {
      r = diffs.diff(a, b);
    }
    ObjectNode out = Exchange.JSON.createObjectNode().put("a", r.a().hex()).put("b", r.b().hex())
        .put("changedTensorCount", r.changedCount())
        .put("unchangedTensorCount", r.tensors().size() - r.changedCount());
    var ts = out.putArray("tensors");
    for (TensorDelta t : r.tensors()) {
      ObjectNode n = ts.addObject().put("name", t.name())
          .put("change", t.change() == null ? "unchanged" : t.change().name().toLowerCase(Locale.ROOT)
              .replace('_', '-'));
      if (t.dtypeA() != null) {
        n.put("dtypeA", t.dtypeA().name()).putPOJO("shapeA", t.shapeA());
      }
      if (t.dtypeB() != null) {
        n.put("dtypeB", t.dtypeB().name()).putPOJO("shapeB", t.shapeB());
      }
      number(n, "relFrobenius", t.relFrobenius());
      number(n, "cosine", t.cosine());
      n.put("elements", t.elements());
      n.put("layer", t.layer());
    }
    var fs = out.putArray("files");
    for (FileDiff f : r.files()) {
      ObjectNode fn = fs.addObject().put("path", f.path())
          .put("change", f.change().name().toLowerCase(Locale.ROOT)).put("sizeA", f.sizeA()).put("sizeB", f.sizeB());
      if (f.renamedFrom() != null) {
        fn.put("renamedFrom", f.renamedFrom());
      }
      if (f.formatA() != null) {
        fn.put("formatA", f.formatA()).put("formatB", f.formatB()).put("sameBytes", f.sameBytes());
      }
    }
    var mv = out.putArray("movedTensors");
    for (TensorMove m : r.moved()) {
      mv.addObject().put("name", m.name()).put("fileA", m.fileA()).put("fileB", m.fileB());
    }
    ex.json(200, out);
    return true;
  }

  private static void number(ObjectNode n, String k, double v) {
    if (Double.isNaN(v)) {
      n.putNull(k);
    } else {
      n.put(k, v);
    }
  }
}
