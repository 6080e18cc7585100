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
 * WebHDFS reads and writes survive stopped DataNodes that the NameNode still lists as live (it does so for minutes,
 * and keeps redirecting reads and writes to them). Runs on its own cluster: it stops DataNodes. And in a JVM of its
 * own (ferry-hdfs's pom, {@code namenode-alone}): the write failover looks DataNodes up in the NameNode's JMX bean,
 * which a JVM holds for its first NameNode only.
 */
class WebHdfsDataNodeFailureTest {
  @org.junit.jupiter.api.io.TempDir java.nio.file.Path work;

  private static final int OBJECTS = 12;
  private static final int ROUNDS = 5;

  /**
   * A push over WebHDFS during which a DataNode stops completes, and verify finds the store clean: the NameNode sends
   * about one write in three to the stopped DataNode, and each is sent again excluding it. The push failed instead
   * (for about 10 minutes, until the NameNode declared the DataNode dead). Replication 1, so that every object lives
   * on one DataNode and a write's only way through is another DataNode.
   */
  @Test
  void aPushOverWebHdfsCompletesWhenADataNodeStopsInTheMiddle() throws Exception {
    try (MiniHdfs hdfs = MiniHdfs.start()) {
      java.nio.file.Path src = work.resolve("src");
      io.ferry.testkit.ModelGenerator.writeHfModel(src, io.ferry.testkit.ModelGenerator.transformer(16L << 20,
          io.ferry.format.DType.BF16, 9), 4L << 20);
      URI uri = hdfs.webhdfs("/push");
      java.util.concurrent.atomic.AtomicReference<org.apache.hadoop.hdfs.MiniDFSCluster.DataNodeProperties> stoppedOne =
          new java.util.concurrent.atomic.AtomicReference<>();
      AtAQuarter stopOne = new AtAQuarter(() -> stoppedOne.set(hdfs.cluster().stopDataNode(0)));
      try (io.ferry.repo.Repository repo = io.ferry.Ferry.open(uri.toString(),
          StoreOptions.createIfMissing().withSettings(hdfs.settings(1)),
          io.ferry.repo.RepositoryOptions.defaults().withParallelism(2))) {
        repo.push(src, "llama:prod", io.ferry.repo.PushOptions.builder().message("v1").listener(stopOne).build());
        assertThat(stopOne.ran()).as("a DataNode was stopped during the push").isTrue();
        assertThat(hdfs.cluster().getNamesystem().getNumLiveDataNodes())
            .as("DataNodes the NameNode still counts as live (the condition under test)")
            .isEqualTo(MiniHdfs.DATANODES);
        assertThat(repo.refsOf("llama")).isNotEmpty();
      }
      // the marker and the objects written before the stop live only on the stopped DataNode: start it again
      assertThat(hdfs.cluster().restartDataNode(stoppedOne.get(), true)).isTrue();
      hdfs.cluster().waitActive();
      try (io.ferry.repo.Repository repo = io.ferry.Ferry.open(uri.toString(), StoreOptions.existing(),
          io.ferry.repo.RepositoryOptions.defaults())) {
        assertThat(repo.verify(null, io.ferry.transfer.TransferListener.NONE).errors()).isEmpty();
        java.nio.file.Path out = work.resolve("out");
        repo.pull("llama:prod", out, io.ferry.transfer.PullOptions.defaults().withVerify(true));
        assertThat(io.ferry.testkit.DirectoryState.of(out)).isEqualTo(io.ferry.testkit.DirectoryState.of(src));
      }
    }
  }

  /**
   * A DataNode that stops in the middle of its answer to a WebHDFS read, at replication 3: the read goes on from
   * another replica and gives the object's bytes. The answer ended early, as a DataNode ends it when every replica
   * fails HDFS's checksum, and the read failed, taken for a damaged object.
   */
  @Test
  void aDataNodeThatStopsInTheMiddleOfAWebHdfsReadIsReadAround() throws Exception {
    try (MiniHdfs hdfs = MiniHdfs.start()) {
      URI uri = hdfs.webhdfs("/mid-read");
      // larger than what the socket buffers between the DataNode and the reader hold
      byte[] content = new byte[48 << 20];
      new Random(5).nextBytes(content);
      ChunkId id = ChunkId.of(content);
      try (HdfsBackend b = HdfsBackend.open(uri, StoreOptions.createIfMissing().withSettings(hdfs.settings()))) {
        assertThat(b.chunks().put(id, ByteBuffer.wrap(content))).isTrue();
        org.apache.hadoop.fs.Path p = ((HdfsChunkStore) b.chunks()).pathOf(id);
        byte[] got = new byte[content.length];
        int head = 1 << 20;
        try (org.apache.hadoop.fs.FSDataInputStream in = b.fileSystem().open(p)) {
          in.readFully(got, 0, head);
          int port = servingDataNode(in).getPort();
          java.util.List<org.apache.hadoop.hdfs.server.datanode.DataNode> dns = hdfs.cluster().getDataNodes();
          int serving = -1;
          for (int i = 0; i < dns.size(); i++) {
            if (dns.get(i).getInfoPort() == port) {
              serving = i;
            }
          }
          assertThat(serving).as("the DataNode at HTTP port %d among the cluster's", port).isNotNegative();
          hdfs.cluster().stopDataNode(serving);
          in.readFully(got, head, content.length - head);
        }
        assertThat(java.util.Arrays.equals(got, content)).as("the bytes read equal the object's").isTrue();
      }
    }
  }

  /** The DataNode that Hadoop's WebHDFS stream under {@code in} reads from (it keeps the redirect to itself). */
  private static java.net.URL servingDataNode(org.apache.hadoop.fs.FSDataInputStream in) throws Exception {
    Object failover = in.getWrappedStream();
    java.lang.reflect.Field inner = failover.getClass().getDeclaredField("in");
    inner.setAccessible(true);
    Object web = ((org.apache.hadoop.fs.FSDataInputStream) inner.get(failover)).getWrappedStream();
    java.lang.reflect.Field runner = web.getClass().getDeclaredField("readRunner");
    runner.setAccessible(true);
    Object r = runner.get(web);
    java.lang.reflect.Field url = r.getClass().getDeclaredField("resolvedUrl");
    url.setAccessible(true);
    return (java.net.URL) url.get(r);
  }

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
      java.util.List<String> transfer = new java.util.ArrayList<>();
      hdfs.cluster().getDataNodes().forEach(d -> transfer.add(d.getDatanodeId().getXferAddr()));
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

      // writes too: the NameNode sends about two in three to a stopped DataNode, and each goes to the live one
      // instead (they failed, naming the object, until the NameNode declared the DataNodes dead)
      try (HdfsBackend b = HdfsBackend.open(uri, StoreOptions.existing())) {
        for (int i = 0; i < 12; i++) {
          byte[] c = new byte[1000 + i];
          random.nextBytes(c);
          ChunkId id = ChunkId.of(c);
          assertThat(b.chunks().put(id, ByteBuffer.wrap(c))).isTrue();
          assertThat(b.chunks().read(id, 0, c.length)).isEqualTo(ByteBuffer.wrap(c));
        }
        assertThat(b.fileSystem().listStatus(new org.apache.hadoop.fs.Path(b.root(), "tmp"))).isEmpty();

        // a DataNode that refused a write is remembered, so that later writes exclude it from their first attempt;
        // sent directly (Hadoop's client, above, retries a refused create itself some of the time), until the
        // NameNode has sent one to each stopped DataNode (each create's first attempt goes to one not remembered)
        WebHdfsWrites writes = ((FailoverWebHdfsFileSystem) b.fileSystem()).writes();
        org.apache.hadoop.fs.Path direct = new org.apache.hadoop.fs.Path(b.root(), "tmp/direct");
        for (int i = 0; i < 64 && writes.recentlyRefused().size() < 2; i++) {
          byte[] c = new byte[100 + i];
          random.nextBytes(c);
          writes.create(direct, (short) 1, 1L << 20, ByteBuffer.wrap(c));
          try (java.io.InputStream in = b.fileSystem().open(direct)) {
            assertThat(in.readAllBytes()).isEqualTo(c);
          }
          b.fileSystem().delete(direct, false);
        }
        assertThat(writes.recentlyRefused()).containsExactlyInAnyOrder(transfer.get(0), transfer.get(1));
        // one remembered as refusing but answering again: with every DataNode excluded the NameNode chooses none,
        // and the write is sent again without the remembered ones (it failed, naming all three)
        writes.refusedNow(transfer.get(2));
        byte[] c = new byte[2000];
        random.nextBytes(c);
        writes.create(new org.apache.hadoop.fs.Path(b.root(), "tmp/remembered"), (short) 1, 1L << 20,
            ByteBuffer.wrap(c));
        try (java.io.InputStream in = b.fileSystem().open(new org.apache.hadoop.fs.Path(b.root(), "tmp/remembered"))) {
          assertThat(in.readAllBytes()).isEqualTo(c);
        }
        assertThat(writes.recentlyRefused()).isSubsetOf(transfer.get(0), transfer.get(1));
      }
    }
  }
}
