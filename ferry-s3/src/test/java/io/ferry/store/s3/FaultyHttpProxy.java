package io.ferry.store.s3;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A plain HTTP/1.1 forwarder on loopback that sits between the S3 client and S3Proxy and misbehaves on purpose: it
 * answers some requests with 500 or 503, delays others, drops the connection before answering, forwards a request and
 * then drops its answer (so the client does not know a PUT landed), or cuts a response body short. Which request
 * gets which fault is decided by a {@link Policy}; every fault dealt is counted.
 *
 * <p>Each client connection carries one exchange ({@code Connection: close}), which keeps the forwarding simple.
 */
final class FaultyHttpProxy implements AutoCloseable {
  /** What happens to one request. */
  enum Fault {
    NONE,
    /** answer 500 InternalError without forwarding */
    ERROR_500,
    /** answer 503 SlowDown without forwarding */
    ERROR_503,
    /** wait {@link #delayMillis} before forwarding */
    DELAY,
    /** close the connection without forwarding or answering */
    DROP,
    /** forward the request, then close the connection without answering */
    FORWARD_THEN_DROP,
    /** forward, then send the status and headers but only half the body, then close */
    TRUNCATE_BODY,
    /** answer 501 NotImplemented without forwarding, as an endpoint that lacks a feature of the request does */
    ERROR_501,
    /** answer 400 InvalidArgument without forwarding, as an endpoint that refuses a header it does not take does */
    INVALID_ARGUMENT,
    /** answer 404 NoSuchKey without forwarding, as S3 answers a conditional delete of a key that is gone */
    NO_SUCH_KEY,
    /** answer 403 AccessDenied without forwarding, as S3 answers credentials that lack a permission */
    ACCESS_DENIED,
    /** forward a listing, then answer that more keys follow, without a continuation token */
    LISTING_WITHOUT_TOKEN,
    /** forward a listing, then answer that more keys follow, always with the continuation token "again" */
    LISTING_SAME_TOKEN,
    /**
     * forward a listing, then answer that more keys follow, with the token "two" after the page asked for with "one"
     * and "one" after any other: a cycle of two pages
     */
    LISTING_TOKEN_CYCLE,
    /** forward a listing, then add the key "e" to it, outside any store's prefix */
    LISTING_FOREIGN_KEY,
    /** forward a listing, then add the prefix asked for as a common prefix of its own */
    LISTING_PREFIX_AS_COMMON_PREFIX,
    /** forward a listing, then remove the size and the modification time of every key */
    LISTING_WITHOUT_SIZES,
    /** forward a listing, then list its first key twice, as an endpoint repeating part of a page does */
    LISTING_REPEATED_KEY,
    /**
     * forward a ranged GET for the same number of bytes from the start of the object, as a server or cache that
     * answers another range than asked does (the endpoint must not check signatures)
     */
    SHIFTED_RANGE,
    /** forward, then answer a Content-Range whose first byte is 9999999999999999999, past any long */
    HUGE_RANGE,
    /** forward, then answer a Content-Range without the object's size ({@code bytes a-b/*}) */
    UNKNOWN_SIZE,
    /** forward, then answer a Content-Range that gives the object's size as 2,147,483,000 bytes */
    LYING_SIZE,
    /** forward, then answer without the ETag header, as some S3-compatible endpoints do */
    NO_ETAG,
    /** forward, then send the body a byte every {@link #delayMillis}, each wait shorter than a socket timeout */
    TRICKLE_BODY,
    /** answer 200 OK without forwarding, as an endpoint that ignores a PUT's condition and overwrites does */
    ACCEPT,
    /** answer a GetBucketVersioning that versioning is enabled, as S3 does for a versioned bucket */
    VERSIONING_ENABLED
  }

  /** Chooses the fault for a request. */
  interface Policy {
    Fault choose(String method, String target, long requestNumber);
  }

  private final URI upstream;
  private final ServerSocket server;
  private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "faulty-proxy");
    t.setDaemon(true);
    return t;
  });
  private final Map<Fault, AtomicLong> dealt = Collections.synchronizedMap(new EnumMap<>(Fault.class));
  private final AtomicLong requests = new AtomicLong();
  private final List<Socket> open = Collections.synchronizedList(new ArrayList<>());
  private volatile Policy policy = (m, t, n) -> Fault.NONE;
  private volatile long delayMillis = 200;
  private volatile boolean closed;

  FaultyHttpProxy(URI upstream) throws IOException {
    this.upstream = upstream;
    this.server = new ServerSocket(0, 200, InetAddress.getLoopbackAddress());
    for (Fault f : Fault.values()) {
      dealt.put(f, new AtomicLong());
    }
    threads.submit(this::acceptLoop);
  }

  URI endpoint() {
    return URI.create("http://127.0.0.1:" + server.getLocalPort());
  }

  void policy(Policy p) {
    this.policy = p;
  }

  void delayMillis(long ms) {
    this.delayMillis = ms;
  }

  long dealt(Fault f) {
    return dealt.get(f).get();
  }

  long requests() {
    return requests.get();
  }

  String summary() {
    return "requests " + requests.get() + ", faults " + dealt;
  }

  private void acceptLoop() {
    while (!closed) {
      try {
        Socket s = server.accept();
        open.add(s);
        threads.submit(() -> serve(s));
      } catch (IOException e) {
        if (!closed) {
          e.printStackTrace();
        }
      }
    }
  }

  private void serve(Socket client) {
    try (client) {
      client.setSoTimeout(60_000);
      InputStream in = client.getInputStream();
      OutputStream out = client.getOutputStream();
      String head = readHead(in);
      if (head == null) {
        return;
      }
      String[] lines = head.split("\r\n");
      String[] requestLine = lines[0].split(" ");
      String method = requestLine[0];
      String target = requestLine[1];
      long contentLength = 0;
      boolean expectContinue = false;
      StringBuilder forwardHead = new StringBuilder(lines[0]).append("\r\n");
      for (int i = 1; i < lines.length; i++) {
        String name = lines[i].substring(0, lines[i].indexOf(':')).trim().toLowerCase(Locale.ROOT);
        String value = lines[i].substring(lines[i].indexOf(':') + 1).trim();
        switch (name) {
          case "content-length" -> contentLength = Long.parseLong(value);
          case "expect" -> expectContinue = value.equalsIgnoreCase("100-continue");
          case "connection" -> { }
          case "transfer-encoding" -> throw new IOException("chunked requests are not supported by this proxy");
          default -> forwardHead.append(lines[i]).append("\r\n");
        }
      }
      forwardHead.append("Connection: close\r\n\r\n");
      Fault fault = policy.choose(method, target, requests.incrementAndGet());
      dealt.get(fault).incrementAndGet();
      if (fault == Fault.SHIFTED_RANGE) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?i)\r\nRange: bytes=(\\d+)-(\\d+)\r\n")
            .matcher(forwardHead);
        if (m.find()) {
          long length = Long.parseLong(m.group(2)) - Long.parseLong(m.group(1));
          forwardHead.replace(m.start(), m.end(), "\r\nRange: bytes=0-" + length + "\r\n");
        }
      }
      switch (fault) {
        case ERROR_500, ERROR_503, ERROR_501, INVALID_ARGUMENT, NO_SUCH_KEY, ACCESS_DENIED -> {
          // answer without reading the body; the client must not reuse the connection
          String code = switch (fault) {
            case ERROR_503 -> "SlowDown";
            case ERROR_501 -> "NotImplemented";
            case INVALID_ARGUMENT -> "InvalidArgument";
            case NO_SUCH_KEY -> "NoSuchKey";
            case ACCESS_DENIED -> "AccessDenied";
            default -> "InternalError";
          };
          String status = switch (fault) {
            case ERROR_503 -> "503 Slow Down";
            case ERROR_501 -> "501 Not Implemented";
            case INVALID_ARGUMENT -> "400 Bad Request";
            case NO_SUCH_KEY -> "404 Not Found";
            case ACCESS_DENIED -> "403 Forbidden";
            default -> "500 Internal Server Error";
          };
          String body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code + "</Code><Message>injected "
              + "by the test proxy</Message></Error>";
          byte[] b = body.getBytes(StandardCharsets.UTF_8);
          out.write(("HTTP/1.1 " + status
              + "\r\nContent-Type: application/xml\r\nContent-Length: " + b.length + "\r\nConnection: close\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
          out.write(b);
          out.flush();
          return;
        }
        case DROP -> {
          return;
        }
        case ACCEPT -> {
          // without reading the body, as the error answers above: the client must not reuse the connection
          out.write(("HTTP/1.1 200 OK\r\nETag: \"0123456789abcdef0123456789abcdef\"\r\nContent-Length: 0\r\n"
              + "Connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
          out.flush();
          return;
        }
        case VERSIONING_ENABLED -> {
          byte[] b = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><VersioningConfiguration xmlns=\"http://s3.amazonaws"
              + ".com/doc/2006-03-01/\"><Status>Enabled</Status></VersioningConfiguration>")
              .getBytes(StandardCharsets.UTF_8);
          out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: " + b.length
              + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
          out.write(b);
          out.flush();
          return;
        }
        case DELAY -> sleep(delayMillis);
        default -> { }
      }
      if (expectContinue) {
        out.write("HTTP/1.1 100 Continue\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        out.flush();
      }
      byte[] body = in.readNBytes((int) contentLength);
      if (body.length < contentLength) {
        return;
      }
      try (Socket up = new Socket()) {
        up.connect(new InetSocketAddress(upstream.getHost(), upstream.getPort()), 10_000);
        up.setSoTimeout(60_000);
        OutputStream upOut = up.getOutputStream();
        String h = forwardHead.toString();
        if (contentLength > 0 || method.equals("PUT") || method.equals("POST")) {
          h = h.replace("Connection: close\r\n", "Content-Length: " + contentLength + "\r\nConnection: close\r\n");
        }
        upOut.write(h.getBytes(StandardCharsets.ISO_8859_1));
        upOut.write(body);
        upOut.flush();
        InputStream upIn = up.getInputStream();
        String responseHead = readHead(upIn);
        if (responseHead == null) {
          return;
        }
        byte[] responseBody = upIn.readAllBytes();
        if (fault == Fault.FORWARD_THEN_DROP) {
          return;
        }
        boolean rewrite = fault == Fault.LISTING_WITHOUT_TOKEN || fault == Fault.LISTING_SAME_TOKEN
            || fault == Fault.LISTING_TOKEN_CYCLE || fault == Fault.LISTING_FOREIGN_KEY
            || fault == Fault.LISTING_WITHOUT_SIZES || fault == Fault.LISTING_PREFIX_AS_COMMON_PREFIX
            || fault == Fault.LISTING_REPEATED_KEY;
        if (rewrite) {
          if (responseHead.toLowerCase(Locale.ROOT).contains("transfer-encoding: chunked")) {
            responseBody = dechunk(responseBody);
          }
          String xml = new String(responseBody, StandardCharsets.UTF_8);
          if (fault == Fault.LISTING_FOREIGN_KEY) {
            xml = xml.replace("</ListBucketResult>", "<Contents><Key>e</Key><LastModified>2020-01-01T00:00:00.000Z"
                + "</LastModified><ETag>\"x\"</ETag><Size>1</Size></Contents></ListBucketResult>");
          }
          if (fault == Fault.LISTING_PREFIX_AS_COMMON_PREFIX) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("[?&]prefix=([^&]*)").matcher(target);
            String asked = m.find() ? java.net.URLDecoder.decode(m.group(1), StandardCharsets.UTF_8) : "";
            xml = xml.replace("</ListBucketResult>", "<CommonPrefixes><Prefix>" + asked
                + "</Prefix></CommonPrefixes></ListBucketResult>");
          }
          if (fault == Fault.LISTING_WITHOUT_SIZES) {
            xml = xml.replaceAll("<Size>[^<]*</Size>", "").replaceAll("<LastModified>[^<]*</LastModified>", "");
          }
          if (fault == Fault.LISTING_REPEATED_KEY) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("<Contents>.*?</Contents>").matcher(xml);
            if (m.find()) {
              xml = xml.substring(0, m.end()) + m.group() + xml.substring(m.end());
            }
          }
          xml = fault == Fault.LISTING_FOREIGN_KEY || fault == Fault.LISTING_WITHOUT_SIZES
              || fault == Fault.LISTING_PREFIX_AS_COMMON_PREFIX || fault == Fault.LISTING_REPEATED_KEY ? xml : xml
              .replaceAll("<NextContinuationToken>[^<]*</NextContinuationToken>", "")
              .replace("<IsTruncated>false</IsTruncated>", "<IsTruncated>true</IsTruncated>");
          if (fault == Fault.LISTING_SAME_TOKEN || fault == Fault.LISTING_TOKEN_CYCLE) {
            String token = fault == Fault.LISTING_SAME_TOKEN ? "again"
                : target.contains("continuation-token=one") ? "two" : "one";
            xml = xml.replace("<IsTruncated>true</IsTruncated>",
                "<IsTruncated>true</IsTruncated><NextContinuationToken>" + token + "</NextContinuationToken>");
          }
          responseBody = xml.getBytes(StandardCharsets.UTF_8);
        }
        StringBuilder rh = new StringBuilder();
        for (String line : responseHead.split("\r\n")) {
          String lower = line.toLowerCase(Locale.ROOT);
          if (rewrite && (lower.startsWith("content-length:") || lower.startsWith("transfer-encoding:"))) {
            continue;
          }
          if (fault == Fault.HUGE_RANGE && lower.startsWith("content-range:")) {
            line = line.replaceFirst("bytes \\d+-", "bytes 9999999999999999999-");
          }
          if (fault == Fault.LYING_SIZE && lower.startsWith("content-range:")) {
            line = line.replaceFirst("/\\d+", "/2147483000");
          }
          if (fault == Fault.UNKNOWN_SIZE && lower.startsWith("content-range:")) {
            line = line.replaceFirst("/\\d+", "/*");
          }
          if (fault == Fault.NO_ETAG && lower.startsWith("etag:")) {
            continue;
          }
          if (!lower.startsWith("connection:")) {
            rh.append(line).append("\r\n");
          }
        }
        if (rewrite) {
          rh.append("Content-Length: ").append(responseBody.length).append("\r\n");
        }
        rh.append("Connection: close\r\n\r\n");
        out.write(rh.toString().getBytes(StandardCharsets.ISO_8859_1));
        if (fault == Fault.TRUNCATE_BODY && responseBody.length > 1) {
          out.write(responseBody, 0, responseBody.length / 2);
          out.flush();
          client.setSoLinger(true, 0);
          return;
        }
        if (fault == Fault.TRICKLE_BODY) {
          for (byte b : responseBody) {
            out.write(b);
            out.flush();
            sleep(delayMillis);
          }
          return;
        }
        out.write(responseBody);
        out.flush();
      }
    } catch (IOException e) {
      // a client that went away, or an injected fault: nothing to do
    } finally {
      open.remove(client);
    }
  }

  /** The body of a chunked message (no trailers). */
  private static byte[] dechunk(byte[] chunked) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int at = 0;
    while (at < chunked.length) {
      int eol = at;
      while (eol + 1 < chunked.length && !(chunked[eol] == '\r' && chunked[eol + 1] == '\n')) {
        eol++;
      }
      String size = new String(chunked, at, eol - at, StandardCharsets.US_ASCII).split(";")[0].trim();
      int n = Integer.parseInt(size, 16);
      if (n == 0) {
        break;
      }
      out.write(chunked, eol + 2, n);
      at = eol + 2 + n + 2;
    }
    return out.toByteArray();
  }

  /** Reads up to the blank line; null at EOF before any byte. */
  private static String readHead(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int state = 0;
    while (state < 4) {
      int c = in.read();
      if (c < 0) {
        if (b.size() == 0) {
          return null;
        }
        throw new EOFException("connection closed inside a message head");
      }
      b.write(c);
      state = (c == '\r' && (state == 0 || state == 2)) || (c == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
      if (state == 0 && c == '\r') {
        state = 1;
      }
    }
    String s = b.toString(StandardCharsets.ISO_8859_1);
    return s.substring(0, s.length() - 4);
  }

  private static void sleep(long ms) {
    try {
      TimeUnit.MILLISECONDS.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() throws IOException {
    closed = true;
    server.close();
    synchronized (open) {
      for (Socket s : open) {
        s.close();
      }
    }
    threads.shutdownNow();
  }
}
