package io.ferry.read;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.codec.CodecPolicy;
import io.ferry.error.CorruptObjectException;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ModelReader#forEachTensor} reads tensors ahead on several threads and still hands them to the sink in order,
 * on the calling thread, byte for byte: small packed tensors, one-chunk tensors, a tensor cut into row-range chunks,
 * empty and scalar tensors, with the default codec and uncompressed; a damaged chunk stops the stream before its
 * tensor reaches the sink.
 */
class ModelReaderStreamTest {
  @TempDir Path tmp;

  /** Tensor name to its bytes, in the file's order; written as one safetensors file. */
  private final Map<String, byte[]> tensors = new LinkedHashMap<>();
  private final Map<String, String> dtypes = new LinkedHashMap<>();
  private final Map<String, long[]> shapes = new LinkedHashMap<>();

  private void tensor(String name, String dtype, long[] shape, byte[] data) {
    tensors.put(name, data);
    dtypes.put(name, dtype);
    shapes.put(name, shape);
  }

  /** Normal-ish float32 values, so the float codec has something to compress. */
  private static byte[] f32(int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    ByteBuffer b = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < n; i++) {
      b.putFloat((float) (r.nextGaussian() * 0.02));
    }
    return b.array();
  }

  private static byte[] bf16(int n, long seed) {
    byte[] f = f32(n, seed);
    byte[] out = new byte[2 * n];
    for (int i = 0; i < n; i++) {
      out[2 * i] = f[4 * i + 2];
      out[2 * i + 1] = f[4 * i + 3];
    }
    return out;
  }

  private Path writeModel() throws IOException {
    StringBuilder h = new StringBuilder("{");
    long at = 0;
    for (Map.Entry<String, byte[]> e : tensors.entrySet()) {
      StringBuilder shape = new StringBuilder("[");
      for (long d : shapes.get(e.getKey())) {
        shape.append(shape.length() > 1 ? "," : "").append(d);
      }
      h.append(h.length() > 1 ? "," : "").append('"').append(e.getKey()).append("\":{\"dtype\":\"")
          .append(dtypes.get(e.getKey())).append("\",\"shape\":").append(shape).append("],\"data_offsets\":[")
          .append(at).append(',').append(at + e.getValue().length).append("]}");
      at += e.getValue().length;
    }
    byte[] header = h.append('}').toString().getBytes(StandardCharsets.UTF_8);
    Path dir = Files.createDirectories(tmp.resolve("model"));
    Path file = dir.resolve("model.safetensors");
    try (var out = Files.newOutputStream(file)) {
      out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
      out.write(header);
      for (byte[] t : tensors.values()) {
        out.write(t);
      }
    }
    return dir;
  }

  /**
   * 200 small tensors (packed), three of 1 MiB, an empty one, a scalar, two of 72 and 66 MiB (two row-range chunks
   * each) with a small one between them.
   */
  private Path aModelOfEveryKind() throws IOException {
    for (int i = 0; i < 200; i++) {
      tensor("layers." + i + ".bias", "F32", new long[] {256}, f32(256, i));
    }
    tensor("empty", "F32", new long[] {0, 4}, new byte[0]);
    for (int i = 0; i < 3; i++) {
      tensor("blocks." + i + ".weight", "BF16", new long[] {512, 1024}, bf16(512 * 1024, 1000 + i));
    }
    tensor("scale", "F32", new long[] {}, f32(1, 7));
    tensor("embed.weight", "F32", new long[] {18432, 1024}, f32(18432 * 1024, 2000));
    tensor("norm.weight", "F32", new long[] {1024}, f32(1024, 2001));
    tensor("head.weight", "F32", new long[] {16896, 1024}, f32(16896 * 1024, 2002)); // a second cut tensor
    return writeModel();
  }

  private static Repository open(Path store) throws IOException {
    return Ferry.open(store.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
  }

  @Test
  void everyTensorReachesTheSinkInOrderOnTheCallingThreadByteForByte() throws Exception {
    Path model = aModelOfEveryKind();
    for (CodecPolicy codec : List.of(CodecPolicy.AUTO, CodecPolicy.NONE)) {
      try (Repository repo = open(tmp.resolve("store-" + codec))) {
        repo.push(model, "m", PushOptions.builder().message("every kind").codec(codec).build());
        FileEntry f = repo.snapshot(repo.resolve("m")).files().get(0);
        assertThat(f.chunks()).as("the big tensors are cut in row ranges").filteredOn(c -> c.length() == 64L << 20)
            .hasSize(2);
        try (ModelReader r = repo.open("m")) {
          for (int round = 0; round < 2; round++) { // the second reuses the first's buffers
            List<String> order = new ArrayList<>();
            Thread caller = Thread.currentThread();
            r.forEachTensor((t, data) -> {
              assertThat(Thread.currentThread()).isSameAs(caller);
              byte[] got = new byte[data.remaining()];
              data.get(got);
              assertThat(got).as("%s (%s)", t.info().name(), codec).isEqualTo(tensors.get(t.info().name()));
              order.add(t.info().name());
            });
            assertThat(order).as("sink order, %s", codec)
                .containsExactlyElementsOf(r.tensors().stream().map(t -> t.info().name()).toList());
            assertThat(order).containsExactlyInAnyOrderElementsOf(tensors.keySet());
          }
        }
      }
    }
  }

  /**
   * A reader opened after another closed, of the same repository or another, streams with the direct buffers the
   * first made (new ones cost their size in zeroing and page faults), byte for byte; after {@link
   * SpareBuffers#release} a reader makes its own.
   */
  @Test
  void aReaderOpenedAfterAnotherClosedStreamsWithItsBuffers() throws Exception {
    for (int i = 0; i < 4; i++) {
      tensor("blocks." + i + ".weight", "F32", new long[] {256, 1024}, f32(256 * 1024, 3000 + i));
    }
    Path model = writeModel();
    Path store = tmp.resolve("store");
    try (Repository repo = open(store)) {
      repo.push(model, "m", PushOptions.builder().codec(CodecPolicy.NONE).build());
    }
    Set<ByteBuffer> first = Collections.newSetFromMap(new IdentityHashMap<>());
    try (Repository repo = open(store)) {
      try (ModelReader r = repo.open("m")) {
        r.forEachTensor((t, data) -> first.add(data));
      }
      for (Repository from : List.of(repo, open(store))) {
        List<ByteBuffer> again = new ArrayList<>();
        try (from; ModelReader r = from.open("m")) {
          r.forEachTensor((t, data) -> {
            again.add(data);
            byte[] got = new byte[data.remaining()];
            data.get(got);
            assertThat(got).as(t.info().name()).isEqualTo(tensors.get(t.info().name()));
          });
        }
        // the first reader made as many buffers as its read-ahead needed then; this one may need one more
        assertThat(again).hasSize(4).anyMatch(first::contains);
      }
    }
    SpareBuffers.release();
    try (Repository repo = open(store); ModelReader r = repo.open("m")) {
      r.forEachTensor((t, data) -> assertThat(first).as("buffers after release").noneMatch(b -> b == data));
    }
  }

  /**
   * A stream that ends just after another thread closed its reader (here: the sink, at the last tensor) hands its
   * buffers on to the next reader, as a close after the stream does: the stream put them back on the closed reader,
   * where nothing would take them again, and the next reader made new ones.
   */
  @Test
  void aStreamEndingAfterItsReaderClosedLeavesItsBuffersToTheNextReader() throws Exception {
    for (int i = 0; i < 4; i++) {
      tensor("blocks." + i + ".weight", "F32", new long[] {256, 1024}, f32(256 * 1024, 4000 + i));
    }
    Path model = writeModel();
    Path store = tmp.resolve("store");
    Set<ByteBuffer> first = Collections.newSetFromMap(new IdentityHashMap<>());
    try (Repository repo = open(store)) {
      repo.push(model, "m", PushOptions.builder().codec(CodecPolicy.NONE).build());
      SpareBuffers.release();
      ModelReader r = repo.open("m");
      int[] seen = {0};
      r.forEachTensor((t, data) -> {
        first.add(data);
        if (++seen[0] == tensors.size()) {
          r.close(); // as another thread would, while the stream hands its last tensor over
        }
      });
      assertThat(seen[0]).isEqualTo(4);
      List<ByteBuffer> again = new ArrayList<>();
      try (ModelReader next = repo.open("m")) {
        next.forEachTensor((t, data) -> again.add(data));
      }
      assertThat(again).as("buffers of the next reader").anyMatch(first::contains);
    } finally {
      SpareBuffers.release();
    }
  }

  /**
   * An empty tensor in a model of small tensors only reaches the sink as an empty buffer: with no tensor cut into
   * row-range chunks, the stream failed there with a NullPointerException (an empty tensor has no chunk of its own,
   * and was handed the buffer of cut tensors, which such a model does not have).
   */
  @Test
  void anEmptyTensorStreamsWhenNoTensorIsCut() throws Exception {
    tensor("first", "F32", new long[] {8}, f32(8, 1));
    tensor("empty", "F32", new long[] {0, 4}, new byte[0]);
    tensor("none", "U8", new long[] {3, 0}, new byte[0]);
    tensor("last", "BF16", new long[] {2, 3}, bf16(6, 2));
    Path model = writeModel();
    try (Repository repo = open(tmp.resolve("store"))) {
      repo.push(model, "m", PushOptions.builder().message("an empty tensor").build());
      try (ModelReader r = repo.open("m")) {
        Map<String, byte[]> seen = new LinkedHashMap<>();
        r.forEachTensor((t, data) -> {
          byte[] got = new byte[data.remaining()];
          data.get(got);
          seen.put(t.info().name(), got);
        });
        assertThat(seen).containsExactlyEntriesOf(tensors);
      }
    }
  }

  /**
   * A tensor of more than 2 GiB (a sparse file of zeros) cannot be one buffer: refused by name, nothing streamed; read
   * whole, it is refused advising rows, and its file, read whole, is refused advising a copy or reads in parts.
   */
  @Test
  void aTensorLargerThanOneBufferIsRefusedByNameBeforeAnythingIsStreamed() throws Exception {
    long huge = (1L << 31) + 4096;
    String header = "{\"small\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
        + "\"huge\":{\"dtype\":\"U8\",\"shape\":[" + huge + "],\"data_offsets\":[8," + (8 + huge) + "]}}";
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    Path dir = Files.createDirectories(tmp.resolve("huge"));
    try (RandomAccessFile f = new RandomAccessFile(dir.resolve("model.safetensors").toFile(), "rw")) {
      f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
      f.write(h);
      f.setLength(8 + h.length + 8 + huge); // the tensors' bytes: a hole, read as zeros
    }
    try (Repository repo = open(tmp.resolve("store"))) {
      repo.push(dir, "huge", PushOptions.builder().message("2 GiB of zeros").codec(CodecPolicy.NONE).build());
      try (ModelReader r = repo.open("huge")) {
        List<String> seen = new ArrayList<>();
        assertThatThrownBy(() -> r.forEachTensor((t, data) -> seen.add(t.info().name())))
            .isInstanceOf(io.ferry.error.InvalidInputException.class).hasMessageContaining("'huge'")
            .hasMessageContaining(huge + " bytes").hasMessageContaining("by rows");
        assertThat(seen).isEmpty();
        assertThatThrownBy(() -> r.read("huge")).isInstanceOf(io.ferry.error.InvalidInputException.class)
            .hasMessageContaining("'huge'").hasMessageContaining("read it by rows");
        assertThatThrownBy(() -> r.readRows("huge", 0, huge)).isInstanceOf(io.ferry.error.InvalidInputException.class)
            .hasMessageContaining("'huge'").hasMessageContaining("read fewer rows");
        // a file has no rows: its message says how to read it instead
        assertThatThrownBy(() -> r.readFile("model.safetensors"))
            .isInstanceOf(io.ferry.error.InvalidInputException.class).hasMessageContaining("'model.safetensors' is ")
            .hasMessageContaining("copy it with copyFile or read it in parts with readFile(path, position, dst)");
      }
    }
  }

  /**
   * A tensor cut into row-range chunks streams in one direct buffer of its size; in a JVM whose direct memory has no
   * room for it, the stream is refused naming the tensor and saying how to read it, before anything is streamed. It
   * failed with an OutOfMemoryError that named nothing. Run in a JVM of its own with 48 MiB of direct memory.
   */
  @Test
  void aCutTensorTheDirectMemoryHasNoRoomForIsRefusedByName() throws Exception {
    tensor("norm.weight", "F32", new long[] {1024}, f32(1024, 1));
    tensor("embed.weight", "F32", new long[] {16896, 1024}, f32(16896 * 1024, 2)); // 66 MiB: two chunks
    Path store = tmp.resolve("store");
    try (Repository repo = open(store)) {
      repo.push(writeModel(), "m", PushOptions.builder().message("a cut tensor").codec(CodecPolicy.NONE).build());
    }
    Path launcher = Path.of(System.getProperty("java.home"), "bin", "java");
    Path output = tmp.resolve("stream.out");
    Process p = new ProcessBuilder(launcher.toString(), "-XX:MaxDirectMemorySize=48m", "-cp",
        System.getProperty("java.class.path"), StreamInAJvm.class.getName(), store.toString())
        .redirectOutput(output.toFile()).redirectError(tmp.resolve("stream.err").toFile()).start();
    assertThat(p.waitFor(2, java.util.concurrent.TimeUnit.MINUTES)).as("the stream's JVM ended").isTrue();
    String out = Files.readString(output);
    assertThat(p.exitValue()).as(out + Files.readString(tmp.resolve("stream.err"))).isZero();
    assertThat(out).startsWith("io.ferry.error.InvalidInputException: tensor 'embed.weight' of version ")
        .contains(" is 69206016 bytes, more than this JVM's direct memory has room for")
        .contains("read it by rows or copy it with copyTensor").doesNotContain("streamed norm.weight");
  }

  /** Streams model {@code m} of the store {@code args[0]} and prints what reached the sink, or the error. */
  static final class StreamInAJvm {
    public static void main(String[] args) throws IOException {
      try (Repository repo = Ferry.open(args[0]); ModelReader r = repo.open("m")) {
        r.forEachTensor((t, data) -> System.out.println("streamed " + t.info().name()));
      } catch (IOException | OutOfMemoryError e) {
        System.out.println(e.getClass().getName() + ": " + e.getMessage());
      }
    }
  }

  @Test
  void aDamagedChunkStopsTheStreamBeforeItsTensorAndASinkFailureLeavesTheReaderUsable() throws Exception {
    Path model = aModelOfEveryKind();
    Path store = tmp.resolve("store");
    try (Repository repo = open(store)) {
      repo.push(model, "m", PushOptions.builder().message("every kind").codec(CodecPolicy.NONE).build());
      try (ModelReader r = repo.open("m")) {
        RuntimeException boom = new IllegalStateException("the sink gave up");
        List<String> seen = new ArrayList<>();
        assertThatThrownBy(() -> r.forEachTensor((t, data) -> {
          seen.add(t.info().name());
          if (seen.size() == 3) {
            throw boom;
          }
        })).isSameAs(boom);
        List<String> again = new ArrayList<>();
        r.forEachTensor((t, data) -> again.add(t.info().name()));
        assertThat(again).hasSize(tensors.size());
      }
      // damage the loose chunk of the second 1 MiB tensor (its payload's last byte)
      FileEntry f = repo.snapshot(repo.resolve("m")).files().get(0);
      ChunkRef victim = f.chunks().stream().filter(c -> c.length() == 1 << 20).skip(1).findFirst().orElseThrow();
      Path object;
      try (Stream<Path> s = Files.walk(store.resolve("objects"))) {
        object = s.filter(p -> p.getFileName().toString().startsWith(victim.id().hex().substring(2))).findFirst()
            .orElseThrow();
      }
      try (RandomAccessFile raf = new RandomAccessFile(object.toFile(), "rw")) {
        raf.seek(raf.length() - 1);
        int b = raf.read();
        raf.seek(raf.length() - 1);
        raf.write(b ^ 0x40);
      }
      try (ModelReader r = repo.open("m")) {
        List<String> seen = new ArrayList<>();
        assertThatThrownBy(() -> r.forEachTensor((t, data) -> seen.add(t.info().name())))
            .isInstanceOf(CorruptObjectException.class).hasMessageContaining(victim.id().hex())
            .hasMessageContaining("model.safetensors bytes [").hasMessageContaining("(tensor 'blocks.1.weight')");
        // a read of the tensor, of rows of it, and a copy of its file name it too
        assertThatThrownBy(() -> r.read("blocks.1.weight")).isInstanceOf(CorruptObjectException.class)
            .hasMessageContaining("model.safetensors bytes [").hasMessageContaining("(tensor 'blocks.1.weight')");
        assertThatThrownBy(() -> r.readRows("blocks.1.weight", 0, 1, ByteBuffer.allocateDirect(2048)))
            .isInstanceOf(CorruptObjectException.class).hasMessageContaining("(tensor 'blocks.1.weight')");
        assertThatThrownBy(() -> r.copyFile("model.safetensors", java.nio.channels.Channels.newChannel(
            java.io.OutputStream.nullOutputStream()))).isInstanceOf(CorruptObjectException.class)
            .hasMessageContaining("(tensor 'blocks.1.weight')").hasMessageContaining(victim.id().hex());
        assertThat(seen).as("tensors before the damaged one reached the sink, it and none after did")
            .doesNotContain("blocks.1.weight", "blocks.2.weight", "embed.weight", "head.weight")
            .contains("layers.0.bias", "blocks.0.weight");
      }
    }
  }
}
