package io.ferry.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.dedup.IndexTable;
import io.ferry.error.CorruptObjectException;
import io.ferry.id.ChunkId;
import io.ferry.lease.LeaseSettings;
import io.ferry.limits.JsonTree;
import io.ferry.server.auth.Access;
import io.ferry.server.http.Exchange;
import io.ferry.server.http.HttpError;
import io.ferry.store.ChunkStore;
import io.ferry.store.RecordStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Who may write which record of the store protocol, and what a written record must be (docs/http-api.md, "Records").
 * Writers (write access to some model) reach the records that pushes write through an HTTP store, and only in the ways
 * core's clients write them:
 *
 * <ul>
 *   <li>{@code leases/push/<id>/lease}: created, renewed (replaced) and deleted by the push holding it; a lease record
 *       (JSON) whose expiry is at most one lease time-to-live plus the tolerated clock skew ahead of the server's
 *       clock, and whose start does not move on renewal;
 *   <li>{@code leases/push/<id>/ids-<8 digits>}: a push's declarations, created and deleted, never replaced;
 *   <li>{@code leases/push/<id>/holder}: the name of the token that created a writer's push lease, written by the
 *       server before the lease ({@link #claim}); the lease's records are then that token's alone to renew, add to and
 *       delete, so that a writer cannot end (or strip the declarations of) another writer's push;
 *   <li>{@code dedup/deltas/<32 hex>-<n>}: a push's small-chunk index delta, created (a valid index table), never
 *       replaced; deleted only once a pointer record absorbed it (what a merge does after publishing);
 *   <li>{@code dedup/bases/<20 digits>}: a merge's pointer record, created with the number after the highest one (the
 *       next number, as a merge takes it), naming a stored index table; never replaced nor deleted.
 * </ul>
 *
 * gc leases, replacing a record that is not a push's own lease, deleting pointer records and every other record are
 * admin's. Content and names are checked for every client, admin too, so that no record under these prefixes can stop
 * pushes (a lease that never expires, a pointer numbered past what merges can follow). Keeps no state of its own (holder
 * records are in the store); thread-safe.
 */
final class RecordRules {
  static final String LEASES = "leases/";
  static final String DEDUP = "dedup/";
  private static final String DELTAS = "dedup/deltas/";
  private static final String BASES = "dedup/bases/";
  /** A lease id as core makes it: start time in milliseconds (13 hex digits), a dash, 16 random hex digits. */
  private static final Pattern LEASE_ID = Pattern.compile("[0-9a-f]{13}-[0-9a-f]{16}");
  private static final Pattern DECLARATION = Pattern.compile("ids-[0-9]{8}");
  /** A delta key as core makes it: a random UUID's 32 hex digits, a dash, the record's number within its push. */
  private static final Pattern DELTA_NAME = Pattern.compile("[0-9a-f]{32}-[0-9]{1,9}");
  private static final Pattern POINTER_NAME = Pattern.compile("[0-9]{20}");
  private static final String POINTER_FORMAT = "ferry-small-chunk-index/1";
  /** The highest pointer number core's merges use ({@code SmallChunkIndex.MAX_NUMBER}). */
  static final long MAX_POINTER = 999_999_999_999_999_999L;

  private final RecordStore records;
  private final ChunkStore chunks;
  private final Clock clock;
  private final Duration ttl;
  private final Duration skew;

  /**
   * @param leases the lease timing clients use: a lease may expire at most {@code ttl + skew} after the server's now
   */
  RecordRules(RecordStore records, ChunkStore chunks, Clock clock, LeaseSettings leases) {
    this.records = records;
    this.chunks = chunks;
    this.clock = clock;
    this.ttl = leases.ttl();
    this.skew = leases.skew();
  }

  /** What a key is, by the layout of the protocols that keep records under {@code leases/} and {@code dedup/}. */
  private enum Kind { PUSH_LEASE, DECLARATION, HOLDER, GC_LEASE, DELTA, POINTER, OTHER }

  /** The record naming the token that holds a push lease, beside the lease's other records. */
  private static final String HOLDER = "holder";

  private static Kind kind(String key) {
    if (key.startsWith(LEASES)) {
      String[] s = key.substring(LEASES.length()).split("/", -1);
      if (s.length != 3 || !LEASE_ID.matcher(s[1]).matches()) {
        return Kind.OTHER;
      }
      if (s[0].equals("gc") && s[2].equals("lease")) {
        return Kind.GC_LEASE;
      }
      if (s[0].equals("push")) {
        return s[2].equals("lease") ? Kind.PUSH_LEASE : s[2].equals(HOLDER) ? Kind.HOLDER
            : DECLARATION.matcher(s[2]).matches() ? Kind.DECLARATION : Kind.OTHER;
      }
      return Kind.OTHER;
    }
    if (key.startsWith(DELTAS) && DELTA_NAME.matcher(key.substring(DELTAS.length())).matches()) {
      return Kind.DELTA;
    }
    if (key.startsWith(BASES) && POINTER_NAME.matcher(key.substring(BASES.length())).matches()) {
      return Kind.POINTER;
    }
    return Kind.OTHER;
  }

  /** Checks that the request may read records under {@code keyOrPrefix} (a key, or a listing's prefix). */
  static void checkRead(Exchange ex, String keyOrPrefix) throws HttpError {
    if (keyOrPrefix.startsWith(LEASES) || keyOrPrefix.startsWith(DEDUP)) {
      ex.require(ex.access().canWriteAny(), "write access to some model (records under leases/ and dedup/)");
    } else {
      ex.require(ex.access().isAdmin(), "the admin scope (records outside leases/ and dedup/)");
    }
  }

  /**
   * Checks that the request may read the record {@code key}: as {@link #checkRead}, and a push lease's records (its
   * lease, declarations and holder record) only with the token that holds the lease, or admin. They name the model
   * pushed, its user and machine, and the chunks the push uploads (which any token that may read some model reads by
   * id); a push reads only gc leases and its own.
   */
  void checkReadRecord(Exchange ex, String key) throws HttpError, IOException {
    checkRead(ex, key);
    Kind k = kind(key);
    if (k == Kind.PUSH_LEASE || k == Kind.DECLARATION || k == Kind.HOLDER) {
      checkHolder(ex, key);
    }
  }

  /**
   * Checks a write: who may make it, the key's name and the content.
   *
   * @param create whether it is a create ({@code If-None-Match: *}) rather than a replace
   */
  void checkWrite(Exchange ex, String key, byte[] body, boolean create) throws HttpError, IOException {
    Access a = ex.access();
    boolean protocol = key.startsWith(LEASES) || key.startsWith(DEDUP);
    if (!protocol) {
      ex.require(a.isAdmin(), "the admin scope (records outside leases/ and dedup/)");
      return;
    }
    ex.require(a.canWriteAny(), "write access to some model (records under leases/ and dedup/)");
    Kind k = kind(key);
    if (k == Kind.OTHER) {
      throw badKey(key);
    }
    switch (k) {
      case GC_LEASE -> ex.require(a.isAdmin(), "the admin scope (gc leases: only gc, which is admin's, takes them)");
      case HOLDER -> ex.require(a.isAdmin(), "the admin scope (a push lease's holder record is the server's: it names"
          + " the token that took the lease)");
      case PUSH_LEASE -> {
        if (!create) {
          checkHolder(ex, key);
        }
      }
      default -> {
        if (!create) {
          ex.require(a.isAdmin(), "the admin scope (replacing " + what(k) + "s: writers only create them)");
        }
      }
    }
    switch (k) {
      case PUSH_LEASE, GC_LEASE -> {
        JsonNode lease = checkLease(key, body, k == Kind.GC_LEASE ? "gc" : "push", create);
        if (create && k == Kind.PUSH_LEASE) {
          checkTarget(ex, key, lease.get("what").asText());
        }
      }
      case DECLARATION -> {
        checkHolder(ex, key);
        checkDeclaration(key, body);
      }
      case HOLDER -> { }
      case DELTA -> checkDelta(key, body);
      case POINTER -> checkPointer(key, body, a.isAdmin());
      default -> throw new IllegalStateException(k.name());
    }
  }

  /**
   * Checks a delete: push leases and their declarations are the push's (the token that holds the lease); absorbed
   * deltas a merge's; the rest admin's.
   *
   * @return the keys to delete, in order: the key; for a writer's lease, its holder record and then the lease (a
   *     crash between the two leaves a lease without holder, which expires and which gc removes); none for a writer
   *     deleting its own lease's holder record (core removes a lease's other records before the lease: the holder
   *     record goes with the lease)
   */
  List<String> checkDelete(Exchange ex, String key) throws HttpError, IOException {
    Access a = ex.access();
    if (a.isAdmin()) {
      return List.of(key);
    }
    Kind k = kind(key);
    if (k == Kind.PUSH_LEASE || k == Kind.DECLARATION || k == Kind.HOLDER) {
      ex.require(a.canWriteAny(), "write access to some model (a push's lease records)");
      checkHolder(ex, key);
      return k == Kind.PUSH_LEASE ? List.of(holderKey(key), key) : k == Kind.HOLDER ? List.of() : List.of(key);
    }
    if (k == Kind.DELTA) {
      ex.require(a.canWriteAny(), "write access to some model (small-chunk index deltas)");
      ex.require(absorbed(key), "the admin scope (no pointer record under " + BASES + " absorbed this delta, so"
          + " deleting it would drop entries of the index)");
      return List.of(key);
    }
    ex.require(false, "the admin scope (writers delete only a push's lease records and absorbed index deltas)");
    return List.of();
  }

  /**
   * Before a writer's push lease is created: records the token as its holder, or refuses when another token holds
   * that lease id.
   *
   * @return whether this call created the holder record (to be deleted again if the lease's create fails)
   */
  boolean claim(Exchange ex, String leaseKey) throws HttpError, IOException {
    if (ex.access().isAdmin() || kind(leaseKey) != Kind.PUSH_LEASE) {
      return false;
    }
    String holder = holderKey(leaseKey);
    if (records.create(holder, ex.access().who().getBytes(StandardCharsets.UTF_8))) {
      return true;
    }
    checkHolder(ex, leaseKey);
    return false;
  }

  /** Removes the holder record {@link #claim} created, after the lease's create found the lease taken. */
  void unclaim(String leaseKey) throws IOException {
    records.delete(holderKey(leaseKey));
  }

  /** Refuses a writer's change to a push lease's records unless its token holds the lease. */
  private void checkHolder(Exchange ex, String key) throws HttpError, IOException {
    Access a = ex.access();
    if (a.isAdmin()) {
      return;
    }
    String holderKey = holderKey(key);
    Optional<byte[]> holder = records.read(holderKey);
    String lease = holderKey.substring(0, holderKey.length() - HOLDER.length() - 1);
    if (holder.isEmpty()) {
      ex.require(false, "the admin scope (" + lease + " has no holder record: no writer's token took it through"
          + " this server, so no writer may change it)");
    }
    String who = new String(holder.get(), StandardCharsets.UTF_8);
    ex.require(who.equals(a.who()), "the token that holds " + lease + " ('" + Exchange.clip(who) + "'): a push's"
        + " lease records are that push's");
  }

  private static String holderKey(String key) {
    return key.substring(0, key.lastIndexOf('/') + 1) + HOLDER;
  }

  private static String what(Kind k) {
    return switch (k) {
      case DECLARATION -> "lease declaration";
      case DELTA -> "small-chunk index delta";
      case POINTER -> "small-chunk index pointer record";
      default -> "record";
    };
  }

  private static HttpError badKey(String key) {
    String layout = key.startsWith(LEASES)
        ? "leases/push/<lease id>/lease, leases/push/<lease id>/ids-<8 digits> or leases/gc/<lease id>/lease, where a"
            + " lease id is 13 hex digits, '-' and 16 hex digits"
        : key.startsWith(BASES)
            ? BASES + "<20 digits> (a pointer number)"
            : DELTAS + "<32 hex digits>-<at most 9 digits>";
    return new HttpError(400, "bad-key", "record '" + Exchange.clip(key) + "' is not a record this prefix holds: "
        + "expected " + layout);
  }

  private static HttpError badRecord(String key, String why) {
    return new HttpError(400, "bad-record", "record '" + key + "': " + why + "; nothing was written");
  }

  // ------------------------------------------------------------------------------------------------------ leases

  private JsonNode checkLease(String key, byte[] body, String kind, boolean create) throws HttpError, IOException {
    JsonNode n;
    try {
      n = JsonTree.read(body);
    } catch (IOException e) {
      throw badRecord(key, "a lease record is a JSON object, this is not JSON (" + JsonTree.problem(e) + ")");
    }
    if (!n.isObject()) {
      throw badRecord(key, "a lease record is a JSON object");
    }
    for (String f : List.of("kind", "owner", "host", "what", "started", "expires")) {
      if (!n.path(f).isTextual()) {
        throw badRecord(key, "lease field \"" + f + "\" is missing or not a string");
      }
    }
    for (String f : List.of("pid", "pidStart")) {
      if (!n.path(f).canConvertToLong() || !n.path(f).isIntegralNumber()) {
        throw badRecord(key, "lease field \"" + f + "\" is missing or not an integer");
      }
    }
    if (!n.get("kind").asText().equals(kind)) {
      throw badRecord(key, "lease kind '" + Exchange.clip(n.get("kind").asText()) + "' under leases/" + kind + "/");
    }
    Instant started = instant(key, n, "started");
    Instant expires = instant(key, n, "expires");
    Instant now = clock.instant();
    Instant latest = now.plus(ttl).plus(skew);
    if (expires.isAfter(latest)) {
      throw badRecord(key, "lease expires at " + expires + ", more than a lease's time-to-live (" + ttl + ") and the"
          + " tolerated clock skew (" + skew + ") after the server's now (" + now + "): at most " + latest);
    }
    if (!expires.isAfter(started)) {
      throw badRecord(key, "lease expires at " + expires + ", not after it started (" + started + ")");
    }
    Optional<Instant> before = create ? Optional.empty() : storedStart(key);
    if (before.isPresent()) {
      if (!before.get().equals(started)) {
        throw badRecord(key, "a renewal keeps the lease's start (" + before.get() + "), this one says " + started);
      }
    } else if (started.isAfter(now.plus(skew)) || started.isBefore(now.minus(ttl).minus(skew))) {
      throw badRecord(key, "a new lease starts now (" + now + ", give or take the tolerated skew " + skew
          + "), this one says " + started);
    }
    return n;
  }

  /**
   * A push or copy takes its lease before it uploads anything, and says in it what it pushes ({@code push MODEL[:TAG]},
   * {@code copy MODEL[:TAG] from URI}): refusing the lease of a push to a model the token may not write stops that
   * push before its first upload, rather than at the ref move after all of them. Leases whose {@code what} names no
   * model (a backfill, gc's index merge) are not checked here.
   */
  private static void checkTarget(Exchange ex, String key, String what) throws HttpError {
    String target;
    if (what.startsWith("push ")) {
      target = what.substring(5);
    } else if (what.startsWith("copy ") && what.indexOf(" from ") > 5) {
      target = what.substring(5, what.indexOf(" from "));
    } else {
      return;
    }
    String model;
    try {
      model = io.ferry.version.RefSpec.parse(target).model();
    } catch (io.ferry.error.InvalidInputException | RuntimeException e) {
      return;
    }
    ex.require(ex.access().canWrite(model), "write access to model '" + model + "' (lease " + key + " is for '"
        + Exchange.clip(what) + "', which would upload and then be refused at its ref move)");
  }

  private static Instant instant(String key, JsonNode n, String field) throws HttpError {
    try {
      return Instant.parse(n.get(field).asText());
    } catch (DateTimeParseException e) {
      throw badRecord(key, "lease field \"" + field + "\" is not an ISO-8601 instant: '"
          + Exchange.clip(n.get(field).asText()) + "'");
    }
  }

  /** The start of the lease record stored under the key, if there is one that reads as a lease. */
  private Optional<Instant> storedStart(String key) throws IOException {
    Optional<byte[]> now = records.read(key);
    if (now.isEmpty()) {
      return Optional.empty();
    }
    try {
      return Optional.of(Instant.parse(JsonTree.read(now.get()).path("started").asText()));
    } catch (IOException | DateTimeParseException e) {
      return Optional.empty();
    }
  }

  private static void checkDeclaration(String key, byte[] body) throws HttpError {
    String text = new String(body, StandardCharsets.US_ASCII);
    if (text.isEmpty() || !text.endsWith("\n")) {
      throw badRecord(key, "a lease declaration is object ids, one per line, each line ending in a newline");
    }
    String[] lines = text.split("\n");
    for (int i = 0; i < lines.length; i++) {
      String l = lines[i];
      if (l.length() != ChunkId.HEX_LENGTH || !ChunkId.isValid(l) || !l.equals(l.toLowerCase(java.util.Locale.ROOT))) {
        throw badRecord(key, "line " + (i + 1) + " of a lease declaration is not 64 lower-case hex digits");
      }
    }
  }

  // ------------------------------------------------------------------------------------- small-chunk index

  private void checkDelta(String key, byte[] body) throws HttpError {
    try {
      IndexTable.parse(ByteBuffer.wrap(body), null, "record " + key);
    } catch (CorruptObjectException e) {
      throw badRecord(key, "not a small-chunk index table: " + e.why());
    }
  }

  private void checkPointer(String key, byte[] body, boolean admin) throws HttpError, IOException {
    long n = number(key);
    if (n < 1) {
      throw new HttpError(400, "bad-key", "record '" + key + "': a pointer number is 1 to " + MAX_POINTER
          + " in 20 digits");
    }
    if (!admin) {
      long top = topPointer();
      if (n != top + 1) {
        throw badRecord(key, "the next pointer record is number " + (top + 1) + " (the highest is " + top
            + "), as a merge takes it");
      }
    }
    String[] lines = new String(body, StandardCharsets.UTF_8).split("\n", -1);
    if (lines.length < 3 || !lines[0].equals(POINTER_FORMAT) || !lines[lines.length - 1].isEmpty()) {
      throw badRecord(key, "a pointer record is '" + POINTER_FORMAT + "', 'base <id>' and 'absorbed <key>' lines,"
          + " each ending in a newline");
    }
    String baseHex = lines[1].startsWith("base ") ? lines[1].substring(5) : "";
    if (baseHex.length() != ChunkId.HEX_LENGTH || !ChunkId.isValid(baseHex)
        || !baseHex.equals(baseHex.toLowerCase(java.util.Locale.ROOT))) {
      throw badRecord(key, "line 2 of a pointer record is not 'base <64 lower-case hex digits>'");
    }
    for (int i = 2; i < lines.length - 1; i++) {
      String k = lines[i].startsWith("absorbed ") ? lines[i].substring(9) : "";
      if (!k.startsWith(DELTAS) || !validKey(k)) {
        throw badRecord(key, "line " + (i + 1) + " of a pointer record is not 'absorbed " + DELTAS + "<key>'");
      }
    }
    ChunkId base = ChunkId.parse(baseHex);
    if (!chunks.contains(base)) {
      throw badRecord(key, "the base table it names, object " + base + ", is not in the store (a merge stores it"
          + " first)");
    }
    ByteBuffer magic = chunks.read(base, 0, (int) Math.min(4, chunks.size(base)));
    if (magic.remaining() < 4 || magic.order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(magic.position())
        != IndexTable.MAGIC) {
      throw badRecord(key, "object " + base + ", which it names as its base, is not a small-chunk index table");
    }
  }

  private static boolean validKey(String k) {
    try {
      RecordStore.checkKey(k);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  /** A pointer record's number, or -1 when the key is not {@code dedup/bases/} and 20 digits up to the maximum. */
  private static long number(String key) {
    String tail = key.substring(BASES.length());
    if (!POINTER_NAME.matcher(tail).matches() || tail.compareTo(String.format("%020d", MAX_POINTER)) > 0) {
      return -1;
    }
    return Long.parseLong(tail);
  }

  /** The highest number of a pointer record in the store (0 if none), as a merge computes it. */
  private long topPointer() throws IOException {
    long top = 0;
    for (String k : records.list(BASES)) {
      top = Math.max(top, number(k));
    }
    return top;
  }

  /** Whether a pointer record that reads as one lists the delta as absorbed; the newest are read first. */
  private boolean absorbed(String delta) throws IOException {
    List<String> keys = records.list(BASES);
    String line = "absorbed " + delta;
    for (int i = keys.size() - 1; i >= 0; i--) {
      if (number(keys.get(i)) < 0) {
        continue;
      }
      Optional<byte[]> content = records.read(keys.get(i));
      if (content.isEmpty()) {
        continue;
      }
      String[] lines = new String(content.get(), StandardCharsets.UTF_8).split("\n", -1);
      if (lines.length >= 3 && lines[0].equals(POINTER_FORMAT)) {
        for (int j = 2; j < lines.length - 1; j++) {
          if (lines[j].equals(line)) {
            return true;
          }
        }
      }
    }
    return false;
  }
}
