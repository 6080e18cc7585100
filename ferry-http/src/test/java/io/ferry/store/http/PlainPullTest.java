package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.MissingObjectException;
import io.ferry.id.ChunkId;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.server.FerryServer;
import io.ferry.server.ServerOptions;
import io.ferry.server.auth.Scope;
import io.ferry.server.auth.TokenFile;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.DirectoryState;
import io.ferry.testkit.FreePort;
import io.ferry.transfer.PullOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pull over {@code http://} through the real server ({@link FerryServer}, what {@code ferry serve} runs) goes wholly
 * on plain connections ({@link PlainReads}): its reads, the store's description, the ref, the sizes of objects, and
 * the answers a pull meets when something is missing (404 to a {@code GET} and to a {@code HEAD}), so the JDK client
 * is never made. The client that pushes first makes it (a push sends bodies).
 */
@Timeout(60)
class PlainPullTest {
  static final String TOKEN = "plain-pull-token-value";

  @TempDir Path tmp;
  private Repository store;
  private FerryServer server;
  private Path src;

  @BeforeEach
  void start() throws IOException {
    src = tmp.resolve("src");
    Files.createDirectories(src.resolve("weights"));
    Random random = new Random(5);
    byte[] big = new byte[(9 << 20) + 123]; // more than one 8 MiB range read of a chunk
    random.nextBytes(big);
    Files.write(src.resolve("weights/big.bin"), big);
    byte[] small = new byte[10_000];
    random.nextBytes(small);
    Files.write(src.resolve("weights/small.bin"), small);
    Files.writeString(src.resolve("config.json"), "{\"layers\": 1}");
    store = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    server = FerryServer.start(store, ServerOptions.builder().listen("127.0.0.1", 0).build());
  }

  @AfterEach
  void stop() throws IOException {
    server.close();
    store.close();
  }

  private Repository client() throws IOException {
    return Ferry.open(server.uri().toString(), StoreOptions.existing(), RepositoryOptions.defaults());
  }

  private static ServerPool pool(Repository r) {
    return ((HttpBackend) r.backend()).pool();
  }

  @Test
  void aPullNeedsNoJdkClient() throws IOException {
    try (Repository pusher = client()) {
      pusher.push(src, "org/m:prod", PushOptions.builder().build());
      assertThat(pool(pusher).madeJdkClient()).as("a push sends bodies through the JDK client").isTrue();
    }
    try (Repository r = client()) {
      r.pull("org/m:prod", tmp.resolve("out"), PullOptions.defaults());
      r.pull("org/m:prod", tmp.resolve("verified"), PullOptions.defaults().withVerify(true));
      assertThat(DirectoryState.of(tmp.resolve("out"))).isEqualTo(DirectoryState.of(src));
      assertThat(DirectoryState.of(tmp.resolve("verified"))).isEqualTo(DirectoryState.of(src));
      assertThat(pool(r).madeJdkClient()).isFalse();
      assertThat(r.backend().refs().get("org/m/tags/none")).isEmpty(); // a 404 with a JSON body
      ChunkId absent = ChunkId.parse("ab".repeat(32));
      assertThat(r.backend().chunks().contains(absent)).isFalse(); // a 404 to a HEAD
      assertThatThrownBy(() -> r.backend().chunks().readInto(absent, 0, ByteBuffer.allocateDirect(100)))
          .isInstanceOf(MissingObjectException.class);
      assertThat(pool(r).madeJdkClient()).isFalse();
    }
  }

  @Test
  void probingAServerMarkedDownNeedsNoJdkClient() throws Exception {
    store.push(src, "org/m:prod", PushOptions.builder().build());
    int port = FreePort.pick();
    String uri = server.uri() + ",http://127.0.0.1:" + port + "?probe_min_ms=20&probe_max_ms=100&balance=round-robin";
    try (Repository r = Ferry.open(uri, StoreOptions.existing(), RepositoryOptions.defaults())) {
      HttpBackend b = (HttpBackend) r.backend();
      r.pull("org/m:prod", tmp.resolve("out"), PullOptions.defaults());
      ServerGroup.await("the second server to be marked down", 20, () -> b.stats().get(1).down());
      try (FerryServer second = FerryServer.start(store, ServerOptions.builder().listen("127.0.0.1", port).build())) {
        ServerGroup.await("the probe to find the second server up", 20, () -> !b.stats().get(1).down());
      }
      assertThat(DirectoryState.of(tmp.resolve("out"))).isEqualTo(DirectoryState.of(src));
      assertThat(pool(r).madeJdkClient()).as("probes over http:// take plain connections").isFalse();
    }
  }

  @Test
  void aPullWithATokenNeedsNoJdkClientEither() throws Exception {
    server.close();
    Path tokens = tmp.resolve("tokens.json");
    String token = TokenFile.create(tokens, "reader", List.of(Scope.parse("read:org/*")), Clock.systemUTC(),
        new SecureRandom()).token();
    server = FerryServer.start(store, ServerOptions.builder().listen("127.0.0.1", 0).tokens(TokenFile.open(tokens))
        .build());
    store.push(src, "org/m:prod", PushOptions.builder().build());
    try (Repository r = Ferry.open(server.uri().toString(), new StoreOptions(false, Map.of(HttpSettings.TOKEN, token)),
        RepositoryOptions.defaults())) {
      r.pull("org/m:prod", tmp.resolve("out"), PullOptions.defaults());
      assertThat(DirectoryState.of(tmp.resolve("out"))).isEqualTo(DirectoryState.of(src));
      assertThat(pool(r).madeJdkClient()).isFalse();
    }
  }
}
