package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A version with paths that differ only in case ({@code A.bin}, {@code a.bin}) pulled into a directory whose file
 * system does not tell them apart: the second file was written over the first and the pull ended as if both were
 * there. It is now refused before anything is written, naming both paths.
 */
@Timeout(60)
class NameClashesTest {
  @TempDir Path tmp;

  private Repository storeWithClashingNames() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src/sub"));
    Files.writeString(tmp.resolve("src/A.bin"), "upper");
    Files.writeString(tmp.resolve("src/a.bin"), "lower");
    Files.writeString(src.resolve("x.json"), "{}");
    Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults());
    repo.push(tmp.resolve("src"), "m", PushOptions.builder().message("both").build());
    return repo;
  }

  /** On a real exFAT file system (through FUSE, as root), where names are compared without case. */
  @Test
  void aPullIntoACaseInsensitiveFileSystemIsRefusedNamingBothPaths() throws Exception {
    try (Repository repo = storeWithClashingNames(); ExFat fs = ExFat.mount(tmp)) {
      Path dest = fs.root.resolve("out");
      Files.createDirectories(dest);
      assertThat(Files.exists(fs.root.resolve("OUT"))).as("the file system folds case").isTrue();
      assertThatThrownBy(() -> repo.pull("m", dest, PullOptions.defaults()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("'A.bin' and 'a.bin'")
          .hasMessageContaining("differ only in case")
          .hasMessageContaining("nothing was written");
      try (Stream<Path> left = Files.list(dest)) {
        assertThat(left).isEmpty(); // no file, and no probe file either
      }
      // a new directory takes its parent's rules: a pull that would make DEST is refused too
      assertThatThrownBy(() -> repo.pull("m", fs.root.resolve("new/out"), PullOptions.defaults()))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("'A.bin' and 'a.bin'");
      assertThat(fs.root.resolve("new")).doesNotExist();
    }
  }

  /** Here, where names are compared byte for byte, the same version is pulled whole. */
  @Test
  void aCaseSensitiveFileSystemTakesBothPaths() throws Exception {
    assumeTrue(NameClashes.probe(tmp).equals(NameClashes.Rules.EXACT), "the temporary directory tells case apart");
    try (Repository repo = storeWithClashingNames()) {
      Path dest = tmp.resolve("out");
      repo.pull("m", dest, PullOptions.defaults());
      assertThat(dest.resolve("A.bin")).hasContent("upper");
      assertThat(dest.resolve("a.bin")).hasContent("lower");
      try (Stream<Path> left = Files.list(dest)) {
        assertThat(left.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("A.bin", "a.bin", "sub");
      }
    }
  }

  /** The rules applied: by case, by normalization, a file against a directory, and nothing asked when no clash. */
  @Test
  void pathsAreComparedByTheRulesOfTheFileSystem() throws Exception {
    NameClashes.Probe folds = dir -> new NameClashes.Rules(true, false);
    NameClashes.Probe normalizes = dir -> new NameClashes.Rules(false, true);
    assertThatThrownBy(() -> NameClashes.check(tmp, List.of("d/A.bin", "d/a.bin"), folds))
        .hasMessageContaining("'d/A.bin' and 'd/a.bin' would be one file");
    assertThatCode(() -> NameClashes.check(tmp, List.of("d/A.bin", "d/a.bin"), normalizes)).doesNotThrowAnyException();
    String composed = "caf\u00e9.json";
    String decomposed = "cafe\u0301.json";
    assertThatThrownBy(() -> NameClashes.check(tmp, List.of(composed, decomposed), normalizes))
        .hasMessageContaining("differ only in Unicode normalization");
    assertThatCode(() -> NameClashes.check(tmp, List.of(composed, decomposed), folds)).doesNotThrowAnyException();
    assertThatThrownBy(() -> NameClashes.check(tmp, List.of("Model", "model/x.bin"), folds))
        .hasMessageContaining("'Model' and 'model' would be one entry");
    List<Path> asked = new ArrayList<>();
    NameClashes.check(tmp, List.of("a.bin", "b/a.bin", "B.bin"), dir -> {
      asked.add(dir);
      return new NameClashes.Rules(true, true);
    });
    assertThat(asked).isEmpty();
  }

  /** An exFAT image mounted through FUSE on a loop device; skips the test where one cannot be made. */
  private static final class ExFat implements AutoCloseable {
    final Path root;
    private final String loop;

    private ExFat(Path root, String loop) {
      this.root = root;
      this.loop = loop;
    }

    static ExFat mount(Path tmp) throws IOException, InterruptedException {
      boolean tools = Stream.of("/usr/sbin/mkfs.exfat", "/usr/sbin/mount.exfat-fuse", "/usr/sbin/losetup")
          .allMatch(t -> Files.isExecutable(Path.of(t))) && Files.exists(Path.of("/dev/fuse"));
      boolean can = tools && "root".equals(System.getProperty("user.name"));
      String need = "needs root, /dev/fuse, exfatprogs and exfat-fuse to mount a case-insensitive file system";
      // .ci/run installs the tools: in CI a missing one is a failure, never a skip
      assertThat(can || !"true".equalsIgnoreCase(System.getenv("CI"))).as(need).isTrue();
      assumeTrue(can, need);
      Path image = tmp.resolve("exfat.img");
      try (var f = new java.io.RandomAccessFile(image.toFile(), "rw")) {
        f.setLength(16 << 20);
      }
      run("/usr/sbin/mkfs.exfat", image.toString());
      String loop = run("/usr/sbin/losetup", "-f", "--show", image.toString()).strip();
      Path root = Files.createDirectories(tmp.resolve("exfat"));
      try {
        run("/usr/sbin/mount.exfat-fuse", loop, root.toString());
      } catch (IOException e) {
        run("/usr/sbin/losetup", "-d", loop);
        throw e;
      }
      return new ExFat(root, loop);
    }

    @Override
    public void close() throws IOException, InterruptedException {
      try {
        run("fusermount", "-u", root.toString());
      } finally {
        run("/usr/sbin/losetup", "-d", loop);
      }
    }

    private static String run(String... command) throws IOException, InterruptedException {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      if (!p.waitFor(30, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException(String.join(" ", command) + ": no end within 30 s");
      }
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (p.exitValue() != 0) {
        throw new IOException(String.join(" ", command) + ": exit " + p.exitValue() + ": " + out);
      }
      return out;
    }
  }
}
