package io.ferry.format.torch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.export.SafetensorsExport;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.TensorInfo;
import io.ferry.format.registry.FormatRegistry;
import io.ferry.format.safetensors.SafetensorsMetadata;
import io.ferry.read.ModelReader;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A stored checkpoint read through {@link ModelReader} (contiguous tensors and views at an offset by byte range;
 * non-contiguous views refused) and written as safetensors by {@link SafetensorsExport} (views gathered, shared
 * storages duplicated, values in {@code __metadata__}), without PyTorch: TorchCheckpointTest checks the same against
 * real PyTorch.
 */
class TorchReadAndExportTest {
  @TempDir Path tmp;

  private static byte[] floats(float... v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float f : v) {
      b.putFloat(f);
    }
    return b.array();
  }

  @Test
  void tensorsReadByRangeAndExportedAsSafetensors() throws Exception {
    byte[] pkl = Pickles.proto2().global("collections", "OrderedDict").op(')').op('R').mark()
        .str("w").tensor("FloatStorage", "0", 6, 0, new int[] {2, 3}, new int[] {3, 1})
        .str("t").tensor("FloatStorage", "0", 6, 0, new int[] {3, 2}, new int[] {1, 3})
        .str("row").tensor("FloatStorage", "0", 6, 3, new int[] {3}, new int[] {1})
        .str("b").tensor("LongStorage", "1", 2, 0, new int[] {2}, new int[] {1})
        .str("lr").op('G').raw(ByteBuffer.allocate(8).putDouble(0.001).array())
        .op('u').stop().bytes();
    byte[] longs = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(7).putLong(9).array();
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.write(src.resolve("ckpt.pt"), Pickles.checkpoint(pkl, floats(0, 1, 2, 3, 4, 5), longs));
    Files.writeString(src.resolve("config.json"), "{}");
    try (Repository repo = pushedAsM(src)) {
      try (ModelReader r = repo.open("m")) {
        assertThat(r.read("w").array()).isEqualTo(floats(0, 1, 2, 3, 4, 5));
        assertThat(r.read("row").array()).isEqualTo(floats(3, 4, 5));
        assertThat(r.readRows("w", 1, 2).array()).isEqualTo(floats(3, 4, 5));
        assertThatThrownBy(() -> r.read("t")).isInstanceOf(InvalidInputException.class)
            .hasMessage("tensor 't' of ckpt.pt is a non-contiguous view (strides [1,3] in elements) and cannot be"
                + " read as a byte range; pull the version with --as safetensors to get it contiguous");
        assertThatThrownBy(() -> r.forEachTensor((t, data) -> { })).isInstanceOf(InvalidInputException.class);

        Path out = tmp.resolve("out");
        io.ferry.export.Export.Result res = SafetensorsExport.write(r.verifying(true), out);
        assertThat(res.files()).containsExactly("ckpt.safetensors", "config.json");
        assertThat(res.tensors()).isEqualTo(4);
        assertThat(out.resolve("config.json")).hasContent("{}");
        Path st = out.resolve("ckpt.safetensors");
        try (FileChannel ch = FileChannel.open(st)) {
          FileLayout l = FormatRegistry.standard().read(new FormatInput("ckpt.safetensors", ch, ch.size()))
              .orElseThrow();
          assertThat(l.tensors()).extracting(TensorInfo::name).containsExactly("b", "row", "t", "w");
          assertThat(l.metadata(SafetensorsMetadata.class).orElseThrow().asStrings())
              .containsEntry("format", "pt").containsEntry("lr", "0.001");
          ByteBuffer all = ByteBuffer.wrap(Files.readAllBytes(st));
          TensorInfo t = l.tensors().get(2);
          byte[] tb = new byte[(int) t.byteLength()];
          all.get((int) (l.dataStart() + t.begin()), tb);
          assertThat(tb).as("the transposed view, gathered row-major").isEqualTo(floats(0, 3, 1, 4, 2, 5));
          TensorInfo w = l.tensors().get(3);
          byte[] wb = new byte[(int) w.byteLength()];
          all.get((int) (l.dataStart() + w.begin()), wb);
          assertThat(wb).isEqualTo(floats(0, 1, 2, 3, 4, 5));
        }
      }
    }
  }

  /**
   * Names safetensors reserves: a tensor named {@code __metadata__} (a second {@code __metadata__} in the header, which
   * every reader refuses) and a value named {@code format} (it took the place of {@code format = pt}, which readers
   * check) are refused naming the file and the name, and nothing is left in DEST.
   */
  @Test
  void namesSafetensorsReservesAreRefusedNotWritten() throws Exception {
    byte[] tensorNamedMetadata = Pickles.proto2().global("collections", "OrderedDict").op(')').op('R').mark()
        .str("__metadata__").tensor("FloatStorage", "0", 2, 0, new int[] {2}, new int[] {1})
        .str("w").tensor("FloatStorage", "0", 2, 0, new int[] {2}, new int[] {1})
        .op('u').stop().bytes();
    byte[] valueNamedFormat = Pickles.proto2().global("collections", "OrderedDict").op(')').op('R').mark()
        .str("w").tensor("FloatStorage", "0", 2, 0, new int[] {2}, new int[] {1})
        .str("format").str("tf")
        .op('u').stop().bytes();
    String[][] cases = {{"a.pt", "tensor '__metadata__' has the name safetensors reserves"},
        {"b.pt", "its value 'format' (\"tf\") would take the place of safetensors' format key"}};
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      for (String[] c : cases) {
        Path src = Files.createDirectories(tmp.resolve("src-" + c[0]));
        Files.write(src.resolve(c[0]), Pickles.checkpoint(c[0].equals("a.pt") ? tensorNamedMetadata : valueNamedFormat,
            floats(1, 2)));
        repo.push(src, "m" + c[0].charAt(0), PushOptions.builder().build());
        Path out = tmp.resolve("out-" + c[0]);
        try (ModelReader r = repo.open("m" + c[0].charAt(0))) {
          assertThatThrownBy(() -> SafetensorsExport.write(r, out)).isInstanceOf(InvalidInputException.class)
              .hasMessageStartingWith(c[0] + ": ").hasMessageContaining(c[1])
              .hasMessageEndingWith("the checkpoint cannot be written as safetensors");
        }
        assertThat(out).doesNotExist();
      }
    }
  }

  /**
   * A torch 2 checkpoint with a float8 and a uint16 tensor ({@code _rebuild_tensor_v3} over untyped storages) and the
   * values torch's weights_only loader reads (a {@code torch.Size}, a device, a dtype, bytes, a set): pushed with its
   * tensors listed under their own types (they were refused at push), read by range, values in the metadata as JSON,
   * and written as safetensors with F8_E4M3 and U16 tensors.
   */
  @Test
  void v3TensorsAndWeightsOnlyValuesArePushedReadAndExported() throws Exception {
    byte[] pkl = Pickles.proto2().op('}').mark()
        .str("f8").tensorV3("float8_e4m3fn", "0", 6, 1, new int[] {5}, new int[] {1})
        .str("u16").tensorV3("uint16", "1", 8, 0, new int[] {2, 2}, new int[] {2, 1})
        .str("shape").global("torch", "Size").mark().int1(2).int1(3).op('t').op(0x85).op('R')
        .str("device").global("torch", "device").str("cuda").int1(0).op(0x86).op('R')
        .str("dtype").global("torch", "bfloat16")
        .str("raw").global("_codecs", "encode").str("\u0001\u00ff").str("latin1").op(0x86).op('R')
        .str("tags").global("__builtin__", "set").op(']').mark().str("a").op('e').op(0x85).op('R')
        .op('u').stop().bytes();
    byte[] f8 = {10, 11, 12, 13, 14, 15};
    byte[] u16 = {1, 0, 2, 0, 3, 0, 4, 0};
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.write(src.resolve("ckpt.pt"), Pickles.checkpoint(pkl, f8, u16));
    try (Repository repo = pushedAsM(src)) {
      try (ModelReader r = repo.open("m")) {
        assertThat(r.read("f8").array()).isEqualTo(new byte[] {11, 12, 13, 14, 15});
        assertThat(r.read("u16").array()).isEqualTo(u16);
        io.ferry.version.FileEntry file = r.snapshot().files().get(0);
        assertThat(file.tensors()).extracting(TensorInfo::name, TensorInfo::dtype).containsExactlyInAnyOrder(
            org.assertj.core.groups.Tuple.tuple("f8", io.ferry.format.DType.F8_E4M3),
            org.assertj.core.groups.Tuple.tuple("u16", io.ferry.format.DType.U16));
        assertThat(file.metadata()).containsEntry("value.shape", "[2,3]").containsEntry("value.device", "\"cuda:0\"")
            .containsEntry("value.dtype", "\"torch.bfloat16\"").containsEntry("value.raw", "\"01ff\"")
            .containsEntry("value.tags", "[\"a\"]");

        Path out = tmp.resolve("out");
        SafetensorsExport.write(r.verifying(true), out);
        try (FileChannel ch = FileChannel.open(out.resolve("ckpt.safetensors"))) {
          FileLayout l = FormatRegistry.standard().read(new FormatInput("ckpt.safetensors", ch, ch.size()))
              .orElseThrow();
          assertThat(l.tensors()).extracting(TensorInfo::name, TensorInfo::dtype).containsExactly(
              org.assertj.core.groups.Tuple.tuple("f8", io.ferry.format.DType.F8_E4M3),
              org.assertj.core.groups.Tuple.tuple("u16", io.ferry.format.DType.U16));
          ByteBuffer all = ByteBuffer.wrap(Files.readAllBytes(out.resolve("ckpt.safetensors")));
          byte[] got = new byte[5];
          all.get((int) (l.dataStart() + l.tensors().get(0).begin()), got);
          assertThat(got).isEqualTo(new byte[] {11, 12, 13, 14, 15});
        }
      }
    }
  }

  /**
   * A checkpoint of complex128 tensors ({@code torch.ComplexDoubleStorage}, as torch.save writes them), which
   * torch.load(weights_only=True) reads, was refused at push ("Ferry has no element type for it"). It is read as C128
   * beside complex64 (C64), its bytes read by range; safetensors has C64 but no complex128, so writing it as
   * safetensors is refused naming the file, the tensor and its dtype, and nothing is left in DEST.
   */
  @Test
  void complex128TensorsArePushedAndReadButNotWrittenAsSafetensors() throws Exception {
    byte[] pkl = Pickles.proto2().op('}').mark()
        .str("z").tensor("ComplexDoubleStorage", "0", 3, 1, new int[] {2}, new int[] {1})
        .str("y").tensor("ComplexFloatStorage", "1", 1, 0, new int[] {1}, new int[] {1})
        .op('u').stop().bytes();
    ByteBuffer z = ByteBuffer.allocate(48).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < 6; i++) {
      z.putDouble(i + 0.5);
    }
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.write(src.resolve("c.pt"), Pickles.checkpoint(pkl, z.array(), floats(1, -2)));
    try (Repository repo = pushedAsM(src)) {
      try (ModelReader r = repo.open("m")) {
        assertThat(r.snapshot().files().get(0).tensors()).extracting(TensorInfo::name, TensorInfo::dtype,
            TensorInfo::shape).containsExactlyInAnyOrder(
            org.assertj.core.groups.Tuple.tuple("z", io.ferry.format.DType.C128, java.util.List.of(2L)),
            org.assertj.core.groups.Tuple.tuple("y", io.ferry.format.DType.C64, java.util.List.of(1L)));
        assertThat(r.read("z").array()).isEqualTo(java.util.Arrays.copyOfRange(z.array(), 16, 48));
        assertThat(r.read("y").array()).isEqualTo(floats(1, -2));
        Path out = tmp.resolve("out");
        assertThatThrownBy(() -> SafetensorsExport.write(r, out)).isInstanceOf(InvalidInputException.class)
            .hasMessage("c.pt: tensor 'z' is C128 (torch.complex128), which safetensors has no dtype for (it has"
                + " C64, complex64); the checkpoint cannot be written as safetensors: pull it as it is");
        assertThat(out).doesNotExist();
      }
    }
  }

  /**
   * torch's {@code float4_e2m1fn_x2} (two FP4 values in a byte, torch 2.8 on) was refused at push ("a type Ferry does
   * not hold"); it is read as F4 with its last dimension doubled, as safetensors writes it, views by their offsets, and
   * written so as safetensors. A view that is not one run of bytes is still refused, naming the tensor's size and
   * strides.
   */
  @Test
  void float4x2TensorsAreReadAsF4WithTheirLastDimensionDoubled() throws Exception {
    byte[] pkl = Pickles.proto2().op('}').mark()
        .str("w").tensorV3("float4_e2m1fn_x2", "0", 6, 0, new int[] {2, 3}, new int[] {3, 1})
        .str("row1").tensorV3("float4_e2m1fn_x2", "0", 6, 3, new int[] {3}, new int[] {1})
        .str("scalar").tensorV3("float4_e2m1fn_x2", "0", 6, 5, new int[] {}, new int[] {})
        .op('u').stop().bytes();
    byte[] data = {0x10, 0x32, 0x54, 0x76, (byte) 0x98, (byte) 0xba};
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.write(src.resolve("fp4.pt"), Pickles.checkpoint(pkl, data));
    try (Repository repo = pushedAsM(src)) {
      try (ModelReader r = repo.open("m")) {
        assertThat(r.snapshot().files().get(0).tensors()).extracting(TensorInfo::name, TensorInfo::dtype,
            TensorInfo::shape).containsExactlyInAnyOrder(
            org.assertj.core.groups.Tuple.tuple("w", io.ferry.format.DType.F4, java.util.List.of(2L, 6L)),
            org.assertj.core.groups.Tuple.tuple("row1", io.ferry.format.DType.F4, java.util.List.of(6L)),
            org.assertj.core.groups.Tuple.tuple("scalar", io.ferry.format.DType.F4, java.util.List.of(2L)));
        assertThat(r.read("w").array()).isEqualTo(data);
        assertThat(r.read("row1").array()).isEqualTo(java.util.Arrays.copyOfRange(data, 3, 6));
        assertThat(r.read("scalar").array()).containsExactly((byte) 0xba);
        assertThat(r.readRows(r.tensor("w"), 1, 2).array()).isEqualTo(java.util.Arrays.copyOfRange(data, 3, 6));

        Path out = tmp.resolve("out");
        SafetensorsExport.write(r.verifying(true), out);
        try (FileChannel ch = FileChannel.open(out.resolve("fp4.safetensors"))) {
          FileLayout l = FormatRegistry.standard().read(new FormatInput("fp4.safetensors", ch, ch.size()))
              .orElseThrow();
          TensorInfo w = l.tensors().stream().filter(t -> t.name().equals("w")).findFirst().orElseThrow();
          assertThat(w.dtype()).isEqualTo(io.ferry.format.DType.F4);
          assertThat(w.shape()).containsExactly(2L, 6L);
        }
      }
      // a view whose rows are not one run of bytes (every other column)
      byte[] strided = Pickles.proto2().op('}').mark()
          .str("cols").tensorV3("float4_e2m1fn_x2", "0", 6, 0, new int[] {2, 2}, new int[] {3, 2})
          .op('u').stop().bytes();
      Path bad = Files.createDirectories(tmp.resolve("bad"));
      Files.write(bad.resolve("fp4.pt"), Pickles.checkpoint(strided, data));
      assertThatThrownBy(() -> repo.push(bad, "m2", PushOptions.builder().build()))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("fp4.pt")
          .hasMessageContaining("tensor of torch.float4_e2m1fn_x2 with size [2, 2] and stride [3, 2] is not"
              + " contiguous");
    }
  }

  /**
   * Expanded views (strides 0) of one byte may each claim 2^59 bytes, which a checkpoint can hold and torch loads;
   * written out contiguous, 17 of them pass 2^63 bytes, and the export failed with "long overflow" and no name.
   */
  @Test
  void viewsTooLargeTogetherForASafetensorsFileAreRefusedByName() throws Exception {
    Pickles p = Pickles.proto2().op('}').mark();
    for (int i = 0; i < 17; i++) {
      p.str(String.format("t%02d", i)).tensor("ByteStorage", "0", 1, 0, new int[] {1 << 30, 1 << 29},
          new int[] {0, 0});
    }
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.write(src.resolve("huge.pt"), Pickles.checkpoint(p.op('u').stop().bytes(), new byte[1]));
    try (Repository repo = pushedAsM(src)) {
      Path out = tmp.resolve("out");
      try (ModelReader r = repo.open("m")) {
        assertThatThrownBy(() -> SafetensorsExport.write(r, out)).isInstanceOf(InvalidInputException.class)
            .hasMessage("huge.pt: tensor 't15' of shape [1073741824, 536870912] (576460752303423488 elements of U8)"
                + " does not fit in a safetensors file after 8646911284551352320 bytes of tensors before it: more"
                + " than 2^63 bytes");
      }
      assertThat(out).doesNotExist();
    }
  }

  /**
   * One metadata entry per non-tensor value and per non-contiguous view, and a push checks a file's metadata against
   * 10,000 entries: a training checkpoint with 10,001 values, or 10,001 views, was refused ("metadata has 10002
   * entries, over the limit of 10000"). It is pushed now and pulled byte-identical: strides come first, values fill
   * the room left, the rest is counted; a tensor named past the last recorded strides is refused by name, not read as
   * contiguous.
   */
  @Test
  void checkpointsWithMoreValuesOrViewsThanTheMetadataHoldsArePushedAndNeverReadWrong() throws Exception {
    assertThat(new long[] {TorchLimits.METADATA_ENTRIES, TorchLimits.METADATA_KEY_CHARS, TorchLimits.METADATA_CHARS,
        4096}).as("the limits a push checks metadata against").containsExactly(
        io.ferry.limits.Limits.MAX_METADATA_ENTRIES, io.ferry.limits.Limits.MAX_KEY_CHARS,
        io.ferry.limits.Limits.MAX_METADATA_CHARS, io.ferry.limits.Limits.MAX_TENSOR_NAME_CHARS);
    Pickles values = Pickles.proto2().op('}').mark()
        .str("t").tensor("FloatStorage", "0", 6, 0, new int[] {3, 2}, new int[] {1, 3})
        .str("c").tensor("FloatStorage", "0", 6, 0, new int[] {2, 3}, new int[] {3, 1});
    for (int i = 0; i < 10_001; i++) {
      values.str(String.format("x%05d", i)).int1(i % 200);
    }
    Pickles views = Pickles.proto2().op('}').mark()
        .str("a").tensor("FloatStorage", "0", 6, 0, new int[] {2, 3}, new int[] {3, 1})
        .str("w").tensor("FloatStorage", "0", 6, 0, new int[] {2, 3}, new int[] {3, 1})
        .str("lr").int1(1);
    for (int i = 0; i < 10_001; i++) {
      views.str(String.format("v%05d", i)).tensor("FloatStorage", "0", 6, 0, new int[] {3, 2}, new int[] {1, 3});
    }
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.write(src.resolve("values.pt"), Pickles.checkpoint(values.op('u').stop().bytes(), floats(0, 1, 2, 3, 4, 5)));
    Files.write(src.resolve("views.pt"), Pickles.checkpoint(views.op('u').stop().bytes(), floats(0, 1, 2, 3, 4, 5)));
    try (Repository repo = pushedAsM(src)) {
      try (ModelReader r = repo.open("m")) {
        java.util.Map<String, String> m = r.file("values.pt").metadata();
        assertThat(m).hasSize(9_998).containsEntry("strides.t", "[1,3]").containsEntry("value.x00000", "0")
            .containsEntry("values.unrecorded", "5 more non-tensor values not recorded (the file's bytes hold them;"
                + " the metadata holds at most 10000 entries, keys of 1024 characters and 16777216 characters in"
                + " all)").doesNotContainKey("views.unrecorded");
        assertThat(r.read("c").array()).isEqualTo(floats(0, 1, 2, 3, 4, 5));
        assertThatThrownBy(() -> r.read("t")).hasMessageContaining("is a non-contiguous view (strides [1,3]");

        m = r.file("views.pt").metadata();
        assertThat(m).hasSize(10_000).containsEntry("strides.v09996", "[1,3]").doesNotContainKey("strides.v09997")
            .containsEntry("views.unrecorded.from", "v09997").containsEntry("values.unrecorded",
                "1 more non-tensor values not recorded (the file's bytes hold them; the metadata holds at most 10000"
                    + " entries, keys of 1024 characters and 16777216 characters in all)");
        assertThat(m.get("views.unrecorded")).startsWith("4 more non-contiguous views whose strides are not"
            + " recorded");
        assertThat(r.read("a").array()).isEqualTo(floats(0, 1, 2, 3, 4, 5));
        assertThatThrownBy(() -> r.read("v09996")).hasMessageContaining("is a non-contiguous view (strides [1,3]");
        for (String name : new String[] {"v09997", "v10000", "w"}) {
          assertThatThrownBy(() -> r.read(name)).isInstanceOf(InvalidInputException.class)
              .hasMessageStartingWith("tensor '" + name + "' of views.pt may be a non-contiguous view: the"
                  + " checkpoint has more views than its metadata records strides for (views.unrecorded)");
        }
        assertThat(r.file("views.pt").tensorBytes(r.tensor("v10000").info())).isEqualTo(24);
        Path out = tmp.resolve("out");
        SafetensorsExport.write(r, out);
        try (FileChannel ch = FileChannel.open(out.resolve("views.safetensors"))) {
          FileLayout l = FormatRegistry.standard().read(new FormatInput("views.safetensors", ch, ch.size()))
              .orElseThrow();
          TensorInfo t = l.tensors().stream().filter(i -> i.name().equals("v10000")).findFirst().orElseThrow();
          ByteBuffer tb = ByteBuffer.allocate((int) t.byteLength());
          ch.read(tb, l.dataStart() + t.begin());
          assertThat(tb.array()).as("the unrecorded view, gathered row-major").isEqualTo(floats(0, 3, 1, 4, 2, 5));
        }
      }
      Path back = tmp.resolve("back");
      repo.pull("m", back, io.ferry.transfer.PullOptions.defaults());
      assertThat(back.resolve("views.pt")).hasSameBinaryContentAs(src.resolve("views.pt"));
      assertThat(back.resolve("values.pt")).hasSameBinaryContentAs(src.resolve("values.pt"));
    }
  }

  /** A new store holding the directory {@code src} pushed as model {@code m}. */
  private Repository pushedAsM(Path src) throws IOException {
    Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults());
    try {
      repo.push(src, "m", PushOptions.builder().build());
      return repo;
    } catch (IOException | RuntimeException e) {
      repo.close();
      throw e;
    }
  }
}
