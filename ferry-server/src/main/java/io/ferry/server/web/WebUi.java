package io.ferry.server.web;

import io.ferry.repo.Repository;
import io.ferry.server.auth.Access;
import io.ferry.server.http.Exchange;
import io.ferry.server.http.HttpError;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import org.eclipse.jetty.http.HttpHeader;

/**
 * The store browser: server-rendered HTML pages over the same core API the CLI and the JSON API use (docs/web.md).
 * It owns {@code /} and everything under {@code /ui/}:
 *
 * <ul>
 *   <li>{@code /}: the models the caller may read, filtered by name ({@code ?q=}), a page at a time ({@code ?page=}).
 *   <li>{@code /ui/models/{model}}: tags, the history as a graph (a page at a time, {@code ?after=ID}), ref logs.
 *   <li>{@code /ui/models/{model}/-/versions/{rev}}: one version's files, tensors, metadata and downloads;
 *       {@code /-/files/{id}/{path}} one file, {@code /-/archive/{id}} the whole version as a streamed tar;
 *       {@code /-/lineage/{rev}} the derivation graph around it, across models.
 *   <li>{@code /ui/diff?a=REF&b=REF}: two versions tensor by tensor, with the measured magnitude of each change.
 *   <li>{@code /ui/health}: stats and the last verify; admins run verify and gc ({@code POST /ui/admin/verify|gc},
 *       progress at {@code /ui/admin/job}).
 *   <li>{@code /ui/login}, {@code /ui/logout}, {@code /ui/static/*}.
 * </ul>
 *
 * <p>A model name with an org ({@code org/name}) is two path segments; a {@code -} segment (never part of a model
 * name) separates the model from the sub-page. Access is the API's: a Bearer header, or the same token held in an
 * HttpOnly, SameSite=Strict cookie set by the login form; every POST must come from this site (its {@code Origin}, or
 * failing that its {@code Referer}, names this server) unless it carries a Bearer header. Without a tokens file every
 * page is open, as the API is. Closing stops a running admin job's thread.
 */
public final class WebUi implements AutoCloseable {
  /** The cookie that holds the token after a login. */
  public static final String COOKIE = "ferry_token";

  /** Checks a token: the server's tokens file. */
  @FunctionalInterface
  public interface Authenticator {
    /** The access the token grants, or empty if it is unknown or revoked. */
    Optional<Access> authenticate(String token) throws IOException;
  }

  private final Repository repo;
  private final Authenticator tokens;
  private final ModelPages models;
  private final DiffPage diffs;
  private final LineagePage lineage;
  private final HealthPage health;
  private final AdminJobs jobs;
  private final URI publicUrl;

  /**
   * @param tokens the server's tokens, or null on a development server (every page open)
   * @param publicUrl the server as its clients reach it (behind a proxy that ends TLS), whose origin is this
   *     server's too, or null
   */
  public WebUi(Repository repo, WeightDiff diff, Authenticator tokens, String publicUrl) {
    this.repo = Objects.requireNonNull(repo, "repo");
    this.tokens = tokens;
    this.publicUrl = publicUrl == null ? null : URI.create(publicUrl);
    this.jobs = new AdminJobs(repo);
    this.models = new ModelPages(repo);
    this.diffs = new DiffPage(diff);
    this.lineage = new LineagePage(repo);
    this.health = new HealthPage(repo, jobs);
  }

  /** The second segments of the browser's paths under {@code /ui/}. */
  private static final java.util.Set<String> PAGES = java.util.Set.of("static", "login", "logout", "admin", "models",
      "diff", "health");

  /**
   * Whether the path (as segments) is the browser's: {@code /}, {@code /ui}, or {@code /ui/} followed by one of its
   * pages. Other paths under {@code /ui/} stay the Hugging Face endpoint's, so a model named {@code ui} or {@code
   * ui/NAME} still resolves there ({@code /ui/resolve/...}, {@code /ui/NAME/resolve/...}), except models named after a
   * page ({@code ui/models}...) whose {@code resolve} paths hold no {@code -} segment.
   */
  public static boolean claims(List<String> segs) {
    if (segs.isEmpty()) {
      return true;
    }
    if (!segs.get(0).equals("ui")) {
      return false;
    }
    if (segs.size() == 1) {
      return true;
    }
    boolean hf = segs.size() >= 5 && segs.get(2).equals("resolve") && !segs.contains("-");
    return PAGES.contains(segs.get(1)) && !hf;
  }

  /** The token the request carries in the login cookie, or null. */
  public static String cookieToken(Exchange ex) {
    for (String h : ex.headers("Cookie")) {
      for (String part : h.split(";")) {
        String p = part.trim();
        if (p.startsWith(COOKIE + "=")) {
          String v = p.substring(COOKIE.length() + 1);
          return v.isEmpty() ? null : v;
        }
      }
    }
    return null;
  }

  /**
   * Serves a browser page. {@code ex.access()} is who the request is from, or null when it carried no valid token
   * (the login page is then shown); {@code byBearer} tells a request authenticated by its Authorization header, which
   * a browser never adds on its own, from one authenticated by the cookie.
   */
  public void handle(Exchange ex, boolean byBearer) throws HttpError, IOException, InterruptedException {
    List<String> s = ex.segments();
    String method = ex.method();
    if (s.size() == 3 && s.get(1).equals("static")) {
      requireGet(ex);
      asset(ex, s.get(2));
      return;
    }
    if (method.equals("POST") && !byBearer) {
      sameOrigin(ex);
    }
    if (s.size() == 2 && s.get(1).equals("login")) {
      login(ex);
      return;
    }
    if (s.size() == 2 && s.get(1).equals("logout")) {
      if (!method.equals("POST")) {
        throw HttpError.methodNotAllowed(method, ex.rawPath(), "POST");
      }
      ex.set(HttpHeader.SET_COOKIE, cookie(ex, "", 0));
      redirect(ex, "/ui/login");
      return;
    }
    if (s.size() == 1) {
      redirect(ex, "/");
      return;
    }
    if (ex.access() == null) {
      Page.login(ex, 401, pathAndQuery(ex), ex.header(HttpHeader.AUTHORIZATION) != null || cookieToken(ex) != null
          ? "That token is not valid here (unknown or revoked): sign in again." : null);
      return;
    }
    if (s.size() == 3 && s.get(1).equals("admin")) {
      admin(ex, s.get(2));
      return;
    }
    requireGet(ex);
    if (s.isEmpty()) {
      models.list(ex);
    } else if (s.size() >= 3 && s.get(1).equals("models")) {
      modelPage(ex, s.subList(2, s.size()));
    } else if (s.size() == 2 && s.get(1).equals("diff")) {
      diffs.page(ex);
    } else if (s.size() == 2 && s.get(1).equals("health")) {
      health.page(ex);
    } else {
      throw HttpError.notFound("no such page: " + Exchange.clip(ex.rawPath()));
    }
  }

  private void modelPage(Exchange ex, List<String> rest) throws HttpError, IOException, InterruptedException {
    int dash = rest.indexOf("-");
    List<String> name = dash < 0 ? rest : rest.subList(0, dash);
    if (name.isEmpty() || name.size() > 2) {
      throw HttpError.notFound("no such page: " + Exchange.clip(ex.rawPath()));
    }
    String model = Page.model(String.join("/", name));
    ex.require(ex.access().canRead(model), "read access to model '" + model + "'");
    if (dash < 0) {
      models.model(ex, model);
      return;
    }
    List<String> sub = rest.subList(dash + 1, rest.size());
    if (sub.size() == 2 && sub.get(0).equals("versions")) {
      models.version(ex, model, sub.get(1));
    } else if (sub.size() == 2 && sub.get(0).equals("archive")) {
      models.archive(ex, model, sub.get(1));
    } else if (sub.size() >= 3 && sub.get(0).equals("files")) {
      models.file(ex, model, sub.get(1), String.join("/", sub.subList(2, sub.size())));
    } else if (sub.size() == 2 && sub.get(0).equals("lineage")) {
      lineage.page(ex, model, sub.get(1));
    } else {
      throw HttpError.notFound("no such page: " + Exchange.clip(ex.rawPath()));
    }
  }

  private void admin(Exchange ex, String what) throws HttpError, IOException, InterruptedException {
    if (what.equals("job")) {
      requireGet(ex);
      ex.require(ex.access().isAdmin(), "the admin scope");
      ex.set(HttpHeader.CACHE_CONTROL, "no-store");
      ex.json(200, jobs.state());
      return;
    }
    if (!ex.method().equals("POST")) {
      throw HttpError.methodNotAllowed(ex.method(), ex.rawPath(), "POST");
    }
    ex.require(ex.access().isAdmin(), "the admin scope");
    java.util.Map<String, String> form = form(ex);
    switch (what) {
      case "verify" -> jobs.verify(ex.access().who());
      case "gc" -> jobs.gc(ex.access().who(), AdminJobs.grace(form.getOrDefault("grace", "1h")),
          form.containsKey("dry-run"));
      default -> throw HttpError.notFound("no such admin action: " + Exchange.clip(what));
    }
    redirect(ex, "/ui/health");
  }

  private void login(Exchange ex) throws HttpError, IOException, InterruptedException {
    String next = safeNext(ex.query("next"));
    if (ex.method().equals("GET") || ex.method().equals("HEAD")) {
      if (tokens == null) {
        redirect(ex, next);
        return;
      }
      Page.login(ex, 200, next, null);
      return;
    }
    if (!ex.method().equals("POST")) {
      throw HttpError.methodNotAllowed(ex.method(), ex.rawPath(), "GET", "HEAD", "POST");
    }
    java.util.Map<String, String> form = form(ex);
    next = safeNext(form.getOrDefault("next", next));
    String token = form.getOrDefault("token", "").trim();
    if (tokens == null) {
      redirect(ex, next);
      return;
    }
    if (token.isEmpty() || token.length() > 512 || tokens.authenticate(token).isEmpty()) {
      Page.login(ex, 401, next, "That token is not valid here (unknown or revoked).");
      return;
    }
    ex.set(HttpHeader.SET_COOKIE, cookie(ex, token, -1));
    redirect(ex, next);
  }

  private String cookie(Exchange ex, String value, int maxAge) {
    boolean https = "https".equalsIgnoreCase(ex.request().getHttpURI().getScheme())
        || publicUrl != null && "https".equalsIgnoreCase(publicUrl.getScheme());
    return COOKIE + "=" + value + "; Path=/; HttpOnly; SameSite=Strict" + (https ? "; Secure" : "")
        + (maxAge >= 0 ? "; Max-Age=" + maxAge : "");
  }

  /** A local path to go back to after login: only {@code /...} (never {@code //host} or a scheme). */
  static String safeNext(String next) {
    if (next == null || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")
        || next.length() > 2048 || next.chars().anyMatch(c -> c < 0x21 || c == 0x7f)) {
      return "/";
    }
    return next;
  }

  private static String pathAndQuery(Exchange ex) {
    String q = ex.request().getHttpURI().getQuery();
    return ex.rawPath() + (q == null ? "" : "?" + q);
  }

  /**
   * Refuses a POST that a page of another site could have made: its {@code Origin} (or, when a browser sent none,
   * its {@code Referer}) must be this server's scheme, host and port, as the request names them or as the public URL
   * does (behind a proxy that ends TLS, the request's scheme is the proxy's).
   */
  private void sameOrigin(Exchange ex) throws HttpError {
    String origin = ex.header(HttpHeader.ORIGIN);
    String from = origin;
    if (from == null || from.equals("null")) {
      from = ex.header(HttpHeader.REFERER);
    }
    var uri = ex.request().getHttpURI();
    String scheme = uri.getScheme() == null ? "http" : uri.getScheme().toLowerCase(Locale.ROOT);
    int port = uri.getPort() > 0 ? uri.getPort() : (scheme.equals("https") ? 443 : 80);
    if (from != null) {
      try {
        URI o = URI.create(from);
        int oport = o.getPort() > 0 ? o.getPort() : ("https".equalsIgnoreCase(o.getScheme()) ? 443 : 80);
        if (scheme.equalsIgnoreCase(o.getScheme()) && uri.getHost() != null
            && uri.getHost().equalsIgnoreCase(o.getHost()) && port == oport) {
          return;
        }
        if (publicUrl != null && publicUrl.getScheme().equalsIgnoreCase(o.getScheme())
            && publicUrl.getHost().equalsIgnoreCase(o.getHost()) && oport == (publicUrl.getPort() > 0
            ? publicUrl.getPort() : "https".equalsIgnoreCase(publicUrl.getScheme()) ? 443 : 80)) {
          return;
        }
      } catch (IllegalArgumentException e) {
        // not a URI: refused below
      }
    }
    throw new HttpError(403, "cross-origin", "POST " + Exchange.clip(ex.rawPath()) + " must come from this site ("
        + scheme + "://" + uri.getHost() + ":" + port + "); its Origin is " + Exchange.clip(origin) + " and its"
        + " Referer " + Exchange.clip(ex.header(HttpHeader.REFERER)));
  }

  /** The urlencoded form of a POST (at most 8 KiB), the first value of each name. */
  private static java.util.Map<String, String> form(Exchange ex) throws HttpError, IOException, InterruptedException {
    java.util.Map<String, String> out = new java.util.LinkedHashMap<>();
    for (java.util.Map.Entry<String, String> e : ex.formBody(8 << 10)) {
      out.putIfAbsent(e.getKey(), e.getValue());
    }
    return out;
  }

  private static void requireGet(Exchange ex) throws HttpError {
    if (!ex.method().equals("GET") && !ex.method().equals("HEAD")) {
      throw HttpError.methodNotAllowed(ex.method(), ex.rawPath(), "GET", "HEAD");
    }
  }

  static void redirect(Exchange ex, String to) throws IOException {
    ex.set(HttpHeader.LOCATION, to);
    ex.set(HttpHeader.CACHE_CONTROL, "no-store");
    ex.empty(303);
  }

  private static void asset(Exchange ex, String name) throws HttpError, IOException {
    String type = switch (name) {
      case "ferry.css" -> "text/css; charset=utf-8";
      case "ferry.js" -> "text/javascript; charset=utf-8";
      default -> throw HttpError.notFound("no such asset: " + Exchange.clip(name));
    };
    byte[] b;
    try (InputStream in = WebUi.class.getResourceAsStream(name)) {
      if (in == null) {
        throw new IOException("asset " + name + " is missing from the jar (io/ferry/server/web/" + name + ")");
      }
      b = in.readAllBytes();
    }
    ex.response().setStatus(200);
    ex.set(HttpHeader.CONTENT_TYPE, type);
    ex.set(HttpHeader.CACHE_CONTROL, "max-age=3600");
    ex.set("X-Content-Type-Options", "nosniff");
    ex.bytes(b);
  }

  /** Renders an error as an HTML page (the browser's counterpart of the API's JSON errors). */
  public static void error(Exchange ex, HttpError e) throws IOException {
    if (e instanceof HttpError.MethodNotAllowed m) {
      ex.set(HttpHeader.ALLOW, m.allow());
    }
    Page.error(ex, e);
  }

  @Override
  public void close() {
    jobs.close();
  }

  static BufferedWriter writer(Exchange ex) {
    return new BufferedWriter(new OutputStreamWriter(ex.output(), StandardCharsets.UTF_8), 32 << 10);
  }

  Repository repo() {
    return repo;
  }
}
