package io.ferry.format.torch;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.Change;
import io.ferry.repo.Results.Diff;
import io.ferry.repo.Results.TensorDiff;
import io.ferry.store.StoreOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code Repository.diff} of two checkpoints whose storages hold the same bytes but whose tensors are other views of
 * them: a tensor saved as {@code base} then as {@code base.t()}, and two halves of one flat storage swapped. Every
 * chunk of both versions is the same, and each tensor keeps its dtype and shape, so diff (which compared a tensor's
 * chunks alone) said "0 tensors changed, 3 unchanged" while torch.load gives other values for all three.
 */
class TorchDiffTest {
  @TempDir Path tmp;

  private static byte[] floats(int n, int seed) {
    ByteBuffer b = ByteBuffer.allocate(n * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < n; i++) {
      b.putFloat(seed * 100 + i);
    }
    return b.array();
  }

  /** A checkpoint of {@code w} (a 4x4 view of storage 0 with these strides) and {@code s}, {@code o} (halves of 1). */
  private static byte[] checkpoint(int[] wStrides, int sOffset, int oOffset) throws Exception {
    byte[] pkl = Pickles.proto2().global("collections", "OrderedDict").op(')').op('R').mark()
        .str("w").tensor("FloatStorage", "0", 16, 0, new int[] {4, 4}, wStrides)
        .str("s").tensor("FloatStorage", "1", 8, sOffset, new int[] {4}, new int[] {1})
        .str("o").tensor("FloatStorage", "1", 8, oOffset, new int[] {4}, new int[] {1})
        .op('u').stop().bytes();
    return Pickles.checkpoint(pkl, floats(16, 1), floats(8, 2));
  }

  private static Diff push(Repository repo, Path src, byte[] file, String message, String a) throws Exception {
    Files.write(src.resolve("model.pt"), file);
    repo.push(src, "m", PushOptions.builder().message(message).build());
    return repo.diff(a, "m");
  }

  @Test
  void anotherViewOfTheSameStorageIsAChangedTensor() throws Exception {
    Path src = Files.createDirectories(tmp.resolve("src"));
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      push(repo, src, checkpoint(new int[] {4, 1}, 0, 4), "v1", "m");
      Diff d = push(repo, src, checkpoint(new int[] {1, 4}, 4, 0), "w transposed, s and o swapped", "m~1");
      assertThat(d.tensors()).extracting(TensorDiff::name).containsExactly("o", "s", "w");
      assertThat(d.tensors()).extracting(TensorDiff::change).containsOnly(Change.CHANGED);
      assertThat(d.unchangedTensors()).isZero();

      Diff back = push(repo, src, checkpoint(new int[] {4, 1}, 0, 4), "as v1 again", "m~2");
      assertThat(back.tensors()).as("the same views of the same storages").isEmpty();
      assertThat(back.unchangedTensors()).isEqualTo(3);
    }
  }

  /**
   * Two halves of one storage, {@code s = flat[0:4]} and {@code o = flat[4:8]}, when only {@code flat[7]} changes:
   * the storage is one chunk, so diff said both changed; {@code s} holds the same bytes and is unchanged.
   */
  @Test
  void aSliceBesideTheChangeIsUnchanged() throws Exception {
    Path src = Files.createDirectories(tmp.resolve("src"));
    byte[] pkl = Pickles.proto2().global("collections", "OrderedDict").op(')').op('R').mark()
        .str("s").tensor("FloatStorage", "0", 8, 0, new int[] {4}, new int[] {1})
        .str("o").tensor("FloatStorage", "0", 8, 4, new int[] {4}, new int[] {1})
        .str("t").tensor("FloatStorage", "1", 4, 0, new int[] {2, 2}, new int[] {1, 2})
        .op('u').stop().bytes();
    byte[] flat = floats(8, 1);
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      Files.write(src.resolve("model.pt"), Pickles.checkpoint(pkl, flat, floats(4, 2)));
      repo.push(src, "m", PushOptions.builder().build());
      flat[31] ^= 0x40;
      Files.write(src.resolve("model.pt"), Pickles.checkpoint(pkl, flat, floats(4, 3)));
      repo.push(src, "m", PushOptions.builder().build());
      Diff d = repo.diff("m~1", "m");
      assertThat(d.tensors()).extracting(TensorDiff::name).containsExactly("o", "t");
      assertThat(d.unchangedTensors()).isEqualTo(1);
    }
  }

  /**
   * A slice renamed, {@code s = flat[0:4]} saved as {@code r}, while {@code flat[7]} changes: the storage is one chunk,
   * other in B, so renames (matched by chunks) showed {@code s} removed and {@code r} added; its bytes are the same,
   * and it is renamed, as a safetensors tensor of the same bytes under a new name is.
   */
  @Test
  void aSliceRenamedBesideTheChangeIsRenamed() throws Exception {
    Path src = Files.createDirectories(tmp.resolve("src"));
    byte[] flat = floats(8, 1);
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      for (String name : new String[] {"s", "r"}) {
        byte[] pkl = Pickles.proto2().global("collections", "OrderedDict").op(')').op('R').mark()
            .str(name).tensor("FloatStorage", "0", 8, 0, new int[] {4}, new int[] {1})
            .str("o").tensor("FloatStorage", "0", 8, 4, new int[] {4}, new int[] {1})
            .op('u').stop().bytes();
        Files.write(src.resolve("model.pt"), Pickles.checkpoint(pkl, flat));
        repo.push(src, "m", PushOptions.builder().build());
        flat[31] ^= 0x40;
      }
      Diff d = repo.diff("m~1", "m");
      assertThat(d.tensors()).extracting(t -> t.name() + " " + t.change() + " " + t.renamedFrom())
          .containsExactly("o CHANGED null", "r RENAMED s");
    }
  }

  /**
   * The bytes {@code show} and {@code diff} give a view that is not contiguous are its elements' bytes, as torch's
   * {@code nbytes}: a column of a 4x4 matrix (4 floats) was "52 B", the span from its first to its last element, and
   * an expanded view {@code [4, 4]} of 4 floats "16 B".
   */
  @Test
  void aNonContiguousViewCountsTheBytesOfItsElements() throws Exception {
    Path src = Files.createDirectories(tmp.resolve("src"));
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      byte[] pkl = Pickles.proto2().global("collections", "OrderedDict").op(')').op('R').mark()
          .str("col").tensor("FloatStorage", "0", 16, 1, new int[] {4}, new int[] {4})
          .str("wide").tensor("FloatStorage", "1", 4, 0, new int[] {4, 4}, new int[] {0, 1})
          .str("all").tensor("FloatStorage", "0", 16, 0, new int[] {4, 4}, new int[] {4, 1})
          .op('u').stop().bytes();
      Files.write(src.resolve("model.pt"), Pickles.checkpoint(pkl, floats(16, 1), floats(4, 2)));
      repo.push(src, "m", PushOptions.builder().build());
      Files.write(src.resolve("model.pt"), Pickles.checkpoint(pkl, floats(16, 3), floats(4, 4)));
      repo.push(src, "m", PushOptions.builder().build());

      java.util.Map<String, Long> bytes = new java.util.HashMap<>();
      try (io.ferry.read.ModelReader r = repo.open("m")) {
        io.ferry.version.FileEntry f = r.snapshot().files().get(0);
        f.tensors().forEach(t -> bytes.put(t.name(), f.tensorBytes(t)));
      }
      assertThat(bytes).containsExactlyInAnyOrderEntriesOf(java.util.Map.of("col", 16L, "wide", 64L, "all", 64L));
      Diff d = repo.diff("m~1", "m");
      assertThat(d.tensors()).extracting(t -> t.name() + " " + t.bytesA() + " " + t.bytesB())
          .containsExactly("all 64 64", "col 16 16", "wide 64 64");
    }
  }
}
