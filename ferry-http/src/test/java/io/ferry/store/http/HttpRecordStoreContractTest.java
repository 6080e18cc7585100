package io.ferry.store.http;

import io.ferry.store.Backend;
import io.ferry.testkit.RecordStoreContract;
import java.nio.file.Path;

/** The whole {@link RecordStoreContract} through the HTTP store, over a local store behind the in-test server. */
class HttpRecordStoreContractTest extends RecordStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return new ServedBackend(scratch.resolve("store"));
  }
}
