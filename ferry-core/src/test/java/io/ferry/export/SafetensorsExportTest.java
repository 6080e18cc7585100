package io.ferry.export;

import static io.ferry.export.TorchExportTest.spec;
import static io.ferry.export.TorchExportTest.t;
import static io.ferry.export.TorchExportTest.write;
import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.format.DType;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.TensorInfo;
import io.ferry.format.registry.FormatRegistry;
import io.ferry.read.ModelReader;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.version.FileEntry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code pull --as safetensors} names its files as transformers looks for them: {@code pytorch_model.bin} was written
 * as {@code pytorch_model.safetensors}, which transformers does not load ("no file named model.safetensors, or
 * pytorch_model.bin"), and a sharded checkpoint's {@code pytorch_model.bin.index.json} was copied as it was, naming
 * {@code .bin} shards the pull had not written.
 */
class SafetensorsExportTest {
  @TempDir Path tmp;

  @Test
  void torchNamesBecomeTheNamesTransformersLoads() {
    Set<String> none = Set.of();
    assertThat(SafetensorsExport.safetensorsName("pytorch_model.bin", none)).isEqualTo("model.safetensors");
    assertThat(SafetensorsExport.safetensorsName("a/pytorch_model-00001-of-00003.bin", none))
        .isEqualTo("a/model-00001-of-00003.safetensors");
    assertThat(SafetensorsExport.safetensorsName("unet/diffusion_pytorch_model.bin", none))
        .isEqualTo("unet/diffusion_pytorch_model.safetensors");
    assertThat(SafetensorsExport.safetensorsName("ckpt.pt", none)).isEqualTo("ckpt.safetensors");
    assertThat(SafetensorsExport.safetensorsName("weights", none)).isEqualTo("weights.safetensors");
    assertThat(SafetensorsExport.safetensorsName("pytorch_model_fp16.bin", none))
        .isEqualTo("pytorch_model_fp16.safetensors");
    // a model published in both formats keeps its own model.safetensors
    assertThat(SafetensorsExport.safetensorsName("pytorch_model.bin", Set.of("model.safetensors")))
        .isEqualTo("pytorch_model.safetensors");
  }

  private static FileEntry entry(String path, String format) {
    return new FileEntry(path, 0, "0".repeat(64), format, 0, Map.of(), List.of(), List.of());
  }

  @Test
  void anIndexIsRenamedOnlyWhenItsShardsAreConverted() {
    FileEntry index = entry("pytorch_model.bin.index.json", "opaque");
    FileEntry shard = entry("pytorch_model-00001-of-00001.bin", "torch");
    FileEntry opaqueShard = entry("pytorch_model-00001-of-00001.bin", "opaque");
    assertThat(SafetensorsExport.names(List.of(index, shard))).containsEntry("pytorch_model.bin.index.json",
        "model.safetensors.index.json").containsEntry(shard.path(), "model-00001-of-00001.safetensors");
    // shards kept as bytes (--opaque) stay .bin, and so does the index that names them
    assertThat(SafetensorsExport.names(List.of(index, opaqueShard))).isEmpty();
  }

  @Test
  void aShardedTorchCheckpointComesBackAsShardsAndAnIndexTransformersReads() throws IOException {
    Path src = tmp.resolve("src");
    Map<String, byte[]> shard1 = write(src.resolve("model-00001-of-00002.safetensors"), spec(
        t("embed.weight", DType.BF16, 30, 10), t("norm", DType.F32, 10)), 1);
    Map<String, byte[]> shard2 = write(src.resolve("model-00002-of-00002.safetensors"), spec(
        t("lm_head.weight", DType.F16, 10, 30)), 2);
    Files.writeString(src.resolve("model.safetensors.index.json"), "{\"metadata\": {\"total_size\": 1}, "
        + "\"weight_map\": {\"embed.weight\": \"model-00001-of-00002.safetensors\", \"norm\": "
        + "\"model-00001-of-00002.safetensors\", \"lm_head.weight\": \"model-00002-of-00002.safetensors\"}}");
    Files.writeString(src.resolve("config.json"), "{}");
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, "st", PushOptions.builder().build());
      Path torch = tmp.resolve("torch");
      try (ModelReader r = repo.open("st")) {
        Export.write(r, torch, false, Export.As.TORCH);
      }
      repo.push(torch, "bin", PushOptions.builder().build());
      Path out = tmp.resolve("out");
      Export.Result res;
      try (ModelReader r = repo.open("bin")) {
        res = Export.write(r, out, false, Export.As.SAFETENSORS);
      }
      assertThat(res.files()).containsExactlyInAnyOrder("config.json", "model.safetensors.index.json",
          "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors");
      String idx = Files.readString(out.resolve("model.safetensors.index.json"));
      assertThat(idx).contains("\"lm_head.weight\" : \"model-00002-of-00002.safetensors\"")
          .contains("\"norm\" : \"model-00001-of-00002.safetensors\"").doesNotContain(".bin");
      assertTensors(out.resolve("model-00001-of-00002.safetensors"), shard1);
      assertTensors(out.resolve("model-00002-of-00002.safetensors"), shard2);
      // what was written pushes as a sharded safetensors model: its index names files that are there
      repo.push(out, "again", PushOptions.builder().build());
    }
  }

  private static void assertTensors(Path file, Map<String, byte[]> want) throws IOException {
    try (FileChannel ch = FileChannel.open(file)) {
      FileLayout l = FormatRegistry.standard().read(new FormatInput(file.getFileName().toString(), ch, ch.size()))
          .orElseThrow();
      assertThat(l.tensors()).extracting(TensorInfo::name).containsExactlyInAnyOrderElementsOf(want.keySet());
      for (TensorInfo t : l.tensors()) {
        ByteBuffer b = ByteBuffer.allocate((int) (t.end() - t.begin()));
        ch.read(b, l.dataStart() + t.begin());
        assertThat(b.array()).as(t.name()).isEqualTo(want.get(t.name()));
      }
    }
  }
}
