package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.chunk.ChunkPlanner;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** How a push groups a file's chunks into tasks: in order, every chunk once, big ones alone, small ones bounded. */
class PushBatchesTest {
  @Test
  void anEmptyPlanIsNoBatch() {
    assertThat(Pusher.batches(List.of())).isEmpty();
  }

  @Test
  void bigChunksGoAloneAndSmallOnesTogetherWithinTheBounds() {
    List<ChunkPlanner.Range> plan = new ArrayList<>();
    long at = 0;
    // 3,000 tiny chunks, one of 64 MiB, 5 of 3 MiB, one of exactly the byte bound, 1 tiny
    for (int i = 0; i < 3000; i++) {
      at = add(plan, at, 16);
    }
    at = add(plan, at, 64 << 20);
    for (int i = 0; i < 5; i++) {
      at = add(plan, at, 3 << 20);
    }
    at = add(plan, at, Pusher.BATCH_BYTES);
    add(plan, at, 16);
    List<List<ChunkPlanner.Range>> batches = Pusher.batches(plan);

    List<ChunkPlanner.Range> joined = new ArrayList<>();
    batches.forEach(joined::addAll);
    assertThat(joined).as("every chunk once, in order").isEqualTo(plan);
    for (List<ChunkPlanner.Range> b : batches) {
      assertThat(b).isNotEmpty().hasSizeLessThanOrEqualTo(Pusher.BATCH_CHUNKS);
      long bytes = b.stream().mapToLong(ChunkPlanner.Range::length).sum();
      // a batch ends at the chunk that takes it to the bound: all but its last chunk are below it together
      assertThat(bytes - b.get(b.size() - 1).length()).isLessThan(Pusher.BATCH_BYTES);
    }
    assertThat(batches.get(0)).hasSize(Pusher.BATCH_CHUNKS);
    assertThat(batches.get(1)).hasSize(Pusher.BATCH_CHUNKS);
    // the rest of the tiny ones end with the 64 MiB chunk that takes them past the bound
    assertThat(batches.get(2)).hasSize(3000 - 2 * Pusher.BATCH_CHUNKS + 1);
    // 3 + 3 + 3 MiB reach 8 MiB at the third, then two more and the one at the bound, then the last tiny one
    assertThat(batches.subList(3, batches.size())).extracting(List::size).containsExactly(3, 3, 1);
  }

  private static long add(List<ChunkPlanner.Range> plan, long at, long length) {
    plan.add(new ChunkPlanner.Range(at, at + length, null));
    return at + length;
  }
}
