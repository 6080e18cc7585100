package io.ferry.store.http;

import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.Channel;
import java.nio.channels.ReadableByteChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;

/**
 * Request and response bodies of the HTTP store: response bodies are collected up to a bound (a server cannot make
 * the client hold more than it asked for) or written straight into a caller's buffer (chunk reads), request bodies are sent from the caller's buffers without copying heap
 * buffers and in 1 MiB pieces from direct ones.
 */
final class Bodies {
  /** How much of an error answer is kept (for its message); the rest is discarded. */
  static final int ERROR_LIMIT = 64 << 10;
  private static final int PIECE = 1 << 20;

  private Bodies() {}

  /**
   * What a response body became: the bytes kept in an array ({@code into} null), or, for a 200 or 206 answer to a
   * call that gave a target, the bytes written into that target ({@code bytes} empty).
   */
  record Received(byte[] bytes, Target into) {
    /** How many bytes the body had (as far as it was kept). */
    int length() {
      return into == null ? bytes.length : into.written();
    }
  }

  /**
   * A handler that keeps at most {@code limit} bytes of a 1xx-3xx answer (more fails the request) and the first
   * {@value #ERROR_LIMIT} bytes of a 4xx/5xx one; with a {@code target}, the body of a 200 or 206 answer goes into it
   * instead, up to its room (more fails the request).
   */
  static HttpResponse.BodyHandler<Received> bounded(long limit, Target target) {
    return info -> {
      long declared = info.headers().firstValueAsLong("content-length").orElse(-1);
      if (info.statusCode() >= 400) {
        return new Bounded(ERROR_LIMIT, true, declared);
      }
      String encoded = encoded(info.headers());
      if (encoded != null) {
        return new Refused(new ServerPool.AnswerRejected(encoded));
      }
      if (target != null && (info.statusCode() == 200 || info.statusCode() == 206)) {
        return new Into(target);
      }
      return new Bounded(limit, false, declared);
    };
  }

  /**
   * The buffer one request writes a body into, from the buffer's position up to its limit, which the caller keeps
   * owning. {@link #fence()} stops all writes: after it returns, no byte of this request lands in the buffer any
   * more, whatever the HTTP client still delivers, so that a request that was abandoned or failed cannot overwrite
   * what a later one wrote. Thread-safe.
   */
  static final class Target {
    private final ByteBuffer buffer;
    private final int start;
    private boolean fenced;
    /** The channel that {@link #readFrom} reads from meanwhile, closed by {@link #fence()}; null otherwise. */
    private Channel reading;

    /** A target writing into {@code buffer}'s remaining room (the buffer itself is not changed). */
    Target(ByteBuffer buffer) {
      this.buffer = buffer.duplicate();
      this.start = this.buffer.position();
    }

    /** Writes all of {@code item} if it fits; whether it did (a fenced target takes and drops anything). */
    synchronized boolean put(ByteBuffer item) {
      if (fenced) {
        item.position(item.limit());
        return true;
      }
      if (item.remaining() > buffer.remaining()) {
        return false;
      }
      buffer.put(item);
      return true;
    }

    /** Whether the buffer is direct, so that {@link #readFrom} has the kernel write into it with no copy. */
    boolean direct() {
      return buffer.isDirect();
    }

    /**
     * Reads {@code n} bytes from a blocking {@code channel} into the buffer, the kernel writing into it directly, and
     * returns how many came: {@code n}, or fewer when the channel ended first. The channel is not read under this
     * target's lock: {@link #fence()} closes it instead, and closing a blocking channel ends a read in progress and
     * waits until it has, so that no byte lands after the fence either. Once fenced, the channel is closed and the
     * read fails.
     *
     * @throws IllegalArgumentException if {@code n} is more than the room left
     */
    long readFrom(ReadableByteChannel channel, long n) throws IOException {
      ByteBuffer into;
      synchronized (this) {
        if (n > buffer.remaining()) {
          throw new IllegalArgumentException(n + " bytes do not fit the " + buffer.remaining() + " left");
        }
        if (fenced) {
          channel.close();
          throw new AsynchronousCloseException();
        }
        reading = channel;
        into = buffer.duplicate();
        into.limit(into.position() + (int) n);
      }
      int from = into.position();
      try {
        while (into.hasRemaining()) {
          if (channel.read(into) < 0) {
            break;
          }
        }
        return into.position() - from;
      } finally {
        synchronized (this) {
          reading = null;
          if (!fenced) {
            buffer.position(into.position());
          }
        }
      }
    }

    /** No more writes from now on (a read in {@link #readFrom} is ended by closing its channel). */
    void fence() {
      Channel c;
      synchronized (this) {
        fenced = true;
        c = reading;
      }
      if (c != null) {
        try {
          c.close();
        } catch (IOException e) {
          // closed either way; the read it ends fails
        }
      }
    }

    /** How many bytes were written. */
    synchronized int written() {
      return buffer.position() - start;
    }

    /** The bytes written, as a view (position at the first byte). */
    synchronized ByteBuffer filled() {
      return buffer.duplicate().limit(buffer.position()).position(start);
    }

    /** How many bytes fit. */
    int room() {
      return buffer.limit() - start;
    }
  }

  /** A body made of the remaining bytes of {@code parts}, which are not changed (duplicates are read). */
  static HttpRequest.BodyPublisher of(ByteBuffer[] parts) {
    List<HttpRequest.BodyPublisher> pubs = new ArrayList<>();
    for (ByteBuffer p : parts) {
      ByteBuffer b = p.duplicate();
      if (!b.hasRemaining()) {
        continue;
      }
      if (b.hasArray() && !b.isReadOnly()) {
        pubs.add(HttpRequest.BodyPublishers.ofByteArray(b.array(), b.arrayOffset() + b.position(), b.remaining()));
      } else {
        pubs.add(HttpRequest.BodyPublishers.fromPublisher(HttpRequest.BodyPublishers.ofByteArrays(() -> pieces(b)),
            b.remaining()));
      }
    }
    if (pubs.isEmpty()) {
      return HttpRequest.BodyPublishers.noBody();
    }
    return pubs.size() == 1 ? pubs.get(0) : HttpRequest.BodyPublishers.concat(pubs.toArray(HttpRequest.BodyPublisher[]::new));
  }

  /** Copies of {@code b}'s remaining bytes, {@value #PIECE} at a time, made as they are sent. */
  private static Iterator<byte[]> pieces(ByteBuffer source) {
    ByteBuffer b = source.duplicate();
    return new Iterator<>() {
      @Override
      public boolean hasNext() {
        return b.hasRemaining();
      }

      @Override
      public byte[] next() {
        if (!b.hasRemaining()) {
          throw new NoSuchElementException();
        }
        byte[] piece = new byte[Math.min(PIECE, b.remaining())];
        b.get(piece);
        return piece;
      }
    };
  }

  /**
   * Null, or why the body of an answer below 400 cannot be taken: it is in a {@code Content-Encoding} (gzip...) that
   * Ferry never asks for and does not decode, so it is not the bytes the server sent. A proxy in front of the server
   * that compresses answers made reads fail as answers of the wrong length, or as damaged objects.
   */
  static String encoded(java.net.http.HttpHeaders headers) {
    String e = headers.firstValue("content-encoding").orElse("").trim();
    if (e.isEmpty() || e.equalsIgnoreCase("identity")) {
      return null;
    }
    StringBuilder shown = new StringBuilder();
    e.codePoints().limit(40).forEach(c -> shown.appendCodePoint(c < 0x20 || c > 0x7e ? '?' : c));
    return "the answer's body is in Content-Encoding '" + shown + "', which Ferry does not ask for and does not"
        + " decode (does a proxy in front of the server compress its answers?)";
  }

  /**
   * A failure while a body came through the JDK client (a reset, a chunked body cut off), said as such: the client's
   * own words ("chunked transfer encoding, state: READING_LENGTH") did not say that the answer broke off.
   */
  static IOException brokeOff(Throwable t, long received) {
    return new IOException("the answer's body broke off after " + received + " bytes"
        + (t.getMessage() == null ? "" : " (" + t.getMessage() + ")"), t);
  }

  /** Takes no body and fails with the reason it was given. */
  private static final class Refused implements HttpResponse.BodySubscriber<Received> {
    private final CompletableFuture<Received> result = new CompletableFuture<>();

    Refused(IOException why) {
      result.completeExceptionally(why);
    }

    @Override
    public CompletionStage<Received> getBody() {
      return result;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
      s.cancel();
    }

    @Override
    public void onNext(List<ByteBuffer> items) {
      // cancelled
    }

    @Override
    public void onError(Throwable t) {
      // failed already
    }

    @Override
    public void onComplete() {
      // failed already
    }
  }

  /** Collects a body into one array, failing (or, for error answers, truncating) past a bound. */
  private static final class Bounded implements HttpResponse.BodySubscriber<Received> {
    private final long limit;
    private final boolean truncate;
    private final CompletableFuture<Received> result = new CompletableFuture<>();
    private byte[] buf;
    private int size;
    private Flow.Subscription subscription;

    Bounded(long limit, boolean truncate, long declared) {
      this.limit = Math.min(limit, Integer.MAX_VALUE - 64);
      this.truncate = truncate;
      this.buf = new byte[(int) Math.max(0, Math.min(this.limit, declared >= 0 ? declared : 8192))];
    }

    @Override
    public CompletionStage<Received> getBody() {
      return result;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
      subscription = s;
      s.request(1);
    }

    @Override
    public void onNext(List<ByteBuffer> items) {
      for (ByteBuffer item : items) {
        int n = item.remaining();
        if ((long) size + n > limit) {
          if (!truncate) {
            subscription.cancel();
            result.completeExceptionally(new IOException("the answer is longer than the " + limit
                + " bytes asked for"));
            return;
          }
          n = (int) (limit - size);
        }
        if (size + n > buf.length) {
          buf = Arrays.copyOf(buf, (int) Math.min(limit, Math.max((long) buf.length * 2, size + n)));
        }
        item.get(buf, size, n);
        size += n;
      }
      subscription.request(1);
    }

    @Override
    public void onError(Throwable t) {
      result.completeExceptionally(brokeOff(t, size));
    }

    @Override
    public void onComplete() {
      result.complete(new Received(size == buf.length ? buf : Arrays.copyOf(buf, size), null));
    }
  }

  /**
   * Writes a body straight into a {@link Target} as it arrives: no array per answer, one copy of each buffer the
   * HTTP client delivers. A body longer than the target's room fails the request.
   */
  private static final class Into implements HttpResponse.BodySubscriber<Received> {
    private static final byte[] NONE = new byte[0];
    private final Target target;
    private final CompletableFuture<Received> result = new CompletableFuture<>();
    private Flow.Subscription subscription;

    Into(Target target) {
      this.target = target;
    }

    @Override
    public CompletionStage<Received> getBody() {
      return result;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
      subscription = s;
      s.request(1);
    }

    @Override
    public void onNext(List<ByteBuffer> items) {
      for (ByteBuffer item : items) {
        if (!target.put(item)) {
          subscription.cancel();
          result.completeExceptionally(new IOException("the answer is longer than the " + target.room()
              + " bytes asked for"));
          return;
        }
      }
      subscription.request(1);
    }

    @Override
    public void onError(Throwable t) {
      result.completeExceptionally(brokeOff(t, target.written()));
    }

    @Override
    public void onComplete() {
      result.complete(new Received(NONE, target));
    }
  }
}
