package io.ferry.store.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A store's creation (ferry init, or a copy to a new store) killed after it made the store's directories and before
 * it published the marker leaves only that empty skeleton: the next creation finishes it, and other commands say
 * there is no store yet, rather than refusing the directory for good as "not a Ferry store".
 */
class InterruptedCreationTest {
  @TempDir Path tmp;

  private Path skeleton() throws IOException {
    Path dir = tmp.resolve("store");
    for (String sub : new String[] {"objects", "refs", "records", "tmp"}) {
      Files.createDirectories(dir.resolve(sub));
    }
    Files.write(dir.resolve("tmp").resolve("marker-18c2f3a-4242" + LocalChunkStore.TEMP_SUFFIX), new byte[] {'{'});
    return dir;
  }

  @Test
  void theNextCreationFinishesAStoreKilledBeforeItsMarker() throws IOException {
    Path dir = skeleton();
    assertThatThrownBy(() -> LocalBackend.open(dir, StoreOptions.existing())).isInstanceOf(
        InvalidInputException.class).hasMessageContaining("no Ferry store at " + dir);
    try (LocalBackend b = LocalBackend.open(dir, StoreOptions.createIfMissing())) {
      assertThat(b.refs().list("")).isEmpty();
    }
    assertThat(dir.resolve(LocalBackend.MARKER)).isRegularFile();
    LocalBackend.open(dir, StoreOptions.existing()).close();
  }

  @Test
  void aDirectoryWithAnythingElseIsStillRefused() throws IOException {
    Path dir = skeleton();
    Files.writeString(dir.resolve("objects").resolve("notes.txt"), "mine");
    // a store's directories with something in them and no marker: a store that lost its marker, not a new one
    assertThatThrownBy(() -> LocalBackend.open(dir, StoreOptions.createIfMissing())).isInstanceOf(
        io.ferry.error.CorruptStoreException.class).hasMessageContaining("is missing");
    Path other = Files.createDirectories(tmp.resolve("other").resolve("refs"));
    Files.writeString(other.getParent().resolve("README"), "mine");
    assertThatThrownBy(() -> LocalBackend.open(other.getParent(), StoreOptions.createIfMissing())).isInstanceOf(
        InvalidInputException.class).hasMessageContaining("is not empty and is not a Ferry store");
    assertThat(dir.resolve(LocalBackend.MARKER)).doesNotExist();
  }
}
