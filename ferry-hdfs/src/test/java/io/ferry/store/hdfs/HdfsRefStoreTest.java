package io.ferry.store.hdfs;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.chunk.ChunkId;
import io.ferry.store.Backend;
import io.ferry.store.CasResult;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RefStoreContract;
import java.net.URI;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.StorageStatistics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Isolated;

/**
 * Runs the {@link RefStoreContract} against hdfs:// on a MiniDFSCluster (3 DataNodes, replication 3). Runs alone in
 * its JVM: it counts NameNode calls with the JVM-wide DFS operation counters.
 */
@Isolated
class HdfsRefStoreTest extends RefStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    return HdfsBackend.open(hdfs.hdfs(MiniHdfs.freshPath("hdfs-RefStore")),
        StoreOptions.createIfMissing().withSettings(hdfs.settings()));
  }

  @Override
  protected URI storeUri(Backend backend) {
    return URI.create(backend.uri());
  }

  @Override
  protected Map<String, String> storeSettings(Backend backend) {
    return MiniHdfs.shared().settings();
  }

  /** NameNode calls made by this JVM's HDFS clients so far (DFS op counters are per JVM). */
  private static long nameNodeCalls(FileSystem fs) {
    long sum = 0;
    Iterator<StorageStatistics> all = org.apache.hadoop.fs.GlobalStorageStatistics.INSTANCE.iterator();
    while (all.hasNext()) {
      StorageStatistics st = all.next();
      if (!st.getName().toLowerCase(java.util.Locale.ROOT).contains("dfsops")) {
        continue;
      }
      Iterator<StorageStatistics.LongStatistic> it = st.getLongStatistics();
      while (it.hasNext()) {
        sum += it.next().getValue();
      }
    }
    return sum;
  }

  @Test
  void getCostsTwoNameNodeCallsWithTheHeadHintAndLogarithmicallyManyWithout() throws Exception {
    String ref = "llama/tags/many";
    int moves = 200;
    ChunkId cur = null;
    for (int i = 0; i < moves; i++) {
      ChunkId next = id("v" + i);
      assertThat(cas(ref, cur, next)).isIn(CasResult.NEW, CasResult.UPDATED);
      cur = next;
    }
    FileSystem fs = ((HdfsBackend) backend).fileSystem();
    long before = nameNodeCalls(fs);
    assertThat(refs.get(ref)).contains(cur);
    long withHint = nameNodeCalls(fs) - before;
    assertThat(withHint).as("NameNode calls of get() with an up-to-date hint").isBetween(1L, 2L);

    fs.removeXAttr(((HdfsRefStore) refs).logDir(ref), HdfsRefStore.HEAD_ATTR);
    before = nameNodeCalls(fs);
    assertThat(refs.get(ref)).contains(cur);
    long withoutHint = nameNodeCalls(fs) - before;
    int log2 = 64 - Long.numberOfLeadingZeros(moves);
    assertThat(withoutHint).as("NameNode calls of get() without a hint, %d entries", moves)
        .isLessThanOrEqualTo(2L * log2 + 2);
    assertThat(cas(ref, cur, id("after"))).isEqualTo(CasResult.UPDATED);
    before = nameNodeCalls(fs);
    assertThat(refs.get(ref)).contains(id("after"));
    assertThat(nameNodeCalls(fs) - before).as("the next move restored the hint").isBetween(1L, 2L);
  }
}
