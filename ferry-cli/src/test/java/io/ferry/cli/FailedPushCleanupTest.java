package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.ForwardingChunkStore;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A push that fails while other workers are still writing chunks must remove everything it wrote, including chunks
 * whose puts were still running when the failure was seen.
 */
class FailedPushCleanupTest {
  @TempDir Path tmp;

  /** Puts after the third are slow (a store under load); the third put fails. */
  static final class SlowFailingStore extends ForwardingChunkStore {
    final AtomicInteger puts = new AtomicInteger();
    final AtomicInteger running = new AtomicInteger();

    SlowFailingStore(ChunkStore d) {
      super(d);
    }

    @Override
    public boolean put(ChunkId id, ByteBuffer... parts) throws IOException {
      int n = puts.incrementAndGet();
      if (n == 3) {
        throw new IOException("No space left on device");
      }
      running.incrementAndGet();
      try {
        if (n > 3) {
          // the injected latency of a slow store, not a wait for something to happen
          Thread.sleep(300);
        }
        return inner.put(id, parts);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new java.io.InterruptedIOException();
      } finally {
        running.decrementAndGet();
      }
    }
  }

  @Test
  void runningPutsAreRolledBackToo() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<Tensor> ts = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      ts.add(new Tensor("w" + i, DType.BF16, new long[] {256, 1024}, i)); // 512 KiB: a loose object each
    }
    Path src = tmp.resolve("src.safetensors");
    ModelGenerator.writeSafetensors(src, ts, Map.of());
    Map<String, String> before = cli.state();
    Backend local = Ferry.openBackend(cli.store.toString(), StoreOptions.existing());
    SlowFailingStore chunks = new SlowFailingStore(local.chunks());
    Backend b = io.ferry.store.StoreLayers.layered(local, chunks);
    try (Repository repo = Repository.open(b, RepositoryOptions.defaults().withParallelism(8))) {
      assertThatThrownBy(() -> repo.push(src, "m", PushOptions.builder().codec(io.ferry.codec.CodecPolicy.parse(
          "none")).build())).hasMessageContaining("No space left");
      // the push returns only after its last put ended: a put still running now could leave an object behind
      assertThat(chunks.running.get()).as("puts still running when the failed push returned").isZero();
      assertThat(cli.state()).as("store after a failed push").isEqualTo(before);
    }
  }
}
