package io.ferry.store.cassandra;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RepositoryContract;

/** Runs the {@link RepositoryContract} (push, tags, rollback, gc racing pushes) against a real Cassandra node. */
class CassandraRepositoryContractTest extends RepositoryContract {
  private final String keyspace = LocalCassandra.freshKeyspace("repo");

  @Override
  protected Backend openBackend(String name) throws Exception {
    return CassandraBackend.open(LocalCassandra.shared().uri(keyspace + "_" + name.toLowerCase()
        .replaceAll("[^a-z0-9_]", "_"), "replication_factor=1"), StoreOptions.createIfMissing());
  }
}
