package io.ferry.store.hdfs;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RepositoryContract;

/** Runs the {@link RepositoryContract} against webhdfs:// on MiniDFSCluster. */
class WebHdfsRepositoryContractTest extends RepositoryContract {
  private final String base = MiniHdfs.freshPath("webhdfs-repo");

  @Override
  protected Backend openBackend(String name) throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    return HdfsBackend.open(hdfs.webhdfs(base + "/" + name),
        StoreOptions.createIfMissing().withSettings(hdfs.settings(1)));
  }
}
