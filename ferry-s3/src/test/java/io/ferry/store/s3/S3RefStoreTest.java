package io.ferry.store.s3;

import io.ferry.store.Backend;
import io.ferry.testkit.RefStoreContract;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The whole {@link RefStoreContract} against S3Proxy, a fresh store prefix per test. The multi-process tests start
 * child JVMs that reach the S3Proxy of this JVM over loopback: the endpoint goes in the store settings, the
 * credentials in system properties.
 */
class S3RefStoreTest extends RefStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    LocalS3 s3 = LocalS3.shared();
    return S3Backend.open(LocalS3.freshStoreUri("refs"), s3.options(true), name -> null);
  }

  @Override
  protected Map<String, String> storeSettings(Backend backend) throws Exception {
    return LocalS3.shared().settings(Map.of());
  }

  @Override
  protected List<String> childJvmOptions() {
    return LocalS3.jvmOptions();
  }
}
