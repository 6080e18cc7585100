package io.ferry.read;

import static io.ferry.read.ModelReaderSameNameTest.bytes;
import static io.ferry.read.ModelReaderSameNameTest.f32;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.codec.CodecPolicy;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a caller can get wrong with a {@link ModelReader}: a read-only buffer is refused as such (it was reported as a
 * corrupt object: the decoder's write failed), and a closed reader reads no more.
 */
class ModelReaderMisuseTest {
  @TempDir Path tmp;

  private Repository repo;
  private final byte[] w = f32(64 * 32, 1);

  @BeforeEach
  void open() throws IOException {
    repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
  }

  @AfterEach
  void close() throws IOException {
    repo.close();
  }

  private void push(String codec) throws IOException {
    ModelReaderSameNameTest.writeSafetensors(tmp.resolve("m/model.safetensors"), List.of("w", "[64,32]", w));
    repo.push(tmp.resolve("m"), "m", PushOptions.builder().codec(CodecPolicy.parse(codec)).build());
  }

  @ParameterizedTest
  @ValueSource(strings = {"none", "zstd", "float"})
  void aReadOnlyBufferIsRefusedAsSuchNotAsDamage(String codec) throws IOException {
    push(codec);
    try (ModelReader r = repo.open("m")) {
      ByteBuffer ro = ByteBuffer.allocateDirect(w.length).asReadOnlyBuffer();
      assertThatThrownBy(() -> r.read("w", ro)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("read-only").hasMessageContaining("model.safetensors");
      assertThatThrownBy(() -> r.readRows("w", 1, 2, ByteBuffer.allocate(128).asReadOnlyBuffer()))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("read-only");
      assertThatThrownBy(() -> r.readFile("model.safetensors", 0, ByteBuffer.allocate(8).asReadOnlyBuffer()))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("read-only");
      assertThat(bytes(r.read("w"))).isEqualTo(w);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"none", "zstd"})
  void aClosedReaderReadsNoMore(String codec) throws IOException {
    push(codec);
    ModelReader r = repo.open("m");
    assertThat(bytes(r.readRows("w", 2, 3))).hasSize(128);
    r.close();
    r.close();
    assertThat(r.tensors()).hasSize(1);
    for (ModelReaderSameNameTest.ThrowingRead read : List.<ModelReaderSameNameTest.ThrowingRead>of(() -> r.read("w"),
        () -> r.readRows("w", 0, 1, ByteBuffer.allocate(128)), () -> r.readFile("model.safetensors"),
        () -> r.forEachTensor((t, b) -> { }),
        () -> r.copyFile("model.safetensors", Channels.newChannel(OutputStream.nullOutputStream())))) {
      assertThatThrownBy(read::run).isInstanceOf(IllegalStateException.class).hasMessageContaining("is closed");
    }
  }
}
