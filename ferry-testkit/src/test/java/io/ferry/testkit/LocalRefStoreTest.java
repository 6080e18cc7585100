package io.ferry.testkit;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import java.nio.file.Path;
import java.util.function.UnaryOperator;

/** Runs the {@link RefStoreContract} against the local backend. */
class LocalRefStoreTest extends RefStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return LocalBackend.open(scratch.resolve("store"), StoreOptions.createIfMissing());
  }

  /** Rewrites line {@code n} of {@code refs/<ref>.log}. */
  @Override
  protected void rewriteEntry(String ref, int n, UnaryOperator<byte[]> change) throws Exception {
    rewriteLine(((LocalBackend) backend).root().resolve("refs").resolve(ref + ".log"), n, change);
  }

  /** A local log is one append-only file: a crash during an append tears its last line. */
  @Override
  protected boolean lastEntryMayBeTorn() {
    return true;
  }
}
