package io.ferry.store.http;

import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.RecordStore;
import io.ferry.store.RefStore;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * An HTTP store over a fresh local store served by one {@link ProtocolServer}, for the contract tests; closing it
 * closes the client, the server and the local store.
 */
final class ServedBackend implements Backend {
  private final LocalBackend store;
  private final ProtocolServer server;
  private final HttpBackend client;

  ServedBackend(Path dir) throws IOException {
    store = LocalBackend.open(dir, StoreOptions.createIfMissing());
    server = ProtocolServer.start(store, null);
    client = HttpBackend.open(server.uri(), StoreOptions.existing(), Map.of());
  }

  /** The local store behind the server, for tests that change its files as a failing disk would. */
  LocalBackend store() {
    return store;
  }

  @Override
  public ChunkStore chunks() {
    return client.chunks();
  }

  @Override
  public RefStore refs() {
    return client.refs();
  }

  @Override
  public RecordStore records() {
    return client.records();
  }

  @Override
  public String uri() {
    return client.uri();
  }

  @Override
  public void close() throws IOException {
    client.close();
    server.close();
    store.close();
  }
}
