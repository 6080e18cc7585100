package io.ferry.store.http;

import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;

/**
 * Request and response bodies of the HTTP store: response bodies are collected up to a bound (a server cannot make
 * the client hold more than it asked for), request bodies are sent from the caller's buffers without copying heap
 * buffers and in 1 MiB pieces from direct ones.
 */
final class Bodies {
  /** How much of an error answer is kept (for its message); the rest is discarded. */
  static final int ERROR_LIMIT = 64 << 10;
  private static final int PIECE = 1 << 20;

  private Bodies() {}

  /**
   * A handler that keeps at most {@code limit} bytes of a 1xx-3xx answer (more fails the request) and the first
   * {@value #ERROR_LIMIT} bytes of a 4xx/5xx one.
   */
  static HttpResponse.BodyHandler<byte[]> bounded(long limit) {
    return info -> {
      long declared = info.headers().firstValueAsLong("content-length").orElse(-1);
      return info.statusCode() >= 400 ? new Bounded(ERROR_LIMIT, true, declared) : new Bounded(limit, false, declared);
    };
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

  /** Collects a body into one array, failing (or, for error answers, truncating) past a bound. */
  private static final class Bounded implements HttpResponse.BodySubscriber<byte[]> {
    private final long limit;
    private final boolean truncate;
    private final CompletableFuture<byte[]> result = new CompletableFuture<>();
    private byte[] buf;
    private int size;
    private Flow.Subscription subscription;

    Bounded(long limit, boolean truncate, long declared) {
      this.limit = Math.min(limit, Integer.MAX_VALUE - 64);
      this.truncate = truncate;
      this.buf = new byte[(int) Math.max(0, Math.min(this.limit, declared >= 0 ? declared : 8192))];
    }

    @Override
    public CompletionStage<byte[]> getBody() {
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
          buf = java.util.Arrays.copyOf(buf, (int) Math.min(limit, Math.max((long) buf.length * 2, size + n)));
        }
        item.get(buf, size, n);
        size += n;
      }
      subscription.request(1);
    }

    @Override
    public void onError(Throwable t) {
      result.completeExceptionally(t);
    }

    @Override
    public void onComplete() {
      result.complete(size == buf.length ? buf : java.util.Arrays.copyOf(buf, size));
    }
  }
}
