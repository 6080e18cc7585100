package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.dedup.IndexTable;
import io.ferry.dedup.SmallChunkIndex;
import io.ferry.format.DType;
import io.ferry.id.ChunkId;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.server.FerryServer;
import io.ferry.server.ServerOptions;
import io.ferry.server.auth.Scope;
import io.ferry.server.auth.TokenFile;
import io.ferry.store.RecordStore;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pushes through a real {@code ferry serve} with a token that may write some models only (not admin): every record a
 * push writes through the HTTP store must be one the server lets a writer write.
 */
@Timeout(120)
class ScopedTokenPushTest {
  @TempDir Path tmp;
  private Repository local;
  private FerryServer server;
  private String writer;

  @BeforeEach
  void start() throws IOException {
    local = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    Path file = tmp.resolve("tokens.json");
    writer = TokenFile.create(file, "ci", List.of(Scope.parse("read:*"), Scope.parse("write:org/*")),
        Clock.systemUTC(), new SecureRandom()).token();
    server = FerryServer.start(local, ServerOptions.builder().listen("127.0.0.1", 0).tokens(TokenFile.open(file))
        .build());
  }

  @AfterEach
  void stop() throws IOException {
    server.close();
    local.close();
  }

  private Repository asWriter() throws IOException {
    return Ferry.open(server.uri().toString(), new StoreOptions(false, Map.of(HttpSettings.TOKEN, writer)),
        RepositoryOptions.defaults().withParallelism(4));
  }

  private Path model(long seed) throws IOException {
    Path dir = tmp.resolve("m" + seed);
    java.nio.file.Files.createDirectories(dir);
    ModelGenerator.writeHfModel(dir, ModelGenerator.transformer(1 << 20, DType.BF16, seed), 4 << 20);
    return dir;
  }

  @Test
  void aWritersPushThatMergesTheSmallChunkIndexDeletesOnlyWhatItsPointerAbsorbed() throws Exception {
    // deltas as 31 earlier pushes left them: the next push's delta makes 32, and that push merges
    RecordStore records = local.backend().records();
    for (int i = 0; i < SmallChunkIndex.DEFAULT_MERGE_THRESHOLD - 1; i++) {
      ByteBuffer t = IndexTable.build(Map.of(ChunkId.of(("c" + i).getBytes(StandardCharsets.UTF_8)),
          ChunkId.of(("p" + i).getBytes(StandardCharsets.UTF_8)))).bytes();
      byte[] b = new byte[t.remaining()];
      t.get(b);
      assertThat(records.create(String.format("dedup/deltas/%032x-0", i), b)).isTrue();
    }
    try (Repository r = asWriter()) {
      r.push(model(1), "org/a", PushOptions.builder().message("first").build());
    }
    assertThat(records.list("dedup/bases/")).as("the push merged").hasSize(1);
    assertThat(records.list("dedup/deltas/")).as("and removed the deltas its pointer absorbed").isEmpty();
    assertThat(local.resolve("org/a").id()).isNotNull();
    assertThat(records.list("leases/")).as("the push's lease went, with its holder record").isEmpty();
  }

  @Test
  void aPushToAModelTheTokenMayNotWriteFailsBeforeItUploadsAnything() throws Exception {
    Path m = model(2);
    List<ChunkId> before = new java.util.ArrayList<>();
    local.backend().chunks().list(o -> before.add(o.id()));
    try (Repository r = asWriter()) {
      // the HTTP store asks the server first (GET /v1/store/access)
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> r.push(m, "secret/m", PushOptions.builder()
          .message("x").build())).hasMessageContaining("model 'secret/m' at ")
          .hasMessageEndingWith("token 'ci' may not write it (its scopes do not name it); nothing was sent");
      // and were it not asked, the server refuses the push's lease, before any upload
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> r.leases().take(
          io.ferry.lease.Lease.Kind.PUSH, "push secret/m")).hasMessageContaining("write access to model 'secret/m'");
    }
    List<ChunkId> after = new java.util.ArrayList<>();
    local.backend().chunks().list(o -> after.add(o.id()));
    assertThat(after).as("nothing was uploaded").containsExactlyInAnyOrderElementsOf(before);
    assertThat(local.backend().refs().list("secret/")).isEmpty();
  }
  /**
   * A store-wide verify through a token that may only read checks every version and says it left the small-chunk
   * index unchecked (the server lets only writers list its records): it failed with a 403 after checking every chunk.
   */
  @Test
  void aReadersStoreWideVerifyChecksEveryVersionAndLeavesTheIndex() throws Exception {
    local.push(model(3), "org/a", PushOptions.builder().message("a").build());
    local.push(model(4), "b", PushOptions.builder().message("b").build());
    Path file = tmp.resolve("tokens.json");
    String reader = TokenFile.create(file, "reader", List.of(Scope.parse("read:*")), Clock.systemUTC(),
        new SecureRandom()).token();
    List<String> notices = new java.util.concurrent.CopyOnWriteArrayList<>();
    try (Repository r = Ferry.open(server.uri().toString(),
        new StoreOptions(false, Map.of(HttpSettings.TOKEN, reader)), RepositoryOptions.defaults().withNotices(
            notices::add))) {
      io.ferry.repo.Results.VerifyReport report = r.verify(null, io.ferry.transfer.TransferListener.NONE);
      assertThat(report.ok()).as("%s", report.problems()).isTrue();
      assertThat(report.versions()).isEqualTo(2);
    }
    assertThat(notices).hasSize(1);
    assertThat(notices.get(0)).startsWith("the small-chunk index was not checked: ").contains("403")
        .contains("dedup/bases/");
  }
  /**
   * A token that may write some models and read nothing else, pushing another model, is told it may not write it: it
   * was told that it needed read access to the model's head (the push's first read).
   */
  @Test
  void aPushWithAWriteOnlyTokenToAnotherModelSaysItMayNotWriteIt() throws Exception {
    Path file = tmp.resolve("tokens.json");
    String orgWriter = TokenFile.create(file, "org-writer", List.of(Scope.parse("write:org/*")), Clock.systemUTC(),
        new SecureRandom()).token();
    Path m = model(5);
    try (Repository r = Ferry.open(server.uri().toString(),
        new StoreOptions(false, Map.of(HttpSettings.TOKEN, orgWriter)), RepositoryOptions.defaults())) {
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> r.push(m, "secret/m", PushOptions.builder()
          .message("x").build())).hasMessageEndingWith(
              "token 'org-writer' may not write it (its scopes do not name it); nothing was sent");
      assertThat(r.push(m, "org/m", PushOptions.builder().message("x").build()).versionId()).isNotNull();
    }
  }
}
