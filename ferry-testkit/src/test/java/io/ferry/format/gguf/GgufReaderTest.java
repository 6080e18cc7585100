package io.ferry.format.gguf;

import static io.ferry.testkit.GgufWriter.ARR;
import static io.ferry.testkit.GgufWriter.BOOL;
import static io.ferry.testkit.GgufWriter.STR;
import static io.ferry.testkit.GgufWriter.U32;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.Region;
import io.ferry.format.TensorInfo;
import io.ferry.testkit.GgufWriter;
import io.ferry.testkit.GgufWriter.Enc;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every rule of the GGUF reader, on files {@link GgufWriter} writes per the specification, and the message of each defect. */
class GgufReaderTest {
  @TempDir Path tmp;

  private FileLayout read(byte[] bytes) throws IOException {
    Path f = Files.write(tmp.resolve("m.gguf"), bytes);
    try (FileChannel ch = FileChannel.open(f)) {
      return new GgufFormat().read(new FormatInput("m.gguf", ch, ch.size()));
    }
  }

  private FileLayout read(GgufWriter w) throws IOException {
    return read(w.bytes());
  }

  private void refused(byte[] bytes, String message) {
    assertThatThrownBy(() -> read(bytes)).isInstanceOf(InvalidInputException.class).hasMessage("m.gguf: " + message);
  }

  private void refused(GgufWriter w, String message) {
    refused(w.bytes(), message);
  }

  private static GgufWriter small() {
    return new GgufWriter().str("general.architecture", "llama")
        .tensor("token_embd.weight", DType.Q4_0, 64, 3)
        .tensor("output_norm.weight", DType.F32, 5);
  }

  // ---- valid files ----

  @Test
  void layoutOfASmallModel() throws IOException {
    byte[] bytes = small().bytes();
    FileLayout l = read(bytes);
    assertThat(l.format()).isEqualTo("gguf");
    assertThat(l.size()).isEqualTo(bytes.length);
    long infosEnd = 4 + 4 + 8 + 8 + (8 + 20 + 4 + 8 + 5) // header, the string pair
        + (8 + 17 + 4 + 16 + 4 + 8) + (8 + 18 + 4 + 8 + 4 + 8);
    assertThat(l.regions().get(0)).isEqualTo(new Region.Header(0, infosEnd));
    long dataStart = (infosEnd + 31) / 32 * 32;
    assertThat(l.dataStart()).isEqualTo(dataStart);
    assertThat(l.regions()).containsExactly(
        new Region.Header(0, infosEnd),
        new Region.Padding(infosEnd, dataStart),
        new Region.Tensor("token_embd.weight", DType.Q4_0, List.of(3L, 64L), dataStart, dataStart + 108, 36),
        new Region.Padding(dataStart + 108, dataStart + 128),
        new Region.Tensor("output_norm.weight", DType.F32, List.of(5L), dataStart + 128, dataStart + 148, 20),
        new Region.Padding(dataStart + 148, dataStart + 160));
    assertThat(l.tensors()).containsExactly(
        new TensorInfo("token_embd.weight", DType.Q4_0, List.of(3L, 64L), 0, 108),
        new TensorInfo("output_norm.weight", DType.F32, List.of(5L), 128, 148));
    assertThat(l.tensors().get(0).rowBytes()).isEqualTo(36);
    GgufMetadata m = l.metadata(GgufMetadata.class).orElseThrow();
    assertThat(m.version()).isEqualTo(3);
    assertThat(m.alignment()).isEqualTo(32);
    assertThat(m.asStrings()).containsExactly(java.util.Map.entry("general.architecture", "llama"));
  }

  @Test
  void metadataOfEveryValueType() throws IOException {
    List<String> vocab = IntStream.range(0, 1000).mapToObj(i -> "tok" + i).toList();
    byte[] nested = new Enc().u32(ARR).u64(2).u32(U32).u64(1).u32(7).u32(U32).u64(0).bytes();
    String template = "x".repeat(5000);
    GgufWriter w = new GgufWriter()
        .kv("u8", 0, new byte[] {(byte) 200}).kv("i8", 1, new byte[] {(byte) -3})
        .kv("u16", 2, new byte[] {(byte) 0xff, (byte) 0xff}).kv("i16", 3, new byte[] {(byte) 0xfe, (byte) 0xff})
        .u32("u32", 0xffffffffL).i32("i32", -7).u64("u64", -1L).kv("i64", 11, new Enc().u64(-9).bytes())
        .f32("eps", 1e-5f).f32("rope", 500000f).f32("third", 1f / 3).f64("f64", 0.1).f32("neg0", -0f)
        .f32("nan", Float.NaN).bool("yes", true).bool("no", false)
        .str("name", "Llama \"3\"\n").str("tokenizer.chat_template", template)
        .strings("langs", List.of("en", "d\"e")).ints("ids", 1, 2, 3).floats("scores", 0.5f, -1f)
        .strings("tokenizer.ggml.tokens", vocab).kv("nested", ARR, nested)
        .kv("bad_utf8", STR, new Enc().u64(2).raw(new byte[] {(byte) 0xc3, 0x28}).bytes());
    GgufMetadata m = read(w).metadata(GgufMetadata.class).orElseThrow();
    var s = m.asStrings();
    assertThat(s.get("u8")).isEqualTo("200");
    assertThat(s.get("i8")).isEqualTo("-3");
    assertThat(s.get("u16")).isEqualTo("65535");
    assertThat(s.get("i16")).isEqualTo("-2");
    assertThat(s.get("u32")).isEqualTo("4294967295");
    assertThat(s.get("i32")).isEqualTo("-7");
    assertThat(s.get("u64")).isEqualTo("18446744073709551615");
    assertThat(s.get("i64")).isEqualTo("-9");
    assertThat(s.get("eps")).isEqualTo("0.00001");
    assertThat(s.get("rope")).isEqualTo("500000");
    assertThat(s.get("third")).isEqualTo("0.33333334");
    assertThat(s.get("f64")).isEqualTo("0.1");
    assertThat(s.get("neg0")).isEqualTo("-0");
    assertThat(s.get("nan")).isEqualTo("NaN");
    assertThat(s.get("yes")).isEqualTo("true");
    assertThat(s.get("no")).isEqualTo("false");
    assertThat(s.get("name")).isEqualTo("Llama \"3\"\n");
    assertThat(s.get("tokenizer.chat_template")).isEqualTo("<str, 5000 bytes, sha256 " + sha256(template) + ">");
    assertThat(s.get("langs")).isEqualTo("[\"en\", \"d\\\"e\"]");
    assertThat(s.get("ids")).isEqualTo("[1, 2, 3]");
    assertThat(s.get("scores")).isEqualTo("[0.5, -1]");
    Enc vocabBytes = new Enc();
    vocab.forEach(vocabBytes::str);
    assertThat(s.get("tokenizer.ggml.tokens"))
        .isEqualTo("<arr[str], 1000 elements, sha256 " + sha256(vocabBytes.bytes()) + ">");
    assertThat(s.get("nested")).isEqualTo("<arr[arr[u32]], 2 elements, sha256 "
        + sha256(Arrays.copyOfRange(nested, 12, nested.length)) + ">");
    assertThat(s.get("bad_utf8")).isEqualTo("<str, 2 bytes, not UTF-8, sha256 "
        + sha256(new byte[] {(byte) 0xc3, 0x28}) + ">");
    assertThat(m.entries()).extracting(GgufEntry::key).startsWith("u8", "i8", "u16");
    assertThat(m.entries().get(m.entries().size() - 3)).isEqualTo(new GgufEntry("tokenizer.ggml.tokens", "arr[str]",
        1000, s.get("tokenizer.ggml.tokens")));
  }

  static List<DType> blockAndGgufTypes() {
    List<DType> out = new ArrayList<>();
    for (DType t : DType.values()) {
      try {
        GgufWriter.ggmlId(t);
        out.add(t);
      } catch (IllegalArgumentException e) {
        // not in GGUF
      }
    }
    return out;
  }

  @ParameterizedTest
  @MethodSource("blockAndGgufTypes")
  void everyGgmlType(DType t) throws IOException {
    FileLayout l = read(new GgufWriter().tensor("w", t, 2L * t.blockSize(), 3));
    Region.Tensor r = l.tensorRegions().get(0);
    assertThat(r.dtype()).isEqualTo(t);
    assertThat(r.shape()).containsExactly(3L, 2L * t.blockSize());
    assertThat(r.length()).isEqualTo(6L * t.blockBytes());
    assertThat(r.rowBytes()).isEqualTo(2L * t.blockBytes());
  }

  @Test
  void everyGgmlTypeHasGgmlsBlockAndTypeSize() {
    // ggml's blck_size and type_size (ggml-common.h), each checked against llama.cpp (node-llama-cpp 3.22.1): a file
    // whose first tensor is of the type and whose alignment is 1 loads only if the next offset is right. The reader
    // and GgufWriter share DType's sizes, so the tests that write and read files cannot catch a wrong one.
    String ggml = "F32 1 4, F16 1 2, Q4_0 32 18, Q4_1 32 20, Q5_0 32 22, Q5_1 32 24, Q8_0 32 34, Q8_1 32 36, "
        + "Q2_K 256 84, Q3_K 256 110, Q4_K 256 144, Q5_K 256 176, Q6_K 256 210, Q8_K 256 292, IQ2_XXS 256 66, "
        + "IQ2_XS 256 74, IQ3_XXS 256 98, IQ1_S 256 50, IQ4_NL 32 18, IQ3_S 256 110, IQ2_S 256 82, IQ4_XS 256 136, "
        + "I8 1 1, I16 1 2, I32 1 4, I64 1 8, F64 1 8, IQ1_M 256 56, BF16 1 2, TQ1_0 256 54, TQ2_0 256 66, "
        + "MXFP4 32 17, NVFP4 64 36, Q1_0 128 18, Q2_0 64 18";
    List<String> ferry = new ArrayList<>();
    for (int id = 0; id < 64; id++) {
      DType t = GgmlTypes.byId(id);
      if (t != null) {
        ferry.add(t + " " + t.blockSize() + " " + t.blockBytes());
      }
    }
    assertThat(String.join(", ", ferry)).isEqualTo(ggml);
  }

  @Test
  void ggmlTypeTableMatchesTheWriters() {
    for (DType t : blockAndGgufTypes()) {
      assertThat(GgmlTypes.byId(GgufWriter.ggmlId(t))).isEqualTo(t);
    }
    assertThat(blockAndGgufTypes()).hasSize(35).containsAll(Arrays.stream(DType.values()).filter(DType::isBlock)
        .toList());
  }

  @Test
  void alignmentFromMetadataVersion2NoLastPaddingAndEmptyTensors() throws IOException {
    GgufWriter w = new GgufWriter().version(2).alignment(64).u32("general.alignment", 64)
        .tensor("a", DType.F16, 3).tensor("empty", DType.F32, 0, 4).tensor("b", DType.BF16, 2, 2).padLast(false);
    FileLayout l = read(w);
    assertThat(l.metadata(GgufMetadata.class).orElseThrow().alignment()).isEqualTo(64);
    assertThat(l.metadata(GgufMetadata.class).orElseThrow().version()).isEqualTo(2);
    assertThat(l.dataStart() % 64).isZero();
    assertThat(l.tensors()).extracting(TensorInfo::begin).containsExactly(0L, 64L, 64L);
    assertThat(l.tensorRegions().get(1).rowBytes()).isEqualTo(-1);
    assertThat(l.tensorRegions().get(1).shape()).containsExactly(4L, 0L);
    assertThat(l.regions().get(l.regions().size() - 1).length()).isZero();
  }

  @Test
  void noTensors() throws IOException {
    FileLayout l = read(new GgufWriter().str("general.name", "empty"));
    assertThat(l.tensors()).isEmpty();
    assertThat(l.size() % 32).isZero();
    FileLayout bare = read(new GgufWriter().bytes());
    assertThat(bare.size()).isEqualTo(32);
  }

  @Test
  void recognisesTheMagicAndAVersionOnly() {
    GgufFormat f = new GgufFormat();
    assertThat(f.recognises(ByteBuffer.wrap(small().bytes()), 1000)).isTrue();
    assertThat(f.recognises(ByteBuffer.wrap(new GgufWriter().version(0x03000000).bytes()), 1000)).isTrue();
    assertThat(f.recognises(ByteBuffer.wrap("GGUF is a file format".getBytes(StandardCharsets.US_ASCII)), 21))
        .isFalse();
    assertThat(f.recognises(ByteBuffer.wrap("GGUF".getBytes(StandardCharsets.US_ASCII)), 4)).isFalse();
    assertThat(f.recognises(ByteBuffer.wrap(new GgufWriter().version(4).bytes()), 1000)).isFalse();
  }

  // ---- refusals ----

  @Test
  void headerDefects() {
    refused("GGU".getBytes(StandardCharsets.US_ASCII),
        "file ends at byte 3 inside the magic number (4 bytes from byte 0): truncated");
    byte[] ggml = small().bytes();
    ggml[0] = 'X';
    refused(ggml, "no GGUF magic at byte 0: found 58475546, expected 47475546 ('GGUF')");
    refused(new GgufWriter().version(0), "GGUF version 0 is not supported");
    refused(new GgufWriter().version(1), "GGUF version 1 is not supported (version 1 used 32-bit counts and "
        + "lengths, and llama.cpp no longer reads it): convert the file to version 3");
    refused(new GgufWriter().version(4), "GGUF version 4 is newer than version 3, the newest Ferry reads");
    refused(new GgufWriter().version(0x03000000), "version field reads 50331648 (0x3000000): a big-endian GGUF "
        + "file; Ferry reads little-endian GGUF files only (as llama.cpp does on little-endian machines)");
    refused(new GgufWriter().tensorCount(-1), "tensor count 18446744073709551615 is outside [0, 500000]");
    refused(new GgufWriter().kvCount(Long.MIN_VALUE), "key-value count 9223372036854775808 is outside [0, 65536]");
    refused(new GgufWriter().kvCount(1L << 40), "key-value count 1099511627776 is outside [0, 65536]");
    refused(new GgufWriter().tensorCount(1000), "0 key-value pairs and 1000 tensor infos need at least 25000 "
        + "bytes, but the file has 8 after byte 24");
    refused(Arrays.copyOf(small().bytes(), 20),
        "file ends at byte 20 inside the key-value count (8 bytes from byte 16): truncated");
  }

  @Test
  void keyValueDefects() {
    refused(new GgufWriter().str("a", "x").str("a", "y"), "key 'a' (pair 1, byte 46) appears twice");
    refused(new GgufWriter().str("", "x"), "key 0 at byte 24 is empty");
    refused(new GgufWriter().str("k".repeat(65536), "x"), "key 0 at byte 24 is 65536 bytes long; at most 65535 are "
        + "allowed");
    refused(new GgufWriter().kv("k", 13, new byte[8]), "key 'k' has invalid value type 13 (GGUF types are 0 to 12)");
    refused(new GgufWriter().kv("k", ARR, new Enc().u32(42).u64(1).bytes()),
        "the array of key 'k' has invalid element type 42 (GGUF types are 0 to 12)");
    refused(new GgufWriter().kv("k", ARR, new Enc().u32(U32).u64((1L << 30) + 1).bytes()),
        "the array of key 'k' has 1073741825 elements, above the limit of 1073741824");
    refused(new GgufWriter().kv("k", ARR, new Enc().u32(U32).u64(1000).u32(1).bytes()),
        "the array of key 'k' has 1000 elements of u32, at least 4000 bytes, but the file ends 15 bytes after "
            + "byte 49");
    refused(new GgufWriter().kv("k", STR, new Enc().u64((1L << 30) + 1).bytes()),
        "the value of key 'k': string at byte 37 is 1073741825 bytes long, above the limit of 1073741824");
    refused(new GgufWriter().kv("k", STR, new Enc().u64(-1).bytes()),
        "the value of key 'k': string at byte 37 is 18446744073709551615 bytes long, above the limit of 1073741824");
    refused(new GgufWriter().kv("k", STR, new Enc().u64(100).raw(new byte[10]).bytes()),
        "the value of key 'k': string of 100 bytes at byte 45 runs past the end of the file (64 bytes)");
    refused(new GgufWriter().kv("k", BOOL, new byte[] {2}), "key 'k': boolean at byte 37 is 2; GGUF booleans are 0 "
        + "or 1");
    Enc deep = new Enc().u32(ARR).u64(1);
    for (int i = 0; i < 8; i++) {
      deep.u32(ARR).u64(1);
    }
    deep.u32(U32).u64(0);
    refused(new GgufWriter().kv("deep", ARR, deep.bytes()), "the array of key 'deep' nests arrays more than 8 deep");
  }

  @Test
  void alignmentDefects() {
    refused(new GgufWriter().str("general.alignment", "32"),
        "key 'general.alignment' must be of type u32 but is str");
    refused(new GgufWriter().u32("general.alignment", 48), "general.alignment 48 is not a power of two of at most "
        + (64 << 20));
    refused(new GgufWriter().u32("general.alignment", 0), "general.alignment 0 is not a power of two of at most "
        + (64 << 20));
    refused(new GgufWriter().u32("general.alignment", 1L << 31), "general.alignment 2147483648 is not a power of two "
        + "of at most " + (64 << 20));
  }

  @Test
  void theAlignmentIsTheFirstKeyGgmlReadsAsGeneralAlignment() throws IOException {
    // ggml finds keys by comparing C strings, so a key with a NUL byte after "general.alignment" sets the alignment
    String which = "key 'general.alignment\0x' (which ggml reads as 'general.alignment': it stops at the NUL byte)";
    refused(new GgufWriter().str("general.alignment\0x", "32"), which + " must be of type u32 but is str");
    refused(new GgufWriter().u32("general.alignment\0x", 48), which + ": 48 is not a power of two of at most "
        + (64 << 20));
    refused(new GgufWriter().u32("general.alignment\0x", 48).u32("general.alignment", 32),
        which + ": 48 is not a power of two of at most " + (64 << 20));
    GgufWriter aligned64 = new GgufWriter().alignment(64).u32("general.alignment\0", 64)
        .str("general.alignment", "ignored, as by ggml: it finds the first key").tensor("a", DType.F32, 4)
        .tensor("b", DType.F32, 4);
    FileLayout l = read(aligned64);
    GgufMetadata m = l.metadata(GgufMetadata.class).orElseThrow();
    assertThat(m.alignment()).isEqualTo(64);
    assertThat(l.dataStart() % 64).isZero();
    assertThat(l.tensors()).extracting(TensorInfo::begin).containsExactly(0L, 64L);
    // and metadata lookups find keys as ggml finds them
    assertThat(m.find("general.alignment").key()).isEqualTo("general.alignment\0");
    assertThat(m.get("general.alignment")).isEqualTo("64");
    assertThat(m.get("general")).isNull();
  }

  @Test
  void keysThatAreNotUtf8AreReadWithTheirBytes() throws IOException {
    // ggml keeps a key's bytes, and llama.cpp loads a model with such a key
    byte[] b = new GgufWriter().u32("kX", 1).u32("kY", 2).tensor("t", DType.F32, 1).bytes();
    b[33] = (byte) 0xff;
    b[51] = (byte) 0xfe;
    assertThat(read(b).metadata(GgufMetadata.class).orElseThrow().asStrings()).containsExactly(
        Map.entry("k\uFFFD <not UTF-8: 6bfe>", "2"), Map.entry("k\uFFFD <not UTF-8: 6bff>", "1"));
    byte[] name = new GgufWriter().tensor("tX", DType.F32, 1).bytes();
    name[33] = (byte) 0xff;
    refused(name, "tensor name 0 at byte 24 is not valid UTF-8");
  }

  @Test
  void tensorNamesAreComparedUpToANulByteAsGgmlDoes() throws IOException {
    refused(new GgufWriter().tensor("a", DType.F32, 1).tensor("a\0b", DType.F32, 1), "tensor 'a\0b' (info 1, byte "
        + "57) appears twice: ggml reads tensor names up to a NUL byte, so it and tensor 'a' are both 'a'");
    refused(new GgufWriter().tensor("x\0a", DType.F32, 1).tensor("x\0b", DType.F32, 1), "tensor 'x\0b' (info 1, "
        + "byte 59) appears twice: ggml reads tensor names up to a NUL byte, so it and tensor 'x\0a' are both 'x'");
    FileLayout l = read(new GgufWriter().tensor("w\0junk", DType.F32, 1).tensor("junk", DType.F32, 1));
    assertThat(l.tensors()).extracting(TensorInfo::name).containsExactly("w\0junk", "junk");
  }

  @Test
  void aZeroDimensionMakesAnEmptyTensorHoweverLargeTheOthers() throws IOException {
    // ggml accepts these (no elements, no bytes); their other dimensions multiply past 2^63
    FileLayout l = read(new GgufWriter().tensor("z", 0, 0, null, 4, 1L << 62, 4, 0)
        .tensor("y", 0, 0, null, 0, 1L << 62, 4).tensor("after", DType.F32, 2));
    assertThat(l.tensors().get(0).shape()).containsExactly(0L, 4L, 1L << 62, 4L);
    assertThat(l.tensors().get(1).shape()).containsExactly(4L, 1L << 62, 0L);
    assertThat(l.tensors()).extracting(TensorInfo::elements).containsExactly(0L, 0L, 2L);
    assertThat(l.tensors()).extracting(TensorInfo::byteLength).containsExactly(0L, 0L, 8L);
  }

  @Test
  void tensorInfoDefects() {
    refused(new GgufWriter().tensor("x".repeat(64), DType.F32, 1), "tensor name 0 at byte 24 is 64 bytes long; at most "
        + "63 are allowed");
    refused(new GgufWriter().tensor("", DType.F32, 1), "tensor name 0 at byte 24 is empty");
    refused(new GgufWriter().tensor("a", DType.F32, 1).tensor("a", DType.F32, 1),
        "tensor 'a' (info 1, byte 57) appears twice");
    refused(new GgufWriter().tensor("a", 0, 4, null, 1, 1, 1, 1, 1), "tensor 'a' has 5 dimensions; GGUF allows at "
        + "most 4");
    refused(new GgufWriter().tensor("a", 0, 4, null, 2, -1),
        "tensor 'a': dimension 1 is negative: -1 (as a signed 64-bit integer, which ggml reads it as)");
    refused(new GgufWriter().tensor("a", 0, 4, null, 1L << 32, 1L << 32), "tensor 'a': shape [4294967296, "
        + "4294967296] has more than 2^63 elements");
    refused(new GgufWriter().tensor("a", 99, 4, null, 1), "tensor 'a' has unknown ggml type 99 (known: 0-3, 6-30, "
        + "34, 35, 39-42)");
    refused(new GgufWriter().tensor("a", 31, 4, null, 32), "tensor 'a' has ggml type 31, Q4_0_4_4 (removed from "
        + "GGUF files: ggml repacks Q4_0 at load time)");
    refused(new GgufWriter().tensor("a", -1, 4, null, 32), "tensor 'a' has unknown ggml type -1 (known: 0-3, 6-30, "
        + "34, 35, 39-42)");
    refused(new GgufWriter().tensor("a", 2, 18, null, 48, 2), "tensor 'a' of type Q4_0 has 48 elements per row "
        + "(dimension 0), not a multiple of its block size 32");
    refused(new GgufWriter().tensor("a", 0, 4, null, 1L << 31, 1L << 31), "tensor 'a': shape [2147483648, "
        + "2147483648] of F32 is more than 2^63 bytes");
  }

  @Test
  void dataDefects() {
    refused(new GgufWriter().tensor("a", DType.F32, 4).tensor("b", 0, 16, 20L, 4),
        "tensor 'b' has offset 20, not a multiple of the alignment 32");
    refused(new GgufWriter().tensor("a", DType.F32, 16).tensor("b", 0, 16, 32L, 4),
        "tensor 'b' at offset 32 overlaps tensor 'a' (offsets 0 to 64)");
    refused(new GgufWriter().tensor("a", DType.F32, 4).tensor("b", 0, 16, 64L, 4),
        "tensor 'b' has offset 64, expected 32 (right after tensor 'a' and its padding: GGUF tensors follow each "
            + "other in the order of their infos)");
    refused(new GgufWriter().tensor("a", 0, 16, 32L, 4),
        "tensor 'a' has offset 32, expected 0 (the first tensor starts the data section)");
    refused(new GgufWriter().tensor("a", 0, 16, -32L, 4),
        "tensor 'a' has offset 18446744073709551584, expected 0 (the first tensor starts the data section)");
    byte[] full = small().bytes();
    refused(Arrays.copyOf(full, full.length - 20), "tensor 'output_norm.weight' (20 bytes from byte 320) ends past "
        + "the end of the file (332 bytes): truncated");
    byte[] longer = Arrays.copyOf(full, full.length + 1);
    refused(longer, "1 bytes follow the end of the data at byte 352 (the last tensor and its padding to 32 bytes); "
        + "a GGUF file ends there");
    refused(Arrays.copyOf(full, 90), "file ends at byte 90 inside tensor name 0 (17 bytes from byte 77): truncated");
    refused(Arrays.copyOf(full, 130),
        "file ends at byte 130 inside the length of tensor name 1 (8 bytes from byte 126): truncated");
    GgufWriter emptyOnly = new GgufWriter().tensor("e", DType.F32, 0);
    byte[] cut = emptyOnly.bytes();
    refused(Arrays.copyOf(cut, 57), "the data section would start at byte 64 (the tensor infos end at 57, aligned "
        + "to 32), past the end of the file (57 bytes)");
    refused(Arrays.copyOf(new GgufWriter().bytes(), 40),
        "8 bytes follow the end of the data at byte 32 (the last tensor and its padding to 32 bytes); a GGUF file "
            + "ends there");
  }

  private static String sha256(String s) {
    return sha256(s.getBytes(StandardCharsets.UTF_8));
  }

  private static String sha256(byte[] b) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }
}
