package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.server.FerryServer;
import io.ferry.server.ServerOptions;
import io.ferry.store.StoreIdentity;
import io.ferry.store.StoreMarker;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.PullOptions;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Store URIs that list several servers: real ones ({@link FerryServer}, what {@code ferry serve} runs) over one store
 * or, by mistake, over two (a store and a copy of it whose tag points elsewhere), and servers that report no store id
 * (as servers older than store ids; the in-test {@link ProtocolServer} reports none).
 */
@Timeout(60)
class ServersOfTwoStoresTest {
  @TempDir Path tmp;

  private Repository store(String name, int seed) throws IOException {
    Repository r = Ferry.open(tmp.resolve("store-" + name).toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults());
    push(r, name, seed);
    return r;
  }

  private void push(Repository r, String name, int seed) throws IOException {
    Path src = tmp.resolve("src-" + name + "-" + seed);
    Files.createDirectories(src);
    byte[] b = new byte[300 << 10];
    new Random(seed).nextBytes(b);
    Files.write(src.resolve("weights.bin"), b);
    Files.writeString(src.resolve("config.json"), "{\"store\": \"" + name + "\"}");
    r.push(src, "m:prod", PushOptions.builder().build());
  }

  private Repository open(String name) throws IOException {
    return Ferry.open(tmp.resolve("store-" + name).toString(), StoreOptions.existing(), RepositoryOptions.defaults());
  }

  private static FerryServer serve(Repository r) throws IOException {
    return FerryServer.start(r, ServerOptions.builder().listen("127.0.0.1", 0).build());
  }

  /** The store id a server reports in its description ({@code GET /v1/store}), or null if it reports none. */
  private static String reportedId(FerryServer s) throws Exception {
    HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(s.uri() + "/v1/store"))
        .build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    com.fasterxml.jackson.databind.JsonNode id = io.ferry.limits.Limits.jsonMapper().readTree(r.body()).path("id");
    return id.isTextual() ? id.asText() : null;
  }

  /** Makes a store look as one made before markers had a store id: its marker as Ferry wrote it then. */
  private void markAsOld(String name) throws IOException {
    Files.writeString(tmp.resolve("store-" + name).resolve(StoreMarker.NAME),
        "{\"format\":\"ferry-store\",\"version\":1}");
  }

  /** Two servers over one store (two processes' worth: each opened the store itself) report one id, and serve it. */
  @Test
  void serversOfOneStoreReportOneIdAndServeIt() throws Exception {
    store("a", 1).close();
    List<String> notices = new ArrayList<>();
    try (Repository a1 = open("a"); Repository a2 = open("a"); FerryServer s1 = serve(a1); FerryServer s2 = serve(a2);
        Repository client = Ferry.open(s1.uri() + "," + s2.uri() + "?balance=round-robin&hedge=false",
            StoreOptions.existing(), RepositoryOptions.defaults().withNotices(notices::add))) {
      assertThat(reportedId(s1)).matches("[0-9a-f]{32}").isEqualTo(reportedId(s2))
          .isEqualTo(a1.backend().markerId().orElseThrow());
      client.pull("m:prod", tmp.resolve("out"), PullOptions.defaults());
      assertThat(tmp.resolve("out/config.json")).hasContent("{\"store\": \"a\"}");
      assertThat(notices).isEmpty();
    }
  }

  /**
   * A store and a copy of it ({@code ferry copy}) hold the same objects, and the copy's tag was moved: a URI that
   * lists a server over each used to pull whichever version the server that answered the tag lookup had, silently.
   * The client is now refused when it opens the store, naming both servers and their store ids.
   */
  @Test
  void serversOfAStoreAndItsCopyAreRefusedNamingBoth() throws Exception {
    try (Repository a = store("a", 1);
        Repository b = Ferry.open(tmp.resolve("store-b").toString(), StoreOptions.createIfMissing(),
            RepositoryOptions.defaults())) {
      a.copyTo("m:prod", b, false, null);
      push(b, "b", 2);
      try (FerryServer sa = serve(a); FerryServer sb = serve(b)) {
        String ida = reportedId(sa);
        String idb = reportedId(sb);
        assertThat(ida).isNotNull().isNotEqualTo(idb);
        assertThatThrownBy(() -> Ferry.open(sa.uri() + "," + sb.uri() + "?balance=round-robin&hedge=false",
            StoreOptions.existing(), RepositoryOptions.defaults()).close())
            .isInstanceOf(InvalidInputException.class)
            .hasMessageContaining("do not serve one store")
            .hasMessageContaining(sa.uri() + " serves store " + ida)
            .hasMessageContaining(sb.uri() + " serves store " + idb);
      }
    }
  }

  /**
   * A server that was down when the client opened the store, and comes back over another store (a copy) at its
   * address, is checked before its first request: the next pull fails naming both servers, where it used to take the
   * copy's tag from it.
   */
  @Test
  void aServerThatComesBackOverAnotherStoreIsRefused() throws Exception {
    try (Repository a = store("a", 1);
        Repository b = Ferry.open(tmp.resolve("store-b").toString(), StoreOptions.createIfMissing(),
            RepositoryOptions.defaults())) {
      a.copyTo("m:prod", b, false, null);
      push(b, "b", 2);
      int port;
      try (FerryServer first = serve(b)) {
        port = first.uri().getPort();
      }
      try (FerryServer sa = serve(a);
          Repository client = Ferry.open(sa.uri() + ",http://127.0.0.1:" + port
              + "?balance=round-robin&hedge=false&probe_min_ms=10&probe_max_ms=20", StoreOptions.existing(),
              RepositoryOptions.defaults());
          FerryServer sb = FerryServer.start(b, ServerOptions.builder().listen("127.0.0.1", port).build())) {
        HttpBackend http = (HttpBackend) client.backend();
        ServerGroup.await("the probe finds " + sb.uri() + " up", 20, () -> !http.stats().get(1).down());
        assertThatThrownBy(() -> {
          for (int i = 0; i < 4; i++) {
            client.pull("m:prod", tmp.resolve("out-" + i), PullOptions.defaults());
            assertThat(tmp.resolve("out-" + i + "/config.json")).hasContent("{\"store\": \"a\"}");
          }
        }).isInstanceOf(InvalidInputException.class)
            .hasMessageContaining("do not serve one store")
            .hasMessageContaining(sa.uri() + " serves store " + a.backend().markerId().orElseThrow())
            .hasMessageContaining(sb.uri() + " serves store " + b.backend().markerId().orElseThrow());
      }
    }
  }

  /**
   * The one server of a store URI that comes back over another store is refused saying so, with both stores' ids;
   * the error said "the servers of ... do not serve one store" and named only the new store, as if the URI listed
   * servers of two stores.
   */
  @Test
  void theOneServerComingBackOverAnotherStoreIsSaidToHaveChangedStore() throws Exception {
    try (Repository a = store("a", 1);
        Repository b = Ferry.open(tmp.resolve("store-b").toString(), StoreOptions.createIfMissing(),
            RepositoryOptions.defaults())) {
      a.copyTo("m:prod", b, false, null);
      FerryServer sa = serve(a);
      int port = sa.uri().getPort();
      try (Repository client = Ferry.open(sa.uri() + "?probe_min_ms=10&probe_max_ms=20", StoreOptions.existing(),
          RepositoryOptions.defaults())) {
        HttpBackend http = (HttpBackend) client.backend();
        client.pull("m:prod", tmp.resolve("out"), PullOptions.defaults());
        sa.close();
        assertThatThrownBy(() -> client.resolve("m:prod")).isInstanceOf(IOException.class);
        assertThat(http.stats().get(0).down()).isTrue();
        try (FerryServer sb = FerryServer.start(b, ServerOptions.builder().listen("127.0.0.1", port).build())) {
          ServerGroup.await("the probe finds " + sb.uri() + " up", 20, () -> !http.stats().get(0).down());
          assertThatThrownBy(() -> client.resolve("m:prod")).isInstanceOf(InvalidInputException.class)
              .hasMessageContaining(sb.uri() + " serves store " + b.backend().markerId().orElseThrow()
                  + " now, where the servers of this URI served store " + a.backend().markerId().orElseThrow()
                  + " before")
              .hasMessageNotContaining("do not serve one store");
        }
      }
    }
  }

  /**
   * A server restarted over another store between two requests of a client, with no request in between to find it
   * down, is refused by the server itself before it reads or changes anything: the client names the store it expects
   * in every request. The client reopened its kept-alive connections silently and read the other store's refs, and
   * moved a ref there.
   */
  @Test
  void aServerRestartedOverAnotherStoreBetweenTwoRequestsIsRefusedBeforeItActs() throws Exception {
    try (Repository a = store("a", 1);
        Repository b = Ferry.open(tmp.resolve("store-b").toString(), StoreOptions.createIfMissing(),
            RepositoryOptions.defaults())) {
      a.copyTo("m:prod", b, false, null);
      push(b, "b", 2);
      io.ferry.id.ChunkId prodOfB = b.backend().refs().get("m/tags/prod").orElseThrow();
      FerryServer sa = serve(a);
      int port = sa.uri().getPort();
      try (Repository client = Ferry.open(sa.uri().toString(), StoreOptions.existing(),
          RepositoryOptions.defaults())) {
        io.ferry.id.ChunkId prodOfA = client.backend().refs().get("m/tags/prod").orElseThrow();
        assertThat(prodOfA).isNotEqualTo(prodOfB);
        sa.close();
        try (FerryServer sb = FerryServer.start(b, ServerOptions.builder().listen("127.0.0.1", port).build())) {
          String moved = sb.uri() + " serves store " + b.backend().markerId().orElseThrow()
              + " now, where the servers of this URI served store " + a.backend().markerId().orElseThrow();
          assertThatThrownBy(() -> client.backend().refs().compareAndSet("m/tags/prod", prodOfB, prodOfA,
              new io.ferry.store.RefLogEntry(prodOfB, prodOfA, "t", java.time.Instant.now(), "w")))
              .isInstanceOf(InvalidInputException.class).hasMessageContaining(moved);
          assertThat(b.backend().refs().get("m/tags/prod")).contains(prodOfB);
          assertThatThrownBy(() -> client.backend().refs().get("m/tags/prod"))
              .isInstanceOf(InvalidInputException.class).hasMessageContaining(moved);
        }
      }
    }
  }

  /**
   * A store made before markers had an id keeps working through servers: the first server to describe it gives it
   * an id (the record {@value StoreIdentity#RECORD}), which every other server over it then reports; another store
   * made before ids, served beside it, is still told apart.
   */
  @Test
  void aStoreMadeBeforeStoreIdsKeepsWorkingAndIsToldApart() throws Exception {
    store("a", 1).close();
    store("b", 2).close();
    markAsOld("a");
    markAsOld("b");
    try (Repository a1 = open("a"); Repository a2 = open("a"); Repository b = open("b");
        FerryServer s1 = serve(a1); FerryServer s2 = serve(a2); FerryServer sb = serve(b)) {
      assertThat(a1.backend().markerId()).isEmpty();
      try (Repository client = Ferry.open(s1.uri() + "," + s2.uri() + "?balance=round-robin&hedge=false",
          StoreOptions.existing(), RepositoryOptions.defaults())) {
        client.pull("m:prod", tmp.resolve("out"), PullOptions.defaults());
      }
      assertThat(tmp.resolve("out/config.json")).hasContent("{\"store\": \"a\"}");
      assertThat(reportedId(s1)).isNotNull().isEqualTo(reportedId(s2)).isEqualTo(StoreIdentity.of(a1.backend()));
      assertThat(reportedId(sb)).isNotNull().isNotEqualTo(reportedId(s1));
      assertThatThrownBy(() -> Ferry.open(s1.uri() + "," + sb.uri(), StoreOptions.existing(),
          RepositoryOptions.defaults()).close())
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("do not serve one store");
    }
  }

  /**
   * Servers that report no store id (older than store ids) are taken, with one notice. Over different stores, every
   * read of an object one server lacks used to fail as a damaged store ("object ... is missing", exit 3, "run ferry
   * verify"), naming neither server; the other servers are now asked, and the error says that the servers serve
   * different stores, naming the one that lacks the object and the one that holds it.
   */
  @Test
  void serversOfDifferentStoresAreSaidToBeSo() throws IOException {
    List<String> notices = new ArrayList<>();
    try (Repository a = store("a", 1); Repository b = store("b", 2);
        ProtocolServer sa = ProtocolServer.start(a.backend(), null);
        ProtocolServer sb = ProtocolServer.start(b.backend(), null);
        Repository client = Ferry.open(sa.uri() + "," + sb.uri() + "?balance=round-robin&hedge=false",
            StoreOptions.existing(), RepositoryOptions.defaults().withNotices(notices::add))) {
      assertThat(notices).singleElement().asString().contains("does not report its store's id");
      assertThatThrownBy(() -> client.pull("m:prod", tmp.resolve("out"), PullOptions.defaults()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("do not serve one store")
          .hasMessageContaining(sa.uri().toString())
          .hasMessageContaining(sb.uri().toString())
          .hasMessageContaining("held by");
      assertThat(tmp.resolve("out")).doesNotExist();
    }
  }
}
