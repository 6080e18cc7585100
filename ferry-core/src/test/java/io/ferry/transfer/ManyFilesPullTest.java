package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.ferry.Ferry;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pull keeps a file it writes open only while a task writes it: a model of thousands of files does not hold
 * thousands of file descriptors (with {@code ulimit -n 1024} a pull of 2,000 files failed with "Too many open files",
 * naming a temporary file). Each reopening is checked to be the file the pull created.
 */
@Timeout(120)
class ManyFilesPullTest {
  private static final int FILES = 3000;

  @TempDir Path tmp;

  @Test
  void openFilesStayBoundedWhateverTheNumberOfFiles() throws IOException {
    assumeTrue(OpenFiles.countable(), "no /proc/self/fd to count open files on");
    Path src = tmp.resolve("src");
    for (int i = 0; i < FILES; i++) {
      Path f = src.resolve("d" + i / 100).resolve("f" + i + ".txt");
      Files.createDirectories(f.getParent());
      Files.writeString(f, "file " + i + " ".repeat(i % 7));
    }
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults().withParallelism(4))) {
      repo.push(src, "many", PushOptions.builder().build());
      long before = OpenFiles.count();
      AtomicLong most = new AtomicLong();
      TransferListener sampler = OpenFiles.sampler(most);
      Path dest = tmp.resolve("dest");
      repo.pull("many", dest, PullOptions.defaults().withListener(sampler).withFsync(true));
      assertThat(Trees.of(dest)).isEqualTo(Trees.of(src));
      assertThat(most.get()).as("sampled").isPositive();
      assertThat(most.get() - before).as("file descriptors opened beyond those before the pull").isLessThan(200);
    }
  }

  @Test
  void aTemporaryFileSwappedForALinkToAnotherFileIsRefusedNotWritten() throws IOException {
    Path src = tmp.resolve("src");
    Files.createDirectories(src);
    Files.writeString(src.resolve("weights.bin"), "the model's bytes ".repeat(1000));
    // a file of the user's elsewhere, as big as the one pulled, that whoever else writes in DEST links there
    Path victim = Files.writeString(tmp.resolve("victim"), "v".repeat(18 * 1000));
    Path dest = tmp.resolve("dest");
    Files.createDirectories(dest);
    Files.writeString(dest.resolve("notes.txt"), "the user's own file");
    Map<String, String> destBefore = Trees.of(dest);
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, "m", PushOptions.builder().build());
      // once the temporary file is made and before any chunk is written, a hard link to the victim takes its name
      TransferListener swapper = new TransferListener() {
        @Override
        public void phase(String name, long bytes) {
          try (Stream<Path> s = Files.list(dest)) {
            List<Path> temps = s.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList();
            assertThat(temps).hasSize(1);
            Files.delete(temps.get(0));
            Files.createLink(temps.get(0), victim);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }
      };
      assertThatThrownBy(() -> repo.pull("m", dest, PullOptions.defaults().withListener(swapper)
          .withExisting(PullOptions.Existing.MERGE)))
          .isInstanceOf(IOException.class)
          .hasMessageContaining(dest.resolve("weights.bin").toString())
          .hasMessageContaining("was replaced by another file while the pull wrote it");
    }
    assertThat(Files.readString(victim)).as("the victim, not written").isEqualTo("v".repeat(18 * 1000));
    assertThat(Trees.of(dest)).as("DEST as it was (the planted link, at a pull's temporary name, removed)")
        .isEqualTo(destBefore);
  }

}
