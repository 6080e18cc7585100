package io.ferry.store.http;

import io.ferry.store.Backend;
import io.ferry.testkit.RepositoryContract;

/**
 * The whole {@link RepositoryContract} through the HTTP store: each backend is its own {@code ferry serve} server
 * ({@link io.ferry.server.FerryServer}, with its upload checks) over the named local store, so two backends of one
 * name are two servers over one store, as in a deployment of several servers.
 */
class HttpRepositoryContractTest extends RepositoryContract {
  @Override
  protected Backend openBackend(String name) throws Exception {
    return ServedBackend.behindFerryServer(scratch.resolve(name));
  }
}
