package io.ferry.store.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.error.CorruptRefException;
import io.ferry.error.InvalidInputException;
import io.ferry.id.ChunkId;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import java.io.IOException;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The refs of an HTTP store: {@code /v1/store/refs/{name}}. Reads are balanced and retried; a move is a {@code PUT}
 * with {@code If-Match} (or {@code If-None-Match: *}) that the server turns into its store's compare-and-swap, sent to
 * one server at a time.
 *
 * <p>A move whose answer is lost (the connection broke after the request went out, or the server answered 5xx) may
 * or may not have happened. It is resolved, not guessed: the ref's log is read, and if its newest entries hold this
 * very move (same old and new id, who, when and why) the move happened; otherwise the ref is read, and if it still
 * has the expected value the move is sent again (a first request that lands late then finds the ref moved and
 * changes nothing), if it has the new value the result is {@link CasResult#NO_CHANGE}, and anything else is {@link
 * CasResult#LOCK_FAILURE}. Thread-safe.
 */
final class HttpRefStore implements RefStore {
  /** How often a move whose outcome stays unknown is resolved and resent before the failure is thrown. */
  static final int UNKNOWN_OUTCOME_ATTEMPTS = 3;
  /** The longest text taken from a server's account of a damaged log (its ref, its defect), in characters. */
  private static final int DEFECT_LIMIT = 2000;

  private final HttpBackend backend;

  HttpRefStore(HttpBackend backend) {
    this.backend = backend;
  }

  @Override
  public Optional<ChunkId> get(String name) throws IOException {
    RefNames.checkRef(name);
    String what = "read ref " + name;
    ServerPool.Answer a = backend.pool().call(new ServerPool.Call(what, "GET", "/refs/" + HttpBackend.pathOf(name),
        null, List.of(), HttpBackend.JSON_LIMIT, ServerPool.AnswerCheck.NONE), ServerPool.Retry.HEDGED);
    if (a.status() == 404) {
      return Optional.empty();
    }
    if (a.status() != 200) {
      throw refError(a, what, name, "200 or 404");
    }
    return Optional.of(id(backend.parse(a, what).path("id"), a, what));
  }

  @Override
  public CasResult compareAndSet(String name, ChunkId expected, ChunkId next, RefLogEntry entry) throws IOException {
    RefNames.checkRef(name);
    Objects.requireNonNull(entry, "entry");
    if (!Objects.equals(entry.oldId(), expected) || !Objects.equals(entry.newId(), next)) {
      throw new IllegalArgumentException("log entry " + entry.oldId() + " -> " + entry.newId() + " does not describe"
          + " the move " + expected + " -> " + next + " of " + name);
    }
    ServerPool.OutcomeUnknownException unknown = null;
    for (int attempt = 0; attempt < UNKNOWN_OUTCOME_ATTEMPTS; attempt++) {
      try {
        return send(name, expected, next, entry);
      } catch (ServerPool.OutcomeUnknownException e) {
        if (unknown == null) {
          unknown = e;
        } else {
          unknown.addSuppressed(e);
        }
      }
      Optional<CasResult> resolved = resolve(name, expected, next, entry);
      if (resolved.isPresent()) {
        return resolved.get();
      }
    }
    throw new IOException("move of ref " + name + " in " + backend.where() + ": the outcome stayed unknown after "
        + UNKNOWN_OUTCOME_ATTEMPTS + " attempts; read the ref and its log to see where it is", unknown);
  }

  private CasResult send(String name, ChunkId expected, ChunkId next, RefLogEntry entry) throws IOException {
    ObjectNode body = backend.json().createObjectNode();
    if (next == null) {
      body.putNull("new");
    } else {
      body.put("new", next.hex());
    }
    body.put("who", entry.who()).put("when", entry.when().toString()).put("why", entry.why());
    List<String> headers = expected == null ? List.of("If-None-Match", "*", "Content-Type", "application/json")
        : List.of("If-Match", "\"" + expected.hex() + "\"", "Content-Type", "application/json");
    String what = "move ref " + name + " from " + (expected == null ? "nothing" : expected.hex()) + " to "
        + (next == null ? "nothing" : next.hex());
    ServerPool.Answer a = backend.pool().call(new ServerPool.Call(what, "PUT", "/refs/" + HttpBackend.pathOf(name),
        backend.jsonBody(body), headers, HttpBackend.JSON_LIMIT, ServerPool.AnswerCheck.NONE),
        ServerPool.Retry.ONCE);
    if (a.status() != 200 && a.status() != 201 && a.status() != 204 && a.status() != 412) {
      throw refError(a, what, name, "201, 200 or 412");
    }
    String result = a.body().length == 0 ? "" : backend.parse(a, what).path("result").asText("");
    if (result.isEmpty()) {
      return switch (a.status()) {
        case 201 -> CasResult.NEW;
        case 412 -> CasResult.LOCK_FAILURE;
        default -> next == null ? CasResult.DELETED : CasResult.UPDATED;
      };
    }
    try {
      return CasResult.valueOf(result);
    } catch (IllegalArgumentException e) {
      throw new IOException(what + " at " + a.server() + ": unknown result '" + result + "' (known: "
          + java.util.Arrays.toString(CasResult.values()) + ")");
    }
  }

  /** Where a move with a lost answer stands; empty when it should be sent again. */
  private Optional<CasResult> resolve(String name, ChunkId expected, ChunkId next, RefLogEntry entry)
      throws IOException {
    List<RefLogEntry> log = log(name);
    for (int i = log.size() - 1; i >= Math.max(0, log.size() - 64); i--) {
      if (sameMove(log.get(i), entry)) {
        return Optional.of(next == null ? CasResult.DELETED : expected == null ? CasResult.NEW : CasResult.UPDATED);
      }
    }
    Optional<ChunkId> now = get(name);
    if (Objects.equals(now.orElse(null), expected)) {
      return Optional.empty();
    }
    return Optional.of(Objects.equals(now.orElse(null), next) ? CasResult.NO_CHANGE : CasResult.LOCK_FAILURE);
  }

  /** The same move: ids, who and why equal, and times equal to the millisecond (what every log keeps). */
  private static boolean sameMove(RefLogEntry a, RefLogEntry b) {
    return Objects.equals(a.oldId(), b.oldId()) && Objects.equals(a.newId(), b.newId()) && a.who().equals(b.who())
        && a.why().equals(b.why()) && a.when().toEpochMilli() == b.when().toEpochMilli();
  }

  /**
   * Asks the server what the token may do with the model ({@code GET /v1/store/access}); a server too old to answer
   * (404) leaves the check to its ref moves, as before.
   */
  @Override
  public void checkWritable(String model) throws IOException {
    String what = "ask what the token may do with model '" + model + "'";
    ServerPool.Answer a = backend.pool().call(new ServerPool.Call(what, "GET", "/access?model="
        + HttpBackend.queryValue(model), null, List.of(), HttpBackend.JSON_LIMIT, ServerPool.AnswerCheck.NONE),
        ServerPool.Retry.HEDGED);
    if (a.status() == 404) {
      return;
    }
    if (a.status() != 200) {
      throw backend.unexpected(a, what, "200");
    }
    JsonNode n = backend.parse(a, what);
    if (!n.path("write").asBoolean(false)) {
      throw new InvalidInputException("model '" + model + "' at " + a.server() + ": token '"
          + n.path("who").asText("?") + "' may not write it (its scopes do not name it); nothing was sent");
    }
  }

  @Override
  public List<String> list(String prefix) throws IOException {
    return names(prefix, false);
  }

  @Override
  public List<String> listLogged(String prefix) throws IOException {
    return names(prefix, true);
  }

  private List<String> names(String prefix, boolean deletedToo) throws IOException {
    String what = "list refs under '" + prefix + "'";
    ServerPool.Answer a = backend.pool().call(new ServerPool.Call(what, "GET", "/refs?prefix="
        + HttpBackend.queryValue(prefix) + (deletedToo ? "&deleted=1" : ""), null, List.of(), HttpBackend.JSON_LIMIT,
        ServerPool.AnswerCheck.NONE), ServerPool.Retry.HEDGED);
    if (a.status() != 200) {
      throw refError(a, what, prefix, "200");
    }
    List<String> out = new ArrayList<>();
    for (JsonNode n : HttpBackend.array(backend.parse(a, what), "refs", a, what)) {
      String name = n.asText();
      if (name.startsWith(prefix) && RefNames.isValidRef(name)) {
        out.add(name);
      }
    }
    out.sort(null);
    return out;
  }

  @Override
  public List<RefLogEntry> log(String name) throws IOException {
    RefNames.checkRef(name);
    String what = "read the log of ref " + name;
    ServerPool.Answer a = backend.pool().call(new ServerPool.Call(what, "GET", "/refs/" + HttpBackend.pathOf(name)
        + "?log=1", null, List.of(), HttpBackend.JSON_LIMIT, ServerPool.AnswerCheck.NONE), ServerPool.Retry.HEDGED);
    if (a.status() == 404) {
      return List.of();
    }
    if (a.status() != 200) {
      throw refError(a, what, name, "200");
    }
    List<RefLogEntry> out = new ArrayList<>();
    for (JsonNode e : HttpBackend.array(backend.parse(a, what), "entries", a, what)) {
      try {
        out.add(new RefLogEntry(optionalId(e.path("old"), a, what), optionalId(e.path("new"), a, what),
            e.path("who").asText(), Instant.parse(e.path("when").asText()), e.path("why").asText()));
      } catch (DateTimeParseException | NullPointerException ex) {
        throw new IOException(what + " at " + a.server() + ": entry " + (out.size() + 1) + " is not a log entry: "
            + e, ex);
      }
    }
    return out;
  }

  /**
   * The error for an unexpected answer about a ref. A damaged log (the server's {@code corrupt} error) is the {@link
   * CorruptRefException} the server's store raised, rebuilt from the answer's {@code ref}, {@code entry} and {@code
   * defect} and naming this server as the store; from a server that does not send them, it names the ref asked about,
   * entry 0 (unknown) and the server's message.
   */
  private IOException refError(ServerPool.Answer a, String what, String name, String expected) {
    if (a.corrupt()) {
      String ref = a.text("ref", DEFECT_LIMIT);
      long entry = a.number("entry");
      String defect = a.text("defect", DEFECT_LIMIT);
      if (ref != null && RefNames.isValidRef(ref) && entry >= 0 && defect != null) {
        return new CorruptRefException(ref, a.server().toString(), entry, defect);
      }
      return new CorruptRefException(name, a.server().toString(), 0, a.message());
    }
    return backend.unexpected(a, what, expected);
  }

  private static ChunkId id(JsonNode n, ServerPool.Answer a, String what) throws IOException {
    if (!n.isTextual() || !ChunkId.isValid(n.asText())) {
      throw new IOException(what + " at " + a.server() + ": '" + n + "' is not a version id (64 hex digits)");
    }
    return ChunkId.parse(n.asText());
  }

  private static ChunkId optionalId(JsonNode n, ServerPool.Answer a, String what) throws IOException {
    return n.isNull() || n.isMissingNode() ? null : id(n, a, what);
  }

  @Override
  public void close() {
    // the backend owns the connections
  }
}
