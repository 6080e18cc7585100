package io.ferry.store.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.store.RecordStore;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;

/**
 * The records of an HTTP store: {@code /v1/store/records/{key}}. Reads are balanced and retried; writes go to one
 * server at a time and are sent to the next only when they surely did not reach the first. A create whose answer is
 * lost is resolved by reading the record: if it exists the create returns false (as the {@link RecordStore#create}
 * contract allows for a resent create), else it is sent again. A replace or delete whose answer is lost fails with
 * the unknown outcome named, for the caller to retry. Thread-safe.
 */
final class HttpRecordStore implements RecordStore {
  /** Keys per {@code POST /records/read}: bounds one answer (records are small, at most 1 MiB each). */
  static final int READ_BATCH = 32;

  private final HttpBackend backend;

  HttpRecordStore(HttpBackend backend) {
    this.backend = backend;
  }

  @Override
  public String describe() {
    return backend.where();
  }

  @Override
  public boolean create(String key, byte[] content) throws IOException {
    RecordStore.checkKey(key);
    RecordStore.checkContent(key, content);
    String what = "create record " + key;
    ServerPool.OutcomeUnknownException unknown = null;
    for (int attempt = 0; attempt < HttpRefStore.UNKNOWN_OUTCOME_ATTEMPTS; attempt++) {
      try {
        ServerPool.Answer a = write(what, "PUT", key, HttpRequest.BodyPublishers.ofByteArray(content),
            List.of("If-None-Match", "*", "Content-Type", "application/octet-stream"));
        if (a.status() == 201 || a.status() == 200 || a.status() == 204) {
          return true;
        }
        if (a.status() == 412) {
          return false;
        }
        throw backend.unexpected(a, what, "201 or 412");
      } catch (ServerPool.OutcomeUnknownException e) {
        if (unknown == null) {
          unknown = e;
        } else {
          unknown.addSuppressed(e);
        }
        if (read(key).isPresent()) {
          return false;
        }
      }
    }
    throw unknown;
  }

  @Override
  public void replace(String key, byte[] content) throws IOException {
    RecordStore.checkKey(key);
    RecordStore.checkContent(key, content);
    String what = "replace record " + key;
    ServerPool.Answer a = write(what, "PUT", key, HttpRequest.BodyPublishers.ofByteArray(content),
        List.of("Content-Type", "application/octet-stream"));
    if (a.status() != 204 && a.status() != 200 && a.status() != 201) {
      throw backend.unexpected(a, what, "204");
    }
  }

  @Override
  public Optional<byte[]> read(String key) throws IOException {
    RecordStore.checkKey(key);
    String what = "read record " + key;
    ServerPool.Answer a = backend.pool().call(new ServerPool.Call(what, "GET", "/records/" + HttpBackend.pathOf(key),
        null, List.of(), MAX_RECORD_BYTES, ServerPool.AnswerCheck.NONE), ServerPool.Retry.HEDGED);
    if (a.status() == 404) {
      return Optional.empty();
    }
    if (a.status() != 200) {
      throw backend.unexpected(a, what, "200 or 404");
    }
    return Optional.of(a.body());
  }

  @Override
  public List<String> list(String prefix) throws IOException {
    String what = "list records under '" + prefix + "'";
    ServerPool.Answer a = backend.pool().call(new ServerPool.Call(what, "GET", "/records?prefix="
        + HttpBackend.queryValue(prefix), null, List.of(), HttpBackend.JSON_LIMIT, ServerPool.AnswerCheck.NONE),
        ServerPool.Retry.HEDGED);
    if (a.status() != 200) {
      throw backend.unexpected(a, what, "200");
    }
    List<String> out = new ArrayList<>();
    for (JsonNode n : HttpBackend.array(backend.parse(a, what), "keys", a, what)) {
      if (n.asText().startsWith(prefix)) {
        out.add(n.asText());
      }
    }
    out.sort(null);
    return out;
  }

  @Override
  public void delete(String key) throws IOException {
    RecordStore.checkKey(key);
    String what = "delete record " + key;
    ServerPool.Answer a = write(what, "DELETE", key, null, List.of());
    if (a.status() != 204 && a.status() != 200 && a.status() != 404) {
      throw backend.unexpected(a, what, "204");
    }
  }

  @Override
  public List<Optional<byte[]>> readAll(List<String> keys) throws IOException {
    keys.forEach(RecordStore::checkKey);
    List<Optional<byte[]>> out = new ArrayList<>(keys.size());
    for (int from = 0; from < keys.size(); from += READ_BATCH) {
      List<String> batch = keys.subList(from, Math.min(keys.size(), from + READ_BATCH));
      ObjectNode body = backend.json().createObjectNode();
      ArrayNode arr = body.putArray("keys");
      batch.forEach(arr::add);
      String what = "read " + batch.size() + " records";
      ServerPool.Answer a = backend.pool().call(new ServerPool.Call(what, "POST", "/records/read",
          backend.jsonBody(body), List.of("Content-Type", "application/json"), HttpBackend.JSON_LIMIT,
          ServerPool.AnswerCheck.NONE), ServerPool.Retry.HEDGED);
      if (a.status() != 200) {
        throw backend.unexpected(a, what, "200");
      }
      JsonNode records = backend.parse(a, what).path("records");
      if (!records.isArray() || records.size() != batch.size()) {
        throw new IOException(what + " at " + a.server() + ": the answer holds " + records.size() + " records for "
            + batch.size() + " keys");
      }
      for (JsonNode r : records) {
        if (r.isNull()) {
          out.add(Optional.empty());
        } else {
          try {
            out.add(Optional.of(Base64.getDecoder().decode(r.asText())));
          } catch (IllegalArgumentException e) {
            throw new IOException(what + " at " + a.server() + ": a record is not base64", e);
          }
        }
      }
    }
    return out;
  }

  private ServerPool.Answer write(String what, String method, String key, HttpRequest.BodyPublisher body,
      List<String> headers) throws IOException {
    return backend.pool().call(new ServerPool.Call(what, method, "/records/" + HttpBackend.pathOf(key), body, headers,
        HttpBackend.JSON_LIMIT, ServerPool.AnswerCheck.NONE), ServerPool.Retry.ONCE);
  }

  @Override
  public void close() {
    // the backend owns the connections
  }
}
