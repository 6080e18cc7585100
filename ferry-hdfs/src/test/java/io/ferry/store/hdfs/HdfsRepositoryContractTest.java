package io.ferry.store.hdfs;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RepositoryContract;

/** Runs the {@link RepositoryContract} (push, tags, rollback, gc racing pushes) against hdfs:// on MiniDFSCluster. */
class HdfsRepositoryContractTest extends RepositoryContract {
  private final String base = MiniHdfs.freshPath("hdfs-repo");

  @Override
  protected Backend openBackend(String name) throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    return HdfsBackend.open(hdfs.hdfs(base + "/" + name),
        StoreOptions.createIfMissing().withSettings(hdfs.settings(1)));
  }
}
