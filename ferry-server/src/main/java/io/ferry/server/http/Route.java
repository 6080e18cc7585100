package io.ferry.server.http;

import java.io.IOException;

/** A part of the server's API: serves a request if it is one of its paths. */
@FunctionalInterface
public interface Route {
  /**
   * Serves the request if its path belongs to this part of the API.
   *
   * @return false, having written nothing, if the path is not one of this route's
   */
  boolean handle(Exchange ex) throws HttpError, IOException, InterruptedException;

  /**
   * Whether this route reads paths whose segments hold an encoded {@code /} ({@link
   * Exchange#segmentsKeepingEncodedSlashes}); the server offers such a path to these routes only and refuses it with
   * 400 when none takes it.
   */
  default boolean takesEncodedSlashes() {
    return false;
  }
}
