package io.ferry.store.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import io.ferry.store.Backend;
import io.ferry.testkit.ChunkStoreContract;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The whole {@link ChunkStoreContract} against S3Proxy, a fresh store prefix per test. */
class S3ChunkStoreTest extends ChunkStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    LocalS3 s3 = LocalS3.shared();
    return S3Backend.open(LocalS3.freshStoreUri("chunks"), s3.options(true), name -> null);
  }

  /**
   * gc counts what it freed by what {@code deleteIfPresent} answers. S3's plain DELETE answers alike whether or not
   * the key existed, so an object another gc had removed a moment before was counted by both; a conditional delete
   * ({@code If-Match: *}) tells.
   */
  @Test
  void deleteIfPresentSaysWhetherThisCallRemovedTheObject() throws Exception {
    byte[] c = "removed once".getBytes(StandardCharsets.UTF_8);
    ChunkId id = ChunkId.of(c);
    assertThat(store.put(id, ByteBuffer.wrap(c))).isTrue();
    assertThat(store.deleteIfPresent(id)).as("the call that removed it").isTrue();
    assertThat(store.contains(id)).isFalse();
    assertThat(store.deleteIfPresent(id)).as("already gone").isFalse();
    assertThat(store.deleteIfPresent(ChunkId.of("never stored".getBytes(StandardCharsets.UTF_8)))).isFalse();
    assertThat(store.put(id, ByteBuffer.wrap(c))).as("stored again").isTrue();
    assertThat(store.deleteIfPresent(id)).isTrue();
  }

  @Override
  protected boolean listsIdsByPrefix() {
    return true;
  }
}
