package io.ferry.store.hdfs;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ChunkStoreContract;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * Runs the {@link ChunkStoreContract} against hdfs:// on the shared MiniDFSCluster (3 DataNodes, replication 1: see
 * {@link MiniHdfs#settings(int)}).
 *
 * <p>Its methods run concurrently: each has a store of its own.
 */
@Execution(ExecutionMode.CONCURRENT)
class HdfsChunkStoreTest extends ChunkStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    return HdfsBackend.open(hdfs.hdfs(MiniHdfs.freshPath("hdfs-ChunkStore")),
        StoreOptions.createIfMissing().withSettings(hdfs.settings(1)));
  }

  @Override
  protected boolean listsIdsByPrefix() {
    return true;
  }

  /**
   * Objects the listing test puts, here and over WebHDFS: objects lie in 256 fan-out directories, each listed by the
   * NameNode in pages of {@code dfs.ls.limit} (1,000) entries, so 2,000 objects cross no page boundary more than 600
   * do. 600 fill about 230 of the directories and leave the others absent, which the listing skips; each put costs
   * five NameNode calls and a DataNode pipeline.
   */
  static final int OBJECTS_TO_LIST = 600;

  @Override
  protected int objectsToList() {
    return OBJECTS_TO_LIST;
  }
}
