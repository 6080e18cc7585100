package io.ferry.store.local;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import io.ferry.store.StoreOptions;
import io.ferry.store.TinyTmpfs;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A store its user may only read (a read-only mount here, like a store shared with read permission only; mounting
 * needs root, so the test is skipped elsewhere, except with {@code CI=true}, where it fails instead) opens for
 * reading. Opening removes the temporary files of killed writes older than a day, and a failure to remove one made
 * every command, {@code ls} included, fail naming that file: one push killed in a shared store locked its readers
 * out a day later, until a writer opened it.
 */
@Timeout(60)
class ReadOnlyStoreTest {
  @TempDir Path tmp;

  private TinyTmpfs tmpfs;

  @BeforeEach
  void tinyFileSystem() throws IOException, InterruptedException {
    tmpfs = TinyTmpfs.mount(tmp.resolve("tiny"), "4m");
  }

  @AfterEach
  void unmount() throws IOException, InterruptedException {
    if (tmpfs != null) {
      tmpfs.close();
    }
  }

  @Test
  void aStoreWithAKilledWritesLeftoversOpensReadOnly() throws Exception {
    Path dir = tmpfs.path().resolve("store");
    byte[] content = "weights".getBytes(StandardCharsets.UTF_8);
    ChunkId id = ChunkId.of(content);
    try (LocalBackend store = LocalBackend.open(dir, StoreOptions.createIfMissing())) {
      assertThat(store.chunks().put(id, ByteBuffer.wrap(content))).isTrue();
    }
    FileTime old = FileTime.from(Instant.now().minus(Duration.ofHours(LocalBackend.STALE_TEMP_HOURS + 1)));
    Path killedPut = Files.writeString(dir.resolve("tmp/0123456789abcdef-1.tmp"), "half an object");
    Files.setLastModifiedTime(killedPut, old);
    Path killedLease = Files.createDirectories(dir.resolve("records/leases/push/killed"));
    Files.setLastModifiedTime(killedLease, old);
    remount("ro");
    try (LocalBackend store = LocalBackend.open(dir, StoreOptions.existing())) {
      assertThat(store.chunks().contains(id)).isTrue();
      assertThat(store.chunks().read(id, 0, content.length)).isEqualTo(ByteBuffer.wrap(content));
      assertThat(store.refs().get("m/head")).isEmpty();
    } finally {
      remount("rw");
    }
    assertThat(killedPut).as("left for a writer to remove").exists();
    try (LocalBackend store = LocalBackend.open(dir, StoreOptions.existing())) {
      assertThat(killedPut).doesNotExist();
      assertThat(killedLease).doesNotExist();
    }
  }

  private void remount(String mode) throws IOException, InterruptedException {
    Process p = new ProcessBuilder("mount", "-o", "remount," + mode, tmpfs.path().toString())
        .redirectErrorStream(true).start();
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("%s", new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8))
        .isZero();
  }
}
