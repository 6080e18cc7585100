package io.ferry.cli;

import static io.ferry.cli.Files2.t;
import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ferry cat REF[//PATH] --tensor NAME [--rows FROM:TO]}: a tensor's bytes (or rows of it) on stdout, the same
 * bytes as the source file holds; a tensor that is missing, held by two files, or rows outside it are refused naming
 * them, with the store unchanged. Before, the CLI had no tensor read: only whole files.
 */
class CatTensorTest {
  @TempDir Path tmp;
  private Cli cli;
  private Path model;
  private final List<Tensor> main = List.of(t("w", DType.BF16, 1, 7, 33), t("s", DType.F32, 2),
      t("e", DType.F16, 3, 0, 4), t("büro.ü", DType.I8, 4, 5, 3));

  @BeforeEach
  void pushAModelWithATensorNameInTwoFiles() throws IOException {
    cli = new Cli(tmp.resolve("store")).init();
    model = tmp.resolve("m");
    Files2.safetensors(model.resolve("model.safetensors"), main.toArray(Tensor[]::new));
    Files2.safetensors(model.resolve("sub/other.safetensors"), t("w", DType.F32, 9, 3, 2));
    Files2.write(model.resolve("config.json"), "{}".getBytes(StandardCharsets.UTF_8));
    cli.push(model, "m:prod");
  }

  @Test
  void aTensorAndItsRowsAreTheSourceFilesBytes() throws Exception {
    byte[] w = slice(model.resolve("model.safetensors"), main, "w");
    long row = 33 * 2;
    assertThat(cat("m//model.safetensors", "--tensor", "w")).isEqualTo(w);
    assertThat(cat("m:prod//model.safetensors", "--tensor", "w", "--rows", "2:5"))
        .isEqualTo(Arrays.copyOfRange(w, (int) (2 * row), (int) (5 * row)));
    assertThat(cat("m//model.safetensors", "--tensor", "w", "--rows", "5:"))
        .isEqualTo(Arrays.copyOfRange(w, (int) (5 * row), w.length));
    // a name only one file holds needs no path; a scalar, an empty tensor and a unicode name
    assertThat(cat("m", "--tensor", "s")).isEqualTo(slice(model.resolve("model.safetensors"), main, "s")).hasSize(4);
    assertThat(cat("m", "--tensor", "e")).isEmpty();
    assertThat(cat("m", "--tensor", "büro.ü", "--rows", "4:5"))
        .isEqualTo(Arrays.copyOfRange(slice(model.resolve("model.safetensors"), main, "büro.ü"), 12, 15));
    assertThat(cat("m//sub/other.safetensors", "--tensor", "w"))
        .isEqualTo(slice(model.resolve("sub/other.safetensors"), List.of(t("w", DType.F32, 9, 3, 2)), "w"));
  }

  @Test
  void whatCannotBeReadIsRefusedNamingItAndTheStoreStaysAsItWas() {
    var before = cli.state();
    cli.run("cat", "m", "--tensor", "w").exits(1)
        .oneLineError("'w' in each of 2 files", "model.safetensors", "sub/other.safetensors", "m//model.safetensors");
    cli.run("cat", "m", "--tensor", "ww").exits(1).oneLineError("has no tensor 'ww'", "did you mean 'w'");
    cli.run("cat", "m//config.json", "--tensor", "w").exits(1).oneLineError("config.json", "holds no tensors");
    cli.run("cat", "m//nope.safetensors", "--tensor", "w").exits(1).oneLineError("nope.safetensors");
    cli.run("cat", "m//model.safetensors", "--tensor", "w", "--rows", "0:8").exits(1)
        .oneLineError("rows [0, 8)", "'w'", "7 rows");
    // FROM: reads to the end: a FROM past it is named as such, not as a range whose end the user never gave
    cli.run("cat", "m//model.safetensors", "--tensor", "w", "--rows", "9:").exits(1)
        .oneLineError("row 9 (--rows 9:) is past the end of tensor 'w' of model.safetensors", "7 rows");
    cli.run("cat", "m", "--tensor", "s", "--rows", "0:1").exits(1).oneLineError("'s'", "a scalar has no rows");
    assertThat(cli.run("cat", "m", "--tensor", "e", "--rows", "5:2").exits(2).err()).contains("--rows 5:2", "inverted");
    assertThat(cli.run("cat", "m", "--tensor", "e", "--rows", "5").exits(2).err()).contains("--rows 5", "FROM:TO");
    assertThat(cli.run("cat", "m", "--tensor", "e", "--rows", "-1:2").exits(2).err())
        .contains("'-1' is not a row number");
    assertThat(cli.run("cat", "m//model.safetensors", "--rows", "0:1").exits(2).err())
        .contains("--rows 0:1", "--tensor NAME");
    cli.run("cat", "m").exits(1).oneLineError("names no file");
    assertThat(cli.state()).isEqualTo(before);
  }

  /**
   * A tensor of a version no ref reaches, whose chunk a gc removed (a gc killed midway), was reported as damage with
   * advice to run verify, where cat of a file of the same version said it is no longer in the store: --tensor, with or
   * without --rows, says so too (exit 1), and so does pull --as, which converts through the same reader.
   */
  @Test
  void aTensorWhoseChunkGcRemovedIsGoneNotDamaged() throws IOException {
    Path gone = tmp.resolve("gone");
    Files2.safetensors(gone.resolve("model.safetensors"), t("big", DType.F32, 5, 300, 256));
    cli.push(gone, "gone");
    String ref;
    io.ferry.id.ChunkId chunk;
    try (io.ferry.repo.Repository repo = io.ferry.Ferry.open(cli.store.toString())) {
      io.ferry.repo.Results.VersionRef v = repo.resolve("gone");
      ref = "gone@" + v.id().shortHex(12);
      chunk = repo.snapshot(v).files().get(0).chunks().stream().filter(c -> c.length() == 300 * 256 * 4)
          .findFirst().orElseThrow().id();
    }
    cli.run("rm", "gone").ok();
    Files.delete(cli.store.resolve("objects").resolve(chunk.hex().substring(0, 2)).resolve(chunk.hex().substring(2)));
    cli.run("cat", ref, "--tensor", "big").exits(1)
        .oneLineError(ref + " is no longer in", "no ref reaches it", chunk.shortHex(12));
    assertThat(cli.run("cat", ref, "--tensor", "big", "--rows", "1:2").exits(1)
        .oneLineError(ref + " is no longer in", "no ref reaches it").err()).doesNotContain("ferry verify");
    cli.run("pull", ref, tmp.resolve("as-torch").toString(), "--as", "torch").exits(1)
        .oneLineError(ref + " is no longer in", "no ref reaches it");
  }

  /** The tensor's bytes as the safetensors file holds them (its tensors written in this order). */
  private static byte[] slice(Path file, List<Tensor> tensors, String name) throws IOException {
    byte[] all = Files.readAllBytes(file);
    long at = 8 + ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    for (Tensor t : tensors) {
      if (t.name().equals(name)) {
        return Arrays.copyOfRange(all, (int) at, (int) (at + t.byteLength()));
      }
      at += t.byteLength();
    }
    throw new AssertionError("no tensor " + name);
  }

  /**
   * An ONNX initializer with external data is a tensor of its data file; asked for in the {@code .onnx} file, which
   * names it, it was "model.onnx holds no tensors" and nothing more. The message now says which file lists it.
   */
  @Test
  void anOnnxInitializerAskedForInItsModelFileIsNamedInItsDataFile() throws Exception {
    Path onnx = Files.createDirectories(tmp.resolve("o"));
    byte[] w = new byte[16];
    Arrays.fill(w, (byte) 7);
    Files.write(onnx.resolve("w.bin"), w);
    byte[] external = concat(field(1, "location"), field(2, "w.bin"));
    byte[] init = concat(new byte[] {0x08, 0x04, 0x10, 0x01}, field(8, "w"), field(13, external),
        new byte[] {0x70, 0x01}); // dims [4], FLOAT, name, external_data, data_location EXTERNAL
    Files.write(onnx.resolve("model.onnx"), concat(new byte[] {0x08, 0x08}, field(7, field(5, init)),
        field(8, new byte[] {0x10, 0x11}))); // ir_version 8, graph with the initializer, opset 17
    cli.push(onnx, "o");
    assertThat(cat("o//w.bin", "--tensor", "w")).isEqualTo(w);
    cli.run("cat", "o//model.onnx", "--tensor", "w").exits(1).oneLineError("model.onnx of o holds no tensors",
        "in model.onnx, 'w' is an initializer whose data is external (F32 [4] in w.bin at 0+16): it is tensor 'w'"
            + " of w.bin");
  }

  /**
   * Asked for in an ONNX data file stored opaque (here by {@code --opaque}), an initializer was "w.bin holds no
   * tensors" and nothing more; the message now says what the {@code .onnx} file that points into it records.
   */
  @Test
  void anOnnxInitializerAskedForInItsOpaqueDataFileIsDescribed() throws Exception {
    Path onnx = Files.createDirectories(tmp.resolve("o"));
    Files.write(onnx.resolve("w.bin"), new byte[16]);
    byte[] external = concat(field(1, "location"), field(2, "w.bin"));
    byte[] init = concat(new byte[] {0x08, 0x04, 0x10, 0x01}, field(8, "w"), field(13, external),
        new byte[] {0x70, 0x01});
    Files.write(onnx.resolve("model.onnx"), concat(new byte[] {0x08, 0x08}, field(7, field(5, init)),
        field(8, new byte[] {0x10, 0x11})));
    cli.push(onnx, "o", "--opaque", "w.bin");
    cli.run("cat", "o//w.bin", "--tensor", "w").exits(1).oneLineError("w.bin of o holds no tensors",
        "in model.onnx, 'w' is an initializer whose data is external (F32 [4] in w.bin at 0+16), in a file Ferry"
            + " stores as opaque bytes");
  }

  /** A length-delimited protobuf field (lengths under 128). */
  private static byte[] field(int number, byte[] value) {
    return concat(new byte[] {(byte) (number << 3 | 2), (byte) value.length}, value);
  }

  private static byte[] field(int number, String value) {
    return field(number, value.getBytes(StandardCharsets.UTF_8));
  }

  private static byte[] concat(byte[]... parts) {
    ByteBuffer b = ByteBuffer.allocate(Arrays.stream(parts).mapToInt(x -> x.length).sum());
    Arrays.stream(parts).forEach(b::put);
    return b.array();
  }

  /** Runs {@code ferry cat ARGS} in a child JVM (cat writes to the process's fd 1) and returns its stdout. */
  private byte[] cat(String... args) throws Exception {
    Path out = Files.createTempFile(tmp, "cat", ".bin");
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
        FerryCli.class.getName(), "cat", "--store", cli.store.toString()));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectOutput(out.toFile())
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(String.join(" ", args)).isZero();
    return Files.readAllBytes(out);
  }
}
