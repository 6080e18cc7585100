package io.ferry.store.cassandra;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ChunkStoreContract;
import java.nio.file.Path;

/** The whole {@link ChunkStoreContract} against a real Cassandra node, a fresh keyspace per test. */
class CassandraChunkStoreTest extends ChunkStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return CassandraBackend.open(LocalCassandra.shared().freshUri("chunks"), StoreOptions.createIfMissing());
  }
}
