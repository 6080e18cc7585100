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
 */
final class AccessLog implements RequestLog {
  private final Consumer<String> sink;
  private final Clock clock;

  AccessLog(Consumer<String> sink, Clock clock) {
    this.sink = sink;
    this.clock = clock;
  }

  @Override
  public void log(Request request, Response response) {
    Object who = request.getAttribute(FerryHandler.WHO);
    String path = request.getHttpURI().getPathQuery();
    long ms = (System.nanoTime() - request.getBeginNanoTime()) / 1_000_000;
    sink.accept(clock.instant() + " " + Request.getRemoteAddr(request) + " " + (who == null ? "-" : who) + " "
        + safe(request.getMethod(), 16) + " " + safe(path, 300) + " " + response.getStatus() + " "
        + Response.getContentBytesWritten(response) + " " + ms + "ms");
  }

  static String safe(String s, int max) {
    if (s == null) {
      return "-";
    }
    StringBuilder b = new StringBuilder(Math.min(s.length(), max) + 8);
    for (int i = 0; i < s.length() && b.length() < max; i++) {
      char c = s.charAt(i);
      if (c < 0x21 || c == 0x7f || (c >= 0x80 && c < 0xa0)) {
        b.append(String.format("%%%02X", (int) c));
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
