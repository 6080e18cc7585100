package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.CorruptObjectException;
import io.ferry.id.ChunkId;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.TransferListener;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A copy sends only the objects the target lacks. With {@code --verify} it also checks the ones the target already
 * had, before any ref moves: a damaged copy there was published as it was, and the target's version could not be read.
 */
class CopyVerifyTest {
  @TempDir Path tmp;

  @Test
  void aDamagedObjectTheTargetAlreadyHadFailsAVerifiedCopyBeforeAnyRefMoves() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    byte[] big = new byte[600_000];
    new Random(3).nextBytes(big);
    Files.write(src.resolve("weights.bin"), big);
    Files.writeString(src.resolve("config.json"), "{\"v\": 1}");
    Path targetDir = tmp.resolve("target");
    try (Repository source = Ferry.open(tmp.resolve("source").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults());
        Repository target = Ferry.open(targetDir.toString(), StoreOptions.createIfMissing(),
            RepositoryOptions.defaults())) {
      source.push(src, "m", PushOptions.builder().message("one").build());
      source.copyTo("m", target, true, TransferListener.NONE);
      ChunkId first = target.resolve("m").id();
      ChunkId weights = target.snapshot(target.resolve("m")).file("weights.bin").orElseThrow().chunks().get(0).id();
      Path file = targetDir.resolve("objects").resolve(weights.hex().substring(0, 2))
          .resolve(weights.hex().substring(2));
      try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
        f.seek(f.length() - 1000);
        int b = f.read();
        f.seek(f.length() - 1000);
        f.write(b ^ 0x20);
      }
      // a second version shares the damaged chunk, which the copy does not send again
      Files.writeString(src.resolve("config.json"), "{\"v\": 2}");
      source.push(src, "m", PushOptions.builder().message("two").build());
      assertThatThrownBy(() -> source.copyTo("m", target, true, TransferListener.NONE))
          .isInstanceOf(CorruptObjectException.class).hasMessageContaining(weights.hex())
          .hasMessageContaining("nothing was published");
      assertThat(target.resolve("m").id()).as("the target's head did not move").isEqualTo(first);
    }
  }

  @Test
  void aDamagedPackInTheSourceFailsACopyWithoutVerifyAndLeavesTheTargetAsItWas() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.writeString(src.resolve("config.json"), "{\"hidden_size\": 64}");
    Files.writeString(src.resolve("tokenizer_config.json"), "{\"model_max_length\": 2048}");
    Path sourceDir = tmp.resolve("source");
    Path targetDir = tmp.resolve("target");
    try (Repository source = Ferry.open(sourceDir.toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults());
        Repository target = Ferry.open(targetDir.toString(), StoreOptions.createIfMissing(),
            RepositoryOptions.defaults())) {
      source.push(src, "m:prod", PushOptions.builder().message("one").build());
      ChunkId pack = source.resolve("m").version().packs().get(0);
      Path file = sourceDir.resolve("objects").resolve(pack.hex().substring(0, 2)).resolve(pack.hex().substring(2));
      try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
        f.seek(16 + 64 + 2); // within the payload of the pack's first frame
        int b = f.read();
        f.seek(16 + 64 + 2);
        f.write(b ^ 0x20);
      }
      // without --verify: the copy sent the pack as it was and published a version no one could read
      assertThatThrownBy(() -> source.copyTo("m:prod", target, false, TransferListener.NONE))
          .isInstanceOf(CorruptObjectException.class).hasMessageContaining(pack.hex());
      assertThat(target.refsOf("m")).as("no ref of the target moved").isEmpty();
      assertThat(Files.exists(targetDir.resolve("objects").resolve(pack.hex().substring(0, 2))
          .resolve(pack.hex().substring(2)))).as("the damaged pack was not left in the target").isFalse();
    }
  }

  @Test
  void aCopyReportsOnlyTheRefsItMoved() throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.writeString(src.resolve("config.json"), "{\"v\": 1}");
    try (Repository source = Ferry.open(tmp.resolve("source").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults());
        Repository target = Ferry.open(tmp.resolve("target").toString(), StoreOptions.createIfMissing(),
            RepositoryOptions.defaults())) {
      source.push(src, "m:prod", PushOptions.builder().message("one").build());
      assertThat(source.copyTo("m:prod", target, false, TransferListener.NONE).refsMoved())
          .containsExactlyInAnyOrder("m/head", "m/tags/prod");
      // copied again (a rerun after a copy that was stopped once its refs had moved): nothing moves; the tag was
      // reported moved all the same
      assertThat(source.copyTo("m:prod", target, false, TransferListener.NONE).refsMoved()).isEmpty();
      assertThat(target.refLog("m/tags/prod")).hasSize(1);
    }
  }
}
