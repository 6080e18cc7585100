package io.ferry.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.Backend;
import io.ferry.store.StoreLayers;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.PullOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A source file written while it is pushed (DESIGN invariant 11): the push fails with a clear error and the store is
 * as it was; the bytes a push stores are the bytes it hashed, so a later clean push of the original cannot reuse a
 * poisoned chunk. The writer runs at a fixed point, between the push finding that the store lacks a chunk (its
 * {@code contains}) and writing it, through {@link FaultyChunkStore#afterContains}; no sleeps.
 */
class PushChangingSourceTest {
  /** Big enough to be stored as objects of their own (not packed), so that the push asks the store for each. */
  private static final int CHUNK = 1 << 20;

  @TempDir Path tmp;
  private Path store;
  private Path source;
  private byte[] original;

  @BeforeEach
  void opaqueFileOfSeveralChunks() throws IOException {
    store = tmp.resolve("store");
    try (Repository repo = Ferry.open(store.toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      Path first = tmp.resolve("first.bin");
      Files.write(first, bytes(300_000, 1));
      repo.push(first, "other", PushOptions.builder().message("an earlier model").build());
    }
    source = tmp.resolve("src");
    Files.createDirectories(source);
    original = bytes(6 * CHUNK, 7);
    Files.write(source.resolve("weights.bin"), original);
    // file times are as coarse as the kernel's clock tick: date the file back, so that any write is seen as one
    Files.setLastModifiedTime(source.resolve("weights.bin"), FileTime.fromMillis(1_600_000_000_000L));
  }

  private static byte[] bytes(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  /** What a writer does to the file at the fixed point. */
  @FunctionalInterface
  private interface Change {
    void apply(FileChannel file) throws IOException;
  }

  /** Pushes with {@code change} applied once, after the first contains of a chunk; the push must fail. */
  private void pushWhileChanging(Change change, String expected) throws IOException {
    Map<String, String> before = objectsAndRefs();
    AtomicBoolean done = new AtomicBoolean();
    Backend local = Ferry.openBackend(store.toString(), StoreOptions.existing());
    FaultyChunkStore faulty = new FaultyChunkStore(local.chunks()).afterContains((id, present) -> {
      if (!present && done.compareAndSet(false, true)) {
        try (FileChannel f = FileChannel.open(source.resolve("weights.bin"), StandardOpenOption.WRITE)) {
          change.apply(f);
        }
      }
    });
    try (Repository repo = Repository.open(StoreLayers.layered(local, faulty), RepositoryOptions.defaults())) {
      assertThatThrownBy(() -> repo.push(source, "m", PushOptions.builder().message("changing").build()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("weights.bin changed while it was pushed")
          .hasMessageContaining(expected)
          .hasMessageContaining("nothing was stored");
      assertThat(done).as("the writer ran").isTrue();
      assertThat(repo.models()).hasSize(1);
    }
    assertThat(objectsAndRefs()).as("objects and refs after a push whose source changed").isEqualTo(before);
  }

  /** Every object and ref log of the store with its content's SHA-256 (empty fan-out directories left aside). */
  private Map<String, String> objectsAndRefs() throws IOException {
    Map<String, String> out = new java.util.TreeMap<>();
    DirectoryState.of(store).forEach((path, sha) -> {
      if (!sha.equals("dir") && (path.startsWith("objects/") || path.startsWith("refs/"))) {
        out.put(path, sha);
      }
    });
    assertThat(out).isNotEmpty();
    return out;
  }

  /** The original pushed cleanly then pulls back byte for byte, with every chunk's SHA-256 checked. */
  private void cleanPushPullsBackTheOriginal() throws IOException {
    Files.write(source.resolve("weights.bin"), original);
    try (Repository repo = Ferry.open(store.toString())) {
      repo.push(source, "m", PushOptions.builder().message("clean").build());
      Path dest = tmp.resolve("dest");
      repo.pull("m", dest, PullOptions.defaults().withVerify(true));
      assertThat(Files.readAllBytes(dest.resolve("weights.bin"))).isEqualTo(original);
      assertThat(repo.verify("m", io.ferry.transfer.TransferListener.NONE).ok()).isTrue();
    }
  }

  @Test
  void aRewriteBetweenHashAndWriteFailsThePushAndPoisonsNothing() throws IOException {
    pushWhileChanging(f -> {
      // overwrite every chunk in place: same size, other bytes
      ByteBuffer junk = ByteBuffer.wrap(bytes(original.length, 99));
      f.write(junk, 0);
    }, "modification time");
    cleanPushPullsBackTheOriginal();
  }

  @Test
  void truncationMidPushIsAClearErrorNotACrash() throws IOException {
    pushWhileChanging(f -> f.truncate(CHUNK + CHUNK / 2), "changed while it was pushed");
    cleanPushPullsBackTheOriginal();
  }

  @Test
  void anAppendMidPushFailsThePush() throws IOException {
    pushWhileChanging(f -> f.write(ByteBuffer.wrap(bytes(4096, 5)), original.length), "size");
    cleanPushPullsBackTheOriginal();
  }

  /**
   * A file with a second name (a checkpoint staged by a hard link, as {@code checkpoint push --async} does) whose other
   * name training renames and then deletes while the push reads it: its bytes did not change, only its status-change
   * time (the link count and the rename). The push failed, "changed while it was pushed"; it succeeds.
   */
  @Test
  void renamingAndRemovingAnotherNameOfTheFileDoesNotFailThePush() throws IOException {
    Path other = tmp.resolve("trainer-weights.bin");
    Files.createLink(other, source.resolve("weights.bin"));
    Object before = Files.getAttribute(source.resolve("weights.bin"), "unix:ctime");
    AtomicBoolean done = new AtomicBoolean();
    Backend local = Ferry.openBackend(store.toString(), StoreOptions.existing());
    FaultyChunkStore faulty = new FaultyChunkStore(local.chunks()).afterContains((id, present) -> {
      if (!present && done.compareAndSet(false, true)) {
        // rename it until its status-change time moves on: file times are as coarse as the kernel's clock tick
        Path renamed = tmp.resolve("trainer-weights.old");
        for (int i = 0; i < 1_000_000 && before.equals(Files.getAttribute(other, "unix:ctime")); i++) {
          Files.move(other, renamed);
          Files.move(renamed, other);
        }
        assertThat(Files.getAttribute(other, "unix:ctime")).as("status change time").isNotEqualTo(before);
        Files.delete(other);
      }
    });
    try (Repository repo = Repository.open(StoreLayers.layered(local, faulty), RepositoryOptions.defaults())) {
      repo.push(source, "m", PushOptions.builder().message("staged").build());
      assertThat(done).as("the trainer ran").isTrue();
      Path dest = tmp.resolve("dest");
      repo.pull("m", dest, PullOptions.defaults().withVerify(true));
      assertThat(Files.readAllBytes(dest.resolve("weights.bin"))).isEqualTo(original);
    }
  }

  /**
   * A file whose bytes change while it is pushed in a way its stamp cannot see: written through another name (its
   * status-change time is not compared for a file of several names) and dated back, as a write within one tick of a
   * coarse file clock leaves the times as they were. The push read the file's chunks after the change and its
   * whole-file SHA-256 before it, and stored a file whose recorded SHA-256 was not that of its chunks; it fails. One
   * worker thread runs the whole-file hash first and the chunks after it, so the two reads straddle the change.
   */
  @Test
  void aChangeTheStampCannotSeeFailsThePushInsteadOfRecordingAWrongFileHash() throws IOException {
    Path other = tmp.resolve("trainer-weights.bin");
    Files.createLink(other, source.resolve("weights.bin"));
    FileTime dated = Files.getLastModifiedTime(source.resolve("weights.bin"));
    Map<String, String> before = objectsAndRefs();
    AtomicBoolean done = new AtomicBoolean();
    Backend local = Ferry.openBackend(store.toString(), StoreOptions.existing());
    FaultyChunkStore faulty = new FaultyChunkStore(local.chunks()).afterContains((id, present) -> {
      if (!present && done.compareAndSet(false, true)) {
        Files.write(other, bytes(original.length, 99));
        Files.setLastModifiedTime(other, dated);
      }
    });
    try (Repository repo = Repository.open(StoreLayers.layered(local, faulty),
        RepositoryOptions.defaults().withParallelism(1))) {
      assertThatThrownBy(() -> repo.push(source, "m", PushOptions.builder().message("changing").build()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("weights.bin changed while it was pushed")
          .hasMessageContaining("nothing was stored");
      assertThat(done).as("the writer ran").isTrue();
      assertThat(repo.models()).hasSize(1);
    }
    assertThat(objectsAndRefs()).as("objects and refs after a push whose source changed").isEqualTo(before);
  }
  /**
   * A safetensors header rewritten in place (the same length, through another hard link, the modification time put
   * back) after the scan read it and before either read of the file's chunks: both reads agree, and the stamp does not
   * show it, so the push recorded the scan's tensor table beside the bytes of another header. It fails.
   */
  @Test
  void aHeaderRewrittenAfterTheScanFailsThePushInsteadOfRecordingAnotherTensorTable() throws IOException {
    Path model = source.resolve("model.safetensors");
    ModelGenerator.writeSafetensors(model, named("alpha"), Map.of());
    Path other = tmp.resolve("trainer.safetensors");
    Files.createLink(other, model);
    FileTime dated = FileTime.fromMillis(1_600_000_000_000L);
    Files.setLastModifiedTime(model, dated);
    Map<String, String> before = objectsAndRefs();
    AtomicBoolean done = new AtomicBoolean();
    io.ferry.transfer.TransferListener rewrite = new io.ferry.transfer.TransferListener() {
      @Override
      public void phase(String name, long totalBytes) {
        try {
          ModelGenerator.writeSafetensors(other, named("omega"), Map.of());
          Files.setLastModifiedTime(other, dated);
          done.set(true);
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }
    };
    try (Repository repo = Ferry.open(store.toString())) {
      assertThatThrownBy(() -> repo.push(source, "m", PushOptions.builder().message("changing").listener(rewrite)
          .build()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("model.safetensors changed while it was pushed")
          .hasMessageContaining("header reads differently from when it was scanned")
          .hasMessageContaining("nothing was stored");
      assertThat(done).as("the writer ran").isTrue();
      assertThat(repo.models()).hasSize(1);
    }
    assertThat(objectsAndRefs()).as("objects and refs after a push whose source changed").isEqualTo(before);
  }

  private static java.util.List<ModelGenerator.Tensor> named(String prefix) {
    return java.util.List.of(
        new ModelGenerator.Tensor(prefix + ".weight", io.ferry.format.DType.F32, new long[] {512, 512}, 1),
        new ModelGenerator.Tensor(prefix + ".bias", io.ferry.format.DType.F32, new long[] {512}, 2));
  }
}
