package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import io.ferry.version.ChunkRef;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Small chunks of a file are pulled several to a task; a chunk bigger than a group is a task of its own. */
class PullGroupsTest {
  private static List<ChunkRef> chunks(long... lengths) {
    List<ChunkRef> out = new ArrayList<>();
    for (long n : lengths) {
      out.add(new ChunkRef(ChunkId.of(new byte[] {(byte) out.size()}), n));
    }
    return out;
  }

  private static List<Integer> ends(List<ChunkRef> chunks) {
    List<Integer> ends = new ArrayList<>();
    for (int first = 0; first < chunks.size(); first = Puller.groupEnd(chunks, first)) {
      ends.add(Puller.groupEnd(chunks, first));
    }
    return ends;
  }

  @Test
  void tinyChunksGoInGroupsOfAtMost256AndBigOnesAlone() {
    long[] tiny = new long[300];
    java.util.Arrays.fill(tiny, 8);
    assertThat(ends(chunks(tiny))).containsExactly(256, 300);
    long mib = Puller.GROUP_BYTES;
    assertThat(ends(chunks(mib / 2, mib / 2, 1, 64 * mib, 10, 10))).containsExactly(2, 3, 4, 6);
    assertThat(ends(chunks(64 * mib, 64 * mib))).containsExactly(1, 2);
    assertThat(ends(chunks(0, 0, 5))).containsExactly(3);
  }
}
