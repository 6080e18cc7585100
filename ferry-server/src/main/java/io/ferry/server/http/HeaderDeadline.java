package io.ferry.server.http;

import java.time.Duration;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.http.HttpParser;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.internal.HttpConnection;

/**
 * HTTP/1.1 connections whose request line and headers must arrive within a deadline. The idle timeout alone closes a
 * connection that sends nothing, but a slow-loris client that sends its headers a byte a second is never idle, and
 * held its connection for hours (16 KiB of headers): enough of them take every connection the server accepts. Here a
 * connection that is still inside one request's line or headers longer than the deadline after a read first found it
 * there is closed at its next read; one that sends nothing meanwhile is closed by the idle timeout.
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

  /** An HTTP/1.1 connection that times how long its parser stays inside a request's line and headers. */
  private static final class Deadlined extends HttpConnection {
    private final long deadlineNanos;
    /** When a read first found the parser inside a request's line or headers; 0 when it is not. */
    private long inHeadersSince;

    Deadlined(HttpConfiguration config, Connector connector, EndPoint endPoint, long deadlineNanos) {
      super(config, connector, endPoint);
      this.deadlineNanos = deadlineNanos;
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
