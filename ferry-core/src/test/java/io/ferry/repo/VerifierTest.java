package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.chunk.Frame;
import io.ferry.error.FerryException;
import io.ferry.pack.PackIndex;
import io.ferry.repo.Results.VerifyReport;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.TransferListener;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Store-wide verify checks every copy of every chunk: a small chunk that two models' pushes put into two different
 * packs is checked in both; missing packs and chunks are reported, not thrown.
 */
class VerifierTest {
  @TempDir Path tmp;

  private Path storeDir;
  private Repository repo;
  private final byte[] shared = "{\"hidden_size\": 4096, \"shared\": true}".getBytes(StandardCharsets.UTF_8);

  @BeforeEach
  void twoModelsSharingASmallChunk() throws IOException {
    storeDir = tmp.resolve("store");
    repo = Ferry.open(storeDir.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    for (String model : List.of("alpha", "beta")) {
      Path src = tmp.resolve("src-" + model);
      Files.createDirectories(src);
      Files.write(src.resolve("config.json"), shared);
      Files.write(src.resolve("notes-" + model + ".txt"), ("only in " + model).getBytes(StandardCharsets.UTF_8));
      byte[] big = new byte[600_000];
      new Random(model.hashCode()).nextBytes(big);
      Files.write(src.resolve("weights.bin"), big);
      repo.push(src, model, PushOptions.builder().message("first " + model).build());
      // as if alpha had been pushed before the store-wide small-chunk index existed: beta's push does not find the
      // shared chunk in alpha's pack and packs a copy of its own, so that the store holds two copies to verify
      forgetSmallChunkIndex();
    }
  }

  private void forgetSmallChunkIndex() throws IOException {
    Path dir = storeDir.resolve("records").resolve("dedup");
    if (Files.exists(dir)) {
      try (java.util.stream.Stream<Path> s = Files.walk(dir)) {
        for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
  }

  @AfterEach
  void close() throws IOException {
    repo.close();
  }

  private ChunkId packOf(String model) throws IOException {
    List<ChunkId> packs = repo.resolve(model).version().packs();
    assertThat(packs).hasSize(1);
    return packs.get(0);
  }

  private Path fileOf(ChunkId id) {
    return storeDir.resolve("objects").resolve(id.hex().substring(0, 2)).resolve(id.hex().substring(2));
  }

  private static void flipByte(Path file, long at) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0x04);
    }
  }

  /** A fresh repository, so that no cached version or pack index hides what was removed. */
  private void reopen() throws IOException {
    repo.close();
    repo = Ferry.open(storeDir.toString());
  }

  private VerifyReport verify(String ref) throws IOException {
    return repo.verify(ref, TransferListener.NONE);
  }

  /**
   * A version and a snapshot this repository read (and cached) before their stored bytes were damaged: verify checks
   * what the store holds, not the cache, as a long-running process (a server's admin verify) would otherwise vouch for
   * a store whose next reader fails.
   */
  @Test
  void versionsAndSnapshotsReadBeforeTheyWereDamagedAreChecked() throws IOException {
    VersionRef alpha = repo.resolve("alpha");
    repo.objects().snapshot(alpha.version().snapshot());
    assertThat(verify(null).ok()).isTrue();
    flipByte(fileOf(alpha.id()), Files.size(fileOf(alpha.id())) - 3);
    assertThat(verify(null).errors()).singleElement().asString().contains(alpha.id().hex()).contains("alpha@");
    assertThat(verify("alpha").damagedVersions()).containsExactly("alpha@" + alpha.id().shortHex(12));
    flipByte(fileOf(alpha.id()), Files.size(fileOf(alpha.id())) - 3);
    ChunkId snapshot = alpha.version().snapshot();
    flipByte(fileOf(snapshot), Files.size(fileOf(snapshot)) - 3);
    assertThat(verify("alpha").errors()).singleElement().asString().contains(snapshot.hex());
  }

  /**
   * Damages one model's copy of the shared chunk, then (after repairing it) the other's: whichever order a verify
   * visits the versions in, a check of each chunk id once misses one of the two.
   */
  @Test
  void damagedCopyOfASharedSmallChunkFailsStoreWideVerify() throws IOException {
    ChunkId chunk = ChunkId.of(shared);
    ChunkId alphaPack = packOf("alpha");
    ChunkId betaPack = packOf("beta");
    assertThat(alphaPack).as("the models' pushes packed the shared chunk separately").isNotEqualTo(betaPack);
    assertThat(repo.objects().packIndex(alphaPack).entries()).containsKey(chunk);
    assertThat(repo.objects().packIndex(betaPack).entries()).containsKey(chunk);
    assertThat(verify(null).ok()).isTrue();

    for (String damaged : List.of("alpha", "beta")) {
      ChunkId pack = packOf(damaged);
      PackIndex.Entry e = repo.objects().packIndex(pack).entries().get(chunk);
      long at = e.offset() + Frame.HEADER_LENGTH + 3;
      flipByte(fileOf(pack), at);

      VerifyReport all = verify(null);
      assertThat(all.ok()).as("store-wide verify with %s's copy damaged", damaged).isFalse();
      assertThat(all.errors()).anySatisfy(err -> assertThat(err).contains(chunk.hex())
          .contains("pack " + pack.hex()).contains("config.json"));
      assertThat(verify(damaged).ok()).isFalse();
      String other = damaged.equals("alpha") ? "beta" : "alpha";
      assertThat(verify(other).ok()).as("the other model's copy is intact").isTrue();

      flipByte(fileOf(pack), at);
      assertThat(verify(null).ok()).as("repaired").isTrue();
    }
  }

  @Test
  void missingPackIsReportedNotThrown() throws IOException {
    ChunkId pack = packOf("beta");
    Files.delete(fileOf(pack));
    reopen();
    VerifyReport all = verify(null);
    assertThat(all.ok()).isFalse();
    assertThat(all.errors()).anySatisfy(err -> assertThat(err).contains(pack.hex()).contains("missing"));
    assertThat(verify("beta").ok()).isFalse();
    assertThat(verify("alpha").ok()).isTrue();
  }

  @Test
  void missingLooseChunkIsReportedNotThrown() throws IOException {
    ChunkId big = repo.snapshot(repo.resolve("alpha")).file("weights.bin").orElseThrow().chunks().get(0).id();
    Files.delete(fileOf(big));
    reopen();
    VerifyReport all = verify(null);
    assertThat(all.ok()).isFalse();
    assertThat(all.errors()).anySatisfy(err -> assertThat(err).contains(big.hex()).contains("missing")
        .contains("weights.bin"));
  }

  /**
   * A fan-out directory of objects that is a link to a directory outside the store: reads follow it, so every object
   * checked clean, while gc refuses the store. Store-wide verify names the link as damage; a verify of one version,
   * which looks only at that version's objects, does not.
   */
  @Test
  void aFanOutDirectoryThatIsALinkIsReportedByStoreWideVerify() throws IOException {
    ChunkId big = repo.snapshot(repo.resolve("alpha")).file("weights.bin").orElseThrow().chunks().get(0).id();
    Path fanOut = fileOf(big).getParent();
    Path outside = tmp.resolve("elsewhere");
    Files.move(fanOut, outside);
    Files.createSymbolicLink(fanOut, outside);
    VerifyReport all = verify(null);
    assertThat(all.ok()).isFalse();
    assertThat(all.errors()).singleElement().asString()
        .contains(fanOut + " is a symbolic link (to " + outside + ")");
    assertThat(verify("alpha").ok()).isTrue();
  }

  /**
   * An object that cannot be read (permission denied) is not damage: verify stops with an error naming the object,
   * its file and the cause (exit 1), instead of listing it as damaged with a repair that deletes it.
   */
  @Test
  void anUnreadableObjectIsAFailedReadNotDamage() throws IOException {
    ChunkId big = repo.snapshot(repo.resolve("alpha")).file("weights.bin").orElseThrow().chunks().get(0).id();
    repo.close();
    io.ferry.store.Backend local = Ferry.openBackend(storeDir.toString(), StoreOptions.existing());
    io.ferry.store.ChunkStore denying = failingOn(local.chunks(), big, () -> {
      throw new java.nio.file.AccessDeniedException(storeDir.resolve("objects").resolve(big.hex()).toString());
    });
    repo = Repository.open(io.ferry.store.StoreLayers.layered(local, denying), RepositoryOptions.defaults());
    assertThatThrownBy(() -> verify(null)).isNotInstanceOf(FerryException.class)
        .hasMessageContaining(big.hex()).hasMessageContaining("weights.bin")
        .hasMessageContaining("could not be read").hasMessageContaining("permission denied");
  }

  /** A fault a read raises. */
  private interface Fault {
    void raise() throws IOException;
  }

  /** The store, with every read of one object failing with {@code fault}. */
  private static io.ferry.store.ChunkStore failingOn(io.ferry.store.ChunkStore inner, ChunkId bad, Fault fault) {
    return new io.ferry.store.ForwardingChunkStore(inner) {
      @Override
      public void readInto(ChunkId id, long offset, java.nio.ByteBuffer dst) throws IOException {
        if (id.equals(bad)) {
          fault.raise();
        }
        super.readInto(id, offset, dst);
      }

      @Override
      public java.nio.ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
        if (id.equals(bad)) {
          fault.raise();
        }
        return super.read(id, offset, length);
      }
    };
  }

  /** A check that died of an Error (out of memory) vouched for nothing: verify said "ok" over damage it never saw. */
  @Test
  void anObjectACheckRanOutOfMemoryOnIsNotOk() throws IOException {
    ChunkId big = repo.snapshot(repo.resolve("alpha")).file("weights.bin").orElseThrow().chunks().get(0).id();
    repo.close();
    io.ferry.store.Backend local = Ferry.openBackend(storeDir.toString(), StoreOptions.existing());
    io.ferry.store.ChunkStore starving = failingOn(local.chunks(), big, () -> {
      throw new OutOfMemoryError("Java heap space");
    });
    repo = Repository.open(io.ferry.store.StoreLayers.layered(local, starving), RepositoryOptions.defaults());
    assertThatThrownBy(() -> verify(null)).isNotInstanceOf(FerryException.class)
        .hasMessageContaining(big.hex()).hasMessageContaining("could not be checked")
        .hasMessageContaining("OutOfMemoryError").hasMessageContaining("FERRY_HEAP");
  }

  @Test
  void missingVersionIsReportedNotThrown() throws IOException {
    ChunkId version = repo.resolve("alpha").id();
    Files.delete(fileOf(version));
    reopen();
    VerifyReport all = verify(null);
    assertThat(all.ok()).isFalse();
    assertThat(all.errors()).anySatisfy(err -> assertThat(err).contains(version.shortHex(12)).contains("missing"));
    // the ref that reaches it as users write it, not as it is stored (alpha/head)
    assertThat(all.errors()).anySatisfy(err -> assertThat(err).contains("(reachable from alpha)"))
        .noneSatisfy(err -> assertThat(err).contains("alpha/head"));
    assertThatThrownBy(() -> verify("alpha")).isInstanceOf(FerryException.class);
  }
}
