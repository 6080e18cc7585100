package io.ferry.read;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.id.ChunkId;
import io.ferry.chunk.Frame;
import io.ferry.codec.ChunkHint;
import io.ferry.codec.Codec;
import io.ferry.codec.Codecs;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.MissingObjectException;
import io.ferry.pack.PackIndex;
import io.ferry.pack.PackWriter;
import io.ferry.read.ChunkReader.Check;
import io.ferry.store.ChunkStore;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The one verified read path: every form, every codec, loose and packed, and each kind of damage it must catch. */
class ChunkReaderTest {
  private static final long SEED = 0x5eed_8L;

  @TempDir Path tmp;

  private LocalBackend backend;
  private ChunkStore store;
  private final Codecs codecs = Codecs.standard();
  private ChunkReader reader;

  @BeforeEach
  void open() throws IOException {
    backend = LocalBackend.open(tmp.resolve("store"), StoreOptions.createIfMissing());
    store = backend.chunks();
    reader = new ChunkReader(store, codecs);
  }

  @AfterEach
  void close() throws IOException {
    backend.close();
  }

  /** Float-like bytes (bf16 of small values) that every codec can encode and that compress somewhat. */
  private static byte[] content(int n, long seed) {
    Random r = new Random(seed);
    byte[] b = new byte[n];
    for (int i = 0; i + 1 < n; i += 2) {
      b[i] = (byte) r.nextInt(256);
      b[i + 1] = (byte) (0x3c + r.nextInt(4));
    }
    return b;
  }

  private Codec codec(String name) {
    switch (name) {
      case "none":
        return codecs.none();
      case "zstd":
        return codecs.zstd();
      case "float":
        return codecs.floatCodec();
      default:
        throw new IllegalArgumentException(name);
    }
  }

  /** The frame of {@code raw} encoded with {@code codec}, as header and payload. */
  private static ByteBuffer[] frame(Codec codec, byte[] raw) {
    ByteBuffer payload = codec.encode(ByteBuffer.wrap(raw), new ChunkHint("BF16"));
    assertThat(payload).as(codec.name() + " applies").isNotNull();
    ByteBuffer copy = ByteBuffer.allocate(payload.remaining()).put(payload.duplicate()).flip();
    return new ByteBuffer[] {Frame.header(ChunkId.of(raw), codec.id(), 0, raw.length, copy), copy};
  }

  static ByteBuffer[] v1Frame(Codec codec, byte[] raw) {
    return io.ferry.chunk.V1Frames.frame(codec, raw);
  }

  private ChunkId putLooseV1(Codec codec, byte[] raw) throws IOException {
    ChunkId id = ChunkId.of(raw);
    store.put(id, v1Frame(codec, raw));
    return id;
  }

  private ChunkId putLoose(Codec codec, byte[] raw) throws IOException {
    ChunkId id = ChunkId.of(raw);
    store.put(id, frame(codec, raw));
    return id;
  }

  private Path fileOf(ChunkId id) {
    String hex = id.hex();
    return tmp.resolve("store").resolve("objects").resolve(hex.substring(0, 2)).resolve(hex.substring(2));
  }

  private static void flipByte(Path file, long at) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0x10);
    }
  }

  private static ByteBuffer buffer(boolean direct, int n) {
    return direct ? ByteBuffer.allocateDirect(n) : ByteBuffer.allocate(n);
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  @ParameterizedTest
  @ValueSource(strings = {"none", "zstd", "float"})
  void everyCodecReadsBackLooseIntoDirectAndHeapBuffers(String name) throws IOException {
    byte[] raw = content(3 << 20, SEED);
    ChunkId id = putLoose(codec(name), raw);
    Location loc = Location.loose(id);
    for (boolean direct : new boolean[] {true, false}) {
      for (Check check : Check.values()) {
        ByteBuffer dst = buffer(direct, raw.length + 10).position(5);
        reader.readInto(loc, raw.length, check, dst);
        assertThat(dst.position()).isEqualTo(5 + raw.length);
        assertThat(bytes(dst.flip().position(5))).isEqualTo(raw);
      }
    }
    assertThat(reader.verify(loc, raw.length)).isEqualTo(raw.length);
    ByteBuffer part = ByteBuffer.allocate(1000);
    reader.readRange(loc, raw.length, 12345, 13345, Check.CONTENT, part);
    assertThat(bytes(part.flip())).isEqualTo(java.util.Arrays.copyOfRange(raw, 12345, 13345));
    Path out = tmp.resolve("out-" + name);
    try (FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE, StandardOpenOption.READ,
        StandardOpenOption.WRITE)) {
      reader.copyTo(loc, raw.length, Check.CONTENT, ch, 7);
    }
    assertThat(java.util.Arrays.copyOfRange(Files.readAllBytes(out), 7, 7 + raw.length)).isEqualTo(raw);
    java.io.ByteArrayOutputStream sink = new java.io.ByteArrayOutputStream();
    reader.copyTo(loc, raw.length, Check.FRAME, Channels.newChannel(sink));
    assertThat(sink.toByteArray()).isEqualTo(raw);
    ByteBuffer stored = reader.storedFrame(loc, raw.length, Check.CONTENT);
    assertThat(stored.remaining()).isEqualTo(Files.size(fileOf(id)));
  }

  @ParameterizedTest
  @ValueSource(strings = {"none", "zstd", "float"})
  void everyCodecReadsBackFromAPack(String name) throws IOException {
    PackWriter w = new PackWriter();
    byte[] a = content(100_000, SEED + 1);
    byte[] b = content(70_000, SEED + 2);
    w.add(ChunkId.of(a), frame(codec(name), a));
    w.add(ChunkId.of(b), frame(codec(name), b));
    PackWriter.Finished pack = w.finish();
    store.put(pack.id(), pack.bytes());
    Locator locator = Locator.of(List.of(pack.index()));
    for (byte[] raw : List.of(a, b)) {
      Location loc = locator.locate(ChunkId.of(raw));
      assertThat(loc.packed()).isTrue();
      assertThat(loc.object()).isEqualTo(pack.id());
      for (boolean direct : new boolean[] {true, false}) {
        ByteBuffer dst = buffer(direct, raw.length);
        reader.readInto(loc, raw.length, Check.CONTENT, dst);
        assertThat(bytes(dst.flip())).isEqualTo(raw);
      }
      assertThat(reader.verify(loc, raw.length)).isEqualTo(raw.length);
      ByteBuffer part = ByteBuffer.allocate(10);
      reader.readRange(loc, raw.length, 100, 110, Check.FRAME, part);
      assertThat(bytes(part.flip())).isEqualTo(java.util.Arrays.copyOfRange(raw, 100, 110));
    }
  }

  @Test
  void emptyChunk() throws IOException {
    byte[] raw = new byte[0];
    ChunkId id = ChunkId.of(raw);
    ByteBuffer payload = ByteBuffer.allocate(0);
    store.put(id, Frame.header(id, codecs.none().id(), 0, 0, payload), payload);
    Location loc = Location.loose(id);
    ByteBuffer dst = ByteBuffer.allocate(4);
    reader.readInto(loc, 0, Check.CONTENT, dst);
    assertThat(dst.position()).isZero();
    assertThat(reader.verify(loc, 0)).isZero();
    Path out = tmp.resolve("empty");
    try (FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.READ)) {
      reader.copyTo(loc, 0, Check.CONTENT, ch, 0);
    }
    assertThat(out).isEmptyFile();
  }

  @ParameterizedTest
  @ValueSource(strings = {"none", "zstd"})
  void flippedPayloadByteFailsTheCrcOnEveryForm(String name) throws IOException {
    byte[] raw = content(1 << 20, SEED + 3);
    ChunkId id = putLoose(codec(name), raw);
    Path file = fileOf(id);
    flipByte(file, Frame.HEADER_LENGTH + (Files.size(file) - Frame.HEADER_LENGTH) / 2);
    Location loc = Location.loose(id);
    String where = reader.describe(loc);
    assertThat(where).isEqualTo(store.describe());
    for (Check check : Check.values()) {
      // the object named once, with where it is
      assertThatThrownBy(() -> reader.readInto(loc, raw.length, check, ByteBuffer.allocateDirect(raw.length)))
          .isInstanceOf(CorruptObjectException.class).hasMessageStartingWith("object " + id.hex() + " at " + where
              + " is corrupt: ").hasMessageContaining("checksum failed");
    }
    assertThatThrownBy(() -> reader.verify(loc, raw.length)).hasMessageContaining("checksum failed");
    assertThatThrownBy(() -> reader.readRange(loc, raw.length, 0, 10, Check.FRAME, ByteBuffer.allocate(10)))
        .hasMessageContaining("checksum failed");
    try (FileChannel ch = FileChannel.open(tmp.resolve("o"), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.READ)) {
      assertThatThrownBy(() -> reader.copyTo(loc, raw.length, Check.FRAME, ch, 0))
          .isInstanceOf(CorruptObjectException.class).hasMessageContaining("checksum failed");
    }
    java.io.ByteArrayOutputStream sink = new java.io.ByteArrayOutputStream();
    assertThatThrownBy(() -> reader.copyTo(loc, raw.length, Check.FRAME, Channels.newChannel(sink)))
        .isInstanceOf(CorruptObjectException.class);
    assertThat(sink.size()).as("no byte of a failing chunk reaches a plain channel").isZero();
    assertThatThrownBy(() -> reader.storedFrame(loc, raw.length, Check.FRAME))
        .isInstanceOf(CorruptObjectException.class);
  }

  @Test
  void flippedHeaderByteFails() throws IOException {
    byte[] raw = content(300_000, SEED + 4);
    ChunkId id = putLoose(codecs.none(), raw);
    flipByte(fileOf(id), 9);
    assertThatThrownBy(() -> reader.readInto(Location.loose(id), raw.length, Check.FRAME,
        ByteBuffer.allocate(raw.length))).isInstanceOf(CorruptObjectException.class)
        .hasMessageContaining("frame header");
  }

  @Test
  void lengthOtherThanTheSnapshotsFails() throws IOException {
    byte[] raw = content(300_000, SEED + 5);
    ChunkId id = putLoose(codecs.zstd(), raw);
    Location loc = Location.loose(id);
    assertThatThrownBy(() -> reader.readInto(loc, raw.length + 1, Check.FRAME, ByteBuffer.allocate(raw.length + 1)))
        .isInstanceOf(CorruptObjectException.class)
        .hasMessageContaining("frame holds " + raw.length + " raw bytes, the snapshot expects " + (raw.length + 1));
    assertThatThrownBy(() -> reader.verify(loc, raw.length - 1)).isInstanceOf(CorruptObjectException.class)
        .hasMessageContaining("the snapshot expects " + (raw.length - 1));
  }

  @ParameterizedTest
  @ValueSource(strings = {"none", "zstd"})
  void truncatedObjectIsCorruptNotAnEndOfFile(String name) throws IOException {
    byte[] raw = content(2 << 20, SEED + 6);
    ChunkId id = putLoose(codec(name), raw);
    Path file = fileOf(id);
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.setLength(f.length() - 100);
    }
    Location loc = Location.loose(id);
    for (Check check : Check.values()) {
      assertThatThrownBy(() -> reader.readInto(loc, raw.length, check, ByteBuffer.allocate(raw.length)))
          .isInstanceOf(CorruptObjectException.class).hasMessageContaining(id.hex());
    }
    assertThatThrownBy(() -> reader.verify(loc, raw.length)).isInstanceOf(CorruptObjectException.class);
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.setLength(10);
    }
    assertThatThrownBy(() -> reader.readInto(loc, raw.length, Check.FRAME, ByteBuffer.allocate(raw.length)))
        .isInstanceOf(CorruptObjectException.class).hasMessageContaining("truncated");
  }

  @Test
  void bytesPastTheFrameFailVerify() throws IOException {
    byte[] raw = content(300_000, SEED + 7);
    ChunkId id = putLoose(codecs.none(), raw);
    Files.write(fileOf(id), new byte[] {1, 2, 3}, StandardOpenOption.APPEND);
    assertThatThrownBy(() -> reader.verify(Location.loose(id), raw.length))
        .isInstanceOf(CorruptObjectException.class).hasMessageContaining("its frame header says");
  }

  /** Lends heap buffers and counts what is out, so a test sees every buffer come back. */
  private static final class CountingScratch implements ChunkReader.Scratch {
    int out;
    int lent;

    @Override
    public ByteBuffer take(int length) {
      out++;
      lent++;
      return ByteBuffer.allocate(length);
    }

    @Override
    public void give(ByteBuffer buffer) {
      out--;
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"none", "zstd", "float"})
  void verifyWithScratchChecksAsMuchAndGivesEveryBufferBack(String name) throws IOException {
    byte[] raw = content(2 << 20, SEED + 20);
    ChunkId id = putLoose(codec(name), raw);
    Location loc = Location.loose(id);
    CountingScratch scratch = new CountingScratch();
    assertThat(reader.verify(loc, raw.length, scratch)).isEqualTo(raw.length);
    // a compressed frame is read and decoded in the scratch's buffers; an uncompressed one streams
    assertThat(scratch.lent).isEqualTo(name.equals("none") ? 0 : 2);
    long size = Files.size(fileOf(id));

    flipByte(fileOf(id), size - 100);
    assertThatThrownBy(() -> reader.verify(loc, raw.length, scratch)).isInstanceOf(CorruptObjectException.class)
        .hasMessageContaining(id.hex());
    flipByte(fileOf(id), size - 100);
    assertThat(reader.verify(loc, raw.length, scratch)).isEqualTo(raw.length);

    Files.write(fileOf(id), new byte[] {1, 2, 3}, StandardOpenOption.APPEND);
    assertThatThrownBy(() -> reader.verify(loc, raw.length, scratch)).isInstanceOf(CorruptObjectException.class)
        .hasMessageContaining("its frame header says");
    try (FileChannel ch = FileChannel.open(fileOf(id), StandardOpenOption.WRITE)) {
      ch.truncate(size - 10);
    }
    assertThatThrownBy(() -> reader.verify(loc, raw.length, scratch)).isInstanceOf(CorruptObjectException.class)
        .hasMessageContaining(id.hex());
    assertThatThrownBy(() -> reader.verify(loc, raw.length + 1, scratch)).isInstanceOf(CorruptObjectException.class);
    assertThat(scratch.out).as("buffers still lent").isZero();
  }

  /**
   * A zstd payload whose CRC is right but that does not decode (forged, or written by a broken encoder): zstd-jni
   * throws a RuntimeException ("Data corruption detected"), which reached the user as that bare line, exit 1, naming
   * no object. It is a corrupt object now, named, with the codec's words.
   */
  @Test
  void aPayloadWithARightCrcThatTheCodecCannotDecodeIsACorruptObject() throws IOException {
    byte[] raw = content(1 << 20, SEED + 30);
    ByteBuffer encoded = codecs.zstd().encode(ByteBuffer.wrap(raw), new ChunkHint("BF16"));
    byte[] bad = new byte[encoded.remaining()];
    encoded.duplicate().get(bad);
    bad[0] ^= 0x55; // zstd's magic number
    ChunkId id = ChunkId.of(raw);
    ByteBuffer payload = ByteBuffer.wrap(bad);
    store.put(id, Frame.header(id, codecs.zstd().id(), 0, raw.length, payload), payload);
    Location loc = Location.loose(id);
    for (boolean direct : new boolean[] {true, false}) {
      assertThatThrownBy(() -> reader.readInto(loc, raw.length, Check.FRAME, buffer(direct, raw.length)))
          .isInstanceOf(CorruptObjectException.class).hasMessageContaining(id.hex())
          .hasMessageContaining("codec zstd");
    }
    assertThatThrownBy(() -> reader.verify(loc, raw.length)).isInstanceOf(CorruptObjectException.class)
        .hasMessageContaining("codec zstd");
  }

  @Test
  void swappedObjectFailsEveryRead() throws IOException {
    byte[] raw = content(300_000, SEED + 8);
    byte[] sameLength = content(300_000, SEED + 9);
    ChunkId id = putLoose(codecs.none(), raw);
    ChunkId same = putLoose(codecs.none(), sameLength);
    Files.copy(fileOf(same), fileOf(id), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    Location loc = Location.loose(id);
    String swapped = "the frame holds chunk " + same;
    for (Check check : Check.values()) {
      for (boolean direct : new boolean[] {true, false}) {
        assertThatThrownBy(() -> reader.readInto(loc, raw.length, check, buffer(direct, raw.length)))
            .isInstanceOf(CorruptObjectException.class).hasMessageContaining(id.hex()).hasMessageContaining(swapped);
      }
      assertThatThrownBy(() -> reader.readRange(loc, raw.length, 5, 10, check, ByteBuffer.allocate(5)))
          .isInstanceOf(CorruptObjectException.class).hasMessageContaining(swapped);
      assertThatThrownBy(() -> reader.storedFrame(loc, raw.length, check))
          .isInstanceOf(CorruptObjectException.class).hasMessageContaining(swapped);
      try (FileChannel ch = FileChannel.open(tmp.resolve("o"), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
          StandardOpenOption.READ)) {
        assertThatThrownBy(() -> reader.copyTo(loc, raw.length, check, ch, 0))
            .isInstanceOf(CorruptObjectException.class).hasMessageContaining(swapped);
      }
    }
    assertThatThrownBy(() -> reader.verify(loc, raw.length)).hasMessageContaining(swapped);
  }

  @Test
  void swappedFramesInAPackFailEveryRead() throws IOException {
    byte[] a = content(50_000, SEED + 20);
    byte[] b = content(50_000, SEED + 21);
    PackWriter w = new PackWriter();
    w.add(ChunkId.of(a), frame(codecs.none(), a));
    w.add(ChunkId.of(b), frame(codecs.none(), b));
    PackWriter.Finished pack = w.finish();
    byte[] bytes = bytes(pack.bytes());
    PackIndex.Entry ea = pack.index().entries().get(ChunkId.of(a));
    PackIndex.Entry eb = pack.index().entries().get(ChunkId.of(b));
    assertThat(ea.length()).isEqualTo(eb.length());
    byte[] fa = java.util.Arrays.copyOfRange(bytes, (int) ea.offset(), (int) ea.offset() + ea.length());
    System.arraycopy(bytes, (int) eb.offset(), bytes, (int) ea.offset(), eb.length());
    System.arraycopy(fa, 0, bytes, (int) eb.offset(), fa.length);
    store.put(pack.id(), ByteBuffer.wrap(bytes));
    Locator locator = Locator.of(List.of(pack.index()));
    for (byte[] raw : List.of(a, b)) {
      ChunkId id = ChunkId.of(raw);
      Location loc = locator.locate(id);
      for (Check check : Check.values()) {
        assertThatThrownBy(() -> reader.readInto(loc, raw.length, check, ByteBuffer.allocate(raw.length)))
            .isInstanceOf(CorruptObjectException.class).hasMessageContaining(id.hex())
            .hasMessageContaining("pack " + pack.id()).hasMessageContaining("the frame holds chunk");
      }
    }
  }

  @Test
  void swappedVersion1ObjectIsCaughtByItsLengthOrContent() throws IOException {
    byte[] raw = content(300_000, SEED + 8);
    byte[] sameLength = content(300_000, SEED + 9);
    byte[] otherLength = content(400_000, SEED + 10);
    ChunkId id = putLooseV1(codecs.none(), raw);
    ChunkId same = putLooseV1(codecs.none(), sameLength);
    ChunkId other = putLooseV1(codecs.zstd(), otherLength);
    // a frame of another length fails on every read, verifying or not
    Files.copy(fileOf(other), fileOf(id), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    assertThatThrownBy(() -> reader.readInto(Location.loose(id), raw.length, Check.FRAME,
        ByteBuffer.allocate(raw.length))).isInstanceOf(CorruptObjectException.class)
        .hasMessageContaining("the snapshot expects " + raw.length);
    // a well-formed frame of the same length is caught by the content check
    Files.copy(fileOf(same), fileOf(id), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    assertThatThrownBy(() -> reader.readInto(Location.loose(id), raw.length, Check.CONTENT,
        ByteBuffer.allocate(raw.length))).isInstanceOf(CorruptObjectException.class)
        .hasMessageContaining("content hashes to " + same);
    assertThatThrownBy(() -> reader.verify(Location.loose(id), raw.length))
        .hasMessageContaining("content hashes to " + same);
    try (FileChannel ch = FileChannel.open(tmp.resolve("o"), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.READ)) {
      assertThatThrownBy(() -> reader.copyTo(Location.loose(id), raw.length, Check.CONTENT, ch, 0))
          .hasMessageContaining("content hashes to " + same);
    }
  }

  @Test
  void damageInAPackNamesThePackAndOffset() throws IOException {
    PackWriter w = new PackWriter();
    byte[] a = content(50_000, SEED + 11);
    w.add(ChunkId.of(a), frame(codecs.zstd(), a));
    PackWriter.Finished pack = w.finish();
    store.put(pack.id(), pack.bytes());
    PackIndex.Entry e = pack.index().entries().get(ChunkId.of(a));
    flipByte(fileOf(pack.id()), e.offset() + Frame.HEADER_LENGTH + 5);
    Location loc = Locator.of(List.of(pack.index())).locate(ChunkId.of(a));
    assertThatThrownBy(() -> reader.verify(loc, a.length)).isInstanceOf(CorruptObjectException.class)
        .hasMessageContaining(ChunkId.of(a).hex()).hasMessageContaining("pack " + pack.id())
        .hasMessageContaining("at offset " + e.offset());
  }

  /** What a push's small-chunk lookup asks of a frame in another model's pack: does it hold these very bytes? */
  @Test
  void checkHoldsComparesAPackedFramesDecodedBytesWithTheContent() throws IOException {
    PackWriter w = new PackWriter();
    byte[] a = content(50_000, SEED + 12);
    byte[] forged = content(50_000, SEED + 13);
    w.add(ChunkId.of(a), frame(codecs.zstd(), a));
    ByteBuffer[] aFrame = frame(codecs.zstd(), a);
    // a frame naming one chunk around another's bytes, CRC and all
    w.add(ChunkId.of(forged), Frame.header(ChunkId.of(forged), codecs.zstd().id(), 0, a.length, aFrame[1]), aFrame[1]);
    PackWriter.Finished pack = w.finish();
    store.put(pack.id(), pack.bytes());
    Locator in = Locator.of(List.of(pack.index()));
    ByteBuffer content = ByteBuffer.wrap(a, 0, a.length);
    reader.checkHolds(in.locate(ChunkId.of(a)), content);
    assertThat(content.position()).isZero();
    assertThatThrownBy(() -> reader.checkHolds(in.locate(ChunkId.of(forged)), ByteBuffer.wrap(forged)))
        .isInstanceOf(CorruptObjectException.class).hasMessageContaining(ChunkId.of(forged).hex())
        .hasMessageContaining("pack " + pack.id()).hasMessageContaining("other bytes than the chunk's content");
    assertThatThrownBy(() -> reader.checkHolds(in.locate(ChunkId.of(a)), ByteBuffer.wrap(a, 0, a.length - 1)))
        .isInstanceOf(CorruptObjectException.class).hasMessageContaining("the snapshot expects " + (a.length - 1));
    PackIndex.Entry e = pack.index().entries().get(ChunkId.of(a));
    flipByte(fileOf(pack.id()), e.offset() + Frame.HEADER_LENGTH + 5);
    assertThatThrownBy(() -> reader.checkHolds(in.locate(ChunkId.of(a)), ByteBuffer.wrap(a)))
        .isInstanceOf(CorruptObjectException.class).hasMessageContaining("checksum");
  }

  @Test
  void missingLooseObjectAndMissingPackNameTheChunk() throws IOException {
    ChunkId absent = ChunkId.of(new byte[] {42});
    assertThatThrownBy(() -> reader.verify(Location.loose(absent), 1)).isInstanceOf(MissingObjectException.class)
        .hasMessageContaining(absent.hex()).hasMessageContaining(store.describe());
    ChunkId pack = ChunkId.of(new byte[] {43});
    assertThatThrownBy(() -> reader.readInto(Location.inPack(absent, pack, 16, 40), 1, Check.FRAME,
        ByteBuffer.allocate(1))).isInstanceOf(MissingObjectException.class).hasMessageContaining(absent.hex())
        .hasMessageContaining("pack " + pack).hasMessageContaining("offset 16");
  }

  @Test
  void smallObjectsAreCheckedCompletely() throws IOException {
    byte[] json = "{\"a\":1}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    ChunkId id = putLoose(codecs.zstd(), json);
    assertThat(reader.readObject(id)).isEqualTo(json);
    byte[] other = "{\"a\":2}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    Files.copy(fileOf(putLoose(codecs.zstd(), other)), fileOf(id), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    assertThatThrownBy(() -> reader.readObject(id)).isInstanceOf(CorruptObjectException.class)
        .hasMessageContaining("the frame holds chunk " + ChunkId.of(other));
    // version 1 frames carry no id: the SHA-256, checked on every read of a small object, catches the swap
    ChunkId v1 = putLooseV1(codecs.zstd(), "{\"b\":1}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
    byte[] another = "{\"b\":2}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    Files.copy(fileOf(putLooseV1(codecs.zstd(), another)), fileOf(v1),
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    assertThatThrownBy(() -> reader.readObject(v1)).isInstanceOf(CorruptObjectException.class)
        .hasMessageContaining("content hashes to");
  }

  @ParameterizedTest
  @ValueSource(strings = {"none", "zstd", "float"})
  void version1FramesStillReadAndVerify(String name) throws IOException {
    byte[] raw = content(1 << 20, SEED + 30);
    ChunkId id = putLooseV1(codec(name), raw);
    assertThat(Files.size(fileOf(id)) - Frame.V1_HEADER_LENGTH).isEqualTo(frame(codec(name), raw)[1].remaining());
    Location loc = Location.loose(id);
    for (Check check : Check.values()) {
      ByteBuffer dst = ByteBuffer.allocateDirect(raw.length);
      reader.readInto(loc, raw.length, check, dst);
      assertThat(bytes(dst.flip())).isEqualTo(raw);
      try (FileChannel ch = FileChannel.open(tmp.resolve("o-" + check), StandardOpenOption.CREATE,
          StandardOpenOption.WRITE, StandardOpenOption.READ)) {
        reader.copyTo(loc, raw.length, check, ch, 0);
      }
      assertThat(Files.readAllBytes(tmp.resolve("o-" + check))).isEqualTo(raw);
    }
    assertThat(reader.verify(loc, raw.length)).isEqualTo(raw.length);
    ByteBuffer part = ByteBuffer.allocate(10);
    reader.readRange(loc, raw.length, 1000, 1010, Check.CONTENT, part);
    assertThat(bytes(part.flip())).isEqualTo(java.util.Arrays.copyOfRange(raw, 1000, 1010));
    assertThat(reader.storedFrame(loc, raw.length, Check.CONTENT).remaining()).isEqualTo(Files.size(fileOf(id)));

    PackWriter w = new PackWriter();
    byte[] small = content(40_000, SEED + 31);
    w.add(ChunkId.of(small), v1Frame(codec(name), small));
    PackWriter.Finished pack = w.finish();
    store.put(pack.id(), pack.bytes());
    Location packed = Locator.of(List.of(pack.index())).locate(ChunkId.of(small));
    ByteBuffer dst = ByteBuffer.allocate(small.length);
    reader.readInto(packed, small.length, Check.FRAME, dst);
    assertThat(bytes(dst.flip())).isEqualTo(small);
    assertThat(reader.verify(packed, small.length)).isEqualTo(small.length);

    byte[] json = "{\"v\":1}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    ChunkId obj = putLooseV1(codec("none"), json);
    assertThat(reader.readObject(obj)).isEqualTo(json);
  }

  /** A version 1 object shorter than a version 2 header (a well-compressed chunk) is read, not taken as truncated. */
  @Test
  void version1ObjectShorterThanACurrentHeaderReads() throws IOException {
    byte[] zeros = new byte[300_000];
    ChunkId id = putLooseV1(codecs.zstd(), zeros);
    assertThat(Files.size(fileOf(id))).isLessThan(Frame.HEADER_LENGTH);
    ByteBuffer dst = ByteBuffer.allocate(zeros.length);
    reader.readInto(Location.loose(id), zeros.length, Check.FRAME, dst);
    assertThat(bytes(dst.flip())).isEqualTo(zeros);
    assertThat(reader.verify(Location.loose(id), zeros.length)).isEqualTo(zeros.length);
  }
}
