package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.ferry.Ferry;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A push keeps a source file open only while a task reads it: a model of thousands of files does not hold thousands
 * of file descriptors (with {@code ulimit -n 1024} a push of 2,000 files failed with "Too many open files").
 * Measured on {@code /proc/self/fd}, sampled at every progress report of the push.
 */
class ManyFilesPushTest {
  private static final int FILES = 3000;

  @TempDir Path tmp;

  @Test
  void openFilesStayBoundedWhateverTheNumberOfFiles() throws IOException {
    assumeTrue(OpenFiles.countable(), "no /proc/self/fd to count open files on");
    Path src = tmp.resolve("src");
    for (int i = 0; i < FILES; i++) {
      Path f = src.resolve("d" + i / 100).resolve("f" + i + ".txt");
      Files.createDirectories(f.getParent());
      Files.writeString(f, "file " + i);
    }
    long before = OpenFiles.count();
    AtomicLong most = new AtomicLong();
    TransferListener sampler = OpenFiles.sampler(most);
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults().withParallelism(4))) {
      repo.push(src, "many", PushOptions.builder().listener(sampler).build());
      assertThat(repo.snapshot(repo.resolve("many")).files()).hasSize(FILES);
    }
    assertThat(most.get()).as("sampled").isPositive();
    assertThat(most.get() - before).as("file descriptors opened beyond those before the push").isLessThan(200);
  }
}
