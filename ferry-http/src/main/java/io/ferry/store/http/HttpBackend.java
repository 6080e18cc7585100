package io.ferry.store.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.error.InvalidInputException;
import io.ferry.limits.Limits;
import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.RecordStore;
import io.ferry.store.RefStore;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A Ferry store reached through one or more Ferry servers ({@code ferry serve}), named by {@code http://host:port}
 * or {@code http://a:8080,http://b:8080,http://c:8080} (servers over one store, as replicas). Every request maps one
 * SPI call onto the server's protocol ({@code docs/http-api.md}); the server calls the same SPI on its own store, so
 * everything core builds above the SPI (versions, verification, ref logs, leases, gc) works here unchanged.
 *
 * <p>What goes where ({@link ServerPool} does it): chunk reads are spread over the servers by the {@code balance}
 * policy, retried on another server when one fails, and hedged to a second server when they run past the recent
 * p95; other reads and chunk puts (idempotent) are balanced and retried; ref moves and record writes go to the first
 * server that is up and are retried on the next only when they surely did not reach the first. A ref move whose
 * outcome is unknown is resolved by reading the ref's log and the ref back ({@link HttpRefStore}).
 *
 * <p>Chunks arrive as the stored frames, so core's read path checks every one as it checks any store's (frame
 * header, chunk id, length, CRC32C; SHA-256 with {@code --verify}). Thread-safe; {@link #close()} is idempotent.
 */
public final class HttpBackend implements Backend {
  /** The longest JSON answer accepted (a page of a listing, a ref log). */
  static final long JSON_LIMIT = 64L << 20;

  private final HttpSettings settings;
  private final ServerPool pool;
  private final ObjectMapper json = Limits.jsonMapper();
  private final Clock clock;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final HttpChunkStore chunks;
  private final HttpRefStore refs;
  private final HttpRecordStore records;
  private long maxObjectSize = -1;

  private HttpBackend(HttpSettings settings, Clock clock, java.util.function.Consumer<String> notices) {
    this.settings = settings;
    this.clock = clock;
    this.pool = new ServerPool(settings, notices);
    this.chunks = new HttpChunkStore(this);
    this.refs = new HttpRefStore(this);
    this.records = new HttpRecordStore(this);
  }

  /**
   * Opens the store behind the servers the URI names, asking each for the store's description ({@code GET
   * /v1/store}); servers that do not answer are marked down, and the store opens if any answers. Servers that report
   * different store ids are refused.
   *
   * @param env the environment, for {@code FERRY_TOKEN} (injected so tests control it)
   * @throws InvalidInputException if the URI is not usable, the token is refused, a server is not a Ferry server, or
   *     the servers serve different stores
   * @throws IOException if no server answers (naming each and why)
   */
  public static HttpBackend open(URI uri, StoreOptions options, Map<String, String> env) throws IOException {
    HttpBackend b = new HttpBackend(HttpSettings.parse(uri, options.settings(), env), options.clock(),
        options.notices());
    try {
      b.pool.identifyAll();
      b.describeStore();
      return b;
    } catch (IOException | RuntimeException e) {
      b.close();
      throw e;
    }
  }

  private void describeStore() throws IOException {
    ServerPool.Answer a = pool.call(new ServerPool.Call("read the store's description", "GET", "", null, List.of(),
        JSON_LIMIT, ServerPool.AnswerCheck.NONE), ServerPool.Retry.HEDGED);
    if (a.status() == 404) {
      throw new InvalidInputException("store " + settings.describe() + ": " + a.server() + " is not a Ferry server"
          + " (no " + ServerPool.API + "; expected one started by 'ferry serve')");
    }
    if (a.status() != 200) {
      throw unexpected(a, "read the store's description", "200");
    }
    JsonNode node = parse(a, "the store's description");
    if (node.path("maxObjectSize").canConvertToLong()) {
      maxObjectSize = node.path("maxObjectSize").asLong();
    }
  }

  /** What each server did for this client so far, in the order the URI lists them. */
  public List<ServerStats> stats() {
    List<ServerStats> out = new ArrayList<>();
    for (Server s : pool.servers()) {
      out.add(s.stats());
    }
    return out;
  }

  /** The largest object the store takes, as its server said when the store was opened; -1 if it did not say. */
  public long maxObjectSize() {
    return maxObjectSize;
  }

  @Override
  public ChunkStore chunks() {
    return chunks;
  }

  @Override
  public RefStore refs() {
    return refs;
  }

  @Override
  public RecordStore records() {
    return records;
  }

  /** The servers, without options (and never the token). */
  @Override
  public String uri() {
    return settings.describe();
  }

  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      pool.close();
    }
  }

  @Override
  public String toString() {
    return "HttpBackend[" + settings.describe() + "]";
  }

  // ---------------------------------------------------------------- shared by the three stores

  ServerPool pool() {
    return pool;
  }

  ObjectMapper json() {
    return json;
  }

  Clock clock() {
    return clock;
  }

  String where() {
    return settings.describe();
  }

  /** Parses a JSON answer; one that does not parse is the server's fault, named. */
  JsonNode parse(ServerPool.Answer a, String what) throws IOException {
    try {
      JsonNode n = json.readTree(a.body());
      if (n == null || !n.isObject()) {
        throw new IOException("not a JSON object");
      }
      return n;
    } catch (IOException e) {
      throw new IOException(what + " from " + a.server() + ": the answer is not the JSON object expected ("
          + e.getMessage() + ")", e);
    }
  }

  /**
   * The array {@code field} of an answer's JSON object. An answer without it, or with something else there, is an error
   * naming the server, what was asked and the field: read as empty, a missing query said that nothing was missing (so a
   * push uploaded nothing and published a version whose chunks the store lacks) and a listing that nothing was there.
   */
  static JsonNode array(JsonNode answer, String field, ServerPool.Answer a, String what) throws IOException {
    JsonNode n = answer.path(field);
    if (!n.isArray()) {
      throw new IOException(what + " at " + a.server() + ": the answer has no array '" + field + "'"
          + (n.isMissingNode() ? "" : ", but " + n));
    }
    return n;
  }

  /** A JSON request body. */
  java.net.http.HttpRequest.BodyPublisher jsonBody(Object value) throws IOException {
    return java.net.http.HttpRequest.BodyPublishers.ofByteArray(json.writeValueAsBytes(value));
  }

  /**
   * The error for an answer the caller did not expect: 401 and 403 (the token), 400 and 413 as bad input, anything
   * else as a fault, each naming the server, what was asked, what was expected and the server's own message.
   */
  IOException unexpected(ServerPool.Answer a, String what, String expected) {
    String msg = a.message();
    String at = what + " at " + a.server();
    switch (a.status()) {
      case 401:
        return new InvalidInputException(at + ": the server refused the request (401 unauthorized): "
            + (settings.token() == null ? "no token was given; give one with --token or " + HttpSettings.TOKEN_ENV
                : "the token is not valid there") + (msg.isEmpty() ? "" : " (" + msg + ")"));
      case 403:
        return new io.ferry.error.NotAllowedException(at + ": the token's scopes do not allow it (403)"
            + (msg.isEmpty() ? "" : ": " + msg));
      case 400:
      case 413:
      case 422:
        return new InvalidInputException(at + ": the server refused it (" + a.status() + ")"
            + (msg.isEmpty() ? "" : ": " + msg));
      default:
        String location = a.status() >= 300 && a.status() < 400 ? a.headers().firstValue("location").orElse("")
            : "";
        if (!location.isEmpty()) {
          // the redirect's query is left out: it may hold a signature
          int q = location.indexOf('?');
          StringBuilder to = new StringBuilder();
          (q < 0 ? location : location.substring(0, q)).codePoints().limit(200)
              .forEach(c -> to.appendCodePoint(c < 0x20 || c > 0x7e ? '?' : c));
          return new InvalidInputException(at + ": the server answered " + a.status() + ", a redirect to '" + to
              + "'; Ferry follows no redirects, so that the token goes only to the servers the store URI lists:"
              + " give the store URI the server it points to");
        }
        return new IOException(at + ": the server answered " + a.status() + ", expected " + expected
            + (msg.isEmpty() ? "" : ": " + msg));
    }
  }

  /**
   * A ref name or record key as a path: each {@code /}-separated segment percent-encoded where it has characters
   * other than letters, digits and {@code . _ - ~}.
   */
  static String pathOf(String name) {
    StringBuilder out = new StringBuilder();
    byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
    for (byte x : bytes) {
      int c = x & 0xff;
      boolean plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
          || c == '_' || c == '-' || c == '~' || c == '/';
      if (plain) {
        out.append((char) c);
      } else {
        out.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
            .append(Character.toUpperCase(Character.forDigit(c & 15, 16)));
      }
    }
    return out.toString();
  }

  /** A query parameter's value, percent-encoded. */
  static String queryValue(String v) {
    return java.net.URLEncoder.encode(v, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
