package io.ferry.derive;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.id.ChunkId;
import io.ferry.derive.TensorReport.Action;
import io.ferry.derive.TensorReport.Output;
import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.version.Derivation;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The derivation report's one codec: what it writes, that it reads back what it wrote, and what it refuses. */
class DerivationReportTest {
  private static final ChunkId SOURCE = ChunkId.of("source".getBytes(StandardCharsets.UTF_8));
  private static final ChunkId ORIGINAL = ChunkId.of("original".getBytes(StandardCharsets.UTF_8));

  private static MetricFigures measured(double... ab) {
    double[] a = new double[ab.length / 2];
    double[] b = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      a[i] = ab[2 * i];
      b[i] = ab[2 * i + 1];
    }
    ErrorMetrics.Accumulator acc = new ErrorMetrics.Accumulator();
    acc.addAll(a, b, a.length);
    return acc.result().figures();
  }

  private static DerivationReport report(ChunkId comparedWith) {
    Map<String, String> params = new LinkedHashMap<>();
    params.put("bits", "4");
    params.put("group_size", "64");
    params.put("symmetric", "false");
    params.put("layout", QuantLayout.NAME);
    MetricFigures w = measured(1.5, 1.25, -0.1, 0, Double.NaN, 1, 3e38, Double.POSITIVE_INFINITY);
    ErrorMetrics.Accumulator sparse = new ErrorMetrics.Accumulator();
    sparse.addUncompared(0);
    sparse.addUncompared(2);
    return new DerivationReport("quantize", params, SOURCE, "m", comparedWith, w, List.of(
        new TensorReport("a.weight", Action.QUANTIZED, null, DType.F32, List.of(2L, 64L), List.of(
            new Output("a.weight", DType.U8, List.of(2L, 32L)), new Output("a.weight.scale", DType.F32,
                List.of(2L, 1L)), new Output("a.weight.zero_point", DType.U8, List.of(2L, 1L))), w, true),
        new TensorReport("b", Action.DEQUANTIZED, null, DType.I8, List.of(4L), List.of(new Output("b", DType.BF16,
            List.of(4L))), sparse.result().figures(), false),
        new TensorReport("a.norm", Action.KEPT, "1-D, only 2-D tensors are quantized", DType.F32, List.of(64L),
            List.of(new Output("a.norm", DType.F32, List.of(64L))), null, true),
        new TensorReport("s", Action.KEPT, "already BF16", DType.BF16, List.of(), List.of(new Output("s",
            DType.BF16, List.of())), null, true)));
  }

  @Test
  void readsBackWhatItWrote() throws Exception {
    for (ChunkId compared : new ChunkId[] {null, ORIGINAL}) {
      DerivationReport r = report(compared);
      byte[] json = r.toJson();
      DerivationReport back = DerivationReport.fromJson(json, "x");
      assertThat(back).isEqualTo(r);
      assertThat(back.toJson()).isEqualTo(json);
      assertThat(new String(json, StandardCharsets.UTF_8)).doesNotContain("kept_files");
    }
    DerivationReport r = report(null);
    DerivationReport kept = new DerivationReport(r.method(), r.parameters(), r.source(), r.sourceModel(), null,
        r.overall(), r.tensors(), Map.of("pytorch_model.bin", "a torch file of 3 tensors, kept as it is"));
    DerivationReport back = DerivationReport.fromJson(kept.toJson(), "x");
    assertThat(back).isEqualTo(kept);
    assertThat(back.keptFiles()).containsExactly(Map.entry("pytorch_model.bin",
        "a torch file of 3 tensors, kept as it is"));
  }

  @Test
  void writesTheDocumentedFormat() {
    String nl = System.lineSeparator();
    String json = new String(report(ORIGINAL).toJson(), StandardCharsets.UTF_8);
    assertThat(json).startsWith("{" + nl + "  \"format\" : \"ferry-derivation/1\"," + nl
        + "  \"method\" : \"quantize\"," + nl + "  \"parameters\" : {" + nl + "    \"bits\" : \"4\",")
        .contains("\"source\" : \"" + SOURCE.hex() + "\"," + nl + "  \"source_model\" : \"m\"," + nl
            + "  \"compared_with\" : \"" + ORIGINAL.hex() + "\"," + nl + "  \"overall\" : {" + nl
            + "    \"elements\" : 4," + nl + "    \"max_abs_error\" : 0.25,")
        .contains("\"non_finite\" : 1,", "\"overflow\" : 1" + nl)
        .contains("\"name\" : \"a.norm\"," + nl + "    \"action\" : \"kept\"," + nl
            + "    \"reason\" : \"1-D, only 2-D tensors are quantized\"," + nl + "    \"source_dtype\" : \"F32\","
            + nl + "    \"shape\" : [ 64 ]" + nl + "  }")
        .contains("\"action\" : \"dequantized\",", "\"compared\" : false,")
        .endsWith("]" + nl + "}\n");
    assertThat(json).doesNotContain("\"outputs\" : [ {" + nl + "      \"name\" : \"a.norm\"");
  }

  /** Counts were written as doubles ({@code "non_finite" : 1.0}); such a report, as older Ferry wrote it, reads. */
  @Test
  void aReportWithCountsWrittenAsDoublesReadsBack() throws Exception {
    DerivationReport r = report(ORIGINAL);
    String json = new String(r.toJson(), StandardCharsets.UTF_8);
    String old = json.replaceAll("(\"(non_finite|overflow)\" : 1)(?![.0-9])", "$1.0");
    assertThat(old).isNotEqualTo(json);
    assertThat(DerivationReport.fromJson(old.getBytes(StandardCharsets.UTF_8), "x")).isEqualTo(r);
  }

  /** A version recorded its derivation's counts as doubles too; older versions' read as they were written. */
  @Test
  void theVersionRecordsCountsAsIntegers() throws Exception {
    io.ferry.version.Version v = new io.ferry.version.Version(SOURCE, List.of(), "m", "derived", "alice",
        java.time.Instant.parse("2026-12-07T09:00:00Z"), 1, 0, List.of(), new io.ferry.version.VersionStats(0, 0, 0,
        0, 0), Map.of(), report(ORIGINAL).derivation());
    assertThat(v.derivation().metrics()).containsEntry("non_finite", 1.0);
    String json = new String(io.ferry.version.ObjectJson.toJson(v), StandardCharsets.UTF_8);
    assertThat(json).containsPattern("\"non_finite\"\\s*:\\s*1(?![.0-9])")
        .containsPattern("\"overflow\"\\s*:\\s*1(?![.0-9])");
    String old = json.replaceAll("(\"(non_finite|overflow)\"\\s*:\\s*1)(?![.0-9])", "$1.0");
    assertThat(old).isNotEqualTo(json);
    assertThat(io.ferry.version.ObjectJson.version(old.getBytes(StandardCharsets.UTF_8), "x")).isEqualTo(v);
  }

  @Test
  void theDerivationRecordAddsCountsTheFileAndTheComparison() {
    Derivation d = report(ORIGINAL).derivation();
    assertThat(d.method()).isEqualTo("quantize");
    assertThat(d.source()).isEqualTo(SOURCE.hex());
    assertThat(d.parameters()).containsEntry("bits", "4").containsEntry("tensors_changed", "2")
        .containsEntry("tensors_kept", "2").containsEntry("details", DerivationReport.FILE)
        .containsEntry("compared_with", ORIGINAL.hex());
    assertThat(d.parameters().keySet()).containsAll(DerivationReport.RECORD_PARAMETERS);
    assertThat(d.metrics()).isEqualTo(report(null).overall().figures());
    assertThat(report(null).derivation().parameters()).doesNotContainKey("compared_with");
  }

  @Test
  void refusesWhatItDidNotWriteNamingTheFileAndTheField() {
    String good = new String(report(null).toJson(), StandardCharsets.UTF_8);
    Map<String, String> bad = new LinkedHashMap<>();
    bad.put("[]", "x//r.json: not a JSON object");
    bad.put("{", "x//r.json: not valid JSON");
    bad.put(good.replace("ferry-derivation/1", "ferry-derivation/2"),
        "x//r.json: format is 'ferry-derivation/2', expected ferry-derivation/1");
    bad.put(good.replace("\"source_dtype\" : \"I8\"", "\"source_dtype\" : \"I9\""),
        "x//r.json: tensor 'b': unknown dtype 'I9'");
    bad.put(good.replace("\"dequantized\"", "\"squashed\""), "x//r.json: tensor 'b': unknown action 'squashed'");
    bad.put(good.replace(SOURCE.hex(), "abc"), "x//r.json: 'source' is 'abc', expected a 64-digit hex version id");
    bad.put(good.replace("\"shape\" : [ 4 ]", "\"shape\" : [ -4 ]"), "x//r.json: tensor 'b': shape [-4] has a "
        + "dimension that is not a count");
    bad.put(good.replace("\"reason\" : \"already BF16\",", ""), "x//r.json: tensor 's': a reason is given");
    bad.put(good.replaceFirst("\"elements\" : 4", "\"elements\" : \"4\""),
        "x//r.json: overall.elements is missing or not a count");
    bad.forEach((json, message) -> assertThatThrownBy(() -> DerivationReport.fromJson(
        json.getBytes(StandardCharsets.UTF_8), "x//r.json")).as(message).isInstanceOf(InvalidInputException.class)
        .hasMessageStartingWith(message));
  }
}
