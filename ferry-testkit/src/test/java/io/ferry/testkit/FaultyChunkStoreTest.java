package io.ferry.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.id.ChunkId;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Tests of the fault-injecting wrapper over a local store. */
class FaultyChunkStoreTest {
  @RegisterExtension final TestRandom random = new TestRandom();
  @TempDir Path scratch;

  @Test
  void fullDiskFailsThePutAndLeavesNothing() throws IOException {
    try (LocalBackend b = LocalBackend.open(scratch.resolve("s"), StoreOptions.createIfMissing());
        FaultyChunkStore store = new FaultyChunkStore(b.chunks()).failAfterBytes(1000)) {
      byte[] first = random.bytes(600);
      byte[] second = random.bytes(600);
      ChunkId a = ChunkId.of(first);
      ChunkId c = ChunkId.of(second);
      assertThat(store.put(a, ByteBuffer.wrap(first))).isTrue();
      assertThatThrownBy(() -> store.put(c, ByteBuffer.wrap(second))).isInstanceOf(IOException.class)
          .hasMessage("No space left on device");
      assertThat(b.chunks().contains(c)).isFalse();
      assertThat(store.put(a, ByteBuffer.wrap(first))).as("existing object needs no space").isFalse();
      assertThat(store.bytesCreated()).isEqualTo(600);
      assertThat(scratch.resolve("s/tmp")).isEmptyDirectory();
    }
  }

  @Test
  void corruptReadsFlipOneByteAndLeaveTheStoreIntact() throws IOException {
    try (LocalBackend b = LocalBackend.open(scratch.resolve("s"), StoreOptions.createIfMissing())) {
      FaultyChunkStore store = new FaultyChunkStore(b.chunks());
      byte[] c = random.bytes(100_000);
      ChunkId id = ChunkId.of(c);
      store.put(id, ByteBuffer.wrap(c));
      store.corruptReads(new Random(random.seed()));
      ByteBuffer got = store.get(id);
      int diffs = 0;
      for (int i = 0; i < c.length; i++) {
        if (got.get(i) != c[i]) {
          diffs++;
        }
      }
      assertThat(diffs).isEqualTo(1);
      assertThat(store.corruptedReads()).isEqualTo(1);
      assertThat(ChunkId.of(store.stopCorrupting().get(id))).isEqualTo(id);
      assertThat(ChunkId.of(b.chunks().get(id))).isEqualTo(id);
    }
  }
}
