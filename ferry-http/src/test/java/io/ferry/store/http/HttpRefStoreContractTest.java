package io.ferry.store.http;

import io.ferry.store.Backend;
import io.ferry.testkit.RefStoreContract;
import java.nio.file.Path;
import java.util.function.UnaryOperator;

/**
 * The whole {@link RefStoreContract} through the HTTP store, over a local store behind the in-test server: damage to
 * the local log must reach the client as the local store reports it.
 */
class HttpRefStoreContractTest extends RefStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return new ServedBackend(scratch.resolve("store"));
  }

  /** The root of the local store behind the server. */
  Path storeRoot() {
    return ((ServedBackend) backend).store().root();
  }

  /** Rewrites line {@code n} of the local store's {@code refs/<ref>.log}, behind the server. */
  @Override
  protected void rewriteEntry(String ref, int n, UnaryOperator<byte[]> change) throws Exception {
    rewriteLine(storeRoot().resolve("refs").resolve(ref + ".log"), n, change);
  }

  /** The store behind the server is a local one, whose crash recovery skips a torn last line. */
  @Override
  protected boolean lastEntryMayBeTorn() {
    return true;
  }
}
