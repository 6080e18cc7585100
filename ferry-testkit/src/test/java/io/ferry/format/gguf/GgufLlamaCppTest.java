package io.ferry.format.gguf;

import static io.ferry.testkit.GgufWriter.ARR;
import static io.ferry.testkit.GgufWriter.BOOL;
import static io.ferry.testkit.GgufWriter.F32;
import static io.ferry.testkit.GgufWriter.F64;
import static io.ferry.testkit.GgufWriter.I16;
import static io.ferry.testkit.GgufWriter.I32;
import static io.ferry.testkit.GgufWriter.I64;
import static io.ferry.testkit.GgufWriter.I8;
import static io.ferry.testkit.GgufWriter.STR;
import static io.ferry.testkit.GgufWriter.U16;
import static io.ferry.testkit.GgufWriter.U32;
import static io.ferry.testkit.GgufWriter.U64;
import static io.ferry.testkit.GgufWriter.U8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.Region;
import io.ferry.testkit.GgufWriter;
import io.ferry.testkit.GgufWriter.Enc;
import io.ferry.testkit.NodePackages;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Ferry's GGUF reader against llama.cpp's: {@code readGgufFileInfo} of npm's {@code node-llama-cpp} (llama.cpp's
 * JavaScript package; it reads a GGUF file's header, metadata and tensor infos in JavaScript, without loading the
 * model) reads every file this test writes, in one node process, and each side's view is compared.
 *
 * <p>Files both must read: every ggml type Ferry knows, scalars (no dimensions), empty and 4-D tensors, every
 * metadata value type (extremes, NaN, -0, subnormals), empty arrays of each type, nested arrays, long strings and
 * arrays (Ferry summarises them with the SHA-256 of their bytes; the test re-encodes llama.cpp's values and hashes
 * them), unicode tensor names and keys, alignments of 8 to 1024, GGUF versions 2 and 3, and random files from fixed
 * seeds. For each: the tensors in order (name, shape, ggml type, offset in the data and in the file), the start of the
 * data section, the version, and every key with its value.
 *
 * <p>Malformed files Ferry must refuse, naming the file and the defect, with what llama.cpp's reader does with each
 * pinned (it checks far less than ggml's C loader, {@code gguf_init_from_file}, which Ferry follows; see
 * docs/formats.md): truncations at every byte of a file's structure, data past the end, overlapping, misaligned and
 * out-of-order tensors, huge lengths and counts, unknown and retired ggml types, too many dimensions, duplicate keys
 * and names, bad alignments, versions and booleans. A file llama.cpp refuses must be refused by Ferry too.
 *
 * <p>node-llama-cpp is installed by npm into {@code target/node-llama-cpp} (without its install script and optional
 * dependencies, which are the prebuilt llama.cpp binaries; the GGUF reader needs neither). Skipped where node or npm
 * (or the npm registry) is missing, except under {@code CI=true}, where that fails.
 */
@Timeout(300)
class GgufLlamaCppTest {
  static final String NODE_LLAMA_CPP = "3.22.1";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String[] TYPE_NAMES =
      {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"};

  @TempDir static Path tmp;
  /** llama.cpp's reading of each file, by file name. */
  private static final Map<String, JsonNode> LLAMA = new HashMap<>();
  /** The ggml types llama.cpp's reader names, by id. */
  private static JsonNode llamaTypes;

  /** A file both readers must read. */
  record Valid(String name, byte[] bytes) {
    @Override
    public String toString() {
      return name;
    }
  }

  /** What llama.cpp's JavaScript reader does with a malformed file. */
  enum Js { ACCEPTS, REFUSES, HANGS }

  /**
   * A file Ferry must refuse with a message containing {@code ferry}; {@code js} pins what llama.cpp's reader does,
   * and {@code why} says which rule it breaks.
   */
  record Bad(String name, byte[] bytes, String ferry, Js js, String why) {
    @Override
    public String toString() {
      return name;
    }
  }

  @BeforeAll
  static void readEveryFileWithLlamaCpp() throws Exception {
    Path work = Path.of("target", "node-llama-cpp").toAbsolutePath();
    // its postinstall builds or fetches llama.cpp binaries and its optional dependencies are prebuilt ones: the GGUF
    // reader is plain JavaScript and needs neither
    NodePackages.requireNode(20); // node-llama-cpp's engines
    NodePackages.install(work, "node-llama-cpp", NODE_LLAMA_CPP, "--ignore-scripts", "--omit=optional");
    try (InputStream in = GgufLlamaCppTest.class.getResourceAsStream("/gguf/read-gguf.mjs")) {
      Files.write(work.resolve("read-gguf.mjs"), in.readAllBytes());
    }
    List<String> cmd = new ArrayList<>(List.of("node", "read-gguf.mjs"));
    Map<String, byte[]> files = new LinkedHashMap<>();
    valid().forEach(v -> files.put(v.name(), v.bytes()));
    malformed().forEach(b -> files.put(b.name(), b.bytes()));
    truncations(false).forEach(b -> files.put(b.name(), b.bytes()));
    files.put("proto-keys.gguf", protoKeys());
    files.put("key-not-utf8.gguf", notUtf8(new GgufWriter().kv("k?", U32, le32(1)).bytes(), 33));
    for (Map.Entry<String, byte[]> f : files.entrySet()) {
      cmd.add(Files.write(tmp.resolve(f.getKey()), f.getValue()).toString());
    }
    NodePackages.Run r = NodePackages.run(work, 240, Map.of("GGUF_READ_TIMEOUT_MS", "2000"),
        cmd.toArray(String[]::new));
    assertThat(r.code()).as("node read-gguf.mjs: %s", r.output()).isZero();
    for (String line : r.output().strip().split("\n")) {
      if (line.startsWith("{")) {
        JsonNode n = JSON.readTree(line);
        if (n.has("ggmlTypes")) {
          llamaTypes = n.get("ggmlTypes");
        } else {
          LLAMA.put(Path.of(n.get("file").asText()).getFileName().toString(), n);
        }
      }
    }
    assertThat(LLAMA.keySet()).as("files read by node: %s", r.output()).containsAll(files.keySet());
  }

  // ------------------------------------------------------------------ files both read

  static List<Valid> valid() {
    List<Valid> out = new ArrayList<>();
    out.add(new Valid("every-value-type.gguf", everyValueType().bytes()));
    for (int version : new int[] {2, 3}) {
      GgufWriter w = new GgufWriter().version(version).str("general.architecture", "llama");
      for (int id = 0; id < 64; id++) {
        DType t = GgmlTypes.byId(id);
        if (t != null) {
          w.tensor("t" + id + "." + t.name().toLowerCase(), t, 2L * t.blockSize(), 3);
        }
      }
      out.add(new Valid("every-ggml-type-v" + version + ".gguf", w.bytes()));
    }
    out.add(new Valid("dims.gguf", new GgufWriter().str("general.name", "dims")
        .tensor("scalar", DType.F32)
        .tensor("one", DType.F16, 7)
        .tensor("empty", DType.F32, 0, 5)
        .tensor("empty.q", DType.Q4_K, 256, 0)
        .tensor("three", DType.BF16, 3, 2, 5)
        .tensor("four", DType.Q8_0, 64, 3, 2, 2)
        .tensor("four.f32", DType.F32, 1, 1, 1, 1)
        .tensor("last.scalar", DType.I8).bytes()));
    out.add(new Valid("unicode.gguf", new GgufWriter().str("général.名前", "modèle 模型 🚀")
        .str("ключ.😀", "").u32("ascii.key", 1)
        .tensor("токен.вес", DType.F32, 4)
        .tensor("模型.层.0", DType.F16, 8, 2)
        .tensor("emoji." + "🚀".repeat(13) + ".xyzw", DType.F32, 1) // 63 bytes, ggml's longest name
        .bytes()));
    for (int a : new int[] {8, 64, 1024}) {
      out.add(new Valid("alignment-" + a + ".gguf", new GgufWriter().alignment(a).u32("general.alignment", a)
          .str("general.name", "aligned").tensor("a", DType.F32, 3).tensor("b", DType.Q4_0, 32)
          .tensor("c", DType.F16, 5, 3).bytes()));
    }
    out.add(new Valid("alignment-32-stated.gguf", new GgufWriter().u32("general.alignment", 32)
        .tensor("a", DType.F32, 3).bytes()));
    out.add(new Valid("no-tensors.gguf", new GgufWriter().str("general.name", "only metadata").u64("n", 1).bytes()));
    out.add(new Valid("nothing.gguf", new GgufWriter().bytes()));
    out.add(new Valid("no-last-padding-v2.gguf", new GgufWriter().version(2).padLast(false)
        .tensor("a", DType.F32, 3).tensor("b", DType.F16, 3).bytes()));
    out.add(new Valid("vocabulary.gguf", vocabulary().bytes()));
    for (long seed = 1; seed <= 24; seed++) {
      out.add(new Valid("random-" + seed + ".gguf", random(new SplittableRandom(seed)).bytes()));
    }
    return out;
  }

  private static GgufWriter everyValueType() {
    GgufWriter w = new GgufWriter()
        .kv("u8.zero", U8, new Enc().u8(0).bytes()).kv("u8.max", U8, new Enc().u8(255).bytes())
        .kv("i8.min", I8, new Enc().u8(0x80).bytes()).kv("i8.minus_one", I8, new Enc().u8(0xff).bytes())
        .kv("u16.max", U16, new Enc().u16(0xffff).bytes()).kv("i16.min", I16, new Enc().u16(0x8000).bytes())
        .u32("u32.max", 0xffffffffL).i32("i32.min", Integer.MIN_VALUE).i32("i32.max", Integer.MAX_VALUE)
        .u64("u64.max", -1L).u64("u64.zero", 0).kv("i64.min", I64, new Enc().u64(Long.MIN_VALUE).bytes())
        .kv("i64.minus_five", I64, new Enc().u64(-5).bytes())
        .f32("f32.tenth", 0.1f).f32("f32.minus_zero", -0f).f32("f32.nan", Float.NaN)
        .f32("f32.inf", Float.POSITIVE_INFINITY).f32("f32.minus_inf", Float.NEGATIVE_INFINITY)
        .f32("f32.subnormal", Float.MIN_VALUE).f32("f32.max", Float.MAX_VALUE).f32("f32.small", 1e-7f)
        .f32("f32.big", 3e20f).f32("f32.integer", 16777216f)
        .f64("f64.tenth", 0.1).f64("f64.minus_zero", -0.0).f64("f64.nan", Double.NaN)
        .f64("f64.subnormal", Double.MIN_VALUE).f64("f64.max", Double.MAX_VALUE).f64("f64.third", 1.0 / 3)
        .bool("bool.true", true).bool("bool.false", false)
        .str("str.empty", "").str("str.ascii", "llama").str("str.unicode", "ünïcödé 名前 🚀")
        .str("str.escapes", "quote \" backslash \\ newline \n tab \t nul \0 end")
        .str("str.long", "x".repeat(5000))
        .str("str.4096", "é".repeat(2048)).str("str.4097", "é".repeat(2048) + "!");
    for (int t : new int[] {U8, I8, U16, I16, U32, I32, F32, BOOL, STR, U64, I64, F64}) {
      array(w, "arr.empty." + TYPE_NAMES[t], t, 0, e -> { });
    }
    array(w, "arr.u8", U8, 3, e -> e.u8(0).u8(1).u8(255));
    array(w, "arr.i8", I8, 3, e -> e.u8(0x80).u8(0xff).u8(0x7f));
    array(w, "arr.u16", U16, 2, e -> e.u16(0).u16(0xffff));
    array(w, "arr.i16", I16, 2, e -> e.u16(0x8000).u16(0x7fff));
    array(w, "arr.u32", U32, 2, e -> e.u32(0).u32(0xffffffffL));
    w.ints("arr.i32", Integer.MIN_VALUE, -1, 0, Integer.MAX_VALUE);
    w.floats("arr.f32", 0.1f, -0f, Float.NaN, Float.NEGATIVE_INFINITY, Float.MIN_VALUE, 1e-7f);
    array(w, "arr.bool", BOOL, 2, e -> e.u8(1).u8(0));
    w.strings("arr.str", List.of("", "a\"b", "c\\d", "ü 名前", "x".repeat(100)));
    array(w, "arr.u64", U64, 2, e -> e.u64(-1L).u64(0));
    array(w, "arr.i64", I64, 2, e -> e.u64(Long.MIN_VALUE).u64(Long.MAX_VALUE));
    array(w, "arr.f64", F64, 3, e -> e.u64(Double.doubleToRawLongBits(0.1)).u64(Double.doubleToRawLongBits(-0.0))
        .u64(Double.doubleToRawLongBits(Double.MAX_VALUE)));
    int[] many = new int[100];
    Arrays.setAll(many, i -> i * i - 50);
    w.ints("arr.long.i32", many);
    w.strings("arr.long.str", Stream.iterate("", s -> s + "ab").limit(40).toList());
    w.strings("arr.short.long_strings", List.of("y".repeat(5000)));
    w.strings("arr.short.long_text", List.of("z".repeat(2100), "z".repeat(2100)));
    array(w, "arr.nested.i32", ARR, 2, e -> e.u32(I32).u64(2).u32(1).u32(2).u32(I32).u64(1).u32(3));
    array(w, "arr.nested.str", ARR, 1, e -> e.u32(STR).u64(2).str("a").str("ü"));
    array(w, "arr.nested.deep", ARR, 1, e -> e.u32(ARR).u64(1).u32(U8).u64(2).u8(7).u8(8));
    return w.tensor("t", DType.F32, 2);
  }

  /** A tokenizer's worth of metadata, as llama models carry it. */
  private static GgufWriter vocabulary() {
    List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
    for (int i = 0; i < 256; i++) {
      tokens.add(String.format("<0x%02X>", i));
    }
    tokens.add("\u2581the");
    float[] scores = new float[tokens.size()];
    int[] types = new int[tokens.size()];
    for (int i = 0; i < scores.length; i++) {
      scores[i] = -i / 7f;
      types[i] = i < 3 ? 3 : i < 259 ? 6 : 1;
    }
    return new GgufWriter().str("general.architecture", "llama").u32("llama.context_length", 128)
        .f32("llama.attention.layer_norm_rms_epsilon", 1e-5f).str("tokenizer.ggml.model", "llama")
        .strings("tokenizer.ggml.tokens", tokens).floats("tokenizer.ggml.scores", scores)
        .ints("tokenizer.ggml.token_type", types).str("tokenizer.chat_template", "{% for m in messages %}{{ m }}")
        .str("general.license", "mit").str("general.license.link", "https://example.org/license")
        .u32("general.file_type", 7).u32("general.quantization_version", 2)
        .tensor("token_embd.weight", DType.Q8_0, 32, 260).tensor("output_norm.weight", DType.F32, 32);
  }

  /** A random valid file: keys of random types (arrays too), tensors of random types and shapes, an alignment. */
  private static GgufWriter random(SplittableRandom r) {
    int[] alignments = {8, 16, 32, 64, 128, 256};
    int alignment = alignments[r.nextInt(alignments.length)];
    GgufWriter w = new GgufWriter().version(2 + r.nextInt(2)).alignment(alignment);
    boolean stated = alignment != 32 || r.nextBoolean();
    int kvs = r.nextInt(12);
    int alignmentAt = r.nextInt(kvs + 1);
    for (int i = 0; i < kvs; i++) {
      if (stated && i == alignmentAt) {
        w.u32("general.alignment", alignment);
      }
      String key = (r.nextInt(4) == 0 ? "ключ" : "k") + i + (r.nextBoolean() ? ".sub" + r.nextInt(3) : "");
      int type = r.nextInt(13);
      if (type == ARR) {
        int elem = r.nextInt(13);
        int n = r.nextInt(elem == ARR ? 3 : 30);
        array(w, key, elem, n, e -> {
          for (int j = 0; j < n; j++) {
            if (elem == ARR) {
              int m = r.nextInt(3);
              e.u32(U16).u64(m);
              for (int k = 0; k < m; k++) {
                e.u16(r.nextInt(1 << 16));
              }
            } else {
              randomValue(r, elem, e);
            }
          }
        });
      } else {
        Enc e = new Enc();
        randomValue(r, type, e);
        w.kv(key, type, e.bytes());
      }
    }
    if (stated && alignmentAt == kvs) {
      w.u32("general.alignment", alignment);
    }
    List<DType> types = new ArrayList<>();
    for (int id = 0; id < 64; id++) {
      if (GgmlTypes.byId(id) != null) {
        types.add(GgmlTypes.byId(id));
      }
    }
    int tensors = r.nextInt(8);
    for (int i = 0; i < tensors; i++) {
      DType t = types.get(r.nextInt(types.size()));
      int dims = r.nextInt(5);
      long[] ne = new long[dims];
      for (int d = 0; d < dims; d++) {
        ne[d] = d == 0 ? t.blockSize() * (long) r.nextInt(3) : r.nextInt(4);
      }
      if (dims == 0 && t.blockSize() != 1) {
        t = DType.F32;
      }
      w.tensor((r.nextInt(4) == 0 ? "слой." : "blk.") + i + ".weight", t, ne);
    }
    return w;
  }

  private static void randomValue(SplittableRandom r, int type, Enc e) {
    switch (type) {
      case U8, I8 -> e.u8(r.nextInt(256));
      case U16, I16 -> e.u16(r.nextInt(1 << 16));
      case U32, I32 -> e.u32(r.nextInt());
      case F32 -> e.u32(r.nextInt(8) == 0 ? Float.floatToRawIntBits(Float.NaN)
          : Float.floatToRawIntBits((float) (r.nextGaussian() * Math.pow(10, r.nextInt(-40, 39)))));
      case BOOL -> e.u8(r.nextInt(2));
      case STR -> e.str(r.nextInt(4) == 0 ? "ü" + "x".repeat(r.nextInt(5000)) : "v" + r.nextLong());
      case U64, I64 -> e.u64(r.nextLong());
      case F64 -> e.u64(r.nextInt(8) == 0 ? Double.doubleToRawLongBits(Double.NaN)
          : Double.doubleToRawLongBits(r.nextGaussian() * Math.pow(10, r.nextInt(-300, 300))));
      default -> throw new IllegalArgumentException("type " + type);
    }
  }

  private static void array(GgufWriter w, String key, int elem, long n, Consumer<Enc> elements) {
    Enc e = new Enc().u32(elem).u64(n);
    elements.accept(e);
    w.kv(key, ARR, e.bytes());
  }

  static Stream<Valid> validFiles() {
    return valid().stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("validFiles")
  void bothReadTheSameTensorsAndMetadata(Valid v) throws IOException {
    FileLayout l = ferry(v.name());
    GgufMetadata m = l.metadata(GgufMetadata.class).orElseThrow();
    JsonNode js = LLAMA.get(v.name());
    assertThat(js.get("ok").asBoolean()).as("llama.cpp reads %s: %s", v.name(), js).isTrue();
    assertThat(js.get("version").asInt()).isEqualTo(m.version());

    List<Region.Tensor> tensors = l.tensorRegions();
    JsonNode jt = js.get("tensors");
    assertThat(js.get("tensorCount").asLong()).isEqualTo(tensors.size());
    assertThat(jt).hasSize(tensors.size());
    long dataStart = Long.parseLong(js.get("dataStart").asText());
    if (tensors.isEmpty()) {
      // llama.cpp's reader aligns the end of the infos; Ferry (and ggml) put the data section there when there is
      // none, as nothing's offset depends on it
      assertThat(dataStart).isEqualTo(align(l.dataStart(), m.alignment()));
    } else {
      assertThat(dataStart).as("data section of %s", v.name()).isEqualTo(l.dataStart());
    }
    for (int i = 0; i < tensors.size(); i++) {
      Region.Tensor t = tensors.get(i);
      JsonNode j = jt.get(i);
      String what = v.name() + ": tensor " + i;
      assertThat(t.name()).as(what).isEqualTo(j.get("name").asText());
      List<Long> innermostFirst = new ArrayList<>();
      j.get("dims").forEach(d -> innermostFirst.add(Long.parseLong(d.asText())));
      List<Long> outermostFirst = new ArrayList<>(innermostFirst);
      Collections.reverse(outermostFirst);
      assertThat(t.shape()).as("%s '%s': shape (llama.cpp lists ne innermost first)", what, t.name())
          .isEqualTo(outermostFirst);
      assertThat(GgufWriter.ggmlId(t.dtype())).as("%s '%s': ggml type", what, t.name())
          .isEqualTo(j.get("type").asInt());
      assertThat(t.dtype().name()).as("%s: type name", what).isEqualTo(j.get("typeName").asText());
      assertThat(t.start() - l.dataStart()).as("%s '%s': offset", what, t.name())
          .isEqualTo(Long.parseLong(j.get("offset").asText()));
      assertThat(t.start()).as("%s '%s': file offset", what, t.name())
          .isEqualTo(Long.parseLong(j.get("fileOffset").asText()));
      long elements = innermostFirst.stream().reduce(1L, Math::multiplyExact);
      assertThat(t.end() - t.start()).as("%s: ggml's byte size", what)
          .isEqualTo(elements / t.dtype().blockSize() * t.dtype().blockBytes());
    }

    JsonNode meta = js.get("metadata");
    List<String> jsKeys = new ArrayList<>();
    meta.fieldNames().forEachRemaining(jsKeys::add);
    assertThat(jsKeys).as("keys of %s", v.name())
        .containsExactlyInAnyOrderElementsOf(m.entries().stream().map(GgufEntry::key).toList());
    for (GgufEntry e : m.entries()) {
      JsonNode value = meta.get(e.key());
      String what = v.name() + ": key '" + e.key() + "' (" + e.type() + ")";
      assertThat(e.value()).as(what + ", llama.cpp read " + value).isEqualTo(expectedText(e, value));
      if (e.type().equals("f32")) {
        assertThat(Float.compare(Float.parseFloat(e.value()), (float) Double.parseDouble(value.get("n").asText())))
            .as(what).isZero();
      } else if (e.type().equals("f64")) {
        assertThat(Double.compare(Double.parseDouble(e.value()), Double.parseDouble(value.get("n").asText())))
            .as(what).isZero();
      }
    }
  }

  /** The text Ferry records for a value llama.cpp read as {@code v} (see {@link GgufMetadata}). */
  private static String expectedText(GgufEntry e, JsonNode v) {
    String type = e.type();
    if (!type.startsWith("arr[")) {
      assertThat(e.count()).isEqualTo(1);
      if (type.equals("str")) {
        return text(v.get("s").asText());
      }
      return scalarText(type, v);
    }
    String elem = type.substring(4, type.length() - 1);
    JsonNode a = v.get("a");
    assertThat(a).as("llama.cpp's array for '%s'", e.key()).isNotNull();
    assertThat(a.size()).as("elements of '%s'", e.key()).isEqualTo(e.count());
    if (a.size() <= GgufMetadata.MAX_LISTED && !elem.startsWith("arr")) {
      StringBuilder list = new StringBuilder("[");
      boolean listed = true;
      for (int i = 0; i < a.size() && listed; i++) {
        String item;
        if (elem.equals("str")) {
          String s = a.get(i).get("s").asText();
          item = utf8(s).length <= GgufMetadata.MAX_TEXT_BYTES
              ? '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"' : null;
        } else {
          item = scalarText(elem, a.get(i));
        }
        if (item == null || list.length() + item.length() + 3 > GgufMetadata.MAX_TEXT_BYTES) {
          listed = false;
        } else {
          list.append(i == 0 ? "" : ", ").append(item);
        }
      }
      if (listed) {
        return list.append(']').toString();
      }
    }
    String summary = "<" + type + ", " + a.size() + " elements, sha256 ";
    if (elem.endsWith("arr]")) {
      // arrays of arrays of arrays: Ferry's type names the second level's element type only, so the bytes cannot
      // be rebuilt from llama.cpp's values; the count and the form are compared
      assertThat(e.value()).startsWith(summary);
      return e.value();
    }
    Enc bytes = new Enc();
    encode(elem, a, bytes);
    return summary + sha256(bytes.bytes()) + ">";
  }

  private static String text(String s) {
    byte[] b = utf8(s);
    return b.length <= GgufMetadata.MAX_TEXT_BYTES ? s : "<str, " + b.length + " bytes, sha256 " + sha256(b) + ">";
  }

  private static String scalarText(String type, JsonNode v) {
    return switch (type) {
      case "u8", "i8", "u16", "i16", "u32", "i32" -> v.get("n").asText();
      case "u64", "i64" -> v.get("b").asText();
      case "f32" -> GgufReader.formatFloat((float) Double.parseDouble(v.get("n").asText()));
      case "f64" -> GgufReader.formatDouble(Double.parseDouble(v.get("n").asText()));
      case "bool" -> Boolean.toString(v.get("z").asBoolean());
      default -> throw new AssertionError("not a scalar type: " + type + " (llama.cpp read " + v + ")");
    };
  }

  /** The bytes of an array's elements in the file, rebuilt from llama.cpp's values. */
  private static void encode(String elem, JsonNode a, Enc out) {
    for (JsonNode x : a) {
      switch (elem) {
        case "u8", "i8", "bool" -> out.u8(elem.equals("bool") ? (x.get("z").asBoolean() ? 1 : 0)
            : Integer.parseInt(x.get("n").asText()));
        case "u16", "i16" -> out.u16(Integer.parseInt(x.get("n").asText()));
        case "u32", "i32" -> out.u32(Long.parseLong(x.get("n").asText()));
        case "f32" -> out.u32(Float.floatToRawIntBits((float) Double.parseDouble(x.get("n").asText())));
        case "f64" -> out.u64(Double.doubleToRawLongBits(Double.parseDouble(x.get("n").asText())));
        case "u64", "i64" -> out.u64(new BigInteger(x.get("b").asText()).longValue());
        case "str" -> out.str(x.get("s").asText());
        default -> {
          String inner = elem.substring(4, elem.length() - 1); // arr[T]
          out.u32(Arrays.asList(TYPE_NAMES).indexOf(inner.startsWith("arr") ? "arr" : inner))
              .u64(x.get("a").size());
          encode(inner, x.get("a"), out);
        }
      }
    }
  }

  // ------------------------------------------------------------------ malformed files

  /** A small valid file whose every field the malformed ones below break one at a time. */
  private static GgufWriter base() {
    return new GgufWriter().str("general.architecture", "llama").u32("llama.block_count", 1)
        .strings("tokenizer.ggml.tokens", List.of("a", "b"))
        .tensor("token_embd.weight", DType.Q4_0, 32, 2).tensor("output_norm.weight", DType.F32, 5)
        .tensor("output.weight", DType.F16, 3, 2);
  }

  static List<Bad> malformed() {
    List<Bad> out = new ArrayList<>();
    byte[] ok = base().bytes();
    out.add(new Bad("bad-magic.gguf", patch(ok, 0, "GGUG".getBytes(StandardCharsets.US_ASCII)),
        "no GGUF magic at byte 0", Js.REFUSES, "magic"));
    out.add(new Bad("version-0.gguf", patch(ok, 4, le32(0)), "GGUF version 0 is not supported", Js.ACCEPTS,
        "version 0 (llama.cpp's JS reader reads unknown versions as version 3; ggml refuses)"));
    out.add(new Bad("version-1.gguf", patch(ok, 4, le32(1)), "GGUF version 1 is not supported", Js.REFUSES,
        "version 1"));
    out.add(new Bad("version-4.gguf", patch(ok, 4, le32(4)), "GGUF version 4 is newer than version 3", Js.ACCEPTS,
        "a version newer than 3 (read as 3 by the JS reader; ggml refuses)"));
    out.add(new Bad("big-endian.gguf", bigEndian(), "a big-endian GGUF file", Js.REFUSES,
        "big-endian (neither side reads it: the JS reader reads its version as 50331648 and its counts as "
            + "garbage)"));
    out.add(new Bad("tensor-count-huge.gguf", new GgufWriter().tensorCount(1L << 40).bytes(),
        "tensor count 1099511627776 is outside [0, 500000]", Js.HANGS,
        "a tensor count no file can hold (the JS reader reads zeros past the end of the file for ever)"));
    out.add(new Bad("kv-count-past-end.gguf", new GgufWriter().kvCount(3).str("a", "b").bytes(),
        "3 key-value pairs and 0 tensor infos need at least 42 bytes", Js.ACCEPTS,
        "more pairs than the file holds (the JS reader reads zeros past the end: empty keys of type u8)"));
    out.add(new Bad("key-empty.gguf", new GgufWriter().str("", "x").bytes(), "key 0 at byte 24 is empty",
        Js.ACCEPTS, "an empty key (ggml refuses it)"));
    out.add(new Bad("key-duplicate.gguf", new GgufWriter().u32("a", 1).u32("a", 2).bytes(),
        "key 'a' (pair 1, byte 41) appears twice", Js.ACCEPTS, "a duplicate key (the JS reader keeps the last one)"));
    out.add(new Bad("key-huge-length.gguf", patch(new GgufWriter().str("abc", "x").bytes(), 24, le64(1L << 40)),
        "key 0 at byte 24 is 1099511627776 bytes long; at most 65535 are allowed", Js.REFUSES, "a huge key length"));
    out.add(new Bad("string-huge-length.gguf", new GgufWriter().kv("s", STR, le64(1L << 40)).bytes(),
        "string at byte 37 is 1099511627776 bytes long, above the limit of 1073741824", Js.REFUSES,
        "a string over ggml's 1 GiB limit"));
    out.add(new Bad("string-all-ones-length.gguf", new GgufWriter().kv("s", STR, le64(-1)).bytes(),
        "is 18446744073709551615 bytes long", Js.REFUSES, "a string length of 2^64-1"));
    out.add(new Bad("string-past-end.gguf", new GgufWriter().kv("s", STR, new Enc().u64(100).str("x").bytes())
        .bytes(), "runs past the end of the file", Js.ACCEPTS, "a string longer than the rest of the file"));
    out.add(new Bad("value-type-13.gguf", new GgufWriter().kv("k", 13, le32(0)).bytes(),
        "key 'k' has invalid value type 13", Js.REFUSES, "a value type above 12"));
    out.add(new Bad("array-type-13-empty.gguf", new GgufWriter().kv("k", ARR, new Enc().u32(13).u64(0).bytes())
        .bytes(), "has invalid element type 13", Js.ACCEPTS,
        "an empty array of element type 13 (the JS reader looks at the type of elements only)"));
    out.add(new Bad("array-type-13.gguf", new GgufWriter().kv("k", ARR, new Enc().u32(13).u64(1).u32(0).bytes())
        .bytes(), "has invalid element type 13", Js.REFUSES, "an array of element type 13"));
    out.add(new Bad("array-huge-count.gguf", new GgufWriter().kv("k", ARR, new Enc().u32(U8).u64((1L << 30) + 1)
        .bytes()).bytes(), "has 1073741825 elements, above the limit of 1073741824", Js.HANGS,
        "an array over ggml's 2^30 elements"));
    out.add(new Bad("array-past-end.gguf", new GgufWriter().kv("k", ARR, new Enc().u32(U32).u64(1000).bytes())
        .bytes(), "has 1000 elements of u32, at least 4000 bytes, but the file ends", Js.ACCEPTS,
        "an array longer than the rest of the file"));
    out.add(new Bad("bool-2.gguf", new GgufWriter().kv("b", BOOL, new byte[] {2}).bytes(),
        "key 'b': boolean at byte 37 is 2; GGUF booleans are 0 or 1", Js.ACCEPTS,
        "a boolean of 2 (the specification calls it invalid; the JS reader reads false, ggml true)"));
    out.add(new Bad("alignment-48.gguf", new GgufWriter().alignment(48).u32("general.alignment", 48)
        .tensor("a", DType.F32, 3).bytes(), "general.alignment 48 is not a power of two", Js.ACCEPTS,
        "an alignment that is no power of two (ggml refuses it; the specification only asks for a multiple of 8)"));
    out.add(new Bad("alignment-0.gguf", new GgufWriter().u32("general.alignment", 0).tensor("a", DType.F32, 3)
        .bytes(), "general.alignment 0 is not a power of two", Js.ACCEPTS, "alignment 0 (the JS reader's offsets "
            + "become NaN)"));
    out.add(new Bad("alignment-u64.gguf", new GgufWriter().u64("general.alignment", 32).tensor("a", DType.F32, 3)
        .bytes(), "key 'general.alignment' must be of type u32 but is u64", Js.ACCEPTS,
        "general.alignment of another type than u32 (the JS reader takes any number)"));
    out.add(new Bad("alignment-string.gguf", new GgufWriter().str("general.alignment", "64")
        .tensor("a", DType.F32, 3).bytes(), "key 'general.alignment' must be of type u32 but is str", Js.ACCEPTS,
        "general.alignment as a string (the JS reader ignores it and aligns to 32)"));
    out.add(new Bad("name-empty.gguf", new GgufWriter().tensor("", DType.F32, 1).bytes(),
        "tensor name 0 at byte 24 is empty", Js.ACCEPTS, "an empty tensor name (ggml accepts it too: Ferry's rule)"));
    out.add(new Bad("name-64-bytes.gguf", new GgufWriter().tensor("n".repeat(64), DType.F32, 1).bytes(),
        "is 64 bytes long; at most 63 are allowed", Js.ACCEPTS,
        "a 64-byte tensor name (ggml's GGML_MAX_NAME holds 63 and a NUL; the specification says at most 64)"));
    out.add(new Bad("name-duplicate.gguf", new GgufWriter().tensor("a", DType.F32, 1).tensor("a", DType.F32, 1)
        .bytes(), "tensor 'a' (info 1, byte 57) appears twice", Js.ACCEPTS, "a duplicate tensor name"));
    out.add(new Bad("name-not-utf8.gguf", notUtf8(new GgufWriter().tensor("n?", DType.F32, 1).bytes(), 33),
        "tensor name 0 at byte 24 is not valid UTF-8", Js.ACCEPTS,
        "a tensor name that is not UTF-8 (the JS reader decodes it to U+FFFD, so two such names can read the same)"));
    out.add(new Bad("dims-5.gguf", new GgufWriter().tensor("a", 0, 4, null, 1, 1, 1, 1, 1).bytes(),
        "tensor 'a' has 5 dimensions; GGUF allows at most 4", Js.ACCEPTS, "5 dimensions"));
    out.add(new Bad("dims-huge.gguf", patch(new GgufWriter().tensor("a", DType.F32, 1).bytes(), 33,
        le32(0x7fffffff)), "tensor 'a' has 2147483647 dimensions", Js.HANGS,
        "2^31-1 dimensions (the JS reader reads zeros past the end for each)"));
    out.add(new Bad("dim-negative.gguf", new GgufWriter().tensor("a", 0, 4, null, 2, -1).bytes(),
        "dimension 1 is negative: -1", Js.ACCEPTS, "a negative dimension (ggml reads int64)"));
    out.add(new Bad("dims-overflow.gguf", new GgufWriter().tensor("a", 0, 4, null, 1L << 32, 1L << 32).bytes(),
        "has more than 2^63 elements", Js.ACCEPTS, "an element count that overflows"));
    out.add(new Bad("type-unknown.gguf", new GgufWriter().tensor("a", 43, 4, null, 1).bytes(),
        "has unknown ggml type 43", Js.ACCEPTS, "ggml type 43, which no ggml has"));
    out.add(new Bad("type-huge.gguf", new GgufWriter().tensor("a", 1000, 4, null, 1).bytes(),
        "has unknown ggml type 1000", Js.ACCEPTS, "ggml type 1000"));
    out.add(new Bad("type-retired-q4_2.gguf", new GgufWriter().tensor("a", 4, 4, null, 32).bytes(),
        "has ggml type 4, Q4_2 (support removed from ggml)", Js.ACCEPTS, "a retired ggml type"));
    out.add(new Bad("type-retired-q4_0_4_4.gguf", new GgufWriter().tensor("a", 31, 4, null, 32).bytes(),
        "has ggml type 31, Q4_0_4_4", Js.ACCEPTS, "a ggml type removed from GGUF files"));
    out.add(new Bad("row-partial-block.gguf", new GgufWriter().tensor("a", 2, 18, null, 48, 2).bytes(),
        "has 48 elements per row (dimension 0), not a multiple of its block size 32", Js.ACCEPTS,
        "a row of a block type that is not whole blocks"));
    out.add(new Bad("offset-misaligned.gguf", new GgufWriter().tensor("a", DType.F32, 1)
        .tensor("b", 0, 4, 4L, 1).bytes(), "tensor 'b' has offset 4, not a multiple of the alignment 32",
        Js.ACCEPTS, "an offset that is not a multiple of the alignment"));
    out.add(new Bad("offset-overlap.gguf", new GgufWriter().tensor("a", DType.F32, 16)
        .tensor("b", 0, 64, 32L, 16).bytes(), "tensor 'b' at offset 32 overlaps tensor 'a' (offsets 0 to 64)",
        Js.ACCEPTS, "overlapping tensors"));
    out.add(new Bad("offset-same.gguf", new GgufWriter().tensor("a", DType.F32, 8).tensor("b", 0, 32, 0L, 8)
        .bytes(), "tensor 'b' at offset 0 overlaps tensor 'a'", Js.ACCEPTS, "two tensors at one offset"));
    out.add(new Bad("offset-gap.gguf", new GgufWriter().tensor("a", DType.F32, 1).tensor("b", 0, 4, 64L, 1)
        .bytes(), "tensor 'b' has offset 64, expected 32", Js.ACCEPTS,
        "a gap between tensors (the specification allows it, ggml does not)"));
    out.add(new Bad("offset-out-of-order.gguf", new GgufWriter().tensor("a", 0, 4, 32L, 1)
        .tensor("b", 0, 4, 0L, 1).bytes(), "tensor 'a' has offset 32, expected 0", Js.ACCEPTS,
        "tensors whose data is not in the order of their infos (the specification allows it, ggml does not)"));
    byte[] past = base().tensor("last", DType.F32, 1000).bytes();
    out.add(new Bad("data-past-end.gguf", Arrays.copyOf(past, past.length - 4000 + 16),
        "tensor 'last' (4000 bytes from byte", Js.ACCEPTS, "a tensor whose data runs past the end of the file"));
    out.add(new Bad("trailing-bytes.gguf", concat(ok, new byte[] {1, 2, 3}), "3 bytes follow the end of the data",
        Js.ACCEPTS, "bytes after the last tensor's padding (ggml ignores them too: Ferry's rule)"));
    return out;
  }

  /**
   * {@link #base()} cut at every byte of its structure, and inside each tensor: every cut if {@code all}, else every
   * byte of the fixed header and every seventh byte after it (llama.cpp's reader takes some 20 ms a file).
   */
  static List<Bad> truncations(boolean all) {
    byte[] ok = base().bytes();
    FileLayout l;
    try {
      l = readBytes("base.gguf", ok);
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    List<Long> cuts = new ArrayList<>();
    for (long at = 0; at < l.dataStart(); at++) {
      if (all || at < 40 || at % 7 == 0 || at == l.dataStart() - 1) {
        cuts.add(at);
      }
    }
    for (Region.Tensor t : l.tensorRegions()) {
      cuts.add(t.start() + 1);
      cuts.add(t.end() - 1);
    }
    List<Bad> out = new ArrayList<>();
    for (long at : cuts) {
      out.add(new Bad(String.format("cut-%04d.gguf", at), Arrays.copyOf(ok, (int) at), null, null,
          "truncated at byte " + at));
    }
    return out;
  }

  static Stream<Bad> malformedFiles() {
    return malformed().stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("malformedFiles")
  void ferryRefusesWhatBreaksARule(Bad b) {
    Throwable t = catchThrowable(() -> ferry(b.name()));
    assertThat(t).as("Ferry reads %s (%s)", b.name(), b.why()).isInstanceOf(InvalidInputException.class);
    assertThat(t.getMessage()).startsWith(b.name() + ": ").contains(b.ferry());
    JsonNode js = LLAMA.get(b.name());
    Js got = js.get("ok").asBoolean() ? Js.ACCEPTS : js.has("hung") ? Js.HANGS : Js.REFUSES;
    assertThat(got).as("what llama.cpp's reader does with %s (%s): %s", b.name(), b.why(), js).isEqualTo(b.js());
  }

  @Test
  void ferryKnowsEveryGgmlTypeLlamaCppNames() {
    assertThat(llamaTypes).as("the ggml types node-llama-cpp names").isNotNull();
    llamaTypes.fields().forEachRemaining(e -> {
      int id = Integer.parseInt(e.getKey());
      String name = e.getValue().asText();
      DType t = GgmlTypes.byId(id);
      if (t != null) {
        assertThat(t.name()).as("ggml type %d", id).isEqualTo(name);
      } else {
        // not in GGUF files any more: Ferry names it in its refusal
        assertThat(GgmlTypes.describeUnknown(id)).as("ggml type %d, %s, llama.cpp's reader knows", id, name)
            .startsWith("ggml type " + id + ", " + name + " (");
      }
    });
    for (int id = 0; id < 64; id++) {
      if (GgmlTypes.byId(id) != null) {
        assertThat(llamaTypes.has(Integer.toString(id))).as("ggml type %d, which Ferry reads", id).isTrue();
      }
    }
  }

  /** Keys that are special names of JavaScript objects. */
  private static byte[] protoKeys() {
    return new GgufWriter().u32("__proto__", 7).u32("a.__proto__", 8).u32("constructor", 9)
        .tensor("t", DType.F32, 1).bytes();
  }

  @Test
  void llamaCppsReaderLosesKeysNamedProto() throws IOException {
    // readGgufFileInfo builds its nested metadata with plain objects, so "__proto__" (and "a.__proto__") set an
    // object's prototype instead of a key: llama.cpp's JavaScript reader drops them. Ferry, and ggml, read them.
    assertThat(ferry("proto-keys.gguf").metadata(GgufMetadata.class).orElseThrow().asStrings())
        .containsExactly(Map.entry("__proto__", "7"), Map.entry("a.__proto__", "8"), Map.entry("constructor", "9"));
    JsonNode js = LLAMA.get("proto-keys.gguf");
    List<String> keys = new ArrayList<>();
    js.get("metadata").fieldNames().forEachRemaining(keys::add);
    assertThat(keys).as("%s", js).containsExactly("constructor");
  }

  @Test
  void aKeyThatIsNotUtf8IsReadWithItsBytes() throws IOException {
    // ggml keeps a key's bytes and llama.cpp loads such a file; the JS reader decodes the key to U+FFFD, Ferry too,
    // and adds the bytes so that two such keys stay two
    assertThat(ferry("key-not-utf8.gguf").metadata(GgufMetadata.class).orElseThrow().asStrings())
        .containsExactly(Map.entry("k\uFFFD <not UTF-8: 6bff>", "1"));
    JsonNode js = LLAMA.get("key-not-utf8.gguf");
    assertThat(js.get("ok").asBoolean()).as("%s", js).isTrue();
    assertThat(js.get("metadata").get("k\uFFFD").get("n").asText()).as("%s", js).isEqualTo("1");
  }

  private static final Pattern TRUNCATED =
      Pattern.compile("truncated|past the end of the file|but the file ends|but the file has");

  @Test
  void ferryRefusesEveryTruncationNamingIt() {
    for (Bad b : truncations(true)) {
      assertThatThrownBy(() -> readBytes(b.name(), b.bytes())).as(b.why()).isInstanceOf(InvalidInputException.class)
          .hasMessageStartingWith(b.name() + ": ").hasMessageFindingMatch(TRUNCATED.pattern());
    }
    int jsAccepted = 0;
    for (Bad b : truncations(false)) {
      jsAccepted += LLAMA.get(b.name()).get("ok").asBoolean() ? 1 : 0;
    }
    // llama.cpp's JavaScript reader fills what lies past the end of a file with zeros: it reads most truncated
    // headers without noticing (ggml's loader refuses them all, as Ferry does)
    assertThat(jsAccepted).as("truncated files the JS reader accepts").isPositive();
  }

  // ------------------------------------------------------------------ helpers

  private static FileLayout ferry(String name) throws IOException {
    Path f = tmp.resolve(name);
    try (FileChannel ch = FileChannel.open(f)) {
      return new GgufFormat().read(new FormatInput(name, ch, ch.size()));
    }
  }

  private static FileLayout readBytes(String name, byte[] bytes) throws IOException {
    Path f = Files.createTempFile("gguf-", ".gguf");
    try {
      Files.write(f, bytes);
      try (FileChannel ch = FileChannel.open(f)) {
        return new GgufFormat().read(new FormatInput(name, ch, ch.size()));
      }
    } finally {
      Files.delete(f);
    }
  }

  /** A little-endian file of {@link #base()}'s structure written big-endian: version 3, one pair, no tensor. */
  private static byte[] bigEndian() {
    ByteBuffer b = ByteBuffer.allocate(4 + 4 + 8 + 8 + 8 + 1 + 4 + 4).order(ByteOrder.BIG_ENDIAN);
    b.put("GGUF".getBytes(StandardCharsets.US_ASCII)).putInt(3).putLong(0).putLong(1).putLong(1).put((byte) 'k')
        .putInt(U32).putInt(7);
    return b.array();
  }

  private static byte[] notUtf8(byte[] file, int at) {
    byte[] b = file.clone();
    b[at] = (byte) 0xff;
    return b;
  }

  private static byte[] patch(byte[] file, int at, byte[] with) {
    byte[] b = file.clone();
    System.arraycopy(with, 0, b, at, with.length);
    return b;
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  private static byte[] le32(int v) {
    return new Enc().u32(v).bytes();
  }

  private static byte[] le64(long v) {
    return new Enc().u64(v).bytes();
  }

  private static long align(long x, long a) {
    return (x + a - 1) / a * a;
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String sha256(byte[] b) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
