package io.ferry.store.cassandra;

import static org.assertj.core.api.Assertions.assertThat;

import com.datastax.oss.driver.api.core.CqlSession;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

/** The test server starts and answers CQL: the ground every other test here stands on. */
class LocalCassandraTest {
  @Test
  void answersCql() {
    LocalCassandra c = LocalCassandra.shared();
    try (CqlSession s = CqlSession.builder()
        .addContactPoint(new InetSocketAddress(c.address(), c.nativePort()))
        .withLocalDatacenter("datacenter1").build()) {
      assertThat(s.execute(com.datastax.oss.driver.api.core.cql.SimpleStatement.newInstance(
          "SELECT release_version FROM system.local").setTimeout(java.time.Duration.ofSeconds(30))).one().getString(0)).startsWith("5.0");
    }
  }
}
