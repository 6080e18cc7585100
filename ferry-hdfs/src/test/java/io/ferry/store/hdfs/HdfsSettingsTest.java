package io.ferry.store.hdfs;

import static org.assertj.core.api.Assertions.assertThat;

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
}
