package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pull that was killed leaves its files under their temporary names; the next run completes them, reading only the
 * chunks they lack, and removes what interrupted pulls of other versions left.
 */
@Timeout(120)
class PullerResumeTest {
  @TempDir Path tmp;

  private Repository repo;
  private Path src;

  @BeforeEach
  void model() throws IOException {
    repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    src = tmp.resolve("src");
    Files.createDirectories(src.resolve("sub"));
    byte[] big = new byte[12 << 20];
    new Random(7).nextBytes(big);
    Files.write(src.resolve("sub/big.bin"), big);
    Files.writeString(src.resolve("small.txt"), "small file of the model");
    repo.push(src, "m", PushOptions.builder().message("first").build());
  }

  @AfterEach
  void close() throws IOException {
    repo.close();
  }

  /**
   * A pull of some files, and a merge, remove what an interrupted pull of another version of the files they pull left
   * (the temporary file of a 12 MiB file stayed in DEST after they succeeded), and keep other files named like
   * temporary files.
   */
  @Test
  void aPullOfSomeFilesRemovesWhatAKilledPullOfAnotherVersionOfThemLeft() throws IOException {
    FileEntry old = repo.snapshot(repo.resolve("m")).file("sub/big.bin").orElseThrow();
    byte[] big = Files.readAllBytes(src.resolve("sub/big.bin"));
    big[0] ^= 1;
    Files.write(src.resolve("sub/big.bin"), big);
    repo.push(src, "m", PushOptions.builder().message("second").build());
    for (PullOptions opts : java.util.List.of(
        PullOptions.defaults().withFiles(io.ferry.scan.PathFilter.of(java.util.List.of("sub/**"), java.util.List.of())),
        PullOptions.defaults().withExisting(PullOptions.Existing.MERGE))) {
      Path dest = tmp.resolve("dest-" + opts.existing());
      Files.createDirectories(dest.resolve("sub"));
      // what a pull of the first version, killed, left
      Files.write(dest.resolve("sub").resolve(Survey.tempName(old)), new byte[(int) old.size()]);
      Files.writeString(dest.resolve("sub/.ferry-0123456789abcdef.tmp"), "someone's notes");
      repo.pull("m", dest, opts);
      assertThat(dest.resolve("sub/big.bin")).hasSameBinaryContentAs(src.resolve("sub/big.bin"));
      assertThat(dest.resolve("sub").resolve(Survey.tempName(old))).as(opts.toString()).doesNotExist();
      assertThat(dest.resolve("sub/.ferry-0123456789abcdef.tmp")).hasContent("someone's notes");
    }
  }

  @Test
  void aKilledPullIsCompletedFromWhatItWroteAndLeftoversAreRemoved() throws IOException {
    Snapshot s = repo.snapshot(repo.resolve("m"));
    Path dest = tmp.resolve("dest");
    Files.createDirectories(dest.resolve("sub"));
    // what a killed pull leaves: each file under its temporary name, its first half written, the rest zeros
    for (FileEntry f : s.files()) {
      Path temp = dest.resolve(f.path()).resolveSibling(Survey.tempName(f));
      byte[] content = Files.readAllBytes(src.resolve(f.path()));
      java.util.Arrays.fill(content, content.length / 2, content.length, (byte) 0);
      Files.write(temp, content);
    }
    Files.writeString(dest.resolve("sub/.ferry-0123456789abcdef.tmp"), "a pull of another version");
    Files.writeString(dest.resolve(".ferry-0123456789abcdee.old"), "an aside name");
    AtomicLong read = new AtomicLong();
    repo.pull("m", dest, PullOptions.defaults().withVerify(true).withListener(new TransferListener() {
      @Override
      public void progress(long bytes) {
        read.addAndGet(bytes);
      }
    }));
    assertThat(Files.readAllBytes(dest.resolve("sub/big.bin"))).isEqualTo(Files.readAllBytes(src.resolve("sub/big.bin")));
    assertThat(dest.resolve("small.txt")).hasSameTextualContentAs(src.resolve("small.txt"));
    try (Stream<Path> all = Files.walk(dest)) {
      assertThat(all.filter(Files::isRegularFile).map(p -> dest.relativize(p).toString()))
          .containsExactlyInAnyOrder("sub/big.bin", "small.txt");
    }
    assertThat(read.get()).as("progress covers every byte").isEqualTo(s.logicalBytes());
  }

  @Test
  void aTempFileOfTheWrongSizeOrALinkIsNotResumed() throws IOException {
    Snapshot s = repo.snapshot(repo.resolve("m"));
    Path dest = tmp.resolve("dest");
    Files.createDirectories(dest.resolve("sub"));
    FileEntry big = s.file("sub/big.bin").orElseThrow();
    Path outside = tmp.resolve("outside.bin");
    Files.writeString(outside, "not to be touched");
    Files.createSymbolicLink(dest.resolve("sub").resolve(Survey.tempName(big)), outside);
    FileEntry small = s.file("small.txt").orElseThrow();
    Files.writeString(dest.resolve(Survey.tempName(small)), "short");
    repo.pull("m", dest, PullOptions.defaults());
    assertThat(outside).hasContent("not to be touched");
    assertThat(Files.readAllBytes(dest.resolve("sub/big.bin"))).isEqualTo(Files.readAllBytes(src.resolve("sub/big.bin")));
    assertThat(dest.resolve("small.txt")).hasSameTextualContentAs(src.resolve("small.txt"));
  }

  /**
   * A hard link at a temporary name, to a file elsewhere of the right size: the pull makes its file anew and the
   * file elsewhere keeps its bytes (completing the link would have overwritten it with the model's).
   */
  @Test
  void aHardLinkAtATemporaryNameIsNotResumed() throws IOException {
    Snapshot s = repo.snapshot(repo.resolve("m"));
    Path dest = tmp.resolve("dest");
    Files.createDirectories(dest.resolve("sub"));
    FileEntry big = s.file("sub/big.bin").orElseThrow();
    Path victim = tmp.resolve("victim.bin");
    byte[] theirs = new byte[(int) big.size()];
    new Random(11).nextBytes(theirs);
    Files.write(victim, theirs);
    Files.createLink(dest.resolve("sub").resolve(Survey.tempName(big)), victim);
    repo.pull("m", dest, PullOptions.defaults());
    assertThat(Files.readAllBytes(victim)).as("the file the link led to").isEqualTo(theirs);
    assertThat(Files.readAllBytes(dest.resolve("sub/big.bin"))).isEqualTo(Files.readAllBytes(src.resolve("sub/big.bin")));
    assertThat(Files.getAttribute(dest.resolve("sub/big.bin"), "unix:nlink")).isEqualTo(1);
  }

  /**
   * A file of another user at a temporary name (in a directory others may write to): not completed, since its owner
   * could rewrite the pulled file afterwards; the pull makes a file of its own. Runs where the tests can give a file
   * away (as root).
   */
  @Test
  void anotherUsersFileAtATemporaryNameIsNotResumed() throws IOException {
    org.junit.jupiter.api.Assumptions.assumeTrue(
        ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).intValue() == 0,
        "only root can give a file to another user");
    Snapshot s = repo.snapshot(repo.resolve("m"));
    Path dest = tmp.resolve("dest");
    Files.createDirectories(dest);
    FileEntry small = s.file("small.txt").orElseThrow();
    Path temp = dest.resolve(Survey.tempName(small));
    Files.write(temp, new byte[(int) small.size()]);
    Files.setAttribute(temp, "unix:uid", 65534);
    repo.pull("m", dest, PullOptions.defaults());
    assertThat(dest.resolve("small.txt")).hasSameTextualContentAs(src.resolve("small.txt"));
    assertThat(Files.getAttribute(dest.resolve("small.txt"), "unix:uid")).isEqualTo(0);
  }

  /**
   * A merge keeps what the version does not have, files named like another pull's temporary files included (they may
   * be a user's); only this version's own temporary files are its to remove. A push refuses such names.
   */
  @Test
  void aMergeKeepsFilesNamedLikeAnotherPullsTemporaryFiles() throws IOException {
    Path dest = tmp.resolve("dest");
    Files.createDirectories(dest.resolve("sub"));
    Files.writeString(dest.resolve("sub/.ferry-0123456789abcdef.tmp"), "someone's notes");
    Files.writeString(dest.resolve(".ferry-00000000deadbeef.old"), "someone's other notes");
    FileEntry small = repo.snapshot(repo.resolve("m")).file("small.txt").orElseThrow();
    Files.writeString(dest.resolve(Survey.tempName(small)), "short: this pull's own, not resumable");
    repo.pull("m", dest, PullOptions.defaults().withExisting(PullOptions.Existing.MERGE));
    assertThat(dest.resolve("sub/.ferry-0123456789abcdef.tmp")).hasContent("someone's notes");
    assertThat(dest.resolve(".ferry-00000000deadbeef.old")).hasContent("someone's other notes");
    assertThat(dest.resolve(Survey.tempName(small))).doesNotExist();
    assertThat(dest.resolve("small.txt")).hasSameTextualContentAs(src.resolve("small.txt"));

    Path reserved = tmp.resolve("reserved");
    Files.createDirectories(reserved);
    Files.writeString(reserved.resolve(".ferry-0123456789abcdef.tmp"), "data");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> repo.push(reserved, "r", PushOptions.builder().build()))
        .isInstanceOf(io.ferry.error.InvalidInputException.class)
        .hasMessageContaining(".ferry-0123456789abcdef.tmp").hasMessageContaining("reserved");
  }

  @Test
  void chunkRangesAreKeptOnlyWhenTheirHashIsTheChunkId() throws IOException {
    Snapshot s = repo.snapshot(repo.resolve("m"));
    FileEntry big = s.file("sub/big.bin").orElseThrow();
    assertThat(big.chunks()).hasSizeGreaterThan(1);
    Path f = tmp.resolve("partial");
    Files.copy(src.resolve("sub/big.bin"), f);
    long[] at = big.chunkOffsets();
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      assertThat(Survey.holds(ch, at[0], big.chunks().get(0))).isTrue();
      ch.write(ByteBuffer.wrap(new byte[] {1}), at[1] + 5);
      assertThat(Survey.holds(ch, at[1], big.chunks().get(1))).isFalse();
      ch.truncate(at[1]);
      assertThat(Survey.holds(ch, at[1], big.chunks().get(1))).isFalse();
    }
  }
}
