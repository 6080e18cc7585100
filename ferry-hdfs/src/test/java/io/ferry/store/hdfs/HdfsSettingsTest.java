package io.ferry.store.hdfs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;

import java.net.URI;
import java.util.Map;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.junit.jupiter.api.Test;

class HdfsSettingsTest {

  @Test
  void smallFilesCloseWithoutHadoopsFirstSleepUnlessTheUserSaysOtherwise() throws Exception {
    // loads hdfs-default.xml into every Configuration made afterwards, as the first HDFS client of a process does
    new HdfsConfiguration();
    HdfsSettings plain = HdfsSettings.of(URI.create("hdfs://nn:8020/ferry"), Map.of(), Map.of());
    assertThat(plain.configuration().getInt(HdfsSettings.CLOSE_DELAY, -1)).isEqualTo(20);
    assertThat(plain.configuration().getInt(HdfsSettings.CLOSE_RETRIES, -1)).isEqualTo(10);

    HdfsSettings fromUri = HdfsSettings.of(
        URI.create("hdfs://nn:8020/ferry?" + HdfsSettings.CLOSE_DELAY + "=400"), Map.of(), Map.of());
    assertThat(fromUri.configuration().getInt(HdfsSettings.CLOSE_DELAY, -1)).isEqualTo(400);
    assertThat(fromUri.configuration().get(HdfsSettings.CLOSE_RETRIES)).isNotEqualTo("10");

    HdfsSettings retriesOnly = HdfsSettings.of(URI.create("hdfs://nn:8020/ferry"),
        Map.of(HdfsSettings.CLOSE_RETRIES, "3"), Map.of());
    assertThat(retriesOnly.configuration().getInt(HdfsSettings.CLOSE_DELAY, -1)).isEqualTo(20);
    assertThat(retriesOnly.configuration().getInt(HdfsSettings.CLOSE_RETRIES, -1)).isEqualTo(3);
  }

  /**
   * A call to an HA nameservice whose NameNodes are gone waited through Hadoop's failover retries, about 3 minutes
   * (15 attempts, sleeps up to 15 s); Ferry bounds them where the user did not configure them.
   */
  @Test
  void failoverRetriesAreBoundedUnlessConfigured() throws Exception {
    new HdfsConfiguration();
    HdfsSettings plain = HdfsSettings.of(URI.create("hdfs://nn/ferry"), Map.of(), Map.of());
    assertThat(plain.configuration().getInt("dfs.client.failover.max.attempts", -1)).isEqualTo(5);
    assertThat(plain.configuration().getInt("dfs.client.failover.sleep.base.millis", -1)).isEqualTo(200);
    assertThat(plain.configuration().getInt("dfs.client.failover.sleep.max.millis", -1)).isEqualTo(2000);
    HdfsSettings given = HdfsSettings.of(URI.create("hdfs://nn/ferry?dfs.client.failover.max.attempts=15"),
        Map.of("dfs.client.failover.sleep.max.millis", "15000"), Map.of());
    assertThat(given.configuration().getInt("dfs.client.failover.max.attempts", -1)).isEqualTo(15);
    assertThat(given.configuration().getInt("dfs.client.failover.sleep.max.millis", -1)).isEqualTo(15000);
    assertThat(given.configuration().getInt("dfs.client.failover.sleep.base.millis", -1)).isEqualTo(200);
  }

  @Test
  void aQueryOptionThatIsNeitherHadoopsNorFerrysIsRefusedNotIgnored() throws Exception {
    // a misspelt option (or one meant for another store) did nothing, silently
    for (String query : new String[] {"foo=bar", "dfs.replication=2&replication=2", "ferry.hdfs.synk=hflush"}) {
      URI uri = URI.create("hdfs://nn:8020/ferry?" + query);
      assertThatThrownBy(() -> HdfsSettings.of(uri, Map.of(), Map.of())).as(query)
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("'" + uri + "'")
          .hasMessageContaining("query option '" + query.replaceAll(".*&", "").replaceAll("=.*", "") + "' is unknown");
    }
    HdfsSettings known = HdfsSettings.of(URI.create("webhdfs://nn:9870/ferry?dfs.replication=2&ferry.hdfs.sync=hflush"
        + "&ferry.hdfs.lookup-threads=3&ferry.hdfs.open-files=5&ipc.client.connect.max.retries=1"), Map.of(), Map.of());
    assertThat(known.configuration().getInt("dfs.replication", -1)).isEqualTo(2);
    assertThat(known.hsync()).isFalse();
    assertThat(known.lookupThreads()).isEqualTo(3);
    assertThat(known.openFiles()).isEqualTo(5);
    // core's option of the query, which README gives as the way to name layers in a store URI
    assertThat(HdfsSettings.of(URI.create("hdfs://nn:8020/ferry?layers=redis"), Map.of(), Map.of()).rootPath())
        .isEqualTo("/ferry");
    // store settings may hold other backends' keys: only the URI's query is checked
    assertThat(HdfsSettings.of(URI.create("hdfs://nn:8020/ferry"), Map.of("s3.region", "x"), Map.of()).rootPath())
        .isEqualTo("/ferry");
  }

  /**
   * A store at the root of the file system is refused naming the URI: it failed with "Pathname  from hdfs://nn:8020 is
   * not a valid DFS filename", and its tmp/ would be the file system's shared /tmp.
   */
  @Test
  void aStoreAtTheRootOfTheFileSystemIsRefusedNamingTheUri() throws Exception {
    for (String u : new String[] {"hdfs://nn:8020/", "hdfs://nn:8020//", "webhdfs://nn:9870/", "hdfs://nn:8020/a/.."}) {
      URI uri = URI.create(u);
      assertThatThrownBy(() -> HdfsSettings.of(uri, Map.of(), Map.of())).as(u)
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("'" + uri + "'")
          .hasMessageContaining("root directory");
    }
    assertThat(HdfsSettings.of(URI.create("hdfs://nn:8020/a/../ferry/"), Map.of(), Map.of()).rootPath())
        .isEqualTo("/a/../ferry");
  }

  /**
   * A port out of range, or an authority that is no host and port, is refused naming the URI: Hadoop failed with "port
   * out of range:99999", "Incomplete HDFS URI, no host" or "Does not contain a valid host:port authority", naming
   * neither the store nor, for the first two, the defect.
   */
  @Test
  void anAuthorityThatIsNoHostAndPortIsRefusedNamingTheUri() throws Exception {
    for (String u : new String[] {"hdfs://nn:99999/ferry", "webhdfs://nn:65536/ferry", "hdfs://nn:0/ferry",
        "hdfs://nn:abc/ferry", "webhdfs://nn:-1/ferry", "hdfs://n_n:8020/ferry"}) {
      URI uri = URI.create(u);
      assertThatThrownBy(() -> HdfsSettings.of(uri, Map.of(), Map.of())).as(u)
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("'" + uri + "'")
          .hasMessageContaining("'" + uri.getRawAuthority() + "' is not a NameNode's host and port");
    }
    for (String u : new String[] {"hdfs://nn/ferry", "hdfs://nn:65535/ferry", "webhdfs://[::1]:9870/ferry",
        "hdfs://10.0.0.1:8020/ferry"}) {
      assertThat(HdfsSettings.of(URI.create(u), Map.of(), Map.of()).rootPath()).as(u).isEqualTo("/ferry");
    }
  }

  /**
   * User info in the URI is refused, never printed: Hadoop ignored it, so the store was used as the process's user
   * without a word, and messages printed a password written there.
   */
  @Test
  void userInfoIsRefusedAndNotPrinted() {
    for (String u : new String[] {"hdfs://alice@nn:8020/ferry", "webhdfs://alice:s3cret@nn:9870/ferry"}) {
      URI uri = URI.create(u);
      assertThatThrownBy(() -> HdfsSettings.of(uri, Map.of(), Map.of())).as(u)
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("user info")
          .hasMessageContaining("'" + u.replaceAll("//[^@]*@", "//***@") + "'").hasMessageNotContaining("alice");
    }
  }

  /** A count too large for its setting was said not to be a positive integer, which it is. */
  @Test
  void aCountSettingOutOfRangeSaysTheRange() {
    for (String v : new String[] {"0", "-1", "many", "99999999999"}) {
      assertThatThrownBy(() -> HdfsSettings.of(URI.create("hdfs://nn:8020/ferry"),
          Map.of("ferry.hdfs.open-files", v), Map.of())).as(v).isInstanceOf(InvalidInputException.class)
          .hasMessage("setting ferry.hdfs.open-files=" + v + " is invalid: expected a whole number from 1 to "
              + Integer.MAX_VALUE);
    }
  }

  @Test
  void aFragmentIsRefusedNotIgnored() {
    URI uri = URI.create("hdfs://nn:8020/ferry#models");
    assertThatThrownBy(() -> HdfsSettings.of(uri, Map.of(), Map.of())).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("'" + uri + "'").hasMessageContaining("fragment");
  }
}
