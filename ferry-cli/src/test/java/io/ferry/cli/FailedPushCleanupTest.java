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
import io.ferry.store.StoreOptions;
import io.ferry.store.StoredObject;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A push that fails while other workers are still writing chunks must remove everything it wrote, including chunks
 * whose puts were still running when the failure was seen.
 */
class FailedPushCleanupTest {
  @TempDir Path tmp;

  /** Puts after the third are slow (a store under load); the third put fails. */
  static final class SlowFailingStore implements ChunkStore {
    final ChunkStore d;
    final AtomicInteger puts = new AtomicInteger();
    final AtomicInteger running = new AtomicInteger();

    SlowFailingStore(ChunkStore d) {
      this.d = d;
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
        return d.put(id, parts);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new java.io.InterruptedIOException();
      } finally {
        running.decrementAndGet();
      }
    }

    @Override public String describe() { return d.describe(); }
    @Override public boolean contains(ChunkId id) throws IOException { return d.contains(id); }
    @Override public long size(ChunkId id) throws IOException { return d.size(id); }
    @Override public ByteBuffer read(ChunkId id, long o, int l) throws IOException { return d.read(id, o, l); }
    @Override public void list(Consumer<StoredObject> sink) throws IOException { d.list(sink); }
    @Override public void delete(ChunkId id) throws IOException { d.delete(id); }
    @Override public void close() throws IOException { d.close(); }
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
