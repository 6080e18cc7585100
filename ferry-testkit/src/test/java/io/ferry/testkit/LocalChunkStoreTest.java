package io.ferry.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.CorruptObjectException;
import io.ferry.id.ChunkId;
import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Runs the {@link ChunkStoreContract} against the local backend. */
class LocalChunkStoreTest extends ChunkStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return LocalBackend.open(scratch.resolve("store"), StoreOptions.createIfMissing());
  }

  /**
   * An object that is not a regular file (a fifo or a directory put in its place) is a corrupt object, named with its
   * path and what it is; opening a fifo used to make every read of it (cat, pull, verify) wait forever, and its size
   * was read as the object's.
   */
  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void anObjectThatIsNotAFileIsCorrupt() throws Exception {
    for (String kind : List.of("fifo", "directory")) {
      byte[] c = content(100);
      ChunkId id = ChunkId.of(ByteBuffer.wrap(kind.getBytes(StandardCharsets.UTF_8)));
      Path file = scratch.resolve("store/objects").resolve(id.hex().substring(0, 2)).resolve(id.hex().substring(2));
      Files.createDirectories(file.getParent());
      if (kind.equals("fifo")) {
        Process mkfifo = new ProcessBuilder("mkfifo", file.toString()).start();
        Assumptions.assumeTrue(mkfifo.waitFor() == 0, "mkfifo is needed for this test");
      } else {
        Files.createDirectory(file);
      }
      assertThatThrownBy(() -> store.read(id, 0, 10)).as(kind).isInstanceOf(CorruptObjectException.class)
          .hasMessageContaining(file.toString()).hasMessageContaining("not a regular file");
      assertThatThrownBy(() -> store.readInto(id, 0, ByteBuffer.allocate(c.length))).as(kind)
          .isInstanceOf(CorruptObjectException.class);
      // its size is not the object's (a fifo's is 0: a pack put there read as "a pack of 0 bytes")
      assertThatThrownBy(() -> store.size(id)).as(kind).isInstanceOf(CorruptObjectException.class)
          .hasMessageContaining(file.toString()).hasMessageContaining("not a regular file (" + (kind.equals("fifo")
              ? "a fifo, socket or device)" : "a directory)"));
    }
  }

  @Test
  void objectsAreStampedWithTheStoreClockAndASecondPutLeavesThemAlone() throws Exception {
    Instant then = Instant.parse("2031-05-06T07:08:09Z");
    try (Backend b = LocalBackend.open(scratch.resolve("clocked"), StoreOptions.createIfMissing()
        .withClock(java.time.Clock.fixed(then, java.time.ZoneOffset.UTC)))) {
      byte[] c = content(1000);
      ChunkId id = ChunkId.of(ByteBuffer.wrap(c));
      assertThat(b.chunks().put(id, ByteBuffer.wrap(c))).isTrue();
      java.util.List<io.ferry.store.StoredObject> listed = new java.util.ArrayList<>();
      b.chunks().list(listed::add);
      assertThat(listed).singleElement().satisfies(o -> assertThat(o.modified()).isEqualTo(then));
      Path file = scratch.resolve("clocked").resolve("objects").resolve(id.hex().substring(0, 2))
          .resolve(id.hex().substring(2));
      Instant old = then.minus(Duration.ofHours(2));
      Files.setLastModifiedTime(file, FileTime.from(old));
      assertThat(b.chunks().put(id, ByteBuffer.wrap(c))).isFalse();
      assertThat(Files.getLastModifiedTime(file).toInstant()).isEqualTo(old);
    }
  }

  @Test
  void removeAbandonedDeletesOnlyTempFilesOlderThanTheCutoff() throws Exception {
    Path tmp = scratch.resolve("store").resolve("tmp");
    Path killed = Files.writeString(tmp.resolve("0123456789abcdef-1.tmp"), "a killed put's");
    Files.setLastModifiedTime(killed, FileTime.from(Instant.now().minus(Duration.ofHours(2))));
    Path killedRecord = Files.writeString(tmp.resolve("record-4242-7-18c2f3a.tmp"), "a killed record write's");
    Files.setLastModifiedTime(killedRecord, FileTime.from(Instant.now().minus(Duration.ofHours(2))));
    Path running = Files.writeString(tmp.resolve("0123456789abcdef-2.tmp"), "a running put's");
    Path other = Files.writeString(tmp.resolve("notes.tmp"), "not Ferry's");
    Files.setLastModifiedTime(other, FileTime.from(Instant.now().minus(Duration.ofHours(2))));
    assertThat(store.removeAbandoned(Instant.now().minus(Duration.ofHours(1)))).isEqualTo(2);
    assertThat(killed).doesNotExist();
    assertThat(killedRecord).doesNotExist();
    assertThat(running).exists();
    assertThat(other).exists();
  }

  /**
   * Deleting the last object of a fan-out directory removes the directory, so that a failed push (which deletes the
   * objects it created) or a gc leaves no empty directories behind; the objects directory itself stays.
   */
  @Test
  void deletingTheLastObjectOfItsDirectoryRemovesTheDirectory() throws Exception {
    ChunkId a = ChunkId.parse("ab" + "0".repeat(61) + "1");
    ChunkId b = ChunkId.parse("ab" + "0".repeat(61) + "2");
    Path fanOut = scratch.resolve("store/objects/ab");
    assertThat(store.put(a, ByteBuffer.wrap(content(10)))).isTrue();
    byte[] bBytes = content(20);
    assertThat(store.put(b, ByteBuffer.wrap(bBytes))).isTrue();
    store.delete(a);
    assertThat(fanOut).as("still holds b").isDirectory();
    store.delete(b);
    assertThat(fanOut).doesNotExist();
    assertThat(scratch.resolve("store/objects")).isDirectory();
    store.delete(b); // absent: nothing to do
    assertThat(store.put(b, ByteBuffer.wrap(bBytes))).isTrue();
    assertThat(store.read(b, 0, 20)).isEqualTo(ByteBuffer.wrap(bBytes));
  }

  /** A file where an object's fan-out directory belongs fails the put, naming the path, and stays as it was. */
  @Test
  void aFileWhereAFanOutDirectoryBelongsFailsThePut() throws Exception {
    ChunkId id = ChunkId.parse("ce" + "0".repeat(62));
    Path fanOut = scratch.resolve("store/objects/ce");
    java.nio.file.Files.writeString(fanOut, "not a directory");
    assertThatThrownBy(() -> store.put(id, ByteBuffer.wrap(content(16))))
        .isInstanceOf(java.io.IOException.class).hasMessageContaining(fanOut.toString());
    assertThat(java.nio.file.Files.readString(fanOut)).isEqualTo("not a directory");
  }

  /**
   * Puts into a fan-out directory that deletes keep emptying and removing (a gc or a failed push beside a push) all
   * succeed: a put whose directory vanished between making it and linking the object makes it again.
   */
  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void putsSucceedWhileDeletesRemoveTheirDirectory() throws Exception {
    int rounds = 1500;
    ChunkId churn = ChunkId.parse("cd" + "f".repeat(62));
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
    try {
      java.util.concurrent.Future<?> deleter = pool.submit(() -> {
        for (int i = 0; i < rounds; i++) {
          store.put(churn, ByteBuffer.wrap(content(8)));
          store.delete(churn);
        }
        return null;
      });
      java.util.concurrent.Future<List<ChunkId>> putter = pool.submit(() -> {
        List<ChunkId> ids = new java.util.ArrayList<>();
        for (int i = 0; i < rounds; i++) {
          ChunkId id = ChunkId.parse("cd" + String.format("%062x", i));
          assertThat(store.put(id, ByteBuffer.wrap(content(16)))).as("put %d", i).isTrue();
          ids.add(id);
          store.delete(id);
        }
        return ids;
      });
      deleter.get();
      assertThat(putter.get()).hasSize(rounds);
    } finally {
      pool.shutdownNow();
    }
    assertThat(scratch.resolve("store/objects/cd")).doesNotExist();
  }

  @Override
  protected boolean listsIdsByPrefix() {
    return true;
  }
}
