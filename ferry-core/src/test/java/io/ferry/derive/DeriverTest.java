package io.ferry.derive;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.codec.Codecs;
import io.ferry.error.InvalidInputException;
import io.ferry.id.ChunkId;
import io.ferry.objects.ObjectDatabase;
import io.ferry.derive.DeriveModels.T;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.RefLogEntry;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.PullOptions;
import io.ferry.transfer.TransferListener;
import io.ferry.version.FileEntry;
import io.ferry.version.ObjectJson;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.ThrowingSupplier;
import org.junit.jupiter.api.io.TempDir;

/** The Deriver as a library: its errors, and the threads it runs on. */
class DeriverTest {
  @TempDir Path tmp;
  private Repository repo;

  @BeforeEach
  void store() throws Exception {
    double[] nan = DeriveModels.normal(2 * 128, 1, 3);
    nan[128 + 5] = Double.NaN;
    Path model = tmp.resolve("model");
    DeriveModels.writeSafetensors(model.resolve("model.safetensors"), Map.of(), List.of(
        DeriveModels.tensor("w", DType.F32, 0.1, 1, 4, 128),
        new T("nan", DType.F32, new long[] {2, 128}, nan),
        DeriveModels.tensor("norm", DType.F32, 1, 2, 2, 100),
        new T("ids", DType.I64, new long[] {2, 8}, new double[16])));
    repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    repo.push(model, "m:v", PushOptions.builder().build());
  }

  @AfterEach
  void close() throws Exception {
    repo.close();
  }

  private DerivationInputException failure(ThrowingSupplier<?> call) {
    try {
      call.get();
    } catch (DerivationInputException e) {
      return e;
    } catch (Throwable t) {
      throw new AssertionError("expected a DerivationInputException, got " + t, t);
    }
    throw new AssertionError("expected a DerivationInputException, nothing was thrown");
  }

  private DerivationInputException deriveFailure(String target, DeriveSpec spec) {
    Deriver d = new Deriver(repo, 2, tmp.resolve("work"));
    return failure(() -> d.derive("m:v", target, spec, null, TransferListener.NONE));
  }

  /**
   * A 2-D float tensor with no elements (a 0 in its shape) is kept whatever the group size; when it is all the filters
   * leave, the error says so instead of blaming the group size for a last dimension it divides.
   */
  @Test
  void onlyEmptyTensorsToQuantizeIsSaidSoNotBlamedOnTheGroupSize() throws Exception {
    Path model = tmp.resolve("empty");
    DeriveModels.writeSafetensors(model.resolve("model.safetensors"), Map.of(), List.of(
        new T("e", DType.F32, new long[] {0, 128}, new double[0]),
        DeriveModels.tensor("w", DType.F32, 0.1, 1, 4, 128)));
    repo.push(model, "empty:v", PushOptions.builder().build());
    Deriver d = new Deriver(repo, 2, tmp.resolve("work"));
    DerivationInputException e = failure(() -> d.derive("empty:v", "eq:v",
        new DeriveSpec.Quantize(8, 128, true, TensorFilter.of("^e$", null)), null, TransferListener.NONE));
    assertThat(e.getMessage()).startsWith("nothing to quantize in empty@")
        .endsWith(": the 2-D F32, F16, BF16 or F64 tensors that pass the filters have no elements")
        .doesNotContain("group");
    assertThat(repo.models()).extracting(s -> s.model()).containsExactlyInAnyOrder("m", "empty");
  }

  /**
   * A finite F64 value beyond float32's range would overflow the group's float32 scale (dequantizing to NaN while the
   * metrics still said near-lossless): refused like a non-finite value, for symmetric and asymmetric layouts, and
   * with nothing stored.
   */
  @Test
  void aValueBeyondFloat32RangeIsRefusedNotQuantizedToNaN() throws Exception {
    double[] v = DeriveModels.normal(2 * 64, 1, 4);
    v[64 + 3] = -1e300;
    Path model = tmp.resolve("huge");
    DeriveModels.writeSafetensors(model.resolve("model.safetensors"), Map.of(), List.of(
        new T("w", DType.F64, new long[] {2, 64}, v)));
    repo.push(model, "huge:v", PushOptions.builder().build());
    for (boolean symmetric : new boolean[] {true, false}) {
      Deriver d = new Deriver(repo, 2, tmp.resolve("work"));
      DerivationInputException e = failure(() -> d.derive("huge:v", "hq:v",
          new DeriveSpec.Quantize(8, 32, symmetric, TensorFilter.ALL), null, TransferListener.NONE));
      assertThat(e.getMessage()).as("symmetric %s", symmetric)
          .contains("tensor 'w' holds -1.0E300 at row 1, column 3: a value beyond float32's range");
    }
    assertThat(repo.models()).extracting(s -> s.model()).containsExactlyInAnyOrder("m", "huge");
  }

  /**
   * F64 values beyond about 1.3e154 overflowed the double-precision sums of squares: the RMSE was recorded as infinite
   * (the string "Infinity" in ferry-derivation.json and in the version's metrics, where a number belongs). The sums
   * are scaled now, so the RMSE is recorded as it is, and every figure stays finite.
   */
  @Test
  void figuresWhoseSumsOverflowAreLeftOutNotRecordedAsInfinity() throws Exception {
    double[] v = DeriveModels.normal(64, 1, 5);
    v[7] = 1e200;
    v[9] = -3e250;
    Path model = tmp.resolve("wide");
    DeriveModels.writeSafetensors(model.resolve("model.safetensors"), Map.of(), List.of(
        new T("w", DType.F64, new long[] {8, 8}, v)));
    repo.push(model, "wide:v", PushOptions.builder().build());
    DeriveResult r = new Deriver(repo, 2, tmp.resolve("work")).derive("wide:v", "wp:v",
        DeriveSpec.Prune.of(1e300, null, TensorFilter.ALL), null, TransferListener.NONE);
    for (MetricFigures m : List.of(r.overall(), r.tensors().get(0).metrics())) {
      assertThat(m.figures().get("rmse")).isCloseTo(Math.hypot(3e250, 1e200) / 8,
          org.assertj.core.data.Percentage.withPercentage(1e-3));
      assertThat(m.figures()).containsEntry("sparsity", 1.0)
          .containsEntry("max_abs_error", 3e250);
      assertThat(m.figures().values()).allMatch(Double::isFinite);
    }
    Version version = repo.resolve("wp:v").version();
    assertThat(version.derivation().metrics().values()).allMatch(Double::isFinite);
    assertThat(new String(r.report().toJson(), java.nio.charset.StandardCharsets.UTF_8)).doesNotContain("Infinity");
  }

  /**
   * Norms were sums of squares in plain doubles: with F64 values near 1e300 ‖A‖² overflowed and the relative Frobenius
   * error of a prune that zeroed the small ones was recorded as 0 (its true value is about 1e-300); with values near
   * 1e-170 every square underflowed and a prune that zeroed half of them was recorded as exact (error 0, where the
   * true error is about 0.6). The sums are now kept scaled, so both are recorded as they are.
   */
  @Test
  void relativeErrorIsRightForExtremeButFiniteValues() throws Exception {
    double[] huge = DeriveModels.normal(64, 1, 7);
    huge[3] = 1e300;
    huge[40] = -2e300;
    double[] tiny = DeriveModels.normal(64, 1, 8);
    double[] unit = tiny.clone();
    for (int i = 0; i < tiny.length; i++) {
      tiny[i] *= 1e-170;
    }
    Path model = tmp.resolve("extreme");
    DeriveModels.writeSafetensors(model.resolve("model.safetensors"), Map.of(), List.of(
        new T("huge", DType.F64, new long[] {8, 8}, huge), new T("tiny", DType.F64, new long[] {8, 8}, tiny)));
    repo.push(model, "extreme:v", PushOptions.builder().build());
    DeriveResult r = new Deriver(repo, 2, tmp.resolve("work")).derive("extreme:v", "ep:v",
        DeriveSpec.Prune.of(null, 0.5, TensorFilter.ALL), null, TransferListener.NONE);
    // the prune zeroes the 32 smallest of each tensor
    double[] small = java.util.Arrays.stream(huge).map(Math::abs).sorted().toArray();
    double smallSq = 0;
    for (int i = 0; i < 32; i++) {
      smallSq += small[i] * small[i];
    }
    double[] sorted = java.util.Arrays.stream(unit).map(Math::abs).sorted().toArray();
    double zeroedSq = 0;
    double allSq = 0;
    for (int i = 0; i < sorted.length; i++) {
      zeroedSq += i < 32 ? sorted[i] * sorted[i] : 0;
      allSq += sorted[i] * sorted[i];
    }
    Map<String, Double> h = r.tensors().get(0).metrics().figures();
    Map<String, Double> t = r.tensors().get(1).metrics().figures();
    assertThat(h.get("rel_frobenius_error")).isCloseTo(Math.sqrt(smallSq) / Math.sqrt(5) / 1e300,
        org.assertj.core.data.Percentage.withPercentage(1e-6));
    assertThat(h.get("cosine_similarity")).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-15));
    assertThat(t.get("rel_frobenius_error")).isCloseTo(Math.sqrt(zeroedSq / allSq),
        org.assertj.core.data.Percentage.withPercentage(1e-6));
    assertThat(t.get("cosine_similarity")).isCloseTo(Math.sqrt(1 - zeroedSq / allSq),
        org.assertj.core.data.Percentage.withPercentage(1e-6));
  }

  /** Quantizes {@code w} of m:v (asymmetric, group 32 unless given) and pulls the result into {@code dir}. */
  private Version quantizedCopy(Path dir, boolean symmetric) throws Exception {
    new Deriver(repo, 2, tmp.resolve("work")).derive("m:v", "q:v",
        new DeriveSpec.Quantize(8, 32, symmetric, TensorFilter.of("^w$", null)), null, TransferListener.NONE);
    return repo.pull("q:v", dir, PullOptions.defaults()).version();
  }

  /**
   * A quantized file says so in its metadata; a source file without {@code __metadata__} got the quantization's keys
   * and no {@code format}, and transformers refuses a safetensors file whose metadata lacks it. It gets torch's
   * {@code format: pt}; a source's own format is kept (the models of DeriveModels say {@code pt} already).
   */
  @Test
  void aQuantizedFileOfASourceWithoutMetadataSaysItsFormat() throws Exception {
    quantizedCopy(tmp.resolve("q"), true);
    FileEntry f = repo.snapshot(repo.resolve("q:v")).files().stream()
        .filter(e -> e.path().equals("model.safetensors")).findFirst().orElseThrow();
    assertThat(f.metadata()).containsEntry("format", "pt").containsEntry("ferry.quantization.bits", "8");
  }

  /**
   * A dequantization whose original is not in the store compares with nothing: it recorded max_abs_error 0, rmse 0,
   * rel_frobenius_error 0 and cosine_similarity 1 (a perfect round trip it never measured) besides the sparsity.
   * Only the sparsity is recorded now, per tensor, overall and in the version's metrics.
   */
  @Test
  void aDequantizationWithoutItsOriginalRecordsOnlySparsity() throws Exception {
    Path pulled = tmp.resolve("q");
    Version q = quantizedCopy(pulled, false);
    try (Repository other = Ferry.open(tmp.resolve("other").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      other.push(pulled, "q:v", PushOptions.builder().derivation(q.derivation()).build());
      DeriveResult r = new Deriver(other, 2, tmp.resolve("work")).derive("q:v", "d:v",
          new DeriveSpec.Dequantize(null), null, TransferListener.NONE);
      TensorReport w = r.tensors().stream().filter(t -> t.name().equals("w")).findFirst().orElseThrow();
      assertThat(w.compared()).isFalse();
      assertThat(w.metrics().figures()).containsOnlyKeys("sparsity");
      assertThat(r.overall().figures()).containsOnlyKeys("sparsity");
      assertThat(other.resolve("d:v").version().derivation().metrics()).containsOnlyKeys("sparsity");
    }
  }

  /**
   * A symmetric quantization writes no zero points, so a source tensor named {@code w.zero_point} is the model's own
   * and stays through quantize; dequantize took it for a companion of {@code w} and dropped it from the files.
   */
  @Test
  void aSymmetricDequantizationKeepsTheSourcesOwnZeroPointTensor() throws Exception {
    Path model = tmp.resolve("zp");
    DeriveModels.writeSafetensors(model.resolve("model.safetensors"), Map.of(), List.of(
        DeriveModels.tensor("w", DType.F32, 0.1, 1, 4, 64),
        new T("w.zero_point", DType.I32, new long[] {4}, new double[] {1, 2, 3, 4})));
    repo.push(model, "zp:v", PushOptions.builder().build());
    Deriver d = new Deriver(repo, 2, tmp.resolve("work"));
    d.derive("zp:v", "zq:v", new DeriveSpec.Quantize(8, 32, true, TensorFilter.ALL), null, TransferListener.NONE);
    DeriveResult r = d.derive("zq:v", "zd:v", new DeriveSpec.Dequantize(null), null, TransferListener.NONE);
    assertThat(r.tensors()).extracting(TensorReport::name).containsExactly("w", "w.zero_point");
    assertThat(r.tensors().get(1).action()).isEqualTo(TensorReport.Action.KEPT);
    Path out = tmp.resolve("zd");
    repo.pull("zd:v", out, PullOptions.defaults());
    assertThat(out.resolve("model.safetensors")).content(java.nio.charset.StandardCharsets.ISO_8859_1)
        .contains("\"w.zero_point\":{\"dtype\":\"I32\",\"shape\":[4]");
  }

  /**
   * A quantization report that does not match the stored tensors (edited, or from another layout) failed with an
   * internal error or dequantized the bytes under the wrong shape; it is refused naming the tensor, what is stored
   * and what the report makes of it, and nothing is stored.
   */
  @Test
  void aQuantizationReportThatDoesNotMatchTheTensorsIsRefused() throws Exception {
    Path pulled = tmp.resolve("q");
    Version q = quantizedCopy(pulled, false);
    Path report = pulled.resolve(DerivationReport.FILE);
    String json = Files.readString(report);
    String w = "\"source_dtype\" : \"F32\",\n    \"shape\" : [ 4, 128 ],\n    \"outputs\"";
    String[][] edits = { // what is replaced, by what, and what the refusal says
        {"\"group_size\" : \"32\"", "\"group_size\" : \"16\"", "tensor 'w.scale' is F32 [4, 4], but "
            + "ferry-derivation.json (8-bit asymmetric, group size 16, 'w' quantized from [4, 128]) makes it F32 [4, 8]"},
        {"\"group_size\" : \"32\"", "\"group_size\" : \"99999999999\"",
            "are not valid: group_size '99999999999' is not an integer"},
        {"\"bits\" : \"8\"", "\"bits\" : \"4\"", "tensor 'w' is U8 [4, 128], but ferry-derivation.json (4-bit "
            + "asymmetric, group size 32, 'w' quantized from [4, 128]) makes it U8 [4, 64]"},
        {w, w.replace("[ 4, 128 ]", "[ 2, 2, 128 ]"),
            "says tensor 'w' was quantized from F32 [2, 2, 128], which ferry-groupwise-int/1"},
        {w, w.replace("F32", "I8"), "says tensor 'w' was quantized from I8 [4, 128]"},
        {"\"method\" : \"quantize\"", "\"method\" : \"cast\"", "//ferry-derivation.json records a 'cast' "
            + "derivation, not the quantization its version says it is"}};
    int i = 0;
    for (String[] e : edits) {
      assertThat(json).contains(e[0]);
      Files.writeString(report, json.replace(e[0], e[1]));
      String name = "t" + i++;
      repo.push(pulled, name + ":v", PushOptions.builder().derivation(q.derivation()).build());
      Deriver d = new Deriver(repo, 2, tmp.resolve("work"));
      Throwable t = org.assertj.core.api.Assertions.catchThrowable(() -> d.derive(name + ":v", "d:v",
          new DeriveSpec.Dequantize(null), null, TransferListener.NONE));
      assertThat(t).as(e[1]).isInstanceOf(InvalidInputException.class)
          .hasMessageStartingWith(name + "@").hasMessageContaining(e[2]);
    }
    assertThat(repo.models()).extracting(s -> s.model()).doesNotContain("d");
  }

  /**
   * A quantized version whose scales hold a NaN or an infinity (pushed by hand, or edited) was dequantized into NaN and
   * infinite weights, seen only as an {@code overflow} count in the report. It is refused naming the scale tensor, its
   * row and column, and nothing is stored.
   */
  @Test
  void aNonFiniteScaleIsRefusedNamingTheTensor() throws Exception {
    Path pulled = tmp.resolve("q");
    Version q = quantizedCopy(pulled, false);
    float[] bad = {Float.NaN, Float.POSITIVE_INFINITY};
    for (int i = 0; i < bad.length; i++) {
      String from = "bad" + i + ":v";
      pushWithScale(pulled, q, bad[i], from);
      DerivationInputException e = failure(() -> new Deriver(repo, 2, tmp.resolve("work")).derive(from, "d:v",
          new DeriveSpec.Dequantize(null), null, TransferListener.NONE));
      assertThat(e.getMessage()).contains("tensor 'w.scale' holds " + bad[i] + " at row 2, column 1: the scale "
          + "of a group must be finite");
    }
    assertThat(repo.models()).extracting(s -> s.model()).doesNotContain("d");
  }

  /**
   * A finite scale so large that (q − zero point) × scale overflows float32 (written by hand: a quantization never
   * writes one) dequantized its group to infinite weights, stored, and seen only as an {@code overflow} count in the
   * report. It is refused naming the scale tensor, its row and column, and an element it makes infinite; nothing is
   * stored.
   */
  @Test
  void aScaleThatDequantizesToInfinityIsRefusedNamingTheTensor() throws Exception {
    Path pulled = tmp.resolve("q");
    Version q = quantizedCopy(pulled, false);
    pushWithScale(pulled, q, Float.MAX_VALUE / 2, "big:v");
    DerivationInputException e = failure(() -> new Deriver(repo, 2, tmp.resolve("work")).derive("big:v", "d:v",
        new DeriveSpec.Dequantize(null), null, TransferListener.NONE));
    assertThat(e.getMessage()).contains("tensor 'w.scale' holds " + Float.MAX_VALUE / 2 + " at row 2, column 1: "
        + "with it, element [2, ").contains("of 'w' dequantizes to infinity ((q − zero point) × scale is beyond "
        + "float32's largest, 3.4028235E38)");
    assertThat(repo.models()).extracting(s -> s.model()).doesNotContain("d");
  }

  /**
   * A negative scale (written by hand: a quantization writes the range of its group over the steps, never below 0)
   * dequantized its group with every weight's sign flipped, stored without a word when the original was not in the
   * store to compare with. It is refused naming the scale tensor, its row and column; nothing is stored.
   */
  @Test
  void aNegativeScaleIsRefusedNamingTheTensor() throws Exception {
    Path pulled = tmp.resolve("q");
    Version q = quantizedCopy(pulled, true);
    pushWithScale(pulled, q, -0.01f, "neg:v");
    DerivationInputException e = failure(() -> new Deriver(repo, 2, tmp.resolve("work")).derive("neg:v", "d:v",
        new DeriveSpec.Dequantize(null), null, TransferListener.NONE));
    assertThat(e.getMessage()).contains("tensor 'w.scale' holds -0.01 at row 2, column 1: the scale of a group is "
        + "never negative (its values would dequantize with their signs flipped)");
    assertThat(repo.models()).extracting(s -> s.model()).doesNotContain("d");
  }

  /** Pushes the quantized copy in {@code pulled} as {@code ref}, with {@code value} at row 2, column 1 of w.scale. */
  private void pushWithScale(Path pulled, Version q, float value, String ref) throws Exception {
    Path file = pulled.resolve("model.safetensors");
    byte[] bytes = Files.readAllBytes(file);
    ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    long n = b.getLong(0);
    String header = new String(bytes, 8, (int) n, java.nio.charset.StandardCharsets.UTF_8);
    int at = header.indexOf("\"w.scale\"");
    String offsets = header.substring(header.indexOf("data_offsets", at));
    int start = Integer.parseInt(offsets.substring(offsets.indexOf('[') + 1, offsets.indexOf(',')).trim());
    // w.scale is [4, 4]: row 2, column 1
    b.putFloat((int) (8 + n + start + 4 * (2 * 4 + 1)), value);
    Files.write(file, bytes);
    repo.push(pulled, ref, PushOptions.builder().derivation(q.derivation()).build());
  }

  /**
   * A quantized version's scales and zero points are F32 and U8 tensors like any other: a prune zeroed half of the
   * scales (every value of those groups), a cast made them BF16 (which the layout does not read), and a second
   * quantize quantized them and rewrote the file's quantization metadata for tensors it did not quantize. Cast and
   * prune now keep them as they are; quantizing a quantized file again is refused.
   */
  @Test
  void derivingFromAQuantizedVersionLeavesItsScalesAlone() throws Exception {
    Deriver d = new Deriver(repo, 2, tmp.resolve("work"));
    TensorFilter notNan = TensorFilter.of(null, "nan");
    d.derive("m:v", "q:v", new DeriveSpec.Quantize(8, 32, false, notNan), null, TransferListener.NONE);
    String kept = "scale or zero point of a tensor quantized with ferry-groupwise-int/1";
    for (DeriveSpec spec : List.of(new DeriveSpec.Cast(DType.BF16, notNan),
        DeriveSpec.Prune.of(null, 0.5, notNan))) {
      DeriveResult r = d.derive("q:v", "x:" + spec.method(), spec, null, TransferListener.NONE);
      for (String name : List.of("w.scale", "w.zero_point", "norm.scale", "norm.zero_point")) {
        TensorReport t = r.tensors().stream().filter(x -> x.name().equals(name)).findFirst().orElse(null);
        if (name.startsWith("w.")) {
          assertThat(t).as(name).isNotNull();
        }
        if (t != null) {
          assertThat(t.action()).as(spec.method() + " " + name).isEqualTo(TensorReport.Action.KEPT);
          assertThat(t.reason()).isEqualTo(kept);
        }
      }
      assertThat(r.tensors().stream().filter(x -> x.name().equals("norm")).findFirst().orElseThrow().changed())
          .as(spec.method() + " still changes the float tensors").isTrue();
    }
    DerivationInputException e = failure(() -> d.derive("q:v", "x:q", new DeriveSpec.Quantize(4, 2, true, notNan),
        null, TransferListener.NONE));
    assertThat(e.getMessage()).startsWith("q@").contains("//model.safetensors is already quantized "
        + "(ferry-groupwise-int/1, 8 bits, group size 32): quantize the version it was made from, or dequantize it");
  }

  /**
   * A cast or a prune of a quantized version keeps its quantized tensors, scales and zero points as they are, but its
   * report is the cast's or the prune's: dequantizing it was refused as "not made by a quantize derivation", without
   * naming the quantized version it came from. It is now dequantized with the quantization of that version and
   * compared with the version that was quantized; a cast of a version that was never quantized is refused naming it.
   */
  @Test
  void aCastOfAQuantizedVersionIsDequantizedWithItsSourcesQuantization() throws Exception {
    Deriver d = new Deriver(repo, 2, tmp.resolve("work"));
    TensorFilter notNan = TensorFilter.of(null, "nan");
    DeriveResult q = d.derive("m:v", "q:v", new DeriveSpec.Quantize(8, 32, false, notNan), null,
        TransferListener.NONE);
    d.derive("q:v", "qc:v", new DeriveSpec.Cast(DType.BF16, notNan), null, TransferListener.NONE);
    d.derive("qc:v", "qcp:v", DeriveSpec.Prune.of(null, 0.5, notNan), null, TransferListener.NONE);
    for (String from : List.of("qc:v", "qcp:v")) {
      DeriveResult r = d.derive(from, "d" + from, new DeriveSpec.Dequantize(DType.F32), null, TransferListener.NONE);
      TensorReport w = r.tensors().stream().filter(t -> t.name().equals("w")).findFirst().orElseThrow();
      assertThat(w.action()).as(from).isEqualTo(TensorReport.Action.DEQUANTIZED);
      assertThat(r.sourceTarget()).isEqualTo(repo.resolve("m:v").id());
      TensorReport qw = q.tensors().stream().filter(t -> t.name().equals("w")).findFirst().orElseThrow();
      assertThat(w.metrics().figures()).isEqualTo(qw.metrics().figures());
      assertThat(r.tensors()).extracting(TensorReport::name).doesNotContain("w.scale", "w.zero_point");
    }
    d.derive("m:v", "c:v", new DeriveSpec.Cast(DType.BF16, notNan), null, TransferListener.NONE);
    DerivationInputException e = failure(() -> d.derive("c:v", "dc:v", new DeriveSpec.Dequantize(null), null,
        TransferListener.NONE));
    assertThat(e.getMessage()).startsWith("c@").contains("was not made by a quantize derivation (no "
        + "ferry-derivation.json of a quantization; it is a cast of m@" + repo.resolve("m:v").id().shortHex(12) + ")");
    assertThat(repo.models()).extracting(s -> s.model()).doesNotContain("dc");
  }

  /**
   * Float32's largest values quantize with a scale rounded up, so q × scale overflowed: every value of the tensor
   * dequantized to ±infinity, and the report said max_abs_error 0 and cosine 1 (beside an overflow count). Such a
   * value is refused like one beyond float32's range.
   */
  @Test
  void aValueThatWouldDequantizeToInfinityIsRefused() throws Exception {
    double[] v = DeriveModels.normal(2 * 32, 1, 6);
    v[32 + 4] = -Float.MAX_VALUE;
    Path model = tmp.resolve("edge");
    DeriveModels.writeSafetensors(model.resolve("model.safetensors"), Map.of(), List.of(
        new T("w", DType.F32, new long[] {2, 32}, v)));
    repo.push(model, "edge:v", PushOptions.builder().build());
    // with 8 bits, symmetric, the scale is FLT_MAX / 127 rounded up, and 127 × scale overflows
    Deriver d = new Deriver(repo, 2, tmp.resolve("work"));
    DerivationInputException e = failure(() -> d.derive("edge:v", "eq:v",
        new DeriveSpec.Quantize(8, 32, true, TensorFilter.ALL), null, TransferListener.NONE));
    assertThat(e.getMessage()).contains("tensor 'w' holds -3.4028234663852886E38 at row 1, column 4: a value this "
        + "close to float32's largest (3.4028235E38) cannot be quantized: it would dequantize to infinity");
    assertThat(repo.models()).extracting(s -> s.model()).doesNotContain("eq");
  }

  /**
   * An asymmetric group spanning [-3.3e38, 3.1e38] has its zero point rounded half a step outwards, so one end of its
   * grid lies beyond float32's largest: 4 bits refused -3.3e38 as "this close to float32's largest", which it is not
   * (3% below it). The message now gives the group's range and the cause, and says that a symmetric quantization
   * takes it (which it does) when it does.
   */
  @Test
  void anAsymmetricGroupWhoseGridOverflowsSaysWhy() throws Exception {
    double[] v = DeriveModels.normal(2 * 32, 1, 6);
    v[32 + 4] = -3.3e38;
    v[32 + 9] = 3.1e38;
    Path model = tmp.resolve("wide");
    DeriveModels.writeSafetensors(model.resolve("model.safetensors"), Map.of(), List.of(
        new T("w", DType.F32, new long[] {2, 32}, v)));
    repo.push(model, "wide:v", PushOptions.builder().build());
    Deriver d = new Deriver(repo, 2, tmp.resolve("work"));
    DerivationInputException e = failure(() -> d.derive("wide:v", "wq:v",
        new DeriveSpec.Quantize(4, 32, false, TensorFilter.ALL), null, TransferListener.NONE));
    assertThat(e.getMessage()).contains("tensor 'w' holds " + (double) -3.3e38f + " at row 1, column 4: its group "
        + "(row 1, columns 0 to 31) spans [" + (double) -3.3e38f + ", " + (double) 3.1e38f + "], and the asymmetric "
        + "grid over that range (15 steps of its scale, from a whole-step zero point) reaches beyond float32's "
        + "largest (3.4028235E38): the value would dequantize to infinity (a symmetric quantization takes it, or "
        + "leave the tensor out with an exclude filter)");
    assertThat(d.derive("wide:v", "wq:v", new DeriveSpec.Quantize(4, 32, true, TensorFilter.ALL), null,
        TransferListener.NONE).tensors().get(0).action()).isEqualTo(TensorReport.Action.QUANTIZED);
    // at float32's largest, 8-bit symmetric overflows too (127 × the rounded-up scale): no such advice
    v[32 + 4] = -Float.MAX_VALUE;
    v[32 + 9] = 1e30;
    DeriveModels.writeSafetensors(model.resolve("model.safetensors"), Map.of(), List.of(
        new T("w", DType.F32, new long[] {2, 32}, v)));
    repo.push(model, "wide:v", PushOptions.builder().build());
    e = failure(() -> d.derive("wide:v", "wq:v", new DeriveSpec.Quantize(8, 32, false, TensorFilter.ALL), null,
        TransferListener.NONE));
    assertThat(e.getMessage()).contains("reaches beyond float32's largest").doesNotContain("symmetric quantization");
  }

  /**
   * A tensor none of whose elements can be compared (all of them overflowed, as F32 values above 65504 cast to F16,
   * or were NaN) recorded max_abs_error 0, rmse 0, rel_frobenius_error 0 and cosine_similarity 1, figures of empty
   * sums: only the sparsity and the counts are recorded now.
   */
  @Test
  void aTensorWithNothingComparedRecordsNoErrorFigures() throws Exception {
    double[] big = new double[64];
    java.util.Arrays.fill(big, 1e5);
    double[] nan = new double[64];
    java.util.Arrays.fill(nan, Double.NaN);
    Path model = tmp.resolve("over");
    DeriveModels.writeSafetensors(model.resolve("model.safetensors"), Map.of(), List.of(
        new T("big", DType.F32, new long[] {64}, big), new T("nan", DType.F32, new long[] {64}, nan)));
    repo.push(model, "over:v", PushOptions.builder().build());
    DeriveResult r = new Deriver(repo, 2, tmp.resolve("work")).derive("over:v", "o:v",
        new DeriveSpec.Cast(DType.F16, TensorFilter.ALL), null, TransferListener.NONE);
    assertThat(r.tensors().get(0).metrics().figures()).containsOnlyKeys("sparsity", "overflow");
    assertThat(r.tensors().get(1).metrics().figures()).containsOnlyKeys("sparsity", "non_finite");
    assertThat(r.overall().figures()).containsOnlyKeys("sparsity", "non_finite", "overflow");
  }

  /**
   * A cast or a prune of a tensor with no elements recorded max_abs_error 0, rmse 0, rel_frobenius_error 0,
   * cosine_similarity 1 and sparsity 0, figures over no elements; so did the overall record (and the version's
   * metrics) of a derivation that changed only such tensors. Such a tensor records its element count only. A prune
   * writes it as it was: it is kept (reason "no elements"), and a prune of only such tensors changes nothing.
   */
  @Test
  void aTensorWithNoElementsRecordsNoFigures() throws Exception {
    Path model = tmp.resolve("empty");
    DeriveModels.writeSafetensors(model.resolve("model.safetensors"), Map.of(), List.of(
        new T("rows", DType.F32, new long[] {0, 64}, new double[0]),
        new T("cols", DType.F16, new long[] {3, 0}, new double[0])));
    repo.push(model, "empty:v", PushOptions.builder().build());
    Deriver d = new Deriver(repo, 2, tmp.resolve("work"));
    DeriveSpec cast = new DeriveSpec.Cast(DType.BF16, TensorFilter.ALL);
    DeriveResult r = d.derive("empty:v", "e-cast:v", cast, null, TransferListener.NONE);
    assertThat(r.tensors()).allSatisfy(t -> {
      assertThat(t.changed()).isTrue();
      assertThat(t.metrics().elements()).isZero();
      assertThat(t.metrics().figures()).isEmpty();
    });
    assertThat(r.overall().elements()).isZero();
    assertThat(r.overall().figures()).isEmpty();
    assertThat(r.push().version().derivation().metrics()).isEmpty();
    for (DeriveSpec spec : List.of(DeriveSpec.Prune.of(0.5, null, TensorFilter.ALL),
        DeriveSpec.Prune.of(null, 0.5, TensorFilter.ALL))) {
      assertThat(failure(() -> d.derive("empty:v", "e-prune:v", spec, null, TransferListener.NONE)))
          .hasMessage("nothing to prune in empty@" + repo.resolve("empty:v").id().shortHex(12)
              + ": every tensor would be written as it is (no elements)");
    }
    DeriveResult mixed = d.derive("m:v", "mixed:v", new DeriveSpec.Cast(DType.BF16, TensorFilter.ALL), null,
        TransferListener.NONE);
    assertThat(mixed.overall().figures()).containsKeys("max_abs_error", "cosine_similarity", "sparsity");
  }

  /**
   * A prune counted as changed (tensors_changed in the derivation record, action "pruned" in the report, figures in the
   * overall metrics) every float tensor it read, also those it wrote back byte for byte: nothing below the threshold,
   * no elements, zeros already +0. It now reports those as kept with the reason, as `ferry diff` sees them. A -0.0
   * below the threshold is written as +0: its bytes change, so its tensor is pruned. Tensors of fewer than 2
   * dimensions (biases, norms' scales, scalars) are kept whatever their values: half of an all-ones norm was zeroed.
   */
  @Test
  void aPruneReportsTensorsItWroteAsTheyWereAsKept() throws Exception {
    Path model = tmp.resolve("unchanged");
    DeriveModels.writeSafetensors(model.resolve("model.safetensors"), Map.of(), List.of(
        new T("small", DType.F32, new long[] {2, 2}, new double[] {0.5, 3, -4, 5}),
        new T("large", DType.F32, new long[] {2, 2}, new double[] {3, 4, 5, 6}),
        new T("empty", DType.F32, new long[] {0, 4}, new double[0]),
        new T("negzero", DType.F32, new long[] {2, 2}, new double[] {-0.0, 3, 4, 5}),
        new T("poszero", DType.F32, new long[] {2, 2}, new double[] {0.0, 3, 4, 5}),
        new T("half", DType.F16, new long[] {1, 2}, new double[] {1, 7}),
        new T("scalar", DType.F32, new long[] {}, new double[] {3}),
        new T("bias", DType.F32, new long[] {3}, new double[] {0.1, 0.2, 5})));
    repo.push(model, "u:v", PushOptions.builder().build());
    Deriver d = new Deriver(repo, 2, tmp.resolve("work"));
    DeriveResult r = d.derive("u:v", "u-pruned:v", DeriveSpec.Prune.of(2.0, null, TensorFilter.ALL), null,
        TransferListener.NONE);
    Map<String, String> got = new LinkedHashMap<>();
    r.tensors().forEach(t -> got.put(t.name(), t.changed() ? t.action().label() : t.reason()));
    assertThat(got).containsExactly(Map.entry("small", "pruned"), Map.entry("large", "nothing below the threshold"),
        Map.entry("empty", "no elements"), Map.entry("negzero", "pruned"),
        Map.entry("poszero", "nothing below the threshold"), Map.entry("half", "pruned"),
        Map.entry("scalar", "0-D, only tensors of 2 or more dimensions are pruned"),
        Map.entry("bias", "1-D, only tensors of 2 or more dimensions are pruned"));
    assertThat(r.changedCount()).isEqualTo(3);
    assertThat(r.push().version().derivation().parameters()).containsEntry("tensors_changed", "3")
        .containsEntry("tensors_kept", "5");
    assertThat(r.overall().elements()).isEqualTo(4 + 4 + 2);
    DeriveResult bySparsity = d.derive("u:v", "u-s:v", DeriveSpec.Prune.of(null, 0.25, TensorFilter.ALL), null,
        TransferListener.NONE);
    assertThat(bySparsity.tensors().stream().filter(t -> t.name().equals("poszero")).findFirst().orElseThrow()
        .reason()).isEqualTo("the elements to zero are already +0");
  }

  /** Pushes {@code v} as the F32 tensor {@code w} of {@code shape}, the one tensor of version {@code model:v}. */
  private void pushF32(String model, long[] shape, double[] v) throws Exception {
    Path dir = tmp.resolve(model);
    DeriveModels.writeSafetensors(dir.resolve("model.safetensors"), Map.of(), List.of(new T("w", DType.F32, shape, v)));
    repo.push(dir, model + ":v", PushOptions.builder().build());
  }

  /**
   * Rows longer than a block are cast and pruned a block of elements at a time (DeriveMemoryTest shows the memory it
   * saves): the bytes and figures are those of the same values in rows of 16 elements.
   */
  @Test
  void rowsLongerThanABlockGiveWhatShortRowsGive() throws Exception {
    int n = Deriver.BLOCK_ELEMENTS + 1000;
    double[] v = DeriveModels.normal(2L * n, 1, 11);
    pushF32("wide", new long[] {2, n}, v);
    pushF32("flat", new long[] {2L * n / 16, 16}, v);
    Deriver d = new Deriver(repo, 2, tmp.resolve("work"));
    for (DeriveSpec spec : List.of(new DeriveSpec.Cast(DType.BF16, TensorFilter.ALL),
        DeriveSpec.Prune.of(null, 0.3, TensorFilter.ALL))) {
      DeriveResult a = d.derive("wide:v", "wide-" + spec.method() + ":v", spec, null, TransferListener.NONE);
      DeriveResult b = d.derive("flat:v", "flat-" + spec.method() + ":v", spec, null, TransferListener.NONE);
      assertThat(a.overall()).as(spec.method()).isEqualTo(b.overall());
      try (var ra = repo.open("wide-" + spec.method() + ":v"); var rb = repo.open("flat-" + spec.method() + ":v")) {
        assertThat(ra.read("w")).as(spec.method()).isEqualTo(rb.read("w"));
      }
    }
  }

  /**
   * Rows longer than a block were quantized and dequantized a whole row at a time (the row in a segment and about 20
   * bytes per element of working arrays: DeriveMemoryTest shows the memory). They go by groups, or, for a group longer
   * than a block (one scale per row), by parts of a group in two passes. For every mode the values, scales and zero
   * points are those of the same groups in short rows (group 128), or those QuantLayout gives a whole row (group = the
   * row); a non-finite value is still named by row and column; and dequantizing gives back the dequantized values.
   */
  @Test
  void longRowsAreQuantizedByGroupsAsShortRowsAre() throws Exception {
    int n = Deriver.BLOCK_ELEMENTS + 2048;
    double[] v = DeriveModels.normal(2L * n, 1, 12);
    pushF32("wide", new long[] {2, n}, v);
    pushF32("tall", new long[] {2L * n / 128, 128}, v);
    Deriver d = new Deriver(repo, 2, tmp.resolve("work"));
    for (int bits : new int[] {8, 4}) {
      for (boolean symmetric : new boolean[] {true, false}) {
        String mode = bits + (symmetric ? "s" : "a");
        List<String> parts = symmetric ? List.of("w", "w.scale") : List.of("w", "w.scale", "w.zero_point");
        DeriveResult a = d.derive("wide:v", "wide-" + mode + ":v", new DeriveSpec.Quantize(bits, 128, symmetric,
            TensorFilter.ALL), null, TransferListener.NONE);
        DeriveResult b = d.derive("tall:v", "tall-" + mode + ":v", new DeriveSpec.Quantize(bits, 128, symmetric,
            TensorFilter.ALL), null, TransferListener.NONE);
        assertThat(a.overall()).as(mode).isEqualTo(b.overall());
        try (var ra = repo.open("wide-" + mode + ":v"); var rb = repo.open("tall-" + mode + ":v")) {
          for (String t : parts) {
            assertThat(ra.read(t)).as("%s %s", mode, t).isEqualTo(rb.read(t));
          }
        }
        // one group per row, longer than a block: against QuantLayout on the whole row
        d.derive("wide:v", "row-" + mode + ":v", new DeriveSpec.Quantize(bits, n, symmetric, TensorFilter.ALL), null,
            TransferListener.NONE);
        QuantLayout layout = new QuantLayout(bits, n, symmetric);
        ByteBuffer q = ByteBuffer.allocate(2 * (int) layout.valueRowBytes(n)).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer scales = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer zps = ByteBuffer.allocate(2);
        float[] deq = new float[2 * n];
        double[] stored = new double[2 * n];
        for (int i = 0; i < stored.length; i++) {
          stored[i] = (float) v[i];
        }
        for (int r = 0; r < 2; r++) {
          assertThat(layout.quantizeRow(stored, r * n, n, q, scales, symmetric ? null : zps, deq)).isEqualTo(-1);
        }
        try (var rr = repo.open("row-" + mode + ":v")) {
          assertThat(rr.read("w")).as(mode).isEqualTo(q.flip());
          assertThat(rr.read("w.scale")).as(mode).isEqualTo(scales.flip());
          if (!symmetric) {
            assertThat(rr.read("w.zero_point")).as(mode).isEqualTo(zps.flip());
          }
        }
        d.derive("row-" + mode + ":v", "back-" + mode + ":v", new DeriveSpec.Dequantize(DType.F32), null,
            TransferListener.NONE);
        ByteBuffer expect = ByteBuffer.allocate(4 * 2 * n).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : deq) {
          expect.putFloat(f);
        }
        try (var back = repo.open("back-" + mode + ":v")) {
          assertThat(back.read("w")).as(mode).isEqualTo(expect.flip());
        }
      }
    }
    double[] bad = v.clone();
    bad[n + Deriver.BLOCK_ELEMENTS + 5] = Double.NaN;
    Path nan = tmp.resolve("nan-wide");
    DeriveModels.writeSafetensors(nan.resolve("model.safetensors"), Map.of(), List.of(
        new T("w", DType.F32, new long[] {2, n}, bad)));
    repo.push(nan, "nan-wide:v", PushOptions.builder().build());
    for (int group : new int[] {128, n}) {
      DerivationInputException e = failure(() -> d.derive("nan-wide:v", "nq:v",
          new DeriveSpec.Quantize(8, group, false, TensorFilter.ALL), null, TransferListener.NONE));
      assertThat(e.getMessage()).as("group %s", group)
          .contains("tensor 'w' holds NaN at row 1, column " + (Deriver.BLOCK_ELEMENTS + 5) + ": a non-finite");
    }
  }

  /**
   * Rows of 2^28 elements or more are quantized and dequantized as shorter ones are: they were kept ("rows of N
   * elements are too long to quantize"), a limit left from when a row was processed whole, and the byte range of a
   * part of a group that long overflowed (rows of 3 × 2^29 F64 elements, one group per row). Planned and addressed
   * here without the 24 GiB such a tensor holds.
   */
  @Test
  void rowsOfAnyLengthArePlannedAndTheirPartsAddressedExactly() throws Exception {
    long cols = 3L << 29;
    long block = Deriver.BLOCK_ELEMENTS;
    TensorInfo e = new TensorInfo("e", DType.F64, List.of(2L, cols), 0, 2 * cols * 8);
    DeriveSpec.Quantize spec = new DeriveSpec.Quantize(4, (int) cols, false, TensorFilter.ALL);
    TensorPlan p = new QuantizeTransform(spec).plan(e);
    assertThat(p.action()).isEqualTo(TensorReport.Action.QUANTIZED);
    assertThat(p.outputs()).extracting(TensorReport.Output::shape)
        .containsExactly(List.of(2L, cols / 2), List.of(2L, 1L), List.of(2L, 1L));
    TensorInfo values = new TensorInfo("e", DType.U8, List.of(2L, cols / 2), 0, cols);
    TensorInfo scale = new TensorInfo("e.scale", DType.F32, List.of(2L, 1L), cols, cols + 8);
    TensorInfo zeroPoint = new TensorInfo("e.zero_point", DType.U8, List.of(2L, 1L), cols + 8, cols + 10);
    Map<String, TensorInfo> stored = Map.of("e", values, "e.scale", scale, "e.zero_point", zeroPoint);
    DerivationReport r = new DerivationReport("quantize", spec.parameters(), ChunkId.of(new byte[1]), "m", null,
        new ErrorMetrics.Accumulator().result().figures(),
        List.of(p.report(new ErrorMetrics.Accumulator().result().figures())));
    TensorPlan back = new DequantizeTransform(new DeriveSpec.Dequantize(null), r, "q", stored::get, null)
        .plan(values);
    assertThat(back.action()).isEqualTo(TensorReport.Action.DEQUANTIZED);
    assertThat(back.outputs()).singleElement().satisfies(o -> assertThat(o.shape()).isEqualTo(List.of(2L, cols)));
    // the last part of the second row's group: its source bytes, its 4-bit values, and its scale and zero point whole
    Deriver.Walk walk = new Deriver.Walk(2, cols, cols * 8, RowCursor.storedStep(e));
    Deriver.Span last = new Deriver.Span(1, 2, cols - block, cols);
    assertThat(walk.next(new Deriver.Span(1, 2, cols - 2 * block, cols - block))).isEqualTo(last);
    assertThat(walk.bytes(e, last)).containsExactly(2 * cols * 8 - block * 8, block * 8);
    assertThat(walk.bytes(values, last)).containsExactly(cols - block / 2, block / 2);
    assertThat(walk.bytes(scale, last)).containsExactly(4, 4);
    assertThat(walk.bytes(zeroPoint, last)).containsExactly(1, 1);
    assertThat(walk.maxBytes(e)).isEqualTo(block * 8);
  }

  /**
   * Two files of one version may hold tensors of the same name (a diffusers pipeline: unet/ and vae/ each with
   * conv_in.weight). Derive read the second from the first's file: a cast or quantize failed with "rows [0, 8) are
   * outside tensor 'w' with 4 rows", a prune with a NullPointerException's text. It is refused, naming both files.
   */
  @Test
  void aTensorNameInTwoFilesIsRefusedNamingBoth() throws Exception {
    Path model = tmp.resolve("two");
    DeriveModels.writeSafetensors(model.resolve("unet/model.safetensors"), Map.of(), List.of(
        DeriveModels.tensor("w", DType.F32, 0.1, 1, 4, 64)));
    DeriveModels.writeSafetensors(model.resolve("vae/model.safetensors"), Map.of(), List.of(
        DeriveModels.tensor("w", DType.F32, 0.1, 2, 8, 32)));
    repo.push(model, "two:v", PushOptions.builder().build());
    for (DeriveSpec spec : List.of(new DeriveSpec.Cast(DType.BF16, TensorFilter.ALL),
        DeriveSpec.Prune.of(null, 0.5, TensorFilter.ALL), new DeriveSpec.Quantize(8, 32, true, TensorFilter.ALL))) {
      DerivationInputException e = failure(() -> new Deriver(repo, 2, tmp.resolve("work")).derive("two:v", "t:v",
          spec, null, TransferListener.NONE));
      assertThat(e.getMessage()).as(spec.method()).startsWith("two@")
          .contains(": tensor 'w' is in both unet/model.safetensors and vae/model.safetensors");
    }
    assertThat(repo.models()).extracting(s -> s.model()).doesNotContain("t");
  }

  /** A temporary directory that is a file was refused with only "<path>: already exists". */
  @Test
  void aTemporaryDirectoryThatIsAFileIsSaidSo() throws Exception {
    Path file = Files.writeString(tmp.resolve("a-file"), "x");
    DerivationInputException e = failure(() -> new Deriver(repo, 2, file).derive("m:v", "t:v",
        new DeriveSpec.Cast(DType.BF16, TensorFilter.of(null, "nan")), null, TransferListener.NONE));
    assertThat(e.message(p -> "--" + p.key().replace('_', '-'))).isEqualTo("--temp-dir '" + file
        + "' is a file, not a directory");
    assertThat(repo.models()).extracting(s -> s.model()).doesNotContain("t");
  }

  @Test
  void libraryErrorsNameParametersAndAFrontEndSpellsThem() throws Exception {
    Map<DerivationInputException, String> cases = new LinkedHashMap<>();
    cases.put(failure(() -> DeriveSpec.Quantize.of(3, 128, true, TensorFilter.ALL)),
        "<bits> must be 8 or 4, got 3");
    cases.put(failure(() -> DeriveSpec.Quantize.of(8, 0, true, TensorFilter.ALL)),
        "<group_size> must be positive, got 0");
    cases.put(failure(() -> DeriveSpec.Quantize.of(4, 63, true, TensorFilter.ALL)),
        "<group_size> must be even with <bits> 4 (two values per byte), got 63");
    cases.put(failure(() -> DeriveSpec.Prune.of(null, null, TensorFilter.ALL)),
        "give exactly one of <threshold> and <sparsity>");
    cases.put(failure(() -> DeriveSpec.Prune.of(-1.0, null, TensorFilter.ALL)),
        "<threshold> must be a finite number > 0, got -1.0");
    cases.put(failure(() -> DeriveSpec.Prune.of(null, 1.0, TensorFilter.ALL)),
        "<sparsity> must be in (0, 1), got 1.0");
    cases.put(failure(() -> DeriveSpec.Prune.of(null, 0.0, TensorFilter.ALL)),
        "<sparsity> must be in (0, 1), got 0.0 (it would zero nothing)");
    cases.put(failure(() -> DeriveSpec.Prune.of(0.0, null, TensorFilter.ALL)),
        "<threshold> must be a finite number > 0, got 0.0 (it would zero nothing)");
    cases.put(failure(() -> DeriveSpec.Prune.of(Double.NaN, 0.5, TensorFilter.ALL)),
        "<threshold> must be a finite number > 0, got NaN");
    cases.put(failure(() -> DeriveSpec.Prune.of(null, Double.NaN, TensorFilter.ALL)),
        "<sparsity> must be in (0, 1), got NaN");
    cases.put(failure(() -> TensorFilter.of("(", null)), "<include> '(' is not a valid regular expression: ");
    cases.put(failure(() -> DeriveSpec.floatTarget("to", "f8")),
        "<to> 'f8' is not a supported float type: use bf16, f16 or f32");
    DeriveSpec cast = new DeriveSpec.Cast(DType.BF16, TensorFilter.ALL);
    cases.put(deriveFailure("Bad Name!", cast), "<target> 'Bad Name!': ");
    cases.put(deriveFailure("x@abcd", cast), "<target> 'x@abcd' must be a model or model:tag");
    cases.put(deriveFailure("q:v", new DeriveSpec.Quantize(8, 7, true, TensorFilter.ALL)),
        "<group_size> 7 divides the last dimension of none of the 2-D float tensors of m@");
    cases.put(deriveFailure("q:v", new DeriveSpec.Quantize(8, 128, true, TensorFilter.ALL)),
        "tensor 'nan' holds NaN at row 1, column 5: a non-finite value cannot be quantized (leave the tensor out "
            + "with <exclude>)");
    cases.put(deriveFailure("d:v", new DeriveSpec.Dequantize(null)), "m@");
    cases.forEach((e, spelled) -> {
      assertThat(e.getMessage()).as("library message").doesNotContain("--").doesNotContain("<");
      assertThat(e.message(p -> "<" + p.key() + ">")).as("spelled by a front end").contains(spelled);
    });
    assertThat(cases.keySet()).extracting(Throwable::getMessage).contains("bits must be 8 or 4, got 3",
        "group size must be even with bits 4 (two values per byte), got 63");
    DerivationInputException notQuantized = deriveFailure("d:v", new DeriveSpec.Dequantize(null));
    assertThat(notQuantized.getMessage()).contains("was not made by a quantize derivation");
    assertThat(notQuantized.message(p -> p.key().equals("method:quantize") ? "'ferry derive quantize'" : null))
        .contains("was not made by 'ferry derive quantize'");
    assertThatThrownBy(() -> new DeriveSpec.Quantize(3, 128, true, TensorFilter.ALL))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("bits must be 8 or 4, got 3");
    assertThatThrownBy(() -> new DeriveSpec.Cast(DType.I8, TensorFilter.ALL))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("to must be bf16, f16 or f32, got I8");
    assertThat(repo.models()).extracting(s -> s.model()).containsExactly("m");
  }

  /**
   * A store whose snapshot names a file outside its directory (planted by someone who can write the store: pushes
   * refuse such paths) cannot make a derive write outside its temporary directory: the path is refused as a pull
   * refuses it, before anything is written.
   */
  @Test
  void aSnapshotPathLeavingTheDirectoryIsRefusedBeforeAnythingIsWritten() throws Exception {
    VersionRef v = repo.resolve("m:v");
    FileEntry f = repo.snapshot(v).files().get(0);
    Snapshot planted = new Snapshot(List.of(new FileEntry("../escaped.safetensors", f.size(), f.sha256(), f.format(),
        f.dataStart(), f.metadata(), f.tensors(), f.chunks())));
    ObjectDatabase db = new ObjectDatabase(repo.backend().chunks(), Codecs.standard());
    ChunkId snapshotId = db.writeObject(ObjectJson.toJson(planted)).id();
    Version old = v.version();
    ChunkId versionId = db.writeObject(ObjectJson.toJson(new Version(snapshotId, List.of(), "evil", old.message(),
        old.author(), old.time(), old.seq(), old.logLength(), old.packs(), old.stats(), old.metadata(), null))).id();
    repo.backend().refs().compareAndSet("evil/head", null, versionId, new RefLogEntry(null, versionId, "test",
        old.time(), "planted"));

    Path work = Files.createDirectories(tmp.resolve("work/inner"));
    Deriver d = new Deriver(repo, 2, work);
    assertThatThrownBy(() -> d.derive("evil", "out:v", new DeriveSpec.Cast(DType.BF16, TensorFilter.ALL), null,
        TransferListener.NONE)).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("unsafe file path '../escaped.safetensors'");
    try (Stream<Path> all = Files.walk(tmp)) {
      assertThat(all.filter(p -> p.getFileName().toString().equals("escaped.safetensors"))).isEmpty();
    }
    assertThat(repo.backend().refs().get("out/head")).isEmpty();
  }

  @Test
  void tensorsRunOnTheWorkersGivenAndOnTheCaller() throws Exception {
    AtomicInteger helpers = new AtomicInteger();
    Executor counting = r -> {
      helpers.incrementAndGet();
      repo.workers().execute(r);
    };
    DeriveSpec spec = new DeriveSpec.Cast(DType.F16, TensorFilter.of(null, "nan"));
    DeriveResult a = new Deriver(repo, counting, 3, tmp.resolve("work")).derive("m:v", "a:v", spec, "a",
        TransferListener.NONE);
    assertThat(helpers.get()).isEqualTo(2);
    // an executor that never runs its tasks: the calling thread does all the work, and the result is the same
    DeriveResult b = new Deriver(repo, r -> { }, 3, tmp.resolve("work")).derive("m:v", "b:v", spec, "a",
        TransferListener.NONE);
    assertThat(b.push().version().snapshot()).isEqualTo(a.push().version().snapshot());
    assertThat(b.report()).isEqualTo(a.report());
    try (var s = Files.list(tmp.resolve("work"))) {
      assertThat(s).as("temporary directories removed").isEmpty();
    }
  }

  /**
   * A derivation from a version gc removed a chunk of (its model removed, a gc interrupted or still running) said the
   * store was damaged (MissingObjectException) while reading its tensors; it says the version is gone, as read, cat,
   * pull and verify do, and leaves no temporary directory.
   */
  @Test
  void deriveFromAVersionGcRemovedAChunkOfSaysItIsGone() throws Exception {
    Path model = tmp.resolve("scratch-model");
    DeriveModels.writeSafetensors(model.resolve("model.safetensors"), Map.of(), List.of(
        DeriveModels.tensor("big", DType.F32, 0.1, 7, 512, 256)));
    ChunkId v = repo.push(model, "scratch", PushOptions.builder().build()).versionId();
    repo.removeModel("scratch", false);
    String ref = "scratch@" + v.shortHex(12);
    FileEntry file = repo.snapshot(repo.resolve(ref)).files().get(0);
    ChunkId big = file.chunks().stream().filter(c -> c.length() >= ObjectDatabase.PACK_THRESHOLD)
        .findFirst().orElseThrow().id();
    Files.delete(tmp.resolve("store").resolve("objects").resolve(big.hex().substring(0, 2))
        .resolve(big.hex().substring(2)));
    Deriver d = new Deriver(repo, 2, tmp.resolve("work"));
    assertThatThrownBy(() -> d.derive(ref, "cast", new DeriveSpec.Cast(DType.BF16, TensorFilter.ALL), null,
        TransferListener.NONE)).isInstanceOf(io.ferry.error.NotFoundException.class)
        .hasMessageStartingWith(ref + " is no longer in ").hasMessageContaining("no ref reaches it");
    // a cluster derive's worker, writing its share of the files
    assertThatThrownBy(() -> d.writeTensorFiles(ref, new DeriveSpec.Cast(DType.BF16, TensorFilter.ALL),
        Files.createDirectories(tmp.resolve("share")), java.util.Set.of("model.safetensors")))
        .isInstanceOf(io.ferry.error.NotFoundException.class).hasMessageContaining("no ref reaches it");
    try (var s = Files.list(tmp.resolve("work"))) {
      assertThat(s).as("temporary directories removed").isEmpty();
    }
  }
}
