package io.ferry.server;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.Ferry;
import io.ferry.chunk.Frame;
import io.ferry.codec.NoneCodec;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.InvalidInputException;
import io.ferry.error.MissingObjectException;
import io.ferry.id.ChunkId;
import io.ferry.lease.LeaseSettings;
import io.ferry.pack.PackIndex;
import io.ferry.read.ChunkReader;
import io.ferry.read.Location;
import io.ferry.repo.Repository;
import io.ferry.server.auth.Access;
import io.ferry.server.http.ByteRange;
import io.ferry.server.http.Exchange;
import io.ferry.server.http.HttpError;
import io.ferry.server.http.MemoryBudget;
import io.ferry.server.http.SliceBuffers;
import io.ferry.store.Backend;
import io.ferry.store.CasResult;
import io.ferry.store.ChunkStore;
import io.ferry.store.RecordStore;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import io.ferry.store.StoredObject;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.PriorityQueue;
import org.eclipse.jetty.http.HttpHeader;

/**
 * The {@code /v1/store} protocol (docs/http-api.md): the storage SPI of the server's store ({@link ChunkStore},
 * {@link RefStore}, {@link RecordStore}) one call per request, so that a client can be a {@link Backend} for every
 * command. Stateless: refs move only by the store's own compare-and-swap, so several servers over one store agree.
 * Stored chunks stream in slices of {@value #SLICE} bytes through reused direct buffers ({@link SliceBuffers}; ranges
 * are reads of the range); uploads are held whole, within the server's {@link MemoryBudget}, checked against their id
 * ({@link UploadCheck}) and only then stored.
 */
final class StoreApi {
  /** Bytes read from the store and written to the client per step of a streamed chunk. */
  static final int SLICE = 1 << 20;
  /** Most direct slice buffers ({@link SliceBuffers}): streamed answers beyond that many at once use heap ones. */
  static final int DIRECT_SLICES = 32;
  /** Most ids in one {@code missing} query. */
  static final int MAX_MISSING = 10_000;
  /** Most objects in one page of the chunk listing. */
  static final int MAX_LIST = 10_000;
  /** Most keys in one batch read of records. */
  static final int MAX_READ_KEYS = 10_000;
  /** Largest JSON body of a ref move: who, when and why go into the ref's log. */
  static final int MAX_JSON = 64 << 10;
  /** Largest body of a {@code missing} query: 10,000 quoted ids and some room. */
  static final int MAX_MISSING_BODY = MAX_MISSING * 70 + 4096;
  /** Largest body of a batch read of records. */
  static final int MAX_READ_BODY = MAX_READ_KEYS * (RecordStore.MAX_KEY_LENGTH + 8) + 4096;


  /** The request header naming the store id the client expects ({@code docs/http-api.md}, "Store info"). */
  static final String STORE_ID_HEADER = "Ferry-Store-Id";

  private final Repository repo;
  private final Backend backend;
  private final ServerOptions options;
  private final MemoryBudget budget;
  private final UploadCheck uploads;
  private final SliceBuffers slices = new SliceBuffers(SLICE, DIRECT_SLICES);
  private final RecordRules recordRules;
  private final Clock clock;
  private final StoreIdReader storeId;

  StoreApi(Repository repo, ServerOptions options, MemoryBudget budget, Clock clock) {
    this.repo = repo;
    this.backend = repo.backend();
    this.options = options;
    this.budget = budget;
    this.uploads = new UploadCheck(repo.objects().codecs(), budget);
    this.clock = clock;
    this.storeId = new StoreIdReader(backend, clock);
    this.recordRules = new RecordRules(backend.records(), backend.chunks(), clock, LeaseSettings.defaults());
  }
  /** The store this API serves. */
  Backend backend() {
    return backend;
  }


  /**
   * Refuses a request that names in {@code Ferry-Store-Id} a store other than this server's (409 {@code
   * store-mismatch}), before anything is read or changed for it: a client of another store, this server having been
   * started again over another store at its address. Checked on every {@code /v1} path (the model API's too, which the
   * Python client reads), not only under {@code /v1/store}. To a caller that may read the store's description, every
   * such answer (a refusal too) names this server's store in the same header, so that a client of one server learns
   * the id from its first answer and names it in its later requests without asking for it.
   */
  void checkStoreId(Exchange ex) throws HttpError {
    String expected = ex.header(STORE_ID_HEADER);
    boolean reader = ex.access().canReadAny();
    String id = reader || expected != null ? storeId() : null;
    if (id != null && reader) {
      ex.set(STORE_ID_HEADER, id);
    }
    if (expected != null) {
      if (id != null && !id.equals(expected.trim())) {
        throw new HttpError(409, "store-mismatch", "this server serves store " + id + ", not store "
            + Exchange.clip(expected.trim()) + " that the request is for (was it started again over another store?);"
            + " nothing was read or changed", java.util.Map.of("id", id));
      }
    }
  }

  /** Serves a request whose path starts with {@code /v1/store}; {@code segs} are the segments after it. */
  void handle(Exchange ex, List<String> segs) throws HttpError, IOException, InterruptedException {
    String m = ex.method();
    if (segs.isEmpty()) {
      requireMethod(ex, "GET", "HEAD");
      ex.require(ex.access().canReadAny(), "read access to some model");
      info(ex);
      return;
    }
    switch (segs.get(0)) {
      case "chunks" -> chunks(ex, segs);
      case "refs" -> refs(ex, segs);
      case "records" -> records(ex, segs);
      case "access" -> access(ex, segs);
      default -> throw HttpError.notFound("no such store resource: " + Exchange.clip(ex.rawPath()));
    }
  }

  /**
   * What the request's token may do, for clients that check before they work: {@code GET /v1/store/access?model=M}
   * answers whether it may read and write M (a push asks before it uploads anything).
   */
  private void access(Exchange ex, List<String> segs) throws HttpError, IOException {
    requireMethod(ex, "GET", "HEAD");
    if (segs.size() != 1) {
      throw HttpError.notFound("no such store resource: " + Exchange.clip(ex.rawPath()));
    }
    Access a = ex.access();
    ObjectNode o = Exchange.JSON.createObjectNode().put("who", a.who()).put("admin", a.isAdmin());
    String model = ex.query("model");
    if (model != null) {
      try {
        RefNames.checkModel(model);
      } catch (InvalidInputException e) {
        throw new HttpError(400, "bad-model", e.getMessage());
      }
      o.put("model", model).put("read", a.canRead(model)).put("write", a.canWrite(model));
    }
    ex.json(200, o);
  }

  private void info(Exchange ex) throws IOException {
    ObjectNode o = Exchange.JSON.createObjectNode().put("uri", publicUri(backend.uri()))
        .put("maxObjectSize", options.maxObjectSize()).put("version", Ferry.VERSION);
    String id = storeId();
    if (id != null) {
      o.put("id", id);
    }
    ex.json(200, o);
  }

  /**
   * The store's id, read once; null while it cannot be had (a store made before markers had an id, which this server
   * may only read, asked again at most every {@link StoreIdReader#RETRY}): the description then has none, as an
   * older server's, and clients accept it with a warning.
   */
  private String storeId() {
    return storeId.get();
  }

  /** A store URI without user info, query or fragment, where secrets could be. */
  static String publicUri(String uri) {
    try {
      URI u = new URI(uri);
      if (u.getScheme() == null) {
        return uri;
      }
      return new URI(u.getScheme(), null, u.getHost(), u.getPort(), u.getPath(), null, null).toString();
    } catch (java.net.URISyntaxException | RuntimeException e) {
      return "(a store)";
    }
  }

  // ---------------------------------------------------------------------------------------------------- chunks

  private void chunks(Exchange ex, List<String> segs) throws HttpError, IOException, InterruptedException {
    Access a = ex.access();
    if (segs.size() == 1) {
      requireMethod(ex, "GET", "HEAD");
      ex.require(a.isAdmin(), "the admin scope");
      listChunks(ex);
      return;
    }
    if (segs.size() != 2) {
      throw HttpError.notFound("no such chunk resource: " + Exchange.clip(ex.rawPath()));
    }
    if (segs.get(1).equals("missing")) {
      requireMethod(ex, "POST");
      ex.require(a.canWriteAny(), "write access to some model");
      missing(ex);
      return;
    }
    ChunkId id = id(segs.get(1), "chunk id");
    switch (ex.method()) {
      case "GET", "HEAD" -> {
        ex.require(a.canReadAny(), "read access to some model");
        if ("1".equals(ex.query("decoded"))) {
          decoded(ex, id);
        } else {
          stored(ex, id);
        }
      }
      case "PUT" -> {
        ex.require(a.canWriteAny(), "write access to some model");
        put(ex, id);
      }
      case "DELETE" -> {
        ex.require(a.isAdmin(), "the admin scope");
        backend.chunks().delete(id);
        ex.empty(204);
      }
      default -> throw HttpError.methodNotAllowed(ex.method(), ex.rawPath(), "GET", "HEAD", "PUT", "DELETE");
    }
  }

  private void stored(Exchange ex, ChunkId id) throws HttpError, IOException {
    ChunkStore store = backend.chunks();
    if (!ex.isHead() && noCache(ex)) {
      // a client whose checks failed on bytes this server sent reads again with no-cache: a cache in front of this
      // server's store (--cache, layers=redis) drops its copy, so the read comes from the store. Without it, a part
      // forged or damaged in the server's Redis failed every pull of the object through the server (exit 3, "corrupt"),
      // while the store held it intact
      store.readRejected(id);
    }
    long size;
    try {
      size = store.size(id);
    } catch (MissingObjectException e) {
      throw HttpError.notFound("object " + id + " is not in the store");
    }
    String etag = "\"" + id.hex() + "\"";
    immutable(ex, etag);
    if (ex.noneMatch(etag)) {
      ex.notModified();
      return;
    }
    ByteRange range = ex.range(etag, size);
    long from = range == null ? 0 : range.first();
    long length = range == null ? size : range.length();
    ex.response().setStatus(range == null ? 200 : 206);
    if (range != null) {
      ex.set(HttpHeader.CONTENT_RANGE, range.contentRange(size));
    }
    ex.set(HttpHeader.CONTENT_TYPE, "application/octet-stream");
    ex.response().getHeaders().put(HttpHeader.CONTENT_LENGTH, length);
    if (ex.isHead() || length == 0) {
      ex.write(true, ByteBuffer.allocate(0));
      return;
    }
    // one buffer per request, refilled for each slice: a write returns once the server is done with its bytes
    ByteBuffer slice = slices.take(length);
    try {
      for (long off = 0; off < length; ) {
        int n = (int) Math.min(slice.capacity(), length - off);
        slice.clear().limit(n);
        store.readInto(id, from + off, slice);
        off += n;
        ex.write(off == length, slice.flip());
      }
    } finally {
      slices.give(slice);
    }
  }

  /** Whether the request asks for an answer from the origin ({@code Cache-Control: no-cache}, HTTP/1.0's Pragma). */
  private static boolean noCache(Exchange ex) {
    String cc = ex.header(HttpHeader.CACHE_CONTROL);
    String pragma = ex.header(HttpHeader.PRAGMA);
    return cc != null && cc.toLowerCase(java.util.Locale.ROOT).contains("no-cache")
        || pragma != null && pragma.toLowerCase(java.util.Locale.ROOT).contains("no-cache");
  }

  private static void immutable(Exchange ex, String etag) {
    ex.set(HttpHeader.ETAG, etag);
    ex.set(HttpHeader.CACHE_CONTROL, ex.immutableCacheControl());
    ex.set(HttpHeader.ACCEPT_RANGES, "bytes");
  }

  /**
   * The decoded content of a chunk (what its id hashes), checked on the server by core's one read path (frame, CRC,
   * decode, SHA-256) before a byte is sent; the chunk is a loose object, or with {@code pack=<id>} a frame in that
   * pack.
   */
  private void decoded(Exchange ex, ChunkId id) throws HttpError, IOException, InterruptedException {
    ChunkStore store = backend.chunks();
    String packText = ex.query("pack");
    Location loc;
    try {
      if (packText == null) {
        loc = Location.loose(id);
      } else {
        ChunkId pack = id(packText, "pack id");
        int kind = magic(pack);
        if (kind == UploadCheck.FRAME_MAGIC || kind == io.ferry.dedup.IndexTable.MAGIC) {
          // a client's wrong pack id, not damage to the store (it was a 500 "corrupt": not a pack)
          throw HttpError.notFound("object " + pack + " is not a pack (it is " + (kind == UploadCheck.FRAME_MAGIC
              ? "a chunk frame" : "a small-chunk index table") + "), so it holds no chunk " + id);
        }
        PackIndex.Entry e = repo.objects().packIndex(pack).entries().get(id);
        if (e == null) {
          throw HttpError.notFound("pack " + pack + " holds no chunk " + id);
        }
        loc = Location.inPack(id, pack, e.offset(), e.length());
      }
      int kind = loc.packed() ? UploadCheck.FRAME_MAGIC : magic(id);
      if (kind == UploadCheck.PACK_MAGIC || kind == io.ferry.dedup.IndexTable.MAGIC) {
        throw HttpError.notFound("object " + id + " is " + (kind == UploadCheck.PACK_MAGIC ? "a pack of small chunks"
            : "a small-chunk index table") + ", not a chunk frame: ask for a chunk in a pack with &pack=<pack id>");
      }
      long avail = loc.packed() ? loc.length() : store.size(id);
      ByteBuffer head = store.read(loc.object(), loc.offset(), (int) Math.min(Frame.HEADER_LENGTH, avail));
      String where = store.describe() + (loc.packed() ? " pack " + loc.object() : " object " + id);
      Frame.Header h = Frame.parseHeader(head, id, where);
      long n = h.rawLength();
      if (n > options.maxObjectSize()) {
        throw new CorruptObjectException(id, where, "frame claims " + n + " decoded bytes");
      }
      String etag = "\"" + id.hex() + "-decoded\"";
      immutable(ex, etag);
      if (ex.noneMatch(etag)) {
        ex.notModified();
        return;
      }
      ByteRange range = ex.range(etag, n);
      long from = range == null ? 0 : range.first();
      long to = range == null ? n : range.last() + 1;
      ex.response().setStatus(range == null ? 200 : 206);
      if (range != null) {
        ex.set(HttpHeader.CONTENT_RANGE, range.contentRange(n));
      }
      ex.set(HttpHeader.CONTENT_TYPE, "application/octet-stream");
      ex.response().getHeaders().put(HttpHeader.CONTENT_LENGTH, to - from);
      if (ex.isHead() || to == from) {
        ex.write(true, ByteBuffer.allocate(0));
        return;
      }
      boolean whole = from == 0 && to == n;
      // the answer's bytes, and the frame they are read from (all of a chunk streams straight into them only when it is
      // stored loose and uncoded), and for a part the chunk decoded whole
      boolean streamed = whole && !loc.packed() && h.codecId() == NoneCodec.ID;
      try (MemoryBudget.Lease lease = budget.take((to - from) + (streamed ? 0 : h.frameLength()) + (whole ? 0 : n))) {
        ByteBuffer dst = ByteBuffer.allocate((int) (to - from));
        repo.objects().reader().readRange(loc, n, from, to, ChunkReader.Check.CONTENT, dst);
        ex.writeHeld(true, dst.flip());
      }
    } catch (MissingObjectException e) {
      throw HttpError.notFound("object " + (packText == null ? id : packText) + " is not in the store");
    }
  }

  private void put(Exchange ex, ChunkId id) throws HttpError, IOException, InterruptedException {
    long max = options.maxObjectSize();
    long declared = ex.request().getLength();
    if (declared > max) {
      throw new HttpError(413, "too-large", "PUT of object " + id + ": body of " + declared + " bytes, above the"
          + " store's maximum object size of " + max + " bytes");
    }
    ChunkStore store = backend.chunks();
    ByteBuffer body = ex.bodyBuffer(max); // within the memory budget until the exchange ends
    if (store.contains(id)) {
      ex.json(200, Exchange.JSON.createObjectNode().put("id", id.hex()).put("created", false));
      return;
    }
    String where = "upload to " + store.describe();
    uploads.check(id, body.duplicate(), max, where);
    boolean created = store.put(id, body.duplicate());
    ex.json(created ? 201 : 200, Exchange.JSON.createObjectNode().put("id", id.hex()).put("created", created));
  }

  private void missing(Exchange ex) throws HttpError, IOException, InterruptedException {
    JsonNode body = ex.jsonBody(MAX_MISSING_BODY);
    JsonNode ids = body.get("ids");
    if (ids == null || !ids.isArray()) {
      throw HttpError.badRequest("POST /v1/store/chunks/missing: expected {\"ids\": [...]}");
    }
    if (ids.size() > MAX_MISSING) {
      throw new HttpError(413, "too-large", "POST /v1/store/chunks/missing: " + ids.size() + " ids, at most "
          + MAX_MISSING + " per request");
    }
    List<ChunkId> list = new ArrayList<>(ids.size());
    for (JsonNode n : ids) {
      list.add(id(n.isTextual() ? n.asText() : n.toString(), "chunk id in ids[" + list.size() + "]"));
    }
    ObjectNode out = Exchange.JSON.createObjectNode();
    ArrayNode arr = out.putArray("missing");
    for (ChunkId id : backend.chunks().missing(list)) {
      arr.add(id.hex());
    }
    ex.json(200, out);
  }

  private void listChunks(Exchange ex) throws HttpError, IOException {
    String afterText = ex.query("after");
    ChunkId after = afterText == null || afterText.isEmpty() ? null : id(afterText, "after");
    int limit = ex.intQuery("limit", 1000, MAX_LIST);
    if (limit == 0) {
      throw HttpError.badRequest("limit must be at least 1");
    }
    // the smallest `limit` ids above `after`, kept in a bounded heap (largest on top) while the store streams
    PriorityQueue<StoredObject> page = new PriorityQueue<>(limit + 1, (x, y) -> y.id().compareTo(x.id()));
    boolean[] more = new boolean[1];
    backend.chunks().list(o -> {
      if (after != null && o.id().compareTo(after) <= 0) {
        return;
      }
      page.add(o);
      if (page.size() > limit) {
        page.poll();
        more[0] = true;
      }
    });
    List<StoredObject> sorted = new ArrayList<>(page);
    sorted.sort((x, y) -> x.id().compareTo(y.id()));
    ObjectNode out = Exchange.JSON.createObjectNode();
    ArrayNode arr = out.putArray("objects");
    for (StoredObject o : sorted) {
      arr.addObject().put("id", o.id().hex()).put("size", o.size()).put("modified", o.modified().toString());
    }
    if (more[0] && !sorted.isEmpty()) {
      out.put("next", sorted.get(sorted.size() - 1).id().hex());
    } else {
      out.putNull("next");
    }
    ex.json(200, out);
  }

  // ------------------------------------------------------------------------------------------------------ refs

  private void refs(Exchange ex, List<String> segs) throws HttpError, IOException, InterruptedException {
    RefStore refs = backend.refs();
    Access a = ex.access();
    if (segs.size() == 1) {
      requireMethod(ex, "GET", "HEAD");
      String prefix = ex.query("prefix") == null ? "" : ex.query("prefix");
      if (prefix.length() > RecordStore.MAX_KEY_LENGTH) {
        throw HttpError.badRequest("prefix of " + prefix.length() + " characters is too long");
      }
      ex.require(a.canReadAny(), "read access to some model");
      ArrayNode arr = Exchange.JSON.createArrayNode();
      boolean deletedToo = "1".equals(ex.query("deleted"));
      for (String name : deletedToo ? refs.listLogged(prefix) : refs.list(prefix)) {
        if (RefNames.isValidRef(name) && a.canRead(RefNames.modelOf(name))) {
          arr.add(name);
        }
      }
      ObjectNode out = Exchange.JSON.createObjectNode();
      out.set("refs", arr);
      ex.json(200, out);
      return;
    }
    String name = String.join("/", segs.subList(1, segs.size()));
    try {
      RefNames.checkRef(name);
    } catch (InvalidInputException e) {
      throw new HttpError(400, "bad-ref", e.getMessage());
    }
    String model = RefNames.modelOf(name);
    switch (ex.method()) {
      case "GET", "HEAD" -> {
        ex.require(a.canRead(model), "read access to model '" + model + "'");
        if ("1".equals(ex.query("log"))) {
          ObjectNode out = Exchange.JSON.createObjectNode();
          ArrayNode arr = out.putArray("entries");
          for (RefLogEntry e : refs.log(name)) {
            arr.addObject().put("old", hex(e.oldId())).put("new", hex(e.newId())).put("who", e.who())
                .put("when", e.when().toString()).put("why", e.why());
          }
          ex.json(200, out);
          return;
        }
        Optional<ChunkId> id = refs.get(name);
        if (id.isEmpty()) {
          throw HttpError.notFound("ref '" + name + "' does not exist in the store");
        }
        String etag = "\"" + id.get().hex() + "\"";
        ex.set(HttpHeader.ETAG, etag);
        ex.set(HttpHeader.CACHE_CONTROL, "no-cache");
        if (ex.noneMatch(etag)) {
          ex.notModified();
          return;
        }
        ex.json(200, Exchange.JSON.createObjectNode().put("name", name).put("id", id.get().hex()));
      }
      case "PUT" -> {
        ex.require(a.canWrite(model), "write access to model '" + model + "'");
        moveRef(ex, name);
      }
      default -> throw HttpError.methodNotAllowed(ex.method(), ex.rawPath(), "GET", "HEAD", "PUT");
    }
  }

  /** The values of every field named {@code h}, joined as one list, or null when there is none. */
  private static String joined(Exchange ex, HttpHeader h) {
    List<String> values = ex.headers(h.asString());
    return values.isEmpty() ? null : String.join(", ", values);
  }

  private void moveRef(Exchange ex, String name) throws HttpError, IOException, InterruptedException {
    // a field sent twice is one list (RFC 9110, section 5.3): the first alone was taken, so "If-Match: a" and
    // "If-Match: b" moved the ref when it was a, though a compare-and-swap has one expected value
    String ifMatch = joined(ex, HttpHeader.IF_MATCH);
    String ifNoneMatch = joined(ex, HttpHeader.IF_NONE_MATCH);
    if ((ifMatch == null) == (ifNoneMatch == null)) {
      throw new HttpError(428, "precondition-required", "PUT of ref '" + name + "' needs exactly one of If-Match:"
          + " \"<expected id>\" (move) and If-None-Match: * (create)");
    }
    ChunkId expected = null;
    if (ifMatch != null) {
      String tag = ifMatch.trim();
      if (tag.startsWith("W/") || tag.equals("*") || tag.indexOf(',') >= 0) {
        throw new HttpError(400, "bad-id", "If-Match on a ref takes one strong entity tag, the expected id in quotes,"
            + " got '" + Exchange.clip(ifMatch) + "': a compare-and-swap compares strongly, with one expected value;"
            + " nothing was moved");
      }
      expected = id(unquote(ifMatch), "If-Match");
    } else if (!ifNoneMatch.trim().equals("*")) {
      throw HttpError.badRequest("If-None-Match on a ref must be *, got '" + Exchange.clip(ifNoneMatch) + "'");
    }
    JsonNode body = ex.jsonBody(MAX_JSON);
    JsonNode nextNode = body.get("new");
    if (nextNode == null) {
      throw HttpError.badRequest("PUT of ref '" + name + "': body has no \"new\" (a version id, or null to delete)");
    }
    if (!nextNode.isNull() && !nextNode.isTextual()) {
      throw HttpError.badRequest("PUT of ref '" + name + "': \"new\" is " + kindOf(nextNode)
          + ", expected a version id (a string) or null");
    }
    ChunkId next = nextNode.isNull() ? null : id(nextNode.asText(), "new");
    String claimed = text(body, "who", name, null);
    try {
      // as a push's author: one line, of a bounded length; admin, which copies entries as a store holds them (older
      // ones included), records them as sent
      String what = "PUT of ref '" + name + "': \"who\"";
      if (!ex.access().isAdmin()) {
        io.ferry.limits.Limits.checkText(what, claimed, io.ferry.limits.Limits.MAX_AUTHOR_CHARS);
        io.ferry.limits.Limits.checkOneLine(what, claimed);
      }
    } catch (InvalidInputException e) {
      throw HttpError.badRequest(e.getMessage() + "; nothing was moved");
    }
    String who = recordedWho(ex.access(), claimed);
    String why = text(body, "why", name, "");
    String whenText = text(body, "when", name, null);
    Instant now = clock.instant();
    Instant when;
    try {
      when = whenText == null ? now : Instant.parse(whenText);
    } catch (DateTimeParseException e) {
      throw HttpError.badRequest("PUT of ref '" + name + "': \"when\" is not an ISO-8601 instant: "
          + Exchange.clip(whenText));
    }
    if (when.isBefore(Instant.EPOCH) || when.isAfter(now.plus(MAX_WHEN_AHEAD))) {
      throw HttpError.badRequest("PUT of ref '" + name + "': \"when\" " + Exchange.clip(whenText) + " is outside "
          + Instant.EPOCH + " .. " + now.plus(MAX_WHEN_AHEAD) + " (the server's now plus a day): a ref log entry says"
          + " when the ref moved");
    }
    if (ifNoneMatch != null && next != null) {
      try {
        repo.checkNewRef(name); // a ref made here meets the rules a ref made by the CLI meets
      } catch (InvalidInputException e) {
        String hidden = unreadableTwin(ex.access(), RefNames.modelOf(name), e.getMessage());
        if (hidden != null) {
          throw new HttpError(400, "bad-ref", hidden);
        }
        // the store's URI is the server's own (a local store's path), not the client's
        throw new HttpError(400, "bad-ref", e.getMessage().replace(repo.uri(), "this store") + "; nothing was created");
      }
    }
    if (next != null && !ex.access().isAdmin()) {
      checkVersionOf(ex, name, next); // admin is trusted with the whole store (and the ref SPI's contract runs as it)
    }
    CasResult r = backend.refs().compareAndSet(name, expected, next, new RefLogEntry(expected, next, who, when, why));
    ObjectNode out = Exchange.JSON.createObjectNode().put("result", r.name());
    switch (r) {
      case NEW -> ex.json(201, out);
      case LOCK_FAILURE -> {
        out.put("current", hex(backend.refs().get(name).orElse(null)));
        ex.json(412, out);
      }
      default -> ex.json(200, out);
    }
  }

  /**
   * The refusal of a new model's name for a case twin the token may not read, which must not name that model (a listing
   * filtered by scope hides it); null when {@code refusal} names no such model.
   */
  private String unreadableTwin(Access access, String model, String refusal) throws IOException {
    for (String ref : backend.refs().listLogged("")) {
      String other = RefNames.isValidRef(ref) ? RefNames.modelOf(ref) : null;
      if (other != null && !other.equals(model) && other.equalsIgnoreCase(model) && !access.canRead(other)
          && refusal.contains("'" + other + "'")) {
        return "model '" + model + "' differs only in case from a model this token may not read: two names that"
            + " differ only in case cannot share a store (a case-insensitive file system would mix their refs);"
            + " choose another name; nothing was created";
      }
    }
    return null;
  }

  /**
   * Who a ref log entry names: the token's name. The client's own "who" (the user the CLI ran as) is kept beside it,
   * {@code ci-writer (as alice)}, never instead of it: a write token could put anyone's name in the log. An admin token
   * (a copy that keeps the entries' authors) and a development server (no tokens) record the client's as it is.
   */
  static String recordedWho(Access access, String claimed) {
    if (claimed == null || claimed.isBlank()) {
      return access.who();
    }
    if (access.isAdmin() || claimed.equals(access.who())) {
      return claimed;
    }
    return access.who() + " (as " + claimed + ")";
  }

  /** A string field of a ref move's body, {@code dflt} when absent or null; 400 when it is anything but a string. */
  private static String text(JsonNode body, String field, String ref, String dflt) throws HttpError {
    JsonNode n = body.get(field);
    if (n == null || n.isNull()) {
      return dflt;
    }
    if (!n.isTextual()) {
      throw HttpError.badRequest("PUT of ref '" + ref + "': \"" + field + "\" is " + kindOf(n)
          + ", expected a string");
    }
    return n.asText();
  }

  private static String kindOf(JsonNode n) {
    return n.isObject() ? "an object" : n.isArray() ? "an array" : n.isNumber() ? "a number"
        : n.isBoolean() ? "a boolean" : "a " + n.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
  }

  /**
   * Checks that {@code id} is a version that the ref's model may point at: an object of the store that reads as a
   * version (frame, CRC, SHA-256, then the version's JSON), recorded for that model, or, for a version recorded under
   * another name (a model renamed by {@code mv}), one that a ref of the model, or of the model it was recorded for
   * (when the token may read that), points or pointed at. Anything else is 422 {@code not-a-version}, nothing moved: a
   * writer's ref at a missing object or at a data chunk broke gc and stats of the whole store. Checked for tokens
   * without the admin scope: admin may delete every object anyway, and moves refs as the ref store's SPI allows.
   */
  private void checkVersionOf(Exchange ex, String ref, ChunkId id) throws HttpError, IOException,
      InterruptedException {
    String model = RefNames.modelOf(ref);
    String prefix = "PUT of ref '" + ref + "': " + id + " ";
    ChunkStore store = backend.chunks();
    io.ferry.version.Version v;
    try {
      long size = store.size(id);
      ByteBuffer head = store.read(id, 0, (int) Math.min(Frame.HEADER_LENGTH, size));
      int magic = head.remaining() >= 4 ? head.duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN)
          .getInt(head.position()) : 0;
      if (magic != UploadCheck.FRAME_MAGIC) {
        throw notAVersion(prefix + "is not a version: it is " + (magic == UploadCheck.PACK_MAGIC ? "a pack"
            : magic == io.ferry.dedup.IndexTable.MAGIC ? "a small-chunk index table" : "not a chunk frame"));
      }
      long raw = Frame.parseHeader(head, id, store.describe() + " object " + id).rawLength();
      if (raw > io.ferry.limits.Limits.MAX_VERSION_JSON_BYTES) {
        throw notAVersion(prefix + "is not a version: it holds " + raw + " bytes, more than any version ("
            + io.ferry.limits.Limits.MAX_VERSION_JSON_BYTES + ")");
      }
      byte[] content;
      try (MemoryBudget.Lease lease = budget.take(raw + size)) {
        content = repo.objects().readObject(id);
      }
      if (!io.ferry.version.ObjectJson.isVersion(content)) {
        throw notAVersion(prefix + "is not a version: it is " + (io.ferry.version.ObjectJson.SNAPSHOT_FORMAT
            .equals(io.ferry.version.ObjectJson.formatOf(content)) ? "a snapshot" : "a data chunk"));
      }
      try {
        v = io.ferry.version.ObjectJson.version(content, "version " + id);
      } catch (IOException | RuntimeException e) {
        throw notAVersion(prefix + "is not a readable version: " + e.getMessage());
      }
    } catch (MissingObjectException e) {
      throw notAVersion(prefix + "is not in the store (push the version's objects first)");
    } catch (CorruptObjectException e) {
      throw notAVersion(prefix + "is damaged in the store: " + e.why());
    }
    if (v.model().equals(model) || reached(model, id)
        || ex.access().canRead(v.model()) && reached(v.model(), id)) {
      return;
    }
    throw notAVersion(prefix + "is a version of model '" + v.model() + "', not of '" + model + "' (nor did a ref of '"
        + model + "' ever point at it)");
  }

  /** The magic number an object starts with (little-endian), or 0 for an object shorter than that. */
  private int magic(ChunkId id) throws IOException {
    ChunkStore store = backend.chunks();
    if (store.size(id) < 4) {
      return 0;
    }
    ByteBuffer b = ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    store.readInto(id, 0, b);
    return b.getInt(0);
  }

  /** How far past the server's clock a ref log entry's time may be. */
  static final java.time.Duration MAX_WHEN_AHEAD = java.time.Duration.ofDays(1);

  private static HttpError notAVersion(String message) {
    return new HttpError(422, "not-a-version", message + "; nothing was moved");
  }

  /** Whether a ref of the model points, or pointed, at the version. */
  private boolean reached(String model, ChunkId id) throws IOException {
    RefStore refs = backend.refs();
    for (String r : refs.list(model + "/")) {
      if (!RefNames.isValidRef(r) || !RefNames.modelOf(r).equals(model)) {
        continue;
      }
      if (refs.get(r).filter(id::equals).isPresent()) {
        return true;
      }
      for (RefLogEntry e : refs.log(r)) {
        if (id.equals(e.newId())) {
          return true;
        }
      }
    }
    return false;
  }

  // --------------------------------------------------------------------------------------------------- records

  private void records(Exchange ex, List<String> segs) throws HttpError, IOException, InterruptedException {
    RecordStore records = backend.records();
    Access a = ex.access();
    if (segs.size() == 1) {
      requireMethod(ex, "GET", "HEAD");
      String prefix = ex.query("prefix") == null ? "" : ex.query("prefix");
      if (prefix.length() > RecordStore.MAX_KEY_LENGTH) {
        throw HttpError.badRequest("prefix of " + prefix.length() + " characters is too long");
      }
      RecordRules.checkRead(ex, prefix);
      ObjectNode out = Exchange.JSON.createObjectNode();
      ArrayNode arr = out.putArray("keys");
      records.list(prefix).forEach(arr::add);
      ex.json(200, out);
      return;
    }
    if (segs.size() == 2 && segs.get(1).equals("read") && ex.method().equals("POST")) {
      readAll(ex, records);
      return;
    }
    String key = String.join("/", segs.subList(1, segs.size()));
    try {
      RecordStore.checkKey(key);
    } catch (IllegalArgumentException e) {
      throw new HttpError(400, "bad-key", e.getMessage());
    }
    if (ex.header(HttpHeader.IF_MATCH) != null && !ex.isHead() && !ex.method().equals("GET")) {
      // a condition the server does not evaluate must not be dropped: the write would happen whatever it said
      throw HttpError.badRequest(ex.method() + " of record '" + key + "': If-Match is not taken on records (they"
          + " carry no entity tag; PUT with If-None-Match: * creates, without it replaces); nothing was written");
    }
    if (ex.header(HttpHeader.IF_NONE_MATCH) != null && ex.method().equals("DELETE")) {
      throw HttpError.badRequest("DELETE of record '" + key + "': If-None-Match is not taken on a delete (it would"
          + " ask to delete a record only if it does not exist); nothing was deleted");
    }
    switch (ex.method()) {
      case "GET", "HEAD" -> {
        recordRules.checkReadRecord(ex, key);
        Optional<byte[]> b = records.read(key);
        if (b.isEmpty()) {
          throw HttpError.notFound("record '" + key + "' does not exist in the store");
        }
        ex.set(HttpHeader.CONTENT_TYPE, "application/octet-stream");
        ex.set(HttpHeader.CACHE_CONTROL, "no-cache");
        ex.response().setStatus(200);
        ex.bytes(b.get());
      }
      case "PUT" -> {
        // every field, as one list (RFC 9110, section 5.3): the first alone was taken, so "*" and then "x" created
        String inm = joined(ex, HttpHeader.IF_NONE_MATCH);
        if (inm != null && !inm.trim().equals("*")) {
          throw HttpError.badRequest("PUT of record '" + key + "': If-None-Match on a record must be * alone, got '"
              + Exchange.clip(inm) + "'; nothing was written");
        }
        RecordRules.checkRead(ex, key); // a token that may not even read these is refused before its body is read
        byte[] body = ex.body(RecordStore.MAX_RECORD_BYTES);
        recordRules.checkWrite(ex, key, body, inm != null);
        if (inm != null) {
          boolean claimed = recordRules.claim(ex, key);
          if (records.create(key, body)) {
            ex.empty(201);
          } else {
            if (claimed) {
              recordRules.unclaim(key);
            }
            ex.json(412, Exchange.JSON.createObjectNode().put("error", "exists")
                .put("message", "record '" + key + "' exists; nothing was written"));
          }
        } else {
          records.replace(key, body);
          ex.empty(204);
        }
      }
      case "DELETE" -> {
        for (String k : recordRules.checkDelete(ex, key)) {
          records.delete(k);
        }
        ex.empty(204);
      }
      default -> throw HttpError.methodNotAllowed(ex.method(), ex.rawPath(), "GET", "HEAD", "PUT", "DELETE");
    }
  }

  private void readAll(Exchange ex, RecordStore records) throws HttpError, IOException, InterruptedException {
    JsonNode body = ex.jsonBody(MAX_READ_BODY);
    JsonNode keys = body.get("keys");
    if (keys == null || !keys.isArray()) {
      throw HttpError.badRequest("POST /v1/store/records/read: expected {\"keys\": [...]}");
    }
    if (keys.size() > MAX_READ_KEYS) {
      throw new HttpError(413, "too-large", "POST /v1/store/records/read: " + keys.size() + " keys, at most "
          + MAX_READ_KEYS);
    }
    List<String> list = new ArrayList<>();
    for (JsonNode k : keys) {
      String key = k.asText();
      try {
        RecordStore.checkKey(key);
      } catch (IllegalArgumentException e) {
        throw new HttpError(400, "bad-key", e.getMessage());
      }
      recordRules.checkReadRecord(ex, key);
      list.add(key);
    }
    ex.response().setStatus(200);
    ex.set(HttpHeader.CONTENT_TYPE, "application/json");
    // streamed in batches, so the response never holds more than one batch of records
    try (OutputStream os = ex.output(); JsonGenerator g = Exchange.JSON.getFactory().createGenerator(os)) {
      g.writeStartObject();
      g.writeArrayFieldStart("records");
      for (int i = 0; i < list.size(); i += 64) {
        for (Optional<byte[]> r : records.readAll(list.subList(i, Math.min(list.size(), i + 64)))) {
          if (r.isPresent()) {
            g.writeString(Base64.getEncoder().encodeToString(r.get()));
          } else {
            g.writeNull();
          }
        }
      }
      g.writeEndArray();
      g.writeEndObject();
    }
  }

  // --------------------------------------------------------------------------------------------------- helpers

  static void requireMethod(Exchange ex, String... methods) throws HttpError {
    for (String m : methods) {
      if (m.equals(ex.method())) {
        return;
      }
    }
    throw HttpError.methodNotAllowed(ex.method(), ex.rawPath(), methods);
  }

  /** Parses a 64-digit lower-case hex id, refusing anything else with 400. */
  static ChunkId id(String text, String what) throws HttpError {
    if (text == null || text.length() != ChunkId.HEX_LENGTH || !ChunkId.isValid(text)
        || !text.equals(text.toLowerCase(java.util.Locale.ROOT))) {
      throw new HttpError(400, "bad-id", what + " '" + Exchange.clip(text) + "' is not 64 lower-case hex digits");
    }
    return ChunkId.parse(text);
  }

  private static String unquote(String etag) {
    String s = etag.trim();
    if (s.length() >= 2 && s.startsWith("\"") && s.endsWith("\"")) {
      return s.substring(1, s.length() - 1);
    }
    return s;
  }

  private static String hex(ChunkId id) {
    return id == null ? null : id.hex();
  }
}
