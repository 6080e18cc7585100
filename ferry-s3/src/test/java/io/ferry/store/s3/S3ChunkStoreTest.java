package io.ferry.store.s3;

import io.ferry.store.Backend;
import io.ferry.testkit.ChunkStoreContract;
import java.nio.file.Path;

/** The whole {@link ChunkStoreContract} against S3Proxy, a fresh store prefix per test. */
class S3ChunkStoreTest extends ChunkStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    LocalS3 s3 = LocalS3.shared();
    return S3Backend.open(LocalS3.freshStoreUri("chunks"), s3.options(true), name -> null);
  }
}
