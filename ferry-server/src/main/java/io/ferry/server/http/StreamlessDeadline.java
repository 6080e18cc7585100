package io.ferry.server.http;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.http2.HTTP2Connection;
import org.eclipse.jetty.http2.HTTP2Session;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.util.thread.Scheduler;

/**
 * HTTP/2 connections that must keep making requests. The idle timeout ends a connection that sends nothing, but any
 * frame counts as something: a client that sends a request's header block as a trickle of CONTINUATION frames (no
 * stream exists until the block ends, so no stream timeout applies), or only PINGs and SETTINGS, held its connection
 * for as long as it liked, as HTTP/1.1's slow-loris did before {@link HeaderDeadline}. Here a connection with no
 * request in flight and none begun for longer than the deadline is closed. A request in flight is left to its own
 * limits (the minimum body rate, the stream idle timeout).
 */
public final class StreamlessDeadline implements Runnable, Connection.Listener {
  private final HTTP2Session session;
  private final Connection connection;
  private final Scheduler scheduler;
  private final long deadlineNanos;
  private long lastOpened = -1;
  private long progressAt;
  private volatile Scheduler.Task next;
  private volatile boolean closed;

  private StreamlessDeadline(HTTP2Connection connection, Scheduler scheduler, long deadlineNanos) {
    this.connection = connection;
    this.session = connection.getSession();
    this.scheduler = scheduler;
    this.deadlineNanos = deadlineNanos;
  }

  /**
   * Watches {@code connection} when it is an HTTP/2 one (else returns it as it is).
   *
   * @param deadline how long an HTTP/2 connection may go without a request in flight or begun
   */
  public static Connection watch(Connection connection, Connector connector, Duration deadline) {
    if (connection instanceof HTTP2Connection h2) {
      connection.addEventListener(new StreamlessDeadline(h2, connector.getScheduler(), deadline.toNanos()));
    }
    return connection;
  }

  @Override
  public void onOpened(Connection c) {
    progressAt = System.nanoTime();
    schedule();
  }

  @Override
  public void onClosed(Connection c) {
    closed = true;
    Scheduler.Task task = next;
    if (task != null) {
      task.cancel();
    }
  }

  private void schedule() {
    if (!closed) {
      next = scheduler.schedule(this, Math.max(1, deadlineNanos / 4), TimeUnit.NANOSECONDS);
    }
  }

  /** One check, on the scheduler's thread (checks of one connection never overlap: each schedules the next). */
  @Override
  public void run() {
    if (closed) {
      return;
    }
    long now = System.nanoTime();
    long opened = session.getStreamsOpened();
    if (opened != lastOpened || opened > session.getStreamsClosed()) {
      lastOpened = opened;
      progressAt = now;
    } else if (now - progressAt > deadlineNanos) {
      connection.getEndPoint().close(new TimeoutException("no HTTP/2 request in flight or begun for "
          + deadlineNanos / 1_000_000 + " ms"));
      return;
    }
    schedule();
  }
}
