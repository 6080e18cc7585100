package io.ferry.store.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.MissingNode;
import io.ferry.concurrent.DaemonThreads;
import io.ferry.error.InvalidInputException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.UnresolvedAddressException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The servers of one HTTP store and the one way requests reach them: slots (at most {@code max_requests} in flight
 * per server; a caller waits for one), timeouts, the balancing policy, retries, hedging, and marking servers down and
 * probing them back. Thread-safe; owns its HTTP client's threads, the threads of plain reads and their kept
 * connections, and closes them with {@link #close()}.
 *
 * <p>Over {@code http://}, a {@code GET} or {@code HEAD} goes on a plain connection ({@link PlainReads}) in a thread
 * of its own, its body into the call's buffer ({@link Call#into()}) or an array, falling back to the JDK client for an
 * answer it does not take; all else (requests with a body, {@code https://}) goes through the JDK client, which is
 * made only when first needed. Both ways share the slots, timeouts, retries and hedging.
 *
 * <p>Requests are of three kinds ({@link Retry}):
 *
 * <ul>
 *   <li>{@link Retry#HEDGED} (every read: chunks, their sizes, refs, records): a server picked by the policy; a
 *       failure is retried on another server; a read that runs past the hedging delay (the recent p95 of chunk
 *       reads) is also sent to a second server, the first answer wins and the other request is cancelled. Small reads
 *       were once not hedged, and one hung server of two held a pull for the whole request timeout (60 s) on a chunk's
 *       HEAD.
 *   <li>{@link Retry#ANY} (chunk puts and deletes, and the batch query of missing chunks, which are idempotent): as
 *       above without hedging, so a body is never sent twice.
 *   <li>{@link Retry#ONCE} (ref moves and record writes): the first server that is up, in the order the URI lists
 *       them; retried on the next only when the request surely did not reach the first (it could not connect).
 *       Any other failure is an {@link OutcomeUnknownException} that the caller resolves.
 * </ul>
 *
 * A server is marked down when a request to it gets no answer (no connection, a reset, a timeout) or a 502, 503 or
 * 504; requests then go to the others, and {@code HEAD /v1/store} probes it with a doubling wait (from {@code
 * probe_min_ms} to {@code probe_max_ms}) until it answers, when it is up again. When every server is down, requests
 * still try them all, in order.
 *
 * <p>Before the first request to a server, and before the first after it was marked down, the pool reads the
 * server's description ({@code GET /v1/store}) and checks that the store id in it is the one the other servers
 * report ({@link #identify}): servers over different stores (a store and a copy of it) are refused with a {@link
 * StoreMismatchException}, which every later call throws too. A server that reports no id (one older than store
 * ids) is taken, with one notice.
 */
final class ServerPool implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ServerPool.class);
  /** Base path of the protocol. */
  static final String API = "/v1/store";

  /** How a request may be retried; see the class comment. */
  enum Retry {
    HEDGED,
    ANY,
    ONCE
  }

  /**
   * An answer below 500, or a {@link #corrupt()} one (what a caller interprets).
   *
   * @param body at most the bound the call gave (an error answer: its first {@value Bodies#ERROR_LIMIT} bytes); empty
   *     when the body went into the call's buffer
   * @param into where the body went when the call gave a buffer and the answer was a 200 or 206, else null
   */
  record Answer(Server server, int status, HttpHeaders headers, byte[] body, Bodies.Target into) {
    /** The longest server message put into an error, in characters. */
    static final int MESSAGE_LIMIT = 300;

    /** How many bytes the body had: in {@link #body()}, or written into the call's buffer. */
    int length() {
      return into == null ? body.length : into.written();
    }

    /** The {@code error} code of an error answer's JSON, or "" if it has none. */
    String errorCode() {
      JsonNode n = status < 400 ? MissingNode.getInstance() : errorJson().path("error");
      return n.isNull() || n.isMissingNode() ? "" : n.asText();
    }

    /**
     * An integrity failure of the store behind the server ({@code 500} with error {@code corrupt}): the same from
     * every server over that store, so it is an answer for the caller, not a failure of the server.
     */
    boolean corrupt() {
      return status == 500 && errorCode().equals("corrupt");
    }

    /** The server's own message of an error answer ({@code message} of its JSON), made safe to print. */
    String message() {
      String text = text("message", MESSAGE_LIMIT);
      return text != null ? text : printable(new String(body, StandardCharsets.UTF_8), MESSAGE_LIMIT);
    }

    /**
     * A text field of an error answer's JSON (such as the {@code defect} of a damaged ref log), made safe to print and
     * cut at {@code max} characters; null if the answer has no such field.
     */
    String text(String field, int max) {
      JsonNode n = errorJson().path(field);
      return n.isTextual() ? printable(n.asText(), max) : null;
    }

    /** A whole number field of an error answer's JSON (such as the {@code entry} of a damaged ref log), or -1. */
    long number(String field) {
      JsonNode n = errorJson().path(field);
      return n.isIntegralNumber() && n.canConvertToLong() ? n.asLong() : -1;
    }

    /** The JSON object of an (error) answer's body; a missing node if it has none or it does not parse. */
    private JsonNode errorJson() {
      if (body.length == 0) {
        return MissingNode.getInstance();
      }
      try {
        JsonNode node = io.ferry.limits.Limits.jsonMapper().readTree(body);
        return node != null && node.isObject() ? node : MissingNode.getInstance();
      } catch (IOException | RuntimeException e) {
        return MissingNode.getInstance();
      }
    }

    private static String printable(String text, int max) {
      StringBuilder out = new StringBuilder();
      text.codePoints().limit(max).forEach(c -> out.appendCodePoint(Character.isISOControl(c) ? '?' : c));
      return out.toString();
    }
  }

  /**
   * One request, built for whichever server it goes to.
   *
   * @param what what the request does, for errors (e.g. {@code read object <id>})
   * @param method the HTTP method
   * @param path the path under {@value #API}, starting with {@code /} or {@code ?} (already encoded)
   * @param body the body, or null; must be resendable (every publisher here is)
   * @param headers extra headers, name then value
   * @param limit the longest answer accepted
   * @param check checks an answer below 500; an exception it throws counts as a failure of that server
   * @param into null, or the buffer the body of a 200 or 206 answer is written into, from its position up to its
   *     limit (the caller's buffer is written, its position is not moved); a hedged request writes into a buffer of its
   *     own, copied into this one if it wins, so that the two never write the same bytes
   */
  record Call(String what, String method, String path, HttpRequest.BodyPublisher body, List<String> headers,
      long limit, AnswerCheck check, ByteBuffer into) {
    Call {
      headers = List.copyOf(headers);
    }

    /** A call whose answer is kept in {@link Answer#body()}. */
    Call(String what, String method, String path, HttpRequest.BodyPublisher body, List<String> headers, long limit,
        AnswerCheck check) {
      this(what, method, path, body, headers, limit, check, null);
    }
  }

  /** Checks an answer; throws when the server's answer cannot be right (it is then retried elsewhere if it may be). */
  @FunctionalInterface
  interface AnswerCheck {
    void check(Answer a) throws IOException;

    AnswerCheck NONE = a -> {};
  }

  /** A write that may or may not have taken effect: the request was sent, and no answer came back. */
  static final class OutcomeUnknownException extends IOException {
    OutcomeUnknownException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** A 5xx answer. */
  private static final class ServerError extends IOException {
    final int status;
    /** A 503 with error {@code busy}: the server refused the request before doing anything (its memory is taken). */
    final boolean busy;

    /** The wait a 503 asked for ({@code Retry-After} in seconds), in milliseconds; -1 if it asked for none. */
    final long retryAfterMillis;

    ServerError(Answer a, String what) {
      super(what + ": server " + a.server() + " answered " + a.status() + retryAfterText(a) + ": " + a.message());
      this.status = a.status();
      this.busy = a.status() == 503 && a.errorCode().equals("busy");
      this.retryAfterMillis = retryAfterMillis(a);
    }
  }

  /** The longest {@code Retry-After} taken, in seconds: a longer one is beyond any request timeout. */
  private static final long RETRY_AFTER_MAX_SECONDS = 3600;

  /**
   * The wait a 503 answer asks for in its {@code Retry-After} (delay-seconds; an HTTP date is not taken), in
   * milliseconds, or -1.
   */
  static long retryAfterMillis(Answer a) {
    String v = a.status() == 503 ? a.headers().firstValue("retry-after").orElse("").trim() : "";
    if (v.isEmpty() || v.length() > 10 || !v.chars().allMatch(c -> c >= '0' && c <= '9')) {
      return -1;
    }
    return Math.min(Long.parseLong(v), RETRY_AFTER_MAX_SECONDS) * 1000;
  }

  private static String retryAfterText(Answer a) {
    long ms = retryAfterMillis(a);
    return ms < 0 ? "" : " (Retry-After: " + ms / 1000 + " s)";
  }

  private final HttpSettings settings;
  private final List<Server> servers;
  /** The JDK client, made on first use ({@link #client()}): a pull over {@code http://} never needs it. */
  private HttpClient client;
  private final ThreadPoolExecutor executor;
  /** Chunk reads into a caller's buffer over plain http, run in {@link #readers}. */
  private final PlainReads plain;
  private final ThreadPoolExecutor readers;
  private final ScheduledExecutorService timers;
  private final AtomicLong turn = new AtomicLong();
  private final AtomicLong hedgeable = new AtomicLong();
  private final AtomicLong hedged = new AtomicLong();
  private volatile boolean closed;
  private final Consumer<String> notices;
  /** The store id the servers report, once one reported it; written under {@code this}. */
  private volatile String storeId;
  private final AtomicBoolean toldNoId = new AtomicBoolean();
  /** Set once servers over two stores were seen: every call throws it from then on. */
  private volatile StoreMismatchException mismatch;

  /**
   * The request header that names the store id the client expects: a server over another store refuses the request
   * (409 {@code store-mismatch}) before it reads or changes anything, so that a server started again over another store
   * at the same address is caught on the first request to it, even one on a connection opened silently again.
   */
  static final String STORE_ID_HEADER = "Ferry-Store-Id";

  /** The request that reads a server's description for {@link #identify}. */
  private static final Call IDENTIFY = new Call("read the store's description", "GET", "", null, List.of(),
      1L << 20, AnswerCheck.NONE);

  /**
   * The servers of one store URI turned out to serve different stores: their store ids differ. Bad input (exit 1):
   * the URI must list servers over one store.
   */
  static final class StoreMismatchException extends InvalidInputException {
    StoreMismatchException(String message) {
      super(message);
    }
  }

  /** The longest queue of the JDK client's tasks. */
  private static final int QUEUE_MAX = 1 << 16;

  ServerPool(HttpSettings settings, Consumer<String> notices) {
    this.settings = settings;
    this.notices = notices;
    List<Server> list = new ArrayList<>();
    for (URI u : settings.servers()) {
      list.add(new Server(u, settings.maxRequests()));
    }
    this.servers = List.copyOf(list);
    int threads = Math.max(2, Math.min(8, Runtime.getRuntime().availableProcessors() * 2));
    // the client's tasks are bounded by the request slots; the queue's bound is a guard, and a task past it runs in
    // the thread that hands it over rather than being dropped (counted in longs and capped: a large max_requests
    // overflowed it into a negative capacity, an internal error, or allocated its array of millions at once)
    long slotsInAll = (long) servers.size() * settings.maxRequests();
    this.executor = new ThreadPoolExecutor(threads, threads, 30, TimeUnit.SECONDS,
        new ArrayBlockingQueue<>((int) Math.min(QUEUE_MAX, slotsInAll * 8 + 64)),
        DaemonThreads.named("ferry-http"), new ThreadPoolExecutor.CallerRunsPolicy());
    this.executor.allowCoreThreadTimeOut(true);
    this.timers = Executors.newSingleThreadScheduledExecutor(DaemonThreads.named("ferry-http-timer"));
    // a plain read blocks its thread; requests in flight are bounded by the slots, so are these threads
    int slots = (int) Math.min(Integer.MAX_VALUE, slotsInAll);
    this.readers = new ThreadPoolExecutor(slots, slots, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
        DaemonThreads.named("ferry-http-read"));
    this.readers.allowCoreThreadTimeOut(true);
    this.plain = new PlainReads(settings.connectTimeout(), settings.maxRequests());
  }

  /**
   * The JDK client, made when a request first needs it: one with a body, one over {@code https://}, or an answer
   * {@link PlainReads} does not take. Making one loads a TLS context, and a process that made one waits at exit for
   * its selector thread (300 ms on JDK 17), so a pull over {@code http://} is better off without.
   */
  private synchronized HttpClient client() {
    if (client == null) {
      client = HttpClient.newBuilder().version(settings.version()).connectTimeout(settings.connectTimeout())
          .followRedirects(HttpClient.Redirect.NEVER).executor(executor).build();
    }
    return client;
  }

  List<Server> servers() {
    return servers;
  }

  /** Whether the JDK client was made (for tests: a pull over {@code http://} should not need it). */
  synchronized boolean madeJdkClient() {
    return client != null;
  }

  HttpSettings settings() {
    return settings;
  }

  /**
   * Sends the call as its kind allows and returns the first answer below 500.
   *
   * @throws OutcomeUnknownException for a {@link Retry#ONCE} call that was sent and got no answer (or a 5xx)
   * @throws IOException when every server failed, naming each and why
   */
  Answer call(Call call, Retry retry) throws IOException {
    if (closed) {
      throw new IllegalStateException("HTTP store " + settings.describe() + " is closed");
    }
    return retry == Retry.ONCE ? once(call) : balanced(call, retry == Retry.HEDGED);
  }

  // ---------------------------------------------------------------- the kinds of requests

  private Answer balanced(Call call, boolean hedge) throws IOException {
    List<String> failures = new ArrayList<>();
    Set<Server> tried = new HashSet<>();
    Server rejected = avoid.get(call.path());
    if (rejected != null && servers.size() > 1) {
      // it sent bytes of this object that failed the reader's checks: asked last, if no other server answers
      tried.add(rejected);
    }
    boolean mayHedge = hedge && settings.hedge() && servers.size() > 1;
    if (mayHedge) {
      hedgeable.incrementAndGet();
    }
    busy.remove();
    retryAfter.remove();
    long busyWait = BUSY_WAIT_MIN_MS;
    long giveUp = System.nanoTime() + settings.requestTimeout().toNanos();
    int rounds = 1;
    while (true) {
      if (mismatch != null) {
        busy.remove();
        throw mismatch; // a server refused a request as one for another store: no server is asked again
      }
      Server s = pick(tried);
      if (s == null && busy.get() && System.nanoTime() + busyWait * 1_000_000 < giveUp) {
        // every server was tried and some said busy: wait a little and go round again
        busy.remove();
        tried.clear();
        waitBusy(call, busyWait);
        busyWait = Math.min(BUSY_WAIT_MAX_MS, busyWait * 2);
        s = pick(tried);
      }
      // servers that all said when to come back (503 with Retry-After: a proxy in front of a server that restarts)
      // are asked again no sooner than the first of them asked, if that is within the request timeout
      long pause = Math.max(RETRY_PAUSE_MS << (rounds - 1), retryAfter.get());
      if (s == null && rounds < ROUNDS && System.nanoTime() + pause * 1_000_000 < giveUp) {
        // every server failed this call (a connection cut or reset, an answer cut short, a 5xx): the call is
        // idempotent, so it goes round the servers again after a pause, each on a fresh connection; one dropped
        // connection does not fail a pull, even from a single server
        tried.clear();
        retryAfter.remove();
        waitBusy(call, pause);
        rounds++;
        s = pick(tried);
      }
      if (s == null) {
        busy.remove();
        throw allFailed(call, failures);
      }
      tried.add(s);
      Attempt first;
      try {
        // a read that cannot be hedged runs in this thread, which then checks and writes the bytes it read
        first = start(s, call, true, !mayHedge);
      } catch (InterruptedIOException | StoreMismatchException e) {
        busy.remove();
        throw e;
      } catch (IOException e) {
        failures.add(e.getMessage());
        continue;
      }
      if (Thread.currentThread().isInterrupted()) {
        // interrupted during a read in this thread (which closed its connection): the caller's doing, not the server's
        first.abandon();
        busy.remove();
        throw interrupted(call, null);
      }
      Attempt second = null;
      try {
        if (mayHedge && !first.awaitDone(hedgeDelayNanos()) && hedged.get() < hedgeable.get() / 5 + 8) {
          // only to a server that is up and identified: reading a description first would hold this thread, which
          // waits for the first answer, and a server that does not answer must not fail a read the first may answer
          Server other = pick(tried);
          if (other != null && !other.isDown() && other.identified && other.slots.tryAcquire()) {
            tried.add(other);
            other.hedges.incrementAndGet();
            hedged.incrementAndGet();
            try {
              second = start(other, call, false, false);
            } catch (InterruptedIOException | StoreMismatchException e) {
              other.slots.release();
              first.abandon();
              busy.remove();
              throw e;
            } catch (IOException e) {
              other.slots.release(); // marked down meanwhile, and not identified again
              failures.add(e.getMessage());
            }
          }
        }
        Attempt won = firstAnswer(first, second, call, failures);
        if (won != null) {
          Attempt lost = won == first ? second : first;
          if (lost != null) {
            lost.abandon();
            if (lost == first && call.into() != null) {
              first.server.latencies.add(System.nanoTime() - first.started);
            }
          }
          if (hedge && call.into() != null) {
            // chunk reads only: the p95 they make is the hedge delay of every read, and the small ones would lower it
            won.server.latencies.add(System.nanoTime() - won.started);
          }
          if (won.target != null && !won.primary) {
            // the hedged request won: its bytes go where the caller wants them, now that the first one is fenced
            call.into().duplicate().put(won.target.filled());
          }
          markUp(won.server);
          busy.remove();
          lastServed.set(new Served(call.path(), won.server));
          return won.answer.join();
        }
      } catch (InterruptedException e) {
        first.abandon();
        if (second != null) {
          second.abandon();
        }
        Thread.currentThread().interrupt();
        throw interrupted(call, e);
      }
    }
  }

  /**
   * The servers other than {@code except} that answer {@code call} with {@code status}, each asked once (no retry, no
   * hedge); a server that fails is left out. For the rare check that the servers of a store agree.
   *
   * @throws InterruptedIOException if interrupted while waiting for an answer
   * @throws StoreMismatchException if a server not asked before reports another store id
   */
  List<Server> othersAnswering(Call call, Server except, int status) throws IOException {
    List<Server> out = new ArrayList<>();
    for (Server s : servers) {
      if (s.equals(except)) {
        continue;
      }
      Attempt a;
      try {
        a = start(s, call, true, true);
      } catch (InterruptedIOException | StoreMismatchException e) {
        throw e;
      } catch (IOException e) {
        continue;
      }
      try {
        if (a.answer.get().status() == status) {
          out.add(s);
        }
      } catch (ExecutionException | CancellationException e) {
        failed(a, e.getCause() != null ? e.getCause() : e);
      } catch (InterruptedException e) {
        a.abandon();
        Thread.currentThread().interrupt();
        throw interrupted(call, e);
      }
    }
    return out;
  }

  /** The server that answered a thread's last balanced call, and the call's path. */
  private record Served(String path, Server server) {}

  private final ThreadLocal<Served> lastServed = new ThreadLocal<>();
  /** Per path, the server whose answer for it failed a reader's checks ({@link #rejected}); bounded. */
  private final Map<String, Server> avoid = new ConcurrentHashMap<>();
  private static final int AVOID_LIMIT = 4096;

  /**
   * Told that the bytes of the calling thread's last balanced call, to {@code path}, failed the reader's checks (a
   * CRC or the SHA-256 of a chunk): the server that sent them counts a failure and is asked for the path only when
   * no other server answers. Whether a read again may bring other bytes: always, since bytes damaged on the way or
   * by one server's store come whole from another, or from the same one on a fresh read.
   */
  boolean rejected(String path) {
    Served s = lastServed.get();
    if (s != null && s.path().equals(path)) {
      s.server().failures.incrementAndGet();
      if (avoid.size() >= AVOID_LIMIT) {
        avoid.clear();
      }
      avoid.put(path, s.server());
    }
    return true;
  }

  /**
   * The server that answered the calling thread's last balanced call if that call was to {@code path} and the pool
   * has several servers (the store's description names a lone one already), else null.
   */
  String lastSender(String path) {
    Served s = lastServed.get();
    return servers.size() > 1 && s != null && s.path().equals(path) ? s.server().toString() : null;
  }

  private InterruptedIOException interrupted(Call call, InterruptedException cause) {
    InterruptedIOException io = new InterruptedIOException("interrupted while waiting to " + call.what() + " at "
        + settings.describe());
    io.initCause(cause);
    return io;
  }

  private Answer once(Call call) throws IOException {
    List<String> failures = new ArrayList<>();
    Set<Server> tried = new HashSet<>();
    while (true) {
      Server s = null;
      for (Server c : servers) {
        if (!tried.contains(c) && !c.isDown()) {
          s = c;
          break;
        }
      }
      if (s == null) {
        for (Server c : servers) {
          if (!tried.contains(c)) {
            s = c;
            break;
          }
        }
      }
      if (s == null) {
        throw allFailed(call, failures);
      }
      tried.add(s);
      Attempt a;
      try {
        a = start(s, call, true, false);
      } catch (StoreMismatchException e) {
        throw e;
      } catch (IOException e) {
        failures.add(e.getMessage());
        continue;
      }
      try {
        Answer answer = a.answer.get();
        markUp(s);
        return answer;
      } catch (InterruptedException e) {
        a.abandon();
        Thread.currentThread().interrupt();
        throw new OutcomeUnknownException("interrupted while waiting to " + call.what() + " at " + s
            + "; it may or may not have happened", e);
      } catch (ExecutionException e) {
        Throwable t = failed(a, e.getCause());
        if (t instanceof StoreMismatchException m) {
          throw m; // refused by the server before it changed anything
        }
        if (notSent(t) || (t instanceof ServerError se && se.busy)) {
          failures.add(s + ": " + describe(t));
          continue;
        }
        throw new OutcomeUnknownException(call.what() + ": no answer from " + s + " (" + describe(t)
            + "); it may or may not have happened", t);
      }
    }
  }

  /** Times an idempotent call goes round every server before it fails, and the pause before the second round. */
  private static final int ROUNDS = 3;
  private static final long RETRY_PAUSE_MS = 100;
  /** First and longest wait before trying busy servers again. */
  private static final long BUSY_WAIT_MIN_MS = 20;
  private static final long BUSY_WAIT_MAX_MS = 1000;
  /**
   * The shortest wait (in milliseconds) the servers that failed the calling thread's current round of a balanced call
   * asked for: their {@code Retry-After}, 0 for a server that failed without one; -1 before any failed.
   */
  private final ThreadLocal<Long> retryAfter = ThreadLocal.withInitial(() -> -1L);
  /** Whether a server answered busy in the calling thread's current round. */
  private final ThreadLocal<Boolean> busyFlag = new ThreadLocal<>();
  private final BusyRound busy = new BusyRound();

  /** The calling thread's note that a server said busy during the current balanced call. */
  private final class BusyRound {
    boolean get() {
      return Boolean.TRUE.equals(busyFlag.get());
    }

    void set() {
      busyFlag.set(Boolean.TRUE);
    }

    void remove() {
      busyFlag.remove();
    }
  }

  private void waitBusy(Call call, long millis) throws InterruptedIOException {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      InterruptedIOException io = new InterruptedIOException("interrupted while waiting to " + call.what()
          + " again at " + settings.describe());
      io.initCause(e);
      throw io;
    }
  }

  /** Waits for the first good answer of {@code a} or {@code b} (may be null); null when both failed. */
  private Attempt firstAnswer(Attempt a, Attempt b, Call call, List<String> failures) throws InterruptedException {
    boolean aFailed = false;
    boolean bFailed = b == null;
    while (true) {
      if (!aFailed && a.answer.isDone()) {
        Throwable t = outcome(a);
        if (t == null) {
          return a;
        }
        aFailed = true;
        failures.add(a.server + ": " + describe(failed(a, t)));
      }
      if (!bFailed && b.answer.isDone()) {
        Throwable t = outcome(b);
        if (t == null) {
          return b;
        }
        bFailed = true;
        failures.add(b.server + ": " + describe(failed(b, t)));
      }
      if (aFailed && bFailed) {
        return null;
      }
      try {
        if (aFailed) {
          b.answer.get();
        } else if (bFailed) {
          a.answer.get();
        } else {
          CompletableFuture.anyOf(a.answer, b.answer).get();
        }
      } catch (ExecutionException | CancellationException e) {
        // looked at in the next round
      }
    }
  }

  private static Throwable outcome(Attempt a) {
    try {
      a.answer.join();
      return null;
    } catch (CompletionException | CancellationException e) {
      return e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    }
  }

  // ---------------------------------------------------------------- one request to one server

  /** One request in flight to one server; its slot is given back when it ends, however it ends. */
  private final class Attempt {
    final Server server;
    final long started = System.nanoTime();
    /** The answer as it came (or the failure); completed by whichever way the request took. */
    final CompletableFuture<PlainReads.Raw> exchange = new CompletableFuture<>();
    final CompletableFuture<Answer> answer;
    private volatile PlainReads.Exchange plainExchange;
    private volatile CompletableFuture<?> clientExchange;
    /** Where the body goes, or null when it is kept in an array. */
    final Bodies.Target target;
    /** Whether this request writes into the caller's buffer itself (not a hedge). */
    final boolean primary;
    volatile boolean abandoned;
    volatile boolean timedOut;

    /**
     * Sends the request; with {@code inline}, a request on a plain connection runs in the calling thread, which
     * returns once it ended (no hand-off to a reader thread and back, and the bytes read stay in this core's cache).
     */
    Attempt(Server server, Call call, boolean primary, boolean inline) {
      this.server = server;
      this.primary = primary;
      ByteBuffer into = call.into();
      this.target = into == null ? null
          : new Bodies.Target(primary ? into : ByteBuffer.allocate(into.remaining()));
      List<String> headers = new ArrayList<>();
      if (settings.token() != null) {
        headers.add("Authorization");
        headers.add("Bearer " + settings.token());
      }
      String expected = storeId;
      if (expected != null && call != IDENTIFY && expected.matches("[0-9A-Za-z._-]{1,128}")) {
        headers.add(STORE_ID_HEADER);
        headers.add(expected);
      }
      headers.addAll(call.headers());
      server.requests.incrementAndGet();
      server.outstanding.incrementAndGet();
      ScheduledFuture<?> timer = timers.schedule(() -> {
        if (!exchange.isDone()) {
          timedOut = true;
          stop();
        }
      }, settings.requestTimeout().toNanos(), TimeUnit.NANOSECONDS);
      exchange.whenComplete((r, t) -> {
        timer.cancel(false);
        server.outstanding.decrementAndGet();
        server.slots.release();
      });
      if (call.body() == null && PlainReads.takes(call.method()) && PlainReads.eligible(server.base, headers)) {
        String prefix = server.base.getRawPath() == null ? "" : server.base.getRawPath();
        PlainReads.Exchange px = plain.exchange(server.base, call.method(), prefix + API + call.path(), headers,
            target, call.limit());
        plainExchange = px;
        Runnable run = () -> {
          if (exchange.isDone()) {
            return;
          }
          try {
            PlainReads.Raw raw = px.run();
            if (raw == PlainReads.UNUSUAL) {
              sendThroughClient(request(call, headers), call.limit());
            } else {
              exchange.complete(raw);
            }
          } catch (Throwable t) {
            exchange.completeExceptionally(t);
          }
        };
        if (inline) {
          run.run();
        } else {
          try {
            readers.execute(run);
          } catch (RejectedExecutionException e) {
            exchange.completeExceptionally(e);
          }
        }
      } else {
        sendThroughClient(request(call, headers), call.limit());
      }
      this.answer = exchange.thenApply(r -> {
        Answer a = new Answer(server, r.status(), r.headers(), r.body().bytes(), r.body().into());
        try {
          if (a.status() >= 500 && !a.corrupt()) {
            throw new ServerError(a, call.what());
          }
          if (a.status() == 409 && a.errorCode().equals("store-mismatch") && a.text("id", 128) != null) {
            admit(server, a.text("id", 128)); // throws, unless that server's id is the one expected after all
          }
          call.check().check(a);
        } catch (IOException e) {
          throw new CompletionException(e);
        }
        return a;
      });
    }

    private HttpRequest request(Call call, List<String> headers) {
      HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(server.base + API + call.path()))
          .timeout(settings.requestTimeout());
      b.method(call.method(), call.body() == null ? HttpRequest.BodyPublishers.noBody() : call.body());
      for (int i = 0; i + 1 < headers.size(); i += 2) {
        b.header(headers.get(i), headers.get(i + 1));
      }
      return b.build();
    }

    /** Sends the request through the JDK client; its outcome completes {@link #exchange}. */
    private void sendThroughClient(HttpRequest request, long limit) {
      CompletableFuture<HttpResponse<Bodies.Received>> f;
      try {
        f = client().sendAsync(request, Bodies.bounded(limit, target));
      } catch (RuntimeException e) {
        exchange.completeExceptionally(e);
        return;
      }
      clientExchange = f;
      if (exchange.isDone()) {
        f.cancel(true);
      }
      f.whenComplete((r, t) -> {
        if (t != null) {
          exchange.completeExceptionally(t);
        } else {
          exchange.complete(new PlainReads.Raw(r.statusCode(), r.headers(), r.body()));
        }
      });
    }

    /** Ends the request wherever it is: closes its plain connection, cancels its JDK client exchange. */
    private void stop() {
      exchange.cancel(true);
      PlainReads.Exchange px = plainExchange;
      if (px != null) {
        px.abort();
      }
      CompletableFuture<?> f = clientExchange;
      if (f != null) {
        f.cancel(true);
      }
    }

    /** Waits up to {@code nanos} for the request to end; whether it did. */
    boolean awaitDone(long nanos) throws InterruptedException {
      try {
        answer.get(nanos, TimeUnit.NANOSECONDS);
      } catch (ExecutionException | CancellationException e) {
        // done, failed
      } catch (TimeoutException e) {
        return false;
      }
      return true;
    }

    /** Cancels the request: another one answered first, or the caller gave up. No more of its bytes are written. */
    void abandon() {
      abandoned = true;
      fence();
      stop();
    }

    /** Stops the request's writes into its target: it failed or lost, and another may write there now. */
    void fence() {
      if (target != null) {
        target.fence();
      }
    }
  }

  /**
   * Starts a request: the first of a call ({@code waitForSlot}: it waits for a slot, and writes into the call's
   * buffer) or a hedge (its slot already taken; it writes into a buffer of its own). With {@code inline}, a request on
   * a plain connection runs to its end in the calling thread before this returns.
   *
   * @throws InterruptedIOException if interrupted while waiting for a slot
   */
  private Attempt start(Server s, Call call, boolean waitForSlot, boolean inline) throws IOException {
    if (mismatch != null) {
      throw mismatch;
    }
    if (!s.identified && call != IDENTIFY) {
      identify(s);
    }
    if (waitForSlot) {
      try {
        if (!s.slots.tryAcquire(settings.requestTimeout().toNanos(), TimeUnit.NANOSECONDS)) {
          throw new IOException(s + ": all " + settings.maxRequests() + " request slots stayed busy for "
              + settings.requestTimeout().toMillis() + " ms");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        InterruptedIOException io = new InterruptedIOException("interrupted while waiting for a request slot of " + s);
        io.initCause(e);
        throw io;
      }
    }
    try {
      return new Attempt(s, call, waitForSlot, inline);
    } catch (RejectedExecutionException e) {
      s.slots.release();
      throw new IllegalStateException("HTTP store " + settings.describe() + " is closed", e);
    }
  }

  /** Books a failed attempt against its server (marking it down where the failure says so); returns the cause. */
  private Throwable failed(Attempt a, Throwable t) {
    a.fence();
    if (t instanceof CompletionException && t.getCause() != null) {
      t = t.getCause();
    }
    if (a.timedOut) {
      t = new IOException("no answer within " + settings.requestTimeout().toMillis() + " ms (request_timeout_ms)", t);
    }
    if (a.abandoned) {
      return t;
    }
    if (t instanceof ServerError se && se.busy) {
      busy.set();
      return t;
    }
    a.server.failures.incrementAndGet();
    long wait = t instanceof ServerError se ? Math.max(0, se.retryAfterMillis) : 0;
    retryAfter.set(retryAfter.get() < 0 ? wait : Math.min(retryAfter.get(), wait));
    boolean serverFault = !(t instanceof ServerError se) || (!se.busy && (se.status == 502 || se.status == 503
        || se.status == 504));
    if (serverFault && !(t instanceof InvalidInputException) && !(t instanceof AnswerRejected)) {
      markDown(a.server, t);
    }
    return t;
  }

  /** An answer that failed its call's check: the server answered, but not what was asked. */
  static final class AnswerRejected extends IOException {
    AnswerRejected(String message) {
      super(message);
    }
  }

  /** Whether the request surely never reached the server. */
  static boolean notSent(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof ConnectException || c instanceof HttpConnectTimeoutException
          || c instanceof UnresolvedAddressException) {
        return true;
      }
    }
    return false;
  }

  private static String describe(Throwable t) {
    if (t instanceof ServerError) {
      return t.getMessage();
    }
    String m = t.getMessage();
    if (t.getCause() != null && (m == null || m.isBlank())) {
      return describe(t.getCause());
    }
    return t.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + m);
  }

  /**
   * The error of a call every server failed, each failure said once with how often it happened: the rounds of retries
   * repeated the same server's same answer, three times a server (a store gone behind its server filled the screen
   * with one sentence said three times).
   */
  private IOException allFailed(Call call, List<String> failures) {
    Map<String, Integer> times = new LinkedHashMap<>();
    failures.forEach(f -> times.merge(f, 1, Integer::sum));
    List<String> said = new ArrayList<>(times.size());
    times.forEach((f, n) -> said.add(n == 1 ? f : f + " (" + n + " times)"));
    return new IOException("cannot " + call.what() + " at " + settings.describe() + ": every server failed ("
        + String.join("; ", said) + ")");
  }

  // ---------------------------------------------------------------- balancing and hedging

  /** The next server for a balanced request among those not tried yet; servers that are up first. */
  private Server pick(Set<Server> tried) {
    List<Server> candidates = new ArrayList<>();
    for (Server s : servers) {
      if (!tried.contains(s) && !s.isDown()) {
        candidates.add(s);
      }
    }
    if (candidates.isEmpty()) {
      for (Server s : servers) {
        if (!tried.contains(s)) {
          return s;
        }
      }
      return null;
    }
    int n = servers.size();
    switch (settings.balance()) {
      case RANDOM:
        return candidates.get(ThreadLocalRandom.current().nextInt(candidates.size()));
      case ROUND_ROBIN: {
        long t = turn.getAndIncrement();
        for (int i = 0; i < n; i++) {
          Server s = servers.get((int) ((t + i) % n));
          if (candidates.contains(s)) {
            return s;
          }
        }
        return candidates.get(0);
      }
      default: {
        int start = (int) (turn.getAndIncrement() % candidates.size());
        Server best = null;
        for (int i = 0; i < candidates.size(); i++) {
          Server s = candidates.get((start + i) % candidates.size());
          if (best == null || s.outstanding.get() < best.outstanding.get()) {
            best = s;
          }
        }
        return best;
      }
    }
  }

  /**
   * How long a chunk read runs before it is hedged: the lowest p95 of the servers that are up (each over its last
   * {@value LatencyWindow#SIZE} reads), at least {@code hedge_floor_ms}; while no server has {@value
   * LatencyWindow#MIN_SAMPLES} reads yet, ten times the floor.
   */
  long hedgeDelayNanos() {
    long floor = settings.hedgeFloor().toNanos();
    long best = -1;
    for (Server s : servers) {
      long p = s.isDown() ? -1 : s.latencies.p95();
      if (p >= 0 && (best < 0 || p < best)) {
        best = p;
      }
    }
    return best < 0 ? floor * 10 : Math.max(floor, best);
  }

  // ---------------------------------------------------------------- store identity

  /**
   * Reads the store id of every server that answers, all at once, so that servers over different stores are refused
   * before anything is read from any of them; servers that do not answer are checked before their first request.
   *
   * @throws StoreMismatchException if two servers report different store ids
   */
  void identifyAll() throws IOException {
    List<Attempt> started = new ArrayList<>();
    for (Server s : servers) {
      try {
        started.add(start(s, IDENTIFY, true, false));
      } catch (InterruptedIOException e) {
        started.forEach(Attempt::abandon);
        throw e;
      } catch (IOException e) {
        LOG.debug("HTTP store server {} not identified yet: {}", s, e.getMessage());
      }
    }
    long deadline = System.nanoTime() + settings.connectTimeout().toNanos();
    for (int i = 0; i < started.size(); i++) {
      try {
        admit(started.get(i), deadline);
      } catch (StoreMismatchException | InterruptedIOException e) {
        started.subList(i + 1, started.size()).forEach(Attempt::abandon);
        throw e;
      } catch (IOException e) {
        LOG.debug("HTTP store server {} not identified yet: {}", started.get(i).server, e.getMessage());
      }
    }
  }

  /**
   * Reads a server's store id from its description and checks it against the one the other servers reported. A
   * server that answers other than 200 stays unidentified (the request it was about to get fails as it would have).
   *
   * @throws StoreMismatchException if it reports another store id than the other servers
   * @throws IOException if the server gives no answer within the connect timeout (it is then booked as failed)
   */
  private void identify(Server s) throws IOException {
    admit(start(s, IDENTIFY, true, false), System.nanoTime() + settings.connectTimeout().toNanos());
  }

  /**
   * Waits for a description request until {@code deadline} (a hung server must not hold a request, which would
   * otherwise be hedged, for the whole request timeout) and admits its server by the store id in it.
   */
  private void admit(Attempt a, long deadline) throws IOException {
    Answer answer;
    try {
      if (!a.awaitDone(Math.max(0, deadline - System.nanoTime()))) {
        Throwable t = failed(a, new IOException("no description of its store within "
            + settings.connectTimeout().toMillis() + " ms (connect_timeout_ms)"));
        a.abandon();
        throw new IOException(a.server + ": " + describe(t), t);
      }
      answer = a.answer.get();
    } catch (ExecutionException | CancellationException e) {
      Throwable t = failed(a, e.getCause() != null ? e.getCause() : e);
      throw new IOException(a.server + ": " + describe(t), t);
    } catch (InterruptedException e) {
      a.abandon();
      Thread.currentThread().interrupt();
      throw interrupted(IDENTIFY, e);
    }
    if (answer.status() != 200) {
      return;
    }
    JsonNode id;
    try {
      id = io.ferry.limits.Limits.jsonMapper().readTree(answer.body());
    } catch (IOException e) {
      return;
    }
    admit(a.server, id != null && id.path("id").isTextual() ? id.path("id").asText() : null);
  }

  private synchronized void admit(Server s, String id) throws StoreMismatchException {
    if (mismatch != null) {
      throw mismatch;
    }
    if (id == null) {
      if (toldNoId.compareAndSet(false, true)) {
        notices.accept("HTTP store " + settings.describe() + ": " + s + " does not report its store's id (a server"
            + " older than store ids), so Ferry cannot check that it serves the same store as the others");
      }
    } else if (storeId == null) {
      storeId = id;
    } else if (!storeId.equals(id)) {
      StringBuilder who = new StringBuilder();
      boolean others = false;
      for (Server o : servers) {
        String oid = o == s ? id : o.identified ? o.storeId : null;
        if (oid != null) {
          who.append(who.length() == 0 ? "" : ", ").append(o).append(" serves store ").append(oid);
          others |= o != s;
        }
      }
      // no other server answers now: the store's servers served another store before (one restarted over another)
      mismatch = new StoreMismatchException(others ? "the servers of " + settings.describe() + " do not serve one"
          + " store: " + who + "; list only servers started over one store (a copy made with 'ferry copy' is another"
          + " store)" : s + " serves store " + id + " now, where the servers of this URI served store " + storeId
          + " before (was it started again over another store?); nothing more is read from it in this process");
      throw mismatch;
    }
    s.storeId = id;
    s.identified = true;
  }

  // ---------------------------------------------------------------- down and up

  private void markDown(Server s, Throwable why) {
    if (closed || !s.down.compareAndSet(false, true)) {
      return;
    }
    s.timesDown.incrementAndGet();
    s.identified = false;
    LOG.debug("HTTP store server {} marked down: {}", s, describe(why));
    s.probeDelay = settings.probeMin();
    scheduleProbe(s);
  }

  private void markUp(Server s) {
    if (s.down.compareAndSet(true, false)) {
      LOG.debug("HTTP store server {} is up again", s);
    }
  }

  private void scheduleProbe(Server s) {
    try {
      timers.schedule(() -> probe(s), s.probeDelay.toNanos(), TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException e) {
      // closed
    }
  }

  /**
   * Asks a server marked down whether it answers ({@code HEAD /v1/store}, within the connect timeout): over {@code
   * http://} on a plain connection in a reader thread, as reads go, so that probing never makes the JDK client.
   */
  private void probe(Server s) {
    if (closed || !s.isDown()) {
      return;
    }
    List<String> headers = settings.token() == null ? List.of()
        : List.of("Authorization", "Bearer " + settings.token());
    CompletableFuture<Integer> status = new CompletableFuture<>();
    if (PlainReads.eligible(s.base, headers)) {
      String prefix = s.base.getRawPath() == null ? "" : s.base.getRawPath();
      PlainReads.Exchange px = plain.exchange(s.base, "HEAD", prefix + API, headers, null, 0);
      try {
        ScheduledFuture<?> timer = timers.schedule(px::abort, settings.connectTimeout().toNanos(),
            TimeUnit.NANOSECONDS);
        status.whenComplete((r, t) -> timer.cancel(false));
        readers.execute(() -> {
          try {
            PlainReads.Raw raw = px.run();
            status.complete(raw == PlainReads.UNUSUAL ? 200 : raw.status());
          } catch (Throwable t) {
            status.completeExceptionally(t);
          }
        });
      } catch (RejectedExecutionException e) {
        return; // closed
      }
    } else {
      HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.base + API))
          .method("HEAD", HttpRequest.BodyPublishers.noBody()).timeout(settings.connectTimeout());
      for (int i = 0; i + 1 < headers.size(); i += 2) {
        b.header(headers.get(i), headers.get(i + 1));
      }
      try {
        client().sendAsync(b.build(), HttpResponse.BodyHandlers.discarding()).whenComplete((r, t) -> {
          if (r != null) {
            status.complete(r.statusCode());
          } else {
            status.completeExceptionally(t);
          }
        });
      } catch (RuntimeException e) {
        return;
      }
    }
    status.whenComplete((code, t) -> {
      if (code != null && code < 500) {
        markUp(s);
      } else if (!closed) {
        Duration next = s.probeDelay.multipliedBy(2);
        s.probeDelay = next.compareTo(settings.probeMax()) > 0 ? settings.probeMax() : next;
        scheduleProbe(s);
      }
    });
  }

  @Override
  public void close() {
    closed = true;
    timers.shutdownNow();
    readers.shutdownNow();
    plain.close();
    executor.shutdownNow();
  }
}
