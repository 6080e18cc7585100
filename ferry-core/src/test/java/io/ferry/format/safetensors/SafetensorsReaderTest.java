package io.ferry.format.safetensors;

import static io.ferry.format.safetensors.SafetensorsFiles.tensor;
import static io.ferry.format.safetensors.SafetensorsFiles.write;
import static io.ferry.format.safetensors.SafetensorsFiles.writeRaw;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class SafetensorsReaderTest {
  private static final String NAME = "model.safetensors";

  @TempDir Path dir;

  private Path file() {
    return dir.resolve(NAME);
  }

  private SafetensorsHeader read(String header, long dataLength) throws IOException {
    return SafetensorsReader.read(write(file(), header, dataLength));
  }

  /** Asserts that reading fails with a message that names the file and contains every fragment. */
  private AbstractThrowableAssert<?, ?> rejects(String header, long dataLength, String... fragments) {
    return rejectsFile(() -> write(file(), header, dataLength), fragments);
  }

  private interface Writer {
    Path write() throws IOException;
  }

  private AbstractThrowableAssert<?, ?> rejectsFile(Writer w, String... fragments) {
    return assertThatThrownBy(() -> SafetensorsReader.read(w.write()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageStartingWith(NAME + ": ")
        .hasMessageContainingAll(fragments);
  }

  // ---- length field ----

  @Test
  void fileShorterThanTheLengthField() {
    rejectsFile(() -> Files.write(file(), new byte[5]), "5 bytes", "shorter than the 8-byte header length");
  }

  @Test
  void emptyFile() {
    rejectsFile(() -> Files.write(file(), new byte[0]), "0 bytes", "shorter");
  }

  @Test
  void headerLengthAboveTheLimit() {
    rejectsFile(() -> writeRaw(file(), 100_000_001L, new byte[0], 0), "header length 100000001",
        "above the limit of 100000000");
  }

  @Test
  void headerLengthAboveSignedRangeIsReportedUnsigned() {
    rejectsFile(() -> writeRaw(file(), -1L, new byte[0], 0), "18446744073709551615", "above the limit");
  }

  @Test
  void headerPastTheEndOfTheFile() {
    rejectsFile(() -> writeRaw(file(), 100, "{}".getBytes(StandardCharsets.US_ASCII), 10),
        "header length 100 runs past the end of the file", "20 bytes");
  }

  // ---- UTF-8 and JSON ----

  @Test
  void malformedUtf8() {
    byte[] h = {'{', '"', 'a', (byte) 0xC3, 0x28, '"', ':', '1', '}'};
    rejectsFile(() -> writeRaw(file(), h.length, h, 0), "not valid UTF-8", "byte 3 of the header");
  }

  @Test
  void encodedSurrogateIsNotUtf8() {
    byte[] h = {'{', '"', (byte) 0xED, (byte) 0xA0, (byte) 0x80, '"', ':', '1', '}'};
    rejectsFile(() -> writeRaw(file(), h.length, h, 0), "not valid UTF-8", "byte 2");
  }

  @Test
  void overlongEncodingIsNotUtf8() {
    byte[] h = {'{', (byte) 0xC0, (byte) 0xAF, '}'};
    rejectsFile(() -> writeRaw(file(), h.length, h, 0), "not valid UTF-8", "byte 1");
  }

  @Test
  void truncatedSequenceAtTheEndIsNotUtf8() {
    byte[] h = {'{', '}', ' ', (byte) 0xE2, (byte) 0x82};
    rejectsFile(() -> writeRaw(file(), h.length, h, 0), "not valid UTF-8", "byte 3");
  }

  @Test
  void malformedUtf8BeyondTheFirstBuffer() {
    byte[] h = new byte[200_000];
    java.util.Arrays.fill(h, (byte) ' ');
    h[0] = '{';
    h[1] = '}';
    h[150_001] = (byte) 0xFF;
    rejectsFile(() -> writeRaw(file(), h.length, h, 0), "not valid UTF-8", "byte 150001 of the header",
        "file offset 150009");
  }

  @Test
  void notJson() {
    rejects("{\"a\": ", 0, "not valid JSON");
    rejects("{'a': 1}", 0, "not valid JSON");
    rejects("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],}}", 4, "not valid JSON");
    rejects("{} // comment", 0, "not valid JSON");
  }

  @Test
  void onlyWhitespace() {
    rejects("        ", 0, "not valid JSON", "no JSON value");
    rejects("", 0, "not valid JSON");
  }

  @Test
  void notAnObject() {
    rejects("[]", 0, "not an object", "an array");
    rejects("\"hello\"", 0, "not an object");
    rejects("null", 0, "not an object");
    rejects("42", 0, "not an object");
  }

  @Test
  void contentAfterTheObject() {
    rejects("{} {}", 0, "not valid JSON", "content after the header object");
    rejects("{}x", 0, "not valid JSON");
  }

  @Test
  void byteOrderMarkIsNotJson() {
    rejects("\uFEFF{}", 0, "not valid JSON");
  }

  @Test
  void nulPaddingIsNotWhitespace() {
    rejects("{}\0\0\0\0\0\0", 0, "not valid JSON");
  }

  @Test
  void utf16LooksLikeUtf8WithNulsAndIsRefused() {
    byte[] h = "{}".getBytes(StandardCharsets.UTF_16LE);
    rejectsFile(() -> writeRaw(file(), h.length, h, 0), "not valid JSON");
  }

  @Test
  void nestingDeeperThanSerdeAllows() throws IOException {
    String deep = "[".repeat(200) + "]".repeat(200);
    rejects("{" + tensor("a", "U8", "[1]", 0, 1).replace("}", ",\"x\":" + deep + "}") + "}", 1, "not valid JSON");
    String ok = "[".repeat(100) + "]".repeat(100);
    assertThat(read("{" + tensor("a", "U8", "[1]", 0, 1).replace("}", ",\"x\":" + ok + "}") + "}", 1).tensors())
        .hasSize(1);
  }

  // ---- __metadata__ ----

  @Test
  void metadataNotAnObject() {
    rejects("{\"__metadata__\":\"x\"}", 0, "'__metadata__' is not an object of strings", "the string \"x\"");
    rejects("{\"__metadata__\":[\"x\"]}", 0, "'__metadata__' is not an object");
  }

  @Test
  void metadataValueNotAString() {
    rejects("{\"__metadata__\":{\"format\":\"pt\",\"epoch\":3}}", 0, "'__metadata__' value of 'epoch'",
        "not a string", "the number 3");
    rejects("{\"__metadata__\":{\"nested\":{}}}", 0, "'nested'", "not a string");
    rejects("{\"__metadata__\":{\"n\":null}}", 0, "'n'", "not a string");
  }

  @Test
  void metadataTwice() {
    rejects("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "'__metadata__' appears twice");
  }

  @Test
  void metadataNullIsAbsentLikeSerdeOption() throws IOException {
    assertThat(read("{\"__metadata__\":null}", 0).metadata()).isEmpty();
  }

  // ---- tensor entries ----

  @Test
  void entryNotAnObject() {
    rejects("{\"w\":[1,2]}", 0, "tensor 'w'", "entry is not an object");
    rejects("{\"w\":\"F32\"}", 0, "tensor 'w'", "entry is not an object");
  }

  @ParameterizedTest
  @ValueSource(strings = {"dtype", "shape", "data_offsets"})
  void missingField(String field) {
    String entry = tensor("w", "F32", "[1]", 0, 4);
    String without = entry.replaceAll("\"" + field + "\":(\"F32\"|\\[[0-9,]*\\]),?", "").replace(",}", "}");
    rejects("{" + without + "}", 4, "tensor 'w'", "missing '" + field + "'");
  }

  @Test
  void wrongTypedFields() {
    rejects("{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'w'", "'dtype' is not a string");
    rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, "tensor 'w'",
        "'shape' is not an array");
    rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"0-4\"}}", 4, "tensor 'w'",
        "'data_offsets' is not an array");
    rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "tensor 'w'",
        "'shape' holds the string \"1\"");
    rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]}}", 4, "tensor 'w'",
        "'shape' holds an array");
  }

  @Test
  void unknownDtype() {
    rejects("{" + tensor("w", "F128", "[1]", 0, 16) + "}", 16, "tensor 'w'", "unknown dtype 'F128'");
    rejects("{" + tensor("w", "f32", "[1]", 0, 4) + "}", 4, "tensor 'w'", "unknown dtype 'f32'");
  }

  /** An unknown dtype of ten million characters is named by its start: the error stays one short line. */
  @Test
  void anAbsurdlyLongUnknownDtypeIsQuotedByItsStart() {
    rejects("{" + tensor("w", "F".repeat(10_000_000), "[1]", 0, 4) + "}", 4, "tensor 'w'",
        "unknown dtype '" + "F".repeat(64) + "...'")
        .satisfies(e -> assertThat(e.getMessage()).hasSizeLessThan(200));
  }

  /**
   * A name far beyond any limit (here 33 million characters, in a header under the 100,000,000-byte cap) stops the
   * parser while it reads it, with a message saying so, instead of filling the heap (90 million did).
   */
  @Test
  void aNameOfTensOfMillionsOfCharactersStopsTheParser() {
    rejects("{" + tensor("n".repeat(33_600_000), "F32", "[1]", 0, 4) + "}", 4,
        "header holds a name or string of more than 33554432 characters, far more than a tensor name or a metadata "
            + "value may have");
  }

  @Test
  void unknownKeysInAnEntryAreIgnoredLikeTheReference() throws IOException {
    SafetensorsHeader h = read("{\"w\":{\"dtype\":\"F32\",\"extra\":{\"a\":[1,{}]},\"shape\":[1],"
        + "\"data_offsets\":[0,4],\"note\":null}}", 4);
    assertThat(h.tensors()).extracting(TensorInfo::name).containsExactly("w");
  }

  @Test
  void unknownKeysMayRepeatLikeTheReference() throws IOException {
    SafetensorsHeader h = read("{\"w\":{\"dtype\":\"F32\",\"x\":1,\"x\":{\"y\":1,\"y\":2},\"shape\":[1],"
        + "\"data_offsets\":[0,4]}}", 4);
    assertThat(h.tensors()).extracting(TensorInfo::name).containsExactly("w");
  }

  @Test
  void unknownValuesAreCheckedAsSerdeJsonChecksWhatItSkips() throws IOException {
    String w = tensor("w", "F32", "[1]", 0, 4);
    rejects("{" + w.replace("]}", "],\"x\":1e999}") + "}", 4, "tensor 'w': value of key 'x'", "1e999",
        "out of the range of a 64-bit float");
    rejects("{" + w.replace("]}", "],\"x\":[-1" + "0".repeat(400) + "]}") + "}", 4, "tensor 'w'",
        "out of the range of a 64-bit float");
    rejects("{" + w.replace("]}", "],\"x\":{\"k\":\"a\\ud800\"}}") + "}", 4, "tensor 'w': value of key 'x'",
        "unpaired surrogate");
    rejects("{" + w.replace("]}", "],\"x\":{\"\\udc00\":1}}") + "}", 4, "tensor 'w': value of key 'x': key",
        "unpaired surrogate");
    rejects("{" + w.replace("]}", "],\"\\ud800\":1}") + "}", 4, "unpaired surrogate");
    // what serde_json accepts: underflow to zero, long integers that fit a double, a surrogate pair
    SafetensorsHeader h = read("{" + w.replace("]}", "],\"x\":[1e-999,1" + "0".repeat(300)
        + ",\"\\ud83d\\ude00\"]}") + "}", 4);
    assertThat(h.tensors()).extracting(TensorInfo::name).containsExactly("w");
  }

  @Test
  void numbersOfAnyLengthAreReadAsSerdeJsonReadsThem() throws IOException {
    String w = tensor("w", "F32", "[1]", 0, 4);
    // a float of 1,500 characters is finite: serde_json reads it; Jackson's limit of 1,000 refused it
    SafetensorsHeader h = read("{" + w.replace("]}", "],\"x\":0." + "0".repeat(1500) + "1}") + "}", 4);
    assertThat(h.tensors()).extracting(TensorInfo::name).containsExactly("w");
    // two million digits: infinite as a float, and read in linear time; the message quotes its start only
    String huge = "9".repeat(2_000_000);
    rejects("{" + w.replace("]}", "],\"x\":" + huge + "}") + "}", 4, "tensor 'w': value of key 'x'",
        "out of the range of a 64-bit float").message().hasSizeLessThan(300);
    rejects("{" + tensor("w", "F32", "[" + huge + "]", 0, 4) + "}", 4, "tensor 'w'", "overflows 64 bits")
        .message().hasSizeLessThan(300);
  }

  @Test
  void minusZeroIsAFloatToSerdeJson() {
    rejects("{" + tensor("w", "F32", "[-0]", 0, 0) + "}", 0, "tensor 'w'", "'shape' holds -0");
    rejects("{" + tensor("w", "F32", "[0]", 0, 0).replace("[0,0]", "[-0,0]") + "}", 0, "tensor 'w'",
        "'data_offsets' holds -0");
  }

  @Test
  void negativeDimension() {
    rejects("{" + tensor("w", "F32", "[2,-1]", 0, 4) + "}", 4, "tensor 'w'", "'shape' value -1 is negative");
  }

  @Test
  void nonIntegerDimension() {
    rejects("{" + tensor("w", "F32", "[2.0]", 0, 8) + "}", 8, "tensor 'w'", "the number 2.0",
        "not a non-negative integer");
    rejects("{" + tensor("w", "F32", "[2e0]", 0, 8) + "}", 8, "tensor 'w'", "not a non-negative integer");
  }

  @Test
  void dimensionBeyond64Bits() {
    rejects("{" + tensor("w", "F32", "[18446744073709551616]", 0, 8) + "}", 8, "tensor 'w'", "overflows 64 bits");
  }

  @Test
  void elementCountOverflows() {
    rejects("{" + tensor("w", "U8", "[4294967296,4294967296]", 0, 8) + "}", 8, "tensor 'w'",
        "[4294967296, 4294967296]", "overflows");
  }

  @Test
  void bitCountOverflows() {
    rejects("{" + tensor("w", "F32", "[576460752303423488]", 0, 8) + "}", 8, "tensor 'w'", "F32", "overflows");
  }

  @Test
  void byteLengthDiffersFromShape() {
    rejects("{" + tensor("w", "F32", "[2,3]", 0, 20) + "}", 20, "tensor 'w'", "data_offsets [0, 20] span 20 bytes",
        "shape [2, 3] of F32 needs 24");
  }

  @Test
  void subByteTensorsMustFillWholeBytes() {
    rejects("{" + tensor("w", "F4", "[3]", 0, 2) + "}", 2, "tensor 'w'", "12 bits", "not a whole number of bytes");
    rejects("{" + tensor("w", "F6_E2M3", "[2]", 0, 2) + "}", 2, "tensor 'w'", "12 bits");
  }

  @Test
  void offsetsReversed() {
    rejects("{" + tensor("w", "U8", "[0]", 4, 0) + "}", 4, "tensor 'w'", "reversed", "begin 4 > end 0");
  }

  @Test
  void offsetsNotTwoNonNegativeIntegers() {
    rejects("{" + tensor("w", "U8", "[4]", 0, 4).replace("[0,4]", "[0,4,8]") + "}", 4, "tensor 'w'",
        "must be two integers", "found 3");
    rejects("{" + tensor("w", "U8", "[4]", 0, 4).replace("[0,4]", "[4]") + "}", 4, "tensor 'w'", "found 1");
    rejects("{" + tensor("w", "U8", "[0]", 0, 0).replace("[0,0]", "[-1,0]") + "}", 0, "tensor 'w'",
        "'data_offsets' value -1 is negative");
    rejects("{" + tensor("w", "U8", "[4]", 0, 4).replace("[0,4]", "[0,4.0]") + "}", 4, "tensor 'w'",
        "not a non-negative integer");
  }

  @Test
  void duplicateTensorName() {
    String w = tensor("w", "U8", "[4]", 0, 4);
    rejects("{" + w + "," + w + "}", 4, "tensor 'w' appears twice");
  }

  @Test
  void duplicateKeyInsideAnEntry() {
    rejects("{\"w\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4, "tensor 'w'",
        "key 'dtype' appears twice");
  }

  @Test
  void duplicateMetadataKey() {
    rejects("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "'__metadata__' key 'k' appears twice");
  }

  @Test
  void unpairedSurrogateEscapeInName() {
    rejects("{" + tensor("w\\ud800x", "U8", "[1]", 0, 1) + "}", 1, "tensor name", "unpaired surrogate");
  }

  // ---- layout of the data section ----

  @Test
  void dataDoesNotStartAtZero() {
    rejects("{" + tensor("w", "U8", "[4]", 2, 6) + "}", 6, "tensor 'w' begins at byte 2",
        "the first tensor must begin at 0");
  }

  @Test
  void gapBetweenTensors() {
    rejects("{" + tensor("a", "U8", "[4]", 0, 4) + "," + tensor("b", "U8", "[4]", 6, 10) + "}", 10,
        "tensor 'b' begins at byte 6", "tensor 'a' ends at 4", "gap");
  }

  @Test
  void overlappingTensors() {
    rejects("{" + tensor("a", "U8", "[4]", 0, 4) + "," + tensor("b", "U8", "[4]", 2, 6) + "}", 6,
        "tensor 'b' begins at byte 2", "tensor 'a' ends at 4", "overlaps");
  }

  @Test
  void sameRangeTwice() {
    rejects("{" + tensor("a", "U8", "[4]", 0, 4) + "," + tensor("b", "U8", "[4]", 0, 4) + "}", 4,
        "tensor 'b' begins at byte 0", "overlaps");
  }

  @Test
  void trailingBytesAreRefused() {
    rejects("{" + tensor("a", "U8", "[4]", 0, 4) + "}", 5, "tensors cover 4 bytes", "5 bytes after the header",
        "1 trailing bytes");
    rejects("{}", 1, "tensors cover 0 bytes", "1 trailing bytes");
  }

  @Test
  void tensorPastTheEndOfTheFile() {
    String h = "{" + tensor("lm_head.weight", "U8", "[2147483650]", 0, 2147483650L) + "}";
    rejects(h, 2147483648L,
        "tensor 'lm_head.weight' ends at byte 2147483650 of the data, past the end of the file", "2147483648");
  }

  @Test
  void errorsUseTheGivenName() throws IOException {
    Path f = write(dir.resolve("x"), "[]", 0);
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
      assertThatThrownBy(() -> SafetensorsReader.read("model-00002-of-00004.safetensors", ch))
          .isInstanceOf(InvalidInputException.class)
          .hasMessageStartingWith("model-00002-of-00004.safetensors: header JSON is not an object");
    }
  }

  // ---- valid files ----

  @ParameterizedTest
  @MethodSource("safetensorsDtypes")
  void everyDtype(DType t) throws IOException {
    long bytes = 8L * t.bits() / 8;
    SafetensorsHeader h = read("{" + tensor("x", t.name(), "[2,4]", 0, bytes) + "}", bytes);
    assertThat(h.tensors()).containsExactly(new TensorInfo("x", t, List.of(2L, 4L), 0, bytes));
  }

  static List<DType> safetensorsDtypes() {
    return java.util.Arrays.stream(DType.values()).filter(DType::isSafetensors).toList();
  }

  @ParameterizedTest
  @MethodSource("ggmlBlockDtypes")
  void ggmlBlockTypesAreNotSafetensorsDtypes(DType t) throws IOException {
    long bytes = t.blockBytes();
    assertThatThrownBy(() -> read("{" + tensor("x", t.name(), "[" + t.blockSize() + "]", 0, bytes) + "}", bytes))
        .isInstanceOf(InvalidInputException.class)
        .hasMessage("model.safetensors: tensor 'x': unknown dtype '" + t.name() + "'");
  }

  /** ONNX's 2- and 4-bit integers and COMPLEX128, which Ferry lists in ONNX files, are no safetensors dtypes. */
  @ParameterizedTest
  @EnumSource(names = {"U4", "I4", "U2", "I2", "C128"})
  void onnxTypesAreNotSafetensorsDtypes(DType t) {
    assertThatThrownBy(() -> read("{" + tensor("x", t.name(), "[8]", 0, t.byteLength(8)) + "}", t.byteLength(8)))
        .isInstanceOf(InvalidInputException.class)
        .hasMessage("model.safetensors: tensor 'x': unknown dtype '" + t.name() + "'");
  }

  static List<DType> ggmlBlockDtypes() {
    return java.util.Arrays.stream(DType.values()).filter(DType::isBlock).toList();
  }

  @Test
  void everyDtypeInOneFile() throws IOException {
    StringBuilder b = new StringBuilder("{");
    long off = 0;
    for (DType t : safetensorsDtypes()) {
      long len = 4L * t.bits() / 8;
      b.append(off == 0 ? "" : ",").append(tensor(t.name().toLowerCase(), t.name(), "[4]", off, off + len));
      off += len;
    }
    SafetensorsHeader h = read(b.append('}').toString(), off);
    assertThat(h.tensors()).extracting(TensorInfo::dtype).containsExactlyElementsOf(safetensorsDtypes());
  }

  @Test
  void emptyTensorsAndScalars() throws IOException {
    SafetensorsHeader h = read("{" + tensor("z", "F32", "[0]", 4, 4) + "," + tensor("s", "F32", "[]", 0, 4) + ","
        + tensor("e", "BF16", "[3,0,2]", 0, 0) + "," + tensor("tail", "U8", "[0]", 6, 6) + ","
        + tensor("h", "F16", "[]", 4, 6) + "}", 6);
    assertThat(h.tensors()).extracting(TensorInfo::name).containsExactly("e", "s", "z", "h", "tail");
    TensorInfo s = h.tensors().get(1);
    assertThat(s.shape()).isEmpty();
    assertThat(s.elements()).isEqualTo(1);
    assertThat(h.tensors().get(0).elements()).isZero();
  }

  @Test
  void onlyEmptyTensors() throws IOException {
    SafetensorsHeader h = read("{" + tensor("a", "F32", "[0,7]", 0, 0) + "," + tensor("b", "F4", "[0]", 0, 0) + "}",
        0);
    assertThat(h.tensors()).extracting(TensorInfo::name).containsExactly("a", "b");
  }

  @Test
  void zeroTensors() throws IOException {
    SafetensorsHeader h = read("{}", 0);
    assertThat(h.tensors()).isEmpty();
    assertThat(h.metadata()).isEmpty();
    assertThat(h.headerLength()).isEqualTo(2);
    assertThat(h.dataStart()).isEqualTo(10);
    assertThat(h.fileSize()).isEqualTo(10);
    assertThat(h.fileName()).isEqualTo(NAME);
  }

  @Test
  void tensorsComeBackInFileOrder() throws IOException {
    SafetensorsHeader h = read("{" + tensor("c", "U8", "[2]", 4, 6) + "," + tensor("a", "U8", "[4]", 0, 4) + ","
        + tensor("b", "U16", "[1]", 6, 8) + "}", 8);
    assertThat(h.tensors()).extracting(TensorInfo::name).containsExactly("a", "c", "b");
    assertThat(h.tensors()).extracting(TensorInfo::begin).containsExactly(0L, 4L, 6L);
  }

  @Test
  void unicodeNames() throws IOException {
    SafetensorsHeader h = read("{" + tensor("层.权重", "U8", "[1]", 0, 1) + "," + tensor("emoji😀", "U8", "[1]", 1, 2)
        + "," + tensor("esc\\u00e9\\ud83d\\ude00", "U8", "[1]", 2, 3) + "}", 3);
    assertThat(h.tensors()).extracting(TensorInfo::name).containsExactly("层.权重", "emoji😀", "escé😀");
  }

  @Test
  void metadataIsKeptInOrderAndNotATensor() throws IOException {
    SafetensorsHeader h = read("{\"__metadata__\":{\"format\":\"pt\",\"b\":\"2\",\"a\":\"ü\"},"
        + tensor("w", "F16", "[2]", 0, 4) + "}", 4);
    assertThat(h.metadata()).containsExactly(java.util.Map.entry("format", "pt"), java.util.Map.entry("b", "2"),
        java.util.Map.entry("a", "ü"));
    assertThat(h.tensors()).extracting(TensorInfo::name).containsExactly("w");
    assertThatThrownBy(() -> h.metadata().put("x", "y")).isInstanceOf(UnsupportedOperationException.class);
    assertThatThrownBy(() -> h.tensors().clear()).isInstanceOf(UnsupportedOperationException.class);
  }

  @Test
  void paddedHeaderLikeTheReferenceWriter() throws IOException {
    String json = "{" + tensor("w", "F32", "[1]", 0, 4) + "}";
    String padded = json + " ".repeat((8 - json.length() % 8) % 8 + 8);
    SafetensorsHeader h = read(padded, 4);
    assertThat(h.headerLength()).isEqualTo(padded.length());
    assertThat(h.dataStart() % 8).isZero();
    assertThat(h.tensors()).hasSize(1);
  }

  @Test
  void leadingAndTrailingJsonWhitespace() throws IOException {
    assertThat(read("\t\n\r {}\r\n \t", 0).tensors()).isEmpty();
  }

  @Test
  void largeOffsetsInASparseFile() throws IOException {
    long n = 3_000_000_000L;
    SafetensorsHeader h = read("{" + tensor("big", "U8", "[" + n + "]", 0, n) + "," + tensor("f", "F64", "[1]", n,
        n + 8) + "}", n + 8);
    assertThat(h.tensors()).extracting(TensorInfo::end).containsExactly(n, n + 8);
  }

  @Test
  void headerOfExactlyTheLimit() throws IOException {
    String json = "{\"__metadata__\":{\"k\":\"" + "v".repeat(1000) + "\"}," + tensor("w", "U8", "[3]", 0, 3) + "}";
    byte[] h = new byte[100_000_000];
    java.util.Arrays.fill(h, (byte) ' ');
    byte[] j = json.getBytes(StandardCharsets.UTF_8);
    System.arraycopy(j, 0, h, 0, j.length);
    writeRaw(file(), h.length, h, 3);
    SafetensorsHeader header = SafetensorsReader.read(file());
    assertThat(header.headerLength()).isEqualTo(100_000_000L);
    assertThat(header.tensors()).extracting(TensorInfo::name).containsExactly("w");
  }

  @Test
  void longNamesAndValuesBeyondJacksonDefaults() throws IOException {
    String name = "n".repeat(60_000);
    String value = "v".repeat(25_000_000);
    SafetensorsHeader h = read("{\"__metadata__\":{\"k\":\"" + value + "\"}," + tensor(name, "U8", "[1]", 0, 1) + "}",
        1);
    assertThat(h.tensors().get(0).name()).hasSize(60_000);
    assertThat(h.metadata().get("k")).hasSize(25_000_000);
  }

  @Test
  void channelPositionIsLeftAlone() throws IOException {
    Path f = write(file(), "{" + tensor("w", "U8", "[2]", 0, 2) + "}", 2);
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
      ch.position(5);
      SafetensorsHeader h = SafetensorsReader.read("w.safetensors", ch);
      assertThat(h.fileName()).isEqualTo("w.safetensors");
      assertThat(ch.position()).isEqualTo(5);
      assertThat(ch.isOpen()).isTrue();
    }
  }
}
