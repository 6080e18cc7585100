package io.ferry.format.torch;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.export.TorchExport;
import io.ferry.format.DType;
import io.ferry.read.ModelReader;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.PullOptions;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.ZipEntry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint torch 2.13 wrote ({@code resources/torch2/make.py}): torch pickles float8 and uint16/32/64 tensors with
 * {@code _rebuild_tensor_v3} over a {@code torch.storage.UntypedStorage}, a name Ferry refused ("global
 * 'torch.storage.UntypedStorage' is not allowed") and did not write (its {@code pull --as torch} named
 * {@code torch.UntypedStorage}, which torch.load(weights_only=True) refuses).
 */
class Torch2FileTest {
  @TempDir Path tmp;

  private static byte[] counting(int n) {
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) {
      b[i] = (byte) i;
    }
    return b;
  }

  @Test
  void aCheckpointTorch2WroteWithUntypedStoragesIsReadAndWrittenBackAsTorchNamesThem() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    try (InputStream in = Torch2FileTest.class.getResourceAsStream("/torch2/torch2-untyped.pt")) {
      Files.copy(in, src.resolve("model.pt"));
    }
    Map<String, DType> dtypes = Map.of("f8_e4m3", DType.F8_E4M3, "f8_e5m2", DType.F8_E5M2, "f8_e8m0",
        DType.F8_E8M0, "u16", DType.U16, "u32", DType.U32, "u64", DType.U64, "bf16", DType.BF16, "u16_view",
        DType.U16);
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, "m", PushOptions.builder().build());
      try (ModelReader r = repo.open("m")) {
        assertThat(r.tensors()).extracting(l -> l.info().name())
            .containsExactlyInAnyOrderElementsOf(dtypes.keySet());
        for (ModelReader.Located l : r.tensors()) {
          assertThat(l.info().dtype()).as(l.info().name()).isEqualTo(dtypes.get(l.info().name()));
        }
        assertThat(r.tensor("f8_e4m3").info().shape()).containsExactly(2L, 3L);
        assertThat(r.read("f8_e4m3").array()).isEqualTo(counting(6));
        assertThat(r.read("u16").array()).isEqualTo(counting(10));
        assertThat(r.read("u32").array()).isEqualTo(counting(12));
        assertThat(r.read("u64").array()).isEqualTo(counting(16));
        // a view of u16's storage from its second element
        assertThat(r.read("u16_view").array()).isEqualTo(java.util.Arrays.copyOfRange(counting(10), 2, 8));

        Path out = tmp.resolve("out");
        assertThat(TorchExport.write(r, out, false).files()).containsExactly("model.pt");
        String pickle = dataPkl(out.resolve("model.pt"));
        assertThat(pickle).contains("torch.storage\nUntypedStorage").doesNotContain("ctorch\nUntypedStorage");
      }
      // the exported file is read back like torch's own
      Path again = Files.createDirectories(tmp.resolve("again"));
      Files.copy(tmp.resolve("out/model.pt"), again.resolve("model.pt"));
      repo.push(again, "m2", PushOptions.builder().build());
      try (ModelReader r = repo.open("m2")) {
        assertThat(r.read("f8_e8m0").array()).isEqualTo(counting(4));
      }
      repo.pull("m", tmp.resolve("pulled"), PullOptions.defaults());
      assertThat(tmp.resolve("pulled/model.pt")).hasSameBinaryContentAs(src.resolve("model.pt"));
    }
  }

  /** Pushes one checkpoint of the resources under {@code model.pt} and opens a reader of it. */
  private Path source(String resource) throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    try (InputStream in = Torch2FileTest.class.getResourceAsStream("/torch2/" + resource)) {
      Files.copy(in, src.resolve("model.pt"));
    }
    return src;
  }

  /**
   * Dicts with tuple keys, which torch.load(weights_only=True) reads, were refused ("dict key of type a tuple"). Such
   * a key is named as Python's repr writes it, nested tuples and quotes too, in tensor names and in values' JSON.
   */
  @Test
  void tupleKeysAreNamedAsPythonWritesThem() throws IOException {
    Path src = source("torch2-tuple-keys.pt");
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, "m", PushOptions.builder().build());
      try (ModelReader r = repo.open("m")) {
        assertThat(r.tensors()).extracting(l -> l.info().name()).containsExactlyInAnyOrder("w", "('enc', 0)",
            "s.('b',)", "s.(('n', None), True, \"it's\")");
        assertThat(r.read("('enc', 0)").array()).isEqualTo(counting(16));
        assertThat(r.read("s.('b',)").array()).isEqualTo(counting(6));
        assertThat(r.tensor("s.(('n', None), True, \"it's\")").info().dtype()).isEqualTo(DType.U8);
        assertThat(r.file("model.pt").metadata()).containsEntry("value.steps", "{\"(0, 'x')\":3}");
      }
      repo.pull("m", tmp.resolve("pulled"), PullOptions.defaults());
      assertThat(tmp.resolve("pulled/model.pt")).hasSameBinaryContentAs(src.resolve("model.pt"));
    }
  }

  /**
   * Tensors on the meta device ({@code _rebuild_meta_tensor_no_storage}, which torch.load(weights_only=True) reads)
   * were refused as a global not allowed. They have no bytes: each is a value giving its dtype, size and strides (a
   * parameter's too, and a root that is one), and the file is pulled byte-identical.
   */
  @Test
  void metaTensorsAreValuesWithoutBytes() throws IOException {
    Path src = source("torch2-meta.pt");
    Files.copy(Torch2FileTest.class.getResourceAsStream("/torch2/torch2-meta-root.pt"), src.resolve("root.pt"));
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, "m", PushOptions.builder().build());
      try (ModelReader r = repo.open("m")) {
        assertThat(r.tensors()).extracting(l -> l.info().name()).containsExactly("w");
        assertThat(r.read("w").array()).isEqualTo(counting(12));
        assertThat(r.file("model.pt").metadata()).containsOnly(
            Map.entry("value.meta", "{\"device\":\"meta\",\"dtype\":\"torch.float32\",\"shape\":[2,3],"
                + "\"stride\":[3,1]}"),
            Map.entry("value.meta_bf16", "{\"device\":\"meta\",\"dtype\":\"torch.bfloat16\",\"shape\":[2,4],"
                + "\"stride\":[1,2]}"),
            Map.entry("value.meta_param", "{\"device\":\"meta\",\"dtype\":\"torch.float32\",\"shape\":[5],"
                + "\"stride\":[1]}"));
        assertThat(r.file("root.pt").metadata()).containsOnly(Map.entry("value.tensor",
            "{\"device\":\"meta\",\"dtype\":\"torch.float32\",\"shape\":[3],\"stride\":[1]}"));
      }
      repo.pull("m", tmp.resolve("pulled"), PullOptions.defaults());
      assertThat(tmp.resolve("pulled/model.pt")).hasSameBinaryContentAs(src.resolve("model.pt"));
      assertThat(tmp.resolve("pulled/root.pt")).hasSameBinaryContentAs(src.resolve("root.pt"));
    }
  }

  /**
   * A {@code torch.layout} ({@code torch.serialization._get_layout('torch.strided')}) and a {@code torch.qscheme}
   * ({@code torch.per_channel_affine}) are values torch.load(weights_only=True) reads; Ferry refused them as globals
   * not allowed. They are recorded by name, as dtypes are.
   */
  @Test
  void layoutsAndQschemesAreValuesByName() throws IOException {
    Path src = source("torch2-layouts.pt");
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, "m", PushOptions.builder().build());
      try (ModelReader r = repo.open("m")) {
        assertThat(r.read("w").array()).isEqualTo(counting(8));
        assertThat(r.file("model.pt").metadata()).containsOnly(Map.entry("value.layout", "\"torch.strided\""),
            Map.entry("value.sparse", "\"torch.sparse_coo\""), Map.entry("value.q", "\"torch.per_channel_affine\""));
      }
      repo.pull("m", tmp.resolve("pulled"), PullOptions.defaults());
      assertThat(tmp.resolve("pulled/model.pt")).hasSameBinaryContentAs(src.resolve("model.pt"));
    }
  }

  /**
   * Dicts with float keys, which torch.load(weights_only=True) reads, were refused ("dict key of type a float"). Such
   * a key is named as Python's repr writes it.
   */
  @Test
  void floatKeysAreNamedAsPythonWritesThem() throws IOException {
    Path src = source("torch2-float-keys.pt");
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, "m", PushOptions.builder().build());
      try (ModelReader r = repo.open("m")) {
        assertThat(r.tensors()).extracting(l -> l.info().name()).containsExactlyInAnyOrder("w", "0.5", "g.1e-05");
        assertThat(r.read("0.5").array()).isEqualTo(counting(8));
        assertThat(r.read("g.1e-05").array()).isEqualTo(counting(2));
        assertThat(r.file("model.pt").metadata()).containsOnly(Map.entry("value.g.2.0", "3"));
      }
      repo.pull("m", tmp.resolve("pulled"), PullOptions.defaults());
      assertThat(tmp.resolve("pulled/model.pt")).hasSameBinaryContentAs(src.resolve("model.pt"));
    }
  }

  /** The archive's pickle as text, its GLOBAL opcodes' "module\nname" readable in it. */
  private static String dataPkl(Path archive) throws IOException {
    try (java.util.zip.ZipFile z = new java.util.zip.ZipFile(archive.toFile())) {
      for (ZipEntry e : java.util.Collections.list(z.entries())) {
        if (e.getName().endsWith("/data.pkl")) {
          try (InputStream in = z.getInputStream(e)) {
            return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
          }
        }
      }
    }
    throw new AssertionError("no data.pkl in " + archive);
  }
}
