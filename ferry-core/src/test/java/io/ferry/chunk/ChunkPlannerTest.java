package io.ferry.chunk;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatMetadata;
import io.ferry.format.Region;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Chunk boundaries from layouts, whatever the format. */
class ChunkPlannerTest {
  private final ChunkPlanner planner = new ChunkPlanner(new CdcChunker(CdcParams.DEFAULT), 1000);

  private static List<String> cuts(List<ChunkPlanner.Range> ranges) {
    List<String> out = new ArrayList<>();
    for (ChunkPlanner.Range r : ranges) {
      out.add(r.start() + "-" + r.end() + ":" + r.hint().dtype());
    }
    return out;
  }

  private static Region.Tensor tensor(String name, long start, long end, long rowBytes, long... shape) {
    List<Long> s = new ArrayList<>();
    for (long d : shape) {
      s.add(d);
    }
    return new Region.Tensor(name, DType.U8, s, start, end, rowBytes);
  }

  @Test
  void headerAndPaddingRunsAreOneChunkAndTensorsTheirOwn() {
    FileLayout l = new FileLayout("x", "f", 200, 20, List.of(
        new Region.Header(0, 10), new Region.Padding(10, 20), tensor("empty", 20, 20, -1, 0),
        new Region.Padding(20, 32), tensor("a", 32, 64, 8, 4, 8), new Region.Padding(64, 64),
        tensor("b", 64, 100, -1, 36), new Region.Padding(100, 104), new Region.Header(104, 200)),
        FormatMetadata.NONE);
    assertThat(cuts(planner.plan(l))).containsExactly(
        "0-32:null", "32-64:U8", "64-100:U8", "100-200:null");
  }

  @Test
  void bigTensorsAreCutOnRowsOrInFixedPieces() {
    FileLayout l = new FileLayout("x", "f", 4608, 8, List.of(
        new Region.Header(0, 8),
        tensor("rows", 8, 3008, 300, 10, 300), // 10 rows of 300 bytes: 3 rows (900 bytes) per chunk
        tensor("flat", 3008, 4608, -1, 1600)), // no rows: 1000-byte pieces
        FormatMetadata.NONE);
    assertThat(cuts(planner.plan(l))).containsExactly("0-8:null",
        "8-908:U8", "908-1808:U8", "1808-2708:U8", "2708-3008:U8",
        "3008-4008:U8", "4008-4608:U8");
  }

  /**
   * A run of header bytes over 2 GiB (an ONNX data file whose one initializer lies 2.5 GiB in; onnxruntime reads it)
   * was one chunk, which no push can read into a buffer: the push failed with "chunk [0, 2684354564) is too big for
   * one buffer". Such a run is cut every 64 MiB; shorter runs stay whole.
   */
  @Test
  void headerRunsTooBigForOneChunkAreCutIntoPieces() {
    long gap = (5L << 29) + 4;
    FileLayout l = new FileLayout("x", "f", gap + 124, 0, List.of(new Region.Header(0, gap),
        tensor("w", gap, gap + 24, 12, 2, 12), new Region.Header(gap + 24, gap + 124)), FormatMetadata.NONE);
    List<ChunkPlanner.Range> ranges = ChunkPlanner.standard().plan(l);
    assertThat(ranges).hasSize(43);
    assertThat(cuts(ranges.subList(0, 2))).containsExactly("0-" + (1L << 26) + ":null",
        (1L << 26) + "-" + (2L << 26) + ":null");
    assertThat(cuts(ranges.subList(39, 43))).containsExactly((39L << 26) + "-" + (40L << 26) + ":null",
        (40L << 26) + "-" + gap + ":null", gap + "-" + (gap + 24) + ":U8", (gap + 24) + "-" + (gap + 124) + ":null");
    FileLayout whole = new FileLayout("x", "f", ChunkPlanner.MAX_CHUNK, 0,
        List.of(new Region.Header(0, ChunkPlanner.MAX_CHUNK)), FormatMetadata.NONE);
    assertThat(cuts(ChunkPlanner.standard().plan(whole))).containsExactly("0-" + ChunkPlanner.MAX_CHUNK + ":null");
  }

  @Test
  void anEmptyLayoutHasNoChunks() {
    assertThat(planner.plan(new FileLayout("x", "f", 0, 0, List.of(), FormatMetadata.NONE))).isEmpty();
  }
}
