package io.ferry.store.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A record write refused while it makes its directories leaves none of them. A file system out of inodes refuses the
 * second or third directory of a lease's path ({@code records/leases/push/<id>}) after the first was made; the failed
 * write removed only the directory it was writing into, and since that one had not been made, it stopped there and left
 * {@code records/leases/} (or {@code records/leases/push/}) behind. The test needs no mount: the store lies so deep
 * that {@code records/leases} is a path the kernel takes and {@code records/leases/push} one it refuses as too long,
 * the way a full file system refuses it.
 */
class FailedRecordWriteTest {
  /** Linux's PATH_MAX, the terminating NUL included. */
  private static final int PATH_MAX = 4096;

  @TempDir Path tmp;

  @Test
  void aRecordWhoseDirectoriesAreRefusedHalfWayLeavesNoneOfThem() throws IOException {
    Path made = tmp.resolve("store");
    LocalBackend.open(made, StoreOptions.createIfMissing()).close();
    // the deepest store root whose marker's path still fits in PATH_MAX - 1 bytes: records/leases fits then, and
    // records/leases/push does not
    int rootLength = PATH_MAX - 1 - "/ferry-store.json".length();
    assertThat(rootLength + "/records/leases".length()).isLessThan(PATH_MAX);
    assertThat(rootLength + "/records/leases/push".length()).isGreaterThanOrEqualTo(PATH_MAX);
    Path deep = moveToRootOfLength(made, tmp, rootLength);

    try (LocalBackend store = LocalBackend.open(deep, StoreOptions.existing())) {
      byte[] lease = "{\"owner\":\"test\"}".getBytes(StandardCharsets.UTF_8);
      assertThat(catchThrowable(() -> store.records().create("leases/push/0001/lease", lease)))
          .isInstanceOf(IOException.class).hasMessageContaining("leases/push");
      assertThat(catchThrowable(() -> store.records().replace("leases/gc/0002/lease", lease)))
          .isInstanceOf(IOException.class).hasMessageContaining("leases/gc");
      try (Stream<Path> left = Files.list(deep.resolve("records"))) {
        assertThat(left).as("directories the failed writes made").isEmpty();
      }
    } finally {
      Files.move(deep, made); // paths in the store are too long for the removal of the test's directory
    }
  }

  /**
   * Moves the store at {@code made} to a new root under {@code tmp} whose path is exactly {@code rootLength}
   * characters long (directories of at most 200 characters each), and returns that root.
   */
  static Path moveToRootOfLength(Path made, Path tmp, int rootLength) throws IOException {
    Path deep = tmp;
    while (deep.toString().length() < rootLength - 1) {
      int room = rootLength - deep.toString().length() - 1;
      deep = deep.resolve("d".repeat(Math.min(200, room)));
    }
    assertThat(deep.toString()).hasSize(rootLength);
    Files.createDirectories(deep.getParent());
    Files.move(made, deep);
    return deep;
  }
}
