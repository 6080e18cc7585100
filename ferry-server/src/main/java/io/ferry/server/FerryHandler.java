package io.ferry.server;

import io.ferry.error.ConflictException;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.CorruptRefException;
import io.ferry.error.InvalidInputException;
import io.ferry.error.MissingObjectException;
import io.ferry.error.NotFoundException;
import io.ferry.server.auth.Access;
import io.ferry.server.auth.ModelSuggestions;
import io.ferry.server.auth.TokenFile;
import io.ferry.store.RefStore;
import io.ferry.server.hf.HfApi;
import io.ferry.server.http.CrossOrigin;
import io.ferry.server.http.EarlyBodies;
import io.ferry.server.http.Exchange;
import io.ferry.server.http.HttpError;
import io.ferry.server.http.MemoryBudget;
import io.ferry.server.http.Route;
import io.ferry.server.web.WebUi;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's one handler: authenticates the request, routes it by its first path segments to the store protocol,
 * the model API or the Hugging Face endpoint, and turns failures into JSON errors (a failure after the response
 * started closes the connection, so a client never takes a truncated body for a whole one). Handlers run in blocking
 * style on Jetty's worker threads; a small request body is read before, without a thread ({@link EarlyBodies}).
 */
final class FerryHandler extends Handler.Abstract {
  /** Request attribute holding who made the request, for the access log. */
  static final String WHO = "ferry.who";
  /** Largest unread request body read and dropped before an error answer over HTTP/2 (see Exchange). */
  static final long DRAIN_LIMIT = 16 << 20;
  /** The Hugging Face Hub's {@code X-Error-Message} for a token it does not take. */
  static final String INVALID_CREDENTIALS = "Invalid credentials in Authorization header";
  private static final Logger LOG = LoggerFactory.getLogger(FerryHandler.class);

  private final TokenFile tokens;
  private final StoreApi store;
  private final List<Route> routes;
  private final WebUi web;
  private final RefStore refs;
  private final MemoryBudget budget;
  private final EarlyBodies early;
  private final String listenHost;
  private final CrossOrigin crossOrigin;

  /**
   * @param listenHost the host the server listens on, which a development server also answers requests for
   * @param crossOrigin the origins whose pages may call the server from a browser
   */
  FerryHandler(TokenFile tokens, StoreApi store, List<Route> routes, WebUi web, RefStore refs, MemoryBudget budget,
      EarlyBodies early, String listenHost, CrossOrigin crossOrigin) {
    this.listenHost = listenHost;
    this.crossOrigin = crossOrigin;
    this.budget = budget;
    this.early = early;
    this.refs = refs;
    this.tokens = tokens;
    this.store = store;
    this.routes = List.copyOf(routes);
    this.web = web;
  }

  @Override
  public boolean handle(Request request, Response response, Callback callback) {
    Exchange ex = new Exchange(request, response, budget);
    if (!EarlyBodies.wanted(request)) {
      try (ex) {
        serve(ex, request, response, callback);
      }
      return true;
    }
    // a small body is read before the handler runs, so that one arriving slowly holds no worker thread
    early.read(ex, () -> {
      try (ex) {
        serve(ex, request, response, callback);
      }
    });
    return true;
  }

  private void serve(Exchange ex, Request request, Response response, Callback callback) {
    try {
      checkTransferCodings(ex);
      checkContentCodings(ex);
      ex.checkEarlyBody();
      if (tokens == null) {
        checkDevelopmentHost(ex);
      }
      if (crossOrigin.answer(ex)) {
        callback.succeeded();
        return;
      }
      // only the Hugging Face routes take an encoded '/' (Route.takesEncodedSlashes); the others see ex.segments()
      List<String> segs = ex.segmentsKeepingEncodedSlashes();
      if (segs.size() == 2 && segs.get(0).equals("v1") && segs.get(1).equals("health")) {
        ex.json(200, Exchange.JSON.createObjectNode().put("status", "ok"));
        callback.succeeded();
        return;
      }
      if (WebUi.claims(segs)) {
        web(ex, request);
        callback.succeeded();
        return;
      }
      ex.access(authenticate(ex));
      request.setAttribute(WHO, ex.who());
      if (!segs.isEmpty() && segs.get(0).equals("v1")) {
        store.checkStoreId(ex);
      }
      if (segs.size() >= 2 && segs.get(0).equals("v1") && segs.get(1).equals("store")) {
        store.handle(ex, ex.segments().subList(2, segs.size()));
      } else if (!route(ex)) {
        throw HttpError.notFound("no such resource: " + Exchange.clip(ex.rawPath()));
      }
      callback.succeeded();
    } catch (HttpError e) {
      fail(ex, response, callback, e, null);
    } catch (InvalidInputException | IllegalArgumentException e) {
      fail(ex, response, callback, new HttpError(400, "bad-request", e.getMessage()), e);
    } catch (MissingObjectException e) {
      fail(ex, response, callback, missing(e), e);
    } catch (NotFoundException e) {
      fail(ex, response, callback, notFound(ex, e), e);
    } catch (ConflictException e) {
      fail(ex, response, callback, new HttpError(409, "conflict", e.getMessage()), e);
    } catch (CorruptRefException e) {
      // stored data going bad: an error in the server's log with where it is; to the client the ref, the entry and
      // the defect, so that it raises the error the store raised, not the server's paths (docs/http-api.md)
      LOG.error("integrity failure serving {}: {}", request.getHttpURI().getPath(), e.getMessage());
      String defect = String.valueOf(ServerPaths.hidden(store.backend(), e.defect()));
      fail(ex, response, callback, new HttpError(500, "corrupt", "log of ref '" + e.ref() + "' is damaged at entry "
          + e.entry() + ": " + defect, Map.of("ref", e.ref(), "entry", e.entry(), "defect", defect)), e);
    } catch (CorruptObjectException e) {
      LOG.error("integrity failure serving {}: {}", request.getHttpURI().getPath(), e.getMessage());
      String object = String.valueOf(e.id());
      String defect = String.valueOf(ServerPaths.hidden(store.backend(), e.why()));
      fail(ex, response, callback, new HttpError(500, "corrupt", "object " + object + " is corrupt: " + defect,
          Map.of("object", object, "defect", defect)), e);
    } catch (IOException e) {
      fail(ex, response, callback, new HttpError(500, "io", String.valueOf(ServerPaths.hidden(store.backend(),
          e.getMessage()))), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      fail(ex, response, callback, new HttpError(503, "shutting-down", "the server is stopping"), e);
    } catch (RuntimeException e) {
      LOG.warn("failure serving {}", request.getHttpURI().getPath(), e);
      fail(ex, response, callback, new HttpError(500, "internal", String.valueOf(e)), e);
    }
  }

  /**
   * A page of the store browser: the same tokens as the API, from the Authorization header or the login cookie; a
   * request with neither (or a token that is not valid) gets the login page. Errors are HTML pages.
   */
  private void web(Exchange ex, Request request) throws HttpError, IOException, InterruptedException {
    boolean byBearer = false;
    if (tokens == null) {
      ex.access(Access.development());
    } else {
      String auth = authorization(ex);
      Optional<Access> a = Optional.empty();
      if (auth != null && auth.regionMatches(true, 0, "Bearer ", 0, 7)) {
        a = checkToken(auth.substring(7).trim());
        byBearer = a.isPresent();
      } else if (auth == null) {
        String cookie = WebUi.cookieToken(ex);
        if (cookie != null) {
          a = checkToken(cookie);
        }
      }
      a.ifPresent(ex::access);
    }
    request.setAttribute(WHO, ex.who());
    try {
      web.handle(ex, byBearer);
    } catch (HttpError e) {
      webError(ex, e);
    } catch (InvalidInputException | IllegalArgumentException e) {
      webError(ex, new HttpError(400, "bad-request", e.getMessage()));
    } catch (MissingObjectException e) {
      webError(ex, missing(e));
    } catch (NotFoundException e) {
      webError(ex, notFound(ex, e));
    } catch (ConflictException e) {
      webError(ex, new HttpError(409, "conflict", e.getMessage()));
    }
  }

  /**
   * A not-found's 404, suggesting only models the request may read ({@link ModelSuggestions}); a local store is named
   * as {@code <store>} ({@link ServerPaths}: "is no longer in" gave the server's path to it).
   */
  private HttpError notFound(Exchange ex, NotFoundException e) {
    return new HttpError(404, "not-found", ModelSuggestions.forAccess(ServerPaths.hidden(store.backend(),
        e.getMessage()), ex.access(), refs));
  }

  /** A missing object's 404: its id; the store's description (a path on this machine) stays in the server. */
  private static HttpError missing(MissingObjectException e) {
    return new HttpError(404, "not-found", "object " + e.id() + " is missing from the server's store");
  }

  /** An error on a page as an HTML page; once the page started, only closing the connection can tell. */
  private static void webError(Exchange ex, HttpError e) throws HttpError, IOException {
    if (ex.committed()) {
      throw e;
    }
    clearForError(ex.response());
    ex.drainOrClose(DRAIN_LIMIT);
    WebUi.error(ex, e);
  }

  /** Whether a failure is the client's going away in the middle of an answer (a killed pull, a lost hedge). */
  private static boolean clientWentAway(Throwable cause) {
    for (Throwable t = cause; t != null; t = t.getCause()) {
      if (t instanceof org.eclipse.jetty.io.EofException || t instanceof java.nio.channels.ClosedChannelException) {
        return true;
      }
    }
    return false;
  }

  private static void clearForError(Response response) {
    response.getHeaders().remove(HttpHeader.CONTENT_LENGTH);
    response.getHeaders().remove(HttpHeader.CONTENT_TYPE);
    response.getHeaders().remove(HttpHeader.CONTENT_DISPOSITION);
    response.getHeaders().remove(HttpHeader.ETAG);
    response.getHeaders().remove(HttpHeader.CACHE_CONTROL);
  }

  private boolean route(Exchange ex) throws HttpError, IOException, InterruptedException {
    boolean slash = ex.hasEncodedSlash();
    for (Route r : routes) {
      if ((!slash || r.takesEncodedSlashes()) && r.handle(ex)) {
        return true;
      }
    }
    ex.segments(); // 400 for an encoded '/' that no route took
    return false;
  }

  /**
   * Refuses with 501 a request body sent with a transfer coding other than {@code chunked} ({@code Transfer-Encoding:
   * gzip, chunked}), as HTTP/1.1 asks of a server that does not understand a coding (RFC 9112, section 6.1): Jetty
   * takes off the chunked coding alone, so the handler read the still-encoded bytes as the body, and stored them.
   */
  static void checkTransferCodings(Exchange ex) throws HttpError {
    for (String field : ex.headers(HttpHeader.TRANSFER_ENCODING.asString())) {
      for (String coding : field.split(",")) {
        String name = coding.trim();
        int semicolon = name.indexOf(';');
        name = semicolon < 0 ? name : name.substring(0, semicolon).trim();
        if (!name.isEmpty() && !name.equalsIgnoreCase("chunked")) {
          throw new HttpError(501, "not-implemented", ex.method() + " " + Exchange.clip(ex.rawPath())
              + ": transfer coding '" + Exchange.clip(name) + "' is not implemented; send the body with "
              + "Content-Length or 'Transfer-Encoding: chunked' alone");
        }
      }
    }
  }

  /**
   * Refuses with 415 a request body with a content coding ({@code Content-Encoding: gzip}): the server decodes none,
   * and stored a record sent so as its encoded bytes. The answer's {@code Accept-Encoding: identity} says what it
   * takes.
   */
  static void checkContentCodings(Exchange ex) throws HttpError {
    for (String field : ex.headers(HttpHeader.CONTENT_ENCODING.asString())) {
      for (String coding : field.split(",")) {
        String name = coding.trim();
        if (!name.isEmpty() && !name.equalsIgnoreCase("identity")) {
          ex.set(HttpHeader.ACCEPT_ENCODING, "identity");
          throw new HttpError(415, "unsupported-encoding", ex.method() + " " + Exchange.clip(ex.rawPath())
              + ": content coding '" + Exchange.clip(name) + "' is not taken; send the body unencoded");
        }
      }
    }
  }

  /**
   * Refuses a request to a development server (no tokens: every request may read, overwrite and delete) that is
   * addressed to a name other than this machine's. Listening on loopback keeps other machines out, but not a web page:
   * one whose name its owner points at 127.0.0.1 (DNS rebinding) is, to the browser that opened it, the same site as
   * the server, and may send it anything and read the answers. Its requests carry that name in {@code Host}, so the
   * host must be a loopback address, {@code localhost} (or a name under it, which browsers never look up), or the
   * host the server listens on.
   */
  private void checkDevelopmentHost(Exchange ex) throws HttpError {
    String host = ex.request().getHttpURI().getHost();
    if (host == null || host.isEmpty() || host.equalsIgnoreCase(listenHost) || isLoopbackName(host)) {
      return;
    }
    throw new HttpError(403, "forbidden", "a development server (no --tokens) answers only requests addressed to"
        + " localhost, a loopback address or its --listen host '" + listenHost + "', and this one was addressed to '"
        + Exchange.clip(host) + "' (a web page whose name points at this machine would be): give --tokens FILE to"
        + " serve requests for other names");
  }

  /** Whether {@code host} is {@code localhost}, a name under it, or a loopback address, without a DNS lookup. */
  static boolean isLoopbackName(String host) {
    String h = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    String lower = h.toLowerCase(java.util.Locale.ROOT);
    if (lower.equals("localhost") || lower.endsWith(".localhost")) {
      return true;
    }
    if (h.matches("127(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}")) {
      return true;
    }
    if (!h.contains(":")) {
      return false;
    }
    try {
      // a string with a ':' is parsed as an IPv6 literal or refused, never looked up
      return java.net.InetAddress.getByName(h).isLoopbackAddress();
    } catch (java.net.UnknownHostException e) {
      return false;
    }
  }

  private Access authenticate(Exchange ex) throws HttpError, IOException {
    if (tokens == null) {
      return Access.development();
    }
    String auth = authorization(ex);
    if (auth == null) {
      // on the Hugging Face paths, the Hub's answer to an anonymous request for a private repository, 401 RepoNotFound,
      // for which huggingface_hub raises RepositoryNotFoundError ("make sure you are authenticated") over http too
      throw new HttpError(401, HfApi.claims(ex.segmentsKeepingEncodedSlashes()) ? "RepoNotFound" : "unauthorized",
          ex.method() + " " + Exchange.clip(ex.rawPath()) + " needs a token: send Authorization: Bearer <token>");
    }
    // a token that was sent but is not valid: the Hub's words, for which huggingface_hub raises an authentication
    // error, where a 401 without them on a model's API path reads to it as "repository not found"
    ex.set("X-Error-Message", INVALID_CREDENTIALS);
    if (!auth.regionMatches(true, 0, "Bearer ", 0, 7)) {
      throw new HttpError(401, "unauthorized", "Authorization must be 'Bearer <token>'");
    }
    Optional<Access> a = checkToken(auth.substring(7).trim());
    if (a.isEmpty()) {
      throw new HttpError(401, "unauthorized", "the bearer token is not valid here (unknown or revoked)");
    }
    ex.response().getHeaders().remove("X-Error-Message");
    return a.get();
  }

  /**
   * The request's one Authorization field, or null. Several are refused: the first was taken and the others ignored,
   * so which token a request ran as depended on the order in which a client library and its caller, or a proxy, added
   * theirs (RFC 9110 makes it a field of one value).
   */
  private static String authorization(Exchange ex) throws HttpError {
    List<String> fields = ex.headers(HttpHeader.AUTHORIZATION.asString());
    if (fields.size() > 1) {
      throw HttpError.badRequest(ex.method() + " " + Exchange.clip(ex.rawPath()) + ": the request has " + fields.size()
          + " Authorization fields; send one (Authorization: Bearer <token>)");
    }
    return fields.isEmpty() ? null : fields.get(0);
  }

  /**
   * The access a token gives. A tokens file the server cannot read (cut short by an edit in progress, removed) refuses
   * the request with 503; the file's path and the parser's words go to the server's log, not to a client that sent
   * any token at all.
   */
  private Optional<Access> checkToken(String token) throws HttpError {
    try {
      return tokens.authenticate(token);
    } catch (IOException e) {
      LOG.error("cannot read the tokens file: {}", e.getMessage());
      throw new HttpError(503, "tokens-unreadable", "the server cannot read its tokens file now (an edit in progress,"
          + " or a damaged file: its log says which); retry later");
    }
  }

  private static void fail(Exchange ex, Response response, Callback callback, HttpError e, Throwable cause) {
    if (e.status() >= 500 && !clientWentAway(cause) && !(e.status() == 503 && e.code().equals("busy"))) {
      // the server's own failure (its store failed, say): named in the access log, the operator's only view of it; a
      // 503 busy is load shed by design (the memory budget or the room for small bodies was taken), not a failure
      ex.request().setAttribute(AccessLog.ERROR, cause != null && cause.getMessage() != null ? cause.getMessage()
          : e.getMessage());
    }
    if (response.isCommitted()) {
      // headers or bytes are out: only closing the connection tells the client the body is not whole
      ex.request().setAttribute(AccessLog.CUT_SHORT, Boolean.TRUE);
      callback.failed(cause != null ? cause : e);
      return;
    }
    try {
      response.getHeaders().remove(HttpHeader.CONTENT_LENGTH);
      response.getHeaders().remove(HttpHeader.CONTENT_RANGE);
      response.getHeaders().remove(HttpHeader.ETAG);
      response.getHeaders().remove(HttpHeader.CACHE_CONTROL);
      ex.drainOrClose(DRAIN_LIMIT);
      ex.error(e);
      callback.succeeded();
    } catch (IOException | RuntimeException write) {
      callback.failed(write);
    }
  }
}
