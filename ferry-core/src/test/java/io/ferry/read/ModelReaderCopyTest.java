package io.ferry.read;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.InvalidInputException;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.channels.Channels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ModelReader#copyFile} reads chunks ahead on several threads and still writes them in file order, and a bad
 * chunk stops the copy with none of its bytes and none after it written.
 */
class ModelReaderCopyTest {
  @TempDir Path tmp;

  private Path storeDir;
  private Repository repo;
  private byte[] content;

  @BeforeEach
  void aFileOfManyCompressedChunks() throws IOException {
    storeDir = tmp.resolve("store");
    repo = Ferry.open(storeDir.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    Path src = tmp.resolve("src");
    Files.createDirectories(src);
    content = new byte[9 << 20];
    Random r = new Random(42);
    for (int i = 0; i < content.length; i++) {
      content[i] = (byte) ('a' + r.nextInt(6));
    }
    Files.write(src.resolve("weights.bin"), content);
    repo.push(src, "m", PushOptions.builder().message("many chunks").build());
  }

  @AfterEach
  void close() throws IOException {
    repo.close();
  }

  private FileEntry file() throws IOException {
    return repo.snapshot(repo.resolve("m")).file("weights.bin").orElseThrow();
  }

  @Test
  void theCopyEqualsTheFileInOrder() throws IOException {
    assertThat(file().chunks()).as("chunks of the file").hasSizeGreaterThan(4);
    for (int round = 0; round < 3; round++) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      repo.cat("m//weights.bin", Channels.newChannel(out));
      assertThat(Arrays.equals(out.toByteArray(), content)).as("copy %d equals the file", round).isTrue();
    }
  }

  /**
   * A channel in non-blocking mode may take no byte of a write (a full pipe or socket): the copy spun on it for ever
   * at full CPU. It is refused, before anything is read, as the JDK's {@code Channels.newOutputStream} refuses one.
   */
  @Test
  void aChannelInNonBlockingModeIsRefusedBeforeAnythingIsCopied() throws IOException {
    java.nio.channels.Pipe pipe = java.nio.channels.Pipe.open();
    try (java.nio.channels.Pipe.SinkChannel sink = pipe.sink(); java.nio.channels.Pipe.SourceChannel source =
        pipe.source(); ModelReader r = repo.open("m")) {
      sink.configureBlocking(false);
      org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(30), () ->
          assertThatThrownBy(() -> r.copyFile("weights.bin", sink)).isInstanceOf(IllegalArgumentException.class)
              .hasMessageContaining("non-blocking"));
      source.configureBlocking(false);
      assertThat(source.read(java.nio.ByteBuffer.allocate(1))).as("bytes written to the pipe").isZero();
    }
  }

  @Test
  void aRangeCopyIsThatSliceOfTheFileAcrossChunkEdges() throws IOException {
    long[] offsets = file().chunkOffsets();
    long edge = offsets[2];
    Random r = new Random(7);
    List<long[]> ranges = new java.util.ArrayList<>(List.of(new long[] {0, content.length}, new long[] {0, 0},
        new long[] {edge - 1, edge + 1}, new long[] {edge, edge + 1}, new long[] {edge - 1, edge},
        new long[] {offsets[1] + 3, offsets[3] - 5}, new long[] {content.length - 1, content.length}));
    for (int i = 0; i < 20; i++) {
      long a = r.nextInt(content.length + 1);
      long b = r.nextInt(content.length + 1);
      ranges.add(new long[] {Math.min(a, b), Math.max(a, b)});
    }
    try (ModelReader reader = repo.open("m")) {
      for (long[] range : ranges) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        reader.copyRange("weights.bin", range[0], range[1], Channels.newChannel(out));
        assertThat(Arrays.equals(out.toByteArray(), Arrays.copyOfRange(content, (int) range[0], (int) range[1])))
            .as("bytes [%d, %d)", range[0], range[1]).isTrue();
      }
      // many ranges in any order, two in one chunk, empty ones: their bytes back to back
      List<long[]> many = ranges.subList(2, ranges.size());
      ByteArrayOutputStream all = new ByteArrayOutputStream();
      reader.copyRanges("weights.bin", many, Channels.newChannel(all));
      ByteArrayOutputStream expected = new ByteArrayOutputStream();
      for (long[] range : many) {
        expected.write(content, (int) range[0], (int) (range[1] - range[0]));
      }
      assertThat(Arrays.equals(all.toByteArray(), expected.toByteArray())).as("ranges back to back").isTrue();
      assertThatThrownBy(() -> reader.copyRange("weights.bin", 5, content.length + 1L,
          Channels.newChannel(new ByteArrayOutputStream()))).isInstanceOf(InvalidInputException.class)
          .hasMessage("weights.bin: bytes [5, " + (content.length + 1L) + ") lie outside the file of " + content.length
              + " bytes");
      assertThatThrownBy(() -> reader.copyRange("weights.bin", 9, 5, Channels.newChannel(new ByteArrayOutputStream())))
          .isInstanceOf(InvalidInputException.class)
          .hasMessage("weights.bin: bytes [9, 5) are inverted: the end 5 is before the start 9");
    }
  }

  @Test
  void aCorruptChunkStopsTheCopyBeforeItsBytes() throws IOException {
    FileEntry f = file();
    List<ChunkRef> chunks = f.chunks();
    int bad = 2;
    String hex = chunks.get(bad).id().hex();
    Path object = storeDir.resolve("objects").resolve(hex.substring(0, 2)).resolve(hex.substring(2));
    assertThat(object).as("the chunk is a loose object").exists();
    try (RandomAccessFile raf = new RandomAccessFile(object.toFile(), "rw")) {
      long at = raf.length() - 10;
      raf.seek(at);
      int b = raf.read();
      raf.seek(at);
      raf.write(b ^ 0x20);
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    assertThatThrownBy(() -> repo.cat("m//weights.bin", Channels.newChannel(out)))
        .isInstanceOf(CorruptObjectException.class).hasMessageContaining(hex);
    long before = f.chunkOffsets()[bad];
    assertThat(out.size()).as("bytes written: those of the chunks before the bad one").isEqualTo(before);
    assertThat(Arrays.equals(out.toByteArray(), Arrays.copyOf(content, (int) before))).isTrue();
  }
}
