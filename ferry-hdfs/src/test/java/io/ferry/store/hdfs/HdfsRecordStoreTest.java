package io.ferry.store.hdfs;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RecordStoreContract;
import java.nio.file.Path;

/** Runs the {@link RecordStoreContract} against hdfs:// on the shared MiniDFSCluster. */
class HdfsRecordStoreTest extends RecordStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    return HdfsBackend.open(hdfs.hdfs(MiniHdfs.freshPath("hdfs-RecordStore")),
        StoreOptions.createIfMissing().withSettings(hdfs.settings()));
  }
}
