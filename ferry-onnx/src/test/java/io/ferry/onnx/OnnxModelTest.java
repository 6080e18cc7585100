package io.ferry.onnx;

import static io.ferry.onnx.OnnxFiles.list;
import static io.ferry.onnx.OnnxFiles.model;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.codec.CodecPolicy;
import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.TensorInfo;
import io.ferry.onnx.OnnxFiles.Init;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.PullOptions;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real trained ONNX model (all-MiniLM-L6-v2, int8-quantized, from the LangChain4j jar on Maven Central) and models
 * with external data, pushed and pulled through a repository.
 */
class OnnxModelTest {
  /** Unpacked from the jar by the build (generate-test-resources). */
  static final Path MODEL = Path.of("target/test-models/all-minilm-l6-v2-q.onnx");

  @TempDir Path tmp;

  private static Repository open(Path store) throws IOException {
    return Ferry.open(store.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
  }

  @Test
  void realModelListsItsInitializersAndRoundTrips() throws IOException {
    assertThat(MODEL).exists();
    FileLayout l;
    try (FileChannel ch = FileChannel.open(MODEL)) {
      l = new OnnxFormat().read(new FormatInput(MODEL.getFileName().toString(), ch, ch.size()));
    }
    List<TensorInfo> tensors = l.tensors();
    OnnxMetadata m = l.metadata(OnnxMetadata.class).orElseThrow();
    long tensorBytes = tensors.stream().mapToLong(TensorInfo::byteLength).sum();
    assertThat(tensors).hasSizeGreaterThan(100);
    assertThat(m.initializers()).isEqualTo(tensors.size() + m.unlisted());
    assertThat(tensorBytes).isGreaterThan(l.size() * 9 / 10);
    assertThat(tensors).extracting(TensorInfo::dtype).contains(DType.F32, DType.I8, DType.U8, DType.I64);
    assertThat(m.initializers()).isEqualTo(180);
    assertThat(tensors).hasSize(141);
    assertThat(m.asStrings()).containsKey("opset_import").containsKey("ir_version");
    TensorInfo embeddings = tensors.stream()
        .filter(t -> t.name().equals("embeddings.word_embeddings.weight_quantized")).findFirst().orElseThrow();
    assertThat(embeddings.dtype()).isEqualTo(DType.U8);
    assertThat(embeddings.shape()).containsExactly(30522L, 384L);
    assertThat(embeddings.rowBytes()).isEqualTo(384);

    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.copy(MODEL, src.resolve("model.onnx"));
    try (Repository repo = open(tmp.resolve("store"))) {
      repo.push(src, "minilm", PushOptions.builder().codec(CodecPolicy.NONE).build());
      Snapshot s = repo.snapshot(repo.resolve("minilm"));
      FileEntry f = s.file("model.onnx").orElseThrow();
      assertThat(f.format()).isEqualTo("onnx");
      assertThat(f.tensors()).isEqualTo(tensors);
      assertThat(f.metadata()).isEqualTo(m.asStrings());
      Path out = tmp.resolve("out");
      repo.pull("minilm", out, PullOptions.defaults());
      assertThat(out.resolve("model.onnx")).hasSameBinaryContentAs(MODEL);
    }
  }

  private static Path externalModel(Path dir, String location, long offset) throws IOException {
    Files.createDirectories(dir);
    Files.write(dir.resolve("model.onnx"), model(list(new Init("inline", 1, 4).raw(16, 1),
        new Init("big", 1, 64, 64).external(Map.of("location", location, "offset", Long.toString(offset))))));
    return dir;
  }

  @Test
  void externalDataIsCheckedAgainstTheModelsFiles() throws IOException {
    Path ok = externalModel(tmp.resolve("ok"), "weights/big.bin", 4096);
    Files.createDirectories(ok.resolve("weights"));
    byte[] bigBytes = new byte[4096 + 64 * 64 * 4 + 100];
    new java.util.Random(3).nextBytes(bigBytes);
    Files.write(ok.resolve("weights/big.bin"), bigBytes);
    try (Repository repo = open(tmp.resolve("store"))) {
      repo.push(ok, "ext", PushOptions.builder().codec(CodecPolicy.NONE).build());
      Snapshot s = repo.snapshot(repo.resolve("ext"));
      assertThat(s.file("model.onnx").orElseThrow().metadata())
          .containsEntry("external.big", "F32 [64, 64] in weights/big.bin at 4096+16384");
      // the data file is cut at its initializer, which reads by name like any file's tensor
      FileEntry data = s.file("weights/big.bin").orElseThrow();
      assertThat(data.format()).isEqualTo(OnnxExternalDataFormat.DATA_FORMAT);
      assertThat(data.tensors()).containsExactly(new TensorInfo("big", DType.F32, List.of(64L, 64L), 4096, 20480));
      assertThat(data.metadata()).containsEntry("model", "model.onnx").containsEntry("initializers", "1");
      try (io.ferry.read.ModelReader r = repo.open("ext")) {
        assertThat(r.read("big").array()).isEqualTo(java.util.Arrays.copyOfRange(bigBytes, 4096, 20480));
        // asked for in the .onnx file, which names it, it was only "no tensor 'big' in model.onnx"
        assertThatThrownBy(() -> r.tensor("model.onnx", "big")).isInstanceOf(io.ferry.error.NotFoundException.class)
            .hasMessageEndingWith("has no tensor 'big' in model.onnx; in model.onnx, 'big' is an initializer whose"
                + " data is external (F32 [64, 64] in weights/big.bin at 4096+16384): it is tensor 'big' of"
                + " weights/big.bin");
      }
      Path out = tmp.resolve("out");
      repo.pull("ext", out, PullOptions.defaults());
      assertThat(out.resolve("model.onnx")).hasSameBinaryContentAs(ok.resolve("model.onnx"));

      Path missing = externalModel(tmp.resolve("missing"), "big.bin", 0);
      assertThatThrownBy(() -> repo.push(missing, "missing", PushOptions.builder().codec(CodecPolicy.NONE).build()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessage("model.onnx: initializer 'big': its external data file 'big.bin' is not a file of the model "
              + "(expected big.bin)");
      // the model file pushed alone, its data beside it: the error says to push the directory
      Files.write(missing.resolve("big.bin"), bigBytes);
      assertThatThrownBy(() -> repo.push(missing.resolve("model.onnx"), "alone",
          PushOptions.builder().codec(CodecPolicy.NONE).build()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessage("model.onnx: initializer 'big': its external data file 'big.bin' is not a file of the model "
              + "(expected big.bin; it is beside the pushed file but not pushed: push its directory "
              + missing.toAbsolutePath() + " to take both)");
      repo.push(missing, "whole", PushOptions.builder().codec(CodecPolicy.NONE).build());
      Path shortFile = externalModel(tmp.resolve("short"), "big.bin", 100);
      Files.write(shortFile.resolve("big.bin"), new byte[16384]);
      assertThatThrownBy(() -> repo.push(shortFile, "short", PushOptions.builder().codec(CodecPolicy.NONE).build()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessage("model.onnx: initializer 'big': 16384 bytes at offset 100 of big.bin run past its end (16384 "
              + "bytes)");
      Path int4 = Files.createDirectories(tmp.resolve("int4"));
      Files.write(int4.resolve("model.onnx"), model(list(new Init("q", 22, 3).external(Map.of("location", "q.bin")))));
      assertThatThrownBy(() -> repo.push(int4, "int4", PushOptions.builder().codec(CodecPolicy.NONE).build()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessage("model.onnx: initializer 'q': its external data file 'q.bin' is not a file of the model "
              + "(expected q.bin)");
      // a location that names a directory of the model: it was 'not a file of the model (expected d)', though d is
      // there
      Path dir = Files.createDirectories(tmp.resolve("dirloc"));
      Files.write(dir.resolve("model.onnx"), model(list(new Init("w", 1, 4).external(Map.of("location", "d")))));
      Files.write(Files.createDirectories(dir.resolve("d")).resolve("w.bin"), new byte[16]);
      assertThatThrownBy(() -> repo.push(dir, "dirloc", PushOptions.builder().codec(CodecPolicy.NONE).build()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessage("model.onnx: initializer 'w': its external data file 'd' is a directory of the model, not a file"
              + " (onnx and onnxruntime cannot read data from a directory)");
      // a length past the end of the file, for an initializer Ferry has no byte length for (an odd count of INT4
      // values, whose last byte onnx pads): onnx refuses it; it was pushed
      Path int4Short = Files.createDirectories(tmp.resolve("int4short"));
      Files.write(int4Short.resolve("model.onnx"), model(list(new Init("q", 22, 5).external(Map.of("location",
          "q.bin", "offset", "0", "length", "3")))));
      Files.write(int4Short.resolve("q.bin"), new byte[2]);
      assertThatThrownBy(() -> repo.push(int4Short, "int4short", PushOptions.builder().codec(CodecPolicy.NONE)
          .build())).isInstanceOf(InvalidInputException.class)
          .hasMessage("model.onnx: initializer 'q': 3 bytes at offset 0 of q.bin run past its end (2 bytes)");
      Path outside = Files.write(tmp.resolve("outside.bin"), new byte[16384]);
      Path linked = externalModel(tmp.resolve("linked"), "big.bin", 0);
      Files.createSymbolicLink(linked.resolve("big.bin"), outside);
      assertThatThrownBy(() -> repo.push(linked, "linked", PushOptions.builder().codec(CodecPolicy.NONE).build()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessage("model.onnx: initializer 'big': its external data file big.bin is a symbolic link (or lies "
              + "under one) that leads out of the model's directory; external data must lie in it");
      assertThat(repo.snapshot(repo.resolve("ext"))).isEqualTo(s);
    }
  }

  /**
   * The directory checks of a tensor below the main graph (an If body's initializer) name it as the reader's checks
   * of that tensor and {@code cat --tensor} do: its role, its name and where it lies. They named it {@code tensor 's'
   * at byte N}, as its metadata key does.
   */
  @Test
  void directoryChecksOfATensorBelowTheGraphNameItAsTheReaderDoes() throws IOException {
    byte[] body = OnnxFiles.message(a -> {
      a.writeString(1, "then_branch");
      a.writeByteArray(6, OnnxFiles.graph(list(new Init("s", 1, 2).external(Map.of("location", "s.bin")))));
    });
    byte[] graph = OnnxFiles.message(g -> {
      g.writeByteArray(1, OnnxFiles.message(n -> {
        n.writeString(3, "if0");
        n.writeString(4, "If");
        n.writeByteArray(5, body);
      }));
      g.writeString(2, "g");
    });
    Path dir = Files.createDirectories(tmp.resolve("below"));
    Files.write(dir.resolve("model.onnx"), OnnxFiles.message(o -> {
      o.writeInt64(1, 8);
      o.writeByteArray(7, graph);
    }));
    String what = "model\\.onnx: initializer 's' of subgraph then_branch of node 'if0' \\(If\\), at byte \\d+: ";
    try (Repository repo = open(tmp.resolve("store"))) {
      assertThatThrownBy(() -> repo.push(dir, "below", PushOptions.builder().codec(CodecPolicy.NONE).build()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessageMatching(what + "its external data file 's\\.bin' is not a file of the model \\(expected"
              + " s\\.bin\\)");
      Files.write(dir.resolve("s.bin"), new byte[4]);
      assertThatThrownBy(() -> repo.push(dir, "below", PushOptions.builder().codec(CodecPolicy.NONE).build()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessageMatching(what + "8 bytes at offset 0 of s\\.bin run past its end \\(4 bytes\\)");
      assertThat(repo.models()).isEmpty();
      Files.write(dir.resolve("s.bin"), new byte[8]);
      repo.push(dir, "below", PushOptions.builder().codec(CodecPolicy.NONE).build());
      assertThat(repo.snapshot(repo.resolve("below")).file("model.onnx").orElseThrow().metadata())
          .containsKey("external.tensor 's' at byte 50");
    }
  }

  /**
   * A data file stays opaque where a tensor layout could not be exact: an initializer of a type without a Ferry dtype
   * (INT4), two initializers that overlap, a file two models point into, or a push that names it with --opaque. It is
   * still checked and pulled byte-identical.
   */
  @Test
  void externalDataStaysOpaqueWhereItCannotBeCutExactly() throws IOException {
    try (Repository repo = open(tmp.resolve("store"))) {
      Path int4 = Files.createDirectories(tmp.resolve("int4"));
      Files.write(int4.resolve("model.onnx"), model(list(new Init("q", 22, 3).external(Map.of("location", "q.bin")),
          new Init("f", 1, 4).external(Map.of("location", "q.bin", "offset", "8")))));
      Files.write(int4.resolve("q.bin"), new byte[24]);
      Path overlap = Files.createDirectories(tmp.resolve("overlap"));
      Files.write(overlap.resolve("model.onnx"), model(list(
          new Init("a", 1, 4).external(Map.of("location", "w.bin")),
          new Init("b", 1, 4).external(Map.of("location", "w.bin", "offset", "8")))));
      Files.write(overlap.resolve("w.bin"), new byte[24]);
      Path shared = Files.createDirectories(tmp.resolve("shared"));
      Files.write(shared.resolve("a.onnx"), model(list(new Init("a", 1, 4).external(Map.of("location", "w.bin")))));
      Files.write(shared.resolve("b.onnx"), model(list(
          new Init("b", 1, 4).external(Map.of("location", "w.bin", "offset", "16")))));
      Files.write(shared.resolve("w.bin"), new byte[32]);
      for (Path dir : List.of(int4, overlap, shared)) {
        String name = dir.getFileName().toString();
        repo.push(dir, name, PushOptions.builder().codec(CodecPolicy.NONE).build());
        Snapshot s = repo.snapshot(repo.resolve(name));
        String dataFile = name.equals("int4") ? "q.bin" : "w.bin";
        assertThat(s.file(dataFile).orElseThrow().format()).as(name).isEqualTo(FileEntry.OPAQUE);
        Path out = tmp.resolve("out-" + name);
        repo.pull(name, out, PullOptions.defaults());
        assertThat(out.resolve(dataFile)).hasSameBinaryContentAs(dir.resolve(dataFile));
      }
      // asking for such an initializer by name said only "has no tensor 'b'", though show lists it as external
      try (io.ferry.read.ModelReader r = repo.open("overlap")) {
        assertThatThrownBy(() -> r.tensor("b")).isInstanceOf(io.ferry.error.NotFoundException.class)
            .hasMessageEndingWith("has no tensor 'b'; in model.onnx, 'b' is an initializer whose data is external"
                + " (F32 [4] in w.bin at 8+16), in a file Ferry stores as opaque bytes, not cut at its initializers"
                + " (two of them overlap, one has no Ferry dtype, two ONNX files point into it, or the push named it"
                + " with --opaque): read those bytes of that file instead");
        assertThatThrownBy(() -> r.tensor("model.onnx", "a")).isInstanceOf(io.ferry.error.NotFoundException.class)
            .hasMessageContaining("'a' is an initializer whose data is external (F32 [4] in w.bin at 0+16)");
        assertThatThrownBy(() -> r.tensor("c")).isInstanceOf(io.ferry.error.NotFoundException.class)
            .hasMessageEndingWith("has no tensor 'c'");
      }
      Path ok = externalModel(tmp.resolve("ok"), "big.bin", 0);
      Files.write(ok.resolve("big.bin"), new byte[64 * 64 * 4]);
      repo.push(ok, "forced", PushOptions.builder().codec(CodecPolicy.NONE)
          .opaque(io.ferry.scan.PathFilter.anyOf("--opaque", List.of("big.bin"))).build());
      assertThat(repo.snapshot(repo.resolve("forced")).file("big.bin").orElseThrow().format())
          .isEqualTo(FileEntry.OPAQUE);
    }
  }
}
