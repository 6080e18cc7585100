package io.ferry.testkit.crash;

import static io.ferry.testkit.crash.CrashSupport.assertPullsIdentical;
import static io.ferry.testkit.crash.CrashSupport.assertVerifies;
import static io.ferry.testkit.crash.CrashSupport.hashFiles;
import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.transfer.TransferListener;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Invariant 8 after a crash: a push killed hours ago left its chunks behind; the user pushes the same files again
 * (invariant 7: the push skips the chunks the store has), and a gc with a one-hour grace runs after the push found
 * those chunks and before it moves the ref. gc must not delete them: the new version would be missing chunks.
 */
class GcDuringResumedPushTest {
  @TempDir Path scratch;

  @Test
  void gcDoesNotDeleteChunksAResumedPushReuses() throws Exception {
    Path store = scratch.resolve("store");
    Path model = scratch.resolve("model");
    ModelGenerator.writeHfModel(model, ModelGenerator.transformer(8L << 20, DType.BF16, 3), 4L << 20);
    try (Repository repo = open(store)) {
      // what a killed push leaves: its objects, referenced by no ref, last written two hours ago
      ChunkId killed = repo.push(model, "crash/killed", PushOptions.builder().message("killed").build()).versionId();
      CasResult r = repo.backend().refs().compareAndSet(RefNames.head("crash/killed"), killed, null,
          new RefLogEntry(killed, null, "test", Instant.now().minus(Duration.ofHours(2)), "drop"));
      assertThat(r).isEqualTo(CasResult.DELETED);
      ageObjects(store, Duration.ofHours(2));

      long total;
      try (Stream<Path> s = Files.walk(model)) {
        total = s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
      }
      AtomicLong done = new AtomicLong();
      AtomicBoolean gcRan = new AtomicBoolean();
      TransferListener gcWhenAllChunksAreKnown = new TransferListener() {
        @Override
        public void progress(long bytes) {
          if (done.addAndGet(bytes) == total && gcRan.compareAndSet(false, true)) {
            try {
              repo.gc(Duration.ofHours(1), false);
            } catch (IOException e) {
              throw new UncheckedIOException(e);
            }
          }
        }
      };
      ChunkId resumed = repo.push(model, "crash/resumed", PushOptions.builder().message("resumed")
          .listener(gcWhenAllChunksAreKnown).build()).versionId();
      assertThat(gcRan).as("gc ran during the push").isTrue();
      assertVerifies(repo, "after gc ran during a resumed push");
      assertPullsIdentical(repo, "crash/resumed@" + resumed.hex(), hashFiles(model), scratch);
    }
  }

  private static void ageObjects(Path store, Duration age) throws IOException {
    FileTime then = FileTime.from(Instant.now().minus(age));
    List<Path> files;
    try (Stream<Path> s = Files.walk(store.resolve("objects"))) {
      files = s.filter(Files::isRegularFile).toList();
    }
    for (Path f : files) {
      Files.setLastModifiedTime(f, then);
    }
  }

  private static Repository open(Path store) throws IOException {
    return Ferry.open(store.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
  }
}
