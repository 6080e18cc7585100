package io.ferry.store.http;

import java.io.EOFException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;

/**
 * Requests without a body ({@code GET}, {@code HEAD}) over plain {@code http://} on blocking HTTP/1.1 connections of
 * their own. A chunk read's body goes from the socket straight into the caller's buffer (a direct buffer is read
 * into by the kernel, with no copy in between; a heap one through one small buffer per connection); any other body
 * of a known length goes into an array of that length, up to the call's bound. The JDK client hands a body over in
 * 16 KiB heap buffers through several threads, which made a pull through a server cost several times the CPU of a
 * direct one; and a process that made a JDK client pays for its start (its TLS context is loaded even for
 * {@code http://}) and, at exit, waits 300 ms for its selector thread, which stays in native code. An answer this
 * reader does not take (a chunked body, a body without a {@code Content-Length} or above the bound, an error body
 * above {@value Bodies#ERROR_LIMIT} bytes, a 1xx) is reported as {@link #UNUSUAL}, its connection closed, and the
 * caller sends the request again through the JDK client, which handles every case. TLS ({@code https://}) always
 * goes through the JDK client.
 *
 * <p>Idle connections are kept per server, at most {@code max_requests} each, and reused; a request on a reused
 * connection that the server had closed meanwhile is sent again once on a new connection. Thread-safe; {@link
 * #close()} closes the idle connections.
 */
final class PlainReads implements AutoCloseable {
  /** An answer: status, headers, and the body (in an array, or written into the call's target). */
  record Raw(int status, HttpHeaders headers, Bodies.Received body) {}

  /** What {@link Exchange#run()} returns for an answer that the JDK client must fetch instead. */
  static final Raw UNUSUAL = null;

  /** Longest response head taken. */
  private static final int HEAD_LIMIT = 64 << 10;
  /** Buffer per connection for answer heads, and between the socket and a heap target. */
  private static final int STAGING = 256 << 10;
  private static final byte[] NONE = new byte[0];

  private final Duration connectTimeout;
  private final int maxIdle;
  private final Map<URI, ConcurrentLinkedDeque<Connection>> idle = new ConcurrentHashMap<>();
  private volatile boolean closed;

  PlainReads(Duration connectTimeout, int maxIdle) {
    this.connectTimeout = connectTimeout;
    this.maxIdle = maxIdle;
  }

  /** Whether a request can take this way: plain http, and no header would break the request's text. */
  static boolean eligible(URI base, List<String> headers) {
    if (!"http".equalsIgnoreCase(base.getScheme()) || base.getHost() == null) {
      return false;
    }
    for (String h : headers) {
      for (int i = 0; i < h.length(); i++) {
        char c = h.charAt(i);
        if (c == '\r' || c == '\n' || c > 0x7e) {
          return false;
        }
      }
    }
    return true;
  }

  /** Whether a method can take this way: one that sends no body and may be sent twice ({@code GET}, {@code HEAD}). */
  static boolean takes(String method) {
    return method.equals("GET") || method.equals("HEAD");
  }

  /**
   * A request ({@code GET} or {@code HEAD}, without a body) of {@code path} on {@code base}, to be run by {@link
   * Exchange#run()} in a thread that may block; {@link Exchange#abort()} stops it from any thread.
   *
   * @param headers name then value, the token's {@code Authorization} included
   * @param target where the body of a 200 or 206 goes, or null to keep it in an array
   * @param limit the longest body kept in an array (an error answer's: {@value Bodies#ERROR_LIMIT})
   */
  Exchange exchange(URI base, String method, String path, List<String> headers, Bodies.Target target, long limit) {
    if (!takes(method)) {
      throw new IllegalArgumentException(method + " " + path + " cannot go on a plain connection");
    }
    return new Exchange(base, method, path, headers, target, limit);
  }

  /** One request on one connection. */
  final class Exchange {
    private final URI base;
    private final String method;
    private final String path;
    private final List<String> headers;
    private final Bodies.Target target;
    private final long limit;
    private volatile Connection connection;
    private volatile boolean aborted;

    private Exchange(URI base, String method, String path, List<String> headers, Bodies.Target target,
        long limit) {
      this.base = base;
      this.method = method;
      this.path = path;
      this.headers = headers;
      this.target = target;
      this.limit = limit;
    }

    /** Sends the request and reads the answer; {@link #UNUSUAL} when the JDK client must fetch it instead. */
    Raw run() throws IOException {
      Connection c = take(base);
      boolean reused = c != null;
      if (c == null) {
        c = open(base);
      }
      while (true) {
        connection = c;
        if (aborted) {
          c.close();
          throw new IOException("aborted");
        }
        try {
          return exchange(c);
        } catch (StaleConnection e) {
          c.close();
          if (!reused || aborted) {
            throw e.getCause() instanceof IOException io ? io : e;
          }
          reused = false;
          c = open(base);
        } catch (IOException | RuntimeException e) {
          c.close();
          throw e;
        }
      }
    }

    /** Closes the connection: a blocked read ends at once, and nothing more reaches the target. */
    void abort() {
      aborted = true;
      Connection c = connection;
      if (c != null) {
        c.close();
      }
    }

    private Raw exchange(Connection c) throws IOException {
      StringBuilder req = new StringBuilder(256).append(method).append(' ').append(path)
          .append(" HTTP/1.1\r\nHost: ").append(base.getRawAuthority()).append("\r\n");
      for (int i = 0; i + 1 < headers.size(); i += 2) {
        req.append(headers.get(i)).append(": ").append(headers.get(i + 1)).append("\r\n");
      }
      req.append("\r\n");
      ByteBuffer out = ByteBuffer.wrap(req.toString().getBytes(StandardCharsets.US_ASCII));
      try {
        while (out.hasRemaining()) {
          c.channel.write(out);
        }
      } catch (IOException e) {
        throw new StaleConnection(e);
      }
      ByteBuffer in = c.staging.clear();
      int headEnd;
      int scanned = 0;
      while ((headEnd = headEnd(in, scanned)) < 0) {
        scanned = Math.max(0, in.position() - 3);
        if (!in.hasRemaining()) {
          throw new IOException(base + ": an answer head longer than " + in.capacity() + " bytes");
        }
        int n;
        try {
          n = c.channel.read(in);
        } catch (IOException e) {
          if (in.position() == 0) {
            throw new StaleConnection(e);
          }
          throw e;
        }
        if (n < 0) {
          if (in.position() == 0) {
            throw new StaleConnection(new EOFException(base + " closed the connection before answering"));
          }
          throw new EOFException(base + " closed the connection in the middle of an answer's head");
        }
      }
      Head head = Head.parse(in, headEnd, base);
      in.limit(in.position()).position(headEnd);
      Bodies.Received body;
      if (method.equals("HEAD") || head.status == 204 || head.status == 304) {
        // no body, whatever Content-Length says (RFC 9112, section 6.3)
        if (in.hasRemaining()) {
          throw new IOException(base + ": bytes after the head of an answer that has no body");
        }
        body = new Bodies.Received(NONE, null);
      } else {
        String encoded = head.status < 400 ? Bodies.encoded(head.headers) : null;
        if (encoded != null) {
          c.close(); // its body is not read
          throw new ServerPool.AnswerRejected(base + ": " + encoded);
        }
        long length = head.contentLength();
        boolean into = target != null && (head.status == 200 || head.status == 206);
        long room = into ? target.room() : head.status >= 400 ? Bodies.ERROR_LIMIT : limit;
        if (head.status < 200 || length < 0 || head.chunked() || length > room) {
          c.close(); // its body is not read
          return UNUSUAL;
        }
        if (in.remaining() > length) {
          throw new IOException(base + ": the answer is longer than its Content-Length (" + length + ")");
        }
        if (into) {
          readInto(c, in, length);
          body = new Bodies.Received(NONE, target);
        } else {
          byte[] bytes = new byte[(int) length];
          ByteBuffer dst = ByteBuffer.wrap(bytes);
          dst.put(in);
          readFully(c, dst);
          body = new Bodies.Received(bytes, null);
        }
      }
      if (head.close()) {
        c.close();
      } else {
        give(base, c);
      }
      return new Raw(head.status, head.headers, body);
    }

    /**
     * Reads a body of {@code length} bytes, the first of which are in {@code in}, into the target: into a direct
     * buffer straight from the socket, into a heap one through the connection's buffer.
     */
    private void readInto(Connection c, ByteBuffer in, long length) throws IOException {
      long got = in.remaining();
      target.put(in);
      if (target.direct()) {
        long n = target.readFrom(c.channel, length - got);
        if (got + n < length) {
          throw new EOFException(base + " closed the connection after " + (got + n) + " of the answer's " + length
              + " bytes");
        }
        return;
      }
      while (got < length) {
        in.clear().limit((int) Math.min(in.capacity(), length - got));
        int n = c.channel.read(in);
        if (n < 0) {
          throw new EOFException(base + " closed the connection after " + got + " of the answer's " + length
              + " bytes");
        }
        got += n;
        in.flip();
        target.put(in);
      }
    }

    private void readFully(Connection c, ByteBuffer dst) throws IOException {
      while (dst.hasRemaining()) {
        if (c.channel.read(dst) < 0) {
          throw new EOFException(base + " closed the connection after " + dst.position() + " of the answer's "
              + dst.limit() + " bytes");
        }
      }
    }
  }

  /** A failure before any answer came on a reused connection: the server had closed it while idle. */
  private static final class StaleConnection extends IOException {
    StaleConnection(IOException cause) {
      super(cause.getMessage(), cause);
    }
  }

  /**
   * Where the head ends ({@code \r\n\r\n}) in {@code in}'s bytes so far, the index past it, or -1; bytes before
   * {@code from} were looked at already.
   */
  private static int headEnd(ByteBuffer in, int from) {
    for (int i = from + 3; i < in.position(); i++) {
      if (in.get(i) == '\n' && in.get(i - 1) == '\r' && in.get(i - 2) == '\n' && in.get(i - 3) == '\r') {
        return i + 1;
      }
    }
    return -1;
  }

  /** A parsed response head. */
  private record Head(int status, HttpHeaders headers) {
    static Head parse(ByteBuffer in, int end, URI base) throws IOException {
      byte[] b = new byte[end];
      in.get(0, b);
      int eol = lineEnd(b, 0, end);
      String status = new String(b, 0, eol, StandardCharsets.ISO_8859_1);
      if (!status.startsWith("HTTP/1.") || status.length() < 12 || status.charAt(8) != ' ') {
        throw new IOException(base + ": not an HTTP/1.x status line: '" + printable(status) + "'");
      }
      int code = 0;
      for (int i = 9; i < 12; i++) {
        char c = status.charAt(i);
        if (c < '0' || c > '9') {
          throw new IOException(base + ": no status code in '" + printable(status) + "'");
        }
        code = code * 10 + (c - '0');
      }
      Map<String, List<String>> map = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
      for (int at = eol + 2; at < end; ) {
        int stop = lineEnd(b, at, end);
        int colon = at;
        while (colon < stop && b[colon] != ':') {
          colon++;
        }
        if (colon > at && colon < stop) {
          String name = new String(b, at, colon - at, StandardCharsets.ISO_8859_1).trim();
          String value = new String(b, colon + 1, stop - colon - 1, StandardCharsets.ISO_8859_1).trim();
          map.computeIfAbsent(name, k -> new ArrayList<>(1)).add(value);
        }
        at = stop + 2;
      }
      return new Head(code, HttpHeaders.of(map, (k, v) -> true));
    }

    /** The index of the next {@code \r\n} from {@code at}, or {@code end}. */
    private static int lineEnd(byte[] b, int at, int end) {
      for (int i = at; i + 1 < end; i++) {
        if (b[i] == '\r' && b[i + 1] == '\n') {
          return i;
        }
      }
      return end;
    }

    /** The declared body length, or -1 when absent or unreadable. */
    long contentLength() {
      List<String> all = headers.allValues("content-length");
      if (all.size() != 1) {
        return -1;
      }
      try {
        long n = Long.parseLong(all.get(0));
        return n < 0 ? -1 : n;
      } catch (NumberFormatException e) {
        return -1;
      }
    }

    boolean chunked() {
      return headers.firstValue("transfer-encoding").isPresent();
    }

    boolean close() {
      return headers.allValues("connection").stream().anyMatch(v -> v.toLowerCase(Locale.ROOT).contains("close"));
    }

    private static String printable(String s) {
      StringBuilder out = new StringBuilder();
      s.codePoints().limit(100).forEach(c -> out.appendCodePoint(c < 0x20 || c > 0x7e ? '?' : c));
      return out.toString();
    }
  }

  /** A blocking connection to one server and its buffer. */
  private static final class Connection {
    final SocketChannel channel;
    final ByteBuffer staging = ByteBuffer.allocateDirect(Math.max(STAGING, HEAD_LIMIT));

    Connection(SocketChannel channel) {
      this.channel = channel;
    }

    void close() {
      try {
        channel.close();
      } catch (IOException e) {
        // closing: nothing to do
      }
    }
  }

  private Connection open(URI base) throws IOException {
    int port = base.getPort() < 0 ? 80 : base.getPort();
    SocketChannel ch = SocketChannel.open();
    try {
      ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
      ch.socket().connect(new InetSocketAddress(base.getHost(), port),
          (int) Math.min(Integer.MAX_VALUE, Math.max(1, connectTimeout.toMillis())));
    } catch (IOException e) {
      ch.close();
      ConnectException c = new ConnectException("cannot connect to " + base + ": " + e.getMessage());
      c.initCause(e);
      throw c;
    }
    return new Connection(ch);
  }

  private Connection take(URI base) {
    ConcurrentLinkedDeque<Connection> q = idle.get(base);
    return q == null ? null : q.pollFirst();
  }

  private void give(URI base, Connection c) {
    ConcurrentLinkedDeque<Connection> q = idle.computeIfAbsent(base, k -> new ConcurrentLinkedDeque<>());
    if (closed || q.size() >= maxIdle || !c.channel.isOpen()) {
      c.close();
      return;
    }
    q.addFirst(c);
    if (closed) {
      drain();
    }
  }

  private void drain() {
    for (ConcurrentLinkedDeque<Connection> q : idle.values()) {
      for (Connection c; (c = q.pollFirst()) != null; ) {
        c.close();
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    drain();
  }
}
