package io.ferry.cli;

import static io.ferry.cli.DeriveSupport.ferry;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.derive.Deriver;
import io.ferry.derive.FloatBits;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import io.ferry.format.safetensors.SafetensorsWriter;
import io.ferry.read.ModelReader;
import io.ferry.repo.Repository;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/** {@code ferry derive} and {@code ferry lineage} end to end, checked against the source bytes and numpy. */
class DeriveCommandTest {
  @TempDir Path tmp;
  Path store;
  Path model;

  /** A small sharded HF model: F32, BF16 and F16 matrices, a norm, an I64 tensor, a 2-block tensor. */
  static List<Tensor> tensors() {
    return List.of(
        new Tensor("model.embed_tokens.weight", DType.F32, new long[] {64, 256}, 1),
        new Tensor("model.layers.0.input_layernorm.weight", DType.F32, new long[] {256}, 2),
        new Tensor("model.layers.0.self_attn.q_proj.weight", DType.F32, new long[] {256, 256}, 3),
        new Tensor("model.layers.0.mlp.up_proj.weight", DType.BF16, new long[] {384, 256}, 4),
        new Tensor("model.layers.0.mlp.down_proj.weight", DType.F16, new long[] {256, 384}, 5),
        new Tensor("model.layers.0.odd.weight", DType.F32, new long[] {100, 200}, 6),
        new Tensor("model.position_ids", DType.I64, new long[] {1, 64}, 7),
        new Tensor("model.layers.0.mlp.big.weight", DType.F32, new long[] {1100, 1024}, 8),
        new Tensor("lm_head.weight", DType.F32, new long[] {64, 256}, 9));
  }

  @BeforeEach
  void setUp() throws IOException {
    store = tmp.resolve("store");
    model = tmp.resolve("model");
    ModelGenerator.writeHfModel(model, tensors(), 1 << 20);
    assertThat(ferry(store, "init").code()).isZero();
    DeriveSupport.Run push = ferry(store, "push", model.toString(), "m:base");
    assertThat(push.code()).as(push.err()).isZero();
  }

  private String derive(String... args) {
    List<String> all = new ArrayList<>(List.of("derive"));
    all.addAll(List.of(args));
    DeriveSupport.Run r = ferry(store, all.toArray(String[]::new));
    assertThat(r.code()).as("ferry %s: %s", all, r.err()).isZero();
    return r.out().trim();
  }

  private static ByteBuffer read(ModelReader r, String name) throws IOException {
    return r.read(name).order(ByteOrder.LITTLE_ENDIAN);
  }

  private static double[] floats(ModelReader r, String name) throws IOException {
    TensorInfo t = r.tensor(name).info();
    ByteBuffer b = read(r, name);
    double[] out = new double[(int) t.elements()];
    for (int i = 0; i < out.length; i++) {
      out[i] = switch (t.dtype()) {
        case F32 -> b.getFloat(4 * i);
        case F16 -> FloatBits.halfToFloat(b.getShort(2 * i));
        case BF16 -> FloatBits.bf16ToFloat(b.getShort(2 * i));
        case F64 -> b.getDouble(8 * i);
        default -> throw new AssertionError(t.dtype());
      };
    }
    return out;
  }

  // ------------------------------------------------------------------ cast

  @Test
  void castToBf16RoundsToNearestEvenAndKeepsTheRest() throws Exception {
    derive("cast", "m:base", "--to", "bf16", "--as", "m:bf16");
    try (Repository repo = DeriveSupport.open(store); ModelReader src = repo.open("m:base");
        ModelReader dst = repo.open("m:bf16")) {
      for (Tensor t : tensors()) {
        TensorInfo out = dst.tensor(t.name()).info();
        ByteBuffer a = read(src, t.name());
        ByteBuffer b = read(dst, t.name());
        if (t.dtype() == DType.F32) {
          assertThat(out.dtype()).isEqualTo(DType.BF16);
          for (int i = 0; i < out.elements(); i++) {
            assertThat(b.getShort(2 * i)).isEqualTo(DeriveFloatBitsTest.bf16Reference(a.getFloat(4 * i)));
          }
        } else if (t.dtype() == DType.F16) {
          for (int i = 0; i < out.elements(); i++) {
            assertThat(b.getShort(2 * i))
                .isEqualTo(DeriveFloatBitsTest.bf16Reference(FloatBits.halfToFloat(a.getShort(2 * i))));
          }
        } else {
          assertThat(out.dtype()).as(t.name()).isEqualTo(t.dtype());
          assertThat(b).as("%s is kept byte for byte", t.name()).isEqualTo(a);
        }
      }
    }
    JsonNode report = DeriveSupport.JSON.readTree(readFile("m:bf16", "ferry-derivation.json"));
    Map<String, String> actions = new TreeMap<>();
    report.path("tensors").forEach(t -> actions.put(t.path("name").asText(), t.path("action").asText()));
    assertThat(actions).containsEntry("model.position_ids", "kept")
        .containsEntry("model.layers.0.mlp.up_proj.weight", "kept")
        .containsEntry("model.layers.0.mlp.down_proj.weight", "cast");
    assertThat(Files.readString(pull("m:bf16").resolve("config.json")))
        .isEqualTo(Files.readString(model.resolve("config.json")));
  }

  /**
   * {@code --tensors} lists names the file chose: a control character in one is escaped (it moved the cursor and
   * cleared the screen), and a name of CJK characters, two columns each on a terminal, keeps the action column aligned.
   */
  @Test
  void perTensorLinesEscapeNamesAndKeepTheirColumnsAligned() throws Exception {
    Path odd = tmp.resolve("odd");
    ModelGenerator.writeHfModel(odd, List.of(new Tensor("x\u001b[2Jy.weight", DType.F32, new long[] {8, 8}, 1),
        new Tensor("\u5c64\u306e\u91cd\u307f", DType.F32, new long[] {8, 8}, 2),
        new Tensor("plain.weight", DType.F32, new long[] {8, 8}, 3)), 1 << 20);
    assertThat(ferry(store, "push", odd.toString(), "odd:base").code()).isZero();
    DeriveSupport.Run r = ferry(store, "derive", "cast", "odd:base", "--to", "bf16", "--as", "odd:bf16", "--tensors");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.err()).doesNotContain("\u001b").contains("x\\x1b[2Jy.weight");
    List<String> lines = r.err().lines().filter(l -> l.contains(" cast ")).toList();
    assertThat(lines).hasSize(3);
    assertThat(lines.stream().map(l -> Format.columns(l.substring(0, l.indexOf(" cast ")))).distinct())
        .as("columns before the action, in %s", lines).hasSize(1);
  }

  @ParameterizedTest
  @CsvSource({"bf16", "f16", "f32"})
  void castMetricsMatchNumpy(String to) throws Exception {
    DeriveSupport.assumeNumpy();
    derive("cast", "m:base", "--to", to, "--as", "c:" + to);
    assertMetricsMatchNumpy("m:base", "c:" + to);
  }

  // ------------------------------------------------------------------ quantize, dequantize

  static Stream<Arguments> quantModes() {
    return Stream.of(Arguments.of(8, true), Arguments.of(8, false), Arguments.of(4, true), Arguments.of(4, false));
  }

  @ParameterizedTest(name = "bits {0} symmetric {1}")
  @MethodSource("quantModes")
  void quantizedElementsAreWithinHalfAScaleOfTheSource(int bits, boolean symmetric) throws Exception {
    List<String> args = new ArrayList<>(List.of("quantize", "m:base", "--bits", "" + bits, "--group-size", "64",
        "--as", "q:v"));
    if (symmetric) {
      args.add("--symmetric");
    }
    derive(args.toArray(String[]::new));
    JsonNode report = DeriveSupport.JSON.readTree(readFile("q:v", "ferry-derivation.json"));
    Map<String, String> actions = new HashMap<>();
    report.path("tensors").forEach(t -> actions.put(t.path("name").asText(), t.path("action").asText()));
    assertThat(actions).containsEntry("model.layers.0.odd.weight", "kept") // 200 is not a multiple of 64
        .containsEntry("model.layers.0.input_layernorm.weight", "kept").containsEntry("model.position_ids", "kept")
        .containsEntry("model.layers.0.mlp.big.weight", "quantized")
        .containsEntry("model.layers.0.mlp.up_proj.weight", "quantized");
    long checked = 0;
    try (Repository repo = DeriveSupport.open(store); ModelReader src = repo.open("m:base");
        ModelReader dst = repo.open("q:v")) {
      for (Map.Entry<String, String> e : actions.entrySet()) {
        String name = e.getKey();
        if (!e.getValue().equals("quantized")) {
          assertThat(read(dst, name)).isEqualTo(read(src, name));
          continue;
        }
        double[] x = floats(src, name);
        TensorInfo q = dst.tensor(name).info();
        assertThat(q.dtype()).isEqualTo(bits == 8 && symmetric ? DType.I8 : DType.U8);
        int rows = (int) (long) q.shape().get(0);
        int cols = x.length / rows;
        ByteBuffer qb = read(dst, name);
        ByteBuffer sb = read(dst, name + ".scale");
        ByteBuffer zb = symmetric ? null : read(dst, name + ".zero_point");
        assertThat(dst.tensor(name + ".scale").info().shape()).containsExactly((long) rows, (long) cols / 64);
        assertThat(symmetric).isEqualTo(dst.snapshot().files().stream()
            .flatMap(f -> f.tensors().stream()).noneMatch(t -> t.name().equals(name + ".zero_point")));
        for (int r = 0; r < rows; r++) {
          for (int c = 0; c < cols; c++) {
            int i = r * cols + c;
            int g = r * (cols / 64) + c / 64;
            float scale = sb.getFloat(4 * g);
            int zp = zb == null ? 0 : zb.get(g) & 0xff;
            int v;
            if (bits == 8) {
              v = symmetric ? qb.get(i) : qb.get(i) & 0xff;
            } else {
              int byt = qb.get(i / 2) & 0xff;
              v = (i & 1) == 0 ? byt & 0x0f : byt >>> 4;
              v = symmetric ? v - 8 : v;
            }
            assertThat(v).isBetween(symmetric ? -(bits == 8 ? 127 : 7) : 0, bits == 8 ? (symmetric ? 127 : 255) : 15);
            double err = Math.abs(x[i] - (double) (v - zp) * scale);
            if (err > scale / 2 * (1 + 1e-9)) {
              throw new AssertionError(name + "[" + r + "," + c + "] = " + x[i] + " became (" + v + " - " + zp
                  + ") * " + scale + ": error " + err + " > scale/2 = " + scale / 2);
            }
            checked++;
          }
        }
      }
    }
    assertThat(checked).isGreaterThan(1_300_000);
  }

  @ParameterizedTest(name = "bits {0} symmetric {1}")
  @MethodSource("quantModes")
  void quantizeAndDequantizeMetricsMatchNumpyAndEachOther(int bits, boolean symmetric) throws Exception {
    DeriveSupport.assumeNumpy();
    List<String> args = new ArrayList<>(List.of("quantize", "m:base", "--bits", "" + bits, "--group-size", "128",
        "--exclude", "embed", "--as", "q:v"));
    if (symmetric) {
      args.add("--symmetric");
    }
    derive(args.toArray(String[]::new));
    assertMetricsMatchNumpy("m:base", "q:v");
    Path qdir = pull("q:v");
    Path deq = Files.createDirectories(tmp.resolve("numpy-deq"));
    DeriveSupport.python(tmp, "dequant", qdir.toString(), deq.toString());

    derive("dequantize", "q:v", "--to", "f32", "--as", "d:v");
    JsonNode qr = DeriveSupport.report(qdir);
    JsonNode dr = DeriveSupport.report(pull("d:v"));
    assertThat(dr.path("compared_with").asText()).isEqualTo(qr.path("source").asText());
    Map<String, JsonNode> dq = new HashMap<>();
    dr.path("tensors").forEach(t -> dq.put(t.path("name").asText(), t));
    int n = 0;
    try (Repository repo = DeriveSupport.open(store); ModelReader d = repo.open("d:v")) {
      for (JsonNode t : qr.path("tensors")) {
        String name = t.path("name").asText();
        if (!t.path("action").asText().equals("quantized")) {
          continue;
        }
        n++;
        assertThat(d.tensor(name).info().dtype()).isEqualTo(DType.F32);
        assertThat(d.snapshot().files().stream().flatMap(f -> f.tensors().stream()).map(TensorInfo::name))
            .doesNotContain(name + ".scale", name + ".zero_point");
        byte[] expect = Files.readAllBytes(deq.resolve(name + ".f32"));
        assertThat(read(d, name)).as("%s dequantized as numpy does it", name).isEqualTo(ByteBuffer.wrap(expect));
        // Dequantized to f32, the values are those the quantization measured: same figures, to the last bit.
        assertThat(dq.get(name).path("metrics")).as(name).isEqualTo(t.path("metrics"));
      }
    }
    assertThat(n).isEqualTo(5);
    assertThat(dr.path("overall")).isEqualTo(qr.path("overall"));
    JsonNode restoredIndex = DeriveSupport.JSON.readTree(pull("d:v").resolve("model.safetensors.index.json").toFile());
    JsonNode sourceIndex = DeriveSupport.JSON.readTree(model.resolve("model.safetensors.index.json").toFile());
    assertThat(restoredIndex.path("weight_map")).isEqualTo(sourceIndex.path("weight_map"));
    assertThat(ferry(store, "verify", "d:v").code()).isZero();
  }

  /**
   * Rows longer than a block (2^20 elements) are quantized by groups, and by parts of a group in two passes when the
   * group is the row (one scale per row); dequantized likewise. numpy reads the result as it reads short rows: the
   * metrics are numpy's, and the dequantized values are numpy's to the last bit.
   */
  @ParameterizedTest(name = "bits {0} symmetric {1}")
  @MethodSource("quantModes")
  void longRowsAreQuantizedAsNumpyReadsThem(int bits, boolean symmetric) throws Exception {
    DeriveSupport.assumeNumpy();
    long n = (1 << 20) + 2048;
    Path wide = tmp.resolve("wide");
    ModelGenerator.writeSafetensors(wide.resolve("model.safetensors"), List.of(
        new Tensor("w", DType.F32, new long[] {2, n}, 3)), Map.of());
    assertThat(ferry(store, "push", wide.toString(), "wide:v").code()).isZero();
    for (long group : new long[] {128, n}) {
      List<String> args = new ArrayList<>(List.of("quantize", "wide:v", "--bits", "" + bits, "--group-size",
          "" + group, "--as", "wq" + group + ":v"));
      if (symmetric) {
        args.add("--symmetric");
      }
      derive(args.toArray(String[]::new));
      assertMetricsMatchNumpy("wide:v", "wq" + group + ":v");
      Path deq = Files.createDirectories(tmp.resolve("numpy-deq-" + group));
      DeriveSupport.python(tmp, "dequant", pull("wq" + group + ":v").toString(), deq.toString());
      derive("dequantize", "wq" + group + ":v", "--to", "f32", "--as", "wd" + group + ":v");
      try (Repository repo = DeriveSupport.open(store); ModelReader d = repo.open("wd" + group + ":v")) {
        assertThat(read(d, "w")).as("group %s dequantized as numpy does it", group)
            .isEqualTo(ByteBuffer.wrap(Files.readAllBytes(deq.resolve("w.f32"))));
      }
    }
  }

  /**
   * Many Hugging Face repositories hold the same weights twice, as model.safetensors and as pytorch_model.bin: derive
   * refused such a version whole. It derives the safetensors weights (torch's bf16, to the bit) and keeps the PyTorch
   * file as it is (torch loads it, equal to the source's), listed under kept_files in the report and on stderr.
   */
  @Test
  void aPytorchFileBesideSafetensorsIsKeptAsItIs() throws Exception {
    DeriveSupport.assumeTorch();
    Path pair = Files.createDirectories(tmp.resolve("pair"));
    DeriveSupport.python(tmp, "torch-pair", pair.toString());
    assertThat(ferry(store, "push", pair.toString(), "pair:v1").code()).isZero();
    DeriveSupport.Run r = ferry(store, "derive", "cast", "pair:v1", "--to", "bf16", "--as", "pair:bf16");
    assertThat(r.code()).as(r.err()).isZero();
    String why = "a torch file of 3 tensors, kept as it is (with the source's values): derive transforms the tensors "
        + "of safetensors files only";
    assertThat(r.err()).contains("kept      pytorch_model.bin: " + why);
    Path out = pull("pair:bf16");
    assertThat(DeriveSupport.report(out).path("kept_files").path("pytorch_model.bin").asText()).isEqualTo(why);
    assertThat(Files.readAllBytes(out.resolve("pytorch_model.bin")))
        .isEqualTo(Files.readAllBytes(pair.resolve("pytorch_model.bin")));
    assertThat(DeriveSupport.python(tmp, "torch-cast", pair.toString(), out.toString()).trim()).isEqualTo("ok");
    assertThat(DeriveSupport.JSON.readTree(derive("cast", "pair:v1", "--to", "f16", "--as", "pair:f16", "--json"))
        .path("keptFiles").path("pytorch_model.bin").asText()).isEqualTo(why);
  }

  // ------------------------------------------------------------------ prune

  @ParameterizedTest
  @CsvSource({"0.3", "0.5", "0.999", "0.0001"})
  void pruningReachesTheRequestedSparsityExactly(double sparsity) throws Exception {
    derive("prune", "m:base", "--sparsity", Double.toString(sparsity), "--exclude", "norm", "--as", "p:v");
    JsonNode report = DeriveSupport.JSON.readTree(readFile("p:v", "ferry-derivation.json"));
    try (Repository repo = DeriveSupport.open(store); ModelReader src = repo.open("m:base");
        ModelReader dst = repo.open("p:v")) {
      for (JsonNode t : report.path("tensors")) {
        String name = t.path("name").asText();
        if (!t.path("action").asText().equals("pruned")) {
          assertThat(name).matches(".*(norm|position_ids).*");
          continue;
        }
        double[] a = floats(src, name);
        double[] b = floats(dst, name);
        long k = (long) Math.rint(sparsity * a.length);
        long zeros = 0;
        double maxPruned = 0;
        double minKept = Double.MAX_VALUE;
        for (int i = 0; i < a.length; i++) {
          if (b[i] == 0) {
            zeros++;
            maxPruned = Math.max(maxPruned, Math.abs(a[i]));
          } else {
            assertThat(b[i]).isEqualTo(a[i]);
            minKept = Math.min(minKept, Math.abs(a[i]));
          }
        }
        assertThat(zeros).as(name).isEqualTo(k);
        assertThat(maxPruned).as(name).isLessThanOrEqualTo(minKept);
        assertThat(t.path("metrics").path("sparsity").asDouble()).isEqualTo((double) k / a.length);
      }
    }
  }

  /**
   * S·n halfway between two counts rounds to the even one, as torch.nn.utils.prune (Python's round) counts: rounding
   * halves up zeroed three of five elements at --sparsity 0.5, and a one-element tensor whole.
   */
  /** The counts of values that were not finite or overflowed were shown and given as doubles: non_finite=2.00000. */
  @Test
  void countsAreShownAsIntegers() throws Exception {
    Path big = Files.createDirectories(tmp.resolve("big"));
    writeF32(big.resolve("model.safetensors"), "w", new float[] {70000, 1, Float.POSITIVE_INFINITY, Float.NaN});
    assertThat(ferry(store, "push", big.toString(), "big:base").code()).isZero();
    DeriveSupport.Run d = ferry(store, "derive", "cast", "big:base", "--to", "f16", "--as", "big:f16");
    assertThat(d.code()).as(d.err()).isZero();
    assertThat(d.out() + d.err()).containsPattern("non_finite=2(?![.0-9])").containsPattern("overflow=1(?![.0-9])");
    String show = ferry(store, "show", "big:f16").out();
    assertThat(show).containsPattern("metric +non_finite = 2\\R").containsPattern("metric +overflow = 1\\R");
    JsonNode metrics = new ObjectMapper().readTree(ferry(store, "show", "big:f16", "--json").out())
        .path("derivation").path("metrics");
    assertThat(metrics.get("nonFinite").isIntegralNumber()).as(metrics.toString()).isTrue();
    assertThat(metrics.get("overflow").asLong()).isEqualTo(1);
    assertThat(ferry(store, "lineage", "big:f16").out()).containsPattern("non_finite=2(?![.0-9])");
  }

  @Test
  void pruningBySparsityRoundsHalvesToEven() throws Exception {
    Path odd = Files.createDirectories(tmp.resolve("odd"));
    writeF32(odd.resolve("model.safetensors"), "w", new float[] {3, 1, 2, 4, 5}, 1, 5);
    assertThat(ferry(store, "push", odd.toString(), "odd:base").code()).isZero();
    derive("prune", "odd:base", "--sparsity", "0.5", "--as", "odd:p50"); // 2.5 -> 2
    try (Repository repo = DeriveSupport.open(store); ModelReader r = repo.open("odd:p50")) {
      assertThat(floats(r, "w")).containsExactly(3, 0, 0, 4, 5);
    }
    Path one = Files.createDirectories(tmp.resolve("one"));
    writeF32(one.resolve("model.safetensors"), "w", new float[] {0.25f}, 1, 1);
    assertThat(ferry(store, "push", one.toString(), "one:base").code()).isZero();
    TreeMap<String, Long> before = DeriveSupport.storeState(store);
    // 0.5 -> 0: the tensor is written as it was, so there is nothing to prune
    DeriveSupport.Run r = ferry(store, "derive", "prune", "one:base", "--sparsity", "0.5", "--as", "one:p50");
    assertThat(r.code()).as(r.err()).isEqualTo(1);
    assertThat(r.err()).contains("nothing to prune");
    assertThat(DeriveSupport.storeState(store)).isEqualTo(before);
  }

  @Test
  void pruningBreaksTiesByLowerIndex() throws Exception {
    float[] v = {3, 1, 2, 1, 1, 5, 1, -1, 0.5f, 7};
    Path dir = Files.createDirectories(tmp.resolve("ties"));
    writeF32(dir.resolve("model.safetensors"), "w", v, 2, 5);
    assertThat(ferry(store, "push", dir.toString(), "ties:base").code()).isZero();
    derive("prune", "ties:base", "--sparsity", "0.4", "--as", "ties:p40"); // k = 4: 0.5, then three of the six ±1s
    try (Repository repo = DeriveSupport.open(store); ModelReader r = repo.open("ties:p40")) {
      assertThat(floats(r, "w")).containsExactly(3, 0, 2, 0, 0, 5, 1, -1, 0, 7);
    }
    derive("prune", "ties:base", "--threshold", "1", "--as", "ties:t1"); // |x| < 1 only
    try (Repository repo = DeriveSupport.open(store); ModelReader r = repo.open("ties:t1")) {
      assertThat(floats(r, "w")).containsExactly(3, 1, 2, 1, 1, 5, 1, -1, 0, 7);
    }
    derive("prune", "ties:base", "--threshold", "1.5", "--as", "ties:t15");
    try (Repository repo = DeriveSupport.open(store); ModelReader r = repo.open("ties:t15")) {
      assertThat(floats(r, "w")).containsExactly(3, 0, 2, 0, 0, 5, 0, 0, 0, 7);
    }
  }

  @Test
  void f64TensorsAreCastRoundedOnceQuantizedAndPrunedBySixtyFourBitKeys() throws Exception {
    java.util.Random rnd = new java.util.Random(5);
    double[] v = new double[64 * 128];
    for (int i = 0; i < v.length; i++) {
      v[i] = rnd.nextGaussian() * 0.02;
    }
    double c0 = Arrays.stream(v).map(Math::abs).sorted().toArray()[(int) Math.round(0.3 * v.length) - 1];
    for (int i = 0; i < 40; i++) {
      v[100 + 7 * i] = i % 2 == 0 ? c0 : -c0; // ties at the cut: the lower indexes go first
    }
    v[5] = 1 + 0x1p-8 + 0x1p-30; // rounding through float with round-to-nearest would give 1.0 in bf16
    Path dir = Files.createDirectories(tmp.resolve("f64"));
    ByteBuffer data = ByteBuffer.allocate(8 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    for (double d : v) {
      data.putDouble(d);
    }
    ByteBuffer header = SafetensorsWriter.header(Map.of(),
        List.of(new TensorInfo("w", DType.F64, List.of(64L, 128L), 0, 8L * v.length)));
    try (FileChannel ch = FileChannel.open(dir.resolve("model.safetensors"), StandardOpenOption.CREATE_NEW,
        StandardOpenOption.WRITE)) {
      ch.write(header);
      ch.write(data.flip());
    }
    assertThat(ferry(store, "push", dir.toString(), "f64:v1").code()).isZero();
    derive("cast", "f64:v1", "--to", "bf16", "--as", "f64:bf16");
    derive("cast", "f64:v1", "--to", "f32", "--as", "f64:f32");
    derive("quantize", "f64:v1", "--bits", "8", "--group-size", "32", "--symmetric", "--as", "f64:q8");
    derive("prune", "f64:v1", "--sparsity", "0.3", "--as", "f64:p30");
    long k = Math.round(0.3 * v.length);
    double[] sorted = Arrays.stream(v).map(Math::abs).sorted().toArray();
    double cut = sorted[(int) k - 1];
    long below = Arrays.stream(v).filter(x -> Math.abs(x) < cut).count();
    long equal = Arrays.stream(v).filter(x -> Math.abs(x) == cut).count();
    assertThat(below).isLessThan(k);
    assertThat(below + equal).isGreaterThan(k);
    try (Repository repo = DeriveSupport.open(store)) {
      try (ModelReader r = repo.open("f64:bf16")) {
        ByteBuffer b = read(r, "w");
        for (int i = 0; i < v.length; i++) {
          assertThat((double) FloatBits.bf16ToFloat(b.getShort(2 * i))).as("bf16 of %s", v[i])
              .isEqualTo(bf16Nearest(v[i]));
        }
        assertThat(FloatBits.bf16ToFloat(b.getShort(10))).isEqualTo(1 + 0x1p-7f);
      }
      try (ModelReader r = repo.open("f64:f32")) {
        ByteBuffer b = read(r, "w");
        for (int i = 0; i < v.length; i++) {
          assertThat(b.getFloat(4 * i)).isEqualTo((float) v[i]);
        }
      }
      try (ModelReader r = repo.open("f64:q8")) {
        ByteBuffer q = read(r, "w");
        ByteBuffer sc = read(r, "w.scale");
        for (int i = 0; i < v.length; i++) {
          float scale = sc.getFloat(4 * (i / 32));
          assertThat(Math.abs(v[i] - q.get(i) * (double) scale)).isLessThanOrEqualTo(scale / 2 * (1 + 1e-9));
        }
      }
      try (ModelReader r = repo.open("f64:p30")) {
        ByteBuffer b = read(r, "w");
        long ties = k - below;
        for (int i = 0; i < v.length; i++) {
          double got = b.getDouble(8 * i);
          boolean pruned = Math.abs(v[i]) < cut || (Math.abs(v[i]) == cut && ties-- > 0);
          assertThat(got).as("element %d = %s", i, v[i]).isEqualTo(pruned ? 0.0 : v[i]);
        }
      }
    }
  }

  /** Nearest bf16 to a double, ties to even, by exact arithmetic on the double. */
  private static double bf16Nearest(double d) {
    double a = Math.abs(d);
    double ulp = Math.scalb(1.0, Math.max(Math.getExponent(a), -126) - 7);
    double lo = Math.floor(a / ulp) * ulp;
    double rem = a - lo;
    boolean up = rem > ulp / 2 || (rem == ulp / 2 && ((long) (lo / ulp) & 1) == 1);
    return Math.copySign(up ? lo + ulp : lo, d);
  }

  @Test
  void emptyAndScalarTensorsGoThroughEveryDerivation() throws Exception {
    Path dir = tmp.resolve("edge");
    ModelGenerator.writeSafetensors(dir.resolve("model.safetensors"), List.of(
        new Tensor("empty_rows", DType.F32, new long[] {0, 128}, 1),
        new Tensor("empty_cols", DType.F32, new long[] {4, 0}, 2),
        new Tensor("scalar", DType.F32, new long[] {}, 3),
        new Tensor("w", DType.BF16, new long[] {3, 128}, 4)), Map.of());
    assertThat(ferry(store, "push", dir.toString(), "edge:v1").code()).isZero();
    derive("cast", "edge:v1", "--to", "f16", "--as", "edge:f16");
    derive("quantize", "edge:v1", "--bits", "4", "--group-size", "128", "--as", "edge:q4");
    derive("dequantize", "edge:q4", "--as", "edge:dq4");
    derive("prune", "edge:v1", "--sparsity", "0.6", "--as", "edge:p60");
    try (Repository repo = DeriveSupport.open(store); ModelReader r = repo.open("edge:q4");
        ModelReader p = repo.open("edge:p60"); ModelReader d = repo.open("edge:dq4");
        ModelReader v1 = repo.open("edge:v1")) {
      assertThat(r.tensor("empty_rows").info().dtype()).isEqualTo(DType.F32); // no elements: kept
      assertThat(r.tensor("w").info().shape()).containsExactly(3L, 64L);
      assertThat(r.tensor("w.scale").info().shape()).containsExactly(3L, 1L);
      assertThat(r.tensor("scalar").info().dtype()).isEqualTo(DType.F32); // 0-D: kept
      assertThat(floats(p, "scalar")).isEqualTo(floats(v1, "scalar")); // 0-D: kept by prune too
      assertThat(d.tensor("w").info().dtype()).isEqualTo(DType.BF16); // back to its type before quantization
      assertThat(d.tensor("empty_rows").info().shape()).containsExactly(0L, 128L);
    }
  }

  @Test
  void pruneMetricsMatchNumpy() throws Exception {
    DeriveSupport.assumeNumpy();
    derive("prune", "m:base", "--threshold", "0.01", "--include", "layers", "--as", "p:t");
    assertMetricsMatchNumpy("m:base", "p:t");
  }

  // ------------------------------------------------------------------ dedup, index, show, log, diff

  @Test
  void aDerivationStoresOnlyWhatItChanged() throws Exception {
    long before = DeriveSupport.storeState(store).values().stream().mapToLong(Long::longValue).sum();
    DeriveSupport.Run r = ferry(store, "derive", "cast", "m:base", "--to", "bf16", "--include", "q_proj", "--as",
        "m:q-bf16", "--json");
    assertThat(r.code()).as(r.err()).isZero();
    long after = DeriveSupport.storeState(store).values().stream().mapToLong(Long::longValue).sum();
    long changed = 256 * 256 * 2;
    long model = tensors().stream().mapToLong(Tensor::byteLength).sum();
    assertThat(after - before).as("store growth for %d changed bytes of %d", changed, model)
        .isLessThan(changed + 48 * 1024);
    assertThat(DeriveSupport.JSON.readTree(r.out()).path("newStoredBytes").asLong()).isLessThan(changed + 48 * 1024);
  }

  @Test
  void derivingTwiceGivesTheSameSnapshot() throws Exception {
    derive("quantize", "m:base", "--bits", "4", "--group-size", "32", "--as", "a:v", "--threads", "2");
    derive("quantize", "m:base", "--bits", "4", "--group-size", "32", "--as", "b:v", "--threads", "1");
    try (Repository repo = DeriveSupport.open(store)) {
      assertThat(repo.resolve("a:v").version().snapshot()).isEqualTo(repo.resolve("b:v").version().snapshot());
      assertThat(repo.resolve("a:v").version().derivation()).isEqualTo(repo.resolve("b:v").version().derivation());
    }
  }

  /**
   * Running the same derivation into the same target again made a new version each time (same snapshot, same
   * record), growing the history with copies; like pushing the same files again, it is now up to date. A push of the
   * same files with another derivation record (another metric) still makes a version.
   */
  @Test
  void theSameDerivationAgainIsUpToDate() throws Exception {
    String first = derive("cast", "m:base", "--to", "bf16", "--as", "c:v");
    DeriveSupport.Run again = ferry(store, "derive", "cast", "m:base", "--to", "bf16", "--as", "c:v");
    assertThat(again.code()).as(again.err()).isZero();
    assertThat(again.out().trim()).isEqualTo(first);
    assertThat(again.err()).contains("up to date: c:v is " + first);
    Path student = pull("c:v");
    for (String metric : List.of("eval_loss=1.5", "eval_loss=1.5", "eval_loss=1.25")) {
      DeriveSupport.Run push = ferry(store, "push", student.toString(), "s:v", "--derived-from", "m:base",
          "--derivation", "distill", "--metric", metric);
      assertThat(push.code()).as(push.err()).isZero();
    }
    try (Repository repo = DeriveSupport.open(store)) {
      assertThat(repo.resolve("c").version().seq()).isEqualTo(1);
      assertThat(repo.resolve("s").version().seq()).isEqualTo(2);
      assertThat(repo.resolve("s").version().derivation().metrics()).containsEntry("eval_loss", 1.25);
    }
  }

  @Test
  void theIndexMapsAddedTensorsToTheirShardAndOtherFilesAreKept() throws Exception {
    derive("quantize", "m:base", "--bits", "4", "--group-size", "32", "--as", "m:q4");
    Path src = pull("m:base");
    Path dst = pull("m:q4");
    JsonNode a = DeriveSupport.JSON.readTree(src.resolve("model.safetensors.index.json").toFile());
    JsonNode b = DeriveSupport.JSON.readTree(dst.resolve("model.safetensors.index.json").toFile());
    long total = 0;
    for (Iterator<Map.Entry<String, JsonNode>> it = b.path("weight_map").fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      String base = e.getKey().replaceAll("\\.(scale|zero_point)$", "");
      assertThat(e.getValue()).as(e.getKey()).isEqualTo(a.path("weight_map").path(base));
      TensorInfo t = io.ferry.format.safetensors.SafetensorsReader.read(dst.resolve(e.getValue().asText()))
          .tensors().stream().filter(x -> x.name().equals(e.getKey())).findFirst().orElseThrow();
      total += t.byteLength();
    }
    assertThat(b.path("weight_map").size()).isEqualTo(a.path("weight_map").size() + 2 * 6); // all but odd.weight
    assertThat(b.path("metadata").path("total_size").asLong()).isEqualTo(total);
    for (String f : List.of("config.json", "tokenizer.json")) {
      assertThat(Files.readAllBytes(dst.resolve(f))).isEqualTo(Files.readAllBytes(src.resolve(f)));
    }
    List<String> expected = new ArrayList<>(names(src));
    expected.add("ferry-derivation.json");
    assertThat(names(dst)).containsExactlyInAnyOrderElementsOf(expected);
  }

  private static List<String> names(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void showLogAndDiffDescribeTheDerivation() {
    String id = derive("quantize", "m:base", "--bits", "8", "--symmetric", "--as", "m:q8");
    DeriveSupport.Run show = ferry(store, "show", "m:q8", "--no-tensors");
    assertThat(show.out()).contains("derived   quantize", "bits=8", "from ", "metric    rmse = ",
        "metric    cosine_similarity = ", "details   m@" + id.substring(0, 12) + "//ferry-derivation.json");
    assertThat(ferry(store, "log", "m:q8").out()).contains("[quantize]");
    assertThat(ferry(store, "diff", "m:base", "m:q8").out()).contains("dtype F32 -> I8",
        "+ model.layers.0.self_attn.q_proj.weight.scale").doesNotContain("shape");
  }

  /** A 4-bit quantization halves the last dimension too: the diff said only "dtype F32 -> U8". */
  @Test
  void diffShowsTheShapeWhenTheDtypeAndTheShapeBothChange() {
    derive("quantize", "m:base", "--bits", "4", "--group-size", "32", "--include", "q_proj", "--as", "m:q4");
    assertThat(ferry(store, "diff", "m:base", "m:q4").out()).containsPattern(
        "~ model\\.layers\\.0\\.self_attn\\.q_proj\\.weight +dtype F32 -> U8, shape \\[(\\d+), (\\d+)\\] -> \\[\\1, \\d+\\]");
  }

  // ------------------------------------------------------------------ distillation and lineage

  @Test
  void distilledStudentsAndDerivedVersionsShowInTheLineage() throws Exception {
    assertThat(ferry(store, "tag", "m:base", "prod").code()).isZero();
    Path student = tmp.resolve("student");
    ModelGenerator.writeHfModel(student, ModelGenerator.finetune(tensors(), 0.5, 42), 1 << 20);
    DeriveSupport.Run push = ferry(store, "push", student.toString(), "student:v1", "--derived-from", "m:prod",
        "--derivation", "distill", "--metric", "eval_loss=1.23");
    assertThat(push.code()).as(push.err()).isZero();
    String cast = derive("cast", "m:prod", "--to", "f16", "--as", "m-f16:v1");

    DeriveSupport.Run teacher = ferry(store, "lineage", "m:prod");
    assertThat(teacher.code()).as(teacher.err()).isZero();
    assertThat(teacher.out()).contains("children:").contains("student [student, student:v1]  distill")
        .contains("eval_loss=1.23").contains(cast.substring(0, 12) + "  m-f16 [m-f16, m-f16:v1]  cast to=F16");
    DeriveSupport.Run st = ferry(store, "lineage", "student:v1", "--json");
    JsonNode j = DeriveSupport.JSON.readTree(st.out());
    assertThat(j.path("parents")).hasSize(1);
    assertThat(j.path("parents").get(0).path("relation").asText()).isEqualTo("derivedFrom");
    assertThat(j.path("parents").get(0).path("refs").toString()).contains("m:prod");
    assertThat(j.path("derivation").path("method").asText()).isEqualTo("distill");
    assertThat(j.path("derivation").path("metrics").path("evalLoss").asDouble()).isEqualTo(1.23);
    assertThat(ferry(store, "log", "student:v1").out()).contains("[distill]");
  }

  /**
   * A push records the --derived-from ref text as its derivation source; lineage took any 64-character source for a
   * version id and failed on one that was a ref text of that length ("not a 64-digit hex object id").
   */
  @Test
  void aDerivationSourceOfSixtyFourCharactersThatIsARefShowsInTheLineage() throws Exception {
    String tag = "prod-" + "x".repeat(57);
    assertThat(ferry(store, "tag", "m:base", tag).code()).isZero();
    assertThat(("m:" + tag).length()).isEqualTo(64);
    Path student = tmp.resolve("student");
    ModelGenerator.writeHfModel(student, ModelGenerator.finetune(tensors(), 0.5, 42), 1 << 20);
    DeriveSupport.Run push = ferry(store, "push", student.toString(), "student:v1", "--derived-from", "m:" + tag,
        "--derivation", "distill");
    assertThat(push.code()).as(push.err()).isZero();
    DeriveSupport.Run st = ferry(store, "lineage", "student:v1");
    assertThat(st.code()).as(st.err()).isZero();
    assertThat(st.out()).contains("derived-from").contains("m:" + tag);
  }

  /**
   * Derived into its source's own model, a version has its source as previous version too: lineage called that parent
   * "previous" while the source's lineage called the version "derived". Both say derived now.
   */
  @Test
  void aVersionDerivedIntoItsSourcesModelShowsItsSourceAsDerivedFrom() throws Exception {
    derive("cast", "m:base", "--to", "bf16", "--as", "m:bf16");
    JsonNode j = DeriveSupport.JSON.readTree(ferry(store, "lineage", "m:bf16", "--json").out());
    assertThat(j.path("parents")).hasSize(1);
    assertThat(j.path("parents").get(0).path("relation").asText()).isEqualTo("derivedFrom");
    JsonNode base = DeriveSupport.JSON.readTree(ferry(store, "lineage", "m:base", "--json").out());
    assertThat(base.path("children").get(0).path("relation").asText()).isEqualTo("derived");
  }

  /**
   * A version derived into a model whose head was another version has that head as previous version: its lineage
   * said "previous" while the head's lineage called it "derived", as if derived from the head. The head says "next".
   */
  @Test
  void theHeadADerivationIsPushedOnShowsItAsNext() throws Exception {
    derive("cast", "m:base", "--to", "bf16", "--as", "m:bf16");
    String f16 = derive("cast", "m:base", "--to", "f16", "--as", "m:f16");
    JsonNode j = DeriveSupport.JSON.readTree(ferry(store, "lineage", "m:f16", "--json").out());
    assertThat(j.path("parents").get(0).path("relation").asText()).isEqualTo("previous");
    JsonNode bf16 = DeriveSupport.JSON.readTree(ferry(store, "lineage", "m:bf16", "--json").out());
    assertThat(bf16.path("children")).hasSize(1);
    assertThat(bf16.path("children").get(0).path("version").asText()).isEqualTo(f16);
    assertThat(bf16.path("children").get(0).path("relation").asText()).isEqualTo("next");
  }

  /**
   * NaN, Infinity and 1e400 parse as doubles; stored, they became the strings "NaN" and "Infinity" in the version.
   * A bad metric, and a metric without --derivation, is a mistake on the command line: a usage error (exit 2), as
   * every other bad option value is; they exited 1. 1e-400 was stored as 0.
   */
  @Test
  void aMetricThatIsNotAFiniteNumberIsRefused() throws Exception {
    Path student = pull("m:base");
    TreeMap<String, Long> before = DeriveSupport.storeState(store);
    String[][] cases = {{"eval_loss=NaN", "not a finite number"}, {"eval_loss=Infinity", "not a finite number"},
        {"eval_loss=1e400", "'1e400' is beyond the range of a double"},
        {"eval_loss=1e-400", "'1e-400' is too small for a double"}, {"eval_loss=low", "'low' is not a double"}};
    for (String[] c : cases) {
      DeriveSupport.Run r = ferry(store, "push", student.toString(), "s:v", "--derived-from", "m:base",
          "--derivation", "distill", "--metric", c[0]);
      assertThat(r.code()).as(r.err()).isEqualTo(2);
      assertThat(r.err()).contains("--metric " + c[0] + ": " + c[1]);
    }
    DeriveSupport.Run r = ferry(store, "push", student.toString(), "s:v", "--metric", "eval_loss=1");
    assertThat(r.code()).as(r.err()).isEqualTo(2);
    assertThat(r.err()).contains("--metric needs --derivation");
    assertThat(DeriveSupport.storeState(store)).isEqualTo(before);
  }

  // ------------------------------------------------------------------ bad input

  static Stream<Arguments> badInput() {
    return Stream.of(
        Arguments.of(List.of("quantize", "m:base", "--bits", "3", "--as", "x:y"), 2, "--bits must be 8 or 4, got 3"),
        Arguments.of(List.of("quantize", "m:base", "--bits", "8", "--group-size", "0", "--as", "x:y"), 2,
            "--group-size must be positive, got 0"),
        Arguments.of(List.of("quantize", "m:base", "--bits", "8", "--group-size", "-64", "--as", "x:y"), 2,
            "--group-size must be positive"),
        Arguments.of(List.of("quantize", "m:base", "--bits", "8", "--group-size", "7", "--as", "x:y"), 1,
            "--group-size 7 divides the last dimension of none"),
        Arguments.of(List.of("quantize", "m:base", "--bits", "4", "--group-size", "63", "--as", "x:y"), 2,
            "--group-size must be even with --bits 4"),
        Arguments.of(List.of("quantize", "m:base", "--bits", "eight", "--as", "x:y"), 2, "--bits"),
        Arguments.of(List.of("cast", "m:base", "--to", "f8", "--as", "x:y"), 2, "--to 'f8' is not a supported"),
        Arguments.of(List.of("cast", "m:base", "--to", "bf16"), 2, "--as"),
        Arguments.of(List.of("cast", "nosuch:tag", "--to", "bf16", "--as", "x:y"), 1, "no model 'nosuch'"),
        Arguments.of(List.of("cast", "m:nosuchtag", "--to", "bf16", "--as", "x:y"), 1, "has no tag 'nosuchtag'"),
        Arguments.of(List.of("cast", "m:base", "--to", "bf16", "--as", "Bad Name!"), 1, "--as 'Bad Name!'"),
        Arguments.of(List.of("cast", "m:base", "--to", "bf16", "--as", "x@abcd"), 1, "--as 'x@abcd'"),
        Arguments.of(List.of("cast", "m:base", "--to", "bf16", "--include", "(", "--as", "x:y"), 2, "--include '('"),
        // an empty regex was taken for none given, so an unset variable made every tensor derived
        Arguments.of(List.of("cast", "m:base", "--to", "bf16", "--exclude", "", "--as", "x:y"), 2,
            "ferry: --exclude is empty (an unset shell variable?)"),
        Arguments.of(List.of("prune", "m:base", "--sparsity", "0.5", "--include", "", "--as", "x:y"), 2,
            "ferry: --include is empty (an unset shell variable?)"),
        Arguments.of(List.of("quantize", "m:base", "--bits", "8", "--exclude", "", "--as", "x:y"), 2,
            "ferry: --exclude is empty"),
        Arguments.of(List.of("cast", "m:base", "--to", "bf16", "--include", "nothing-matches", "--as", "x:y"), 1,
            "nothing to cast"),
        Arguments.of(List.of("prune", "m:base", "--sparsity", "1", "--as", "x:y"), 2, "--sparsity must be in (0, 1)"),
        Arguments.of(List.of("prune", "m:base", "--sparsity", "0", "--as", "x:y"), 2, "(it would zero nothing)"),
        Arguments.of(List.of("prune", "m:base", "--threshold", "0", "--as", "x:y"), 2, "(it would zero nothing)"),
        Arguments.of(List.of("prune", "m:base", "--sparsity", "-0.1", "--as", "x:y"), 2, "--sparsity must be in"),
        Arguments.of(List.of("prune", "m:base", "--threshold", "-1", "--as", "x:y"), 2, "--threshold must be"),
        Arguments.of(List.of("prune", "m:base", "--threshold", "NaN", "--sparsity", "0.5", "--as", "x:y"), 2,
            "--threshold must be a finite number > 0, got NaN"),
        Arguments.of(List.of("prune", "m:base", "--sparsity", "NaN", "--as", "x:y"), 2,
            "--sparsity must be in (0, 1), got NaN"),
        // a number beyond a double is quoted as given, not as the Infinity or 0.0 it became
        Arguments.of(List.of("prune", "m:base", "--threshold", "1e400", "--as", "x:y"), 2,
            "ferry: --threshold '1e400' is beyond the range of a double (about 1.8e308)"),
        Arguments.of(List.of("prune", "m:base", "--sparsity", "1e-400", "--as", "x:y"), 2,
            "ferry: --sparsity '1e-400' is too small for a double"),
        Arguments.of(List.of("prune", "m:base", "--as", "x:y"), 2, "exactly one of --threshold and --sparsity"),
        Arguments.of(List.of("prune", "m:base", "--threshold", "1", "--sparsity", "0.5", "--as", "x:y"), 2,
            "exactly one of --threshold and --sparsity"),
        Arguments.of(List.of("dequantize", "m:base", "--as", "x:y"), 1, "was not made by 'ferry derive quantize'"),
        Arguments.of(List.of("dequantize", "m:base", "--to", "i8", "--as", "x:y"), 2, "--to 'i8'"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badInput")
  void badParametersFailClearlyAndLeaveTheStoreAsItWas(List<String> args, int code, String message)
      throws IOException {
    TreeMap<String, Long> before = DeriveSupport.storeState(store);
    List<String> all = new ArrayList<>(List.of("derive"));
    all.addAll(args);
    DeriveSupport.Run r = ferry(store, all.toArray(String[]::new));
    assertThat(r.code()).as(r.err()).isEqualTo(code);
    assertThat(r.err()).contains(message);
    assertThat(r.out()).isEmpty();
    assertThat(DeriveSupport.storeState(store)).isEqualTo(before);
  }

  @Test
  void integerOnlyModelsHaveNothingToCastOrQuantize() throws IOException {
    Path ints = tmp.resolve("ints");
    ModelGenerator.writeSafetensors(ints.resolve("model.safetensors"),
        List.of(new Tensor("ids", DType.I64, new long[] {4, 128}, 1), new Tensor("mask", DType.U8,
            new long[] {128, 128}, 2)), Map.of());
    assertThat(ferry(store, "push", ints.toString(), "ints:v1").code()).isZero();
    TreeMap<String, Long> before = DeriveSupport.storeState(store);
    for (String[] args : new String[][] {{"cast", "ints:v1", "--to", "f16", "--as", "ints:f16"},
        {"quantize", "ints:v1", "--bits", "8", "--as", "ints:q8"},
        {"prune", "ints:v1", "--sparsity", "0.5", "--as", "ints:p"}}) {
      List<String> all = new ArrayList<>(List.of("derive"));
      all.addAll(Arrays.asList(args));
      DeriveSupport.Run r = ferry(store, all.toArray(String[]::new));
      assertThat(r.code()).isEqualTo(1);
      assertThat(r.err()).contains("nothing to " + args[0] + " in ints@", "I64", "U8 2-D");
    }
    assertThat(DeriveSupport.storeState(store)).isEqualTo(before);
  }

  /**
   * A file of the model's own named ferry-derivation.json was left out of the derived version, which got derive's
   * report under that name, without a word; a report (of the source's derivation, or one pushed again) is replaced.
   */
  @Test
  void aFileOfTheModelsOwnWhereDeriveWritesItsReportIsRefused() throws IOException {
    Path own = Files.createDirectories(tmp.resolve("own"));
    writeF32(own.resolve("model.safetensors"), "w", new float[] {0.5f, 1.5f, -2.5f, 3f}, 2, 2);
    Files.writeString(own.resolve(Deriver.DERIVATION_FILE), "{\"notes\": \"mine\"}");
    assertThat(ferry(store, "push", own.toString(), "own:v1").code()).isZero();
    TreeMap<String, Long> before = DeriveSupport.storeState(store);
    DeriveSupport.Run r = ferry(store, "derive", "cast", "own:v1", "--to", "bf16", "--as", "own:bf16");
    assertThat(r.code()).as(r.err()).isEqualTo(1);
    assertThat(r.err()).contains("own@", "//ferry-derivation.json", "it is not the report of a derivation",
        "rename the file");
    assertThat(DeriveSupport.storeState(store)).isEqualTo(before);

    derive("cast", "m:base", "--to", "bf16", "--as", "m:bf16");
    derive("prune", "m:bf16", "--sparsity", "0.5", "--as", "m:pruned");
    Path again = tmp.resolve("again");
    assertThat(ferry(store, "pull", "m:bf16", again.toString()).code()).isZero();
    assertThat(ferry(store, "push", again.toString(), "again:v1").code()).isZero();
    derive("prune", "again:v1", "--sparsity", "0.5", "--as", "again:pruned");
  }

  @Test
  void aNonFiniteValueStopsQuantizationAndTheStoreIsUnchanged() throws IOException {
    float[] v = new float[256];
    Arrays.fill(v, 0.5f);
    v[77] = Float.NaN;
    Path dir = Files.createDirectories(tmp.resolve("nan"));
    writeF32(dir.resolve("model.safetensors"), "w", v, 2, 128);
    assertThat(ferry(store, "push", dir.toString(), "nan:v1").code()).isZero();
    TreeMap<String, Long> before = DeriveSupport.storeState(store);
    Path work = tmp.resolve("work");
    DeriveSupport.Run r = ferry(store, "derive", "quantize", "nan:v1", "--bits", "8", "--as", "nan:q8",
        "--temp-dir", work.toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("tensor 'w' holds NaN at row 0, column 77", "--exclude");
    assertThat(DeriveSupport.storeState(store)).isEqualTo(before);
    try (Stream<Path> left = Files.list(work)) {
      assertThat(left).as("temporary files removed after a failure").isEmpty();
    }
    assertThat(ferry(store, "derive", "cast", "nan:v1", "--to", "bf16", "--as", "nan:bf16", "--temp-dir",
        work.toString()).code()).isZero();
    try (Stream<Path> left = Files.list(work)) {
      assertThat(left).as("temporary files removed after a success").isEmpty();
    }
  }

  @Test
  void theNumpySnippetOfTheDocsIsTheOneTheTestsRun() throws IOException {
    String doc = Files.readString(Path.of("..", "docs", "derivations.md"));
    int start = doc.indexOf("```python\n") + "```python\n".length();
    String snippet = doc.substring(start, doc.indexOf("```", start));
    String functions = snippet.substring(snippet.indexOf("def read_safetensors"), snippet.indexOf("meta, t = "))
        .strip();
    String script;
    try (var in = DeriveSupport.class.getResourceAsStream("derive_check.py")) {
      script = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    }
    assertThat(functions).contains("def dequantize(tensors, name, bits, symmetric):");
    assertThat(script).contains(functions);
  }

  // ------------------------------------------------------------------ helpers

  private void assertMetricsMatchNumpy(String srcRef, String dstRef) throws Exception {
    Path src = pull(srcRef);
    Path dst = pull(dstRef);
    JsonNode expect = DeriveSupport.JSON.readTree(DeriveSupport.python(tmp, "metrics", src.toString(),
        dst.toString()));
    JsonNode report = DeriveSupport.report(dst);
    int compared = 0;
    for (JsonNode t : report.path("tensors")) {
      if (t.path("action").asText().equals("kept")) {
        continue;
      }
      compareMetrics(t.path("name").asText(), t.path("metrics"), expect.path(t.path("name").asText()));
      compared++;
    }
    assertThat(compared).isPositive();
    compareMetrics("overall", report.path("overall"), expect.path("__overall__"));
  }

  private static void compareMetrics(String what, JsonNode got, JsonNode expect) {
    assertThat(got.path("elements").asLong()).as(what).isEqualTo(expect.path("elements").asLong());
    for (String m : List.of("max_abs_error", "rmse", "rel_frobenius_error", "cosine_similarity", "sparsity")) {
      double e = expect.path(m).asDouble();
      assertThat(got.has(m)).as("%s has %s", what, m).isTrue();
      assertThat(got.path(m).asDouble()).as("%s %s (numpy %s)", what, m, e)
          .isCloseTo(e, within(1e-9 * Math.max(1e-12, Math.abs(e)) + 1e-15));
    }
  }

  private int pulls;

  private Path pull(String ref) throws IOException {
    return DeriveSupport.pull(store, ref, tmp.resolve("pull-" + (pulls++)));
  }

  private byte[] readFile(String ref, String path) throws IOException {
    try (Repository repo = DeriveSupport.open(store)) {
      ByteBuffer b = repo.readFile(ref + "//" + path);
      byte[] out = new byte[b.remaining()];
      b.get(out);
      return out;
    }
  }

  private static void writeF32(Path file, String name, float[] v) throws IOException {
    writeF32(file, name, v, v.length);
  }

  private static void writeF32(Path file, String name, float[] v, long... shape) throws IOException {
    List<Long> dims = new ArrayList<>();
    for (long d : shape) {
      dims.add(d);
    }
    ByteBuffer header = SafetensorsWriter.header(Map.of(),
        List.of(new TensorInfo(name, DType.F32, dims, 0, 4L * v.length)));
    ByteBuffer data = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float f : v) {
      data.putFloat(f);
    }
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ch.write(header);
      ch.write(data.flip());
    }
  }

  /**
   * A temporary directory on a full file system (a 1 MiB tmpfs; mounting needs root, so the test is skipped
   * elsewhere, except with CI=true, where it fails): the error said only "No space left on device", which did not
   * tell that the temporary directory, not the store, was full. It names the derived file; nothing is left there and
   * the store is unchanged.
   */
  @Test
  void aFullTemporaryDirectoryIsNamed() throws Exception {
    Path store = DeriveSupport.storeWith(tmp, "m:v1", new Tensor("big.weight", DType.F32, new long[] {1024, 1024}, 1));
    Path mount = Files.createDirectories(tmp.resolve("tiny"));
    Process p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount.toString())
        .redirectErrorStream(true).start();
    if (!p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS) || p.exitValue() != 0) {
      String why = "cannot mount a tmpfs: " + new String(p.getInputStream().readAllBytes()).trim();
      if ("true".equals(System.getenv("CI"))) {
        throw new AssertionError(why + " (CI=true: a failure, not a skip)");
      }
      org.junit.jupiter.api.Assumptions.abort(why);
    }
    try {
      DeriveSupport.Run r = ferry(store, "derive", "cast", "m:v1", "--to", "bf16", "--as", "c:v1", "--temp-dir",
          mount.toString());
      assertThat(r.code()).as("%s", r.err()).isEqualTo(1);
      assertThat(r.err().strip()).doesNotContain("\n").contains(mount.toString())
          .contains(".safetensors: No space left on device");
      try (Stream<Path> left = Files.list(mount)) {
        assertThat(left).isEmpty();
      }
      // no model c (a line of its own: "c " could be the end of another model's head id, as 9a3c is)
      assertThat(ferry(store, "ls").out().lines()).noneMatch(l -> l.startsWith("c "));
    } finally {
      Process u = new ProcessBuilder("umount", "-l", mount.toString()).redirectErrorStream(true).start();
      u.waitFor(30, java.util.concurrent.TimeUnit.SECONDS);
    }
  }
}
