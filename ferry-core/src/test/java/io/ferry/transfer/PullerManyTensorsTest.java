package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.io.UncheckedIOException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model of 70,000 small tensors (more than the default limit of mappings per process; 80,000 took just over 20 s
 * here) pulls without a memory map per chunk (issue 9, item 5): the process's mappings ({@code /proc/self/maps},
 * limited by {@code vm.max_map_count}, 65,530 by default) do not grow with the number of chunks while the pull runs.
 * Each tensor is distinct and compressible, so every chunk is a zstd frame in a pack.
 */
@Timeout(300)
class PullerManyTensorsTest {
  static final int TENSORS = 70_000;
  static final int TENSOR_BYTES = 512;

  @TempDir Path tmp;

  @Test
  void seventyThousandTensorsPullWithoutAMappingPerChunk() throws Exception {
    Path src = tmp.resolve("src");
    Files.createDirectories(src);
    Path model = src.resolve("model.safetensors");
    writeModel(model);
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, "many", PushOptions.builder().message("70,000 tensors").build());
      Path maps = Path.of("/proc/self/maps");
      org.junit.jupiter.api.Assumptions.assumeTrue(Files.isReadable(maps), "no /proc/self/maps on this system");
      int before = lines(maps);
      AtomicInteger peak = new AtomicInteger(before);
      ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor();
      sampler.scheduleAtFixedRate(() -> {
        try {
          peak.accumulateAndGet(lines(maps), Math::max);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }, 0, 5, TimeUnit.MILLISECONDS);
      Path dest = tmp.resolve("dest");
      try {
        repo.pull("many", dest, PullOptions.defaults());
      } finally {
        sampler.shutdownNow();
        sampler.awaitTermination(10, TimeUnit.SECONDS);
      }
      assertThat(peak.get() - before).as("mappings added while pulling %d chunks (before: %d)", TENSORS, before)
          .isLessThan(2_000);
      assertThat(Files.mismatch(model, dest.resolve("model.safetensors"))).isEqualTo(-1L);
    }
  }

  private static int lines(Path p) throws IOException {
    byte[] b = Files.readAllBytes(p);
    int n = 0;
    for (byte x : b) {
      if (x == '\n') {
        n++;
      }
    }
    return n;
  }

  /** TENSORS U8 tensors of TENSOR_BYTES bytes each: the tensor's number, then zeros (distinct and compressible). */
  static void writeModel(Path file) throws IOException {
    StringBuilder h = new StringBuilder("{");
    for (int i = 0; i < TENSORS; i++) {
      if (i > 0) {
        h.append(',');
      }
      long at = (long) i * TENSOR_BYTES;
      h.append(String.format("\"t%05d\":{\"dtype\":\"U8\",\"shape\":[%d],\"data_offsets\":[%d,%d]}", i, TENSOR_BYTES,
          at, at + TENSOR_BYTES));
    }
    h.append('}');
    byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
    try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(file), 1 << 20)) {
      out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
      out.write(header);
      byte[] t = new byte[TENSOR_BYTES];
      for (int i = 0; i < TENSORS; i++) {
        Arrays.fill(t, (byte) 0);
        ByteBuffer.wrap(t).putInt(i).putInt(~i);
        out.write(t);
      }
    }
  }
}
