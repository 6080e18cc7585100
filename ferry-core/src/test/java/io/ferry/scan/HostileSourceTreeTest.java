package io.ferry.scan;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.PullOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile source trees for push: a tree that holds the store (or lies in it, or links into it), a file name that is
 * not valid UTF-8, symbolic link loops; and names outside ASCII, which must go in and come back unchanged.
 */
class HostileSourceTreeTest {
  @TempDir Path tmp;
  private Path storeDir;
  private Repository repo;

  @BeforeEach
  void store() throws IOException {
    storeDir = tmp.resolve("store");
    repo = Ferry.open(storeDir.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    Path first = Files.createDirectories(tmp.resolve("first"));
    Files.writeString(first.resolve("config.json"), "{\"first\": true}");
    repo.push(first, "first", PushOptions.builder().message("first").build());
  }

  @AfterEach
  void close() throws IOException {
    repo.close();
  }

  /** Every regular file of the store with its size (what a refused push must not change). */
  private static Map<String, Long> files(Path root) throws IOException {
    Map<String, Long> out = new TreeMap<>();
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        if (Files.isRegularFile(p) && !root.relativize(p).startsWith("records")) {
          out.put(root.relativize(p).toString(), Files.size(p));
        }
      }
    }
    return out;
  }

  private void refused(Path source, String... expected) throws IOException {
    Map<String, Long> before = files(storeDir);
    assertThatThrownBy(() -> repo.push(source, "m", PushOptions.builder().message("hostile").build()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContainingAll(expected);
    assertThat(files(storeDir)).as("store after a refused push").isEqualTo(before);
    assertThat(repo.models()).hasSize(1);
  }

  @Test
  void aSourceThatHoldsTheStoreIsRefused() throws IOException {
    // the store is tmp/store: pushing tmp would store the store
    refused(tmp, "source " + tmp, "contains the store " + storeDir.toRealPath());
  }

  @Test
  void aSourceInsideTheStoreIsRefused() throws IOException {
    refused(storeDir.resolve("refs"), "is inside the store " + storeDir.toRealPath());
  }

  @Test
  void aLinkToTheStoreInsideTheSourceIsRefused() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.writeString(src.resolve("config.json"), "{}");
    Files.createSymbolicLink(src.resolve("cache"), storeDir);
    refused(src, "contains the store " + storeDir.toRealPath(), src.resolve("cache").toString());
  }

  @Test
  void aFileNameThatIsNotUtf8IsRefusedNamingItsDirectory() throws IOException, InterruptedException {
    Path src = Files.createDirectories(tmp.resolve("src").resolve("sub"));
    Files.writeString(src.resolve("config.json"), "{}");
    // Java cannot make such a name under UTF-8; the shell can (bytes 0x66 0xFF 0x2E 0x62 0x69 0x6E)
    Process p = new ProcessBuilder("bash", "-c", "printf x > \"$1\"/$'f\\xff.bin'", "bash", src.toString())
        .inheritIO().start();
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).isZero();
    try (Stream<Path> s = Files.list(src)) {
      assertThat(s.count()).isEqualTo(2);
    }
    refused(tmp.resolve("src"), src.toString(), "not valid UTF-8", "f%FF.bin");
  }

  @Test
  void symbolicLinkLoopsAreNamedAsSuch() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.writeString(src.resolve("config.json"), "{}");
    Files.createSymbolicLink(src.resolve("self"), Path.of("self"));
    refused(src, src.resolve("self").toString(), "symbolic link loop");
    Files.delete(src.resolve("self"));
    Files.createSymbolicLink(src.resolve("a"), Path.of("b"));
    Files.createSymbolicLink(src.resolve("b"), Path.of("a"));
    refused(src, "symbolic link loop");
    Files.delete(src.resolve("a"));
    Files.delete(src.resolve("b"));
    Files.createSymbolicLink(src.resolve("gone"), Path.of("nowhere"));
    refused(src, src.resolve("gone").toString(), "dangling symbolic link");
  }

  /**
   * A .ferryignore whose rules cannot be read (a dangling link, a directory, a link to a device) was skipped, and the
   * push stored the files it was meant to leave out.
   */
  @Test
  void anIgnoreFileThatCannotBeReadIsRefused() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.writeString(src.resolve("config.json"), "{}");
    Files.writeString(src.resolve("secret.env"), "TOKEN=1");
    Path ignore = src.resolve(".ferryignore");
    Files.createSymbolicLink(ignore, Path.of("../shared-ignore"));
    refused(src, ignore.toString(), "dangling symbolic link", "ignore rules cannot be read");
    Files.delete(ignore);
    Files.createDirectory(ignore);
    refused(src, ignore.toString(), "not a regular file");
    Files.delete(ignore);
    Files.createSymbolicLink(ignore, Path.of("/dev/null"));
    refused(src, ignore.toString(), "not a regular file");
    Files.delete(ignore);
    Files.writeString(ignore, "*.env\n");
    repo.push(src, "m", PushOptions.builder().message("ignoring").build());
    assertThat(repo.snapshot(repo.resolve("m")).files()).extracting(f -> f.path()).containsExactly("config.json");
  }

  /** /proc files report a size of 0 and read as text: stored by their size they came back empty. */
  @Test
  void aFileWhoseSizeReadsZeroButHasContentIsRefused() throws IOException {
    Path proc = Path.of("/proc/self/status");
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.isReadable(proc) && Files.size(proc) == 0,
        "needs a Linux /proc whose files report size 0");
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.writeString(src.resolve("config.json"), "{}");
    Files.createSymbolicLink(src.resolve("status.txt"), proc);
    refused(src, src.resolve("status.txt").toString(), "size reads 0 bytes", "/proc");
    // a file that really is empty still pushes, and comes back empty
    Files.delete(src.resolve("status.txt"));
    Files.write(src.resolve("empty.bin"), new byte[0]);
    repo.push(src, "m", PushOptions.builder().message("empty file").build());
    Path out = tmp.resolve("out");
    repo.pull("m", out, PullOptions.defaults());
    assertThat(Files.size(out.resolve("empty.bin"))).isZero();
  }

  @Test
  void namesBeyondAsciiGoInAndComeBackUnchanged() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    List<String> names = List.of("café-ü.txt", "日本語/重み.bin", "emoji-\uD83D\uDE80.json", "ψ/Ω.md");
    for (String n : names) {
      Path f = src.resolve(n);
      Files.createDirectories(f.getParent());
      Files.writeString(f, "content of " + n, StandardCharsets.UTF_8);
    }
    repo.push(src, "m", PushOptions.builder().message("unicode").build());
    Path dest = tmp.resolve("dest");
    repo.pull("m", dest, PullOptions.defaults().withVerify(true));
    for (String n : names) {
      assertThat(Files.readString(dest.resolve(n), StandardCharsets.UTF_8)).isEqualTo("content of " + n);
    }
    try (Stream<Path> s = Files.walk(dest)) {
      assertThat(s.filter(Files::isRegularFile).count()).isEqualTo(names.size());
    }
  }
}
