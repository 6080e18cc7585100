package io.ferry.store.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.ferry.id.ChunkId;
import io.ferry.store.RefLogEntry;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A ref move refused when the ref's lock file cannot be made leaves no directory it made for it. A file system out of
 * inodes refuses {@code refs/<model>/head.lock} of a push to a new model after {@code refs/<model>/} was made, and the
 * failed push left that empty directory behind. As in {@link FailedRecordWriteTest}, no mount is needed: the store
 * lies so deep that {@code refs/mmmm/head.log} is a path the kernel takes and {@code refs/mmmm/head.lock} one it
 * refuses as too long, the way a full file system refuses it.
 */
class FailedRefLockTest {
  /** Linux's PATH_MAX, the terminating NUL included. */
  private static final int PATH_MAX = 4096;

  @TempDir Path tmp;

  @Test
  void aRefMoveWhoseLockFileIsRefusedLeavesNoDirectoryItMade() throws IOException {
    Path made = tmp.resolve("store");
    LocalBackend.open(made, StoreOptions.createIfMissing()).close();
    Files.createDirectories(made.resolve("refs/kept"));
    // the deepest store root where refs/mmmm/head.log, which the move looks at first, still fits in PATH_MAX - 1
    // bytes: refs/mmmm/head.lock, one byte longer, does not
    int rootLength = PATH_MAX - 1 - "/refs/mmmm/head.log".length();
    assertThat(rootLength + "/refs/mmmm/head.log".length()).isLessThan(PATH_MAX);
    assertThat(rootLength + "/refs/mmmm/head.lock".length()).isGreaterThanOrEqualTo(PATH_MAX);
    Path deep = FailedRecordWriteTest.moveToRootOfLength(made, tmp, rootLength);

    try (LocalBackend store = LocalBackend.open(deep, StoreOptions.existing())) {
      ChunkId id = ChunkId.of("a version".getBytes(StandardCharsets.UTF_8));
      RefLogEntry entry = new RefLogEntry(null, id, "test", Instant.now(), "push");
      assertThat(catchThrowable(() -> store.refs().compareAndSet("mmmm/head", null, id, entry)))
          .isInstanceOf(IOException.class).hasMessageContaining("head.lock");
      // a directory that was there stays, though the move under it failed
      assertThat(catchThrowable(() -> store.refs().compareAndSet("kept/head", null, id, entry)))
          .isInstanceOf(IOException.class);
      try (Stream<Path> left = Files.list(deep.resolve("refs"))) {
        assertThat(left.map(p -> p.getFileName().toString())).as("directories of refs/").containsExactly("kept");
      }
      assertThat(deep.resolve("refs/kept")).isEmptyDirectory();
    } finally {
      Files.move(deep, made); // paths in the store are too long for the removal of the test's directory
    }
  }
}

