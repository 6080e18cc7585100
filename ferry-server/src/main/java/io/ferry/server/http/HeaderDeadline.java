package io.ferry.server.http;

import java.time.Duration;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.http.HttpParser;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.internal.HttpConnection;

/**
 * HTTP/1.1 connections whose request line and headers must arrive within a deadline. The idle timeout alone closes a
 * connection that sends nothing, but a slow-loris client that sends its headers a byte a second is never idle, and
 * held its connection for hours (16 KiB of headers): enough of them take every connection the server accepts. Here a
 * connection that is still inside one request's line or headers longer than the deadline after a read first found it
 * there is closed at its next read; one that sends nothing meanwhile is closed by the idle timeout.
 *
 * <p>They also keep the request target of a request line whose path Jetty refused as it read it (a {@code %00}),
 * which Jetty keeps nowhere else: its error answer and access log line would otherwise name no path
 * ({@link #refusedTarget}).
 */
public final class HeaderDeadline extends HttpConnectionFactory {
  private final long deadlineNanos;

  /**
   * @param config the connections' configuration
   * @param deadline how long a request's line and headers may take to arrive
   */
  public HeaderDeadline(HttpConfiguration config, Duration deadline) {
    super(config);
    this.deadlineNanos = deadline.toNanos();
  }

  @Override
  public Connection newConnection(Connector connector, EndPoint endPoint) {
    Deadlined c = new Deadlined(getHttpConfiguration(), connector, endPoint, deadlineNanos);
    c.setTransferEncodingChunkMaxLength(getTransferEncodingChunkMaxLength());
    return configure(c, connector, endPoint);
  }

  /**
   * The request target, as the client sent it, of a request on an HTTP/1.1 connection of this factory whose path
   * Jetty refused while it read the request line (where {@code request} is the stand-in Jetty answers it with);
   * null for any other request. Not escaped: the caller makes it safe to show.
   */
  public static String refusedTarget(Request request) {
    return request != null && request.getConnectionMetaData().getConnection() instanceof Deadlined d
        ? d.refusedTarget : null;
  }

  /** An HTTP/1.1 connection that times how long its parser stays inside a request's line and headers. */
  private static final class Deadlined extends HttpConnection {
    private final long deadlineNanos;
    /** The target of the request line whose path Jetty refused, for its stand-in stream; null otherwise. */
    private volatile String refusedTarget;
    /** A target just refused, until the stand-in stream is made. */
    private volatile String refused;
    /** When a read first found the parser inside a request's line or headers; 0 when it is not. */
    private long inHeadersSince;

    Deadlined(HttpConfiguration config, Connector connector, EndPoint endPoint, long deadlineNanos) {
      super(config, connector, endPoint);
      this.deadlineNanos = deadlineNanos;
    }

    @Override
    protected HttpStreamOverHTTP1 newHttpStream(String method, String uri, HttpVersion version) {
      // Jetty answers a refused request line with a stand-in stream ("/badMessage") made right after: that one
      // carries the refused target; any later one none
      refusedTarget = refused;
      refused = null;
      try {
        return super.newHttpStream(method, uri, version);
      } catch (IllegalArgumentException e) {
        // the path was refused (an encoded NUL) before Jetty kept it: the only place the target is still known
        refused = uri;
        throw e;
      }
    }

    @Override
    public void onFillable() {
      HttpParser parser = getParser();
      if (parser.inHeaderState() && !parser.isStart()) {
        long now = System.nanoTime();
        if (inHeadersSince == 0) {
          inHeadersSince = now;
        } else if (now - inHeadersSince > deadlineNanos) {
          getEndPoint().close(new TimeoutException("the request line and headers took longer than "
              + deadlineNanos / 1_000_000 + " ms"));
          return;
        }
      } else {
        inHeadersSince = 0;
      }
      super.onFillable();
    }
  }
}
