package io.ferry.store.http;

import io.ferry.server.FerryServer;
import io.ferry.store.Backend;
import java.nio.file.Path;

/**
 * The whole {@link io.ferry.testkit.RefStoreContract} through the HTTP store, over a local store behind the real
 * server ({@link FerryServer}, what {@code ferry serve} runs) rather than the in-test one.
 */
class FerryServerRefStoreContractTest extends HttpRefStoreContractTest {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return ServedBackend.behindFerryServer(scratch.resolve("store"));
  }
}
