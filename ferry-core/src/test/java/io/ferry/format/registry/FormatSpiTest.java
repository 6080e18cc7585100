package io.ferry.format.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.chunk.ChunkPlanner;
import io.ferry.codec.CodecPolicy;
import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.DirectoryFormat;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.TensorFormat;
import io.ferry.format.TensorInfo;
import io.ferry.format.safetensors.SafetensorsWriter;
import io.ferry.format.toy.ToyFiles;
import io.ferry.format.toy.ToyFiles.Spec;
import io.ferry.format.toy.ToyFormat;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.scan.ModelFiles;
import io.ferry.scan.ModelFiles.SourceFile;
import io.ferry.store.StoreOptions;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The format SPI as a module sees it: a format registered through ServiceLoader, matching rules, conflicts. */
class FormatSpiTest {
  @TempDir Path tmp;

  private static final List<Spec> TOY_TENSORS = List.of(
      new Spec("a", DType.F32, 4, 8),
      new Spec("b", DType.BF16, 3),
      new Spec("empty", DType.F32, 0),
      new Spec("c", DType.U8, 10));

  @Test
  void standardRegistryHasTheBuiltInsThenTheServiceLoadedFormats() {
    FormatRegistry r = FormatRegistry.standard();
    assertThat(r.formats()).extracting(TensorFormat::name).containsExactly("safetensors", "torch", "gguf", "toy");
    assertThat(r.directoryFormats()).extracting(DirectoryFormat::name).containsExactly("hf-index", "gguf-split", "toy-index");
  }

  @Test
  void aServiceLoadedFormatIsPickedByItsMagicAndItsTensorsBecomeChunks() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("model"));
    Path file = dir.resolve("weights.bin"); // a name no format claims: recognised by its first bytes
    long[] starts = ToyFiles.write(file, 1, TOY_TENSORS);

    List<SourceFile> files = ModelFiles.scan(dir);
    FileLayout layout = files.get(0).layout();
    assertThat(layout).isNotNull();
    assertThat(layout.format()).isEqualTo("toy");
    assertThat(layout.metadata(ToyFormat.ToyMetadata.class)).contains(new ToyFormat.ToyMetadata(4));
    assertThat(layout.tensors()).extracting(TensorInfo::name).containsExactly("a", "b", "empty", "c");

    // header and its padding: one chunk; each tensor: one chunk; padding between tensors: a chunk of its own
    List<long[]> cuts = new ArrayList<>();
    for (ChunkPlanner.Range r : ChunkPlanner.standard().plan(layout)) {
      cuts.add(new long[] {r.start(), r.end()});
    }
    long size = Files.size(file);
    assertThat(cuts).containsExactly(
        new long[] {0, starts[0]},
        new long[] {starts[0], starts[0] + 128},
        new long[] {starts[1], starts[1] + 6},
        new long[] {starts[1] + 6, starts[3]},
        new long[] {starts[3], size});

    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(dir, "toy", PushOptions.builder().codec(CodecPolicy.NONE).build());
      Snapshot s = repo.snapshot(repo.resolve("toy"));
      FileEntry e = s.file("weights.bin").orElseThrow();
      assertThat(e.format()).isEqualTo("toy");
      assertThat(e.dataStart()).isEqualTo(starts[0]);
      assertThat(e.metadata()).isEqualTo(Map.of("toy.count", "4"));
      assertThat(e.tensors()).extracting(TensorInfo::name).containsExactly("a", "b", "empty", "c");
      assertThat(e.tensors().get(1).begin()).isEqualTo(starts[1] - starts[0]);
      // the chunk of tensor 'a' is exactly its bytes
      ChunkRef a = e.chunks().get(1);
      assertThat(a.length()).isEqualTo(128);
      assertThat(a.id().hex()).isEqualTo(sha256(file, starts[0], 128));
    }
  }

  @Test
  void aClaimedExtensionCommitsTheFileToItsFormat() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("m"));
    Files.writeString(dir.resolve("broken.toy"), "not a toy at all");
    assertThatThrownBy(() -> ModelFiles.scan(dir)).isInstanceOf(InvalidInputException.class)
        .hasMessage("broken.toy: no FTOY magic at byte 0");
    // the same bytes under a name no format claims are an opaque file
    Files.move(dir.resolve("broken.toy"), dir.resolve("notes.bin"));
    assertThat(ModelFiles.scan(dir).get(0).layout()).isNull();
  }

  @Test
  void anExtensionWinsOverAnotherFormatsMagic() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("m"));
    ToyFiles.write(dir.resolve("model.safetensors"), 2, TOY_TENSORS);
    // "FTOY" + count 4 read as a little-endian header length
    assertThatThrownBy(() -> ModelFiles.scan(dir)).isInstanceOf(InvalidInputException.class)
        .hasMessageStartingWith("model.safetensors: header length ")
        .hasMessageEndingWith(" is above the limit of 100000000 bytes");
  }

  /**
   * Garbage bytes in a file named like safetensors: the same errors, word for word, as before the SPI (checked on
   * that code with the same pushes).
   */
  @Test
  void garbageWithTheSafetensorsExtensionGivesTheSameErrorsAsBefore() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("m"));
    Files.createDirectories(dir.resolve("sub"));
    Files.writeString(dir.resolve("sub/garbage.safetensors"), "this is not a model at all\n");
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      assertThatThrownBy(() -> repo.push(dir, "m", PushOptions.builder().build()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessage("sub/garbage.safetensors: header length 2338328219631577204 is above the limit of 100000000"
              + " bytes");
      Path one = tmp.resolve("short.safetensors");
      Files.writeString(one, "short");
      assertThatThrownBy(() -> repo.push(one, "m", PushOptions.builder().build()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessage("short.safetensors: file is 5 bytes, shorter than the 8-byte header length field");
      Path past = tmp.resolve("past.safetensors");
      Files.write(past, new byte[] {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'});
      assertThatThrownBy(() -> repo.push(past, "m", PushOptions.builder().build()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessage("past.safetensors: header length 100 runs past the end of the file (8 + 100 > 10 bytes)");
    }
  }

  /** Safetensors has no magic: its bytes under another name are opaque, as they always were (see docs/formats.md). */
  @Test
  void safetensorsBytesUnderAnotherNameAreOpaque() throws IOException {
    Path file = tmp.resolve("weights.st.bin");
    ByteBuffer header = SafetensorsWriter.header(Map.of(), List.of(new TensorInfo("w", DType.U8, List.of(4L), 0, 4)));
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ch.write(header);
      ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3, 4}));
    }
    try (FileChannel ch = FileChannel.open(file)) {
      assertThat(FormatRegistry.standard().read(new FormatInput("weights.st.bin", ch, ch.size()))).isEmpty();
    }
    Path renamed = Files.copy(file, tmp.resolve("weights.safetensors"));
    try (FileChannel ch = FileChannel.open(renamed)) {
      assertThat(FormatRegistry.standard().read(new FormatInput("weights.safetensors", ch, ch.size())))
          .hasValueSatisfying(l -> assertThat(l.format()).isEqualTo("safetensors"));
    }
  }

  @Test
  void aServiceLoadedDirectoryFormatChecksTheFilesTogether() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("m/sub"));
    ToyFiles.write(dir.resolve("a.toy"), 3, TOY_TENSORS);
    Files.writeString(dir.resolve("toy.index"), "a.toy\n");
    assertThat(ModelFiles.scan(tmp.resolve("m"))).hasSize(2);
    Files.writeString(dir.resolve("toy.index"), "a.toy\nb.toy\n");
    assertThatThrownBy(() -> ModelFiles.scan(tmp.resolve("m"))).isInstanceOf(InvalidInputException.class)
        .hasMessage("sub/toy.index: shard 'b.toy' is missing or not a toy file");
  }

  @Test
  void conflictingFormatsAreRefusedWhenTheRegistryIsBuilt() {
    TensorFormat otherToy = format("other", Set.of(".toy"), false);
    assertThatThrownBy(() -> FormatRegistry.of(List.of(new ToyFormat(), otherToy), List.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("formats 'toy' and 'other' both claim files ending in '.toy'");
    assertThatThrownBy(() -> FormatRegistry.of(List.of(new ToyFormat(), format("toy", Set.of(), false)), List.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("two formats are named 'toy'");
    assertThatThrownBy(() -> FormatRegistry.of(List.of(format("opaque", Set.of(), false)), List.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not 'opaque'");
  }

  @Test
  void twoFormatsRecognisingTheSameBytesIsAnError() {
    FormatRegistry r = FormatRegistry.of(List.of(new ToyFormat(), format("greedy", Set.of(".g"), true)), List.of());
    ByteBuffer head = ByteBuffer.wrap("FTOY....".getBytes(StandardCharsets.US_ASCII));
    assertThatThrownBy(() -> r.recognise("x.bin", head, 8)).isInstanceOf(IllegalStateException.class)
        .hasMessage("x.bin: formats 'toy' and 'greedy' both recognise its first bytes; formats must not share a"
            + " magic number");
    // a claimed extension is never probed
    assertThat(r.recognise("x.g", head, 8)).hasValueSatisfying(f -> assertThat(f.name()).isEqualTo("greedy"));
    assertThat(r.recognise("x.toy", head, 8)).hasValueSatisfying(f -> assertThat(f.name()).isEqualTo("toy"));
  }

  @Test
  void theLongestClaimedEndingWins() {
    FormatRegistry r = FormatRegistry.of(
        List.of(format("gz", Set.of(".gz"), false), format("targz", Set.of(".tar.gz"), false)), List.of());
    assertThat(r.byName("a.tar.gz")).hasValueSatisfying(f -> assertThat(f.name()).isEqualTo("targz"));
    assertThat(r.byName("a.gz")).hasValueSatisfying(f -> assertThat(f.name()).isEqualTo("gz"));
    assertThat(r.byName("a.GZ")).isEmpty();
  }

  private static TensorFormat format(String name, Set<String> extensions, boolean greedy) {
    return new TensorFormat() {
      @Override
      public String name() {
        return name;
      }

      @Override
      public Set<String> extensions() {
        return extensions;
      }

      @Override
      public boolean recognises(ByteBuffer head, long size) {
        return greedy;
      }

      @Override
      public FileLayout read(FormatInput in) {
        throw new UnsupportedOperationException();
      }
    };
  }

  private static String sha256(Path file, long at, int length) throws IOException {
    try (FileChannel ch = FileChannel.open(file)) {
      ByteBuffer b = ByteBuffer.allocate(length);
      ch.read(b, at);
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      md.update(b.flip());
      return HexFormat.of().formatHex(md.digest());
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }
}
