package io.ferry.store.s3;

import io.ferry.store.Backend;
import io.ferry.testkit.RepositoryContract;
import java.net.URI;

/** Runs the {@link RepositoryContract} (push, tags, rollback, gc racing pushes) against S3Proxy. */
class S3RepositoryContractTest extends RepositoryContract {
  private final URI base = LocalS3.freshStoreUri("repo");

  @Override
  protected Backend openBackend(String name) throws Exception {
    return S3Backend.open(URI.create(base + "-" + name), LocalS3.shared().options(true), n -> null);
  }
}
