package io.ferry.store.cassandra;

import static org.assertj.core.api.Assertions.assertThat;

import com.datastax.oss.driver.api.core.AllNodesFailedException;
import com.datastax.oss.driver.api.core.NodeUnavailableException;
import com.datastax.oss.driver.api.core.connection.ClosedConnectionException;
import com.datastax.oss.driver.api.core.cql.SimpleStatement;
import com.datastax.oss.driver.api.core.metadata.Node;
import java.lang.reflect.Proxy;
import java.util.Map;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/** Which failures the backend sends again: requests never sent, and idempotent ones whose connections broke. */
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

  /**
   * Credentials every contact point refused are reported as such, with the server's reply and where credentials come
   * from; the driver's message began "Could not reach any contact point, make sure you've provided valid addresses".
   */
  @Test
  void refusedCredentialsAreNamedAsSuch() throws Exception {
    Node n1 = node("n1");
    CassandraSettings s = CassandraSettings.parse(java.net.URI.create("cassandra://127.0.0.1:9042/ks"), Map.of());
    var endPoint = new com.datastax.oss.driver.internal.core.metadata.DefaultEndPoint(
        new java.net.InetSocketAddress("127.0.0.1", 9042));
    AllNodesFailedException refused = AllNodesFailedException.fromErrors(Map.<Node, Throwable>of(n1,
        new com.datastax.oss.driver.api.core.auth.AuthenticationException(endPoint,
            "server replied with 'Provided username ferry and/or password are incorrect' to AuthResponse request")));
    assertThat(CassandraBackend.connectFailure(s, refused)).hasMessageStartingWith(
        "cannot connect to cassandra://127.0.0.1:9042/ks: authentication failed (")
        .hasMessageContaining("Provided username ferry and/or password are incorrect")
        .hasMessageContaining("driver configuration").hasMessageNotContaining("valid addresses");
    AllNodesFailedException down = AllNodesFailedException.fromErrors(Map.<Node, Throwable>of(n1,
        new ClosedConnectionException("connection refused")));
    assertThat(CassandraBackend.connectFailure(s, down)).as("not an authentication failure")
        .hasMessageStartingWith("cannot connect to cassandra://127.0.0.1:9042/ks: ")
        .hasMessageNotContaining("authentication");
  }

  @Test
  void anIdempotentRequestWhoseConnectionsWereAllLostIsSentAgain() {
    Node n1 = node("n1");
    AllNodesFailedException lost = AllNodesFailedException.fromErrors(Map.<Node, Throwable>of(
        n1, new ClosedConnectionException("Unexpected error on channel")));
    SimpleStatement idempotent = SimpleStatement.newInstance("DELETE FROM t WHERE k = 1").setIdempotent(true);
    SimpleStatement lwt = SimpleStatement.newInstance("INSERT INTO t (k) VALUES (1) IF NOT EXISTS");
    assertThat(CassandraBackend.sendAgain(idempotent, lost)).isTrue();
    assertThat(CassandraBackend.sendAgain(idempotent, new CompletionException(lost))).as("async").isTrue();
    assertThat(CassandraBackend.sendAgain(lwt, lost)).as("maybe applied: settled by its caller").isFalse();
    assertThat(CassandraBackend.sendAgain(lwt.setIdempotent(false), lost)).isFalse();
    // a node that answered (here: unavailable) is the cluster's answer, sent on to the caller
    AllNodesFailedException answered = AllNodesFailedException.fromErrors(Map.<Node, Throwable>of(
        n1, new IllegalStateException("Not enough replicas")));
    assertThat(CassandraBackend.sendAgain(idempotent, answered)).isFalse();
    AllNodesFailedException none = AllNodesFailedException.fromErrors(Map.<Node, Throwable>of(
        n1, new NodeUnavailableException(n1)));
    assertThat(CassandraBackend.sendAgain(lwt, none)).as("never sent: any statement").isTrue();
  }
}
