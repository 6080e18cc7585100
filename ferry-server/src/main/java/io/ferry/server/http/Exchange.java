package io.ferry.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.limits.Limits;
import io.ferry.server.auth.Access;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URLDecoder;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Fields;
import org.eclipse.jetty.util.thread.Invocable;
import org.eclipse.jetty.util.thread.Scheduler;

/**
 * One request and its response, for handlers that work in blocking style on the server's worker thread: the path as
 * checked segments, query parameters, a bounded body, and JSON or byte responses written with back-pressure (each
 * write waits until the network took it, so a slow client holds at most one buffer of its response).
 *
 * <p>The path is split on {@code /} before percent-decoding, and every decoded segment is checked: no empty segment,
 * no {@code .} or {@code ..}, no {@code /}, {@code \}, NUL or other control character, valid UTF-8. A path that fails
 * is refused with 400 before any handler sees it, so names built from segments never hold a separator that the raw
 * path hid ({@code %2F}, {@code %2e%2e}). The Hugging Face routes alone take an encoded {@code /} inside a segment
 * ({@link #segmentsKeepingEncodedSlashes}).
 */
public final class Exchange implements AutoCloseable {
  /** The JSON mapper of every request and response body, with core's read constraints. */
  public static final ObjectMapper JSON = Limits.jsonMapper();
  /**
   * Reads a request's JSON body strictly: a key given twice ({@code {"new": A, "new": null}}, which took the last) and
   * anything after the object ({@code {...} junk}, which was passed over) are refused, not guessed at.
   */
  private static final com.fasterxml.jackson.databind.ObjectReader BODY = JSON.reader()
      .with(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .with(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION);

  private final Request request;
  private final Response response;
  private List<String> segments;
  private List<String> looseSegments;
  private Fields query;
  private Access access;
  private String who = "-";
  private boolean bodyRead;
  private ByteBuffer early;
  private boolean earlyWhole;
  private long earlyStart;
  private HttpError earlyFailure;
  private final MemoryBudget budget;
  private final List<MemoryBudget.Lease> held = new ArrayList<>();

  public Exchange(Request request, Response response, MemoryBudget budget) {
    this.request = request;
    this.response = response;
    this.budget = budget;
  }

  public Request request() {
    return request;
  }

  public Response response() {
    return response;
  }

  public String method() {
    return request.getMethod();
  }

  /** The raw path as the client sent it (for messages and logs). */
  public String rawPath() {
    String p = request.getHttpURI().getPath();
    return p == null ? "" : p;
  }

  /**
   * The checked, decoded segments of the path.
   *
   * @throws HttpError 400 if a segment of the path is not acceptable
   */
  public List<String> segments() throws HttpError {
    if (segments == null) {
      segments = segments(request.getHttpURI().getPath());
    }
    return segments;
  }

  /**
   * As {@link #segments()}, except that an encoded {@code /} ({@code %2F}) stays inside its segment, for the Hugging
   * Face routes alone: huggingface_hub sends a revision ({@code refs/pr/1}) and a tree path ({@code sub/dir}) each as
   * one segment with its slashes encoded. Every {@code /}-separated piece of such a segment passes the same checks as a
   * segment (not empty, {@code .} or {@code ..}).
   *
   * @throws HttpError 400 if a segment of the path is not acceptable
   */
  public List<String> segmentsKeepingEncodedSlashes() throws HttpError {
    if (looseSegments == null) {
      looseSegments = segmentsKeepingEncodedSlashes(request.getHttpURI().getPath());
    }
    return looseSegments;
  }

  /** Whether a segment of the path holds an encoded {@code /}, which {@link #segments()} refuses. */
  public boolean hasEncodedSlash() throws HttpError {
    return segmentsKeepingEncodedSlashes().stream().anyMatch(s -> s.indexOf('/') >= 0);
  }

  /**
   * The first value of a query parameter, or null.
   *
   * @throws HttpError 400 if the query is malformed (a bad percent escape, bytes that are not UTF-8): its parameters
   *     are not guessed at, where ignoring them all served what a request without them asks for
   */
  public String query(String name) throws HttpError {
    if (query == null) {
      try {
        query = Request.extractQueryParameters(request, StandardCharsets.UTF_8);
      } catch (RuntimeException e) {
        throw HttpError.badRequest("query '" + clip(request.getHttpURI().getQuery()) + "' is malformed: "
            + e.getMessage());
      }
    }
    return query.getValue(name);
  }

  /**
   * A non-negative integer query parameter (ASCII digits, an optional sign), {@code dflt} when absent, at most {@code
   * max}; a number of any size outside that range is said to be outside it.
   */
  public int intQuery(String name, int dflt, int max) throws HttpError {
    String v = query(name);
    if (v == null) {
      return dflt;
    }
    if (!v.matches("[+-]?[0-9]+")) {
      throw HttpError.badRequest("query parameter " + name + "='" + clip(v) + "' is not an integer");
    }
    long n;
    try {
      n = Long.parseLong(v);
    } catch (NumberFormatException e) {
      n = v.startsWith("-") ? Long.MIN_VALUE : Long.MAX_VALUE; // more digits than a long holds
    }
    if (n < 0 || n > max) {
      throw HttpError.badRequest("query parameter " + name + "=" + clip(v) + " is outside 0.." + max);
    }
    return (int) n;
  }

  public String header(HttpHeader h) {
    return request.getHeaders().get(h);
  }

  public String header(String h) {
    return request.getHeaders().get(h);
  }

  public Access access() {
    return access;
  }

  public void access(Access a) {
    this.access = a;
    this.who = a.who();
  }

  /** Who the request is from, for the access log: the token's name, {@code dev}, or {@code -} before auth. */
  public String who() {
    return who;
  }

  /**
   * Refuses the request with 403 unless {@code ok}.
   *
   * @param needed what the request needs, for the message ("read access to model 'x'")
   */
  public void require(boolean ok, String needed) throws HttpError {
    if (!ok) {
      throw new HttpError(403, "forbidden", method() + " " + clip(rawPath()) + " needs " + needed + "; token '"
          + access.who() + "' has " + access.scopes());
    }
  }

  public boolean isHead() {
    return "HEAD".equals(request.getMethod());
  }

  // --------------------------------------------------------------------------------------------------- bodies

  /**
   * Reads the whole request body, refusing one above {@code max} bytes with 413 before reading it when the client
   * declared its length, else as soon as it passes the bound.
   */
  public byte[] body(long max) throws HttpError, IOException, InterruptedException {
    ByteBuffer b = bodyBuffer(max);
    return b.remaining() == b.array().length ? b.array() : Arrays.copyOf(b.array(), b.remaining());
  }

  /**
   * Reads the whole request body into a heap buffer, as {@link #body} does, without copying it to its exact length.
   * The bytes held are taken from the server's {@link MemoryBudget} (503 {@code busy} when it stays taken) for as long
   * as the exchange lives, unless the bound is small ({@value #UNBUDGETED_BODY} bytes or less): the declared length,
   * or for a body without one the bound, which is all the room it is ever given (a body of unknown length grows from a
   * first block to the bound at most once, and never past it). A body that stalls past the idle timeout or arrives
   * slower than {@value #MIN_BODY_RATE} bytes per second, or slower than the budget's {@link
   * MemoryBudget#minHeldRate()} while it holds a share of it, is 408, and its share is given back. A body read before
   * the handler ran ({@link EarlyBodies}) is returned as it was read; one of unknown length read in part goes on from
   * its first bytes, its rate counted from when they began.
   */
  public ByteBuffer bodyBuffer(long max) throws HttpError, IOException, InterruptedException {
    long declared = request.getLength();
    if (declared > max) {
      throw tooLarge(declared, max);
    }
    bodyRead = true;
    if (early != null && early.remaining() > max) {
      throw tooLarge(earlyWhole ? early.remaining() : max + 1, max);
    }
    if (earlyWhole) {
      return early;
    }
    long room = declared >= 0 ? declared : max;
    boolean held = room > UNBUDGETED_BODY;
    if (held) {
      hold(room);
    }
    byte[] b = new byte[(int) (declared >= 0 ? declared : Math.min(max, FIRST_BLOCK))];
    int got = 0;
    long start = System.nanoTime();
    if (early != null) {
      // the first bytes of a body of unknown length, read before the handler ran (EarlyBodies)
      if (early.remaining() > b.length) {
        b = new byte[(int) max];
      }
      got = early.remaining();
      early.get(b, 0, got);
      start = earlyStart;
    }
    // a held body arriving at the minimum rate is whole by then; one that sends nothing is failed there, where a read
    // waiting for bytes held its share until the idle timeout
    AtomicBoolean cut = new AtomicBoolean();
    Scheduler.Task deadline = !held ? null : request.getComponents().getScheduler().schedule(() -> {
      cut.set(true);
      request.fail(new TimeoutException("the body did not arrive at the minimum rate"));
    }, Math.max(RATE_GRACE, room * 1_000_000_000L / budget.minHeldRate()) + 1_000_000_000L, TimeUnit.NANOSECONDS);
    try (InputStream in = Content.Source.asInputStream(request)) {
      while (true) {
        if (got == b.length) {
          if (declared >= 0 || got == max) {
            if (declared < 0 && in.read() >= 0) {
              throw tooLarge(max + 1, max);
            }
            break;
          }
          b = Arrays.copyOf(b, (int) max);
        }
        int n = in.read(b, got, b.length - got);
        if (n < 0) {
          break;
        }
        got += n;
        checkRate(got, start, declared, held);
      }
    } catch (org.eclipse.jetty.io.EofException e) {
      // the client ended the body early (closed its side, or a chunked body without its last chunk): its request is
      // malformed, not the server failing
      throw cutShort(got, declared);
    } catch (IOException e) {
      if (cut.get()) {
        throw slow(got, declared, "arrived slower than " + budget.minHeldRate() + " bytes per second while it held a"
            + " share of the server's memory budget");
      }
      if (timedOut(e)) {
        throw slow(got, declared, "stalled past the idle timeout");
      }
      throw e;
    } finally {
      if (deadline != null) {
        deadline.cancel();
      }
    }
    if (declared >= 0 && got != declared) {
      throw cutShort(got, declared);
    }
    return ByteBuffer.wrap(b, 0, got);
  }

  /** Bodies up to this many bytes are read without the memory budget: all workers together hold a few MiB of them. */
  static final long UNBUDGETED_BODY = 64 << 10;
  /** The first block a body without a declared length is read into; past it, the body gets its bound at once. */
  private static final int FIRST_BLOCK = 1 << 20;
  /** Slowest a request body may arrive, in bytes per second, once it has taken longer than {@link #RATE_GRACE}. */
  public static final long MIN_BODY_RATE = 1024;
  /**
   * How long a body, or a response holding a share of the memory budget, may go slower than its minimum rate before
   * the rate is checked: connections start slowly.
   */
  private static final long RATE_GRACE = 5_000_000_000L;

  void checkRate(long got, long start, long declared, boolean held) throws HttpError {
    long elapsed = System.nanoTime() - start;
    long rate = held ? budget.minHeldRate() : MIN_BODY_RATE;
    if (elapsed > RATE_GRACE && got < rate * (elapsed / 1_000_000_000L)) {
      throw slow(got, declared, "arrived slower than " + rate + " bytes per second" + (held
          ? " while it held a share of the server's memory budget" : ""));
    }
  }

  static boolean timedOut(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof java.util.concurrent.TimeoutException) {
        return true;
      }
    }
    return false;
  }

  HttpError slow(long got, long declared, String why) {
    return new HttpError(408, "timeout", method() + " " + clip(rawPath()) + ": request body " + why + " (" + got
        + (declared >= 0 ? " of its " + declared : "") + " bytes arrived); nothing was written");
  }

  /**
   * Gives the exchange its body, or the first bytes of a body of unknown length ({@code whole} false), read before
   * the handler ran since {@code start} (a {@link System#nanoTime()} value), for {@link #bodyBuffer} to return.
   */
  void earlyBody(ByteBuffer bytes, boolean whole, long start) {
    this.early = bytes;
    this.earlyWhole = whole;
    this.earlyStart = start;
  }

  /** Records that the body, read before the handler ran, failed; {@link #checkEarlyBody} then throws {@code e}. */
  void earlyBodyFailed(HttpError e) {
    this.earlyFailure = e;
    this.bodyRead = true;
  }

  /**
   * Throws the failure of a body read before the handler ran ({@link EarlyBodies}), if it failed, for the handler to
   * answer before it does anything else.
   */
  public void checkEarlyBody() throws HttpError {
    if (earlyFailure != null) {
      throw earlyFailure;
    }
  }

  /** Takes room in the memory budget for the rest of the exchange. */
  private void hold(long bytes) throws HttpError, InterruptedException {
    held.add(budget.take(bytes));
  }

  /** Gives back the room the exchange's bodies took in the memory budget; called once the response is done. */
  @Override
  public void close() {
    held.forEach(MemoryBudget.Lease::close);
    held.clear();
  }

  /**
   * The 400 of a body that ended early. Jetty tells a chunked body cut short from one whose chunk size line is
   * malformed ({@code -5}, {@code zz}, more than 64 bits) only as an early end, so the message names both.
   */
  HttpError cutShort(long got, long declared) {
    return HttpError.badRequest(method() + " " + clip(rawPath()) + ": request body ended after " + got
        + (declared >= 0 ? " of its " + declared + " bytes" : " bytes, before its last chunk (or a chunk's size line"
        + " was malformed)"));
  }

  private HttpError tooLarge(long size, long max) {
    return new HttpError(413, "too-large", method() + " " + clip(rawPath()) + ": body of " + size
        + " bytes or more, above the limit of " + max + " bytes");
  }

  /**
   * Readies the connection for an error answer: drains an unread body ({@link #drainUnreadBody}) and, over HTTP/1.1,
   * asks for the connection to close when part of it stays unread (it cannot carry another request, and the client
   * must know).
   */
  public void drainOrClose(long max) {
    if (!drainUnreadBody(max) && request.getConnectionMetaData().getHttpVersion().getVersion() < 20) {
      response.getHeaders().put(HttpHeader.CONNECTION, "close");
    }
  }

  /**
   * Before an error answer, reads and drops a request body that no handler read, up to {@code max} bytes, and says
   * whether the body is now wholly read. Over HTTP/2 a stream whose body is left unread is reset, and clients then see
   * the reset instead of the answer. Over HTTP/1.1 the connection must close after the answer when part of the body
   * is unread, and closing a socket with unread bytes in its receive buffer sends a reset that can reach the client
   * before the answer does: draining first lets the client read the answer and keeps the connection usable. The drain
   * holds a worker thread, so it gives up on a body that arrives slower than the budget's {@link
   * MemoryBudget#minHeldRate()} once it took longer than {@link #RATE_GRACE}: a client trickling a byte within each
   * idle timeout held the worker for as long as its body lasted, which, for a body refused before it was read (401,
   * 404), cost nothing to send.
   */
  private boolean drainUnreadBody(long max) {
    if (request.getLength() == 0 || earlyWhole) {
      return true;
    }
    if (bodyRead || request.getLength() > max) {
      return false;
    }
    bodyRead = true;
    try (InputStream in = Content.Source.asInputStream(request)) {
      long left = max;
      long start = System.nanoTime();
      byte[] buf = new byte[64 << 10];
      for (int n; (n = in.read(buf, 0, (int) Math.min(buf.length, Math.max(left, 1)))) >= 0; ) {
        left -= n;
        long elapsed = System.nanoTime() - start;
        if (left < 0 || elapsed > RATE_GRACE && max - left < budget.minHeldRate() * (elapsed / 1_000_000_000L)) {
          return false;
        }
      }
      return true;
    } catch (IOException e) {
      // the client went away or was too slow: the stream is reset or the connection closed either way
      return false;
    }
  }

  /**
   * Reads an urlencoded form body of at most {@code max} bytes: its fields in order, a name given twice kept twice, a
   * field without {@code =} given the value "". Malformed escapes are a 400 naming the request.
   */
  public List<Map.Entry<String, String>> formBody(long max) throws HttpError, IOException, InterruptedException {
    String body = new String(body(max), StandardCharsets.UTF_8);
    List<Map.Entry<String, String>> out = new ArrayList<>();
    for (String pair : body.split("&")) {
      if (pair.isEmpty()) {
        continue;
      }
      int eq = pair.indexOf('=');
      try {
        String k = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
        String v = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
        out.add(Map.entry(k, v));
      } catch (IllegalArgumentException e) {
        throw HttpError.badRequest(method() + " " + clip(rawPath()) + ": the form is not valid urlencoded text: "
            + e.getMessage());
      }
    }
    return out;
  }

  /** Reads a JSON body of at most {@code max} bytes. */
  public JsonNode jsonBody(long max) throws HttpError, IOException, InterruptedException {
    byte[] b = body(max);
    if (b.length > UNBUDGETED_BODY) {
      hold(b.length); // the tree it parses into, about as big again
    }
    try {
      JsonNode n = BODY.readTree(b);
      if (n == null || !n.isObject()) {
        throw HttpError.badRequest(method() + " " + clip(rawPath()) + ": body is not a JSON object");
      }
      return n;
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw HttpError.badRequest(method() + " " + clip(rawPath()) + ": body is not valid JSON: "
          + e.getOriginalMessage());
    }
  }

  // ------------------------------------------------------------------------------------------------ responses

  /** Sets a response header. */
  public Exchange set(HttpHeader h, String value) {
    response.getHeaders().put(h, value);
    return this;
  }

  public Exchange set(String h, String value) {
    response.getHeaders().put(h, value);
    return this;
  }

  /**
   * The {@code Cache-Control} of an answer whose bytes never change: on a development server (no tokens) any cache
   * may keep it for a year; with tokens only the client's own ({@code private}), since a shared cache (a CDN, a
   * caching proxy) may store the answer to a request with {@code Authorization} that says {@code public} and serve it
   * to requests with no token at all.
   */
  public String immutableCacheControl() {
    return (access != null && access.unlimited() ? "public" : "private") + ", max-age=31536000, immutable";
  }

  /** Sends a JSON body with the status. */
  public void json(int status, Object body) throws IOException {
    byte[] b = JSON.writeValueAsBytes(body);
    response.setStatus(status);
    response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
    bytes(b);
  }

  /** Sends bytes (all of them; the body is empty for HEAD) as the last write. */
  public void bytes(byte[] b) throws IOException {
    response.getHeaders().put(HttpHeader.CONTENT_LENGTH, b.length);
    write(true, isHead() ? ByteBuffer.allocate(0) : ByteBuffer.wrap(b));
  }

  /**
   * Whether the request's {@code If-None-Match} matches {@code etag}, the representation's entity tag (strong, quoted),
   * by the weak comparison RFC 9110 (section 13.1.2) asks for: {@code *}, or a tag of its list (in one field or
   * several) with the same quoted value, {@code W/} or not. A field that is not a list of entity tags matches nothing.
   * Only for a representation that exists: {@code *} matches any.
   */
  public boolean noneMatch(String etag) {
    for (String field : headers(HttpHeader.IF_NONE_MATCH.asString())) {
      if (field.trim().equals("*") || entityTags(field).contains(etag)) {
        return true;
      }
    }
    return false;
  }

  /**
   * The quoted values of a comma-separated list of entity tags ({@code "a", W/"b"}), without their {@code W/}; empty
   * when the list is malformed.
   */
  static List<String> entityTags(String list) {
    List<String> out = new ArrayList<>();
    int i = 0;
    while (i < list.length()) {
      char c = list.charAt(i);
      if (c == ' ' || c == '\t' || c == ',') {
        i++;
        continue;
      }
      if (list.startsWith("W/", i)) {
        i += 2;
      }
      int end = i < list.length() && list.charAt(i) == '"' ? list.indexOf('"', i + 1) : -1;
      if (end < 0) {
        return List.of();
      }
      out.add(list.substring(i, end + 1));
      i = end + 1;
    }
    return out;
  }

  /**
   * The byte range the request asks for of a representation of {@code size} bytes whose entity tag is {@code etag}
   * (strong, quoted), or null for the whole of it: also when an {@code If-Range} does not match that tag by strong
   * comparison (another tag, a weak one, a date), so that a client resuming a download of bytes that changed since
   * gets them whole rather than a part of the new ones to splice onto the old (RFC 9110, section 13.1.5).
   *
   * @throws HttpError as {@link ByteRange#parse} does
   */
  public ByteRange range(String etag, long size) throws HttpError {
    String ifRange = header(HttpHeader.IF_RANGE);
    if (ifRange != null && !ifRange.trim().equals(etag)) {
      return null;
    }
    return ByteRange.parse(header(HttpHeader.RANGE), size);
  }

  /**
   * Answers 304 Not Modified, with the headers set so far (the entity tag, caching), no body and no {@code
   * Content-Length}: in a 304 that field is the length of the body a 200 would have had (RFC 9110, 8.6), and a cache
   * that updates its stored answer from the 304's fields took the 0 it said for the whole's length. The headers go
   * out before the end of the answer, as Jetty puts the length of what was written into an answer ended by its
   * first write.
   */
  public void notModified() throws IOException {
    response.setStatus(304);
    headersOnly();
  }

  /**
   * Ends the answer with the status and headers set so far, no body and no {@code Content-Length} (which Jetty would
   * otherwise set to 0, the length of what was written): a 304, or the answer to a {@code HEAD} whose {@code GET}
   * would have had to do the work of its body to know its length (RFC 9110, 9.3.2, lets a server omit such fields).
   */
  public void headersOnly() throws IOException {
    response.getHeaders().remove(HttpHeader.CONTENT_LENGTH);
    write(false, ByteBuffer.allocate(0));
    write(true, ByteBuffer.allocate(0));
  }

  /** Sends the status with no body. */
  public void empty(int status) throws IOException {
    response.setStatus(status);
    response.getHeaders().put(HttpHeader.CONTENT_LENGTH, 0);
    write(true, ByteBuffer.allocate(0));
  }

  /**
   * Writes a buffer, waiting until it is written (back-pressure); {@code last} ends the response. Returns, or throws,
   * only once the server is done with {@code buf}, even when the thread is interrupted meanwhile (the interrupt is
   * kept), so that the caller may fill {@code buf} again at once.
   */
  public void write(boolean last, ByteBuffer buf) throws IOException {
    write(last, buf, 0);
  }

  /**
   * Writes a buffer that holds a share of the server's memory budget (a decoded chunk), as {@link #write} does, as
   * long as the client takes it at the budget's {@link MemoryBudget#minHeldRate()} or faster once it took longer
   * than {@link #RATE_GRACE}. A client that takes it slower has its response cut off (over HTTP/2 its stream reset,
   * over HTTP/1.1 its connection closed), which ends the write, so that the caller gives the share back: a client
   * reading a byte within every idle timeout held its share for as long as it liked, and a few such held the whole
   * budget.
   *
   * @throws HttpError 408 when the client did not take the buffer in time (the response is cut short)
   */
  public void writeHeld(boolean last, ByteBuffer buf) throws HttpError, IOException {
    long n = buf.remaining();
    long within = Math.max(RATE_GRACE, n * 1_000_000_000L / budget.minHeldRate());
    if (write(last, buf, System.nanoTime() + within)) {
      throw new HttpError(408, "timeout", method() + " " + clip(rawPath()) + ": the client took " + n + " bytes"
          + " held in the server's memory budget slower than " + budget.minHeldRate() + " bytes per second (not"
          + " within " + within / 1_000_000 + " ms); the response was cut off");
    }
  }

  /**
   * Writes {@code buf} and waits until the server is done with it; past {@code deadline} (a {@link System#nanoTime()}
   * value, or 0 for none) cuts the response off ({@link #cutOff}), which ends the write, and returns true.
   */
  private boolean write(boolean last, ByteBuffer buf, long deadline) throws IOException {
    CompletableFuture<Void> done = new CompletableFuture<>();
    response.write(last, buf, Callback.from(done, Invocable.InvocationType.NON_BLOCKING));
    boolean interrupted = false;
    boolean cut = false;
    try {
      while (true) {
        try {
          if (deadline == 0) {
            done.get();
          } else {
            done.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
          }
          return cut;
        } catch (TimeoutException e) {
          deadline = cutOff(cut, e);
          cut = true;
        } catch (InterruptedException e) {
          interrupted = true; // the server may still read buf: wait for its answer, which it always gives
        } catch (ExecutionException e) {
          if (cut) {
            return true;
          }
          Throwable t = e.getCause();
          if (t instanceof IOException io) {
            throw io;
          }
          throw new IOException("the response could not be written: " + t, t);
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * Ends a response whose write is stalled, and returns the deadline to wait for the write to end by (0 for none).
   * Over HTTP/2 it fails the request, on which Jetty resets the stream alone (RST_STREAM) and fails the write, so the
   * connection's other streams go on; should that write still not end within {@link #RATE_GRACE} ({@code again}), and
   * over HTTP/1.1, which carries one response at a time, it closes the connection.
   */
  private long cutOff(boolean again, TimeoutException e) {
    if (!again && request.getConnectionMetaData().getHttpVersion().getVersion() >= 20) {
      request.fail(e);
      return System.nanoTime() + RATE_GRACE;
    }
    request.getConnectionMetaData().getConnection().getEndPoint().close(e);
    return 0;
  }

  /** An output stream of the response body (buffered by the server, with back-pressure). */
  public OutputStream output() {
    return Content.Sink.asOutputStream(response);
  }

  /** Sends the JSON error body for {@code e}. */
  public void error(HttpError e) throws IOException {
    if (e instanceof ByteRange.RangeError r) {
      set(HttpHeader.CONTENT_RANGE, "bytes */" + r.size());
    }
    if (!e.code().isEmpty() && Character.isUpperCase(e.code().charAt(0))) {
      set("X-Error-Code", e.code()); // the Hugging Face clients' error codes (RepoNotFound, EntryNotFound...)
      set("X-Error-Message", headerText(e.getMessage())); // which huggingface_hub puts in its exceptions' text
    }
    if (e instanceof HttpError.MethodNotAllowed m) {
      set(HttpHeader.ALLOW, m.allow());
    }
    if (e.status() == 401) {
      set(HttpHeader.WWW_AUTHENTICATE, "Bearer realm=\"ferry\"");
    }
    if ((e.status() == 503 || e.status() == 429) && e.code().equals("busy")) {
      set(HttpHeader.RETRY_AFTER, Integer.toString(MemoryBudget.RETRY_AFTER_SECONDS));
    }
    ObjectNode body = JSON.createObjectNode().put("error", e.code()).put("message", e.getMessage());
    e.details().forEach((name, value) -> body.set(name, JSON.valueToTree(value)));
    json(e.status(), body);
  }

  /** A message as a header value: printable ASCII, anything else percent-escaped as UTF-8, at most 300 characters. */
  static String headerText(String message) {
    StringBuilder b = new StringBuilder();
    for (byte c : String.valueOf(message).getBytes(StandardCharsets.UTF_8)) {
      if (b.length() >= 300) {
        return b.append("...").toString();
      }
      if (c >= 0x20 && c < 0x7f && c != '%') {
        b.append((char) c);
      } else {
        b.append('%').append(String.format("%02X", c & 0xff));
      }
    }
    return b.toString();
  }

  /** Whether the response was committed (headers sent): an error can then only close the connection. */
  public boolean committed() {
    return response.isCommitted();
  }

  /** A value cut to 120 characters, for messages. */
  public static String clip(String s) {
    if (s == null) {
      return "null";
    }
    return s.length() <= 120 ? s : s.substring(0, 120) + "...";
  }

  /** All request headers named {@code name}. */
  public List<String> headers(String name) {
    List<String> out = new ArrayList<>();
    for (HttpField f : request.getHeaders()) {
      if (f.getName().equalsIgnoreCase(name)) {
        out.add(f.getValue());
      }
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------------- paths

  /** The checked segments of a raw path, none holding an encoded {@code /}. */
  static List<String> segments(String rawPath) throws HttpError {
    List<String> out = segmentsKeepingEncodedSlashes(rawPath);
    for (String s : out) {
      if (s.indexOf('/') >= 0) {
        throw HttpError.badRequest("path '" + clip(rawPath) + "' has a segment with character U+002F (an encoded"
            + " separator or control character)");
      }
    }
    return out;
  }

  /**
   * The checked segments of a raw path, where a segment may hold an encoded {@code /} (and end in one: huggingface_hub
   * sends a tree path {@code sub/} as {@code sub%2F}); every piece between such slashes is checked as a segment is.
   */
  static List<String> segmentsKeepingEncodedSlashes(String rawPath) throws HttpError {
    if (rawPath == null || rawPath.isEmpty() || rawPath.equals("/")) {
      return List.of();
    }
    if (rawPath.charAt(0) != '/') {
      throw HttpError.badRequest("path '" + clip(rawPath) + "' does not start with '/'");
    }
    if (rawPath.length() > 4096) {
      throw HttpError.badRequest("path of " + rawPath.length() + " characters is longer than 4096");
    }
    String p = rawPath.substring(1);
    if (p.endsWith("/")) {
      p = p.substring(0, p.length() - 1);
    }
    List<String> out = new ArrayList<>();
    for (String raw : p.split("/", -1)) {
      String s = decode(raw, rawPath);
      String pieces = s.length() > 1 && s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
      for (String piece : pieces.split("/", -1)) {
        if (piece.isEmpty() || piece.equals(".") || piece.equals("..")) {
          throw HttpError.badRequest("path '" + clip(rawPath) + "' has an empty, '.' or '..' segment");
        }
      }
      for (int i = 0; i < s.length(); i++) {
        char c = s.charAt(i);
        if (c == '\\' || c < 0x20 || c == 0x7f) {
          throw HttpError.badRequest("path '" + clip(rawPath) + "' has a segment with character U+"
              + String.format("%04X", (int) c) + " (an encoded separator or control character)");
        }
      }
      out.add(s);
    }
    return List.copyOf(out);
  }

  private static String decode(String raw, String path) throws HttpError {
    if (raw.indexOf('%') < 0) {
      return raw;
    }
    ByteArrayOutputStream b = new ByteArrayOutputStream(raw.length());
    for (int i = 0; i < raw.length(); i++) {
      char c = raw.charAt(i);
      if (c == '%') {
        int hi = i + 2 < raw.length() ? Character.digit(raw.charAt(i + 1), 16) : -1;
        int lo = i + 2 < raw.length() ? Character.digit(raw.charAt(i + 2), 16) : -1;
        if (hi < 0 || lo < 0) {
          throw HttpError.badRequest("path '" + clip(path) + "' has a malformed percent escape");
        }
        b.write(hi * 16 + lo);
        i += 2;
      } else {
        b.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
      }
    }
    try {
      return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b.toByteArray())).toString();
    } catch (CharacterCodingException e) {
      throw HttpError.badRequest("path '" + clip(path) + "' has a segment that is not UTF-8 once decoded");
    }
  }
}
