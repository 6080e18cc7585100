package io.ferry.store.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.ferry.id.ChunkId;
import io.ferry.store.StoreOptions;
import io.ferry.store.TinyTmpfs;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A store whose {@code objects/} is a link to another file system (the bulk moved to a bigger disk; mounting one
 * needs root, so the test is skipped elsewhere, except with {@code CI=true}, where it fails instead): a put writes
 * its object in {@code tmp/} and links it into {@code objects/}, which only one file system can do (the same for
 * {@code records/}). Every push failed with the kernel's bare "Invalid cross-device link" between two paths; the
 * error now says what is wrong and what to do, and the store is unchanged.
 */
@Timeout(60)
class SplitStoreTest {
  @TempDir Path tmp;

  private TinyTmpfs tmpfs;

  @BeforeEach
  void otherFileSystem() throws IOException, InterruptedException {
    tmpfs = TinyTmpfs.mount(tmp.resolve("other"), "4m");
  }

  @AfterEach
  void unmount() throws IOException, InterruptedException {
    if (tmpfs != null) {
      tmpfs.close();
    }
  }

  @Test
  void aPutIntoObjectsOnAnotherFileSystemThanTmpSaysSo() throws Exception {
    Path dir = tmp.resolve("store");
    LocalBackend.open(dir, StoreOptions.createIfMissing()).close();
    Path objects = Files.createDirectory(tmpfs.path().resolve("objects"));
    Files.delete(dir.resolve("objects"));
    Files.createSymbolicLink(dir.resolve("objects"), objects);
    byte[] content = "weights".getBytes(StandardCharsets.UTF_8);
    ChunkId id = ChunkId.of(content);
    try (LocalBackend store = LocalBackend.open(dir, StoreOptions.existing())) {
      Throwable put = catchThrowable(() -> store.chunks().put(id, ByteBuffer.wrap(content)));
      assertThat(put).isInstanceOf(IOException.class)
          .hasMessageContaining(dir.resolve("objects") + " (" + objects + ")")
          .hasMessageContaining(dir.resolve("tmp").toString())
          .hasMessageContaining("different file systems")
          .hasMessageContaining("keep tmp on the file system of objects");
      assertThat(store.chunks().contains(id)).isFalse();
    }
    try (var left = Files.walk(objects)) {
      assertThat(left).containsExactly(objects);
    }
    try (var left = Files.list(dir.resolve("tmp"))) {
      assertThat(left).isEmpty();
    }
  }

  /** The same for records (a push's lease): created by a link, replaced by a rename. */
  @Test
  void aRecordWrittenIntoRecordsOnAnotherFileSystemThanTmpSaysSo() throws Exception {
    Path dir = tmp.resolve("store");
    LocalBackend.open(dir, StoreOptions.createIfMissing()).close();
    Path records = Files.createDirectory(tmpfs.path().resolve("records"));
    Files.delete(dir.resolve("records"));
    Files.createSymbolicLink(dir.resolve("records"), records);
    byte[] lease = "{}".getBytes(StandardCharsets.UTF_8);
    try (LocalBackend store = LocalBackend.open(dir, StoreOptions.existing())) {
      for (Throwable t : new Throwable[] {
          catchThrowable(() -> store.records().create("leases/push/1/lease", lease)),
          catchThrowable(() -> store.records().replace("leases/push/2/lease", lease))}) {
        assertThat(t).isInstanceOf(IOException.class)
            .hasMessageContaining(dir.resolve("records") + " (" + records + ")")
            .hasMessageContaining("different file systems")
            .hasMessageContaining("keep tmp on the file system of records");
      }
    }
    try (var left = Files.walk(records)) {
      assertThat(left).containsExactly(records);
    }
  }
}
