package io.ferry.store.cassandra;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RefStoreContract;
import java.nio.file.Path;

/**
 * The whole {@link RefStoreContract} against a real Cassandra node, a fresh keyspace per test; the multi-process
 * tests' children open the store by its URI through the {@link CassandraBackendProvider}.
 */
class CassandraRefStoreTest extends RefStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return CassandraBackend.open(LocalCassandra.shared().freshUri("refs"), StoreOptions.createIfMissing());
  }
}
