package io.ferry.format.torch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.Region;
import io.ferry.format.TensorInfo;
import io.ferry.format.registry.FormatRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The torch format on hand-made archives: the layout of a checkpoint (storages as regions, named views as the
 * table), how files are matched, and every archive-level refusal with its message.
 */
class TorchFormatTest {
  private static final String OPAQUE = "push --opaque GLOB stores the file as its bytes, unread";
  @TempDir Path tmp;

  /** OrderedDict(w=[2,3] f32, tied=same, t=w transposed, b=[2] i64, lr=0.001, note="hi"). */
  private static byte[] statePickle() {
    return Pickles.proto2().global("collections", "OrderedDict").op(')').op('R').mark()
        .str("w").tensor("FloatStorage", "0", 6, 0, new int[] {2, 3}, new int[] {3, 1})
        .str("tied").tensor("FloatStorage", "0", 6, 0, new int[] {2, 3}, new int[] {3, 1})
        .str("t").tensor("FloatStorage", "0", 6, 0, new int[] {3, 2}, new int[] {1, 3})
        .str("b").tensor("LongStorage", "1", 2, 0, new int[] {2}, new int[] {1})
        .str("lr").op('G').raw(ByteBuffer.allocate(8).putDouble(0.001).array())
        .str("note").str("hi")
        .op('u').stop().bytes();
  }

  /**
   * What torch 2 writes for {@code {'w': p, 't': t, 'c': 1+2j, 'e': q}} where {@code p} is a Parameter with
   * {@code p.tag = 3}, {@code t} a tensor with {@code t.note = 'x'} and {@code q} a Parameter whose attribute (and
   * slot) holds a tensor: {@code _rebuild_parameter_with_state} with the attributes as state,
   * {@code torch._tensor._rebuild_from_type_v2(_rebuild_tensor_v2, torch.Tensor, args, state)} and
   * {@code builtins.complex(1.0, 2.0)}. torch.load(weights_only=True) reads them all; they were refused.
   */
  private static Pickles attributesPickle() {
    return Pickles.proto2().op('}').mark()
        .str("w").global("torch._utils", "_rebuild_parameter_with_state").mark()
        .tensor("FloatStorage", "0", 4, 0, new int[] {4}, new int[] {1})
        .op(0x88).global("collections", "OrderedDict").op(')').op('R')
        .op('}').str("tag").int1(3).op('s').op('t').op('R')
        .str("t").global("torch._tensor", "_rebuild_from_type_v2").mark()
        .global("torch._utils", "_rebuild_tensor_v2").global("torch", "Tensor").mark()
        .mark().str("storage").global("torch", "LongStorage").str("1").str("cpu").binint(3).op('t').op('Q')
        .binint(0).mark().binint(3).op('t').mark().binint(1).op('t').op(0x89)
        .global("collections", "OrderedDict").op(')').op('R').op('t')
        .op('}').str("note").str("x").op('s').op('t').op('R')
        .str("c").global("__builtin__", "complex").op('G').raw(ByteBuffer.allocate(8).putDouble(1).array())
        .op('G').raw(ByteBuffer.allocate(8).putDouble(2).array()).op(0x86).op('R')
        .str("e").global("torch._utils", "_rebuild_parameter_with_state").mark()
        .tensor("FloatStorage", "0", 4, 2, new int[] {2}, new int[] {1})
        .op(0x89).global("collections", "OrderedDict").op(')').op('R')
        .op('N').op('}').str("extra").tensor("LongStorage", "1", 3, 1, new int[] {2}, new int[] {1}).op('s')
        .op(0x86).op('t').op('R')
        .op('u');
  }

  @Test
  void tensorsWithAttributesAndComplexNumbersAreReadAsTorchReadsThem() throws IOException {
    FileLayout l = read("m.pt", Pickles.checkpoint(attributesPickle().stop().bytes(), new byte[16], new byte[24]));
    assertThat(l.tensors()).extracting(TensorInfo::name, TensorInfo::dtype, TensorInfo::shape)
        .containsExactlyInAnyOrder(org.assertj.core.groups.Tuple.tuple("e", DType.F32, List.of(2L)),
        org.assertj.core.groups.Tuple.tuple("e.__dict__.extra", DType.I64, List.of(2L)),
        org.assertj.core.groups.Tuple.tuple("t", DType.I64, List.of(3L)),
        org.assertj.core.groups.Tuple.tuple("w", DType.F32, List.of(4L)));
    assertThat(l.metadata().asStrings()).containsExactly(java.util.Map.entry("value.c", "{\"complex\":[1.0,2.0]}"),
        java.util.Map.entry("value.t.__dict__", "{\"note\":\"x\"}"),
        java.util.Map.entry("value.w.__dict__", "{\"tag\":3}"));
  }

  /** {@code numpy.core.multiarray.scalar(dtype(code, order), bytes)}, as numpy pickles a scalar. */
  private static Pickles npScalar(Pickles p, String code, String order, byte[] value) {
    return p.global("numpy.core.multiarray", "scalar").global("numpy", "dtype").str(code).op(0x89).op(0x88).op(0x87)
        .op('R').mark().int1(3).str(order).op('N').op('N').op('N').binint(-1).binint(-1).int1(0).op('t').op('b')
        .op('C', value.length).raw(value).op(0x86).op('R');
  }

  /**
   * A numpy complex scalar ({@code np.complex128(1+2j)}, {@code np.complex64}) was recorded as a bare
   * {@code [real, imag]} list, like a list of two floats, where a Python {@code complex} is
   * {@code {"complex":[real,imag]}}: both are complex numbers now, recorded alike; other scalars are as before.
   */
  @Test
  void numpyComplexScalarsAreRecordedAsComplexNumbers() throws IOException {
    Pickles p = Pickles.proto2().op('}').mark()
        .str("w").tensor("FloatStorage", "0", 2, 0, new int[] {2}, new int[] {1});
    npScalar(p.str("c16"), "c16", "<", ByteBuffer.allocate(16).order(java.nio.ByteOrder.LITTLE_ENDIAN).putDouble(1)
        .putDouble(2).array());
    npScalar(p.str("c8be"), "c8", ">", ByteBuffer.allocate(8).putFloat(0.5f).putFloat(-1.25f).array());
    npScalar(p.str("f8"), "f8", "<", ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putDouble(0.25)
        .array());
    p.str("pair").mark().op('G').raw(ByteBuffer.allocate(8).putDouble(1).array()).op('G')
        .raw(ByteBuffer.allocate(8).putDouble(2).array()).op('l');
    FileLayout l = read("m.pt", Pickles.checkpoint(p.op('u').stop().bytes(), new byte[8]));
    assertThat(l.metadata().asStrings()).containsExactly(
        java.util.Map.entry("value.c16", "{\"complex\":[1.0,2.0]}"),
        java.util.Map.entry("value.c8be", "{\"complex\":[0.5,-1.25]}"),
        java.util.Map.entry("value.f8", "0.25"), java.util.Map.entry("value.pair", "[1.0,2.0]"));
  }

  @Test
  void attributesAndComplexNumbersTorchWouldNotSetAreRefused() throws IOException {
    refused(Pickles.checkpoint(Pickles.proto2().global("torch._utils", "_rebuild_parameter_with_state").mark()
            .tensor("FloatStorage", "0", 1, 0, new int[] {1}, new int[] {1})
            .op(0x88).global("collections", "OrderedDict").op(')').op('R')
            .op('}').int1(7).int1(3).op('s').op('t').op('R').stop().bytes(), new byte[4]),
        "archive/data.pkl: REDUCE of 'torch._utils._rebuild_parameter_with_state' sets an attribute named by an int"
            + " (attribute names are strings) (opcode REDUCE at byte 219)");
    refusedMatching(Pickles.checkpoint(Pickles.proto2().global("torch._tensor", "_rebuild_from_type_v2").mark()
            .global("torch._utils", "_rebuild_tensor_v2").global("mymodule", "MyTensor").op(')').op('N').op('t')
            .op('R').stop().bytes()),
        "archive/data\\.pkl: global 'mymodule\\.MyTensor' is not allowed; .*");
    refused(Pickles.checkpoint(Pickles.proto2().op('}').str("c").global("__builtin__", "complex").str("1+2j")
            .op(0x85).op('R').op('s').stop().bytes()),
        "archive/data.pkl: REDUCE of 'builtins.complex' with arguments (a string); expected (float, float), as pickle"
            + " writes a complex number (opcode REDUCE at byte 40), building the value of 'c'");
  }

  private static byte[] checkpoint() throws IOException {
    return Pickles.checkpoint(statePickle(), new byte[24], new byte[16]);
  }

  private FileLayout read(String name, byte[] bytes) throws IOException {
    Path f = tmp.resolve(name);
    Files.write(f, bytes);
    try (FileChannel ch = FileChannel.open(f)) {
      return new TorchFormat().read(new FormatInput(name, ch, ch.size()));
    }
  }

  private Optional<FileLayout> registryRead(String name, byte[] bytes) throws IOException {
    Path f = tmp.resolve(name);
    Files.write(f, bytes);
    try (FileChannel ch = FileChannel.open(f)) {
      return FormatRegistry.standard().read(new FormatInput(name, ch, ch.size()));
    }
  }

  private void refusedMatching(byte[] bytes, String regex) {
    assertThatThrownBy(() -> read("m.pt", bytes)).isInstanceOf(InvalidInputException.class)
        .hasMessageMatching("m\\.pt: " + regex);
  }

  private void refused(byte[] bytes, String message) {
    assertThatThrownBy(() -> read("m.pt", bytes)).isInstanceOf(InvalidInputException.class)
        .hasMessage("m.pt: " + message);
  }

  @Test
  void storagesAreRegionsAndNamedViewsAreTheTable() throws Exception {
    byte[] bytes = checkpoint();
    FileLayout l = read("m.pt", bytes);
    assertThat(l.format()).isEqualTo("torch");
    assertThat(l.dataStart()).isZero();
    List<Region.Tensor> storages = l.tensorRegions();
    assertThat(storages).extracting(Region.Tensor::name).containsExactly("archive/data/0", "archive/data/1");
    Region.Tensor s0 = storages.get(0);
    assertThat(s0.dtype()).isEqualTo(DType.F32);
    assertThat(s0.shape()).containsExactly(6L);
    assertThat(s0.length()).isEqualTo(24);
    assertThat(storages.get(1).dtype()).isEqualTo(DType.I64);
    assertThat(l.regions()).allMatch(r -> r instanceof Region.Header || r instanceof Region.Tensor);
    assertThat(l.tensors()).containsExactly(
        new TensorInfo("t", DType.F32, List.of(3L, 2L), s0.start(), s0.end()),
        new TensorInfo("tied", DType.F32, List.of(2L, 3L), s0.start(), s0.end()),
        new TensorInfo("w", DType.F32, List.of(2L, 3L), s0.start(), s0.end()),
        new TensorInfo("b", DType.I64, List.of(2L), storages.get(1).start(), storages.get(1).end()));
    assertThat(l.metadata().asStrings()).containsExactly(java.util.Map.entry("strides.t", "[1,3]"),
        java.util.Map.entry("value.lr", "0.001"), java.util.Map.entry("value.note", "\"hi\""));
    // the same bytes give the same layout
    assertThat(read("again.pt", bytes).tensors()).isEqualTo(l.tensors());
  }

  @Test
  void aCheckpointOfAnyNameIsRecognisedByItsFirstEntryAndOtherZipsStayOpaque() throws Exception {
    Optional<FileLayout> bin = registryRead("pytorch_model.bin", checkpoint());
    assertThat(bin).get().extracting(FileLayout::format).isEqualTo("torch");
    assertThat(registryRead("data.bin", Pickles.zip("readme.txt", new byte[] {1}, "archive/data.pkl",
        statePickle()))).isEmpty();
    assertThat(registryRead("weights.bin", new byte[] {'P', 'K', 3, 4, 0, 0})).isEmpty();
    assertThat(registryRead("model.pth", checkpoint())).get().extracting(FileLayout::format).isEqualTo("torch");
    // a .pt file is the format's to read: garbage in it is an error, not an opaque file
    assertThatThrownBy(() -> registryRead("x.pt", "hello".getBytes(StandardCharsets.US_ASCII)))
        .isInstanceOf(InvalidInputException.class).hasMessageStartingWith("x.pt: not a PyTorch checkpoint");
  }

  /**
   * A TorchScript archive ({@code torch.jit.save}, what a Triton model repository holds as {@code model.pt}) is a zip
   * like a checkpoint but with code (compressed) and constants: it was refused at push ("compressed (method 8)"); it is
   * now an opaque file, while a checkpoint with a stray compressed entry is still refused.
   */
  @Test
  void aTorchScriptArchiveNamedPtIsOpaque() throws Exception {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    try (ZipOutputStream z = new ZipOutputStream(b)) {
      for (String[] e : new String[][] {{"model/data/0", "STORED"}, {"model/data.pkl", "STORED"},
          {"model/code/__torch__/torch/nn/modules/linear.py", "DEFLATED"}, {"model/constants.pkl", "STORED"},
          {"model/version", "STORED"}}) {
        byte[] data = e[0].endsWith("data.pkl") ? statePickle() : e[0].getBytes(StandardCharsets.US_ASCII);
        ZipEntry entry = new ZipEntry(e[0]);
        if (e[1].equals("STORED")) {
          entry.setMethod(ZipEntry.STORED);
          entry.setSize(data.length);
          entry.setCompressedSize(data.length);
          java.util.zip.CRC32 crc = new java.util.zip.CRC32();
          crc.update(data);
          entry.setCrc(crc.getValue());
        }
        z.putNextEntry(entry);
        z.write(data);
        z.closeEntry();
      }
    }
    assertThat(registryRead("model.pt", b.toByteArray())).isEmpty();
    assertThatThrownBy(() -> read("model.pt", b.toByteArray()))
        .isInstanceOf(io.ferry.format.NotATensorFileException.class)
        .hasMessage("model.pt: a TorchScript archive (torch.jit.save: code and constants.pkl), not a torch.save"
            + " checkpoint");
    // a checkpoint with a compressed entry of another name is still refused
    ByteArrayOutputStream c = new ByteArrayOutputStream();
    try (ZipOutputStream z = new ZipOutputStream(c)) {
      z.putNextEntry(new ZipEntry("archive/data.pkl"));
      z.write(statePickle());
      z.closeEntry();
    }
    assertThatThrownBy(() -> registryRead("m.pt", c.toByteArray())).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("is compressed (method 8)");
  }

  private static byte[] legacyObject(String secondType) {
    return Pickles.proto2().op('}').mark()
        .str("w").tensor("FloatStorage", "140", 6, 0, new int[] {2, 3}, new int[] {3, 1}, true)
        .str("t").tensor("FloatStorage", "140", 6, 0, new int[] {3, 2}, new int[] {1, 3}, true)
        .str("b").tensor(secondType, "99", 2, 0, new int[] {2}, new int[] {1}, true)
        .str("epoch").op('K', 2).op('u').stop().bytes();
  }

  @Test
  void theLegacyFormatIsReadLikeTheZipFormat() throws Exception {
    byte[] bytes = Pickles.legacy(legacyObject("LongStorage"), new String[] {"140", "99"}, new long[] {6, 2},
        new byte[][] {new byte[24], new byte[16]});
    FileLayout l = read("old.pt", bytes);
    List<Region.Tensor> storages = l.tensorRegions();
    assertThat(storages).extracting(Region.Tensor::name).containsExactly("storages/140", "storages/99");
    assertThat(storages.get(1).end()).isEqualTo(bytes.length);
    assertThat(storages.get(0).start()).isEqualTo(bytes.length - 16 - 8 - 24);
    assertThat(l.tensors()).extracting(TensorInfo::name).containsExactly("t", "w", "b");
    assertThat(l.metadata().asStrings()).containsEntry("value.epoch", "2").containsEntry("strides.t", "[1,3]");
    // recognised by its magic under any name
    assertThat(registryRead("pytorch_model.bin", bytes)).get().extracting(FileLayout::format).isEqualTo("torch");
  }

  /**
   * The legacy format's list of storage keys grows with the number of storages (keys are 14 or 15 digits, torch's
   * addresses): past about 2,700 storages it is over 64 KiB, and such files were refused as truncated.
   */
  @Test
  void aLegacyFileWithThousandsOfStoragesIsRead() throws Exception {
    int n = 5000;
    Pickles object = Pickles.proto2().op('}').mark();
    String[] keys = new String[n];
    long[] counts = new long[n];
    byte[][] data = new byte[n][];
    for (int i = 0; i < n; i++) {
      keys[i] = Long.toString(140_000_000_000_000L + 16L * i);
      counts[i] = 1;
      data[i] = new byte[4];
      object.str("layers." + i + ".weight").tensor("FloatStorage", keys[i], 1, 0, new int[] {1}, new int[] {1}, true);
    }
    byte[] bytes = Pickles.legacy(object.op('u').stop().bytes(), keys, counts, data);
    FileLayout l = read("old.pt", bytes);
    assertThat(l.tensors()).hasSize(n);
    assertThat(l.tensorRegions().get(n - 1).end()).isEqualTo(bytes.length);
  }

  /**
   * A value left below the result on the pickle's stack is no part of what torch.load returns, but torch.load fills
   * the storages it names when the file lists them: such a storage is the file's bytes, no tensor's. Ferry refused the
   * file ("storage '5' is listed but no tensor uses it").
   */
  @Test
  void aListedStorageOnlyAValueBelowTheResultNamesIsReadAsBytes() throws Exception {
    byte[] object = Pickles.proto2().tensor("FloatStorage", "5", 5, 0, new int[] {5}, new int[] {1}, true)
        .op('}').str("w").tensor("FloatStorage", "140", 6, 0, new int[] {2, 3}, new int[] {3, 1}, true).op('s')
        .stop().bytes();
    byte[] bytes = Pickles.legacy(object, new String[] {"140", "5"}, new long[] {6, 5},
        new byte[][] {new byte[24], new byte[20]});
    FileLayout l = read("old.pt", bytes);
    assertThat(l.tensors()).extracting(TensorInfo::name).containsExactly("w");
    assertThat(l.tensorRegions()).extracting(Region.Tensor::name).containsExactly("storages/140");
    assertThat(l.tensorRegions().get(0).end()).isEqualTo(bytes.length - 28);
  }

  /**
   * torch.load reads the entry of every storage the pickle names, also one only a value below the result names, and
   * refuses the archive when that entry is missing or of another size. Ferry stored such an archive.
   */
  @Test
  void aStorageOnlyAValueBelowTheResultNamesMustBeInTheArchive() throws Exception {
    byte[] object = Pickles.proto2().tensor("FloatStorage", "1", 4, 0, new int[] {4}, new int[] {1})
        .op('}').str("w").tensor("FloatStorage", "0", 4, 0, new int[] {4}, new int[] {1}).op('s').stop().bytes();
    refused(Pickles.checkpoint(object, new byte[16]), "the pickle names storage '1' (4 elements of F32, 16 bytes), but"
        + " the archive has no entry 'archive/data/1'; torch.load refuses such a file");
    refused(Pickles.checkpoint(object, new byte[16], new byte[8]), "the pickle names storage '1' (4 elements of F32,"
        + " 16 bytes), but the archive entry 'archive/data/1' holds 8 bytes; torch.load refuses such a file");
  }

  /**
   * torch 2's legacy writer pickles a uint16, uint32, uint64 or float8 tensor over a torch.storage.UntypedStorage,
   * which its own loader cannot read back ("type object 'torch.storage.UntypedStorage' has no attribute 'dtype'").
   * Ferry refused such a file calling that class "not a storage type", which said neither why nor what to do.
   */
  @Test
  void aLegacyFileWithAnUntypedStorageIsRefusedSayingWhatToDo() {
    byte[] object = Pickles.proto2().op('}').str("w")
        .tensorV3("torch.storage", "uint16", "94871077293488", 8, 0, new int[] {4}, new int[] {1}, true)
        .op('s').stop().bytes();
    assertThatThrownBy(() -> read("m.pt", Pickles.legacy(object, new String[] {"94871077293488"}, new long[] {8},
        new byte[][] {new byte[8]}))).isInstanceOf(InvalidInputException.class)
        .hasMessageStartingWith("m.pt: pickle at byte 45: storage '94871077293488' is a torch.storage.UntypedStorage,"
            + " which torch.save writes in the legacy format (_use_new_zipfile_serialization=False) for a tensor of"
            + " uint16, uint32, uint64 or a float8 type, or for a storage saved alone, and which torch.load cannot"
            + " read back either; save it again in torch.save's default (zip) format, or " + OPAQUE)
        .hasMessageEndingWith("building the value of 'w'");
  }

  @Test
  void legacyFilesThatDoNotAddUpAreRefused() throws Exception {
    byte[] object = legacyObject("LongStorage");
    String[] keys = {"140", "99"};
    byte[][] data = {new byte[24], new byte[16]};
    byte[] good = Pickles.legacy(object, keys, new long[] {6, 2}, data);
    refused(Arrays.copyOf(good, good.length - 1), "storage '99' of 16 bytes from byte " + (good.length - 16)
        + " runs past the end of the file (" + (good.length - 1) + " bytes; truncated?)");
    refused(Arrays.copyOf(good, good.length + 2), "2 bytes follow the last storage (at byte " + good.length
        + "; torch.load ignores them, Ferry stores a checkpoint only when it is nothing but its pickles and storages: "
        + OPAQUE + ")");
    refused(Pickles.legacy(object, keys, new long[] {6, 3}, data), "storage '99' at byte " + (good.length - 24)
        + " holds 3 elements, the pickle says 2");
    // a count past any long is the unsigned number the file holds, not a negative one
    refused(Pickles.legacy(object, keys, new long[] {6, -1}, data), "storage '99' at byte " + (good.length - 24)
        + " holds 18446744073709551615 elements, the pickle says 2");
    refused(Pickles.legacy(object, new String[] {"140"}, new long[] {6}, new byte[][] {data[0]}),
        "tensor 'b' uses storage '99', but the file lists no storage of that key");
    refused(Pickles.legacy(object, new String[] {"140", "99", "7"}, new long[] {6, 2}, data),
        "storage '7' is listed but the pickle names no storage of that key");
    // the object pickle is held to the same allow-list
    byte[] evil = Pickles.proto2().global("os", "system").mark().str("id").op('t').op('R').stop().bytes();
    assertThatThrownBy(() -> read("m.pt", Pickles.legacy(evil, new String[0], new long[0], new byte[0][])))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageStartingWith("m.pt: pickle at byte 45: global 'os.system' is not allowed;")
        .hasMessageEndingWith("(opcode GLOBAL at byte 2)");
    // the zip format's persistent ids are not the legacy format's
    refused(Pickles.legacy(Pickles.proto2().tensor("FloatStorage", "1", 1, 0, new int[] {1}, new int[] {1}).stop()
            .bytes(), new String[] {"1"}, new long[] {1}, new byte[][] {new byte[4]}),
        "pickle at byte 45: persistent id (a string, global 'torch.FloatStorage', a string, a string, an int) is not"
            + " ('storage', torch.<Type>Storage, key, location, size, None) (opcode BINPERSID at byte 89)");
  }

  @Test
  void otherBytesAreRefusedClearly() {
    refused("not a zip".getBytes(StandardCharsets.US_ASCII), "not a PyTorch checkpoint (a torch.save zip archive"
        + " starts with a local file header, 'PK\\x03\\x04', this file with 0x6e6f7420)");
    byte[] emptyZip = new byte[22]; // an end-of-central-directory record alone: what zipfile writes for no entries
    emptyZip[0] = 'P';
    emptyZip[1] = 'K';
    emptyZip[2] = 5;
    emptyZip[3] = 6;
    refused(emptyZip, "not a PyTorch checkpoint (an empty zip archive: no entries, where torch.save writes data.pkl"
        + " and the tensors' data)");
    refused(new byte[] {(byte) 0x80, 2, (byte) 0x8a, 1, 5, '.'}, "the legacy format's first pickle is not its magic"
        + " number");
  }

  @Test
  void truncatedArchivesAreRefused() throws Exception {
    byte[] full = checkpoint();
    refused(Arrays.copyOf(full, full.length / 2), "no zip end-of-central-directory record ends the file (not a zip"
        + " archive, truncated, or bytes appended; " + OPAQUE + ")");
    refused(Arrays.copyOf(full, full.length - 1), "no zip end-of-central-directory record ends the file (not a zip"
        + " archive, truncated, or bytes appended; " + OPAQUE + ")");
    byte[] appended = Arrays.copyOf(full, full.length + 3);
    refused(appended, "no zip end-of-central-directory record ends the file (not a zip archive, truncated, or bytes"
        + " appended; " + OPAQUE + ")");
    refused(Arrays.copyOf(full, 20), "20 bytes is too short for a zip archive (at least 22)");
    // an entry whose data runs into the central directory (its size claims more than the archive holds)
    byte[] pkl = statePickle();
    RawZip z = new RawZip().add("archive/data.pkl", pkl);
    int at = z.size();
    z.junk(RawZip.local("archive/data/0", new byte[4])).central("archive/data/0", new byte[24], at);
    refused(z.bytes(), "zip entry 'archive/data/0': the local header at byte " + at + " gives sizes 4 (compressed)"
        + " and 4 and CRC " + Long.toHexString(RawZip.crc(new byte[4])) + ", the central directory 24 and "
        + Long.toHexString(RawZip.crc(new byte[24])));
    // a local header whose compressed size alone disagrees (the directory's size and CRC right)
    RawZip y = new RawZip().add("archive/data.pkl", pkl);
    int at2 = y.size();
    byte[] local = RawZip.local("archive/data/0", new byte[4]);
    local[18] = 5;
    y.junk(local).central("archive/data/0", new byte[4], at2);
    refused(y.bytes(), "zip entry 'archive/data/0': the local header at byte " + at2 + " gives sizes 5 (compressed)"
        + " and 4 and CRC " + Long.toHexString(RawZip.crc(new byte[4])) + ", the central directory 4 and "
        + Long.toHexString(RawZip.crc(new byte[4])));
  }

  @Test
  void entryNamesThatLeaveTheArchiveAreRefused() throws Exception {
    byte[] pkl = Pickles.proto2().op('}').stop().bytes();
    String rule = "; entry names must be relative paths without '\\.\\.'";
    refusedMatching(Pickles.zip("archive/data.pkl", pkl, "archive/../../etc/cron.d/x", new byte[1]),
        "zip entry name 'archive/\\.\\./\\.\\./etc/cron\\.d/x' \\(central directory at byte \\d+\\) has a '\\.\\.'"
            + " segment" + rule);
    refusedMatching(Pickles.zip("archive/data.pkl", pkl, "/etc/passwd", new byte[1]),
        "zip entry name '/etc/passwd' \\(central directory at byte \\d+\\) is an absolute path" + rule);
    refusedMatching(Pickles.zip("archive/data.pkl", pkl, "archive\\..\\x", new byte[1]),
        "zip entry name 'archive\\\\\\.\\.\\\\x' \\(central directory at byte \\d+\\) holds a backslash or NUL" + rule);
    refusedMatching(Pickles.zip("archive/data.pkl", pkl, "C:/x", new byte[1]),
        "zip entry name 'C:/x' \\(central directory at byte \\d+\\) starts with a drive letter" + rule);
    refusedMatching(Pickles.zip("archive/data.pkl", pkl, "archive//x", new byte[1]),
        "zip entry name 'archive//x' \\(central directory at byte \\d+\\) has a '' segment" + rule);
    refused(Pickles.zip("archive/data.pkl", pkl, "other/x", new byte[1]),
        "zip entry 'other/x' lies outside the archive's directory 'archive/'");
  }

  @Test
  void duplicateCompressedOverlappingAndStrayBytesAreRefused() throws Exception {
    byte[] pkl = statePickle();
    // duplicate: rename data/1 to data/0 in its local and central headers
    byte[] dup = checkpoint();
    byte[] one = "archive/data/1".getBytes(StandardCharsets.US_ASCII);
    for (int i = 0; i + one.length <= dup.length; i++) {
      if (Arrays.equals(dup, i, i + one.length, one, 0, one.length)) {
        dup[i + one.length - 1] = '0';
      }
    }
    refused(dup, "zip entry 'archive/data/0' appears twice");

    ByteArrayOutputStream deflated = new ByteArrayOutputStream();
    try (ZipOutputStream zo = new ZipOutputStream(deflated)) {
      zo.putNextEntry(new ZipEntry("archive/data.pkl"));
      zo.write(pkl);
      zo.closeEntry();
    }
    refused(deflated.toByteArray(), "zip entry 'archive/data.pkl' is compressed (method 8); torch.save stores every"
        + " entry uncompressed, and Ferry reads only such archives (" + OPAQUE + ")");

    // entry B's local record hides inside entry A's data: two names for the same bytes
    byte[] inner = RawZip.local("archive/data/0", new byte[24]);
    RawZip overlap = new RawZip().add("archive/data.pkl", pkl);
    int a = overlap.size();
    overlap.add("archive/extra", inner);
    int b = a + 30 + "archive/extra".length();
    overlap.central("archive/data/0", new byte[24], b);
    refused(overlap.bytes(), "zip entry 'archive/data/0' starts at byte " + b + " but the entry before it ends at"
        + " byte " + (b + inner.length) + " (overlapping entries)");

    RawZip gap = new RawZip().add("archive/data.pkl", pkl);
    int g = gap.size();
    gap.junk(new byte[] {'e', 'v', 'i', 'l'}).add("archive/data/0", new byte[24]).add("archive/data/1", new byte[16]);
    refused(gap.bytes(), "zip entry 'archive/data/0' starts at byte " + (g + 4) + " but bytes [" + g + ", " + (g + 4)
        + ") belong to no entry");
  }

  @Test
  void storagesMustExistAndMatchTheirSize() throws Exception {
    refused(Pickles.checkpoint(statePickle(), new byte[24]),
        "tensor 'b' uses storage '1', but the archive has no entry 'archive/data/1'");
    refused(Pickles.checkpoint(statePickle(), new byte[24], new byte[8]),
        "storage 'archive/data/1' holds 8 bytes, but the pickle makes it 2 elements of I64 (16 bytes)");
  }

  /**
   * torch 2's {@code torch.serialization.set_crc32_options(False)} makes torch.save write 0 as every entry's CRC-32,
   * and torch.load reads such a file; it was refused as corrupt. One wrong CRC among real ones still is.
   */
  @Test
  void anArchiveWrittenWithoutCrcsIsReadButOneWrongCrcAmongRealOnesIsRefused() throws Exception {
    byte[] version = "3\n".getBytes(StandardCharsets.US_ASCII);
    byte[] order = "little".getBytes(StandardCharsets.US_ASCII);
    byte[] noCrcs = new RawZip().addWithoutCrc("archive/data.pkl", statePickle())
        .addWithoutCrc("archive/byteorder", order).addWithoutCrc("archive/data/0", new byte[24])
        .addWithoutCrc("archive/data/1", new byte[16]).addWithoutCrc("archive/version", version).bytes();
    assertThat(read("m.pt", noCrcs).tensors()).extracting(TensorInfo::name, TensorInfo::dtype, TensorInfo::shape)
        .isEqualTo(read("m.pt", checkpoint()).tensors().stream()
            .map(t -> org.assertj.core.groups.Tuple.tuple(t.name(), t.dtype(), t.shape())).toList());
    byte[] oneZero = new RawZip().addWithoutCrc("archive/data.pkl", statePickle()).add("archive/byteorder", order)
        .add("archive/data/0", new byte[24]).add("archive/data/1", new byte[16]).add("archive/version", version)
        .bytes();
    assertThatThrownBy(() -> read("m.pt", oneZero)).isInstanceOf(InvalidInputException.class)
        .hasMessageStartingWith("m.pt: 'archive/data.pkl' has CRC-32 ")
        .hasMessageEndingWith(", the zip directory says 0 (corrupt)");
  }

  @Test
  void byteOrderCorruptPicklesAndOddArchivesAreRefused() throws Exception {
    byte[] pkl = statePickle();
    refused(Pickles.zip("archive/data.pkl", pkl, "archive/byteorder", "big".getBytes(StandardCharsets.US_ASCII),
        "archive/data/0", new byte[24], "archive/data/1", new byte[16]),
        "'archive/byteorder' says 'big'; Ferry reads little-endian checkpoints only (" + OPAQUE + ")");
    byte[] corrupt = checkpoint();
    byte[] note = "note".getBytes(StandardCharsets.US_ASCII);
    for (int i = 0; i + note.length <= corrupt.length; i++) {
      if (Arrays.equals(corrupt, i, i + note.length, note, 0, note.length)) {
        corrupt[i] = 'm';
        break;
      }
    }
    assertThatThrownBy(() -> read("m.pt", corrupt)).isInstanceOf(InvalidInputException.class)
        .hasMessageStartingWith("m.pt: 'archive/data.pkl' has CRC-32 ").hasMessageEndingWith("(corrupt)");
    refused(Pickles.zip("archive/data.pkl", pkl, "other/data.pkl", pkl),
        "the archive holds two pickles, 'archive/data.pkl' and 'other/data.pkl'");
    refused(Pickles.zip("archive/version", new byte[] {'3'}),
        "the zip archive holds no '<dir>/data.pkl', so it is not a torch.save checkpoint");
  }

  @Test
  void deepNestingCyclesAndStraySoragesAreRefusedWhenTheValuesAreWalked() throws Exception {
    Pickles deep = Pickles.proto2();
    for (int i = 0; i < 5000; i++) {
      deep.op(']');
    }
    for (int i = 0; i < 4999; i++) {
      deep.op('a');
    }
    refused(Pickles.checkpoint(deep.stop().bytes()), "containers nest deeper than 100 levels");
    refused(Pickles.checkpoint(Pickles.proto2().op(']').op('q', 0).op('h', 0).op('a').stop().bytes()),
        "a container of the pickle contains itself (a cycle)");
    refused(Pickles.checkpoint(Pickles.proto2().mark().str("storage").global("torch", "FloatStorage").str("0")
            .str("cpu").binint(1).op('t').op('Q').op(0x85).stop().bytes(), new byte[4]),
        "the pickle holds a storage as a value (outside a tensor; torch.save of a storage alone writes one, and"
            + " torch.load reads it, but Ferry lists tensors only); " + OPAQUE);
    refused(Pickles.checkpoint(Pickles.proto2().op('N').stop().bytes()),
        "the checkpoint holds None, not tensors in dicts, lists or tuples");
    // two paths to one name
    refused(Pickles.checkpoint(Pickles.proto2().op('}').mark().str("a.0").op('K', 1).str("a").op(']')
            .tensor("FloatStorage", "0", 1, 0, new int[] {1}, new int[] {1}).op('a').op('u').stop().bytes(),
            new byte[4]), "two values are named 'a.0'");
  }

  @Test
  void aNonTensorValueOverTheLimitIsNamed() throws Exception {
    // {"w": tensor, "opt": [n strings of 1 MiB]}: strings are at most 1 MiB, so a value this long is a container
    String mib = "y".repeat(1 << 20);
    for (int n : new int[] {8, 9}) {
      // 8 strings pass the check made before each item and are caught when the value is complete; 9 on the way
      Pickles p = Pickles.proto2().op('}').mark().str("w")
          .tensor("FloatStorage", "0", 1, 0, new int[] {1}, new int[] {1}).str("opt").op(']').mark();
      for (int i = 0; i < n; i++) {
        p.str(mib);
      }
      refused(Pickles.checkpoint(p.op('e').op('u').stop().bytes(), new byte[4]),
          "the value 'opt' is longer than " + TorchLimits.MAX_VALUE_JSON_CHARS + " characters as JSON");
    }
  }

  /**
   * torch.load requires the archive's format version ({@code <dir>/.data/version}, else {@code <dir>/version}) and
   * reads versions 1 to 10; an archive without one, or with another, was pushed as a checkpoint.
   */
  @Test
  void theFormatVersionMustBeOneTorchLoadReads() throws Exception {
    byte[] pkl = statePickle();
    refused(Pickles.zip("archive/data.pkl", pkl, "archive/data/0", new byte[24], "archive/data/1", new byte[16]),
        "the archive has no 'archive/version' entry, which torch.save always writes and torch.load requires (push"
            + " --opaque GLOB stores the file as its bytes, unread)");
    for (String v : new String[] {"999\n", "0", "abc", "", "-1", "3abc"}) {
      refused(Pickles.zip("archive/data.pkl", pkl, "archive/data/0", new byte[24], "archive/data/1", new byte[16],
              "archive/version", v.getBytes(StandardCharsets.US_ASCII)),
          "'archive/version' says '" + v.strip() + "', where torch.load reads format versions 1 to 10 (torch.save"
              + " writes 3)");
    }
    for (String v : new String[] {"3\n", "10", " 3\r\n", "1"}) {
      assertThat(read("m.pt", Pickles.zip("archive/data.pkl", pkl, "archive/data/0", new byte[24], "archive/data/1",
          new byte[16], "archive/version", v.getBytes(StandardCharsets.US_ASCII))).tensors()).hasSize(4);
    }
    // .data/version, where torch writes it, is the one read
    refused(Pickles.zip("archive/data.pkl", pkl, "archive/data/0", new byte[24], "archive/data/1", new byte[16],
            "archive/.data/version", "11\n".getBytes(StandardCharsets.US_ASCII), "archive/version",
            "3\n".getBytes(StandardCharsets.US_ASCII)),
        "'archive/.data/version' says '11', where torch.load reads format versions 1 to 10 (torch.save writes 3)");
  }
}
