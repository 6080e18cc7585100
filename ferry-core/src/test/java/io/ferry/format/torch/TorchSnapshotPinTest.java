package io.ferry.format.torch;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.codec.CodecPolicy;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results;
import io.ferry.store.StoreOptions;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pins the snapshot id of PyTorch checkpoints written byte by byte (no time stamps), as {@code SnapshotIdPinTest}
 * does for the other formats: the layout of a torch file (storages as chunks, the tensor table, the metadata) is part
 * of the storage format, so a change here is a bug, not a test to update. Values recorded from the first version of
 * the format; a {@code .bin} of the same bytes is read as torch too.
 */
class TorchSnapshotPinTest {
  private static final String SNAPSHOT = "f124dcf068f08118858480693364a6f0a2c756ba3a88691daeb1c5a2052621d5";
  /** Per file: three storages and the four header runs around them. */
  private static final int CHUNKS = 14;

  @TempDir Path tmp;

  @Test
  void sameCheckpointBytesGiveTheSameSnapshotId() throws Exception {
    byte[] pkl = Pickles.proto2().global("collections", "OrderedDict").op(')').op('R').mark()
        .str("model.w").tensor("BFloat16Storage", "0", 96, 0, new int[] {8, 12}, new int[] {12, 1})
        .str("model.tied").tensor("BFloat16Storage", "0", 96, 0, new int[] {8, 12}, new int[] {12, 1})
        .str("model.t").tensor("BFloat16Storage", "0", 96, 0, new int[] {12, 8}, new int[] {1, 12})
        .str("opt.step").tensor("FloatStorage", "1", 1, 0, new int[] {}, new int[] {})
        .str("opt.ids").tensor("LongStorage", "2", 5, 1, new int[] {4}, new int[] {1})
        .str("epoch").op('K', 7).str("lr").op('G').raw(ByteBuffer.allocate(8).putDouble(3e-4).array())
        .op('u').stop().bytes();
    byte[] s0 = new byte[192];
    byte[] s1 = new byte[4];
    byte[] s2 = new byte[40];
    for (int i = 0; i < s0.length; i++) {
      s0[i] = (byte) (i * 31 + 7);
    }
    s1[3] = 0x3f;
    s2[8] = 1;
    byte[] ckpt = new RawZip().add("archive/data.pkl", pkl).add("archive/byteorder",
        "little".getBytes(StandardCharsets.US_ASCII)).add("archive/data/0", s0).add("archive/data/1", s1)
        .add("archive/data/2", s2).add("archive/version", "3\n".getBytes(StandardCharsets.US_ASCII)).bytes();
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.write(src.resolve("ckpt.pt"), ckpt);
    Files.write(src.resolve("pytorch_model.bin"), ckpt);
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      Results.PushResult r = repo.push(src, "pinned", PushOptions.builder().codec(CodecPolicy.NONE).build());
      Snapshot s = repo.snapshot(repo.resolve("pinned"));
      int chunks = 0;
      for (FileEntry f : s.files()) {
        assertThat(f.format()).as(f.path()).isEqualTo("torch");
        assertThat(f.tensors()).extracting(t -> t.name()).containsExactlyInAnyOrder("model.w", "model.tied",
            "model.t", "opt.step", "opt.ids");
        chunks += f.chunks().size();
      }
      assertThat(List.of(r.version().snapshot().hex(), chunks)).isEqualTo(List.of(SNAPSHOT, CHUNKS));
    }
  }
}
