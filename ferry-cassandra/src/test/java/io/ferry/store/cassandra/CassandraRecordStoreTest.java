package io.ferry.store.cassandra;

import static org.assertj.core.api.Assertions.assertThat;

import com.datastax.oss.driver.api.core.cql.SimpleStatement;
import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RecordStoreContract;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The whole {@link RecordStoreContract} against a real Cassandra node, a fresh keyspace per test. */
class CassandraRecordStoreTest extends RecordStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return CassandraBackend.open(LocalCassandra.shared().freshUri("records"), StoreOptions.createIfMissing());
  }

  /**
   * A row without content (what a read repair of a names-only listing leaves on a replica that missed a write which
   * never reached its quorum; here written by hand) is no record: absent, not an empty one. An empty record stays
   * an empty record.
   */
  @Test
  void aRowWithoutContentIsNoRecord() throws Exception {
    CassandraBackend cassandra = (CassandraBackend) backend;
    cassandra.session().execute(SimpleStatement.newInstance("INSERT INTO " + cassandra.settings().keyspace()
        + ".records (parent, name) VALUES ('/leases', 'half')"));
    assertThat(records.read("leases/half")).isEmpty();
    assertThat(records.readAll(List.of("leases/half"))).containsExactly(Optional.empty());
    assertThat(records.create("leases/empty", new byte[0])).isTrue();
    assertThat(records.read("leases/empty")).hasValueSatisfying(b -> assertThat(b).isEmpty());
  }
}
