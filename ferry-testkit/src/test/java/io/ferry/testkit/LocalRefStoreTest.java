package io.ferry.testkit;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
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
    Path log = ((LocalBackend) backend).root().resolve("refs").resolve(ref + ".log");
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

  /** A local log is one append-only file: a crash during an append tears its last line. */
  @Override
  protected boolean lastEntryMayBeTorn() {
    return true;
  }
}
