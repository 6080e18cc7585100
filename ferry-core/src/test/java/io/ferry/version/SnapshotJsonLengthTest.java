package io.ferry.version;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import io.ferry.id.ChunkId;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The length a push's limits check counts is the length of the snapshot JSON it then writes. */
class SnapshotJsonLengthTest {
  @Test
  void countedLengthIsTheWrittenLength() {
    List<TensorInfo> tensors = new ArrayList<>();
    List<ChunkRef> chunks = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      tensors.add(new TensorInfo("state.é" + i, DType.F32, List.of(4L), i * 16L, i * 16L + 16));
      chunks.add(new ChunkRef(ChunkId.of(new byte[] {(byte) i}), 16));
    }
    FileEntry f = new FileEntry("optim.pt", 800, "0".repeat(64), "torch", 0, Map.of("k", "v\u0001"), tensors,
        chunks);
    FileEntry opaque = FileEntry.opaque("config.json", 16, "1".repeat(64), List.of(chunks.get(0)));
    Snapshot s = new Snapshot(List.of(f, opaque));
    assertThat(ObjectJson.jsonLength(s)).isEqualTo(ObjectJson.toJson(s).length);
  }
}
