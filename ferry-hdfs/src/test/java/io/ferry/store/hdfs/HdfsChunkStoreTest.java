package io.ferry.store.hdfs;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ChunkStoreContract;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;

/** Runs the {@link ChunkStoreContract} against hdfs:// on a MiniDFSCluster (3 DataNodes, replication 3). */
class HdfsChunkStoreTest extends ChunkStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    return HdfsBackend.open(hdfs.hdfs(MiniHdfs.freshPath("hdfs-ChunkStore")),
        StoreOptions.createIfMissing().withSettings(hdfs.settings()));
  }
}
