package io.ferry.store.hdfs;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ChunkStoreContract;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;

/** Runs the {@link ChunkStoreContract} against webhdfs:// on a MiniDFSCluster (3 DataNodes, replication 3). */
class WebHdfsChunkStoreTest extends ChunkStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    return HdfsBackend.open(hdfs.webhdfs(MiniHdfs.freshPath("webhdfs-ChunkStore")),
        StoreOptions.createIfMissing().withSettings(hdfs.settings()));
  }
}
