package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.CorruptObjectException;
import io.ferry.error.FerryException;
import io.ferry.error.InvalidInputException;
import io.ferry.id.ChunkId;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.VersionRef;
import io.ferry.scan.PathFilter;
import io.ferry.store.StoredObject;
import io.ferry.testkit.DirectoryState;
import io.ferry.transfer.PullOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Java API over an HTTP store served by the in-test protocol server: push and pull through it, the token, a
 * damaged object noticed by core's read path, resumed and selective pulls.
 */
@Timeout(60)
class HttpStoreTest {
  static final String TOKEN = "s3cr3t-t0ken-value";

  @TempDir Path tmp;
  private ServerGroup group;
  private Path src;

  @BeforeEach
  void start() throws IOException {
    group = new ServerGroup(tmp.resolve("store"), 1, TOKEN);
    src = tmp.resolve("src");
    Files.createDirectories(src.resolve("sub"));
    byte[] big = new byte[6 << 20];
    new Random(7).nextBytes(big);
    Files.write(src.resolve("sub/big.bin"), big);
    Files.writeString(src.resolve("config.json"), "{\"hidden_size\": 64}");
    Files.writeString(src.resolve("tokenizer.json"), "{\"vocab\": {}}");
  }

  @AfterEach
  void stop() throws IOException {
    group.close();
  }

  private Repository repo() throws IOException {
    return group.repo("", Map.of(HttpSettings.TOKEN, TOKEN));
  }

  @Test
  void pushAndPullThroughTheServerGiveTheSameVersionAsTheStoreItself() throws IOException {
    VersionRef pulled;
    try (Repository r = repo()) {
      r.push(src, "org/m:prod", PushOptions.builder().message("first").build());
      pulled = r.pull("org/m:prod", tmp.resolve("out"), PullOptions.defaults());
      assertThat(r.models()).hasSize(1);
      assertThat(r.refLog("org/m/tags/prod")).hasSize(1);
    }
    assertThat(DirectoryState.of(tmp.resolve("out"))).isEqualTo(DirectoryState.of(src));
    try (Repository local = group.local()) {
      assertThat(local.resolve("org/m:prod").id()).isEqualTo(pulled.id());
      assertThat(local.verify("org/m:prod", new io.ferry.transfer.TransferListener() {}).errors()).isEmpty();
    }
  }

  @Test
  void withoutTheTokenTheServerRefusesAndNoMessageShowsTheToken() throws IOException {
    assertThatThrownBy(() -> group.repo("", Map.of()).close()).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("401").hasMessageContaining("--token");
    assertThatThrownBy(() -> group.repo("", Map.of(HttpSettings.TOKEN, "wrong-" + TOKEN)).close())
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("not valid")
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain(TOKEN));
    try (HttpBackend b = group.client("", Map.of(HttpSettings.TOKEN, TOKEN))) {
      assertThat(b.uri()).doesNotContain(TOKEN);
      assertThat(b.toString()).doesNotContain(TOKEN);
      assertThatThrownBy(() -> b.chunks().read(ChunkId.of(new byte[] {1}), 0, 10))
          .isInstanceOf(io.ferry.error.MissingObjectException.class)
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain(TOKEN));
    }
  }

  @Test
  void aDamagedObjectServedByTheServerFailsThePullAsAnIntegrityError() throws IOException {
    try (Repository r = repo()) {
      r.push(src, "m", PushOptions.builder().build());
    }
    // flip one byte in the payload of the biggest object in the store, behind the server's back
    List<StoredObject> all = new ArrayList<>();
    group.store.chunks().list(all::add);
    StoredObject biggest = all.stream().max((a, b) -> Long.compare(a.size(), b.size())).orElseThrow();
    String hex = biggest.id().hex();
    Path file = tmp.resolve("store/objects").resolve(hex.substring(0, 2)).resolve(hex.substring(2));
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer one = ByteBuffer.allocate(1);
      ch.read(one, biggest.size() - 10);
      one.flip();
      one.put(0, (byte) (one.get(0) ^ 0x40));
      ch.write(one, biggest.size() - 10);
    }
    try (Repository r = repo()) {
      assertThatThrownBy(() -> r.pull("m", tmp.resolve("out"), PullOptions.defaults()))
          .isInstanceOf(CorruptObjectException.class).hasMessageContaining(biggest.id().hex())
          .hasMessageContaining(group.get(0).uri().toString())
          .satisfies(e -> assertThat(((FerryException) e).kind()).isEqualTo(FerryException.Kind.INTEGRITY))
          // the defect as the server's store found it, and not where the server keeps the object
          .satisfies(e -> assertThat(((CorruptObjectException) e).id()).isEqualTo(biggest.id()))
          .satisfies(e -> assertThat(((CorruptObjectException) e).why()).containsIgnoringCase("checksum"))
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain(tmp.resolve("store").toString()));
    }
    assertThat(tmp.resolve("out")).doesNotExist();
  }

  @Test
  void aSelectivePullReadsOnlyTheChunksOfTheFilesItSelects() throws IOException {
    try (Repository r = repo()) {
      r.push(src, "m", PushOptions.builder().build());
      group.get(0).chunkReads.set(0);
      r.pull("m", tmp.resolve("all"), PullOptions.defaults());
      long allReads = group.get(0).chunkReads.getAndSet(0);
      r.pull("m", tmp.resolve("json"), PullOptions.defaults().withFiles(PathFilter.of(List.of("*.json"), List.of())));
      long jsonReads = group.get(0).chunkReads.get();
      assertThat(jsonReads).isPositive().isLessThan(allReads / 2);
    }
    Map<String, String> want = new java.util.TreeMap<>(DirectoryState.of(src));
    want.keySet().removeIf(k -> k.startsWith("sub"));
    assertThat(DirectoryState.of(tmp.resolve("json"))).isEqualTo(want);
  }

  @Test
  void aPullKilledMidwayResumesReadingOnlyWhatItLacks() throws Exception {
    ProtocolServer server = group.get(0);
    try (Repository r = repo()) {
      r.push(src, "m", PushOptions.builder().build());
      server.chunkReads.set(0);
      r.pull("m", tmp.resolve("whole"), PullOptions.defaults());
    }
    long wholeReads = server.chunkReads.getAndSet(0);
    // a pull that stalls after half its reads: its files are as a kill at that moment would leave them
    server.holdChunkReadsAfter(wholeReads / 2);
    Path dest = tmp.resolve("dest");
    ExecutorService one = Executors.newSingleThreadExecutor();
    try (Repository r = repo()) {
      Future<?> pull = one.submit(() -> r.pull("m", dest, PullOptions.defaults()));
      ServerGroup.await("the pull to stall", 30, () -> server.held.get() > 0);
      Path killed = tmp.resolve("killed");
      io.ferry.testkit.DirectoryState.copy(dest, killed);
      server.chunkStatus.set(503);
      server.release();
      assertThatThrownBy(pull::get).hasCauseInstanceOf(IOException.class);
      server.chunkStatus.set(0);
      assertThat(tempFiles(killed)).isNotEmpty();
      server.chunkReads.set(0);
      r.pull("m", killed, PullOptions.defaults());
      assertThat(DirectoryState.of(killed)).isEqualTo(DirectoryState.of(src));
      assertThat(server.chunkReads.get()).as("reads of the resumed pull, of %d for a whole pull", wholeReads)
          .isPositive().isLessThan(wholeReads);
    } finally {
      one.shutdownNow();
    }
  }

  /**
   * A server that answers 503 with {@code Retry-After} (a proxy in front of a server that restarts) is asked again
   * once that time has passed: the pull went round its one server three times within 300 ms and failed.
   */
  @Test
  void aServerThatSaysWhenToComeBackIsAskedAgainThen() throws IOException {
    ProtocolServer server = group.get(0);
    try (Repository r = repo()) {
      r.push(src, "m", PushOptions.builder().build());
      server.restartingFor.set(1);
      r.pull("m", tmp.resolve("out"), PullOptions.defaults());
    }
    assertThat(DirectoryState.of(tmp.resolve("out"))).isEqualTo(DirectoryState.of(src));
  }

  private static List<Path> tempFiles(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(p -> p.getFileName().toString().matches("\\.ferry-.*\\.tmp")).toList();
    }
  }

}
