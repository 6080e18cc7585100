package io.ferry.onnx;

import static io.ferry.onnx.OnnxFiles.list;
import static io.ferry.onnx.OnnxFiles.model;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.Region;
import io.ferry.format.TensorInfo;
import io.ferry.format.registry.FormatRegistry;
import io.ferry.onnx.OnnxFiles.Init;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The ONNX reader on models written field by field: layouts, metadata, and each refusal with its message. */
class OnnxFormatTest {
  @TempDir Path tmp;

  private FileLayout read(byte[] bytes) throws IOException {
    Path f = Files.write(tmp.resolve("m.onnx"), bytes);
    try (FileChannel ch = FileChannel.open(f)) {
      return new OnnxFormat().read(new FormatInput("m.onnx", ch, ch.size()));
    }
  }

  private void refused(byte[] bytes, String message) {
    assertThatThrownBy(() -> read(bytes)).isInstanceOf(InvalidInputException.class).hasMessage("m.onnx: " + message);
  }

  @Test
  void initializersBecomeTensorRegionsAtTheirBytes() throws IOException {
    Init w = new Init("w", 1, 3, 4).raw(48, 1);
    Init h = new Init("h", 10, 5).raw(10, 2);
    Init f = new Init("f", 1, 2).floats(1.5f, -2f);
    Init shape = new Init("shape", 7, 2).int64s(1, -1);
    Init ext = new Init("e", 16, 8, 2).external(Map.of("location", "./data/w.bin", "offset", "64", "length", "32"));
    Init str = new Init("s", 8, 2).strings("ab", "");
    byte[] file = model(list(w, h, f, shape, ext, str));
    FileLayout l = read(file);
    assertThat(l.format()).isEqualTo("onnx");
    assertThat(l.dataStart()).isZero();
    assertThat(l.tensors()).extracting(TensorInfo::name, TensorInfo::dtype, TensorInfo::shape).containsExactly(
        org.assertj.core.groups.Tuple.tuple("w", DType.F32, List.of(3L, 4L)),
        org.assertj.core.groups.Tuple.tuple("h", DType.F16, List.of(5L)),
        org.assertj.core.groups.Tuple.tuple("f", DType.F32, List.of(2L)));
    for (Region.Tensor t : l.tensorRegions()) {
      byte[] at = Arrays.copyOfRange(file, (int) t.start(), (int) t.end());
      switch (t.name()) {
        case "w" -> assertThat(at).isEqualTo(w.raw);
        case "h" -> assertThat(at).isEqualTo(h.raw);
        default -> assertThat(ByteBuffer.wrap(at).order(ByteOrder.LITTLE_ENDIAN).getFloat(4)).isEqualTo(-2f);
      }
    }
    assertThat(l.tensorRegions().get(0).rowBytes()).isEqualTo(16);
    assertThat(l.regions().get(0)).isInstanceOf(Region.Header.class);
    assertThat(l.regions().get(l.regions().size() - 1)).isInstanceOf(Region.Header.class);
    OnnxMetadata m = l.metadata(OnnxMetadata.class).orElseThrow();
    assertThat(m.external()).containsExactly(
        new OnnxMetadata.External("e", DType.BF16, List.of(8L, 2L), "data/w.bin", 64, 32));
    assertThat(m.asStrings()).containsExactly(
        Map.entry("external.e", "BF16 [8, 2] in data/w.bin at 64+32"),
        Map.entry("initializers", "6"),
        Map.entry("initializers.unlisted", "2"),
        Map.entry("ir_version", "8"),
        Map.entry("metadata_props.author", "ferry"),
        Map.entry("opset_import", "ai.onnx=17"),
        Map.entry("producer_name", "ferry-test"));
  }

  @Test
  void foundThroughServiceLoader() {
    FormatRegistry r = FormatRegistry.standard();
    assertThat(r.byName("model.onnx")).get().isInstanceOf(OnnxFormat.class);
    assertThat(r.directoryFormats()).anyMatch(d -> d instanceof OnnxExternalDataFormat);
  }

  @Test
  void emptyInitializersNeedNoData() throws IOException {
    FileLayout l = read(model(list(new Init("empty", 1, 0, 4), new Init("w", 1, 2).raw(8, 1))));
    assertThat(l.tensors()).extracting(TensorInfo::name).containsExactly("w");
  }

  @Test
  void float6InitializersOfOnnx123AreListed() throws IOException {
    // FLOAT6E2M3 (27) and FLOAT6E3M2 (28), which onnx 1.23 writes packed (4 elements in 3 bytes); were refused
    FileLayout l = read(model(list(new Init("a", 27, 2, 4).raw(6, 1), new Init("b", 28, 4).raw(3, 2),
        new Init("odd", 27, 5).raw(4, 3))));
    assertThat(l.tensors()).extracting(TensorInfo::name, TensorInfo::dtype, TensorInfo::shape).containsExactly(
        org.assertj.core.groups.Tuple.tuple("a", DType.F6_E2M3, List.of(2L, 4L)),
        org.assertj.core.groups.Tuple.tuple("b", DType.F6_E3M2, List.of(4L)));
    assertThat(l.metadata(OnnxMetadata.class).orElseThrow().asStrings()).containsEntry("initializers.unlisted", "1");
    refused(model(list(new Init("w", 29, 2).raw(8, 1))),
        "initializer 'w': data_type 29 is not an ONNX element type (1 to 28)");
  }

  /**
   * UINT4 (21), INT4 (22), UINT2 (25), INT2 (26), packed as onnx packs them (two or four a byte), and COMPLEX128 (15),
   * in raw_data or in double_data: they had no Ferry dtype and were stored unlisted. A packed count that does not fill
   * its last byte (onnx pads it) stays unlisted, as for FLOAT4E2M1.
   */
  @Test
  void packedIntegersAndComplex128AreListed() throws IOException {
    byte[] doubles = OnnxFiles.message(o -> {
      o.writeInt64(1, 1);
      o.writeInt32(2, 15);
      o.writeString(8, "z2");
      ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putDouble(1.5).putDouble(-2);
      o.writeByteArray(10, b.array());
    });
    byte[] file = modelOf(new Init("u4", 21, 3, 4).raw(6, 1).bytes(), new Init("i4", 22, 2).raw(1, 2).bytes(),
        new Init("u2", 25, 8).raw(2, 3).bytes(), new Init("i2", 26, 2, 2).raw(1, 4).bytes(),
        new Init("z", 15, 2).raw(32, 5).bytes(), doubles, new Init("f4", 23, 4).raw(2, 6).bytes(),
        new Init("odd", 22, 3).raw(2, 7).bytes());
    FileLayout l = read(file);
    assertThat(l.tensors()).extracting(TensorInfo::name, TensorInfo::dtype, TensorInfo::shape, TensorInfo::byteLength)
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple("u4", DType.U4, List.of(3L, 4L), 6L),
            org.assertj.core.groups.Tuple.tuple("i4", DType.I4, List.of(2L), 1L),
            org.assertj.core.groups.Tuple.tuple("u2", DType.U2, List.of(8L), 2L),
            org.assertj.core.groups.Tuple.tuple("i2", DType.I2, List.of(2L, 2L), 1L),
            org.assertj.core.groups.Tuple.tuple("z", DType.C128, List.of(2L), 32L),
            org.assertj.core.groups.Tuple.tuple("z2", DType.C128, List.of(1L), 16L),
            org.assertj.core.groups.Tuple.tuple("f4", DType.F4, List.of(4L), 2L));
    assertThat(bytesOf(l, file, "u4")).isEqualTo(new Init("u4", 21, 3, 4).raw(6, 1).raw);
    assertThat(ByteBuffer.wrap(bytesOf(l, file, "z2")).order(ByteOrder.LITTLE_ENDIAN).getDouble(8)).isEqualTo(-2);
    assertThat(l.tensorRegions().get(0).rowBytes()).isEqualTo(2);
    assertThat(l.metadata(OnnxMetadata.class).orElseThrow().asStrings()).containsEntry("initializers.unlisted", "1");
  }

  /**
   * An external_data key onnx.proto does not list ('basepath', which onnx's set_external_data writes when given one,
   * or any other) is ignored by the onnx package and refused by onnxruntime 1.30 ("model format error!"). Where the
   * tensor's bytes are does not depend on it, so the model is stored, and the key is recorded, with the first tensor
   * having it, for `show` to tell. It was stored without a word.
   */
  @Test
  void anExternalDataKeyOnnxruntimeRefusesIsStoredAndRecorded() throws IOException {
    Map<String, String> basepath = new LinkedHashMap<>();
    basepath.put("location", "w.bin");
    basepath.put("basepath", "/models");
    Map<String, String> both = new LinkedHashMap<>(basepath);
    both.put("x-note", "kept");
    FileLayout l = read(model(list(new Init("a", 1, 2).external(basepath), new Init("b", 1, 2).external(both),
        new Init("c", 1, 2).external(Map.of("location", "w.bin", "checksum", "00", "ort_prepacked_k", "1")))));
    assertThat(l.metadata(OnnxMetadata.class).orElseThrow().asStrings()).containsEntry(OnnxMetadata.UNRECOGNIZED_KEYS,
        "'basepath' on initializer 'a' and 1 more tensors; 'x-note' on initializer 'b' (onnxruntime refuses such a"
            + " model: \"model format error!\"; the onnx package ignores the key)");
    assertThat(l.metadata(OnnxMetadata.class).orElseThrow().external()).extracting(OnnxMetadata.External::name)
        .containsExactly("a", "b", "c");
    // the keys onnxruntime reads are not recorded
    FileLayout known = read(model(list(new Init("c", 1, 2).external(Map.of("location", "w.bin", "checksum", "00")))));
    assertThat(known.metadata(OnnxMetadata.class).orElseThrow().asStrings())
        .doesNotContainKey(OnnxMetadata.UNRECOGNIZED_KEYS);
  }

  @Test
  void refusals() {
    refused(model(list(new Init("w", 1, 3, 4).raw(44, 1))),
        "initializer 'w': raw_data holds 44 bytes, but shape [3, 4] of F32 needs 48");
    refused(model(list(new Init("w", 1, 1).raw(4, 1), new Init("w", 1, 1).raw(4, 2))),
        "initializer 'w' appears twice");
    refused(model(list(new Init("", 1, 1).raw(4, 1))), "initializer 0 (byte 34) has no name");
    refused(model(list(new Init("w", 1, 2, -1).raw(4, 1))), "initializer 'w': negative dimension in [2, -1]");
    refused(model(list(new Init("e", 1, 2).external(Map.of("location", "/etc/passwd")))),
        "initializer 'e': external data location '/etc/passwd' is an absolute path; external data must lie in the "
            + "model's directory");
    refused(model(list(new Init("e", 1, 2).external(Map.of("location", "data/../../secret.bin")))),
        "initializer 'e': external data location 'data/../../secret.bin' leaves the model's directory ('..'); "
            + "external data must lie in it");
    refused(model(list(new Init("e", 1, 2).external(Map.of("location", "..\\w.bin")))),
        "initializer 'e': external data location '..\\w.bin' leaves the model's directory ('..'); external data "
            + "must lie in it");
    refused(model(list(new Init("e", 1, 2).external(Map.of("location", "C:\\w.bin")))),
        "initializer 'e': external data location 'C:\\w.bin' is an absolute path; external data must lie in the "
            + "model's directory");
    // onnx.load and onnxruntime cannot open these; Ferry read them as 'data/w.bin' and 'w.bin'
    refused(model(list(new Init("e", 1, 2).external(Map.of("location", "data/w.bin/")))),
        "initializer 'e': external data location 'data/w.bin/' ends with '/', so it names a directory, not a file");
    refused(model(list(new Init("e", 1, 2).external(Map.of("location", "w.bin\\")))),
        "initializer 'e': external data location 'w.bin\\' ends with '\\', so it names a directory, not a file");
    refused(model(list(new Init("e", 1, 2).external(Map.of("location", "w.bin/.")))),
        "initializer 'e': external data location 'w.bin/.' ends with '/.', so it names a directory, not a file");
    refused(model(list(new Init("e", 1, 2).external(Map.of("offset", "0")))),
        "initializer 'e' is EXTERNAL but names no location");
    refused(model(list(new Init("e", 1, 2).external(Map.of("location", "w.bin", "offset", "-8")))),
        "initializer 'e': external data offset '-8' is not a non-negative integer");
    // onnxruntime reads only ASCII digits ("ParseStringWithClassicLocale Failed to parse"); Ferry took a sign and
    // other scripts' digits, and stored models it could not load
    refused(model(list(new Init("e", 1, 2).external(Map.of("location", "w.bin", "offset", "+8")))),
        "initializer 'e': external data offset '+8' is not a non-negative integer");
    refused(model(list(new Init("e", 1, 2).external(Map.of("location", "w.bin", "length", "+8")))),
        "initializer 'e': external data length '+8' is not a non-negative integer");
    refused(model(list(new Init("e", 1, 2).external(Map.of("location", "w.bin", "offset", "\u0668")))),
        "initializer 'e': external data offset '\u0668' is not a non-negative integer");
    refused(model(list(new Init("e", 1, 2).external(Map.of("location", "w.bin", "length", "4")))),
        "initializer 'e': external data length 4, but shape [2] of F32 needs 8");
    refused(model(list(new Init("e", 1, 2).raw(8, 1).external(Map.of("location", "w.bin")))),
        "initializer 'e' is marked EXTERNAL but also holds data in the file");
    refused(model(list(new Init("w", 1, 4))),
        "initializer 'w': shape [4] has 4 elements, but it holds no data (no raw_data, no typed data) and is not"
            + " EXTERNAL");
    refused(model(list(new Init("w", 99, 2).raw(8, 1))),
        "initializer 'w': data_type 99 is not an ONNX element type (1 to 28)");
    refused(model(list(new Init("w", 0, 2).raw(8, 1))),
        "initializer 'w': data_type 0 (UNDEFINED) is not an ONNX element type (1 to 28)");
    refused(model(list(new Init("w", -3, 2).raw(8, 1))),
        "initializer 'w': data_type -3 is not an ONNX element type (1 to 28)");
    refused(model(list(new Init("w", 1, 2).raw(8, 1).externalEntriesOnly(Map.of("location", "w.bin")))),
        "initializer 'w' has external_data entries but its data_location is not EXTERNAL (a reader would not know"
            + " whether its data is in the file or elsewhere)");
    refused(new byte[0], "no ir_version: not an ONNX model");
    refused(OnnxFiles.message(o -> o.writeInt64(1, 8)), "no graph: not an ONNX model");
    byte[] good = model(list(new Init("w", 1, 3, 4).raw(48, 1)));
    assertThatThrownBy(() -> read(Arrays.copyOf(good, good.length - 30))).isInstanceOf(InvalidInputException.class)
        .hasMessageStartingWith("m.onnx: ");
    // a length of 2^62: protobuf-java's 32-bit read kept its low bits (0) and took the file; protobuf's C++ parser,
    // onnxruntime's, refuses it
    byte[] unknown = Arrays.copyOf(good, good.length + 11);
    unknown[good.length] = (byte) 0xa2; // field 100, length-delimited
    unknown[good.length + 1] = 0x06;
    byte[] huge = {(byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80,
        (byte) 0x80, 0x40};
    System.arraycopy(huge, 0, unknown, good.length + 2, huge.length);
    refused(unknown, "field 100 at byte " + (good.length + 2) + " has length 4611686018427387904, not a valid protobuf"
        + " length (at most 2147483647)");
    refused("not a protobuf\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII),
        "not a valid ONNX protobuf (at byte 1): Protocol message tag had invalid wire type.");
  }

  /** A model whose graph holds one node with the attribute {@code attr} (an AttributeProto's bytes). */
  private static byte[] modelWithNode(byte[] attr) {
    byte[] graph = OnnxFiles.message(g -> {
      g.writeByteArray(1, OnnxFiles.message(n -> {
        n.writeString(4, "If");
        n.writeByteArray(5, attr);
      }));
      g.writeString(2, "g");
    });
    return OnnxFiles.message(o -> {
      o.writeInt64(1, 8);
      o.writeByteArray(7, graph);
    });
  }

  /**
   * Tensors below the main graph (a Constant's value, an If or Loop body's initializers, sparse initializers) may keep
   * their data in other files too, and ONNX's loaders read it: their locations were not looked at, so a model pushed
   * with a subgraph initializer at '../../etc/passwd' or '/etc/shadow' was stored and pulled as it was.
   */
  @Test
  void tensorsBelowTheGraphCannotPointOutsideTheModel() throws IOException {
    Init outside = new Init("s", 1, 2).external(Map.of("location", "../../etc/passwd", "offset", "0", "length", "8"));
    // an If node's then_branch (attribute field 6: a graph whose initializer keeps its data outside)
    byte[] subgraph = OnnxFiles.message(a -> {
      a.writeString(1, "then_branch");
      a.writeByteArray(6, OnnxFiles.graph(list(outside)));
    });
    assertThatThrownBy(() -> read(modelWithNode(subgraph))).isInstanceOf(InvalidInputException.class)
        .hasMessageMatching("m\\.onnx: initializer 's' of subgraph then_branch of node \\(If\\), at byte \\d+: external"
            + " data location '\\.\\./\\.\\./etc/passwd' leaves"
            + " the model's directory \\('\\.\\.'\\); external data must lie in it");
    // a Constant's value (attribute field 5), absolute
    byte[] constant = OnnxFiles.message(a -> {
      a.writeString(1, "value");
      a.writeByteArray(5, new Init("c", 1, 2).external(Map.of("location", "/etc/shadow")).bytes());
    });
    assertThatThrownBy(() -> read(modelWithNode(constant))).isInstanceOf(InvalidInputException.class)
        .hasMessageMatching("m\\.onnx: tensor 'c' of attribute value of node \\(If\\), at byte \\d+: external data"
            + " location '/etc/shadow' is an absolute"
            + " path; external data must lie in the model's directory");
    // a sparse initializer's values (graph field 15, SparseTensorProto field 1)
    byte[] sparse = OnnxFiles.message(o -> {
      o.writeInt64(1, 8);
      o.writeByteArray(7, OnnxFiles.message(g -> g.writeByteArray(15, OnnxFiles.message(sp ->
          sp.writeByteArray(1, new Init("v", 1, 1).external(Map.of("location", "a/../../x.bin")).bytes())))));
    });
    assertThatThrownBy(() -> read(sparse)).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("sparse initializer 'v' of the main graph, at byte ")
        .hasMessageContaining("leaves the model's directory");
    // inside the model: recorded (without a dtype, so its file stays opaque) for the directory check
    Init inside = new Init("s", 1, 2).external(Map.of("location", "./s.bin"));
    FileLayout l = read(modelWithNode(OnnxFiles.message(a -> {
      a.writeString(1, "then_branch");
      a.writeByteArray(6, OnnxFiles.graph(list(inside)));
    })));
    OnnxMetadata m = l.metadata(OnnxMetadata.class).orElseThrow();
    assertThat(m.external()).singleElement().satisfies(x -> {
      assertThat(x.initializer()).isFalse();
      assertThat(x.location()).isEqualTo("s.bin");
      assertThat(x.length()).isEqualTo(8);
      assertThat(x.dtype()).isNull();
    });
    assertThat(m.initializers()).isZero();
    // a model function's Constant node (ModelProto field 25, FunctionProto field 7) and a training graph's
    // initializer (field 20, TrainingInfoProto field 1)
    byte[] functionConstant = OnnxFiles.message(o -> {
      o.writeInt64(1, 8);
      o.writeByteArray(7, OnnxFiles.graph(list()));
      o.writeByteArray(25, OnnxFiles.message(fn -> fn.writeByteArray(7, OnnxFiles.message(n ->
          n.writeByteArray(5, constant)))));
    });
    assertThatThrownBy(() -> read(functionConstant)).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("tensor 'c' of attribute value of node (?) in a function of the model, at byte ")
        .hasMessageContaining("'/etc/shadow' is an absolute path");
    byte[] training = OnnxFiles.message(o -> {
      o.writeInt64(1, 8);
      o.writeByteArray(7, OnnxFiles.graph(list()));
      o.writeByteArray(20, OnnxFiles.message(ti -> ti.writeByteArray(1, OnnxFiles.graph(list(outside)))));
    });
    assertThatThrownBy(() -> read(training)).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("initializer 's' of the model's training info, at byte ")
        .hasMessageContaining("leaves the model's directory");
  }

  @Test
  void nestingDeeperThanProtobufsLimitIsRefused() {
    byte[] graph = OnnxFiles.message(g -> g.writeString(2, "g"));
    for (int i = 0; i < 2000; i++) {
      byte[] inner = graph;
      byte[] attr = OnnxFiles.message(a -> {
        a.writeString(1, "body");
        a.writeByteArray(6, inner);
      });
      graph = OnnxFiles.message(g -> g.writeByteArray(1, OnnxFiles.message(n -> n.writeByteArray(5, attr))));
    }
    byte[] deep = graph;
    assertThatThrownBy(() -> read(OnnxFiles.message(o -> {
      o.writeInt64(1, 8);
      o.writeByteArray(7, deep);
    }))).isInstanceOf(InvalidInputException.class)
        .hasMessageMatching("m\\.onnx: messages below the graph nest more than 100 deep \\(at byte \\d+\\)");
  }

  /**
   * An initializer name that is not UTF-8 was decoded with U+FFFD in place of its bad bytes: the snapshot listed a
   * tensor under a name the file does not have, and two such names were refused as one name appearing twice.
   */
  @Test
  void initializerNamesMustBeUtf8() {
    byte[] good = model(list(new Init("wA", 1, 2).raw(8, 1)));
    byte[] bad = good.clone();
    for (int i = 0; i + 1 < bad.length; i++) {
      if (bad[i] == 'w' && bad[i + 1] == 'A') {
        bad[i + 1] = (byte) 0xff;
      }
    }
    assertThatThrownBy(() -> read(bad)).isInstanceOf(InvalidInputException.class)
        .hasMessageMatching("m\\.onnx: initializer 0 \\(byte \\d+\\): its name 'w%FF' \\(bytes percent-encoded\\)"
            + " is not valid UTF-8, which ONNX requires of names");
  }

  /**
   * raw_data beside int64_data (or any two value fields): ONNX's checker refuses it ("one and only one value field"),
   * and the bytes Ferry listed were only one reader's choice; it was pushed. The error names the initializer (it gave
   * only its index) and the fields (it gave only their numbers).
   */
  @Test
  void anInitializerWithTwoValueFieldsIsRefused() {
    refused(model(list(new Init("w", 7, 2).raw(16, 1).int64s(5, 6))),
        "initializer 'w' (byte 34): its data is in two fields, int64_data (7) and raw_data (9), but ONNX's checker"
            + " requires one and only one (readers differ in which they take)");
    refused(model(list(new Init("w", 1, 2).int64s(5, 6).floats(1f, 2f))),
        "initializer 'w' (byte 34): its data is in two fields, float_data (4) and int64_data (7), but ONNX's"
            + " checker requires one and only one (readers differ in which they take)");
  }

  /** A model of one graph holding these initializers (TensorProto bytes), written as they are. */
  private static byte[] modelOf(byte[]... tensors) {
    return OnnxFiles.message(o -> {
      o.writeInt64(1, 8);
      o.writeByteArray(7, OnnxFiles.message(g -> {
        for (byte[] t : tensors) {
          g.writeByteArray(5, t);
        }
      }));
    });
  }

  private static byte[] floats(float... v) {
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float f : v) {
      b.putFloat(f);
    }
    return b.array();
  }

  private static byte[] bytesOf(FileLayout l, byte[] file, String name) {
    Region.Tensor t = l.tensorRegions().stream().filter(r -> r.name().equals(name)).findFirst().orElseThrow();
    return Arrays.copyOfRange(file, (int) t.start(), (int) t.end());
  }

  /**
   * Encodings protobuf (and so onnx.load and onnxruntime) reads as the same message: raw_data given twice (the last
   * one counts), float_data in two packed runs (they are concatenated) or unpacked, fields in any order, unknown
   * fields, a field repeated, the graph given twice (merged). The two packed runs and raw_data twice were refused as
   * "data in two fields (4 and 4)" and "(9 and 9)", and so was a second graph.
   */
  @Test
  void everyProtobufEncodingOfAnInitializerIsRead() throws IOException {
    byte[] rawTwice = OnnxFiles.message(o -> {
      o.writeString(8, "raw");
      o.writeInt64(1, 2);
      o.writeByteArray(9, new byte[3]); // superseded: not even the tensor's length
      o.writeInt32(2, 7);
      o.writeInt32(2, 1); // data_type given twice: FLOAT counts
      o.writeByteArray(9, floats(1f, 2f));
      o.writeUInt64(100, 5); // unknown fields
      o.writeByteArray(101, new byte[] {1, 2});
    });
    byte[] twoRuns = OnnxFiles.message(o -> {
      o.writeInt64(1, 3);
      o.writeInt32(2, 1);
      o.writeString(8, "runs");
      o.writeByteArray(4, floats(1f, 2f));
      o.writeByteArray(4, floats(3f));
    });
    byte[] unpackedOne = OnnxFiles.message(o -> {
      o.writeFloat(4, 7f); // first: fields in any order
      o.writeString(8, "one");
      o.writeInt32(2, 1);
    });
    byte[] unpackedTwo = OnnxFiles.message(o -> {
      o.writeString(8, "two");
      o.writeInt64(1, 2);
      o.writeInt32(2, 1);
      o.writeFloat(4, 7f);
      o.writeFloat(4, 8f);
    });
    byte[] emptyRunBesideRaw = OnnxFiles.message(o -> {
      o.writeString(8, "beside");
      o.writeInt64(1, 1);
      o.writeInt32(2, 1);
      o.writeByteArray(4, new byte[0]); // no elements: not a value field, as ONNX's checker counts them
      o.writeByteArray(9, floats(5f));
    });
    byte[] file = modelOf(rawTwice, twoRuns, unpackedOne, unpackedTwo, emptyRunBesideRaw);
    FileLayout l = read(file);
    assertThat(l.tensors()).extracting(TensorInfo::name, TensorInfo::dtype, TensorInfo::shape).containsExactly(
        org.assertj.core.groups.Tuple.tuple("raw", DType.F32, List.of(2L)),
        org.assertj.core.groups.Tuple.tuple("one", DType.F32, List.of()),
        org.assertj.core.groups.Tuple.tuple("beside", DType.F32, List.of(1L)));
    assertThat(bytesOf(l, file, "raw")).isEqualTo(floats(1f, 2f));
    assertThat(bytesOf(l, file, "one")).isEqualTo(floats(7f));
    assertThat(bytesOf(l, file, "beside")).isEqualTo(floats(5f));
    // elements in several runs are no one byte range: stored as header bytes, counted
    assertThat(l.metadata(OnnxMetadata.class).orElseThrow().asStrings()).containsEntry("initializers", "5")
        .containsEntry("initializers.unlisted", "2");
    // split runs still hold the shape's elements
    refused(modelOf(OnnxFiles.message(o -> {
      o.writeInt64(1, 4);
      o.writeInt32(2, 1);
      o.writeString(8, "short");
      o.writeByteArray(4, floats(1f, 2f));
      o.writeByteArray(4, floats(3f));
    })), "initializer 'short': float_data holds 12 bytes, but shape [4] of F32 needs 16");
    // the graph given twice: protobuf merges the two, and the second one's initializers follow the first one's
    byte[] twoGraphs = OnnxFiles.message(o -> {
      o.writeInt64(1, 8);
      o.writeByteArray(7, OnnxFiles.graph(list(new Init("a", 1, 1).raw(4, 1))));
      o.writeByteArray(7, OnnxFiles.graph(list(new Init("b", 1, 1).raw(4, 2))));
    });
    assertThat(read(twoGraphs).tensors()).extracting(TensorInfo::name).containsExactly("a", "b");
    refused(OnnxFiles.message(o -> {
      o.writeInt64(1, 8);
      o.writeByteArray(7, OnnxFiles.graph(list(new Init("a", 1, 1).raw(4, 1))));
      o.writeByteArray(7, OnnxFiles.graph(list(new Init("a", 1, 1).raw(4, 2))));
    }), "initializer 'a' appears twice");
  }

  /**
   * A shape whose byte length overflows (2^61 F32 elements beside 4 bytes of raw_data): the initializer was left
   * unlisted and the file pushed, though no reader can load it.
   */
  @Test
  void aShapeOfMoreBytesThanAnyFileIsRefused() {
    refused(model(list(new Init("w", 1, 1L << 61).raw(4, 1))),
        "initializer 'w': shape [2305843009213693952] of F32 has more than 2^63 bits");
    refused(model(list(new Init("e", 11, 1L << 60, 4).external(Map.of("location", "w.bin")))),
        "initializer 'e': shape [1152921504606846976, 4] of F64 has more than 2^63 bits");
  }

  /**
   * An initializer whose values are varints in int64_data is stored in the file's header bytes, not listed: asking
   * for it by name said only "has no tensor", as of a name the model does not have. The message now says that it may
   * be such an initializer, how many the file has, and why they are not read as tensors.
   */
  @Test
  void askingForAnUnlistedInitializerSaysWhyItIsNotATensor() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.write(src.resolve("m.onnx"), model(list(new Init("shape", 7, 2).int64s(1, -1),
        new Init("w", 1, 2).raw(8, 1))));
    try (io.ferry.repo.Repository repo = io.ferry.Ferry.open(tmp.resolve("store").toString(),
        io.ferry.store.StoreOptions.createIfMissing(), io.ferry.repo.RepositoryOptions.defaults())) {
      repo.push(src, "m", io.ferry.repo.PushOptions.builder().build());
      try (io.ferry.read.ModelReader r = repo.open("m")) {
        assertThat(r.read("w").remaining()).isEqualTo(8);
        String why = "; it may be an ONNX initializer that Ferry does not list as a tensor (m.onnx:"
            + " initializers.unlisted = 1), as its values are not one byte range of the file in its type's layout"
            + " (varints in int32_data or int64_data, strings, float_data in several runs, segments, or 2- or 4-bit"
            + " values that do not fill their last byte, which ONNX pads): it is read only as part of the whole file";
        assertThatThrownBy(() -> r.tensor("shape")).isInstanceOf(io.ferry.error.NotFoundException.class)
            .hasMessageEndingWith("has no tensor 'shape'" + why);
        assertThatThrownBy(() -> r.tensor("m.onnx", "shape")).isInstanceOf(io.ferry.error.NotFoundException.class)
            .hasMessageEndingWith("has no tensor 'shape' in m.onnx" + why);
      }
    }
  }

  /**
   * The initializers of an If node's branches and a sparse initializer were stored as header bytes with no word of
   * them: asking for one by name said only "has no tensor". ONNX does not name them uniquely (both branches hold a
   * 'c', which onnx's checker and onnxruntime accept), so they are not listed; the file records where each name
   * lies, and asking for one says what it is and that Ferry does not list it.
   */
  @Test
  void initializersOfSubgraphsAndSparseInitializersAreNamedWhenAskedFor() throws IOException {
    byte[] branch = OnnxFiles.message(g -> {
      g.writeByteArray(1, OnnxFiles.message(n -> {
        n.writeString(1, "c");
        n.writeString(2, "o");
        n.writeString(4, "Identity");
      }));
      g.writeString(2, "branch");
      g.writeByteArray(5, new Init("c", 1, 1).raw(4, 9).bytes());
    });
    byte[] ifNode = OnnxFiles.message(n -> {
      n.writeString(1, "cond");
      n.writeString(2, "y");
      n.writeString(3, "if0");
      n.writeString(4, "If");
      for (String a : List.of("then_branch", "else_branch")) {
        n.writeByteArray(5, OnnxFiles.message(x -> {
          x.writeString(1, a);
          x.writeByteArray(6, branch);
          x.writeInt32(20, 5);
        }));
      }
    });
    byte[] sparse = OnnxFiles.message(t -> {
      t.writeByteArray(1, new Init("sp", 1, 1).raw(4, 10).bytes());
      t.writeByteArray(2, new Init("sp_idx", 7, 1).raw(8, 11).bytes());
      t.writeInt64(3, 3);
    });
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.write(src.resolve("m.onnx"), OnnxFiles.message(o -> {
      o.writeInt64(1, 8);
      o.writeByteArray(7, OnnxFiles.message(g -> {
        g.writeByteArray(1, ifNode);
        g.writeByteArray(5, new Init("w", 1, 2).raw(8, 1).bytes());
        g.writeByteArray(15, sparse);
      }));
    }));
    FileLayout l = read(Files.readAllBytes(src.resolve("m.onnx")));
    assertThat(l.tensors()).extracting(TensorInfo::name).containsExactly("w");
    String twice = "an initializer of subgraph then_branch of node 'if0' (If); an initializer of subgraph"
        + " else_branch of node 'if0' (If)";
    assertThat(l.metadata(OnnxMetadata.class).orElseThrow().asStrings())
        .containsEntry("initializers.below", "3")
        .containsEntry("below.c", twice)
        .containsEntry("below.sp", "a sparse initializer of the main graph")
        .doesNotContainKey("below.sp_idx");
    try (io.ferry.repo.Repository repo = io.ferry.Ferry.open(tmp.resolve("store").toString(),
        io.ferry.store.StoreOptions.createIfMissing(), io.ferry.repo.RepositoryOptions.defaults())) {
      repo.push(src, "m", io.ferry.repo.PushOptions.builder().build());
      try (io.ferry.read.ModelReader r = repo.open("m")) {
        String why = ": Ferry lists only the initializers of an ONNX model's main graph as tensors (ONNX does not name"
            + " those of subgraphs uniquely, and a sparse initializer is not its dense tensor's bytes), so it is read"
            + " only as part of the whole file";
        assertThatThrownBy(() -> r.tensor("c")).isInstanceOf(io.ferry.error.NotFoundException.class)
            .hasMessageEndingWith("has no tensor 'c'; in m.onnx, 'c' is " + twice + why);
        assertThatThrownBy(() -> r.tensor("m.onnx", "sp")).isInstanceOf(io.ferry.error.NotFoundException.class)
            .hasMessageEndingWith("has no tensor 'sp' in m.onnx; in m.onnx, 'sp' is a sparse initializer of the main"
                + " graph" + why);
        assertThatThrownBy(() -> r.tensor("nothing")).isInstanceOf(io.ferry.error.NotFoundException.class)
            .hasMessageEndingWith("has no tensor 'nothing'");
      }
    }
  }

  /**
   * One metadata entry per external initializer: a model with 10,001 of them (a large model exported with its weights
   * outside) made 10,005 entries, and its push was refused ("metadata has 10005 entries, over the limit of 10000").
   * The entries past the limit are counted instead; a model within it is recorded as before.
   */
  @Test
  void externalInitializersPastTheMetadataLimitAreCounted() throws IOException {
    List<Init> inits = new java.util.ArrayList<>();
    for (int i = 0; i < 10_001; i++) {
      inits.add(new Init("w" + i, 1, 2).external(Map.of("location", "m.data", "offset", Integer.toString(8 * i))));
    }
    inits.add(new Init("n".repeat(1100), 1, 2).external(Map.of("location", "m.data", "offset", "0")));
    Map<String, String> m = read(model(inits)).metadata(OnnxMetadata.class).orElseThrow().asStrings();
    io.ferry.limits.Limits.checkMetadata("m.onnx: metadata", m);
    assertThat(m).hasSize(10_000).containsEntry("external.w0", "F32 [2] in m.data at 0+8")
        .containsEntry("externals.unrecorded", "9 more tensors with external data (their files are checked and cut as"
            + " for the others; the metadata holds at most 10000 entries and keys of 1024 characters)");
    assertThat(read(model(inits.subList(0, 9_000))).metadata(OnnxMetadata.class).orElseThrow().asStrings())
        .hasSize(9_006).doesNotContainKey("externals.unrecorded");
  }

  /**
   * Values in int64_data or int32_data are not listed, but their count is the shape's: two values for a shape of
   * three (which numpy_helper and onnxruntime refuse) were pushed. Negative values take ten bytes each.
   */
  @Test
  void typedValuesMustBeAsManyAsTheShapeHas() throws IOException {
    refused(model(list(new Init("shape", 7, 3).int64s(1, -2))),
        "initializer 'shape': int64_data holds 2 values, but shape [3] of INT64 needs 3");
    byte[] int8s = OnnxFiles.message(o -> {
      o.writeInt64(1, 2);
      o.writeInt64(1, 2);
      o.writeInt32(2, 3);
      o.writeString(8, "q");
      o.writeInt32(5, -7); // unpacked
      o.writeByteArray(5, OnnxFiles.message(p -> {
        p.writeInt32NoTag(1);
        p.writeInt32NoTag(-1);
      }));
    });
    refused(modelOf(int8s), "initializer 'q': int32_data holds 3 values, but shape [2, 2] of INT8 needs 4");
    assertThat(read(model(list(new Init("ok", 7, 2, 1).int64s(-1, Long.MIN_VALUE)))).metadata(OnnxMetadata.class)
        .orElseThrow().asStrings()).containsEntry("initializers.unlisted", "1");
  }

  /**
   * Values in a typed field that ONNX does not use for the initializer's data_type (FLOAT values in int64_data, INT64
   * in float_data): onnx's checker refuses such a tensor and numpy_helper reads no values from it, but Ferry stored it
   * unlisted and pushed the file.
   */
  @Test
  void valuesInAFieldTheirTypeDoesNotUseAreRefused() {
    refused(model(list(new Init("w", 1, 2).int64s(1, 2))), "initializer 'w': its FLOAT values are in int64_data"
        + " (field 7), but ONNX keeps FLOAT values in float_data (field 4), as onnx's checker requires");
    refused(model(list(new Init("n", 7, 2).floats(1f, 2f))), "initializer 'n': its INT64 values are in float_data"
        + " (field 4), but ONNX keeps INT64 values in int64_data (field 7), as onnx's checker requires");
    refused(model(list(new Init("d", 11, 1).floats(1f))), "initializer 'd': its DOUBLE values are in float_data"
        + " (field 4), but ONNX keeps DOUBLE values in double_data (field 10), as onnx's checker requires");
    refused(model(list(new Init("h", 10, 2).int64s(1, 2))), "initializer 'h': its FLOAT16 values are in int64_data"
        + " (field 7), but ONNX keeps FLOAT16 values in int32_data (field 5), as onnx's checker requires");
  }

  /**
   * STRING values in raw_data: onnx's checker refuses such an initializer ("STRING data … should not be stored in
   * raw_data field"), numpy_helper reads no values from it and onnxruntime refuses the model ("string tensor can not
   * have raw data"), but Ferry counted it unlisted and pushed the file; one below the graph was stored as header
   * bytes. An empty raw_data of an empty STRING tensor is no data, which the checker accepts, and so does Ferry.
   */
  @Test
  void stringValuesInRawDataAreRefused() throws IOException {
    refused(model(list(new Init("w", 1, 2).floats(1f, 2f), new Init("s", 8, 2).raw(3, 3))), "initializer 's': its"
        + " STRING values are in raw_data (3 bytes), but ONNX keeps STRING values in string_data (field 6), as onnx's"
        + " checker requires");
    refused(model(list(new Init("s", 8, 2).raw(0, 3))), "initializer 's': its STRING values are in raw_data (0"
        + " bytes), but ONNX keeps STRING values in string_data (field 6), as onnx's checker requires");
    assertThat(read(model(list(new Init("s", 8, 0).raw(0, 3)))).metadata(OnnxMetadata.class).orElseThrow()
        .asStrings()).containsEntry("initializers.unlisted", "1");
    // below the graph too (an If branch's initializer, a Constant's value): the checker checks every tensor
    byte[] subgraph = OnnxFiles.message(a -> {
      a.writeString(1, "then_branch");
      a.writeByteArray(6, OnnxFiles.graph(list(new Init("c", 8, 2).raw(4, 3))));
    });
    assertThatThrownBy(() -> read(modelWithNode(subgraph))).isInstanceOf(InvalidInputException.class)
        .hasMessageMatching("m\\.onnx: initializer 'c' of subgraph then_branch of node \\(If\\), at byte \\d+: its"
            + " STRING values are in raw_data \\(4 bytes\\), but ONNX keeps STRING values in string_data \\(field 6\\),"
            + " as onnx's checker requires");
    byte[] constant = OnnxFiles.message(a -> {
      a.writeString(1, "value");
      a.writeByteArray(5, new Init("k", 8, 1).raw(2, 3).bytes());
    });
    assertThatThrownBy(() -> read(modelWithNode(constant))).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("tensor 'k' of attribute value of node (If), at byte ")
        .hasMessageContaining("its STRING values are in raw_data");
    read(modelWithNode(OnnxFiles.message(a -> {
      a.writeString(1, "then_branch");
      a.writeByteArray(6, OnnxFiles.graph(list(new Init("c", 8, 2).strings("a", "b"), new Init("e", 8, 0).raw(0, 1))));
    })));
  }

  /**
   * Two {@code location} entries: Ferry checked the last, which onnx and onnxruntime open, but a reader taking the
   * first would open a file Ferry never looked at ('../../etc/passwd').
   */
  @Test
  void anExternalDataKeyGivenTwiceIsRefused() {
    byte[] entry1 = OnnxFiles.message(x -> {
      x.writeString(1, "location");
      x.writeString(2, "../../etc/passwd");
    });
    byte[] entry2 = OnnxFiles.message(x -> {
      x.writeString(1, "location");
      x.writeString(2, "w.bin");
    });
    byte[] tensor = OnnxFiles.message(o -> {
      o.writeInt64(1, 2);
      o.writeInt32(2, 1);
      o.writeString(8, "e");
      o.writeByteArray(13, entry1);
      o.writeByteArray(13, entry2);
      o.writeInt32(14, 1);
    });
    byte[] file = OnnxFiles.message(o -> {
      o.writeInt64(1, 8);
      o.writeByteArray(7, OnnxFiles.message(g -> g.writeByteArray(5, tensor)));
    });
    refused(file, "initializer 'e': external data key 'location' is given twice");
  }

  /** A model whose graph holds an If node 'if0' whose then_branch has the initializers {@code inits}. */
  private static byte[] ifModel(Init... inits) {
    byte[] node = OnnxFiles.message(n -> {
      n.writeString(3, "if0");
      n.writeString(4, "If");
      n.writeByteArray(5, OnnxFiles.message(a -> {
        a.writeString(1, "then_branch");
        a.writeByteArray(6, OnnxFiles.graph(list(inits)));
      }));
    });
    return OnnxFiles.message(o -> {
      o.writeInt64(1, 8);
      o.writeByteArray(7, OnnxFiles.message(g -> g.writeByteArray(1, node)));
    });
  }

  private void refusedBelow(byte[] bytes, String what, String defect) {
    assertThatThrownBy(() -> read(bytes)).isInstanceOf(InvalidInputException.class)
        .hasMessageMatching("m\\.onnx: " + java.util.regex.Pattern.quote(what) + ", at byte \\d+: "
            + java.util.regex.Pattern.quote(defect));
  }

  /**
   * Tensors below the main graph had no typed-field checks: FLOAT values in int64_data in an If branch, which onnx's
   * checker refuses ("values of data_type '1' should be stored in field 'float_data' instead of 'int64_data'"), were
   * pushed, and so were two value fields, an UNDEFINED data_type and a negative dimension, at any depth.
   */
  @Test
  void tensorsBelowTheGraphKeepTheirValuesInTheFieldOfTheirType() throws IOException {
    String c = "initializer 'c' of subgraph then_branch of node 'if0' (If)";
    refusedBelow(ifModel(new Init("c", 1, 2).int64s(1, 2)), c, "its FLOAT values are in int64_data (field 7), but ONNX"
        + " keeps FLOAT values in float_data (field 4), as onnx's checker requires");
    byte[] twoFields = OnnxFiles.message(o -> {
      o.writeInt64(1, 2);
      o.writeInt32(2, 1);
      o.writeString(8, "c");
      o.writeByteArray(9, floats(1f, 2f));
      o.writeByteArray(4, floats(1f, 2f));
    });
    byte[] branch = OnnxFiles.message(g -> g.writeByteArray(5, twoFields));
    refusedBelow(modelWithNode(OnnxFiles.message(a -> {
      a.writeString(1, "else_branch");
      a.writeByteArray(6, branch);
    })), "initializer 'c' of subgraph else_branch of node (If)", "its data is in two fields, float_data (4) and"
        + " raw_data (9), but ONNX's checker requires one and only one (readers differ in which they take)");
    refusedBelow(ifModel(new Init("c", 0, 2).raw(8, 1)), c, "data_type 0 (UNDEFINED) is not an ONNX element type (1"
        + " to 28)");
    refusedBelow(ifModel(new Init("c", 1, -2).raw(8, 1)), c, "negative dimension in [-2]");
    // a Constant's value and a TENSORS attribute (field 10)
    refusedBelow(modelWithNode(OnnxFiles.message(a -> {
      a.writeString(1, "value");
      a.writeByteArray(5, new Init("k", 7, 2).floats(1f, 2f).bytes());
    })), "tensor 'k' of attribute value of node (If)", "its INT64 values are in float_data (field 4), but ONNX keeps"
        + " INT64 values in int64_data (field 7), as onnx's checker requires");
    refusedBelow(modelWithNode(OnnxFiles.message(a -> {
      a.writeString(1, "ts");
      a.writeByteArray(10, new Init("h0", 10, 1).raw(2, 1).bytes());
      a.writeByteArray(10, new Init("h1", 10, 1).int64s(1).bytes());
    })), "tensor 'h1' of attribute ts of node (If)", "its FLOAT16 values are in int64_data (field 7), but ONNX keeps"
        + " FLOAT16 values in int32_data (field 5), as onnx's checker requires");
    // a sparse initializer's values, and an initializer of a Loop body inside an If branch
    refusedBelow(OnnxFiles.message(o -> {
      o.writeInt64(1, 8);
      o.writeByteArray(7, OnnxFiles.message(g -> g.writeByteArray(15, OnnxFiles.message(sp ->
          sp.writeByteArray(1, new Init("v", 11, 1).floats(1f).bytes())))));
    }), "sparse initializer 'v' of the main graph", "its DOUBLE values are in float_data (field 4), but ONNX keeps"
        + " DOUBLE values in double_data (field 10), as onnx's checker requires");
    byte[] loop = OnnxFiles.message(n -> {
      n.writeString(3, "loop0");
      n.writeString(4, "Loop");
      n.writeByteArray(5, OnnxFiles.message(a -> {
        a.writeString(1, "body");
        a.writeByteArray(6, OnnxFiles.graph(list(new Init("d", 7, 1).floats(3f))));
      }));
    });
    refusedBelow(modelWithNode(OnnxFiles.message(a -> {
      a.writeString(1, "then_branch");
      a.writeByteArray(6, OnnxFiles.message(g -> g.writeByteArray(1, loop)));
    })), "initializer 'd' of subgraph body of node 'loop0' (Loop) in subgraph then_branch of node (If)", "its INT64"
        + " values are in float_data (field 4), but ONNX keeps INT64 values in int64_data (field 7), as onnx's checker"
        + " requires");
    // values in their own fields are read as before
    read(ifModel(new Init("f", 1, 2).floats(1f, 2f), new Init("n", 7, 2).int64s(1, -1), new Init("r", 10, 1).raw(2, 1),
        new Init("s", 8, 1).strings("x"), new Init("e", 1, 0)));
  }

  /**
   * Below the main graph the values were not counted: an If branch's initializer with 4 bytes of raw_data for shape
   * [2] of FLOAT, or 2 int64_data values for shape [3], and a Constant with no data at all, were pushed, although
   * onnx's checker refuses too few values and onnxruntime any other count; an external one whose length is not its
   * shape's (onnxruntime: "external data size mismatch") was pushed too.
   */
  @Test
  void tensorsBelowTheGraphHoldAsManyValuesAsTheirShapeHas() throws IOException {
    String c = "initializer 'c' of subgraph then_branch of node 'if0' (If)";
    refusedBelow(ifModel(new Init("c", 1, 2).raw(4, 1)), c, "raw_data holds 4 bytes, but shape [2] of F32 needs 8");
    refusedBelow(ifModel(new Init("c", 1, 2).raw(12, 1)), c, "raw_data holds 12 bytes, but shape [2] of F32 needs 8");
    refusedBelow(ifModel(new Init("c", 1, 3).floats(1f, 2f)), c, "float_data holds 8 bytes, but shape [3] of F32"
        + " needs 12");
    refusedBelow(ifModel(new Init("c", 7, 3).int64s(1, 2)), c, "int64_data holds 2 values, but shape [3] of INT64"
        + " needs 3");
    refusedBelow(ifModel(new Init("c", 7, 0).int64s(1)), c, "int64_data holds 1 values, but shape [0] of INT64 needs"
        + " 0");
    refusedBelow(ifModel(new Init("c", 8, 2).strings("a")), c, "string_data holds 1 values, but shape [2] of STRING"
        + " needs 2");
    refusedBelow(modelWithNode(OnnxFiles.message(a -> {
      a.writeString(1, "value");
      a.writeByteArray(5, new Init("k", 1, 2, 2).bytes());
    })), "tensor 'k' of attribute value of node (If)", "shape [2, 2] has 4 elements, but it holds no data (no"
        + " raw_data, no typed data) and is not EXTERNAL");
    refusedBelow(ifModel(new Init("c", 1, 2).external(Map.of("location", "c.bin", "length", "4"))), c, "external"
        + " data length 4, but shape [2] of F32 needs 8");
    // as many as the shape has, an empty tensor without data, an odd count of INT4 values (a padded byte)
    FileLayout l = read(ifModel(new Init("f", 1, 2).raw(8, 1), new Init("n", 7, 2).int64s(1, -1),
        new Init("e", 1, 0), new Init("q", 22, 3).raw(2, 1), new Init("x", 1, 2).external(Map.of("location", "c.bin",
            "length", "8"))));
    assertThat(l.metadata(OnnxMetadata.class).orElseThrow().external()).singleElement()
        .satisfies(x -> assertThat(x.length()).isEqualTo(8));
  }

  /**
   * An odd count of 4-bit values (and any count of 2- or 6-bit values that leaves the last byte part full) is not
   * listed, and its raw_data length was not checked at all: 5 bytes, or 1, for three INT4 values were pushed, although
   * onnx pads the last byte (two bytes), onnx's checker refuses fewer and onnxruntime any other count.
   */
  @Test
  void aPaddedSubByteTensorHoldsItsPaddedLength() throws IOException {
    refused(model(list(new Init("q", 22, 3).raw(5, 1))), "initializer 'q': raw_data holds 5 bytes, but shape [3] of I4"
        + " needs 2 (its last byte padded)");
    refused(model(list(new Init("q", 22, 3).raw(1, 1))), "initializer 'q': raw_data holds 1 bytes, but shape [3] of I4"
        + " needs 2 (its last byte padded)");
    refused(model(list(new Init("q", 27, 5).raw(3, 1))), "initializer 'q': raw_data holds 3 bytes, but shape [5] of"
        + " F6_E2M3 needs 4 (its last byte padded)");
    refused(model(list(new Init("q", 25, 3).external(Map.of("location", "q.bin", "length", "2")))), "initializer 'q':"
        + " external data length 2, but shape [3] of U2 needs 1 (its last byte padded)");
    refusedBelow(ifModel(new Init("c", 21, 1).raw(2, 1)), "initializer 'c' of subgraph then_branch of node 'if0' (If)",
        "raw_data holds 2 bytes, but shape [1] of U4 needs 1 (its last byte padded)");
    assertThat(read(model(list(new Init("q", 22, 3).raw(2, 1), new Init("t", 26, 5).raw(2, 1), new Init("f", 28, 3)
        .raw(3, 1), new Init("x", 22, 3).external(Map.of("location", "q.bin", "length", "2"))))).metadata(
        OnnxMetadata.class).orElseThrow().asStrings()).containsEntry("initializers.unlisted", "4");
    read(ifModel(new Init("c", 21, 1).raw(1, 1)));
  }
}
