package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.ferry.Ferry;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.store.TinyTmpfs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pull into a full file system (a 2 MiB tmpfs; mounting needs root, so the test is skipped elsewhere, except with
 * {@code CI=true}, where it fails instead): an {@link IOException} naming the file and "No space left on device", no
 * temporary file left, DEST as it was (or gone if the pull created it), and never a hang or a JVM fault — ten times
 * in a row, uncompressed and compressed chunks alike. A push into a store on such a file system fails naming the
 * store and the object it could not write, and leaves the store's files as they were.
 */
@Timeout(300)
class PullerFullDiskTest {
  @TempDir Path tmp;

  private Repository repo;
  private TinyTmpfs tmpfs;
  private Path mount;

  @BeforeEach
  void tinyFileSystemAndATenMegabyteModel() throws IOException, InterruptedException {
    tmpfs = TinyTmpfs.mount(tmp.resolve("tiny"), "2m");
    mount = tmpfs.path();
    repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    Path src = tmp.resolve("src");
    Files.createDirectories(src);
    byte[] random = new byte[6 << 20];
    new Random(11).nextBytes(random);
    Files.write(src.resolve("random.bin"), random);
    byte[] compressible = new byte[6 << 20];
    for (int i = 0; i < compressible.length; i += 4096) {
      compressible[i] = (byte) (i >>> 12);
    }
    Files.write(src.resolve("compressible.bin"), compressible);
    repo.push(src, "m", PushOptions.builder().message("12 MiB").build());
  }

  @AfterEach
  void unmount() throws IOException, InterruptedException {
    if (repo != null) {
      repo.close();
    }
    if (tmpfs != null) {
      tmpfs.close();
    }
  }

  /** Runs a command; null if it exited 0, else what went wrong. */

  @Test
  void aPullIntoAFullFileSystemFailsCleanlyTenTimesInARow() throws IOException {
    Path existing = mount.resolve("existing");
    Files.createDirectories(existing);
    Files.writeString(existing.resolve("random.bin"), "an older file that must survive");
    Map<String, String> existingBefore = Trees.of(existing);
    for (int i = 0; i < 10; i++) {
      Path fresh = mount.resolve("fresh");
      Throwable t = catchThrowable(() -> repo.pull("m", fresh, PullOptions.defaults()));
      assertThat(t).as("run %d into a new directory", i).isInstanceOf(IOException.class)
          .hasMessageContaining("No space left on device").hasMessageContaining(fresh.toString());
      assertThat(t.getMessage()).doesNotContain("\n");
      assertThat(fresh).doesNotExist();

      t = catchThrowable(() -> repo.pull("m", existing, PullOptions.defaults().withExisting(PullOptions.Existing.MERGE)));
      assertThat(t).as("run %d into an existing directory", i).isInstanceOf(IOException.class)
          .hasMessageContaining("No space left on device").hasMessageContaining(existing.toString());
      assertThat(Trees.of(existing)).isEqualTo(existingBefore);
      try (var all = Files.list(mount)) {
        assertThat(all.map(p -> p.getFileName().toString()).toList()).containsExactly("existing");
      }
    }
  }

  @Test
  void aPushIntoAStoreOnAFullFileSystemNamesTheStoreAndLeavesItAsItWas() throws IOException {
    Path storeDir = mount.resolve("store");
    try (Repository full = Ferry.open(storeDir.toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      Map<String, String> before = files(storeDir);
      Throwable t = catchThrowable(() -> full.push(tmp.resolve("src"), "m", PushOptions.builder().build()));
      assertThat(t).isInstanceOf(IOException.class).hasMessageContaining("No space left on device")
          .hasMessageContaining(storeDir.toString()).hasMessageMatching(".*object [0-9a-f]{64}.*");
      assertThat(t.getMessage()).doesNotContain("\n");
      assertThat(files(storeDir)).isEqualTo(before);
    }
  }

  /** The regular files of a tree (a failed push may leave the fan-out directories it made). */
  private static Map<String, String> files(Path root) throws IOException {
    Map<String, String> out = new java.util.TreeMap<>(Trees.of(root));
    out.values().removeIf(v -> !v.startsWith("file"));
    return out;
  }
}
