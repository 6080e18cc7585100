package io.ferry.server;

import java.time.Clock;
import java.util.function.Consumer;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.RequestLog;
import org.eclipse.jetty.server.Response;

/**
 * One line per request, also for requests Jetty refused before a handler saw them (a malformed URI, headers too
 * big): {@code time remote who method path status bytes ms}, e.g. {@code 2026-12-01T22:50:01.123Z 127.0.0.1 alice GET
 * /v1/store/chunks/3f2a... 200 1048576 12ms}. {@code who} is the token's name, {@code dev} on a development server,
 * {@code -} when no token was accepted. The path is clipped and its control characters escaped, so a client cannot
 * forge lines.
 *
 * <p>An answer whose body was cut short (the client went away in the middle of it, as a killed pull or the losing
 * half of a hedged read does, or the server failed after its headers were out) keeps the status that was sent and the
 * bytes that were written, and ends in {@code cut-short}: {@code ... 200 2097152 320ms cut-short}. A client that
 * went away is not a server error and is not logged as one. The server's own failures (a 5xx, or an answer cut short
 * because the store failed in the middle of it) end in {@code error: } and the failure, clipped and escaped like the
 * path: {@code ... 206 6291456 10533ms cut-short error: GET s3://ferry/m/objects/bb10... at endpoint ... failed}.
 * An error Jetty answered itself is logged with the bytes of its JSON body once they were written ({@link
 * #ERROR_BYTES}).
 */
final class AccessLog implements RequestLog {
  /** Request attribute set when an answer's body could not be finished after its headers were sent. */
  static final String CUT_SHORT = "ferry.cutShort";
  /** Request attribute holding the server's own failure (a 5xx, or an answer the store failed in the middle of). */
  static final String ERROR = "ferry.error";
  /**
   * Request attribute holding the bytes of the body of an error Jetty answered itself, once written: Jetty does not
   * count them in the response the log is given.
   */
  static final String ERROR_BYTES = "ferry.errorBytes";

  private final Consumer<String> sink;
  private final Clock clock;

  AccessLog(Consumer<String> sink, Clock clock) {
    this.sink = sink;
    this.clock = clock;
  }

  @Override
  public void log(Request request, Response response) {
    Object who = request.getAttribute(FerryHandler.WHO);
    // a target Jetty refused as it read the request line (a %00) is logged as sent, not as Jetty's "/badMessage"
    String refused = io.ferry.server.http.HeaderDeadline.refusedTarget(request);
    String path = refused != null ? refused : request.getHttpURI().getPathQuery();
    long ms = (System.nanoTime() - request.getBeginNanoTime()) / 1_000_000;
    long written = Response.getContentBytesWritten(response);
    if (written == 0 && request.getAttribute(ERROR_BYTES) instanceof Long errorBytes) {
      written = errorBytes;
    }
    sink.accept(clock.instant() + " " + Request.getRemoteAddr(request) + " " + (who == null ? "-" : who) + " "
        + safe(request.getMethod(), 16) + " " + safe(path, 300) + " " + response.getStatus() + " " + written + " "
        + ms + "ms" + (cutShort(request, response, written) ? " cut-short" : "")
        + (request.getAttribute(ERROR) instanceof String error ? " error: " + safeText(error, 300) : ""));
  }

  /** Whether fewer bytes went out than the answer's Content-Length promised, or the handler could not finish it. */
  private static boolean cutShort(Request request, Response response, long written) {
    if (request.getAttribute(CUT_SHORT) != null) {
      return true;
    }
    long promised = response.getHeaders().getLongField(org.eclipse.jetty.http.HttpHeader.CONTENT_LENGTH);
    // an error Jetty answered itself (a malformed request, headers too big) whose body was not written counts no
    // bytes in the response: not cut short
    boolean jettyError = response.getStatus() >= 400 && written == 0;
    return !"HEAD".equals(request.getMethod()) && response.getStatus() != 304 && !jettyError && promised >= 0
        && written < promised;
  }

  /** As {@link #safe}, with spaces kept: a message in words, still on one line that cannot forge another. */
  static String safeText(String s, int max) {
    return safe(s, max, ' ');
  }

  static String safe(String s, int max) {
    return safe(s, max, (char) 0x21);
  }

  /**
   * {@code s} clipped at {@code max} characters, with the characters below {@code lowest}, DEL and C1 percent-escaped,
   * and Unicode's line and paragraph separators and invisible format characters (bidirectional overrides such as
   * U+202E, which make a terminal show a line's text in another order) escaped as their UTF-8 bytes
   * ({@code %E2%80%AE}): a path Jetty refused reaches the log as the client sent it, raw UTF-8 included.
   */
  private static String safe(String s, int max, char lowest) {
    if (s == null) {
      return "-";
    }
    StringBuilder b = new StringBuilder(Math.min(s.length(), max) + 8);
    for (int i = 0; i < s.length() && b.length() < max; i++) {
      char c = s.charAt(i);
      int type = Character.getType(c);
      if (c < lowest || c == 0x7f || (c >= 0x80 && c < 0xa0)) {
        b.append(String.format("%%%02X", (int) c));
      } else if (type == Character.FORMAT || type == Character.LINE_SEPARATOR
          || type == Character.PARAGRAPH_SEPARATOR) {
        for (byte u : String.valueOf(c).getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
          b.append(String.format("%%%02X", u & 0xff));
        }
      } else {
        b.append(c);
      }
    }
    if (b.length() >= max && s.length() > max) {
      b.append("...");
    }
    return b.toString();
  }
}
