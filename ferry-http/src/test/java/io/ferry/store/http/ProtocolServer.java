package io.ferry.store.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.CorruptRefException;
import io.ferry.error.MissingObjectException;
import io.ferry.id.ChunkId;
import io.ferry.limits.Limits;
import io.ferry.store.Backend;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.StoredObject;
import io.ferry.testkit.FreePort;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A real HTTP server (the JDK's {@code com.sun.net.httpserver}) that speaks Ferry's store protocol over a backend of
 * the test's (a local store): what the client is tested against until, and besides, {@code ferry serve}. It is not a
 * mock of the client: it parses and answers real requests on a loopback port. Faults are injected per server: a delay
 * before chunk reads, chunk reads answered 503, chunk bodies longer or shorter than their range, a ref move applied and its answer dropped, a stop and a restart on the
 * same port. Counts the chunk reads it answered.
 */
final class ProtocolServer implements AutoCloseable {
  private static final String API = "/v1/store";

  private final Backend store;
  private final String token;
  private final ObjectMapper json = Limits.jsonMapper();
  private final ExecutorService pool = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "protocol-server");
    t.setDaemon(true);
    return t;
  });
  private int port;
  private HttpServer server;

  /** Chunk reads ({@code GET /chunks/{id}}) answered with bytes. */
  final AtomicLong chunkReads = new AtomicLong();
  /** Requests outside the protocol's path (answered 404). */
  final AtomicLong stray = new AtomicLong();
  /** Every request received. */
  final AtomicLong requests = new AtomicLong();
  /**
   * Exchanges handed to the handlers' threads and not ended yet. A stop closes the connections but does not wait for
   * them: one still running (the losing half of a hedged read) may yet count its answer.
   */
  final AtomicInteger running = new AtomicInteger();
  /** Delay before a chunk read is answered. */
  final AtomicReference<Duration> chunkDelay = new AtomicReference<>(Duration.ZERO);
  /** Delay before a chunk's HEAD (its size) is answered. */
  final AtomicReference<Duration> headDelay = new AtomicReference<>(Duration.ZERO);
  /** When not 0, chunk reads are answered with this status. */
  final AtomicInteger chunkStatus = new AtomicInteger();
  /**
   * When not 0, chunk read bodies are this many bytes longer (or, negative, shorter) than the range their headers
   * claim.
   */
  final AtomicInteger chunkBodyDelta = new AtomicInteger();
  /** When set, chunk read bodies are sent gzip-compressed with {@code Content-Encoding: gzip}, as a proxy may. */
  final java.util.concurrent.atomic.AtomicBoolean gzipChunks = new java.util.concurrent.atomic.AtomicBoolean();
  /**
   * When set, a JSON answer (status 200) holding this field is sent as an empty object, as from a server or a proxy
   * that speaks another protocol; the request itself is carried out.
   */
  final AtomicReference<String> blankField = new AtomicReference<>();
  /** When not 0, every request is answered with this status and nothing is done. */
  final AtomicInteger allStatus = new AtomicInteger();
  /**
   * When not 0, every request is answered 503 with {@code Retry-After} of this many seconds, until that long after the
   * first such answer (a proxy in front of a server that restarts).
   */
  final AtomicInteger restartingFor = new AtomicInteger();
  private final AtomicLong restartEnds = new AtomicLong();
  /** When not 0, ref moves are answered with this status, not applied. */
  final AtomicInteger refStatus = new AtomicInteger();
  /** Ref moves still to apply and then drop the answer of (the connection is closed instead). */
  final AtomicInteger dropRefAnswers = new AtomicInteger();
  /** Record creates still to apply and then drop the answer of. */
  final AtomicInteger dropCreateAnswers = new AtomicInteger();
  /** Chunk reads waiting in {@link #holdChunkReadsAfter}. */
  final AtomicInteger held = new AtomicInteger();
  private final AtomicLong holdAfter = new AtomicLong(-1);
  private volatile java.util.concurrent.CountDownLatch gate = new java.util.concurrent.CountDownLatch(0);

  /** Chunk reads past the first {@code n} answered from now on wait until {@link #release}. */
  void holdChunkReadsAfter(long n) {
    gate = new java.util.concurrent.CountDownLatch(1);
    holdAfter.set(n);
  }

  /** Lets held chunk reads go on, and stops holding. */
  void release() {
    holdAfter.set(-1);
    gate.countDown();
  }

  /** Path in front of {@value #API} (as behind a reverse proxy), "" for none. */
  private final String prefix;

  private ProtocolServer(Backend store, String token, String prefix) {
    this.store = store;
    this.token = token;
    this.prefix = prefix;
  }

  /** Starts a server on a free loopback port over {@code store}; with a token, requests must carry it. */
  static ProtocolServer start(Backend store, String token) throws IOException {
    return startUnder(store, token, "");
  }

  /** As {@link #start}, serving the protocol under {@code prefix + /v1/store} (e.g. {@code /ferry}). */
  static ProtocolServer startUnder(Backend store, String token, String prefix) throws IOException {
    ProtocolServer s = new ProtocolServer(store, token, prefix);
    // a port no other process is handed while a test has the server stopped, for its restart on the same port
    s.listen(FreePort.pick());
    return s;
  }

  private void listen(int at) throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), at), 64);
    server.createContext(prefix + API, this::handle);
    server.createContext("/", ex -> {
      stray.incrementAndGet();
      ex.sendResponseHeaders(404, -1);
      ex.close();
    });
    server.setExecutor(this::dispatch);
    server.start();
    port = server.getAddress().getPort();
  }

  /** Runs an exchange on the pool, counted in {@link #running} from its hand-over (before stop returns) to its end. */
  private void dispatch(Runnable exchange) {
    running.incrementAndGet();
    try {
      pool.execute(() -> {
        try {
          exchange.run();
        } finally {
          running.decrementAndGet();
        }
      });
    } catch (RuntimeException e) {
      running.decrementAndGet();
      throw e;
    }
  }

  /** Its base URI, {@code http://127.0.0.1:port}. */
  URI uri() {
    return URI.create("http://" + InetAddress.getLoopbackAddress().getHostAddress() + ":" + port);
  }

  /** Stops listening and closes every connection at once, as a killed server would. */
  synchronized void stop() {
    if (server != null) {
      server.stop(0);
      server = null;
    }
  }

  /** Listens again on the same port. */
  synchronized void restart() throws IOException {
    if (server == null) {
      listen(port);
    }
  }

  @Override
  public void close() {
    stop();
    pool.shutdownNow();
  }

  // ---------------------------------------------------------------- the protocol

  /**
   * Answers one request and closes the exchange. Closing comes last, after an error answer: an exchange closed before
   * its headers were sent closes the connection, so an error answered from a try-with-resources' catch clause (which
   * runs after the resource is closed) never reaches the client, which sees the connection closed.
   */
  private void handle(HttpExchange ex) throws IOException {
    requests.incrementAndGet();
    try (ex) {
      serve(ex);
    }
  }

  private void serve(HttpExchange ex) throws IOException {
    try {
      if (token != null && !("Bearer " + token).equals(ex.getRequestHeaders().getFirst("Authorization"))) {
        error(ex, 401, "unauthorized", "no valid bearer token");
        return;
      }
      if (allStatus.get() != 0) {
        error(ex, allStatus.get(), "unavailable", "injected fault");
        return;
      }
      int restarting = restartingFor.get();
      if (restarting != 0) {
        long now = System.nanoTime();
        restartEnds.compareAndSet(0, now + restarting * 1_000_000_000L);
        if (now - restartEnds.get() < 0) {
          ex.getResponseHeaders().set("Retry-After", Integer.toString(restarting));
          error(ex, 503, "unavailable", "restarting");
          return;
        }
      }
      String path = ex.getRequestURI().getRawPath().substring(prefix.length() + API.length());
      Map<String, String> query = query(ex.getRequestURI());
      String method = ex.getRequestMethod();
      if (path.isEmpty() || path.equals("/")) {
        if (method.equals("HEAD")) {
          ex.sendResponseHeaders(200, -1);
        } else {
          sendJson(ex, 200, json.createObjectNode().put("uri", "test store").put("maxObjectSize", 1L << 30)
              .put("version", "test"));
        }
      } else if (path.equals("/chunks/missing") && method.equals("POST")) {
        List<ChunkId> ids = new ArrayList<>();
        for (JsonNode n : json.readTree(body(ex)).path("ids")) {
          ids.add(ChunkId.parse(n.asText()));
        }
        ArrayNode out = json.createArrayNode();
        store.chunks().missing(ids).forEach(id -> out.add(id.hex()));
        ObjectNode o = json.createObjectNode();
        o.set("missing", out);
        sendJson(ex, 200, o);
      } else if (path.equals("/chunks") && method.equals("GET")) {
        listChunks(ex, query);
      } else if (path.startsWith("/chunks/")) {
        chunk(ex, method, ChunkId.parse(path.substring("/chunks/".length())));
      } else if (path.equals("/refs") && method.equals("GET")) {
        ArrayNode out = json.createArrayNode();
        String p = query.getOrDefault("prefix", "");
        ("1".equals(query.get("deleted")) ? store.refs().listLogged(p) : store.refs().list(p)).forEach(out::add);
        ObjectNode o = json.createObjectNode();
        o.set("refs", out);
        sendJson(ex, 200, o);
      } else if (path.startsWith("/refs/")) {
        ref(ex, method, decode(path.substring("/refs/".length())), query);
      } else if (path.equals("/records") && method.equals("GET")) {
        ArrayNode out = json.createArrayNode();
        store.records().list(query.getOrDefault("prefix", "")).forEach(out::add);
        ObjectNode o = json.createObjectNode();
        o.set("keys", out);
        sendJson(ex, 200, o);
      } else if (path.equals("/records/read") && method.equals("POST")) {
        List<String> keys = new ArrayList<>();
        for (JsonNode n : json.readTree(body(ex)).path("keys")) {
          keys.add(n.asText());
        }
        ArrayNode out = json.createArrayNode();
        for (Optional<byte[]> r : store.records().readAll(keys)) {
          if (r.isPresent()) {
            out.add(Base64.getEncoder().encodeToString(r.get()));
          } else {
            out.addNull();
          }
        }
        ObjectNode o = json.createObjectNode();
        o.set("records", out);
        sendJson(ex, 200, o);
      } else if (path.startsWith("/records/")) {
        record(ex, method, decode(path.substring("/records/".length())));
      } else {
        error(ex, 404, "not-found", "no such resource " + path);
      }
    } catch (IllegalArgumentException e) {
      error(ex, 400, "bad-request", String.valueOf(e.getMessage()));
    } catch (CorruptRefException e) {
      // an integrity failure of the store behind the server, answered as ferry-server answers it
      ObjectNode o = json.createObjectNode().put("error", "corrupt").put("message", e.getMessage())
          .put("ref", e.ref()).put("entry", e.entry()).put("defect", e.defect());
      sendJson(ex, 500, o);
    } catch (CorruptObjectException e) {
      error(ex, 500, "corrupt", String.valueOf(e.getMessage()));
    } catch (DroppedAnswer e) {
      throw new IOException("answer dropped on purpose");
    }
  }

  /** Sleeps for {@code d}; false if interrupted (the interrupt is kept). */
  private static boolean pause(Duration d) {
    if (d.isZero()) {
      return true;
    }
    try {
      Thread.sleep(d.toMillis());
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private void chunk(HttpExchange ex, String method, ChunkId id) throws IOException {
    switch (method) {
      case "HEAD" -> {
        if (!pause(headDelay.get())) {
          return;
        }
        try {
          long size = store.chunks().size(id);
          ex.getResponseHeaders().set("Content-Length", Long.toString(size));
          ex.sendResponseHeaders(200, -1);
        } catch (MissingObjectException e) {
          ex.sendResponseHeaders(404, -1);
        }
      }
      case "GET" -> {
        long h = holdAfter.get();
        if (h >= 0 && chunkReads.get() >= h) {
          held.incrementAndGet();
          try {
            gate.await(60, java.util.concurrent.TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
          } finally {
            held.decrementAndGet();
          }
        }
        if (!pause(chunkDelay.get())) {
          return;
        }
        if (chunkStatus.get() != 0) {
          error(ex, chunkStatus.get(), "unavailable", "injected fault");
          return;
        }
        long size;
        try {
          size = store.chunks().size(id);
        } catch (MissingObjectException e) {
          error(ex, 404, "not-found", "no object " + id);
          return;
        }
        long from = 0;
        long to = size - 1;
        String range = ex.getRequestHeaders().getFirst("Range");
        boolean partial = range != null;
        if (partial) {
          String[] ab = range.substring("bytes=".length()).split("-");
          from = Long.parseLong(ab[0]);
          to = Long.parseLong(ab[1]);
          if (from > to || to >= size) {
            ex.getResponseHeaders().set("Content-Range", "bytes */" + size);
            error(ex, 416, "range", "bytes " + from + "-" + to + " of " + size);
            return;
          }
          ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + to + "/" + size);
        }
        ByteBuffer b = store.chunks().read(id, from, (int) (to - from + 1));
        byte[] out = new byte[Math.max(0, b.remaining() + chunkBodyDelta.get())];
        b.get(out, 0, Math.min(out.length, b.remaining()));
        ex.getResponseHeaders().set("ETag", "\"" + id.hex() + "\"");
        if (gzipChunks.get()) {
          java.io.ByteArrayOutputStream zipped = new java.io.ByteArrayOutputStream();
          try (java.util.zip.GZIPOutputStream z = new java.util.zip.GZIPOutputStream(zipped)) {
            z.write(out);
          }
          out = zipped.toByteArray();
          ex.getResponseHeaders().set("Content-Encoding", "gzip");
        }
        chunkReads.incrementAndGet();
        send(ex, partial ? 206 : 200, out, "application/octet-stream");
      }
      case "PUT" -> {
        boolean created = store.chunks().put(id, ByteBuffer.wrap(body(ex)));
        ex.sendResponseHeaders(created ? 201 : 200, -1);
      }
      case "DELETE" -> {
        store.chunks().delete(id);
        ex.sendResponseHeaders(204, -1);
      }
      default -> error(ex, 405, "method", method);
    }
  }

  private void listChunks(HttpExchange ex, Map<String, String> query) throws IOException {
    int limit = Integer.parseInt(query.getOrDefault("limit", "1000"));
    String after = query.get("after");
    List<StoredObject> all = new ArrayList<>();
    store.chunks().list(all::add);
    all.sort((x, y) -> x.id().hex().compareTo(y.id().hex()));
    ArrayNode out = json.createArrayNode();
    String next = null;
    for (StoredObject o : all) {
      if (after != null && o.id().hex().compareTo(after) <= 0) {
        continue;
      }
      if (out.size() == limit) {
        next = out.get(out.size() - 1).path("id").asText();
        break;
      }
      out.addObject().put("id", o.id().hex()).put("size", o.size()).put("modified", o.modified().toString());
    }
    ObjectNode page = json.createObjectNode();
    page.set("objects", out);
    page.put("next", next);
    sendJson(ex, 200, page);
  }

  private void ref(HttpExchange ex, String method, String name, Map<String, String> query) throws IOException {
    if (method.equals("GET") && query.containsKey("log")) {
      ArrayNode out = json.createArrayNode();
      for (RefLogEntry e : store.refs().log(name)) {
        ObjectNode o = out.addObject();
        o.put("old", e.oldId() == null ? null : e.oldId().hex()).put("new", e.newId() == null ? null : e.newId().hex())
            .put("who", e.who()).put("when", e.when().toString()).put("why", e.why());
      }
      ObjectNode o = json.createObjectNode();
      o.set("entries", out);
      sendJson(ex, 200, o);
    } else if (method.equals("GET")) {
      Optional<ChunkId> id = store.refs().get(name);
      if (id.isEmpty()) {
        error(ex, 404, "not-found", "no ref " + name);
        return;
      }
      ex.getResponseHeaders().set("ETag", "\"" + id.get().hex() + "\"");
      sendJson(ex, 200, json.createObjectNode().put("name", name).put("id", id.get().hex()));
    } else if (method.equals("PUT")) {
      JsonNode b = json.readTree(body(ex));
      if (refStatus.get() != 0) {
        error(ex, refStatus.get(), "unavailable", "injected fault");
        return;
      }
      String match = ex.getRequestHeaders().getFirst("If-Match");
      ChunkId expected = match == null ? null : ChunkId.parse(match.replace("\"", ""));
      ChunkId next = b.path("new").isNull() ? null : ChunkId.parse(b.path("new").asText());
      RefLogEntry entry = new RefLogEntry(expected, next, b.path("who").asText(), Instant.parse(b.path("when").asText()),
          b.path("why").asText());
      CasResult r = store.refs().compareAndSet(name, expected, next, entry);
      if (dropRefAnswers.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
        throw new DroppedAnswer();
      }
      ObjectNode o = json.createObjectNode().put("result", r.name());
      if (r == CasResult.LOCK_FAILURE) {
        Optional<ChunkId> current = store.refs().get(name);
        o.put("current", current.map(ChunkId::hex).orElse(null));
      }
      sendJson(ex, r == CasResult.NEW ? 201 : r == CasResult.LOCK_FAILURE ? 412 : 200, o);
    } else {
      error(ex, 405, "method", method);
    }
  }

  private void record(HttpExchange ex, String method, String key) throws IOException {
    switch (method) {
      case "GET" -> {
        Optional<byte[]> r = store.records().read(key);
        if (r.isEmpty()) {
          error(ex, 404, "not-found", "no record " + key);
        } else {
          send(ex, 200, r.get(), "application/octet-stream");
        }
      }
      case "PUT" -> {
        byte[] content = body(ex);
        if ("*".equals(ex.getRequestHeaders().getFirst("If-None-Match"))) {
          boolean created = store.records().create(key, content);
          if (dropCreateAnswers.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
            throw new DroppedAnswer();
          }
          if (created) {
            ex.sendResponseHeaders(201, -1);
          } else {
            error(ex, 412, "exists", "record " + key + " exists");
          }
        } else {
          store.records().replace(key, content);
          ex.sendResponseHeaders(204, -1);
        }
      }
      case "DELETE" -> {
        store.records().delete(key);
        ex.sendResponseHeaders(204, -1);
      }
      default -> error(ex, 405, "method", method);
    }
  }

  /** Thrown to close the connection without an answer. */
  private static final class DroppedAnswer extends RuntimeException {}

  // ---------------------------------------------------------------- plumbing

  private static byte[] body(HttpExchange ex) throws IOException {
    try (InputStream in = ex.getRequestBody()) {
      return in.readAllBytes();
    }
  }

  private void sendJson(HttpExchange ex, int status, JsonNode node) throws IOException {
    String field = blankField.get();
    boolean blank = field != null && status == 200 && node.has(field);
    send(ex, status, json.writeValueAsBytes(blank ? json.createObjectNode() : node), "application/json");
  }

  private void error(HttpExchange ex, int status, String code, String message) throws IOException {
    sendJson(ex, status, json.createObjectNode().put("error", code).put("message", message));
  }

  private static void send(HttpExchange ex, int status, byte[] body, String type) throws IOException {
    ex.getResponseHeaders().set("Content-Type", type);
    if (ex.getRequestMethod().equals("HEAD")) {
      ex.sendResponseHeaders(status, -1);
      return;
    }
    ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(body);
    }
  }

  private static String decode(String raw) {
    return URLDecoder.decode(raw.replace("+", "%2B"), StandardCharsets.UTF_8);
  }

  private static Map<String, String> query(URI uri) {
    Map<String, String> out = new HashMap<>();
    String q = uri.getRawQuery();
    if (q == null) {
      return out;
    }
    for (String pair : q.split("&")) {
      int eq = pair.indexOf('=');
      out.put(decode(eq < 0 ? pair : pair.substring(0, eq)), eq < 0 ? "" : decode(pair.substring(eq + 1)));
    }
    return out;
  }
}
