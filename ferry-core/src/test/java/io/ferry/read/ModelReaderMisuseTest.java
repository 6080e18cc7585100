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

  /**
   * Rows that a tensor does not have are refused saying why: a scalar has none, a 1-D F4 tensor's row is half a byte;
   * inverted, negative and past-the-end ranges name the range and the tensor's rows.
   */
  @org.junit.jupiter.api.Test
  void rowsATensorDoesNotHaveAreRefusedSayingWhy() throws IOException {
    Path file = java.nio.file.Files.createDirectories(tmp.resolve("s")).resolve("model.safetensors");
    byte[] header = ("{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
        + "\"q\":{\"dtype\":\"F4\",\"shape\":[6],\"data_offsets\":[4,7]},"
        + "\"b\":{\"dtype\":\"BOOL\",\"shape\":[3,1],\"data_offsets\":[7,10]}}")
        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
    ByteBuffer all = ByteBuffer.allocate(8 + header.length + 10).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    all.putLong(header.length).put(header).put(new byte[] {0, 0, -128, 63, 0x12, 0x34, 0x56, 1, 0, 1});
    java.nio.file.Files.write(file, all.array());
    repo.push(tmp.resolve("s"), "s", PushOptions.builder().build());
    try (ModelReader r = repo.open("s")) {
      assertThatThrownBy(() -> r.readRows("s", 0, 1)).isInstanceOf(io.ferry.error.InvalidInputException.class)
          .hasMessageContaining("tensor 's' of model.safetensors").hasMessageContaining("a scalar has no rows");
      assertThatThrownBy(() -> r.readRows("q", 0, 1)).isInstanceOf(io.ferry.error.InvalidInputException.class)
          .hasMessageContaining("dtype F4").hasMessageContaining("not a whole number of bytes");
      assertThat(bytes(r.read("s"))).containsExactly(0, 0, -128, 63);
      assertThat(bytes(r.read("q"))).containsExactly(0x12, 0x34, 0x56);
      assertThat(bytes(r.readRows("b", 1, 3))).containsExactly(0, 1);
      assertThatThrownBy(() -> r.readRows("b", 2, 1)).isInstanceOf(io.ferry.error.InvalidInputException.class)
          .hasMessageContaining("rows [2, 1) of tensor 'b' are inverted: the end 1 is before the start 2");
      for (long[] bad : new long[][] {{-1, 1}, {0, 4}, {-2, -3}, {Long.MAX_VALUE - 1, Long.MAX_VALUE}}) {
        assertThatThrownBy(() -> r.readRows("b", bad[0], bad[1])).isInstanceOf(io.ferry.error.InvalidInputException.class)
            .hasMessageContaining("rows [" + bad[0] + ", " + bad[1] + ") are outside tensor 'b' with 3 rows");
      }
    }
  }

  /**
   * A safetensors file whose {@code __metadata__} holds a key {@code strides.w} (its own text, any key is allowed):
   * the reader took it for a PyTorch view's strides and refused to read {@code w} ("a non-contiguous view"), whole, by
   * rows and streamed. Only a checkpoint's metadata says how its tensors lie.
   */
  @org.junit.jupiter.api.Test
  void aSafetensorsMetadataKeyNamedLikeStridesDoesNotMakeATensorAView() throws IOException {
    Path file = java.nio.file.Files.createDirectories(tmp.resolve("s")).resolve("model.safetensors");
    byte[] header = ("{\"__metadata__\":{\"strides.w\":\"[1,2]\",\"format\":\"pt\"},"
        + "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}")
        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
    byte[] data = f32(4, 5);
    ByteBuffer all = ByteBuffer.allocate(8 + header.length + 16).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    all.putLong(header.length).put(header).put(data);
    java.nio.file.Files.write(file, all.array());
    repo.push(tmp.resolve("s"), "s", PushOptions.builder().build());
    try (ModelReader r = repo.open("s")) {
      assertThat(bytes(r.read("w"))).isEqualTo(data);
      assertThat(bytes(r.readRows("w", 1, 2))).isEqualTo(java.util.Arrays.copyOfRange(data, 8, 16));
      List<byte[]> streamed = new java.util.ArrayList<>();
      r.forEachTensor((t, b) -> streamed.add(bytes(b)));
      assertThat(streamed).containsExactly(data);
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

  /**
   * Bytes of a file asked for from a position whose end does not fit a long are named as asked: the message gave an
   * end that had wrapped around ("bytes [9223372036854775807, -9223372036854775805)").
   */
  @org.junit.jupiter.api.Test
  void aFileRangeWhoseEndOverflowsIsNamedAsAsked() throws IOException {
    push("zstd");
    try (ModelReader r = repo.open("m")) {
      long size = r.file("model.safetensors").size();
      assertThatThrownBy(() -> r.readFile("model.safetensors", Long.MAX_VALUE, ByteBuffer.allocate(4)))
          .isInstanceOf(io.ferry.error.InvalidInputException.class).hasMessage("model.safetensors: bytes ["
              + Long.MAX_VALUE + ", " + Long.MAX_VALUE + " + 4) lie outside the file of " + size + " bytes");
      assertThatThrownBy(() -> r.readFile("model.safetensors", size - 2, ByteBuffer.allocate(4)))
          .isInstanceOf(io.ferry.error.InvalidInputException.class).hasMessage("model.safetensors: bytes ["
              + (size - 2) + ", " + (size + 2) + ") lie outside the file of " + size + " bytes");
    }
  }

  /**
   * A reader closed while a stream or a copy of it runs (here by its sink and its channel, as another thread would)
   * reads no more: the stream and the copy fail at their next tensor or chunk. They read on to the end.
   */
  @ParameterizedTest
  @ValueSource(strings = {"none", "zstd"})
  void aReaderClosedWhileItStreamsOrCopiesReadsNoMore(String codec) throws IOException {
    ModelReaderSameNameTest.writeSafetensors(tmp.resolve("m/model.safetensors"),
        List.of("a", "[64,32]", w, "b", "[64,32]", f32(64 * 32, 2), "c", "[64,32]", f32(64 * 32, 3)));
    repo.push(tmp.resolve("m"), "m", PushOptions.builder().codec(CodecPolicy.parse(codec)).build());
    ModelReader streamed = repo.open("m");
    List<String> seen = new java.util.ArrayList<>();
    assertThatThrownBy(() -> streamed.forEachTensor((t, b) -> {
      seen.add(t.info().name());
      streamed.close();
    })).isInstanceOf(IllegalStateException.class).hasMessageContaining("is closed");
    assertThat(seen).containsExactly("a");
    ModelReader copied = repo.open("m");
    int[] writes = {0};
    java.nio.channels.WritableByteChannel closing = new java.nio.channels.WritableByteChannel() {
      @Override
      public int write(ByteBuffer src) {
        writes[0]++;
        copied.close();
        int n = src.remaining();
        src.position(src.limit());
        return n;
      }

      @Override
      public boolean isOpen() {
        return true;
      }

      @Override
      public void close() {}
    };
    assertThat(copied.file("model.safetensors").chunks()).hasSizeGreaterThan(2);
    assertThatThrownBy(() -> copied.copyFile("model.safetensors", closing)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("is closed");
    assertThat(writes[0]).isEqualTo(1);
  }

  /**
   * A reader does not keep its version from gc: once no ref reaches the version, a gc (here with no grace) may remove
   * its objects while the reader is open. Its reads then say that the version is no longer in the store ({@link
   * io.ferry.error.NotFoundException}), as {@link Repository#read} and the commands do; they reported a missing
   * object, which reads as damage to the store.
   */
  @ParameterizedTest
  @ValueSource(strings = {"none", "zstd"})
  void aReaderWhoseVersionGcRemovedSaysTheVersionIsGone(String codec) throws IOException {
    push(codec);
    try (ModelReader r = repo.open("m")) {
      assertThat(bytes(r.readRows("w", 0, 1))).hasSize(128);
      repo.removeModel("m", true);
      assertThat(repo.gc(java.time.Duration.ZERO, false).deadObjects()).isPositive();
      for (ModelReaderSameNameTest.ThrowingRead read : List.<ModelReaderSameNameTest.ThrowingRead>of(
          () -> r.read("w"), () -> r.readRows("w", 1, 2, ByteBuffer.allocateDirect(128)),
          () -> r.readFile("model.safetensors"), () -> r.forEachTensor((t, b) -> { }),
          () -> r.copyFile("model.safetensors", Channels.newChannel(OutputStream.nullOutputStream())))) {
        assertThatThrownBy(read::run).isInstanceOf(io.ferry.error.NotFoundException.class)
            .hasMessageContaining("m (" + r.versionId().shortHex(12) + ") is no longer in")
            .hasMessageContaining("no ref reaches it");
      }
    }
  }

  /**
   * A null buffer, sink, channel or tensor is refused naming it, not by a NullPointerException from inside the read.
   */
  @org.junit.jupiter.api.Test
  void aNullBufferSinkOrChannelIsRefusedNamingIt() throws IOException {
    push("zstd");
    try (ModelReader r = repo.open("m")) {
      assertThatThrownBy(() -> r.read("w", (ByteBuffer) null)).isInstanceOf(NullPointerException.class)
          .hasMessage("dst");
      assertThatThrownBy(() -> r.readRows("w", 0, 1, null)).isInstanceOf(NullPointerException.class)
          .hasMessage("dst");
      assertThatThrownBy(() -> r.readFile("model.safetensors", 0, null)).isInstanceOf(NullPointerException.class)
          .hasMessage("dst");
      assertThatThrownBy(
          () -> r.copyRanges("model.safetensors", null, Channels.newChannel(OutputStream.nullOutputStream())))
          .isInstanceOf(NullPointerException.class).hasMessage("ranges");
      assertThatThrownBy(() -> r.forEachTensor(null)).isInstanceOf(NullPointerException.class).hasMessage("sink");
      assertThatThrownBy(() -> r.copyFile("model.safetensors", null)).isInstanceOf(NullPointerException.class)
          .hasMessage("out");
      for (ModelReaderSameNameTest.ThrowingRead read : List.<ModelReaderSameNameTest.ThrowingRead>of(
          () -> r.read((ModelReader.Located) null), () -> r.read((ModelReader.Located) null, ByteBuffer.allocate(8)),
          () -> r.readRows((ModelReader.Located) null, 0, 1),
          () -> r.readRows((ModelReader.Located) null, 0, 1, ByteBuffer.allocate(8)),
          () -> r.copyTensor(null, Channels.newChannel(OutputStream.nullOutputStream())),
          () -> r.copyRows(null, 0, 1, Channels.newChannel(OutputStream.nullOutputStream())))) {
        assertThatThrownBy(read::run).isInstanceOf(NullPointerException.class).hasMessage("tensor");
      }
    }
  }

  /**
   * A null tensor name or file path is refused naming the argument: it was looked up, and the reader said it had no
   * tensor 'null' or no file 'null', as if a tensor or file of that name were missing.
   */
  @org.junit.jupiter.api.Test
  void aNullNameOrPathIsRefusedNamingIt() throws IOException {
    push("zstd");
    try (ModelReader r = repo.open("m")) {
      for (ModelReaderSameNameTest.ThrowingRead read : List.<ModelReaderSameNameTest.ThrowingRead>of(
          () -> r.tensor(null), () -> r.tensor("model.safetensors", null), () -> r.read((String) null),
          () -> r.read((String) null, ByteBuffer.allocate(8)), () -> r.readRows((String) null, 0, 1),
          () -> r.readRows((String) null, 0, 1, ByteBuffer.allocate(8)))) {
        assertThatThrownBy(read::run).isInstanceOf(NullPointerException.class).hasMessage("name");
      }
      for (ModelReaderSameNameTest.ThrowingRead read : List.<ModelReaderSameNameTest.ThrowingRead>of(
          () -> r.file(null), () -> r.tensor(null, "w"), () -> r.readFile(null),
          () -> r.readFile(null, 0, ByteBuffer.allocate(8)),
          () -> r.copyFile(null, Channels.newChannel(OutputStream.nullOutputStream())),
          () -> r.copyRange(null, 0, 1, Channels.newChannel(OutputStream.nullOutputStream())))) {
        assertThatThrownBy(read::run).isInstanceOf(NullPointerException.class).hasMessage("path");
      }
    }
  }

  /**
   * A read by a thread that is interrupted stops with an {@link java.io.InterruptedIOException} that names the file
   * and tensor it was reading, as a stream or copy does, and the thread stays interrupted; the reader reads on. A
   * tensor read ended with the channel's bare {@link java.nio.channels.ClosedByInterruptException}, which has no
   * message at all.
   */
  @ParameterizedTest
  @ValueSource(strings = {"none", "zstd"})
  void anInterruptedReadSaysWhatItWasReading(String codec) throws IOException {
    push(codec);
    try (ModelReader r = repo.open("m")) {
      List<ModelReaderSameNameTest.ThrowingRead> reads = List.of(() -> r.read("w"),
          () -> r.read("w", ByteBuffer.allocateDirect(w.length)), () -> r.readRows("w", 1, 3),
          () -> r.readFile("model.safetensors"));
      for (int i = 0; i < reads.size(); i++) {
        Thread.currentThread().interrupt();
        try {
          // a file's read stops at its first chunk, the header
          assertThatThrownBy(reads.get(i)::run).isInstanceOf(java.io.InterruptedIOException.class)
              .hasMessageContaining("interrupted while reading model.safetensors bytes [")
              .hasMessageContaining(i < 3 ? "(tensor 'w')" : "(the header)");
          assertThat(Thread.currentThread().isInterrupted()).isTrue();
        } finally {
          Thread.interrupted();
        }
      }
      assertThat(bytes(r.read("w"))).isEqualTo(w);
    }
  }

  /**
   * A copy whose write to the caller's channel an interrupt of the thread stops ends with an
   * {@link java.io.InterruptedIOException} that names the file, bytes and tensors it was copying, as an interrupted
   * read does; it ended with the channel's bare {@link java.nio.channels.ClosedByInterruptException}, which has no
   * message at all.
   */
  @ParameterizedTest
  @ValueSource(strings = {"none", "zstd"})
  void anInterruptedWriteOfACopySaysWhatItWasCopying(String codec) throws IOException {
    push(codec);
    Path dest = tmp.resolve("copy-" + codec);
    try (ModelReader r = repo.open("m");
        java.nio.channels.FileChannel file = java.nio.channels.FileChannel.open(dest,
            java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE)) {
      // the caller's thread is interrupted as it writes, after the chunk was read
      java.nio.channels.WritableByteChannel out = new java.nio.channels.WritableByteChannel() {
        @Override
        public int write(ByteBuffer src) throws IOException {
          Thread.currentThread().interrupt();
          return file.write(src);
        }

        @Override
        public boolean isOpen() {
          return file.isOpen();
        }

        @Override
        public void close() throws IOException {
          file.close();
        }
      };
      try {
        assertThatThrownBy(() -> r.copyFile("model.safetensors", out))
            .isInstanceOf(java.io.InterruptedIOException.class)
            .hasMessageContaining("interrupted while writing model.safetensors bytes [0, ")
            .hasMessageContaining("to the output");
        assertThat(Thread.currentThread().isInterrupted()).isTrue();
      } finally {
        Thread.interrupted();
      }
    }
  }
}
