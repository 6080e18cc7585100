package io.ferry.store.hdfs;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import io.ferry.store.ChunkStore;
import io.ferry.store.StoreOptions;
import java.net.URI;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * WebHDFS reads survive stopped DataNodes that the NameNode still lists as live (it does so for minutes, and keeps
 * redirecting reads to them), and a write sent to one fails naming the object. Runs on its own cluster: it stops
 * DataNodes.
 */
class WebHdfsDataNodeFailureTest {
  private static final int OBJECTS = 12;
  private static final int ROUNDS = 5;

  @Test
  void everyObjectReadsOverWebHdfsWithTwoOfThreeDataNodesStopped() throws Exception {
    try (MiniHdfs hdfs = MiniHdfs.start()) {
      URI uri = hdfs.webhdfs("/failover");
      StoreOptions options = StoreOptions.createIfMissing().withSettings(hdfs.settings());
      Map<ChunkId, byte[]> objects = new LinkedHashMap<>();
      Random random = new Random(8);
      try (HdfsBackend b = HdfsBackend.open(uri, options)) {
        for (int i = 0; i < OBJECTS; i++) {
          byte[] c = new byte[1000 + random.nextInt(100_000)];
          random.nextBytes(c);
          ChunkId id = ChunkId.of(c);
          assertThat(b.chunks().put(id, ByteBuffer.wrap(c))).isTrue();
          objects.put(id, c);
        }
      }
      // replication 3: every DataNode holds a replica of every object; one is left
      hdfs.cluster().stopDataNode(0);
      hdfs.cluster().stopDataNode(0);

      // each round opens the store afresh, so every read starts with a new redirect from the NameNode
      for (int round = 0; round < ROUNDS; round++) {
        try (HdfsBackend b = HdfsBackend.open(uri, StoreOptions.existing())) {
          ChunkStore store = b.chunks();
          int i = 0;
          for (Map.Entry<ChunkId, byte[]> e : objects.entrySet()) {
            byte[] want = e.getValue();
            int from = (i * 7919) % (want.length / 2);
            int len = want.length - from;
            ByteBuffer got;
            if ((round + i++) % 2 == 0) {
              got = store.read(e.getKey(), from, len);
            } else {
              got = ByteBuffer.allocateDirect(len);
              store.readInto(e.getKey(), from, got);
              got.flip();
            }
            assertThat(got).as("round %d, object %s, bytes [%d, %d)", round, e.getKey(), from, want.length)
                .isEqualTo(ByteBuffer.wrap(want, from, len));
          }
        }
      }
      assertThat(hdfs.cluster().getNamesystem().getNumLiveDataNodes())
          .as("DataNodes the NameNode still counts as live (the condition under test)")
          .isEqualTo(MiniHdfs.DATANODES);

      // a write the NameNode sends to a stopped DataNode fails naming the object and the store (Hadoop's error was
      // only "127.0.0.1:<port>: Connection refused"), and leaves no object and no temporary file
      try (HdfsBackend b = HdfsBackend.open(uri, StoreOptions.existing())) {
        java.io.IOException failed = null;
        ChunkId id = null;
        for (int i = 0; i < 40 && failed == null; i++) {
          byte[] c = new byte[1000];
          random.nextBytes(c);
          id = ChunkId.of(c);
          try {
            b.chunks().put(id, ByteBuffer.wrap(c));
          } catch (java.io.IOException e) {
            failed = e;
          }
        }
        assertThat(failed).as("a put sent to a stopped DataNode").isNotNull();
        assertThat(failed.getMessage()).contains(uri.toString()).contains(id.hex());
        assertThat(b.chunks().contains(id)).isFalse();
        assertThat(b.fileSystem().listStatus(new org.apache.hadoop.fs.Path(b.root(), "tmp"))).isEmpty();
      }
    }
  }
}
