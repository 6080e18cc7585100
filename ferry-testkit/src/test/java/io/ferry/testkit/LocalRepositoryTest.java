package io.ferry.testkit;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;

/** Runs the {@link RepositoryContract} against the local backend. */
class LocalRepositoryTest extends RepositoryContract {
  @Override
  protected Backend openBackend(String name) throws Exception {
    return LocalBackend.open(scratch.resolve("stores").resolve(name), StoreOptions.createIfMissing());
  }
}
