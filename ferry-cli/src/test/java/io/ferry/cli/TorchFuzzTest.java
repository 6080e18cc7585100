package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.FormatInput;
import io.ferry.format.torch.Unpickler;
import io.ferry.format.registry.FormatRegistry;
import io.ferry.testkit.Mutations;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Malformed variants ({@link Mutations}) of files real PyTorch wrote (resources {@code torch-seeds/}): checkpoints as
 * zip archives and in the legacy format, read as a push reads them, and bare pickles, read by the {@link Unpickler}
 * (inside an archive most damage to the pickle is caught by the zip's CRC first, so the unpickler is fed directly).
 * Each variant is read, or refused with an {@link IOException} naming the file; never a {@link RuntimeException} or
 * an {@link Error}. {@code -Dferry.fuzz.seed} and {@code -Dferry.fuzz.rounds} change what runs.
 */
class TorchFuzzTest {
  private static final long SEED = Mutations.SEED;
  private static final int ROUNDS = Integer.getInteger("ferry.fuzz.rounds", 1500);

  @TempDir Path tmp;

  @ParameterizedTest
  @ValueSource(strings = {"zip.pt", "legacy.pt", "proto5.pt", "data.pkl", "proto5.pkl"})
  void malformedCheckpointsAndPicklesAreReadOrRefusedNamingTheFile(String seedFile) throws Exception {
    byte[] valid;
    try (InputStream in = TorchFuzzTest.class.getResourceAsStream("/torch-seeds/" + seedFile)) {
      valid = in.readAllBytes();
    }
    boolean pickle = seedFile.endsWith(".pkl");
    String name = pickle ? "m.pt: archive/data.pkl" : seedFile;
    // the valid file reads
    check(seedFile, pickle, name, valid);
    long seed = SEED ^ seedFile.hashCode();
    Mutations.Outcome o = new Mutations(valid, valid.length, seed).feed(ROUNDS, name,
        bytes -> check(seedFile, pickle, name, bytes));
    assertThat(o.failures()).as("malformed %s, %d rounds of seed %d", seedFile, ROUNDS, seed).isEmpty();
    assertThat(o.refused()).as("variants refused").isGreaterThan(ROUNDS / 10);
  }

  private void check(String seedFile, boolean pickle, String name, byte[] bytes) throws IOException {
    if (pickle) {
      Unpickler.load(name, ByteBuffer.wrap(bytes));
      return;
    }
    Path file = tmp.resolve(seedFile);
    Files.write(file, bytes);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      assertThat(FormatRegistry.standard().read(new FormatInput(seedFile, ch, ch.size()))).isPresent();
    }
  }
}
