package io.ferry.store.cassandra;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.datastax.oss.driver.api.core.CqlSession;
import io.ferry.id.ChunkId;
import io.ferry.store.Backend;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Losing a node of a real two-node cluster on loopback addresses (127.0.0.1 and 127.0.0.2, replication factor 2): with
 * one node down, opening at QUORUM (both of two) fails with an error naming the level; a store at {@code ONE} still
 * reads every object and ref, while a put (its completion row is a Paxos write, which needs both of two replicas) and
 * a ref move fail naming SERIAL and leave nothing visible; with the node back, QUORUM works again, everything reads
 * back whole, and gc finds the parts the failed put left.
 *
 * <p>Costs two more Cassandra JVMs (about a minute on two cores), so it runs only with {@code
 * -Dferry.cassandra.cluster=true}.
 */
class CassandraNodeLossTest {
  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void oneNodeDownReadsAtOneAndRefusesQuorum() throws Exception {
    Assumptions.assumeTrue(Boolean.getBoolean("ferry.cassandra.cluster"),
        "two-node test: run with -Dferry.cassandra.cluster=true");
    int nativePort = freePort();
    int storagePort = freePort();
    Path base = Path.of("target", "cluster-" + nativePort).toAbsolutePath();
    LocalCassandra n1 = LocalCassandra.clusterNode("127.0.0.1", "127.0.0.1", nativePort, storagePort,
        base.resolve("n1"));
    LocalCassandra n2 = LocalCassandra.clusterNode("127.0.0.2", "127.0.0.1", nativePort, storagePort,
        base.resolve("n2"));
    try {
      n1.start();
      n2.start();
      awaitPeers(n1);
      String hosts = "cassandra://127.0.0.1,127.0.0.2:" + nativePort + "/lossy";
      Random random = new Random(42);
      byte[] big = new byte[3 * CassandraSchema.PART_SIZE + 12345];
      random.nextBytes(big);
      ChunkId bigId = ChunkId.of(big);
      ChunkId a = ChunkId.of(new byte[] {1});
      try (Backend b = CassandraBackend.open(URI.create(hosts + "?replication_factor=2"),
          StoreOptions.createIfMissing())) {
        assertThat(b.chunks().put(bigId, ByteBuffer.wrap(big))).isTrue();
        assertThat(b.refs().compareAndSet("m/tags/prod", null, a, new RefLogEntry(null, a, "t", Instant.now(),
            "first"))).isEqualTo(CasResult.NEW);
      }

      n2.stop();
      assertThatThrownBy(() -> CassandraBackend.open(URI.create(hosts), StoreOptions.existing()))
          .as("QUORUM of two replicas with one down").isInstanceOf(IOException.class)
          .hasMessageContaining("/lossy").hasMessageContaining("consistency QUORUM")
          .hasMessageContaining("Not enough replicas available");
      byte[] other = new byte[CassandraSchema.PART_SIZE + 1];
      random.nextBytes(other);
      ChunkId otherId = ChunkId.of(other);
      try (Backend one = CassandraBackend.open(URI.create(hosts + "?consistency=ONE"), StoreOptions.existing())) {
        assertThat(bytes(one.chunks().get(bigId))).as("read at ONE with a node down").isEqualTo(big);
        assertThat(one.refs().get("m/tags/prod")).contains(a);
        assertThatThrownBy(() -> one.chunks().put(otherId, ByteBuffer.wrap(other)))
            .as("the completion row is a Paxos write: both of two replicas").isInstanceOf(IOException.class)
            .hasMessageContaining("SERIAL").hasMessageContaining(otherId.hex());
        assertThat(one.chunks().contains(otherId)).as("parts written, no completion row: not visible").isFalse();
        assertThatThrownBy(() -> one.refs().compareAndSet("m/tags/prod", a, otherId,
            new RefLogEntry(a, otherId, "t", Instant.now(), "second"))).as("Paxos needs both of two replicas")
            .isInstanceOf(IOException.class).hasMessageContaining("SERIAL");
        assertThat(one.refs().get("m/tags/prod")).as("the move that could not run moved nothing").contains(a);
      }

      n2.start();
      awaitPeers(n1);
      try (Backend quorum = CassandraBackend.open(URI.create(hosts), StoreOptions.existing())) {
        assertThat(bytes(quorum.chunks().get(bigId))).isEqualTo(big);
        assertThat(quorum.chunks().contains(otherId)).isFalse();
        assertThat(quorum.chunks().put(otherId, ByteBuffer.wrap(other))).isTrue();
        assertThat(bytes(quorum.chunks().get(otherId))).isEqualTo(other);
        assertThat(quorum.chunks().removeAbandoned(Instant.now().plusSeconds(1)))
            .as("the parts of the failed put are found and removed").isEqualTo(1);
        assertThat(bytes(quorum.chunks().get(otherId))).isEqualTo(other);
        assertThat(quorum.refs().compareAndSet("m/tags/prod", a, otherId,
            new RefLogEntry(a, otherId, "t", Instant.now(), "second"))).isEqualTo(CasResult.UPDATED);
        assertThat(quorum.refs().log("m/tags/prod")).hasSize(2);
      }
    } finally {
      n2.stop();
      n1.stop();
    }
  }

  /** Waits until the node sees its peer up and the peer answers CQL. */
  private static void awaitPeers(LocalCassandra node) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    try (CqlSession s = CqlSession.builder().addContactPoint(new InetSocketAddress(node.address(),
        node.nativePort())).withLocalDatacenter("datacenter1").build()) {
      while (true) {
        long up = s.getMetadata().getNodes().values().stream()
            .filter(n -> n.getState() == com.datastax.oss.driver.api.core.metadata.NodeState.UP).count();
        if (up >= 2) {
          return;
        }
        assertThat(System.nanoTime()).as("both nodes up within 120 s").isLessThan(deadline);
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(200));
      }
    }
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }
}
