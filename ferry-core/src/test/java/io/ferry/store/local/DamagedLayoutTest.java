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
 * A store whose objects, refs, records or tmp directory was replaced by something else is refused naming the path
 * and what is there, rather than with only "already exists", and the open changes nothing.
 */
class DamagedLayoutTest {
  @TempDir Path tmp;

  private Path store() throws IOException {
    Path dir = tmp.resolve("store");
    LocalBackend.open(dir, StoreOptions.createIfMissing()).close();
    return dir;
  }

  @Test
  void aFileWhereTmpWasIsNamedWithWhatToDo() throws IOException {
    Path dir = store();
    Path t = dir.resolve("tmp");
    Files.delete(t);
    Files.writeString(t, "not a directory");
    assertThatThrownBy(() -> LocalBackend.open(dir, StoreOptions.existing())).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("store " + dir + " is damaged: " + t + " is a file")
        .hasMessageContaining("move it away");
    assertThat(Files.readString(t)).isEqualTo("not a directory");
  }

  @Test
  void aFifoOrADanglingLinkWhereADirectoryWasIsNamed() throws Exception {
    Path dir = store();
    Path records = dir.resolve("records");
    Files.delete(records);
    assertThat(new ProcessBuilder("mkfifo", records.toString()).start().waitFor()).isZero();
    assertThatThrownBy(() -> LocalBackend.open(dir, StoreOptions.existing())).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining(records + " is a FIFO, socket or device")
        .hasMessageContaining("put the store's records directory back");
    Files.delete(records);
    Files.createDirectory(records);

    Path refs = dir.resolve("refs");
    Files.delete(refs);
    Files.createSymbolicLink(refs, tmp.resolve("gone"));
    assertThatThrownBy(() -> LocalBackend.open(dir, StoreOptions.existing())).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining(refs + " is a symbolic link to nothing");
    assertThat(tmp.resolve("gone")).doesNotExist();
  }
}
