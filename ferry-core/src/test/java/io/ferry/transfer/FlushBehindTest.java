package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.codec.Codecs;
import io.ferry.objects.ObjectDatabase;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A pull's files are flushed to disk behind its writes, without changing what the pull writes or waiting for it. */
@Timeout(60)
class FlushBehindTest {
  private static final long MIB = 1 << 20;

  @TempDir Path tmp;

  @Test
  void aStepOfWrittenBytesFlushesOnceAndNothingAfterClose() throws Exception {
    Path file = Files.write(tmp.resolve("f"), new byte[(int) (4 * MIB)]);
    FlushBehind flush = new FlushBehind(MIB);
    assertThat(flush.track(tmp.resolve("small"), MIB - 1)).as("a file under one step").isNull();
    FlushBehind.File f = flush.track(file, 4 * MIB);
    assertThat(f).isNotNull();
    f.wrote(MIB / 2);
    assertThat(flush.flushes()).as("half a step").isZero();
    f.wrote(MIB / 2);
    long deadline = System.nanoTime() + 30_000_000_000L;
    while (flush.flushes() == 0 && System.nanoTime() < deadline) {
      Thread.onSpinWait();
    }
    assertThat(flush.flushes()).isEqualTo(1);
    flush.close();
    flush.close(); // twice is once
    assertThat(flush.awaitStopped(30_000)).isTrue();
    f.wrote(3 * MIB); // after close: refused quietly, nothing flushed
    assertThat(flush.flushes()).isEqualTo(1);
  }

  @Test
  void stepZeroIsOff() throws IOException {
    FlushBehind off = new FlushBehind(0);
    Path file = Files.write(tmp.resolve("f"), new byte[16]);
    assertThat(off.track(file, Long.MAX_VALUE)).isNull();
    off.close();
  }

  @Test
  void aLinkIsNotFollowed() throws IOException {
    Path target = Files.write(tmp.resolve("target"), new byte[16]);
    Path link = Files.createSymbolicLink(tmp.resolve("link"), target);
    FlushBehind flush = new FlushBehind(1);
    assertThat(flush.track(link, 16)).isNull();
    flush.close();
  }

  @Test
  void aPullFlushedBehindEveryMibIsByteIdentical() throws Exception {
    Path src = tmp.resolve("src");
    Files.createDirectories(src);
    Random r = new Random(7);
    byte[] big = new byte[(int) (9 * MIB + 123)];
    r.nextBytes(big);
    Files.write(src.resolve("big.bin"), big);
    Files.writeString(src.resolve("small.txt"), "small");
    Path storeDir = tmp.resolve("store");
    ExecutorService pool = Executors.newFixedThreadPool(3);
    try (Repository repo = Ferry.open(storeDir.toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults());
        LocalBackend backend = LocalBackend.open(storeDir, StoreOptions.existing())) {
      repo.push(src, "m", PushOptions.builder().message("m").build());
      VersionRef version = repo.resolve("m");
      Snapshot snapshot = repo.snapshot(version);
      ObjectDatabase db = new ObjectDatabase(backend.chunks(), Codecs.standard());
      Puller puller = new Puller(db, pool, TransferListener.NONE, Puller.ATOMIC_RENAME, MIB);
      Path dest = tmp.resolve("dest");
      puller.pull(snapshot, db.locator(version.version().packs()), dest, PullOptions.defaults());
      assertThat(Files.readAllBytes(dest.resolve("big.bin"))).isEqualTo(big);
      assertThat(Files.readString(dest.resolve("small.txt"))).isEqualTo("small");
      try (var names = Files.list(dest)) {
        assertThat(names.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("big.bin", "small.txt");
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
