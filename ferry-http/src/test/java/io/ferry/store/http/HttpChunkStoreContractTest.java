package io.ferry.store.http;

import io.ferry.store.Backend;
import io.ferry.testkit.ChunkStoreContract;
import java.nio.file.Path;

/** The whole {@link ChunkStoreContract} through the HTTP store, over a local store behind the in-test server. */
class HttpChunkStoreContractTest extends ChunkStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return new ServedBackend(scratch.resolve("store"));
  }
}
