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

/** Opening a store whose NameNode cannot be reached: one line naming the store, the address and the cause. */
class HdfsUnreachableTest {

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
