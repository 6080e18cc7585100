package io.ferry.store.cassandra;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The error of a schema that does not settle names the nodes of each schema version. */
class SchemaVersionsTest {
  @Test
  void nodesAreGroupedByVersion() {
    Map<String, String> v = new LinkedHashMap<>();
    v.put("/127.0.0.3:9042", "9a81");
    v.put("/127.0.0.1:9042", "5e2c");
    v.put("/127.0.0.2:9042", "5e2c");
    assertThat(CassandraBackend.schemaVersions(v)).isEqualTo("schema versions as the driver last saw them: "
        + "5e2c on /127.0.0.1:9042, /127.0.0.2:9042; 9a81 on /127.0.0.3:9042");
    assertThat(CassandraBackend.schemaVersions(Map.of()))
        .isEqualTo("schema versions as the driver last saw them: no node up");
  }
}
