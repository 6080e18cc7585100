package io.ferry.store.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreLayers;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import io.ferry.testkit.ModelGenerator;
import io.ferry.transfer.PullOptions;
import io.ferry.transfer.TransferListener;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

/** A local store holding one pushed model, and pulls of it through a cache with the store's reads counted. */
final class PullFixture {
  final Path storeDir;
  final Path source;
  CountingStore lastStore;
  RedisChunkCache lastCache;

  PullFixture(Path scratch, long seed) throws IOException {
    storeDir = scratch.resolve("store");
    source = scratch.resolve("model");
    Files.createDirectories(source);
    ModelGenerator.writeSafetensors(source.resolve("model.safetensors"),
        ModelGenerator.transformer(16L << 20, DType.F32, seed), Map.of());
    Files.writeString(source.resolve("config.json"), "{\"seed\": " + seed + "}");
    try (Repository repo = Repository.open(LocalBackend.open(storeDir, StoreOptions.createIfMissing()),
        RepositoryOptions.defaults())) {
      repo.push(source, "m:prod", PushOptions.builder().message("test model").build());
    }
  }

  /** Opens the store with a cache over it (the store's reads counted in {@link #lastStore}). */
  Repository open(CacheSettings settings, CacheListener listener) throws IOException {
    LocalBackend local = LocalBackend.open(storeDir, StoreOptions.existing());
    lastStore = new CountingStore(local.chunks());
    lastCache = RedisChunkCache.open(lastStore, settings, listener);
    return Repository.open(StoreLayers.layered(local, lastCache), RepositoryOptions.defaults().withParallelism(4));
  }

  /** Pulls m:prod into dest; {@code midway} runs once, when the first bytes have been written. */
  void pull(Repository repo, Path dest, Runnable midway) throws IOException {
    AtomicBoolean ran = new AtomicBoolean();
    TransferListener l = new TransferListener() {
      @Override
      public void progress(long bytes) {
        if (midway != null && ran.compareAndSet(false, true)) {
          midway.run();
        }
      }
    };
    repo.pull("m:prod", dest, PullOptions.defaults().withListener(l));
    if (midway != null) {
      assertThat(ran).as("the pull reached its midway hook").isTrue();
    }
    assertSameAsSource(dest);
  }

  void assertSameAsSource(Path dest) throws IOException {
    try (Stream<Path> files = Files.list(source)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        assertThat(Files.mismatch(f, dest.resolve(f.getFileName().toString()))).as("%s pulled byte-identical", f)
            .isEqualTo(-1L);
      }
    }
  }
}
