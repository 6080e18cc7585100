package io.ferry.server;

import io.ferry.server.http.Exchange;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.MimeTypes;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

/**
 * The errors Jetty answers itself, before a handler sees the request (an ambiguous path such as {@code /v1/%2e%2e/x},
 * headers too big, a malformed request line), as the API's JSON error body ({@code {"error": "<code>", "message":
 * "..."}}, docs/http-api.md) instead of Jetty's HTML page: a client of the API parses every error the same way.
 */
final class JsonErrors extends ErrorHandler {
  /**
   * Every method gets the body: Jetty's default writes one only for GET, POST and HEAD, so a PUT or DELETE it refused
   * (an ambiguous path, two {@code Content-Length} headers) was answered with an empty body the API's clients could
   * not read.
   */
  @Override
  public boolean errorPageForMethod(String method) {
    return true;
  }

  @Override
  protected void generateResponse(Request request, Response response, int code, String message, Throwable cause,
      Callback callback) {
    byte[] body = body(code, described(request, code, message, cause));
    response.getHeaders().put(HttpHeader.CONTENT_TYPE, MimeTypes.Type.APPLICATION_JSON_UTF_8.asString());
    // Jetty counts none of these bytes in the response it gives the access log: they are counted once written, on
    // the request the log is given (the one Jetty hands here keeps attributes of its own)
    Request logged = Request.unWrap(request);
    response.write(true, ByteBuffer.wrap(body), new Callback() {
      @Override
      public void succeeded() {
        logged.setAttribute(AccessLog.ERROR_BYTES, (long) body.length);
        callback.succeeded();
      }

      @Override
      public void failed(Throwable x) {
        callback.failed(x);
      }

      @Override
      public InvocationType getInvocationType() {
        return callback.getInvocationType();
      }
    });
  }

  @Override
  public ByteBuffer badMessageError(int status, String reason, HttpFields.Mutable fields) {
    fields.put(new HttpField(HttpHeader.CONTENT_TYPE, MimeTypes.Type.APPLICATION_JSON_UTF_8.asString()));
    return ByteBuffer.wrap(body(status, reason));
  }

  /** An encoded control character or backslash, which Jetty refuses in a path whatever the handler would say. */
  private static final Pattern SUSPICIOUS = Pattern.compile("%(?:[01][0-9A-Fa-f]|7[Ff]|5[Cc])");

  /**
   * Jetty's message for a path it refused, with the defect when the path holds an encoded control character or
   * backslash, and the path where Jetty still has it: Jetty said "Bad Request" for a {@code %00} and "Suspicious Path
   * Character" for the others, naming neither the path nor the character. Jetty refuses a {@code %00} while it parses
   * the request line, before the path is kept anywhere but by our HTTP/1.1 connections ({@link
   * io.ferry.server.http.HeaderDeadline#refusedTarget}): over HTTP/2 that message names the character only.
   */
  static String described(Request request, int code, String message, Throwable cause) {
    if (code != 400) {
      return message;
    }
    for (Throwable t = cause; t != null; t = t.getCause()) {
      if (t instanceof IllegalArgumentException && "Illegal character in path".equals(t.getMessage())) {
        // the one character Jetty's parser refuses outright in an encoded path, before it keeps the path: only an
        // HTTP/1.1 connection of ours still knows it
        String target = io.ferry.server.http.HeaderDeadline.refusedTarget(request);
        return (target == null ? "the request's path" : "path '" + AccessLog.safe(pathOf(target), 120) + "'")
            + " holds %00, an encoded NUL, which no path segment may hold (no model, ref, record key or file name"
            + " has one)";
      }
    }
    if (request == null || request.getHttpURI() == null || request.getHttpURI().getPath() == null) {
      return message;
    }
    String path = request.getHttpURI().getPath();
    Matcher m = SUSPICIOUS.matcher(path);
    if (!m.find()) {
      return message;
    }
    String what = m.group().equalsIgnoreCase("%5c") ? "an encoded backslash" : "an encoded control character";
    return "path '" + Exchange.clip(path) + "' holds " + m.group() + ", " + what + ", which no path segment may"
        + " hold (no model, ref, record key or file name has one)";
  }

  /** The path of a request target: what comes before its query. */
  static String pathOf(String target) {
    int q = target.indexOf('?');
    return q < 0 ? target : target.substring(0, q);
  }

  private static byte[] body(int status, String message) {
    String text = message == null || message.isBlank() ? "HTTP " + status : message;
    return Exchange.JSON.createObjectNode().put("error", code(status)).put("message", text).toString()
        .getBytes(StandardCharsets.UTF_8);
  }

  /** The API's error code for a status Jetty answers with. */
  static String code(int status) {
    return switch (status) {
      case 400 -> "bad-request";
      case 404 -> "not-found";
      case 405 -> "method-not-allowed";
      case 413 -> "too-large";
      case 414 -> "uri-too-long";
      case 431 -> "headers-too-large";
      case 500 -> "internal";
      case 503 -> "unavailable";
      default -> "http-" + status;
    };
  }
}
