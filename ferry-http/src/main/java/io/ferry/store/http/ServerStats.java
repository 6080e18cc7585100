package io.ferry.store.http;

import java.net.URI;
import java.util.Objects;

/**
 * What one server of an HTTP store did for this client so far: a snapshot taken by {@link HttpBackend#stats()}.
 *
 * @param server the server's base URI
 * @param requests requests sent to it (probes not counted)
 * @param failures requests that failed there (no answer, a timeout, or a 5xx answer)
 * @param hedges chunk reads sent to it as the second request of a hedged read
 * @param timesDown how often it was marked down
 * @param down whether it is marked down now
 * @param outstanding requests in flight now
 */
public record ServerStats(URI server, long requests, long failures, long hedges, long timesDown, boolean down,
    int outstanding) {
  public ServerStats {
    Objects.requireNonNull(server, "server");
    if (requests < 0 || failures < 0 || hedges < 0 || timesDown < 0 || outstanding < 0) {
      throw new IllegalArgumentException("negative count in stats of " + server);
    }
  }
}
