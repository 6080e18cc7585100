package io.ferry.store.hdfs;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RefStoreContract;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;

/** Runs the {@link RefStoreContract} against hdfs:// on a MiniDFSCluster (3 DataNodes, replication 3). */
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
}
