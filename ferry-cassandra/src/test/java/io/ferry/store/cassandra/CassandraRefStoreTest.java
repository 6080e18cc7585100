package io.ferry.store.cassandra;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RefStoreContract;
import java.nio.file.Path;

/**
 * The whole {@link RefStoreContract} against a real Cassandra node, one keyspace emptied before each test; the multi-process
 * tests' children open the store by its URI through the {@link CassandraBackendProvider}.
 */
class CassandraRefStoreTest extends RefStoreContract {
  private static final String KEYSPACE = LocalCassandra.freshKeyspace("refs");

  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return CassandraBackend.open(LocalCassandra.shared().emptyStore(KEYSPACE), StoreOptions.createIfMissing());
  }
}
