package io.ferry.store.hdfs;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RefStoreContract;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;

/** Runs the {@link RefStoreContract} against webhdfs:// on a MiniDFSCluster (3 DataNodes, replication 3). */
class WebHdfsRefStoreTest extends RefStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    return HdfsBackend.open(hdfs.webhdfs(MiniHdfs.freshPath("webhdfs-RefStore")),
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
