package io.ferry.store.hdfs;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.store.StoreOptions;
import io.ferry.testkit.FreePort;
import java.io.IOException;
import java.net.URI;
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
}
