package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.FerryException;
import io.ferry.error.InvalidInputException;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile pull destinations (issue 9, items 1, 6 and 7): links planted inside DEST never lead a pull outside it, long
 * file names pull, and a failed pull leaves DEST as it was (a DEST it created removed).
 */
@Timeout(120)
class PullerHostileDestinationTest {
  @TempDir Path tmp;

  private Path storeDir;
  private Repository repo;
  private Path victim;

  @BeforeEach
  void model() throws IOException {
    storeDir = tmp.resolve("store");
    repo = Ferry.open(storeDir.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    Path src = tmp.resolve("src");
    Files.createDirectories(src.resolve("sub"));
    Files.writeString(src.resolve("sub/inner.txt"), "inner of the model");
    Files.writeString(src.resolve("top.txt"), "top of the model");
    repo.push(src, "m", PushOptions.builder().message("first").build());
    victim = tmp.resolve("victim");
    Files.createDirectories(victim);
    Files.writeString(victim.resolve("top.txt"), "the victim's own file");
  }

  @AfterEach
  void close() throws IOException {
    repo.close();
  }

  @Test
  void aLinkWhereTheVersionHasADirectoryIsRefusedAndNothingIsWrittenThroughIt() throws IOException {
    Path dest = tmp.resolve("dest");
    Files.createDirectories(dest);
    Files.createSymbolicLink(dest.resolve("sub"), victim);
    Map<String, String> victimBefore = Trees.of(victim);
    Map<String, String> destBefore = Trees.of(dest);

    assertThatThrownBy(() -> repo.pull("m", dest, PullOptions.defaults()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining(dest.resolve("sub").toString())
        .hasMessageContaining("symbolic link")
        .hasMessageContaining("sub/inner.txt");
    assertThat(Trees.of(victim)).isEqualTo(victimBefore);
    assertThat(Trees.of(dest)).isEqualTo(destBefore);
  }

  @Test
  void aChainOfLinksIsRefusedAtItsFirstLink() throws IOException {
    Path dest = tmp.resolve("dest");
    Files.createDirectories(dest);
    Files.createSymbolicLink(dest.resolve("sub"), Path.of("hop"));
    Files.createSymbolicLink(dest.resolve("hop"), victim);
    Map<String, String> victimBefore = Trees.of(victim);
    Map<String, String> destBefore = Trees.of(dest);

    assertThatThrownBy(() -> repo.pull("m", dest, PullOptions.defaults()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining(dest.resolve("sub") + ": is a symbolic link (to hop)");
    assertThat(Trees.of(victim)).isEqualTo(victimBefore);
    assertThat(Trees.of(dest)).isEqualTo(destBefore);
  }

  @Test
  void aLinkAtAFilesNameIsReplacedByTheFileAndItsTargetIsLeftAlone() throws IOException {
    Path dest = tmp.resolve("dest");
    Files.createDirectories(dest);
    Files.createSymbolicLink(dest.resolve("top.txt"), victim.resolve("top.txt"));

    repo.pull("m", dest, PullOptions.defaults().withExisting(PullOptions.Existing.MERGE));

    assertThat(Files.isSymbolicLink(dest.resolve("top.txt"))).isFalse();
    assertThat(Files.readString(dest.resolve("top.txt"))).isEqualTo("top of the model");
    assertThat(Files.readString(victim.resolve("top.txt"))).isEqualTo("the victim's own file");
    assertThat(Trees.of(dest)).containsOnlyKeys("sub", "sub/inner.txt", "top.txt");
  }

  @Test
  void destItselfMayBeALinkToADirectory() throws IOException {
    Path real = tmp.resolve("real");
    Files.createDirectories(real);
    Path dest = Files.createSymbolicLink(tmp.resolve("dest"), real);

    repo.pull("m", dest, PullOptions.defaults());

    assertThat(Files.readString(real.resolve("sub/inner.txt"))).isEqualTo("inner of the model");
  }

  /**
   * A pull into a clone: its {@code .git} directory (and a submodule's {@code .git} file) is git's, never a version's
   * file, so a plain pull does not count it as a file the version lacks and {@code --force} does not remove it (it
   * deleted the user's repository). No version can hold a {@code .git} path, in any case, so none can write into
   * {@code .git/hooks}.
   */
  @Test
  void aClonesGitEntriesAreNeitherCountedNorRemovedAndNoVersionMayWriteThere() throws IOException {
    Path dest = tmp.resolve("dest");
    Files.createDirectories(dest.resolve(".git/hooks"));
    Files.writeString(dest.resolve(".git/HEAD"), "ref: refs/heads/main\n");
    Files.createDirectories(dest.resolve("sub"));
    Files.writeString(dest.resolve("sub/.git"), "gitdir: ../.git/modules/sub\n");
    // what hf download --local-dir keeps beside a model (a push skips it too)
    Files.createDirectories(dest.resolve(".cache/huggingface/download"));
    Files.writeString(dest.resolve(".cache/huggingface/download/top.txt.metadata"), "abc\n");

    repo.pull("m", dest, PullOptions.defaults());
    Files.writeString(dest.resolve("stale.txt"), "not the version's");
    repo.pull("m", dest, PullOptions.defaults().withExisting(PullOptions.Existing.FORCE));

    assertThat(Trees.of(dest)).containsOnlyKeys(".git", ".git/hooks", ".git/HEAD", "sub", "sub/.git",
        "sub/inner.txt", "top.txt", ".cache", ".cache/huggingface", ".cache/huggingface/download",
        ".cache/huggingface/download/top.txt.metadata");
    for (String path : new String[] {".git/hooks/post-checkout", "a/.GIT/config", ".Git", ".g\u200cit/hooks/x",
        ".git\ufeff/config", ".git. /hooks/x", "GIT~1/hooks/x"}) {
      assertThatThrownBy(() -> io.ferry.version.SafePaths.check(path, "snapshot"))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("git hook");
    }
    assertThat(io.ferry.version.SafePaths.check(".gitattributes", "snapshot")).isEqualTo(".gitattributes");
    assertThat(io.ferry.version.SafePaths.check("a.git/b", "snapshot")).isEqualTo("a.git/b");
    assertThat(io.ferry.version.SafePaths.check(".gitx/git~2", "snapshot")).isEqualTo(".gitx/git~2");
  }

  /**
   * A forced pull that cannot remove a file the version does not have (here on a read-only mount inside DEST) has
   * already put every file of the version in place: it said only "DEST/ro/extra.txt: Read-only file system", as if
   * the pull had failed and left DEST as it was. The error now says that the version's files are in place and which
   * file is left.
   */
  @Test
  void aForcedPullThatCannotRemoveAnotherFileSaysTheVersionsFilesAreInPlace() throws Exception {
    Path dest = tmp.resolve("dest");
    Files.createDirectories(dest);
    Files.writeString(dest.resolve("top.txt"), "an older top");
    try (io.ferry.store.TinyTmpfs ro = io.ferry.store.TinyTmpfs.mount(dest.resolve("ro"), "1m")) {
      Files.writeString(ro.path().resolve("extra.txt"), "not in the version");
      ro.remountReadOnly();
      assertThatThrownBy(() -> repo.pull("m", dest, PullOptions.defaults().withExisting(PullOptions.Existing.FORCE)))
          .hasMessageContaining("put every file of the version into " + dest)
          .hasMessageContaining(dest.resolve("ro/extra.txt").toString())
          .hasMessageContaining("Read-only file system");
      assertThat(dest.resolve("top.txt")).hasContent("top of the model");
      assertThat(dest.resolve("sub/inner.txt")).hasContent("inner of the model");
      assertThat(dest.resolve(".ferry-pull.lock")).doesNotExist();
    }
  }

  @Test
  void aDirectoryWhereTheVersionHasAFileIsRefusedBeforeAnythingChanges() throws IOException {
    Path dest = tmp.resolve("dest");
    Files.createDirectories(dest.resolve("top.txt"));
    Files.writeString(dest.resolve("top.txt/keep.txt"), "keep");
    Files.createDirectories(dest.resolve("sub"));
    Files.writeString(dest.resolve("sub/inner.txt"), "old inner");
    Map<String, String> before = Trees.of(dest);

    assertThatThrownBy(() -> repo.pull("m", dest, PullOptions.defaults()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining(dest.resolve("top.txt") + ": is a directory");
    assertThat(Trees.of(dest)).isEqualTo(before);
  }

  @Test
  void aFileNameOf255BytesRoundTrips() throws IOException {
    String name = "n".repeat(251) + ".bin";
    assertThat(name.getBytes(StandardCharsets.UTF_8)).hasSize(255);
    Path src = tmp.resolve("long-src");
    Files.createDirectories(src);
    byte[] content = new byte[300_000];
    new Random(7).nextBytes(content);
    Files.write(src.resolve(name), content);
    repo.push(src, "long", PushOptions.builder().message("long name").build());

    Path dest = tmp.resolve("long-dest");
    repo.pull("long", dest, PullOptions.defaults());

    assertThat(Files.readAllBytes(dest.resolve(name))).isEqualTo(content);
    assertThat(Trees.of(dest)).containsOnlyKeys(name);
  }

  @Test
  void aFailedPullRemovesTheDestinationItCreatedAndLeavesAnExistingOneAsItWas() throws IOException {
    Path src = tmp.resolve("big-src");
    Files.createDirectories(src.resolve("deep/er"));
    byte[] content = new byte[600_000];
    new Random(3).nextBytes(content);
    Files.write(src.resolve("deep/er/weights.bin"), content);
    Files.writeString(src.resolve("config.json"), "{\"a\": 1}");
    repo.push(src, "big", PushOptions.builder().message("big").codec(io.ferry.codec.CodecPolicy.NONE).build());
    damageEveryLooseObjectOver(500_000);

    Path fresh = tmp.resolve("fresh/dest");
    assertThatThrownBy(() -> repo.pull("big", fresh, PullOptions.defaults()))
        .isInstanceOf(FerryException.class);
    assertThat(fresh.getParent()).doesNotExist();

    Path existing = tmp.resolve("existing");
    Files.createDirectories(existing);
    Files.writeString(existing.resolve("config.json"), "old config");
    Map<String, String> before = Trees.of(existing);
    assertThatThrownBy(() -> repo.pull("big", existing, PullOptions.defaults().withExisting(PullOptions.Existing.MERGE)))
        .isInstanceOf(FerryException.class);
    assertThat(Trees.of(existing)).isEqualTo(before);
  }

  /** Flips a byte in the middle of every loose object larger than {@code size}: frames whose CRC then fails. */
  private void damageEveryLooseObjectOver(long size) throws IOException {
    try (var files = Files.walk(storeDir.resolve("objects"))) {
      for (Path p : files.filter(Files::isRegularFile).toList()) {
        long n = Files.size(p);
        if (n > size) {
          try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.seek(n / 2);
            int b = f.read();
            f.seek(n / 2);
            f.write(b ^ 0x10);
          }
        }
      }
    }
  }
}
