package io.ferry.server.auth;

import java.util.List;
import java.util.Objects;

/**
 * Who a request comes from and what it may do: the token's name and scopes, or the development server's unlimited
 * access. Immutable.
 *
 * @param who the token's name (for the access log and ref logs), or {@code dev} on a development server
 * @param scopes what the token allows
 * @param unlimited true only on a development server (no tokens file): everything is allowed
 */
public record Access(String who, List<Scope> scopes, boolean unlimited) {
  public Access {
    Objects.requireNonNull(who, "who");
    scopes = List.copyOf(scopes);
  }

  /** Everything allowed: a development server without tokens. */
  public static Access development() {
    return new Access("dev", List.of(), true);
  }

  /** Whether this may read the model (read, write or admin scope matching it). */
  public boolean canRead(String model) {
    return unlimited || scopes.stream().anyMatch(s -> s.matches(model));
  }

  /** Whether this may change the model's refs and push to it (write or admin). */
  public boolean canWrite(String model) {
    return unlimited || scopes.stream().anyMatch(s -> s.kind() != Scope.Kind.READ && s.matches(model));
  }

  /** Whether this may read some model: chunk reads, which are not tied to one model. */
  public boolean canReadAny() {
    return unlimited || !scopes.isEmpty();
  }

  /** Whether this may write some model: chunk uploads and the missing-chunks query. */
  public boolean canWriteAny() {
    return unlimited || scopes.stream().anyMatch(s -> s.kind() != Scope.Kind.READ);
  }

  /** Whether this may do store-wide operations (list and delete chunks, records outside leases). */
  public boolean isAdmin() {
    return unlimited || scopes.stream().anyMatch(s -> s.kind() == Scope.Kind.ADMIN);
  }
}
