package io.ferry.store.cassandra;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ChunkStoreContract;
import java.nio.file.Path;

/** The whole {@link ChunkStoreContract} against a real Cassandra node, one keyspace emptied before each test. */
class CassandraChunkStoreTest extends ChunkStoreContract {
  private static final String KEYSPACE = LocalCassandra.freshKeyspace("chunks");

  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return CassandraBackend.open(LocalCassandra.shared().emptyStore(KEYSPACE), StoreOptions.createIfMissing());
  }
}
