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
import java.io.Closeable;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;

/**
 * An HTTP store over a fresh local store served by one server on a loopback port, for the contract tests: the in-test
 * {@link ProtocolServer}, or with {@link #behindFerryServer} the real one ({@link FerryServer}, what {@code ferry
 * serve} runs). Closing it closes the client, the server and the local store.
 */
final class ServedBackend implements Backend {
  /** A started server: where it listens, and what stops it. */
  private record Started(URI uri, Closeable stop) {}

  @FunctionalInterface
  private interface Starter {
    Started start(LocalBackend store) throws IOException;
  }

  private final LocalBackend store;
  private final Closeable server;
  private final HttpBackend client;

  /** Behind the in-test {@link ProtocolServer}. */
  ServedBackend(Path dir) throws IOException {
    this(dir, store -> {
      ProtocolServer s = ProtocolServer.start(store, null);
      return new Started(s.uri(), s::close);
    });
  }

  /** Behind a development {@link FerryServer} over a repository of the local store. */
  static ServedBackend behindFerryServer(Path dir) throws IOException {
    return new ServedBackend(dir, store -> {
      Repository repo = Repository.open(store, RepositoryOptions.defaults());
      FerryServer s = FerryServer.start(repo, ServerOptions.builder().listen("127.0.0.1", 0).build());
      return new Started(s.uri(), () -> {
        try {
          s.close();
        } finally {
          repo.close();
        }
      });
    });
  }

  private ServedBackend(Path dir, Starter starter) throws IOException {
    store = LocalBackend.open(dir, StoreOptions.createIfMissing());
    Started started = starter.start(store);
    server = started.stop();
    client = HttpBackend.open(started.uri(), StoreOptions.existing(), Map.of());
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
    try {
      client.close();
    } finally {
      try {
        server.close();
      } finally {
        store.close();
      }
    }
  }
}
