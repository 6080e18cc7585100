package io.ferry.store.s3;

import io.ferry.store.Backend;
import io.ferry.testkit.RecordStoreContract;
import java.nio.file.Path;

/** Runs the {@link RecordStoreContract} against S3Proxy, a fresh store prefix per test. */
class S3RecordStoreTest extends RecordStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return S3Backend.open(LocalS3.freshStoreUri("records"), LocalS3.shared().options(true), name -> null);
  }
}
