package io.ferry.server.http;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.thread.Invocable;

/**
 * Reads small request bodies before the blocking handler runs, without a worker thread while the bytes are on their
 * way: the handler runs once the body is whole, and finds it in its {@link Exchange}. A body of at most {@link
 * #LIMIT} bytes needs no share of the memory budget and may arrive as slowly as {@value Exchange#MIN_BODY_RATE}
 * bytes per second, so read on a worker thread it held that worker for up to a minute, and as many slow clients as
 * the server has workers stopped it for everyone (a health check, a ref's read, a stored chunk's read).
 *
 * <p>Bodies waiting for their bytes hold heap instead of a worker: together at most the bytes given at construction,
 * each its declared length (a body of unknown length, such as most HTTP/2 bodies, {@link #LIMIT}) until its exchange
 * ends. A body that must wait and finds no room is answered 503 {@code busy} at once. A body that arrives with its
 * request's headers, as most do, takes no room. A body of unknown length that turns out longer than {@link #LIMIT} is
 * handed over after its first bytes, and its handler reads the rest as any large body. Thread-safe.
 */
public final class EarlyBodies {
  /** The longest body read early: the longest that needs no share of the memory budget. */
  public static final int LIMIT = (int) Exchange.UNBUDGETED_BODY;

  private final long total;
  private final AtomicLong used = new AtomicLong();

  /** @param totalBytes the bytes all bodies being read early may hold together */
  public EarlyBodies(long totalBytes) {
    this.total = totalBytes;
  }

  /**
   * Whether the request's body is one to read early: it may have bytes (a declared length above 0, or none declared)
   * and declares at most {@link #LIMIT}.
   */
  public static boolean wanted(Request request) {
    long n = request.getLength();
    return n != 0 && n <= LIMIT;
  }

  /**
   * Reads the exchange's body as its bytes arrive, then hands it to the exchange ({@link Exchange#earlyBody}) and
   * runs {@code then}, on a thread that may block: the caller's when the body is there at once, else one of the
   * server's workers; gives back the body's room once {@code then} returns. A body that fails (cut short, stalled past
   * the idle timeout, slower than {@value Exchange#MIN_BODY_RATE} bytes per second after the first seconds, no room
   * while it waits) is handed over as that failure ({@link Exchange#checkEarlyBody}).
   */
  public void read(Exchange ex, Runnable then) {
    new Reader(ex, then).run();
  }

  /** Takes {@code n} bytes of room, or returns false when bodies waiting for their bytes hold all of it. */
  private boolean take(long n) {
    for (long u = used.get(); u + n <= total; u = used.get()) {
      if (used.compareAndSet(u, u + n)) {
        return true;
      }
    }
    return false;
  }

  private HttpError busy() {
    return new HttpError(503, "busy", "the server holds the room for small request bodies (" + total + " bytes) for"
        + " bodies still arriving; retry later");
  }

  /**
   * The demand callback of one body: runs on whichever thread the bytes arrive on, one call at a time, and never
   * blocks there (Jetty may call it on a thread that reads a connection's frames); the handler it hands the body to
   * runs on a worker.
   */
  private final class Reader implements Runnable, Invocable {
    private final Exchange ex;
    private final Request request;
    private final Runnable then;
    private final long declared;
    private final long start = System.nanoTime();
    private byte[] buf;
    private int got;
    private long room;
    /** Whether the reader demanded bytes: it then runs as Jetty's callback, and dispatches the handler to a worker. */
    private volatile boolean later;

    Reader(Exchange ex, Runnable then) {
      this.ex = ex;
      this.request = ex.request();
      this.then = then;
      this.declared = request.getLength();
      this.buf = new byte[(int) Math.max(0, declared)]; // most requests without a length have no body at all
    }

    @Override
    public void run() {
      while (true) {
        Content.Chunk chunk = request.read();
        if (chunk == null) {
          long n = declared > 0 ? declared : LIMIT;
          if (room == 0 && !take(n)) {
            hand(busy());
            return;
          }
          room = n;
          later = true;
          request.demand(this);
          return;
        }
        if (Content.Chunk.isFailure(chunk)) {
          Throwable t = chunk.getFailure();
          chunk.release();
          hand(t instanceof EofException ? ex.cutShort(got, declared)
              : Exchange.timedOut(t) ? ex.slow(got, declared, "stalled past the idle timeout")
              : new HttpError(400, "bad-request", ex.method() + " " + Exchange.clip(ex.rawPath())
                  + ": the request body could not be read: " + t.getMessage()));
          return;
        }
        ByteBuffer b = chunk.getByteBuffer();
        int n = b.remaining();
        if (got + n > buf.length) {
          buf = Arrays.copyOf(buf, Math.max(got + n, Math.min(2 * buf.length, LIMIT + 1)));
        }
        b.get(buf, got, n);
        got += n;
        boolean last = chunk.isLast();
        chunk.release();
        try {
          ex.checkRate(got, start, declared, false);
        } catch (HttpError e) {
          hand(e);
          return;
        }
        if (last || got > LIMIT) {
          // a body longer than LIMIT has no declared length (Jetty fails one longer than it declared): its handler
          // reads the rest
          ex.earlyBody(ByteBuffer.wrap(buf, 0, got), last, start);
          hand(null);
          return;
        }
      }
    }

    @Override
    public InvocationType getInvocationType() {
      return InvocationType.NON_BLOCKING;
    }

    /** Runs the handler with the body, or with its failure {@code e}, and gives back the body's room. */
    private void hand(HttpError e) {
      if (e != null) {
        ex.earlyBodyFailed(e);
      }
      long n = room;
      room = 0;
      Runnable handler = () -> {
        try {
          then.run();
        } finally {
          used.addAndGet(-n);
        }
      };
      if (later) {
        request.getContext().execute(handler);
      } else {
        handler.run();
      }
    }
  }
}
