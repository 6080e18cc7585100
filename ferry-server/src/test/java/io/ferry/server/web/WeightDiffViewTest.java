package io.ferry.server.web;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.Change;
import io.ferry.server.http.MemoryBudget;
import io.ferry.store.StoreOptions;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The measured diff ({@code GET /v1/diff}, the diff page) of two PyTorch checkpoints whose changed tensor is a
 * transposed view of its storage: measuring it read it as a byte range, which the reader refuses for a
 * non-contiguous view, and the whole diff failed ("400: tensor 't' of model.pt is a non-contiguous view"). Such a
 * tensor is reported changed, unmeasured, beside the contiguous one, which is measured.
 */
class WeightDiffViewTest {
  @TempDir Path tmp;

  @Test
  void aChangedNonContiguousViewIsReportedUnmeasuredAndTheRestMeasured() throws Exception {
    Path src = Files.createDirectories(tmp.resolve("src"));
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      Files.write(src.resolve("model.pt"), checkpoint(1));
      repo.push(src, "m", PushOptions.builder().message("v1").build());
      Files.write(src.resolve("model.pt"), checkpoint(2));
      repo.push(src, "m", PushOptions.builder().message("v2").build());

      MemoryBudget budget = new MemoryBudget(64 << 20, 1000, 4, MemoryBudget.DEFAULT_MIN_HELD_RATE);
      WeightDiff.Result r = new WeightDiff(repo, budget).diff("m~1", "m");
      assertThat(r.tensors()).extracting(TensorDelta::name).containsExactlyInAnyOrder("w", "t");
      assertThat(r.tensors()).extracting(TensorDelta::change).containsOnly(Change.CHANGED);
      TensorDelta t = r.tensors().stream().filter(d -> d.name().equals("t")).findFirst().orElseThrow();
      assertThat(t.relFrobenius()).isNaN();
      TensorDelta w = r.tensors().stream().filter(d -> d.name().equals("w")).findFirst().orElseThrow();
      assertThat(w.relFrobenius()).isGreaterThan(0);
      assertThat(w.elements()).isEqualTo(6);
    }
  }

  /** {@code {"w": s, "t": s.t()}} over one FloatStorage of 6 floats (seed, seed + 1, ...), s of shape [2, 3]. */
  private static byte[] checkpoint(int seed) throws Exception {
    ByteArrayOutputStream p = new ByteArrayOutputStream();
    p.write(new byte[] {(byte) 0x80, 2});
    global(p, "collections", "OrderedDict");
    p.write(new byte[] {')', 'R', '('});
    view(p, "w", new int[] {2, 3}, new int[] {3, 1});
    view(p, "t", new int[] {3, 2}, new int[] {1, 3});
    p.write(new byte[] {'u', '.'});
    ByteBuffer floats = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < 6; i++) {
      floats.putFloat(seed + i);
    }
    ByteArrayOutputStream zip = new ByteArrayOutputStream();
    try (ZipOutputStream z = new ZipOutputStream(zip)) {
      stored(z, "archive/data.pkl", p.toByteArray());
      stored(z, "archive/data/0", floats.array());
      stored(z, "archive/version", "3\n".getBytes(StandardCharsets.US_ASCII));
    }
    return zip.toByteArray();
  }

  /**
   * {@code name: _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 6), 0, size, stride, False, OrderedDict())}.
   */
  private static void view(ByteArrayOutputStream p, String name, int[] size, int[] stride) throws Exception {
    str(p, name);
    global(p, "torch._utils", "_rebuild_tensor_v2");
    p.write(new byte[] {'(', '('});
    str(p, "storage");
    global(p, "torch", "FloatStorage");
    str(p, "0");
    str(p, "cpu");
    binint(p, 6);
    p.write(new byte[] {'t', 'Q'});
    binint(p, 0);
    p.write('(');
    for (int s : size) {
      binint(p, s);
    }
    p.write(new byte[] {'t', '('});
    for (int s : stride) {
      binint(p, s);
    }
    p.write(new byte[] {'t', (byte) 0x89});
    global(p, "collections", "OrderedDict");
    p.write(new byte[] {')', 'R', 't', 'R'});
  }

  private static void global(ByteArrayOutputStream p, String module, String name) throws Exception {
    p.write('c');
    p.write((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
  }

  private static void str(ByteArrayOutputStream p, String s) throws Exception {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    p.write('X');
    p.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length).array());
    p.write(b);
  }

  private static void binint(ByteArrayOutputStream p, int v) throws Exception {
    p.write('J');
    p.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array());
  }

  private static void stored(ZipOutputStream z, String name, byte[] data) throws Exception {
    ZipEntry e = new ZipEntry(name);
    e.setMethod(ZipEntry.STORED);
    e.setSize(data.length);
    e.setCompressedSize(data.length);
    CRC32 crc = new CRC32();
    crc.update(data);
    e.setCrc(crc.getValue());
    z.putNextEntry(e);
    z.write(data);
    z.closeEntry();
  }
}
