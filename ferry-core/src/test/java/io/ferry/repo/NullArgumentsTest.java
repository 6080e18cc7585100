package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.PullOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A null where the Java API needs a value is refused at the call, by a {@link NullPointerException} naming the
 * argument, before anything is read or written (it came from deep inside, e.g. "Cannot invoke Path.getFileSystem()
 * because path is null", or from {@code Map.copyOf} with no message at all). A null listener reports nothing, as in
 * {@link PushOptions} and {@link PullOptions}.
 */
class NullArgumentsTest {
  @TempDir Path tmp;

  private Repository repo;
  private Path src;

  @BeforeEach
  void open() throws IOException {
    repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    src = Files.createDirectories(tmp.resolve("src"));
    Files.writeString(src.resolve("config.json"), "{\"a\": 1}");
    repo.push(src, "m", PushOptions.builder().build());
  }

  @AfterEach
  void close() throws IOException {
    repo.close();
  }

  private List<String> storeFiles() throws IOException {
    try (Stream<Path> s = Files.walk(tmp.resolve("store"))) {
      return s.filter(Files::isRegularFile).map(Path::toString).sorted().toList();
    }
  }

  private static void refusedNaming(ThrowingCallable call, String argument) {
    assertThatThrownBy(call).isInstanceOf(NullPointerException.class).hasMessage(argument);
  }

  @Test
  void repositoryMethodsNameTheNullArgument() throws IOException {
    List<String> before = storeFiles();
    PushOptions opts = PushOptions.builder().build();
    refusedNaming(() -> repo.push(null, "m", opts), "source");
    refusedNaming(() -> repo.push(src, "m", null), "opts");
    refusedNaming(() -> repo.pull("m", null, PullOptions.defaults()), "dest");
    refusedNaming(() -> repo.pull("m", tmp.resolve("out"), null), "opts");
    refusedNaming(() -> repo.cat("m//config.json", null), "out");
    refusedNaming(() -> repo.copyTo("m", null, false, null), "target");
    refusedNaming(() -> repo.gc(null, false), "grace");
    assertThat(storeFiles()).isEqualTo(before);
    assertThat(tmp.resolve("out")).doesNotExist();
  }

  /**
   * A ref without a file given to {@link Repository#readFile} is refused as {@link Repository#cat} refuses it; it was
   * looked up as a file named "null" ("version 1a2b3c4d5e6f has no file 'null'").
   */
  @Test
  void readFileOfARefWithoutAPathSaysItNamesNoFile() throws IOException {
    assertThatThrownBy(() -> repo.readFile("m")).isInstanceOf(InvalidInputException.class)
        .hasMessage("'m' names no file: use ref//path, e.g. llama:prod//config.json");
    assertThat(repo.readFile("m//config.json").remaining()).isEqualTo(8);
  }

  /** A negative grace (Duration.ofDays(-7) for 7 days) removed every unreferenced object, as a grace of zero. */
  @Test
  void aNegativeGcGraceIsRefusedRemovingNothing() throws IOException {
    Files.writeString(src.resolve("config.json"), "{\"a\": 2}");
    repo.push(src, "m", PushOptions.builder().build());
    repo.removeVersion("m@" + repo.resolve("m").id().hex(), false);
    List<String> before = storeFiles();
    assertThatThrownBy(() -> repo.gc(Duration.ofDays(-7), false)).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("grace").hasMessageContaining("negative");
    assertThat(storeFiles()).isEqualTo(before);
    assertThat(repo.gc(Duration.ofDays(7), false).deadObjects()).isZero();
  }

  /** A negative log limit listed nothing, as if the model had no history. */
  @Test
  void aNegativeLogLimitIsRefused() throws IOException {
    assertThatThrownBy(() -> repo.log("m", -1)).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("log limit -1 is negative");
    assertThat(repo.log("m", 0)).isEmpty();
    assertThat(repo.log("m", 1)).hasSize(1);
  }

  @Test
  void aNullListenerReportsNothing() throws IOException {
    assertThat(repo.verify("m", null).errors()).isEmpty();
    assertThat(repo.verify(null, null).errors()).isEmpty();
    try (Repository other = Ferry.open(tmp.resolve("other").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.copyTo("m", other, true, null);
      assertThat(other.resolve("m").id()).isEqualTo(repo.resolve("m").id());
    }
  }

  @Test
  void ferryOpenNamesTheNullOptions() {
    String store = tmp.resolve("store").toString();
    refusedNaming(() -> Ferry.open(store, null, RepositoryOptions.defaults()), "storeOptions");
    refusedNaming(() -> Ferry.open(store, StoreOptions.existing(), null), "options");
    refusedNaming(() -> Ferry.openBackend(store, null), "storeOptions");
  }

  @Test
  void pushOptionsNameTheNullArgument() {
    refusedNaming(() -> PushOptions.builder().message(null), "message");
    refusedNaming(() -> PushOptions.builder().metadata(null), "metadata");
    Map<String, String> nullValue = new HashMap<>();
    nullValue.put("k", null);
    assertThatThrownBy(() -> PushOptions.builder().metadata(nullValue).build())
        .isInstanceOf(NullPointerException.class).hasMessageContaining("metadata").hasMessageContaining("k=null");
  }
}
