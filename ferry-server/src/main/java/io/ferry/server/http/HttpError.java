package io.ferry.server.http;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A request the server answers with an error status: the status, a short stable code for machines ({@code
 * not-found}, {@code chunk-mismatch}...), a message naming what, where, expected and actual, and for some codes fields
 * a client needs to rebuild the error (the ref and entry of a damaged ref log). Thrown by handlers and turned into the
 * JSON error body by the server; never leaves the server.
 */
public class HttpError extends Exception {
  private final int status;
  private final String code;
  private final Map<String, Object> details;

  public HttpError(int status, String code, String message) {
    this(status, code, message, Map.of());
  }

  /**
   * @param details fields of the JSON error body besides {@code error} and {@code message}, each a string or a
   *     number
   */
  public HttpError(int status, String code, String message, Map<String, ?> details) {
    super(message, null, false, false);
    if (status < 400 || status > 599) {
      throw new IllegalArgumentException("HTTP error status " + status + " is not 4xx or 5xx");
    }
    this.status = status;
    this.code = Objects.requireNonNull(code, "code");
    for (Map.Entry<String, ?> d : details.entrySet()) {
      if (d.getKey().equals("error") || d.getKey().equals("message")
          || !(d.getValue() instanceof String || d.getValue() instanceof Number)) {
        throw new IllegalArgumentException("error detail " + d.getKey() + "=" + d.getValue() + ": the name must not"
            + " be error or message, the value must be a string or a number");
      }
    }
    this.details = Map.copyOf(details);
  }

  public int status() {
    return status;
  }

  public String code() {
    return code;
  }

  /** Fields of the JSON error body besides {@code error} and {@code message}; empty for most errors. */
  public Map<String, Object> details() {
    return details;
  }

  public static HttpError badRequest(String message) {
    return new HttpError(400, "bad-request", message);
  }

  public static HttpError notFound(String message) {
    return new HttpError(404, "not-found", message);
  }

  /**
   * The 405 of a method the resource does not take; the answer's {@code Allow} header lists {@code allowed}, as HTTP
   * requires of a 405.
   */
  public static HttpError methodNotAllowed(String method, String path, String... allowed) {
    return new MethodNotAllowed(method, path, List.of(allowed));
  }

  /** A 405 that knows the methods the resource takes, for the {@code Allow} header. */
  public static final class MethodNotAllowed extends HttpError {
    private final List<String> allowed;

    MethodNotAllowed(String method, String path, List<String> allowed) {
      super(405, "method-not-allowed", method + " is not allowed on " + path + "; it takes " + String.join(", ",
          allowed));
      this.allowed = allowed;
    }

    /** The methods the resource takes. */
    public List<String> allowed() {
      return allowed;
    }

    /** The {@code Allow} header's value. */
    public String allow() {
      return String.join(", ", allowed);
    }
  }
}
