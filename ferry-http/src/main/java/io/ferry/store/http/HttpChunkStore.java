package io.ferry.store.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.InvalidInputException;
import io.ferry.error.MissingObjectException;
import io.ferry.id.ChunkId;
import io.ferry.store.ChunkStore;
import io.ferry.store.StoredObject;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The objects of an HTTP store: {@code /v1/store/chunks/{id}}. Reads ({@code GET} with one {@code Range}) are
 * balanced, retried and hedged; puts are balanced and retried (a put is idempotent); the rest is balanced and retried.
 * An answer that is not the bytes asked for (another length, another range) is the server's failure and is retried
 * on another server. Range reads go into a buffer of the caller's (or one of the exact length), over {@code http://}
 * on plain connections ({@link PlainReads}). Thread-safe.
 */
final class HttpChunkStore implements ChunkStore {
  /** Ids per {@code POST /chunks/missing}, the protocol's limit. */
  static final int MISSING_BATCH = 10_000;
  /** Objects per page of the listing. */
  static final int LIST_PAGE = 1000;

  /** Most objects remembered at once as to be read again past the servers' caches. */
  private static final int REVALIDATE_LIMIT = 4096;

  private final HttpBackend backend;
  /** Paths whose next read asks past the servers' caches ({@link #readRejected}). */
  private final Set<String> revalidate = java.util.concurrent.ConcurrentHashMap.newKeySet();
  /**
   * The path whose bytes the calling thread last rejected: its own next read of it asks past the caches even when
   * another thread's read of the same object took the shared mark first (that read may reach the server after this
   * one, which would then be answered from the cache again).
   */
  private final ThreadLocal<String> rejectedHere = new ThreadLocal<>();

  HttpChunkStore(HttpBackend backend) {
    this.backend = backend;
  }

  @Override
  public String describe() {
    return backend.where();
  }

  @Override
  public boolean contains(ChunkId id) throws IOException {
    ServerPool.Answer a = head(id);
    return a.status() == 200;
  }

  @Override
  public List<ChunkId> missing(Collection<ChunkId> ids) throws IOException {
    List<ChunkId> all = new ArrayList<>(ids);
    List<ChunkId> out = new ArrayList<>();
    for (int from = 0; from < all.size(); from += MISSING_BATCH) {
      List<ChunkId> batch = all.subList(from, Math.min(all.size(), from + MISSING_BATCH));
      ObjectNode body = backend.json().createObjectNode();
      ArrayNode arr = body.putArray("ids");
      batch.forEach(id -> arr.add(id.hex()));
      String what = "ask which of " + batch.size() + " objects are missing";
      ServerPool.Answer a = backend.pool().call(new ServerPool.Call(what, "POST", "/chunks/missing",
          backend.jsonBody(body), List.of("Content-Type", "application/json"), HttpBackend.JSON_LIMIT,
          ServerPool.AnswerCheck.NONE), ServerPool.Retry.ANY);
      if (a.status() != 200) {
        throw backend.unexpected(a, what, "200");
      }
      Set<String> missing = new HashSet<>();
      for (JsonNode n : HttpBackend.array(backend.parse(a, what), "missing", a, what)) {
        missing.add(n.asText());
      }
      for (ChunkId id : batch) {
        if (missing.contains(id.hex())) {
          out.add(id);
        }
      }
    }
    return out;
  }

  @Override
  public boolean put(ChunkId id, ByteBuffer... parts) throws IOException {
    String what = "store object " + id;
    long size = 0;
    for (ByteBuffer p : parts) {
      size += p.remaining();
    }
    if (backend.maxObjectSize() > 0 && size > backend.maxObjectSize()) {
      // refused here: a server may reset the stream of a body over its limit instead of answering 413
      throw new InvalidInputException(what + ": it is " + size + " bytes, more than the " + backend.maxObjectSize()
          + " bytes the servers of " + describe() + " take (their maxObjectSize)");
    }
    ServerPool.Answer a = backend.pool().call(new ServerPool.Call(what, "PUT", chunkPath(id),
        Bodies.of(parts), List.of("Content-Type", "application/octet-stream"), HttpBackend.JSON_LIMIT,
        ServerPool.AnswerCheck.NONE), ServerPool.Retry.ANY);
    switch (a.status()) {
      case 201:
        return true;
      case 200:
      case 204:
        return false;
      case 422:
        throw new CorruptObjectException(id, a.server().toString(), "the server refused the object: " + a.message());
      default:
        throw backend.unexpected(a, what, "201 or 200");
    }
  }

  /**
   * The next read of the object asks another server than the one that sent the rejected bytes (if there is one), and
   * sends {@code Cache-Control: no-cache}: a server whose store has a cache in front of it drops its copy and reads
   * the store (the bytes may have come from that cache, forged or damaged; a second read from it brought them again).
   */
  @Override
  public boolean readRejected(ChunkId object) {
    String path = chunkPath(object);
    if (revalidate.size() >= REVALIDATE_LIMIT) {
      revalidate.clear();
    }
    revalidate.add(path);
    rejectedHere.set(path);
    return backend.pool().rejected(path);
  }

  /** The server that answered the calling thread's last read of the object, if its last balanced call was one. */
  @Override
  public String lastSender(ChunkId object) {
    return backend.pool().lastSender(chunkPath(object));
  }

  private static String chunkPath(ChunkId id) {
    return "/chunks/" + id.hex();
  }

  @Override
  public long size(ChunkId id) throws IOException {
    ServerPool.Answer a = head(id);
    if (a.status() == 404) {
      throw missing(id, a);
    }
    return a.headers().firstValueAsLong("content-length").orElseThrow(() -> new IOException("size of object " + id
        + " at " + a.server() + ": the answer has no Content-Length"));
  }

  private ServerPool.Answer head(ChunkId id) throws IOException {
    String what = "look up object " + id;
    ServerPool.Answer a = backend.pool().call(new ServerPool.Call(what, "HEAD", chunkPath(id), null,
        List.of(), 0, ServerPool.AnswerCheck.NONE), ServerPool.Retry.HEDGED);
    if (a.status() != 200 && a.status() != 404) {
      throw backend.unexpected(a, what, "200 or 404");
    }
    return a;
  }

  @Override
  public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
    checkRead(id, offset, length);
    if (length == 0 || offset > Long.MAX_VALUE - length) {
      checkEmptyRead(id, offset, length);
      return ByteBuffer.allocate(0);
    }
    // into a buffer of the exact length, so that the read takes the same way as readInto (PlainReads over http://)
    ByteBuffer out = ByteBuffer.allocate(length);
    rangeRead(id, offset, length, out);
    return out;
  }

  /**
   * Reads the range straight into {@code dst}: the body is copied out of the HTTP client's buffers into it as it
   * arrives, with no array per read. On failure {@code dst}'s position is unchanged, but bytes past it may have been
   * overwritten.
   */
  @Override
  public void readInto(ChunkId id, long offset, ByteBuffer dst) throws IOException {
    int length = dst.remaining();
    checkRead(id, offset, length);
    if (length == 0 || offset > Long.MAX_VALUE - length) {
      checkEmptyRead(id, offset, length);
      return;
    }
    rangeRead(id, offset, length, dst);
    dst.position(dst.position() + length);
  }

  private static void checkRead(ChunkId id, long offset, int length) {
    if (offset < 0 || length < 0) {
      throw new IllegalArgumentException("negative offset " + offset + " or length " + length + " for " + id);
    }
  }

  /** A read of nothing (or past any object's end) is checked against the object's size. */
  private void checkEmptyRead(ChunkId id, long offset, int length) throws IOException {
    long size = size(id);
    if (offset > size || length > size - offset) {
      throw new EOFException("read of " + length + " bytes at " + offset + " of object " + id + " in "
          + describe() + ", which is " + size + " bytes");
    }
  }

  /**
   * A {@code GET} of bytes {@code [offset, offset + length)}, checked to be exactly that range; the body is in the
   * answer's array, or, with a {@code dst}, written into it from its position.
   */
  private ServerPool.Answer rangeRead(ChunkId id, long offset, int length, ByteBuffer dst) throws IOException {
    long last = offset + length - 1;
    String what = "read bytes " + offset + "-" + last + " of object " + id;
    String path = chunkPath(id);
    boolean mine = path.equals(rejectedHere.get());
    if (mine) {
      rejectedHere.remove();
    }
    List<String> headers = revalidate.remove(path) | mine
        ? List.of("Range", "bytes=" + offset + "-" + last, "Cache-Control", "no-cache")
        : List.of("Range", "bytes=" + offset + "-" + last);
    ServerPool.Answer a = backend.pool().call(new ServerPool.Call(what, "GET", path, null, headers, length,
        answer -> checkRange(answer, offset, length), dst), ServerPool.Retry.HEDGED);
    switch (a.status()) {
      case 200:
      case 206:
        return a;
      case 404:
        throw missing(id, a);
      case 500:
        if ("corrupt".equals(a.text("error", 40))) {
          String defect = a.text("defect", ServerPool.Answer.MESSAGE_LIMIT);
          throw new CorruptObjectException(id, a.server().toString(), "the server found it damaged: "
              + (defect != null ? defect : a.message()));
        }
        throw backend.unexpected(a, what, "206");
      case 416:
        throw new EOFException("bytes " + offset + "-" + last + " of object " + id + " in " + describe()
            + " run past its end (" + a.headers().firstValue("content-range").orElse("size not given") + ")");
      default:
        throw backend.unexpected(a, what, "206");
    }
  }

  /**
   * The error for an object that a server said it does not hold. Servers over one store agree on every object, so
   * with several servers the others are asked too: one that holds it shows that the URI lists servers of different
   * stores, which is said as such (a read through them would otherwise fail as a damaged store, exit 3, or take a
   * version from one store and its objects from another).
   */
  private IOException missing(ChunkId id, ServerPool.Answer a) throws IOException {
    ServerPool pool = backend.pool();
    if (pool.servers().size() > 1) {
      List<Server> holding = pool.othersAnswering(new ServerPool.Call("look up object " + id, "HEAD",
          chunkPath(id), null, List.of(), 0, ServerPool.AnswerCheck.NONE), a.server(), 200);
      if (!holding.isEmpty()) {
        return new InvalidInputException("the servers of " + describe() + " do not serve one store: object " + id
            + " is missing from " + a.server() + " and held by " + holding.stream().map(Server::toString)
            .collect(java.util.stream.Collectors.joining(", ")) + "; list only servers started over the same store");
      }
    }
    return new MissingObjectException(id, describe());
  }

  /** A 206 must hold exactly the range asked for; a 200 is taken only when the range is the whole object. */
  private static void checkRange(ServerPool.Answer a, long offset, int length) throws IOException {
    if (a.status() == 206) {
      String range = a.headers().firstValue("content-range").orElse("");
      String expected = "bytes " + offset + "-" + (offset + length - 1) + "/";
      if (!range.startsWith(expected) || a.length() != length) {
        throw new ServerPool.AnswerRejected(a.server() + " answered a range of " + a.length() + " bytes with"
            + " Content-Range '" + range + "' for bytes " + offset + "-" + (offset + length - 1));
      }
    } else if (a.status() == 200 && (offset != 0 || a.length() != length)) {
      throw new ServerPool.AnswerRejected(a.server() + " answered 200 with " + a.length() + " bytes for bytes "
          + offset + "-" + (offset + length - 1) + " (it ignored the Range)");
    }
  }

  @Override
  public void list(Consumer<StoredObject> sink) throws IOException {
    String after = null;
    Instant now = backend.clock().instant();
    while (true) {
      String path = "/chunks?limit=" + LIST_PAGE + (after == null ? "" : "&after=" + after);
      String what = "list objects" + (after == null ? "" : " after " + after);
      ServerPool.Answer a = backend.pool().call(new ServerPool.Call(what, "GET", path, null, List.of(),
          HttpBackend.JSON_LIMIT, ServerPool.AnswerCheck.NONE), ServerPool.Retry.HEDGED);
      if (a.status() != 200) {
        throw backend.unexpected(a, what, "200");
      }
      JsonNode page = backend.parse(a, what);
      for (JsonNode o : HttpBackend.array(page, "objects", a, what)) {
        String hex = o.path("id").asText();
        if (!ChunkId.isValid(hex) || !o.path("size").canConvertToLong()) {
          throw new IOException(what + " at " + a.server() + ": an entry without a valid id and size: " + o);
        }
        sink.accept(new StoredObject(ChunkId.parse(hex), o.path("size").asLong(), modified(o, now)));
      }
      JsonNode next = page.path("next");
      if (next.isNull() || next.isMissingNode() || next.asText().isEmpty()) {
        return;
      }
      if (!ChunkId.isValid(next.asText()) || next.asText().equals(after)) {
        throw new IOException(what + " at " + a.server() + ": the next page marker '" + next.asText()
            + "' is not an id past " + after);
      }
      after = next.asText();
    }
  }

  /**
   * When the object was written, if the server says ({@code modified}); else now, so that a gc through a server
   * that does not say takes every object as young and deletes none.
   */
  private static Instant modified(JsonNode o, Instant now) {
    String m = o.path("modified").asText("");
    if (!m.isEmpty()) {
      try {
        return Instant.parse(m);
      } catch (DateTimeParseException e) {
        return now;
      }
    }
    return now;
  }

  @Override
  public void delete(ChunkId id) throws IOException {
    String what = "delete object " + id;
    ServerPool.Answer a = backend.pool().call(new ServerPool.Call(what, "DELETE", chunkPath(id), null,
        List.of(), HttpBackend.JSON_LIMIT, ServerPool.AnswerCheck.NONE), ServerPool.Retry.ANY);
    if (a.status() != 204 && a.status() != 200 && a.status() != 404) {
      throw backend.unexpected(a, what, "204");
    }
  }

  @Override
  public void close() {
    // the backend owns the connections
  }
}
