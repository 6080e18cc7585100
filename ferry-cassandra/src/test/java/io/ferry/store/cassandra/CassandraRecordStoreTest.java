package io.ferry.store.cassandra;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RecordStoreContract;
import java.nio.file.Path;

/** The whole {@link RecordStoreContract} against a real Cassandra node, one keyspace emptied before each test. */
class CassandraRecordStoreTest extends RecordStoreContract {
  private static final String KEYSPACE = LocalCassandra.freshKeyspace("records");

  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return CassandraBackend.open(LocalCassandra.shared().emptyStore(KEYSPACE), StoreOptions.createIfMissing());
  }
}
