package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.chunk.Frame;
import io.ferry.codec.NoneCodec;
import io.ferry.error.CorruptObjectException;
import io.ferry.id.ChunkId;
import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.ForwardingChunkStore;
import io.ferry.store.StoreLayers;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.PullOptions;
import io.ferry.transfer.TransferListener;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bytes from a store that is not trusted (a remote store, a cache in front of one) are checked against their chunk
 * ids whatever the command asked: whoever may write to a shared cache can write a well-formed frame, with the right
 * chunk id and CRC, around other content. A cache that served such bytes forgets them and the read goes to the
 * store; the one thing never done is to hand the other content on.
 */
class UntrustedReadsTest {
  @TempDir Path tmp;

  private Path storeDir;
  private Path src;
  private ChunkId weights;

  @BeforeEach
  void pushAModel() throws IOException {
    storeDir = tmp.resolve("store");
    src = Files.createDirectories(tmp.resolve("src"));
    byte[] big = new byte[600_000];
    new Random(7).nextBytes(big);
    Files.write(src.resolve("weights.bin"), big);
    Files.writeString(src.resolve("config.json"), "{\"a\": 1}");
    try (Repository repo = Ferry.open(storeDir.toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, "m", PushOptions.builder().message("first").build());
      weights = repo.snapshot(repo.resolve("m")).file("weights.bin").orElseThrow().chunks().get(0).id();
    }
  }

  /** A cache in front of the local store that serves a forged frame of one object until asked to drop it. */
  private static final class ForgingCache extends ForwardingChunkStore {
    private final ChunkId target;
    private final byte[] forged;
    private final boolean drops;
    private volatile boolean dropped;
    final AtomicInteger dropCalls = new AtomicInteger();

    ForgingCache(ChunkStore inner, ChunkId target, byte[] content, boolean drops) {
      super(inner);
      this.target = target;
      this.drops = drops;
      byte[] other = content.clone();
      other[other.length / 2] ^= 0x5a;
      ByteBuffer payload = ByteBuffer.wrap(other);
      ByteBuffer header = Frame.header(target, NoneCodec.ID, 0, other.length, payload);
      forged = new byte[header.remaining() + other.length];
      header.get(forged, 0, Frame.HEADER_LENGTH);
      System.arraycopy(other, 0, forged, Frame.HEADER_LENGTH, other.length);
    }

    private boolean serving(ChunkId id) {
      return id.equals(target) && !dropped;
    }

    @Override
    public boolean trusted() {
      return false;
    }

    @Override
    public boolean readRejected(ChunkId object) {
      dropCalls.incrementAndGet();
      if (drops && object.equals(target)) {
        dropped = true;
        return true;
      }
      return false;
    }

    @Override
    public long size(ChunkId id) throws IOException {
      return serving(id) ? forged.length : super.size(id);
    }

    @Override
    public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
      if (serving(id)) {
        return ByteBuffer.wrap(forged, (int) offset, Math.min(length, forged.length - (int) offset)).slice();
      }
      return super.read(id, offset, length);
    }

    @Override
    public void readInto(ChunkId id, long offset, ByteBuffer dst) throws IOException {
      if (serving(id)) {
        dst.put(forged, (int) offset, Math.min(dst.remaining(), forged.length - (int) offset));
        return;
      }
      super.readInto(id, offset, dst);
    }
  }

  private Repository through(Backend local, ForgingCache cache) throws IOException {
    return Repository.open(StoreLayers.layered(local, cache), RepositoryOptions.defaults());
  }

  @Test
  void aForgedFrameFromACacheIsDroppedAndThePullReadsTheStore() throws IOException {
    byte[] content = Files.readAllBytes(src.resolve("weights.bin"));
    try (Backend local = Ferry.openBackend(storeDir.toString(), StoreOptions.existing())) {
      ForgingCache cache = new ForgingCache(local.chunks(), weights, content, true);
      try (Repository repo = through(local, cache)) {
        Path out = tmp.resolve("out");
        repo.pull("m", out, PullOptions.defaults()); // no --verify
        assertThat(Files.readAllBytes(out.resolve("weights.bin"))).isEqualTo(content);
        assertThat(cache.dropCalls).as("the cache was told").hasValue(1);
      }
    }
  }

  @Test
  void aForgedFrameACacheKeepsServingFailsThePullAndWritesNothing() throws IOException {
    byte[] content = Files.readAllBytes(src.resolve("weights.bin"));
    try (Backend local = Ferry.openBackend(storeDir.toString(), StoreOptions.existing())) {
      ForgingCache cache = new ForgingCache(local.chunks(), weights, content, false);
      try (Repository repo = through(local, cache)) {
        Path out = tmp.resolve("out");
        assertThatThrownBy(() -> repo.pull("m", out, PullOptions.defaults()))
            .isInstanceOf(CorruptObjectException.class).hasMessageContaining(weights.hex());
        assertThat(out.resolve("weights.bin")).doesNotExist();
        // a cat-style read of a range, and a copy, check the content too
        ByteBuffer dst = ByteBuffer.allocate(100);
        assertThatThrownBy(() -> repo.objects().reader().readRange(io.ferry.read.Location.loose(weights),
            content.length, 10, 110, io.ferry.read.ChunkReader.Check.FRAME, dst))
            .isInstanceOf(CorruptObjectException.class);
        try (Repository target = Ferry.open(tmp.resolve("target").toString(), StoreOptions.createIfMissing(),
            RepositoryOptions.defaults())) {
          assertThatThrownBy(() -> repo.copyTo("m", target, false, TransferListener.NONE))
              .isInstanceOf(CorruptObjectException.class);
        }
      }
    }
  }

  @Test
  void verifyThroughACacheJudgesTheStoreNotTheCache() throws IOException {
    byte[] content = Files.readAllBytes(src.resolve("weights.bin"));
    try (Backend local = Ferry.openBackend(storeDir.toString(), StoreOptions.existing())) {
      ForgingCache cache = new ForgingCache(local.chunks(), weights, content, true);
      try (Repository repo = through(local, cache)) {
        assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
        assertThat(cache.dropCalls).hasValue(1);
      }
    }
  }

  @Test
  void aLocalStoreIsTrustedAndEveryOtherStoreIsNot() throws IOException {
    try (Backend local = Ferry.openBackend(storeDir.toString(), StoreOptions.existing())) {
      assertThat(local.chunks().trusted()).isTrue();
      assertThat(new ForwardingChunkStore(local.chunks()) { }.trusted()).as("a wrapper forwards it").isTrue();
      assertThat(new ForgingCache(local.chunks(), weights, new byte[1], true).trusted()).isFalse();
    }
  }
}
