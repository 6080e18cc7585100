package io.ferry.error;

/**
 * A request the store refuses to this client, not for what it asks but for who asks: a server's token whose scopes do
 * not cover it (HTTP 403). The store is left as it was. Callers that can do without the answer (a store-wide verify
 * without the small-chunk index) say so and go on.
 */
public class NotAllowedException extends InvalidInputException {
  public NotAllowedException(String message) {
    super(message);
  }
}
