package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.repo.Results.PushResult;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The new bytes a push reports are the ones its version records (and {@code show} prints): the chunk frames, packs
 * and snapshot it added, which is what the store grew by apart from the version record itself.
 */
class PushFiguresTest {
  @TempDir Path tmp;

  @Test
  void pushReportsWhatTheVersionRecords() throws IOException {
    Path store = tmp.resolve("store");
    Path src = Files.createDirectories(tmp.resolve("src"));
    byte[] big = new byte[3 << 20];
    new Random(3).nextBytes(big);
    Files.write(src.resolve("weights.bin"), big);
    Files.writeString(src.resolve("config.json"), "{\"layers\": 2}");
    try (Repository repo = Ferry.open(store.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults())) {
      for (int round = 0; round < 2; round++) {
        long before = objectBytes(store);
        PushResult r = repo.push(src, "m", PushOptions.builder().message("round " + round).build());
        long versionSize = repo.backend().chunks().size(r.versionId());
        assertThat(r.newStoredBytes()).as("round %d: push and the version agree", round)
            .isEqualTo(repo.resolve("m").version().stats().newStoredBytes())
            .isEqualTo(objectBytes(store) - before - versionSize);
        assertThat(r.newChunks()).isEqualTo(repo.resolve("m").version().stats().newChunks());
        Files.writeString(src.resolve("config.json"), "{\"layers\": 3}");
      }
    }
  }

  private static long objectBytes(Path store) throws IOException {
    AtomicLong n = new AtomicLong();
    try (Stream<Path> s = Files.walk(store.resolve("objects"))) {
      s.filter(Files::isRegularFile).forEach(p -> n.addAndGet(p.toFile().length()));
    }
    return n.get();
  }
}
