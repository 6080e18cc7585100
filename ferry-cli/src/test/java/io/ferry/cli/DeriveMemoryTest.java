package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Derivations stream: a 160 MiB F32 tensor is cast, quantized and pruned to a sparsity (three passes over its stored
 * chunks) by a CLI process with {@code -Xmx256m} (the design's goal for any model). Holding it whole as source,
 * result and the double values the metrics need would take about 650 MiB. Below about 224 MiB it is the push of the
 * 64 MiB output chunks (a chunk and its zstd payload on the heap), not the derivation, that runs out of memory.
 */
class DeriveMemoryTest {
  @TempDir Path tmp;

  @Test
  void aTensorLargerThanTheHeapIsDerivedByRowBlocks() throws Exception {
    // 160 MiB in one F32 tensor, plus a small one
    Path store = DeriveSupport.storeWith(tmp, "big:v1",
        new Tensor("big.weight", DType.F32, new long[] {40960, 1024}, 1),
        new Tensor("norm.weight", DType.F32, new long[] {1024}, 2));
    run(store, "derive", "quantize", "big:v1", "--bits", "8", "--as", "big:q8");
    run(store, "derive", "cast", "big:v1", "--to", "bf16", "--as", "big:bf16");
    String out = run(store, "derive", "prune", "big:v1", "--sparsity", "0.25", "--as", "big:p25", "--json");
    assertThat(DeriveSupport.JSON.readTree(out).path("overall").path("sparsity").asDouble()).isEqualTo(0.25);
  }

  /**
   * A tensor of two rows of 80 MB each (a [1, n]-like shape) was read and transformed a whole row at a time: the row
   * in a segment and its values in working arrays (an int and two doubles per element for a cast, about 1.6 GB) ran
   * out of a 256 MiB heap. A cast and a prune to a sparsity take it a block of elements at a time.
   */
  @Test
  void aTensorWithRowsLargerThanTheHeapIsDerivedByElementBlocks() throws Exception {
    Path store = DeriveSupport.storeWith(tmp, "rows:v1",
        new Tensor("rows.weight", DType.F32, new long[] {2, 20_000_000}, 1));
    run(store, "derive", "cast", "rows:v1", "--to", "bf16", "--as", "rows:bf16");
    String out = run(store, "derive", "prune", "rows:v1", "--sparsity", "0.25", "--as", "rows:p25", "--json");
    assertThat(DeriveSupport.JSON.readTree(out).path("overall").path("sparsity").asDouble()).isEqualTo(0.25);
  }

  /**
   * A tensor of one row of 2^24 elements (an embedding flattened to [1, n]) was quantized and dequantized a whole row
   * at a time: the row in a segment and its values in working arrays (two doubles and a float per element, 320 MiB),
   * beyond a 256 MiB heap. Both go by groups (group 128), or by parts of a group, in two passes for a quantization,
   * when the group is the row (one scale per row).
   */
  @Test
  void aTensorWithOneLongRowIsQuantizedAndDequantizedInBoundedMemory() throws Exception {
    long n = 1L << 24;
    Path store = DeriveSupport.storeWith(tmp, "row:v1", new Tensor("embed.weight", DType.F32, new long[] {1, n}, 1));
    run(store, "derive", "quantize", "row:v1", "--bits", "4", "--as", "row:q4");
    run(store, "derive", "dequantize", "row:q4", "--as", "row:d4");
    run(store, "derive", "quantize", "row:v1", "--bits", "8", "--group-size", Long.toString(n), "--as", "row:q8");
    String out = run(store, "derive", "dequantize", "row:q8", "--as", "row:d8", "--json");
    assertThat(DeriveSupport.JSON.readTree(out).path("overall").path("elements").asLong()).isEqualTo(n);
  }

  /**
   * A tensor that a derivation keeps, of two rows of 100 MiB (an I32 [2, n] tensor in a cast), was copied a row at a
   * time: a 100 MiB buffer per row, which a 96 MiB heap (and so 96 MiB of direct memory) does not give, and each
   * stored chunk that a row straddles decoded once for each of its rows. It is copied in the 64 MiB chunks it is
   * stored in, whatever the size of its rows.
   */
  @Test
  void aKeptTensorWithRowsLargerThanAChunkIsCopiedByChunks() throws Exception {
    Path store = DeriveSupport.storeWith(tmp, "kept:v1", new Tensor("ids", DType.I32, new long[] {2, 25L << 20}, 1),
        new Tensor("w", DType.F32, new long[] {64, 64}, 2));
    runWithHeap(store, "96m", "derive", "cast", "kept:v1", "--to", "bf16", "--as", "kept:bf16");
    try (var r = DeriveSupport.open(store); var a = r.open("kept:v1"); var b = r.open("kept:bf16")) {
      assertThat(b.tensor("ids").info().dtype()).isEqualTo(DType.I32);
      for (long row = 0; row < 2; row++) {
        assertThat(b.readRows("ids", row, row + 1)).as("row %s", row).isEqualTo(a.readRows("ids", row, row + 1));
      }
    }
  }

  private static String run(Path store, String... args) throws Exception {
    return runWithHeap(store, "256m", args);
  }

  private static String runWithHeap(Path store, String heap, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx" + heap, "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), FerryCli.class.getName()));
    cmd.addAll(List.of(args));
    cmd.addAll(List.of("--store", store.toString(), "--threads", "2"));
    Path err = Files.createTempFile(store.getParent(), "err", ".txt");
    Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(10, TimeUnit.MINUTES)).isTrue();
    assertThat(p.exitValue()).as("ferry %s with -Xmx%s: %s", String.join(" ", args), heap, Files.readString(err))
        .isZero();
    return out;
  }
}
