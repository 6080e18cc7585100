package io.ferry.store.cassandra;

import static org.assertj.core.api.Assertions.assertThat;

import com.datastax.oss.driver.api.core.AllNodesFailedException;
import com.datastax.oss.driver.api.core.NodeUnavailableException;
import com.datastax.oss.driver.api.core.connection.ClosedConnectionException;
import com.datastax.oss.driver.api.core.metadata.Node;
import java.lang.reflect.Proxy;
import java.util.Map;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/** Which failures the backend sends again: only requests the driver never sent. */
class NotSentTest {
  private static Node node(String name) {
    return (Node) Proxy.newProxyInstance(Node.class.getClassLoader(), new Class<?>[] {Node.class},
        (proxy, method, args) -> switch (method.getName()) {
          case "toString" -> name;
          case "hashCode" -> name.hashCode();
          case "equals" -> proxy == args[0];
          default -> null;
        });
  }

  @Test
  void onlyARequestNoNodeHadAConnectionForIsSentAgain() {
    Node n1 = node("n1");
    Node n2 = node("n2");
    AllNodesFailedException none = AllNodesFailedException.fromErrors(Map.<Node, Throwable>of(
        n1, new NodeUnavailableException(n1), n2, new NodeUnavailableException(n2)));
    assertThat(CassandraBackend.notSent(none)).isTrue();
    assertThat(CassandraBackend.notSent(new CompletionException(none))).as("as an async stage fails").isTrue();
    // sent, and the connection lost with it in flight: maybe applied, so not sent again here
    AllNodesFailedException lost = AllNodesFailedException.fromErrors(Map.<Node, Throwable>of(
        n1, new NodeUnavailableException(n1), n2, new ClosedConnectionException("lost")));
    assertThat(CassandraBackend.notSent(lost)).isFalse();
    assertThat(CassandraBackend.notSent(AllNodesFailedException.fromErrors(Map.<Node, Throwable>of())))
        .as("no node tried").isFalse();
    assertThat(CassandraBackend.notSent(new NodeUnavailableException(n1))).as("not the driver's all-failed")
        .isFalse();
    assertThat(CassandraBackend.notSent(new IllegalStateException("closed"))).isFalse();
  }
}
