package io.ferry.testkit;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import java.nio.file.Path;

/** Runs the {@link ChunkStoreContract} against the local backend. */
class LocalChunkStoreTest extends ChunkStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return LocalBackend.open(scratch.resolve("store"), StoreOptions.createIfMissing());
  }
}
