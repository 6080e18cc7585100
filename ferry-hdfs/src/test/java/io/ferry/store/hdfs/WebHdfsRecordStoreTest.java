package io.ferry.store.hdfs;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RecordStoreContract;
import java.nio.file.Path;

/** Runs the {@link RecordStoreContract} against webhdfs:// on the shared MiniDFSCluster. */
class WebHdfsRecordStoreTest extends RecordStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    return HdfsBackend.open(hdfs.webhdfs(MiniHdfs.freshPath("webhdfs-RecordStore")),
        StoreOptions.createIfMissing().withSettings(hdfs.settings()));
  }
}
