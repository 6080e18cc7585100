package io.ferry.store.hdfs;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.store.StoreOptions;
import io.ferry.testkit.FreePort;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A store whose NameNode cannot be reached, when it is opened or once it went away: one line naming the store, the
 * address and the cause.
 */
class HdfsUnreachableTest {

  /**
   * A NameNode that goes away while the store is open (stopped, crashed, or its host lost): each call names the store,
   * what it did (the object) and that the NameNode cannot be reached. It was Hadoop's "Call From ... to ... failed on
   * connection exception ... For more details see: http://wiki.apache.org/hadoop/ConnectionRefused", which names
   * neither the store nor the object.
   */
  @Test
  void aNameNodeThatGoesAwayIsNamedWithTheStoreAndTheObject() throws Exception {
    try (MiniHdfs hdfs = MiniHdfs.start()) {
      Map<String, String> settings = new java.util.HashMap<>(hdfs.settings(1));
      settings.put("ipc.client.connect.max.retries", "1");
      URI[] uris = {hdfs.hdfs("/gone"), hdfs.webhdfs("/gone-web")};
      HdfsBackend[] stores = new HdfsBackend[uris.length];
      io.ferry.id.ChunkId[] ids = new io.ferry.id.ChunkId[uris.length];
      try {
        for (int i = 0; i < uris.length; i++) {
          stores[i] = HdfsBackend.open(uris[i], StoreOptions.createIfMissing().withSettings(settings));
          byte[] content = ("an object written before the NameNode went away " + i).getBytes(StandardCharsets.UTF_8);
          ids[i] = io.ferry.id.ChunkId.of(content);
          stores[i].chunks().put(ids[i], java.nio.ByteBuffer.wrap(content));
        }
        hdfs.cluster().shutdownNameNodes();
        for (int i = 0; i < uris.length; i++) {
          URI uri = uris[i];
          HdfsBackend b = stores[i];
          io.ferry.id.ChunkId id = ids[i];
          String prefix = uri + ": cannot reach the NameNode at " + uri.getAuthority();
          assertThatThrownBy(() -> b.chunks().contains(id)).as("%s", uri).isInstanceOf(IOException.class)
              .hasMessageStartingWith(prefix).hasMessageContaining("while looking up object " + id)
              .hasMessageNotContaining("\n");
          assertThatThrownBy(() -> b.chunks().read(id, 0, 1)).as("%s", uri).isInstanceOf(IOException.class)
              .hasMessageStartingWith(prefix).hasMessageContaining("while reading object " + id);
          io.ferry.id.ChunkId other = io.ferry.id.ChunkId.of(new byte[] {1});
          assertThatThrownBy(() -> b.chunks().put(other, java.nio.ByteBuffer.wrap(new byte[] {1}))).as("%s", uri)
              .isInstanceOf(IOException.class).hasMessageStartingWith(prefix)
              .hasMessageContaining("while writing object " + other).hasMessageContaining("Connection refused")
              .hasMessageNotContaining("\n");
        }
      } finally {
        for (HdfsBackend b : stores) {
          if (b != null) {
            b.close();
          }
        }
      }
    }
  }

  /**
   * A store named without a port (an HA nameservice, {@code hdfs://nn/...}) whose NameNode goes away: each call names
   * the store and the NameNode (the nameservice and the address the call tried), as for a URI with a port, and fails
   * after the failover attempts the store's settings allow. It was Hadoop's raw message ("Call From ... to ... failed
   * on connection exception"), after 214 s of failover retries per call with Hadoop's defaults.
   */
  @Test
  void aNameNodeOfANameserviceThatGoesAwayIsNamedWithTheStoreAndFailsSoon() throws Exception {
    try (MiniHdfs hdfs = MiniHdfs.start()) {
      Map<String, String> settings = new java.util.HashMap<>(hdfs.settings(1));
      String address = "localhost:" + hdfs.cluster().getNameNodePort();
      settings.put("dfs.nameservices", "ferrytest");
      settings.put("dfs.ha.namenodes.ferrytest", "nn1");
      settings.put("dfs.namenode.rpc-address.ferrytest.nn1", address);
      settings.put("dfs.client.failover.proxy.provider.ferrytest",
          "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider");
      // two attempts (Ferry's bound is 5, HdfsSettingsTest): the test need not wait through them
      settings.put("dfs.client.failover.max.attempts", "2");
      URI uri = URI.create("hdfs://ferrytest/gone");
      try (HdfsBackend b = HdfsBackend.open(uri, StoreOptions.createIfMissing().withSettings(settings))) {
        byte[] content = "an object written before the NameNode went away".getBytes(StandardCharsets.UTF_8);
        io.ferry.id.ChunkId id = io.ferry.id.ChunkId.of(content);
        b.chunks().put(id, java.nio.ByteBuffer.wrap(content));
        hdfs.cluster().shutdownNameNodes();
        long start = System.nanoTime();
        assertThatThrownBy(() -> b.chunks().contains(id)).isInstanceOf(IOException.class)
            .hasMessageStartingWith(uri + ": cannot reach the NameNode at ferrytest (" + address + ")")
            .hasMessageContaining("while looking up object " + id).hasMessageContaining("Connection refused")
            .hasMessageNotContaining("\n");
        assertThatThrownBy(() -> b.chunks().read(id, 0, 1)).isInstanceOf(IOException.class)
            .hasMessageStartingWith(uri + ": cannot reach the NameNode at ferrytest (" + address + ")")
            .hasMessageContaining("while reading object " + id);
        long ms = (System.nanoTime() - start) / 1_000_000;
        org.assertj.core.api.Assertions.assertThat(ms).as("milliseconds to fail").isLessThan(5_000);
      }
    }
  }

  @Test
  void aRefusedConnectionNamesTheStoreAndTheNameNode() throws Exception {
    int port = FreePort.pick();
    for (String scheme : new String[] {"hdfs", "webhdfs"}) {
      URI uri = URI.create(scheme + "://127.0.0.1:" + port + "/ferry");
      assertThatThrownBy(() -> HdfsBackend.open(uri, new StoreOptions(false, Map.of())).close())
          .isInstanceOf(IOException.class)
          .hasMessageStartingWith(uri + ": cannot reach the NameNode at 127.0.0.1:" + port)
          .hasMessageContaining("Connection refused");
    }
  }

  /**
   * A web port given where the NameNode's RPC port belongs (a common mix-up: 9870 for 8020): a web server answers the
   * RPC client's first bytes with an HTTP error, as the NameNode's web server does.
   */
  @Test
  void anHttpServerWhereTheNameNodeShouldBeSaysItIsAWebPort() throws Exception {
    try (ServerSocket web = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
      Thread answers = new Thread(() -> {
        while (!web.isClosed()) {
          try (Socket s = web.accept()) {
            s.getInputStream().read(new byte[64]);
            s.getOutputStream().write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .getBytes(StandardCharsets.US_ASCII));
          } catch (IOException e) {
            // closed: the test is over
          }
        }
      });
      answers.setDaemon(true);
      answers.start();
      URI uri = URI.create("hdfs://127.0.0.1:" + web.getLocalPort() + "/ferry");
      assertThatThrownBy(() -> HdfsBackend.open(uri, new StoreOptions(false, Map.of())).close())
          .isInstanceOf(IOException.class)
          .hasMessageStartingWith(uri + ": the server at 127.0.0.1:" + web.getLocalPort()
              + " answers in HTTP, not in Hadoop's RPC: that is a web port");
    }
  }

  @Test
  void anUnknownHostNamesTheStoreAndTheHost() {
    for (String scheme : new String[] {"hdfs", "webhdfs"}) {
      URI uri = URI.create(scheme + "://no-such-host.invalid:8020/ferry");
      assertThatThrownBy(() -> HdfsBackend.open(uri, new StoreOptions(false, Map.of())).close())
          .isInstanceOf(IOException.class)
          .hasMessageStartingWith(uri + ": cannot reach the NameNode at no-such-host.invalid:8020")
          .hasMessageContaining("UnknownHostException");
    }
  }

  @Test
  void aHadoopSettingThatIsNotANumberNamesTheStoreAndTheSetting() throws Exception {
    // Hadoop's own message was only: For input string: "abc"
    int port = FreePort.pick();
    URI uri = URI.create("hdfs://127.0.0.1:" + port + "/ferry?dfs.replication=abc");
    assertThatThrownBy(() -> HdfsBackend.open(uri, new StoreOptions(false, Map.of())).close())
        .isInstanceOf(io.ferry.error.InvalidInputException.class)
        .hasMessageStartingWith(uri + ": a Hadoop setting has a value that is not a number (dfs.replication=abc)");
  }
}
