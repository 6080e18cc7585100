package io.ferry.server.http;

/**
 * A request the server answers with an error status: the status, a short stable code for machines ({@code
 * not-found}, {@code chunk-mismatch}...) and a message naming what, where, expected and actual. Thrown by handlers and
 * turned into the JSON error body by the server; never leaves the server.
 */
public class HttpError extends Exception {
  private final int status;
  private final String code;

  public HttpError(int status, String code, String message) {
    super(message, null, false, false);
    if (status < 400 || status > 599) {
      throw new IllegalArgumentException("HTTP error status " + status + " is not 4xx or 5xx");
    }
    this.status = status;
    this.code = java.util.Objects.requireNonNull(code, "code");
  }

  public int status() {
    return status;
  }

  public String code() {
    return code;
  }

  public static HttpError badRequest(String message) {
    return new HttpError(400, "bad-request", message);
  }

  public static HttpError notFound(String message) {
    return new HttpError(404, "not-found", message);
  }

  public static HttpError methodNotAllowed(String method, String path) {
    return new HttpError(405, "method-not-allowed", method + " is not allowed on " + path);
  }
}
