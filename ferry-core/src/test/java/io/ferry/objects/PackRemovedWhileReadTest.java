package io.ferry.objects;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.codec.Codecs;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.MissingObjectException;
import io.ferry.id.ChunkId;
import io.ferry.store.ChunkStore;
import io.ferry.store.ForwardingChunkStore;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pack removed (a gc) or cut short between reading its size and reading its index is a missing or a corrupt pack,
 * which the small-chunk index skips, never a bare end of file that fails a push (a WebHDFS store answers a read of a
 * file deleted after its size was read with an early end).
 */
class PackRemovedWhileReadTest {
  @TempDir Path tmp;

  /** A store whose reads of {@code pack} end early, and which holds it or not. */
  private static ChunkStore cutShort(ChunkStore inner, boolean stillThere) {
    return new ForwardingChunkStore(inner) {
      @Override
      public long size(ChunkId id) {
        return 4096;
      }

      @Override
      public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
        throw new EOFException("End of file reached before reading fully.");
      }

      @Override
      public boolean contains(ChunkId id) {
        return stillThere;
      }
    };
  }

  @Test
  void aPackGoneWhileItsIndexIsReadIsMissingAndACutOneCorrupt() throws IOException {
    try (LocalBackend b = LocalBackend.open(tmp.resolve("s"), StoreOptions.createIfMissing())) {
      ChunkId pack = ChunkId.of(new byte[] {1, 2, 3});
      ObjectDatabase gone = new ObjectDatabase(cutShort(b.chunks(), false), Codecs.standard());
      assertThatThrownBy(() -> gone.packIndex(pack)).isInstanceOf(MissingObjectException.class)
          .hasMessageContaining("removed while its index was read");
      ObjectDatabase cut = new ObjectDatabase(cutShort(b.chunks(), true), Codecs.standard());
      assertThatThrownBy(() -> cut.packIndex(pack)).isInstanceOf(CorruptObjectException.class)
          .hasMessageContaining("it changed while it was read");
    }
  }
}
