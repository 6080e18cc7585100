package io.ferry.server;

import io.ferry.error.InvalidInputException;
import io.ferry.repo.Repository;
import io.ferry.server.http.EarlyBodies;
import io.ferry.server.http.HeaderDeadline;
import io.ferry.server.http.StreamlessDeadline;
import io.ferry.server.http.Route;
import io.ferry.server.http.MemoryBudget;
import io.ferry.server.web.WebUi;
import io.ferry.server.web.WeightDiff;
import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.eclipse.jetty.alpn.server.ALPNServerConnectionFactory;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.http2.server.HTTP2ServerConnectionFactory;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.NetworkConnectionLimit;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * {@code ferry serve}: an HTTP server over one store, on embedded Jetty (HTTP/1.1 and HTTP/2; over TLS with ALPN when
 * given a certificate, else HTTP/1.1 and h2c). It serves the {@code /v1/store} protocol, the model API and the Hugging
 * Face-compatible read endpoint (docs/http-api.md), and the store browser at {@code /} (docs/web.md) and holds no state of its own: several servers over one store
 * agree, because refs move only by the store's compare-and-swap.
 *
 * <p>Without a tokens file it is a development server that allows everything, and it refuses to listen on anything
 * but a loopback address. The caller owns the {@link Repository}; closing the server stops Jetty but leaves the
 * repository open.
 */
public final class FerryServer implements AutoCloseable {
  /** Most connections open at once; beyond it Jetty stops accepting until some close. */
  static final int MAX_CONNECTIONS = 4096;

  /**
   * Small request bodies read before their handler runs, per worker thread, that may be on their way at once (with
   * 200 workers, 800 bodies of 64 KiB, 50 MiB): read on the workers, as many as there were workers held all of them.
   */
  static final long EARLY_BODIES_PER_THREAD = 4;

  /** The smallest HTTP/2 receive window of a connection (twice HTTP/2's initial window of a stream). */
  static final int MIN_SESSION_RECEIVE_WINDOW = 128 << 10;
  /** The largest HTTP/2 receive window of a connection (Jetty's default, which every server had before). */
  static final int MAX_SESSION_RECEIVE_WINDOW = 1 << 20;

  private final Server jetty;
  private final ServerConnector connector;
  private final URI uri;
  private final WebUi web;

  private FerryServer(Server jetty, ServerConnector connector, URI uri, WebUi web) {
    this.web = web;
    this.jetty = jetty;
    this.connector = connector;
    this.uri = uri;
  }

  /**
   * Starts a server over {@code repo}.
   *
   * @throws InvalidInputException if a development server (no tokens) is asked to listen beyond loopback
   * @throws IOException if the port cannot be bound or the TLS files cannot be read
   */
  public static FerryServer start(Repository repo, ServerOptions options) throws IOException {
    checkListen(options);
    MemoryBudget budget = new MemoryBudget(options.memoryBudget(), options.budgetWait().toMillis(), options.maxThreads() / 4,
        options.minHeldRate());
    StoreApi store = new StoreApi(repo, options, budget, Clock.systemUTC());
    WeightDiff diffs = new WeightDiff(repo, budget);
    List<Route> routes = new ArrayList<>();
    routes.addAll(Routes.of(repo, budget, diffs, options));
    WebUi web = new WebUi(repo, diffs, options.tokens() == null ? null : options.tokens()::authenticate,
        options.publicUrl());
    FerryHandler handler = new FerryHandler(options.tokens(), store, routes, web, repo.backend().refs(), budget,
        new EarlyBodies(EARLY_BODIES_PER_THREAD * options.maxThreads() * EarlyBodies.LIMIT), options.host(),
        options.crossOrigin());

    QueuedThreadPool pool = new QueuedThreadPool(options.maxThreads(), 8);
    pool.setName("ferry-server");
    pool.setDaemon(true);
    Server jetty = new Server(pool);
    jetty.setStopAtShutdown(false);

    HttpConfiguration http = new HttpConfiguration();
    http.setSendServerVersion(false);
    http.setSendXPoweredBy(false);
    http.setRequestHeaderSize(16 << 10);
    // Jetty's default refuses '%25' in a path as an ambiguous encoding; Hugging Face clients send a '%' in a file
    // name that way. Ferry decodes each raw path segment exactly once itself (Exchange.segments) and refuses encoded
    // separators and dot segments there, so the one thing the default guards against, a second decoding, cannot
    // happen. The default also refuses '%2F', which huggingface_hub sends in a revision (refs%2Fpr%2F1) and a tree
    // path: Exchange keeps it inside its segment for the Hugging Face routes alone (Route.takesEncodedSlashes) and
    // refuses it elsewhere. Every other check of the default stays.
    http.setUriCompliance(UriCompliance.DEFAULT.with("ferry", UriCompliance.Violation.AMBIGUOUS_PATH_ENCODING,
        UriCompliance.Violation.AMBIGUOUS_PATH_SEPARATOR));
    // Jetty 12 keeps HttpConfiguration's minimum request data rate without enforcing it: Exchange reads bodies at
    // a minimum rate of its own (Exchange.MIN_BODY_RATE)
    // the idle timeout closes a connection that sends nothing; a request's line and headers must also all arrive
    // within it, however steadily they trickle (slow-loris); an HTTP/2 connection must have a request in flight or
    // begin one within it (StreamlessDeadline), whatever other frames it sends
    HttpConnectionFactory h1 = new HeaderDeadline(http, options.idleTimeout());
    ServerConnector connector;
    if (options.tlsCert() != null) {
      http.setSecureScheme("https");
      http.addCustomizer(new SecureRequestCustomizer(false));
      HTTP2ServerConnectionFactory h2 = new HTTP2ServerConnectionFactory(http) {
        @Override
        public Connection newConnection(Connector c, EndPoint endPoint) {
          return StreamlessDeadline.watch(super.newConnection(c, endPoint), c, options.idleTimeout());
        }
      };
      h2.setMaxConcurrentStreams(128);
      h2.setStreamIdleTimeout(options.idleTimeout().toMillis());
      h2.setInitialSessionRecvWindow(sessionReceiveWindow(options.memoryBudget()));
      h2.setInitialStreamRecvWindow(sessionReceiveWindow(options.memoryBudget()) / 2);
      ALPNServerConnectionFactory alpn = new ALPNServerConnectionFactory();
      alpn.setDefaultProtocol(h1.getProtocol());
      SslContextFactory.Server ssl = new SslContextFactory.Server();
      byte[] pw = new byte[16];
      new SecureRandom().nextBytes(pw);
      char[] password = HexFormat.of().formatHex(pw).toCharArray();
      KeyStore ks = Pem.keyStore(options.tlsCert(), options.tlsKey(), password);
      ssl.setKeyStore(ks);
      ssl.setKeyStorePassword(new String(password));
      ssl.setSniRequired(false);
      SslConnectionFactory tls = new SslConnectionFactory(ssl, alpn.getProtocol());
      connector = new ServerConnector(jetty, tls, alpn, h2, h1);
    } else {
      HTTP2CServerConnectionFactory h2c = new HTTP2CServerConnectionFactory(http) {
        @Override
        public Connection newConnection(Connector c, EndPoint endPoint) {
          return StreamlessDeadline.watch(super.newConnection(c, endPoint), c, options.idleTimeout());
        }
      };
      h2c.setMaxConcurrentStreams(128);
      h2c.setStreamIdleTimeout(options.idleTimeout().toMillis());
      h2c.setInitialSessionRecvWindow(sessionReceiveWindow(options.memoryBudget()));
      h2c.setInitialStreamRecvWindow(sessionReceiveWindow(options.memoryBudget()) / 2);
      connector = new ServerConnector(jetty, new ConnectionFactory[] {h1, h2c});
    }
    connector.setHost(options.host());
    connector.setPort(options.port());
    connector.setIdleTimeout(options.idleTimeout().toMillis());
    jetty.addConnector(connector);
    jetty.addBean(new NetworkConnectionLimit(MAX_CONNECTIONS, jetty));
    jetty.setHandler(handler);
    jetty.setErrorHandler(new JsonErrors());
    jetty.setRequestLog(new AccessLog(options.accessLog(), Clock.systemUTC()));
    try {
      jetty.start();
    } catch (IOException e) {
      stopQuietly(jetty);
      web.close();
      throw new IOException("cannot listen on " + options.host() + ":" + options.port() + ": " + e.getMessage(), e);
    } catch (Exception e) {
      stopQuietly(jetty);
      web.close();
      throw new IOException("cannot start the server on " + options.host() + ":" + options.port() + ": " + e, e);
    }
    String host = options.host().contains(":") ? "[" + options.host() + "]" : options.host();
    URI uri = URI.create((options.tlsCert() != null ? "https" : "http") + "://" + host + ":"
        + connector.getLocalPort());
    return new FerryServer(jetty, connector, uri, web);
  }

  /**
   * The HTTP/2 receive window of one connection for a server with {@code memoryBudget} bytes of budget: the bytes a
   * client may send on a connection that the server has not read yet, which Jetty holds outside the budget. It is the
   * budget's share of one of {@link #MAX_CONNECTIONS} connections, rounded down to a KiB, and kept between {@link
   * #MIN_SESSION_RECEIVE_WINDOW} and {@link #MAX_SESSION_RECEIVE_WINDOW}; a stream's window is half of it, so that a
   * stream whose handler has not read yet leaves room for the connection's other streams.
   */
  static int sessionReceiveWindow(long memoryBudget) {
    long share = memoryBudget / MAX_CONNECTIONS & ~1023L;
    return (int) Math.max(MIN_SESSION_RECEIVE_WINDOW, Math.min(MAX_SESSION_RECEIVE_WINDOW, share));
  }

  private static void checkListen(ServerOptions options) throws InvalidInputException {
    if (!options.development()) {
      return;
    }
    try {
      for (InetAddress a : InetAddress.getAllByName(options.host())) {
        if (!a.isLoopbackAddress()) {
          String what = a.getHostAddress().equals(options.host()) ? "is not a loopback address"
              : "is " + a.getHostAddress() + ", not a loopback address";
          throw new InvalidInputException("--listen " + options.host() + ": a development server (no --tokens) "
              + "listens only on loopback (127.0.0.1, ::1, localhost), and " + options.host() + " " + what
              + ": give --tokens FILE to listen beyond this machine");
        }
      }
    } catch (UnknownHostException e) {
      throw new InvalidInputException("--listen " + options.host() + ": cannot resolve the host name");
    }
  }

  private static void stopQuietly(Server jetty) {
    try {
      jetty.stop();
    } catch (Exception e) {
      // the start failure is the error to report
    }
  }

  /** Where the server listens, e.g. {@code http://127.0.0.1:41234} (the real port when 0 was asked). */
  public URI uri() {
    return uri;
  }

  /** The port the server listens on. */
  public int port() {
    return connector.getLocalPort();
  }

  /** Waits until the server stops. */
  public void join() throws InterruptedException {
    jetty.join();
  }

  /** Stops accepting, ends open connections and stops the workers. */
  @Override
  public void close() throws IOException {
    try {
      web.close();
      jetty.stop();
    } catch (Exception e) {
      throw new IOException("stopping the server on " + uri + " failed: " + e.getMessage(), e);
    }
  }
}
