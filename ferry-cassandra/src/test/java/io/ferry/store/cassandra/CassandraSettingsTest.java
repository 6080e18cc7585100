package io.ferry.store.cassandra;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.datastax.oss.driver.api.core.DefaultConsistencyLevel;
import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Parsing of {@code cassandra://} URIs and their options, and the CQL printed for DBAs; no server needed. */
class CassandraSettingsTest {
  private static CassandraSettings parse(String uri) throws InvalidInputException {
    return CassandraSettings.parse(URI.create(uri), Map.of());
  }

  @Test
  void hostsPortsAndDefaults() throws Exception {
    CassandraSettings s = parse("cassandra://h1,h2:9142,h3/models");
    assertThat(s.contactPoints()).containsExactly(InetSocketAddress.createUnresolved("h1", 9042),
        InetSocketAddress.createUnresolved("h2", 9142), InetSocketAddress.createUnresolved("h3", 9042));
    assertThat(parse("cassandra://h1,h2:9142/models").contactPoints()).extracting(InetSocketAddress::getPort)
        .containsExactly(9142, 9142);
    assertThat(s.keyspace()).isEqualTo("models");
    assertThat(s.consistency()).isEqualTo(DefaultConsistencyLevel.QUORUM);
    assertThat(s.serialConsistency()).isEqualTo(DefaultConsistencyLevel.SERIAL);
    assertThat(s.replication()).isEmpty();
    assertThat(s.localDc()).isNull();
    assertThat(s.describe()).isEqualTo("cassandra://h1:9042,h2:9142,h3:9042/models");
    assertThat(s.speculativeDelay()).isEqualTo(java.time.Duration.ofMillis(500));
    assertThat(parse("cassandra://h/m?speculative_delay_ms=0").speculativeDelay()).as("off").isZero();
    CassandraSettings v6 = parse("cassandra://[::1]:9142/models");
    assertThat(v6.contactPoints()).containsExactly(InetSocketAddress.createUnresolved("::1", 9142));
    assertThat(v6.describe()).as("a URI that opens the store again").isEqualTo("cassandra://[::1]:9142/models");
    assertThat(parse(v6.describe()).contactPoints()).isEqualTo(v6.contactPoints());
    assertThat(parse("cassandra://h/m?speculative_delay_ms=2000").speculativeDelay())
        .isEqualTo(java.time.Duration.ofSeconds(2));
  }

  /**
   * Several hosts with IPv6 literals among them: {@code java.net.URI} refuses brackets around any host but the only
   * one, so they are written percent-encoded. The backend took {@code %5B::1%5D} for a host name, and its messages gave
   * a URI with bare brackets, which no command could open.
   */
  @Test
  void severalIpv6HostsWithEncodedBrackets() throws Exception {
    CassandraSettings s = parse("cassandra://%5B::1%5D:9142,%5bfe80::2%5d,h3/models");
    assertThat(s.contactPoints()).containsExactly(InetSocketAddress.createUnresolved("::1", 9142),
        InetSocketAddress.createUnresolved("fe80::2", 9042), InetSocketAddress.createUnresolved("h3", 9042));
    assertThat(s.describe()).isEqualTo("cassandra://[::1]:9142,[fe80::2]:9042,h3:9042/models");
    assertThat(CassandraSettings.parse(Ferry.toUri(s.describe()), Map.of()).contactPoints())
        .as("the message's URI opens the store").isEqualTo(s.contactPoints());
    assertThat(CassandraSettings.parse(Ferry.toUri("cassandra://[::1]:9142,[fe80::2],h3/models"), Map.of())
        .contactPoints()).as("bare brackets, as users write them").isEqualTo(s.contactPoints());
    assertThat(parse("cassandra://h1,%5B::1%5D:9142/m").contactPoints()).extracting(InetSocketAddress::getPort)
        .containsExactly(9142, 9142);
    CassandraSettings zone = parse("cassandra://%5Bfe80::1%25eth0%5D,h2/m");
    assertThat(zone.contactPoints().get(0).getHostString()).isEqualTo("fe80::1%eth0");
    assertThat(CassandraSettings.parse(Ferry.toUri(zone.describe()), Map.of()).contactPoints())
        .as("a zone's '%' escaped in the message's URI").isEqualTo(zone.contactPoints());
    String[][] cases = {
        {"cassandra://%5B::1,h2/ks", "host '[::1' is not [IPv6 address]"},
        {"cassandra://%5B::1%5Dx,h2/ks", "host '[::1]x' is not [IPv6 address]"},
        {"cassandra://h1,%5B::1%5D:x/ks", "port 'x'"},
        {"cassandra://h1,%C3%A9/ks", "'%C3' in the hosts is not an escape"},
        {"cassandra://::1/ks", "IPv6 address without brackets"},
    };
    for (String[] c : cases) {
      assertThatThrownBy(() -> parse(c[0])).as(c[0]).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining(c[1]);
    }
  }

  @Test
  void optionsFromTheQueryAndTheSettings() throws Exception {
    CassandraSettings s = CassandraSettings.parse(URI.create("cassandra://h/ks?dc.eu1=3&dc.us1=2&local_dc=eu1"
        + "&consistency=local_quorum&serial_consistency=LOCAL_SERIAL&layers=faults"),
        Map.of("cassandra.consistency", "EACH_QUORUM", "s3.endpoint", "ignored"));
    assertThat(s.replication()).containsExactly(Map.entry("eu1", "3"), Map.entry("us1", "2"));
    assertThat(s.perDatacenter()).isTrue();
    assertThat(s.localDc()).isEqualTo("eu1");
    assertThat(s.consistency()).as("settings win over the query").isEqualTo(DefaultConsistencyLevel.EACH_QUORUM);
    assertThat(s.serialConsistency()).isEqualTo(DefaultConsistencyLevel.LOCAL_SERIAL);
  }

  @Test
  void badUrisAreRefusedNamingTheProblem() {
    String[][] cases = {
        {"cassandra:///ks", "no hosts"},
        {"cassandra://h/Models", "lower-case"},
        {"cassandra://h/select?replication_factor=1", "keyspace 'select' is a reserved word of CQL"},
        {"cassandra://h/", "keyspace"},
        {"cassandra://user@h/ks", "credentials"},
        {"cassandra://h:99999/ks", "port"},
        {"cassandra://h/ks?replication_factor=0", "replication_factor"},
        {"cassandra://h/ks?replication_factor=3&dc.a=1", "exclude each other"},
        {"cassandra://h/ks?consistency=SERIAL", "serial level"},
        {"cassandra://h/ks?consistency=MOST", "not a consistency level"},
        {"cassandra://h/ks?consistency=any", "consistency ANY is for writes only"},
        {"cassandra://h/ks?replication_factor=1&replication_factor=3", "option 'replication_factor' is given twice"},
        {"cassandra://h/ks?dc.eu1=3&dc.%65u1=1", "option 'dc.eu1' is given twice"},
        {"cassandra://h/ks?dc.class=3", "dc.class: 'class' is a key of the replication map"},
        {"cassandra://h/ks?dc.replication_factor=3", "dc.replication_factor: 'replication_factor' is a key of"},
        {"cassandra://h/ks?serial_consistency=QUORUM", "SERIAL or LOCAL_SERIAL"},
        {"cassandra://h/ks?replicas=3", "unknown option 'replicas'"},
        {"cassandra://h/ks?speculative_delay_ms=-1", "speculative_delay_ms '-1' is not a whole number of at least 0"},
        {"cassandra://h/ks?speculative_delay_ms=soon", "speculative_delay_ms"},
        {"cassandra://h/ks#consistency=ONE", "'#consistency=ONE': a Cassandra store URI has no fragment"},
    };
    for (String[] c : cases) {
      assertThatThrownBy(() -> parse(c[0])).as(c[0]).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining(c[1])
          // the query's own rules (core's) name the URI without its query, whose values may be secrets
          .hasMessageContaining(c[1].contains("given twice") ? "store URI 'cassandra://h/ks'" : c[0]);
    }
  }

  /**
   * A bad value given as a store setting ({@code --store-option cassandra.<option>=...}) is named as that setting: the
   * error named the store URI, which does not hold the value.
   */
  @Test
  void badSettingsAreNamedAsSettings() {
    URI uri = URI.create("cassandra://h/ks?consistency=QUORUM");
    String[][] cases = {
        {"cassandra.consistency", "ANY", "consistency ANY is for writes only"},
        {"cassandra.consistency", "MOST", "consistency 'MOST' is not a consistency level"},
        {"cassandra.max_requests", "0", "max_requests '0' is not a whole number"},
        {"cassandra.dc.eu 1", "3", "datacenter name 'eu 1'"},
        {"cassandra.replication_factor", "-1", "replication_factor '-1'"},
    };
    for (String[] c : cases) {
      assertThatThrownBy(() -> CassandraSettings.parse(uri, Map.of(c[0], c[1]))).as(c[0] + "=" + c[1])
          .isInstanceOf(InvalidInputException.class).hasMessageContaining(c[2])
          .hasMessageStartingWith("store setting '" + c[0] + "' (store URI '" + uri + "'): ");
    }
    assertThatThrownBy(() -> CassandraSettings.parse(URI.create("cassandra://h/ks?max_requests=0"),
        Map.of("cassandra.consistency", "ONE"))).as("the URI's own option")
        .hasMessageStartingWith("store URI 'cassandra://h/ks?max_requests=0': max_requests '0'");
  }

  @Test
  void theScriptCreatesKeyspaceTablesAndMarker() throws Exception {
    String simple = CassandraSchema.script(parse("cassandra://h/models?replication_factor=3"));
    assertThat(simple).contains("CREATE KEYSPACE IF NOT EXISTS models WITH replication = "
        + "{'class': 'SimpleStrategy', 'replication_factor': 3}");
    for (String t : CassandraSchema.TABLES) {
      assertThat(simple).contains("CREATE TABLE IF NOT EXISTS models." + t + " (");
    }
    assertThat(simple).contains("INSERT INTO models.meta (name, value) VALUES ('ferry-store.json', 0x")
        .contains("IF NOT EXISTS;");
    assertThat(CassandraSchema.script(parse("cassandra://h/m?dc.eu1=3&dc.us1=2")))
        .contains("{'class': 'NetworkTopologyStrategy', 'eu1': 3, 'us1': 2}");
    assertThatThrownBy(() -> CassandraSchema.script(parse("cassandra://h/m")))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("replication_factor=N");
  }
}
