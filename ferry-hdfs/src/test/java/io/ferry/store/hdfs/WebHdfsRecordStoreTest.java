package io.ferry.store.hdfs;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RecordStoreContract;
import java.nio.file.Path;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * Runs the {@link RecordStoreContract} against webhdfs:// on the shared MiniDFSCluster (3 DataNodes, replication 1: see
 * {@link MiniHdfs#settings(int)}).
 *
 * <p>Its methods run concurrently: each has a store of its own.
 */
@Execution(ExecutionMode.CONCURRENT)
class WebHdfsRecordStoreTest extends RecordStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    return HdfsBackend.open(hdfs.webhdfs(MiniHdfs.freshPath("webhdfs-RecordStore")),
        StoreOptions.createIfMissing().withSettings(hdfs.settings(1)));
  }
}
