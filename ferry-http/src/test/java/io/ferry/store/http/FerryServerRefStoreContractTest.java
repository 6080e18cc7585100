package io.ferry.store.http;

import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.server.FerryServer;
import io.ferry.server.ServerOptions;
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
 * The whole {@link io.ferry.testkit.RefStoreContract} through the HTTP store, over a local store behind the real
 * server ({@link FerryServer}, what {@code ferry serve} runs) rather than the in-test one.
 */
class FerryServerRefStoreContractTest extends HttpRefStoreContractTest {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return new Served(scratch.resolve("store"));
  }

  @Override
  Path storeRoot() {
    return ((Served) backend).root;
  }

  /** An HTTP store over a fresh local store served by a development {@link FerryServer} on a loopback port. */
  private static final class Served implements Backend {
    private final Path root;
    private final Repository repo;
    private final FerryServer server;
    private final HttpBackend client;

    Served(Path dir) throws IOException {
      LocalBackend store = LocalBackend.open(dir, StoreOptions.createIfMissing());
      root = store.root();
      repo = Repository.open(store, RepositoryOptions.defaults());
      server = FerryServer.start(repo, ServerOptions.builder().listen("127.0.0.1", 0).build());
      client = HttpBackend.open(server.uri(), StoreOptions.existing(), Map.of());
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
      repo.close();
    }
  }
}
