package io.ferry.server.http;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;
import org.eclipse.jetty.http.HttpHeader;

/**
 * Which web pages of other origins may call the server from a browser (cross-origin resource sharing): none unless
 * the operator names them ({@code ferry serve --cors-origin}). A page of an allowed origin, such as one running
 * transformers.js with its remote host set to the server, may read the answers and the headers Hugging Face clients
 * read ({@link #EXPOSED}); its token goes in {@code Authorization}, which makes the browser ask first (a preflight
 * {@code OPTIONS}, answered here without a token). Credentials in the browser's sense (cookies) are never allowed, so
 * a page cannot act as a visitor logged in to the store browser: it needs a token of its own.
 */
public final class CrossOrigin {
  /** The response headers a page may read: those of ranges and entity tags, and those Hugging Face clients read. */
  static final String EXPOSED = "ETag, Content-Length, Content-Range, Accept-Ranges, Location, Link, X-Repo-Commit,"
      + " X-Linked-Etag, X-Linked-Size, X-Error-Code, X-Error-Message";
  static final String METHODS = "GET, HEAD, PUT, POST, DELETE";
  /** How long a browser may keep a preflight's answer, in seconds (Chromium keeps it at most 2 hours). */
  static final String MAX_AGE = "600";
  private static final Pattern TOKEN_LIST = Pattern.compile(
      "[!#$%&'*+.^_`|~0-9A-Za-z-]+(\\s*,\\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*");
  private static final Pattern SCHEME = Pattern.compile("[a-z][a-z0-9+.-]*");
  private static final CrossOrigin NONE = new CrossOrigin(Set.of(), false);

  private final Set<String> origins;
  private final boolean any;

  private CrossOrigin(Set<String> origins, boolean any) {
    this.origins = Set.copyOf(origins);
    this.any = any;
  }

  /** Allows no other origin (the default). */
  public static CrossOrigin none() {
    return NONE;
  }

  /**
   * Allows the origins given as a browser writes them ({@code https://app.example.com}, {@code
   * http://localhost:3000}), or every origin with {@code *}.
   *
   * @throws IllegalArgumentException naming an entry that is not an origin (a path, a query, user information, no
   *     scheme or host)
   */
  public static CrossOrigin of(List<String> entries) {
    Set<String> set = new LinkedHashSet<>();
    boolean any = false;
    for (String e : entries) {
      if (e.equals("*")) {
        any = true;
      } else {
        set.add(normalize(e));
      }
    }
    return set.isEmpty() && !any ? NONE : new CrossOrigin(set, any);
  }

  /** Whether every origin is allowed. */
  public boolean allowsAny() {
    return any;
  }

  /** Whether some origin is allowed. */
  public boolean allowsSome() {
    return any || !origins.isEmpty();
  }

  /** The origins allowed, as they are compared (lower case, no default port), for the server's start-up message. */
  public Set<String> origins() {
    return origins;
  }

  /**
   * An origin as browsers serialize it: a scheme, {@code ://}, a host and a port only when it is not the scheme's
   * default, in lower case.
   */
  static String normalize(String origin) {
    URI u;
    try {
      u = new URI(origin);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("'" + origin + "' is not an origin (scheme://host[:port]): " + e.getReason());
    }
    String scheme = u.getScheme() == null ? null : u.getScheme().toLowerCase(Locale.ROOT);
    if (scheme == null || !SCHEME.matcher(scheme).matches() || u.getRawAuthority() == null || u.getHost() == null) {
      throw new IllegalArgumentException("'" + origin + "' is not an origin: write it as a browser sends it,"
          + " scheme://host[:port] (https://app.example.com), or * for every origin");
    }
    if (u.getRawUserInfo() != null || !u.getRawPath().isEmpty() || u.getRawQuery() != null
        || u.getRawFragment() != null) {
      throw new IllegalArgumentException("'" + origin + "' is not an origin: an origin has no user, path (not even"
          + " a final '/'), query or fragment; write scheme://host[:port]");
    }
    int port = u.getPort();
    boolean dflt = port == -1 || scheme.equals("http") && port == 80 || scheme.equals("https") && port == 443;
    return scheme + "://" + u.getHost().toLowerCase(Locale.ROOT) + (dflt ? "" : ":" + port);
  }

  /**
   * Adds the headers that let a page of the request's origin read the answer, when the origin is allowed, and
   * answers a preflight. Returns whether the exchange was answered (a preflight: 204 for an allowed origin and
   * method); the caller then ends it.
   *
   * @throws HttpError 403 for a preflight from an origin not allowed, naming it and the option that would allow it;
   *     400 for a preflight asking for headers that are not a list of header names
   */
  public boolean answer(Exchange ex) throws HttpError, java.io.IOException {
    String origin = ex.header(HttpHeader.ORIGIN);
    if (!any && !origins.isEmpty()) {
      // answers differ by origin, also from an answer to a request without one: a cache in between must not hand
      // one origin's answer (or a script's, without the header) to a page of another
      ex.response().getHeaders().add(HttpHeader.VARY, "Origin");
    }
    if (origin == null) {
      return false;
    }
    boolean preflight = ex.method().equals("OPTIONS") && ex.header(HttpHeader.ACCESS_CONTROL_REQUEST_METHOD) != null;
    boolean allowed = any || origins.contains(origin.toLowerCase(Locale.ROOT));
    if (!allowed) {
      if (preflight) {
        throw new HttpError(403, "forbidden", "a page of origin '" + Exchange.clip(origin) + "' may not call this"
            + " server: " + (allowsSome() ? "it is not one of the origins" : "no origin is") + " allowed (ferry"
            + " serve --cors-origin ORIGIN)");
      }
      return false;
    }
    ex.set(HttpHeader.ACCESS_CONTROL_ALLOW_ORIGIN, any ? "*" : origin);
    if (!preflight) {
      ex.set(HttpHeader.ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
      return false;
    }
    String asked = ex.header(HttpHeader.ACCESS_CONTROL_REQUEST_HEADERS);
    if (asked != null && !asked.isBlank()) {
      if (!TOKEN_LIST.matcher(asked.trim()).matches()) {
        throw HttpError.badRequest("Access-Control-Request-Headers '" + Exchange.clip(asked) + "' is not a list of"
            + " header names");
      }
      ex.set(HttpHeader.ACCESS_CONTROL_ALLOW_HEADERS, asked.trim());
    }
    ex.set(HttpHeader.ACCESS_CONTROL_ALLOW_METHODS, METHODS);
    ex.set(HttpHeader.ACCESS_CONTROL_MAX_AGE, MAX_AGE);
    ex.response().getHeaders().add(HttpHeader.VARY, "Access-Control-Request-Method, Access-Control-Request-Headers");
    ex.empty(204);
    return true;
  }
}
