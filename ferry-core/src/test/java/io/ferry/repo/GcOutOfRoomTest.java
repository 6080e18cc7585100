package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.ferry.Ferry;
import io.ferry.store.Backend;
import io.ferry.store.RecordStore;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A gc that finds no room for its lease says that it needs only a little, however the file system refuses it. A file
 * system out of inodes refuses the lease's directory, and the JDK reports that as a {@link FileSystemException} whose
 * message starts with the path, which gc did not take for a full disk: it said only
 * {@code .../records/leases/gc: No space left on device}, without how little room it needs.
 */
class GcOutOfRoomTest {
  private static final String NO_SPACE = "No space left on device";

  @TempDir Path tmp;

  @Test
  void aGcWhoseLeaseDirectoryIsRefusedSaysHowLittleRoomItNeeds() throws IOException {
    Path dir = tmp.resolve("store");
    Path model = Files.createDirectories(tmp.resolve("model"));
    Files.writeString(model.resolve("config.json"), "{\"a\": 1}");
    try (Backend local = Ferry.openBackend(dir.toString(), StoreOptions.createIfMissing());
        Repository repo = Repository.open(SwappedBackend.withRecords(local, new NoInodeForGc(local.records(),
            dir.resolve("records"))), RepositoryOptions.defaults())) {
      repo.push(model, "m", PushOptions.builder().build());
      repo.removeModel("m", true);
      Throwable e = catchThrowable(() -> repo.gc(Duration.ZERO, false));
      assertThat(e).isInstanceOf(IOException.class).hasMessageContaining("leases/gc: " + NO_SPACE)
          .hasMessageContaining("free a few KiB");
      assertThat(repo.gc(Duration.ZERO, true).deadObjects()).as("garbage gc left as it was").isPositive();
    }
  }

  /** Records as {@code base} keeps them, except that a gc's lease finds no inode for its directory. */
  private record NoInodeForGc(RecordStore base, Path root) implements RecordStore {
    @Override
    public String describe() {
      return base.describe();
    }

    @Override
    public boolean create(String key, byte[] content) throws IOException {
      refuseGc(key);
      return base.create(key, content);
    }

    @Override
    public void replace(String key, byte[] content) throws IOException {
      refuseGc(key);
      base.replace(key, content);
    }

    private void refuseGc(String key) throws FileSystemException {
      if (key.startsWith("leases/gc/")) {
        throw new FileSystemException(root.resolve("leases/gc").toString(), null, NO_SPACE);
      }
    }

    @Override
    public Optional<byte[]> read(String key) throws IOException {
      return base.read(key);
    }

    @Override
    public List<String> list(String prefix) throws IOException {
      return base.list(prefix);
    }

    @Override
    public void delete(String key) throws IOException {
      base.delete(key);
    }

    @Override
    public void close() {
      // the test closes the backend, and with it the base
    }
  }
}
