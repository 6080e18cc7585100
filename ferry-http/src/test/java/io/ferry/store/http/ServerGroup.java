package io.ferry.store.http;

import io.ferry.Ferry;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;

/** One local store served by several {@link ProtocolServer}s on loopback, and clients of them. */
final class ServerGroup implements AutoCloseable {
  final LocalBackend store;
  final List<ProtocolServer> servers = new ArrayList<>();

  ServerGroup(Path dir, int n, String token) throws IOException {
    store = LocalBackend.open(dir, StoreOptions.createIfMissing());
    for (int i = 0; i < n; i++) {
      servers.add(ProtocolServer.start(store, token));
    }
  }

  ProtocolServer get(int i) {
    return servers.get(i);
  }

  /** {@code http://a,http://b,...} with the query appended, e.g. {@code ?balance=random}. */
  String uri(String query) {
    StringBuilder b = new StringBuilder();
    for (ProtocolServer s : servers) {
      b.append(b.length() == 0 ? "" : ",").append(s.uri());
    }
    return b + query;
  }

  HttpBackend client(String query, Map<String, String> settings) throws IOException {
    return HttpBackend.open(URI.create(uri(query)), new StoreOptions(false, settings), Map.of());
  }

  Repository repo(String query, Map<String, String> settings) throws IOException {
    return Ferry.open(uri(query), new StoreOptions(false, settings), RepositoryOptions.defaults().withParallelism(4));
  }

  /** Repository over the local store itself (no HTTP). */
  Repository local() throws IOException {
    return Ferry.open(store.uri(), StoreOptions.existing(), RepositoryOptions.defaults());
  }

  @Override
  public void close() throws IOException {
    for (ProtocolServer s : servers) {
      s.close();
    }
    store.close();
  }

  /** Waits for a condition, polling, failing after {@code seconds}. */
  static void await(String what, int seconds, BooleanSupplier condition) throws InterruptedException {
    long end = System.nanoTime() + seconds * 1_000_000_000L;
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError("timed out after " + seconds + " s waiting for: " + what);
      }
      Thread.sleep(10);
    }
  }
}
