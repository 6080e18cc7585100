package io.ferry.store.http;

import io.ferry.store.Backend;
import io.ferry.testkit.RefStoreContract;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
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
    Path log = storeRoot().resolve("refs").resolve(ref + ".log");
    byte[] all = Files.readAllBytes(log);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int line = 1;
    int from = 0;
    for (int i = 0; i < all.length; i++) {
      if (all[i] == '\n') {
        byte[] bytes = Arrays.copyOfRange(all, from, i);
        out.write(line == n ? change.apply(bytes) : bytes);
        out.write('\n');
        line++;
        from = i + 1;
      }
    }
    out.write(all, from, all.length - from);
    Files.write(log, out.toByteArray());
  }

  /** The store behind the server is a local one, whose crash recovery skips a torn last line. */
  @Override
  protected boolean lastEntryMayBeTorn() {
    return true;
  }
}
