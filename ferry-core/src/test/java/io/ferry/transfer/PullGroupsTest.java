package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import io.ferry.version.ChunkRef;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Small chunks of a file are pulled several to a task; a chunk bigger than a group is a task of its own; the tasks of
 * several files are submitted interleaved by bytes.
 */
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

  /** A task of file {@code file} writing {@code bytes}. */
  private record Task(String file, long bytes) {}

  private static List<Task> file(String name, long... bytes) {
    List<Task> out = new ArrayList<>();
    for (long b : bytes) {
      out.add(new Task(name, b));
    }
    return out;
  }

  private static String order(List<List<Task>> byFile) {
    StringBuilder s = new StringBuilder();
    for (Task t : Puller.interleaved(byFile, Task::bytes)) {
      s.append(t.file());
    }
    return s.toString();
  }

  @Test
  void filesAreInterleavedSoThatWorkersWriteDifferentFiles() {
    long m = 64L << 20;
    // two shards of equal chunks alternate; each file's tasks keep their order
    assertThat(order(List.of(file("a", m, m, m), file("b", m, m, m)))).isEqualTo("ababab");
    List<Task> a = file("a", 1, 2, 3);
    assertThat(Puller.interleaved(List.of(a, List.of()), Task::bytes)).containsExactlyElementsOf(a);
    // by bytes, not by tasks: a file of small groups catches up with one big chunk of another
    assertThat(order(List.of(file("a", 4 * m), file("b", m, m, m, m, m), file("c", 10)))).isEqualTo("abcbbbb");
    // empty files and no files
    assertThat(order(List.of(List.of(), file("x", 0, 0)))).isEqualTo("xx");
    assertThat(Puller.interleaved(List.<List<Task>>of(), Task::bytes)).isEmpty();
  }
}
