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
 * Runs the {@link ChunkStoreContract} against webhdfs:// on the shared MiniDFSCluster (3 DataNodes, replication 1:
 * see {@link MiniHdfs#settings(int)}).
 *
 * <p>Its methods run concurrently: each has a store of its own.
 */
@Execution(ExecutionMode.CONCURRENT)
class WebHdfsChunkStoreTest extends ChunkStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    return HdfsBackend.open(hdfs.webhdfs(MiniHdfs.freshPath("webhdfs-ChunkStore")),
        StoreOptions.createIfMissing().withSettings(hdfs.settings(1)));
  }

  @Override
  protected boolean listsIdsByPrefix() {
    return true;
  }

  /** As over hdfs:// ({@link HdfsChunkStoreTest#OBJECTS_TO_LIST}): the same store, the same fan-out directories. */
  @Override
  protected int objectsToList() {
    return HdfsChunkStoreTest.OBJECTS_TO_LIST;
  }
}
