package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A push reports its files as a pull does: how many, and each one once all its chunks are stored and it is hashed. */
class PushProgressTest {
  @TempDir Path tmp;

  @Test
  void pushCountsFilesDoneOfTheTotal() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    byte[] big = new byte[40 << 20]; // several chunks
    new Random(7).nextBytes(big);
    Files.write(src.resolve("big.bin"), big);
    Files.writeString(src.resolve("config.json"), "{\"hidden_size\": 8}");
    Files.write(src.resolve("empty.bin"), new byte[0]);
    Files.createDirectories(src.resolve("sub"));
    Files.writeString(src.resolve("sub/small.txt"), "a small file");
    Recorder events = new Recorder();
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, "m", PushOptions.builder().listener(events).build());
    }
    List<String> push = events.of("push");
    assertThat(push).as("events of the push phase").first().isEqualTo("files 4");
    assertThat(push).filteredOn("done"::equals).hasSize(4);
    assertThat(push.get(push.size() - 1)).as("the last file is done when the bytes are").isEqualTo("done");
    assertThat(events.bytes).isEqualTo(big.length + 18 + 12);
  }

  /** Events as text, by phase. */
  private static final class Recorder implements TransferListener {
    final List<String[]> events = new ArrayList<>();
    String phase = "";
    long bytes;

    @Override
    public synchronized void phase(String name, long totalBytes) {
      phase = name;
    }

    @Override
    public synchronized void files(int count) {
      events.add(new String[] {phase, "files " + count});
    }

    @Override
    public synchronized void fileDone() {
      events.add(new String[] {phase, "done"});
    }

    @Override
    public synchronized void progress(long bytes) {
      if (phase.equals("push")) {
        this.bytes += bytes;
      }
    }

    synchronized List<String> of(String name) {
      return events.stream().filter(e -> e[0].equals(name)).map(e -> e[1]).toList();
    }
  }
}
