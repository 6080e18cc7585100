package io.ferry.server;

import io.ferry.server.auth.TokenFile;
import io.ferry.server.http.CrossOrigin;
import io.ferry.server.http.MemoryBudget;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * How a {@link FerryServer} listens and what it allows. Immutable; made with {@link #builder()}.
 *
 * @param host the address to listen on ({@code 127.0.0.1} by default)
 * @param port the port; 0 picks a free one ({@link FerryServer#uri()} tells which)
 * @param tokens the tokens file, or null for a development server (every request allowed, loopback only)
 * @param tlsCert a PEM certificate chain, or null for plain HTTP
 * @param tlsKey the PEM (PKCS#8) private key of {@code tlsCert}
 * @param accessLog where one line per request goes
 * @param maxObjectSize the largest object a PUT may upload (413 above it)
 * @param idleTimeout how long a connection may send and take nothing before it is closed
 * @param memoryBudget bytes of heap that requests holding whole objects may use together
 * @param maxThreads the most worker threads serving requests at once
 * @param minHeldRate the slowest, in bytes per second, a transfer holding a share of the memory budget may go once it
 *     took 5 s (a body is then 408, a response cut off, and the share given back)
 * @param crossOrigin the origins whose web pages may call the server from a browser ({@link CrossOrigin}); every
 *     origin ({@code *}) only with tokens
 * @param publicUrl the server as its clients reach it ({@code https://models.example.com}, behind a proxy that ends
 *     TLS), for the absolute URLs the server builds; null to build them from each request. An http or https URL with
 *     a host and no path (the server's redirects and pages' links are paths from the root), user information, query
 *     or fragment; no final '/'
 * @param budgetWait how long a request waits for its share of the memory budget before it is answered 503
 *     {@code busy} (a quarter of the worker threads at most wait at once, {@link MemoryBudget}; the rest stay free for
 *     requests that need no memory)
 */
public record ServerOptions(String host, int port, TokenFile tokens, Path tlsCert, Path tlsKey,
    Consumer<String> accessLog, long maxObjectSize, Duration idleTimeout, long memoryBudget, int maxThreads,
    long minHeldRate, CrossOrigin crossOrigin, String publicUrl, Duration budgetWait) {
  /** The default bound of an upload: a 64 MiB chunk or a 128 MiB snapshot, framed, with room to spare. */
  public static final long DEFAULT_MAX_OBJECT_SIZE = 129L << 20;
  /** The smallest bound of an upload a server accepts. */
  public static final long MIN_MAX_OBJECT_SIZE = 1024;
  /** The default wait of a request for its share of the memory budget. */
  public static final Duration DEFAULT_BUDGET_WAIT = Duration.ofSeconds(30);

  public ServerOptions {
    Objects.requireNonNull(host, "host");
    Objects.requireNonNull(accessLog, "accessLog");
    Objects.requireNonNull(idleTimeout, "idleTimeout");
    Objects.requireNonNull(crossOrigin, "crossOrigin");
    Objects.requireNonNull(budgetWait, "budgetWait");
    if (crossOrigin.allowsAny() && tokens == null) {
      // every request to a development server is allowed, so every web page its user opens could read and change
      // the store through the browser (the Host check does not stop a page that calls localhost by name)
      throw new IllegalArgumentException("a development server (no tokens) cannot let pages of every origin (*) call"
          + " it: any web page opened on this machine could read and change the store; name the origins, or give"
          + " tokens");
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("port " + port + " is outside 0..65535");
    }
    if ((tlsCert == null) != (tlsKey == null)) {
      throw new IllegalArgumentException("TLS needs both a certificate and a key (got "
          + (tlsCert == null ? "only a key" : "only a certificate") + ")");
    }
    if (maxObjectSize < MIN_MAX_OBJECT_SIZE) {
      throw new IllegalArgumentException("maximum object size " + maxObjectSize + " is below " + MIN_MAX_OBJECT_SIZE
          + " bytes");
    }
    if (idleTimeout.isNegative() || idleTimeout.isZero()) {
      throw new IllegalArgumentException("idle timeout " + idleTimeout + " must be positive");
    }
    if (budgetWait.isNegative() || budgetWait.isZero()) {
      throw new IllegalArgumentException("memory budget wait " + budgetWait + " must be positive");
    }
    if (memoryBudget < 1 << 20) {
      throw new IllegalArgumentException("memory budget " + memoryBudget + " is below 1 MiB");
    }
    if (maxThreads < 8) {
      throw new IllegalArgumentException("max threads " + maxThreads + " is below 8");
    }
    if (publicUrl != null) {
      publicUrl = checkPublicUrl(publicUrl);
    }
    if (minHeldRate < 1 || minHeldRate > MemoryBudget.MAX_MIN_HELD_RATE) {
      throw new IllegalArgumentException("minimum rate of a transfer holding memory " + minHeldRate
          + " bytes per second is outside 1.." + MemoryBudget.MAX_MIN_HELD_RATE);
    }
  }

  /**
   * A public URL checked ({@link #publicUrl}) and without its final '/'.
   *
   * @throws IllegalArgumentException naming the URL and what is wrong with it; one holding user information (a
   *     password, which the server would send to every client) is refused without being repeated
   */
  public static String checkPublicUrl(String url) {
    URI u;
    try {
      u = new URI(url);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("'" + shown(url) + "' is not a URL: " + e.getReason());
    }
    if (u.getRawUserInfo() != null) {
      throw new IllegalArgumentException("the public URL must not hold user information (user:password@): the"
          + " server would send it to every client");
    }
    String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw new IllegalArgumentException("'" + shown(url) + "' must begin with http:// or https://");
    }
    if (u.getHost() == null) {
      throw new IllegalArgumentException("'" + shown(url) + "' has no host");
    }
    if (!u.getRawPath().isEmpty() && !u.getRawPath().equals("/")) {
      throw new IllegalArgumentException("'" + shown(url) + "' must not have a path: the server's redirects and the"
          + " store browser's links are paths from the root, so it must be served at the root of its host");
    }
    if (u.getRawQuery() != null || u.getRawFragment() != null) {
      throw new IllegalArgumentException("'" + shown(url) + "' must not have a "
          + (u.getRawQuery() != null ? "query (?...)" : "fragment (#...)") + ": the server appends its paths to it");
    }
    return url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
  }

  /**
   * {@code url} without user information, for messages: a URL that does not parse, or whose authority is not a host
   * and port, still holds the password its user information may have.
   */
  private static String shown(String url) {
    int start = url.indexOf("://");
    if (start < 0) {
      return url;
    }
    int end = url.length();
    for (char c : new char[] {'/', '?', '#'}) {
      int i = url.indexOf(c, start + 3);
      end = i < 0 ? end : Math.min(end, i);
    }
    int at = url.lastIndexOf('@', end - 1);
    return at < start + 3 ? url : url.substring(0, start + 3) + url.substring(at + 1);
  }

  /** Whether this is a development server (no tokens). */
  public boolean development() {
    return tokens == null;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Builds {@link ServerOptions}; {@link #build()} checks the values. */
  public static final class Builder {
    private String host = "127.0.0.1";
    private int port = 8080;
    private TokenFile tokens;
    private Path tlsCert;
    private Path tlsKey;
    private Consumer<String> accessLog = line -> { };
    private long maxObjectSize = DEFAULT_MAX_OBJECT_SIZE;
    private Duration idleTimeout = Duration.ofSeconds(30);
    private long memoryBudget = Math.max(16L << 20, Runtime.getRuntime().maxMemory() / 3);
    private int maxThreads = 200;
    private long minHeldRate = MemoryBudget.DEFAULT_MIN_HELD_RATE;
    private CrossOrigin crossOrigin = CrossOrigin.none();
    private String publicUrl;
    private Duration budgetWait = DEFAULT_BUDGET_WAIT;

    private Builder() {}

    public Builder listen(String host, int port) {
      this.host = host;
      this.port = port;
      return this;
    }

    public Builder tokens(TokenFile tokens) {
      this.tokens = tokens;
      return this;
    }

    public Builder tls(Path cert, Path key) {
      this.tlsCert = cert;
      this.tlsKey = key;
      return this;
    }

    public Builder accessLog(Consumer<String> log) {
      this.accessLog = log;
      return this;
    }

    public Builder maxObjectSize(long bytes) {
      this.maxObjectSize = bytes;
      return this;
    }

    public Builder idleTimeout(Duration d) {
      this.idleTimeout = d;
      return this;
    }

    public Builder memoryBudget(long bytes) {
      this.memoryBudget = bytes;
      return this;
    }

    public Builder maxThreads(int n) {
      this.maxThreads = n;
      return this;
    }

    /** The slowest a transfer holding a share of the memory budget may go, in bytes per second. */
    public Builder minHeldRate(long bytesPerSecond) {
      this.minHeldRate = bytesPerSecond;
      return this;
    }

    /** The origins whose web pages may call the server from a browser (none by default). */
    public Builder crossOrigin(CrossOrigin origins) {
      this.crossOrigin = origins;
      return this;
    }

    /** The server as its clients reach it, for the absolute URLs it builds (null, the default: from each request). */
    public Builder publicUrl(String url) {
      this.publicUrl = url;
      return this;
    }

    public Builder budgetWait(Duration d) {
      this.budgetWait = d;
      return this;
    }

    public ServerOptions build() {
      return new ServerOptions(host, port, tokens, tlsCert, tlsKey, accessLog, maxObjectSize, idleTimeout,
          memoryBudget, maxThreads, minHeldRate, crossOrigin, publicUrl, budgetWait);
    }
  }
}
