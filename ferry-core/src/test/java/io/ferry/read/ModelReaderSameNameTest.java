package io.ferry.read;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.error.NotFoundException;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two files of one version that hold a tensor of the same name (a diffusers pipeline: {@code unet/} and {@code vae/}
 * both hold {@code conv_in.weight}): the reader lists both, refuses the bare name naming both files, reads each by
 * its file, and streams both; it never gives one file's bytes for the other's tensor.
 */
class ModelReaderSameNameTest {
  private static final String UNET = "unet/diffusion_pytorch_model.safetensors";
  private static final String VAE = "vae/diffusion_pytorch_model.safetensors";

  @TempDir Path tmp;

  private Repository repo;
  private final byte[] unetConv = f32(4 * 8, 1);
  private final byte[] vaeConv = f32(2 * 3, 2);
  private final byte[] vaeOnly = f32(5, 3);

  @BeforeEach
  void aPipelineOfTwoFilesWithOneName() throws IOException {
    Path src = tmp.resolve("pipeline");
    writeSafetensors(src.resolve(UNET), List.of("conv_in.weight", "[4,8]", unetConv));
    writeSafetensors(src.resolve(VAE), List.of("conv_in.weight", "[2,3]", vaeConv, "decoder.bias", "[5]", vaeOnly));
    repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    repo.push(src, "p", PushOptions.builder().message("two files, one name").build());
  }

  @AfterEach
  void close() throws IOException {
    repo.close();
  }

  /**
   * A diff of two such versions where only unet's conv_in.weight changed: diff matched tensors by name alone, kept
   * one file's, and reported nothing changed (exit 0). Each file's tensor is matched within its file now.
   */
  @Test
  void aDiffMatchesANameTwoFilesHoldWithinEachFile() throws IOException {
    Path src = tmp.resolve("pipeline");
    writeSafetensors(src.resolve(UNET), List.of("conv_in.weight", "[4,8]", f32(4 * 8, 9)));
    repo.push(src, "p", PushOptions.builder().message("unet changed").build());
    io.ferry.repo.Results.Diff d = repo.diff("p~1", "p");
    assertThat(d.tensors()).hasSize(1);
    io.ferry.repo.Results.TensorDiff t = d.tensors().get(0);
    assertThat(t.name()).isEqualTo("conv_in.weight");
    assertThat(t.file()).isEqualTo(UNET);
    assertThat(t.change()).isEqualTo(io.ferry.repo.Results.Change.CHANGED);
    assertThat(d.unchangedTensors()).isEqualTo(2);
  }

  @Test
  void everyTensorIsListedAndTheBareNameIsRefusedNamingBothFiles() throws IOException {
    try (ModelReader r = repo.open("p")) {
      assertThat(r.tensors()).extracting(t -> t.file().path() + ":" + t.info().name())
          .containsExactly(UNET + ":conv_in.weight", VAE + ":conv_in.weight", VAE + ":decoder.bias");
      for (ThrowingRead read : List.<ThrowingRead>of(() -> r.tensor("conv_in.weight"),
          () -> r.read("conv_in.weight"), () -> r.read("conv_in.weight", ByteBuffer.allocate(1024)),
          () -> r.readRows("conv_in.weight", 0, 1), () -> r.readRows("conv_in.weight", 0, 1, ByteBuffer.allocate(64)))) {
        assertThatThrownBy(read::run).isInstanceOf(InvalidInputException.class)
            .hasMessageContaining("'conv_in.weight'").hasMessageContaining(UNET).hasMessageContaining(VAE);
      }
      assertThat(bytes(r.read("decoder.bias"))).isEqualTo(vaeOnly);
    }
  }

  @Test
  void eachFilesTensorIsReadFromItsOwnFile() throws IOException {
    try (ModelReader r = repo.open("p")) {
      ModelReader.Located vae = r.tensor(VAE, "conv_in.weight");
      assertThat(vae.info().shape()).containsExactly(2L, 3L);
      assertThat(bytes(r.read(vae))).isEqualTo(vaeConv);
      assertThat(bytes(r.readRows(vae, 1, 2))).isEqualTo(Arrays.copyOfRange(vaeConv, 12, 24));
      ModelReader.Located unet = r.tensor(UNET, "conv_in.weight");
      ByteBuffer direct = ByteBuffer.allocateDirect(unetConv.length);
      r.read(unet, direct);
      assertThat(bytes(direct.flip())).isEqualTo(unetConv);
      ByteBuffer rows = ByteBuffer.allocateDirect(64);
      r.readRows(unet, 3, 4, rows);
      assertThat(bytes(rows.flip())).isEqualTo(Arrays.copyOfRange(unetConv, 96, 128));
      assertThatThrownBy(() -> r.readRows(vae, 0, 3)).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("rows [0, 3) are outside tensor 'conv_in.weight' with 2 rows");
      assertThatThrownBy(() -> r.tensor(UNET, "decoder.bias")).isInstanceOf(NotFoundException.class)
          .hasMessageContaining("'decoder.bias'").hasMessageContaining(UNET);
      assertThatThrownBy(() -> r.tensor("text_encoder/model.safetensors", "conv_in.weight"))
          .isInstanceOf(NotFoundException.class).hasMessageContaining("text_encoder/model.safetensors");
    }
  }

  @Test
  void aStreamGivesBothTensorsEachWithItsOwnBytes() throws IOException {
    List<String> seen = new ArrayList<>();
    List<byte[]> data = new ArrayList<>();
    try (ModelReader r = repo.open("p")) {
      r.forEachTensor((t, b) -> {
        seen.add(t.file().path() + ":" + t.info().name());
        data.add(bytes(b));
      });
    }
    assertThat(seen).containsExactly(UNET + ":conv_in.weight", VAE + ":conv_in.weight", VAE + ":decoder.bias");
    assertThat(data.get(0)).isEqualTo(unetConv);
    assertThat(data.get(1)).isEqualTo(vaeConv);
    assertThat(data.get(2)).isEqualTo(vaeOnly);
  }

  @Test
  void aTensorOfAnotherVersionIsNotReadAsOneOfThis() throws IOException {
    Path other = tmp.resolve("other");
    writeSafetensors(other.resolve(VAE), List.of("conv_in.weight", "[6]", f32(6, 9)));
    repo.push(other, "q", PushOptions.builder().message("same path, other tensor").build());
    try (ModelReader p = repo.open("p"); ModelReader q = repo.open("q")) {
      ModelReader.Located theirs = q.tensor("conv_in.weight");
      assertThatThrownBy(() -> p.read(theirs)).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("'conv_in.weight'").hasMessageContaining(VAE).hasMessageContaining("is not the one");
      // the same tensor found through another reader of the same version is the same tensor
      try (ModelReader p2 = repo.open("p")) {
        assertThat(bytes(p.read(p2.tensor(VAE, "conv_in.weight")))).isEqualTo(vaeConv);
      }
    }
  }

  @FunctionalInterface
  interface ThrowingRead {
    void run() throws IOException;
  }

  static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  static byte[] f32(int n, int seed) {
    ByteBuffer b = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < n; i++) {
      b.putFloat(seed * 1000 + i + 0.5f);
    }
    return b.array();
  }

  /** A safetensors file of F32 tensors given as name, shape (JSON), bytes, ... in file order. */
  static void writeSafetensors(Path file, List<Object> tensors) throws IOException {
    StringBuilder h = new StringBuilder("{");
    long at = 0;
    List<byte[]> data = new ArrayList<>();
    for (int i = 0; i < tensors.size(); i += 3) {
      byte[] d = (byte[]) tensors.get(i + 2);
      h.append(i > 0 ? "," : "").append('"').append(tensors.get(i)).append("\":{\"dtype\":\"F32\",\"shape\":")
          .append(tensors.get(i + 1)).append(",\"data_offsets\":[").append(at).append(',').append(at + d.length)
          .append("]}");
      at += d.length;
      data.add(d);
    }
    byte[] header = h.append('}').toString().getBytes(StandardCharsets.UTF_8);
    Files.createDirectories(file.getParent());
    try (var out = Files.newOutputStream(file)) {
      out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
      out.write(header);
      for (byte[] d : data) {
        out.write(d);
      }
    }
  }
}
