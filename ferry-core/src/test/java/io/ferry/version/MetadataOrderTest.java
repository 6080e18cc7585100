package io.ferry.version;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A file's and a version's metadata list their keys in one order, sorted as stored, however they were made. */
class MetadataOrderTest {
  private static final List<String> SORTED = sortedKeys();

  private static List<String> sortedKeys() {
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      keys.add(String.format("k%02d.%s", i, i % 3 == 0 ? "général" : "x"));
    }
    return List.copyOf(keys);
  }

  private static Map<String, String> shuffled() {
    Map<String, String> m = new HashMap<>();
    for (int i = SORTED.size() - 1; i >= 0; i--) {
      m.put(SORTED.get(i), "v" + i);
    }
    return m;
  }

  @Test
  void keysComeSortedBeforeAndAfterARoundTrip() throws Exception {
    FileEntry f = new FileEntry("model.gguf", 8, "0".repeat(64), "gguf", 8, shuffled(), List.of(),
        List.of(new ChunkRef(ChunkId.of(new byte[8]), 8)));
    assertThat(List.copyOf(f.metadata().keySet())).isEqualTo(SORTED);
    Snapshot back = ObjectJson.snapshot(ObjectJson.toJson(new Snapshot(List.of(f))), "snapshot");
    assertThat(List.copyOf(back.files().get(0).metadata().keySet())).isEqualTo(SORTED);

    Version v = new Version(ChunkId.of(new byte[1]), List.of(), "m", "msg", "alice", Instant.EPOCH, 1, 0, List.of(),
        new VersionStats(8, 8, 1, 1, 0), shuffled(), null);
    assertThat(List.copyOf(v.metadata().keySet())).isEqualTo(SORTED);
    assertThat(List.copyOf(ObjectJson.version(ObjectJson.toJson(v), "version").metadata().keySet()))
        .isEqualTo(SORTED);
  }
}
