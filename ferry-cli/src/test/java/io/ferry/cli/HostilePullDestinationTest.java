package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ferry pull} into hostile destinations: a link planted inside DEST is refused with exit 1 and one line naming
 * it, nothing is written through it; a full file system is exit 1, one line, no temporary file left (nor, for a
 * {@code copy --to} a new store, the store).
 */
@Timeout(120)
class HostilePullDestinationTest {
  @TempDir Path tmp;

  private Cli cli;

  @BeforeEach
  void modelWithASubdirectory() throws IOException {
    cli = new Cli(tmp.resolve("store")).init();
    Path src = tmp.resolve("src");
    Files.createDirectories(src.resolve("sub"));
    Files.writeString(src.resolve("sub/inner.txt"), "inner");
    byte[] big = new byte[3 << 20];
    new Random(5).nextBytes(big);
    Files.write(src.resolve("weights.bin"), big);
    cli.push(src, "m", "-m", "first");
  }

  @Test
  void aLinkInsideDestIsRefusedAndTheVictimIsUntouched() throws IOException {
    Path victim = Files.createDirectories(tmp.resolve("victim"));
    Path dest = Files.createDirectories(tmp.resolve("dest"));
    Files.createSymbolicLink(dest.resolve("sub"), victim);

    cli.run("pull", "m", dest.toString()).exits(1)
        .oneLineError(dest.resolve("sub").toString(), "symbolic link", "sub/inner.txt");

    try (var inVictim = Files.list(victim); var inDest = Files.list(dest)) {
      assertThat(inVictim.toList()).isEmpty();
      assertThat(inDest.map(p -> p.getFileName().toString()).toList()).containsExactly("sub");
    }

    // pull --as says the same, with or without --force (it called the link a file the converted version does not
    // have, suggested --force, which then refused it in fewer words)
    for (List<String> extra : List.of(List.<String>of(), List.of("--force"), List.of("--merge"))) {
      List<String> args = new java.util.ArrayList<>(List.of("pull", "m", dest.toString(), "--as", "safetensors"));
      args.addAll(extra);
      cli.run(args.toArray(new String[0])).exits(1)
          .oneLineError(dest.resolve("sub").toString(), "symbolic link", "sub/inner.txt", "remove the link");
      try (var inVictim = Files.list(victim)) {
        assertThat(inVictim.toList()).as("%s", extra).isEmpty();
      }
    }
  }

  /**
   * DEST a symbolic link that leads nowhere: the error says so and names where it leads (it said "exists and is not
   * a directory"); nothing is made at the link's target.
   */
  @Test
  void aDanglingLinkAsDestIsNamedAsSuch() throws IOException {
    Path dest = tmp.resolve("dest");
    Files.createSymbolicLink(dest, tmp.resolve("nowhere"));
    cli.run("pull", "m", dest.toString()).exits(1)
        .oneLineError(dest.toString(), "is a symbolic link to " + tmp.resolve("nowhere"), "leads to no directory");
    assertThat(tmp.resolve("nowhere")).doesNotExist();
  }

  /**
   * DEST in a directory this user may not write: the error says "permission denied" (it named the lock file twice and
   * no reason). Runs where permissions hold (not as root).
   */
  @Test
  void aDestinationThatCannotBeWrittenSaysPermissionDenied() throws IOException {
    Path dest = Files.createDirectories(tmp.resolve("readonly"));
    Files.setPosixFilePermissions(dest, java.nio.file.attribute.PosixFilePermissions.fromString("r-xr-xr-x"));
    try {
      org.junit.jupiter.api.Assumptions.assumeFalse(Files.isWritable(dest), "this user writes anywhere (root)");
      cli.run("pull", "m", dest.toString()).exits(1).oneLineError(dest.toString(), "permission denied");
    } finally {
      Files.setPosixFilePermissions(dest, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
    }
  }

  /** A pull of one file (ref//path) says what it wrote of the version: one file and its size. */
  @Test
  void aPullOfOneFileSaysItsOwnSize() throws IOException {
    String out = cli.run("pull", "m//sub/inner.txt", tmp.resolve("one").toString()).ok().out();
    assertThat(out).contains("1 file, 5 B of 3.0 MiB");
    assertThat(tmp.resolve("one/sub/inner.txt")).hasContent("inner");
  }

  /** A pull into the store, or into a directory holding it, is refused: --force would remove the store's files. */
  @Test
  void aDestinationInsideOrHoldingTheStoreIsRefused() throws IOException {
    Map<String, String> before = cli.state();
    for (Path dest : List.of(cli.store.resolve("objects"), cli.store, tmp, cli.store.resolve("refs/new"))) {
      cli.run("pull", "m", dest.toString(), "--force").exits(1).oneLineError(dest.toString(), "the store");
      cli.run("pull", "m", dest.toString(), "--merge", "--as", "safetensors").exits(1)
          .oneLineError(dest.toString(), "the store");
      assertThat(cli.state()).as("store after a pull into %s", dest).isEqualTo(before);
    }
    assertThat(cli.store.resolve("refs/new")).doesNotExist();
    cli.run("verify").ok();
  }

  @Test
  void aFullFileSystemIsExitOneWithOneLine() throws IOException, InterruptedException {
    Path mount = mountTinyTmpfs(tmp.resolve("tiny"));
    try {
      Path dest = mount.resolve("dest");
      cli.run("pull", "m", dest.toString()).exits(1).oneLineError("No space left on device", dest.toString());
      try (var left = Files.list(mount)) {
        assertThat(left.toList()).isEmpty();
      }
    } finally {
      Process u = new ProcessBuilder("umount", "-l", mount.toString()).redirectErrorStream(true).start();
      u.waitFor(30, TimeUnit.SECONDS);
    }
  }

  /**
   * pull --as on a full file system said only "ferry pull: No space left on device", without the file or the
   * directory. It names the file, as a plain pull does, and leaves nothing behind.
   */
  @Test
  void aFullFileSystemUnderPullAsNamesTheFile() throws IOException, InterruptedException {
    Path mount = mountTinyTmpfs(tmp.resolve("tiny"));
    try {
      Path dest = mount.resolve("dest");
      cli.run("pull", "m", dest.toString(), "--as", "safetensors").exits(1)
          .oneLineError(dest.resolve("weights.bin") + ": No space left on device");
      try (var left = Files.list(mount)) {
        assertThat(left.toList()).isEmpty();
      }
    } finally {
      Process u = new ProcessBuilder("umount", "-l", mount.toString()).redirectErrorStream(true).start();
      u.waitFor(30, TimeUnit.SECONDS);
    }
  }

  /**
   * A copy to a new store on a full file system fails with exit 1 and removes the store it created: no empty,
   * initialised store is left to hold space or pass for one the user made. The source store is unchanged.
   */
  @Test
  void aCopyToANewStoreOnAFullFileSystemLeavesNoStore() throws IOException, InterruptedException {
    Path mount = mountTinyTmpfs(tmp.resolve("tiny"));
    try {
      Map<String, String> before = cli.state();
      Path target = mount.resolve("copy");
      cli.run("copy", "m", "--to", target.toString()).exits(1).oneLineError("No space left on device");
      try (var left = Files.list(mount)) {
        assertThat(left.toList()).isEmpty();
      }
      assertThat(cli.state()).isEqualTo(before);
      Path existing = mount.resolve("existing");
      new Cli(existing).init();
      cli.run("copy", "m", "--to", existing.toString()).exits(1).oneLineError("No space left on device");
      assertThat(existing.resolve("objects")).as("a store that was there before the copy stays").isDirectory();
    } finally {
      Process u = new ProcessBuilder("umount", "-l", mount.toString()).redirectErrorStream(true).start();
      u.waitFor(30, TimeUnit.SECONDS);
    }
  }

  /** Mounts a 1 MiB tmpfs on {@code dir}; without root the test is skipped, except with CI=true, where it fails. */
  private static Path mountTinyTmpfs(Path dir) throws IOException, InterruptedException {
    Path mount = Files.createDirectories(dir);
    Process p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount.toString())
        .redirectErrorStream(true).start();
    boolean done = p.waitFor(30, TimeUnit.SECONDS);
    if (!done || p.exitValue() != 0) {
      String why = "cannot mount a tmpfs: " + new String(p.getInputStream().readAllBytes()).trim();
      if ("true".equals(System.getenv("CI"))) {
        throw new AssertionError(why + " (CI=true: a failure, not a skip)");
      }
      Assumptions.abort(why);
    }
    return mount;
  }
}
