package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.PushResult;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model of 80,000 tiny tensors: one chunk each, more than {@code vm.max_map_count} (65,530) allows maps. When push
 * mapped every chunk (and the maps went only with a garbage collection) this could kill the JVM: whether it did
 * depended on when collections ran, so the test also counts the process's memory mappings while the push runs
 * (Linux), which a push that reads into reused buffers leaves flat.
 */
class ManyTensorsPushTest {
  private static final int TENSORS = 80_000;

  @TempDir Path tmp;

  @Test
  void eightyThousandTensorsPushAndPullBack() throws IOException {
    Path model = tmp.resolve("src").resolve("model.safetensors");
    Files.createDirectories(model.getParent());
    byte[] written = writeTinyTensors(model);
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      MappingCounter maps = new MappingCounter();
      PushResult r = repo.push(model.getParent(), "many",
          PushOptions.builder().message("80,000 tensors").listener(maps).build());
      if (maps.baseline >= 0) {
        assertThat(maps.peak.get() - maps.baseline).as("memory mappings the push added at most (from %d)",
            maps.baseline).isLessThan(2_000);
      }
      assertThat(r.version().stats().tensors()).isEqualTo(TENSORS);
      Path dest = tmp.resolve("dest");
      repo.pull("many", dest, PullOptions.defaults());
      assertThat(Arrays.equals(Files.readAllBytes(dest.resolve("model.safetensors")), written)).isTrue();
    }
  }

  /** Samples the number of the process's memory mappings every 1,000 chunks; -1 where /proc is missing. */
  private static final class MappingCounter implements TransferListener {
    private static final Path MAPS = Path.of("/proc/self/maps");
    final long baseline = count();
    final AtomicLong peak = new AtomicLong(baseline);
    private final AtomicLong chunks = new AtomicLong();

    @Override
    public void progress(long bytes) {
      if (baseline >= 0 && chunks.incrementAndGet() % 1000 == 0) {
        long n = count();
        peak.accumulateAndGet(n, Math::max);
      }
    }

    private static long count() {
      if (!Files.isReadable(MAPS)) {
        return -1;
      }
      try (Stream<String> lines = Files.lines(MAPS)) {
        return lines.count();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  /** A safetensors file of {@value #TENSORS} F32 scalars, each its own value (so each its own chunk). */
  private static byte[] writeTinyTensors(Path file) throws IOException {
    StringBuilder h = new StringBuilder("{");
    for (int i = 0; i < TENSORS; i++) {
      if (i > 0) {
        h.append(',');
      }
      h.append("\"t.").append(i).append("\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[").append(4L * i)
          .append(',').append(4L * i + 4).append("]}");
    }
    byte[] header = h.append('}').toString().getBytes(StandardCharsets.UTF_8);
    ByteBuffer all = ByteBuffer.allocate(8 + header.length + 4 * TENSORS).order(ByteOrder.LITTLE_ENDIAN);
    all.putLong(header.length).put(header);
    for (int i = 0; i < TENSORS; i++) {
      all.putFloat(i);
    }
    try (OutputStream out = Files.newOutputStream(file)) {
      out.write(all.array());
    }
    return all.array();
  }
}
