package io.ferry.onnx;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.FormatInput;
import io.ferry.format.registry.FormatRegistry;
import io.ferry.testkit.Mutations;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Malformed variants of a valid ONNX model ({@link Mutations}: bits flipped, integers at their limits, cut short,
 * bytes inserted, deleted and repeated), read as a push reads them: each is read, or refused with an
 * {@link IOException} naming the file, never a {@link RuntimeException} or an {@link Error}. {@code
 * -Dferry.fuzz.seed} and {@code -Dferry.fuzz.rounds} change what runs.
 */
class OnnxFuzzTest {
  private static final long SEED = Mutations.SEED;
  private static final int ROUNDS = Integer.getInteger("ferry.fuzz.rounds", 1500);

  @TempDir Path tmp;

  @Test
  void malformedModelsAreReadOrRefusedNamingTheFile() throws Exception {
    byte[] valid = OnnxFiles.model(OnnxFiles.list(new OnnxFiles.Init("w", 1, 4, 4).raw(64, 1),
        new OnnxFiles.Init("h", 10, 8).raw(16, 2), new OnnxFiles.Init("ids", 7, 3).int64s(1, -2, 3),
        new OnnxFiles.Init("f", 1, 2).floats(0.5f, -1f), new OnnxFiles.Init("scalar", 1).raw(4, 3),
        new OnnxFiles.Init("ext", 1, 2).external(Map.of("location", "data.bin", "offset", "0", "length", "8"))));
    FormatRegistry registry = FormatRegistry.standard();
    Path file = tmp.resolve("model.onnx");
    Files.write(file, valid);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      // the valid model reads (its external initializer is the directory format's business)
      assertThat(registry.read(new FormatInput("model.onnx", ch, ch.size()))).isPresent();
    }
    Mutations.Outcome o = new Mutations(valid, valid.length, SEED).feed(ROUNDS, "model.onnx", bytes -> {
      Files.write(file, bytes);
      try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
        registry.read(new FormatInput("model.onnx", ch, ch.size()));
      }
    });
    assertThat(o.failures()).as("malformed ONNX models, %d rounds of seed %d", ROUNDS, SEED).isEmpty();
    assertThat(o.refused()).as("variants refused").isGreaterThan(ROUNDS / 10);
  }
}
