package io.ferry.store.cassandra;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RecordStoreContract;
import java.nio.file.Path;

/** The whole {@link RecordStoreContract} against a real Cassandra node, a fresh keyspace per test. */
class CassandraRecordStoreTest extends RecordStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return CassandraBackend.open(LocalCassandra.shared().freshUri("records"), StoreOptions.createIfMissing());
  }
}
