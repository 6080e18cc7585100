package io.ferry.store;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A tmpfs of a few MiB for full-disk tests, mounted on a new directory. Mounting needs root: elsewhere the test is
 * skipped, except with {@code CI=true}, where it fails instead. {@link #close} unmounts it (lazily when it is busy).
 */
public final class TinyTmpfs implements AutoCloseable {
  private final Path mount;

  private TinyTmpfs(Path mount) {
    this.mount = mount;
  }

  /** Mounts a tmpfs of {@code size} ({@code mount}'s syntax: {@code 1m}) on directory {@code dir}, made here. */
  public static TinyTmpfs mount(Path dir, String size) throws IOException, InterruptedException {
    Files.createDirectories(dir);
    String why = run("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", dir.toString());
    if (why != null) {
      String msg = "cannot mount a " + size + " tmpfs for the full-disk test (" + why + ")";
      if ("true".equals(System.getenv("CI"))) {
        throw new AssertionError(msg + "; CI=true, so this is a failure, not a skip");
      }
      Assumptions.abort(msg);
    }
    return new TinyTmpfs(dir);
  }

  /** Mounts it again read-only: every write and removal in it fails ("Read-only file system"). */
  public void remountReadOnly() throws IOException, InterruptedException {
    String why = run("mount", "-o", "remount,ro", mount.toString());
    if (why != null) {
      throw new AssertionError("cannot remount " + mount + " read-only: " + why);
    }
  }

  /** The mounted directory. */
  public Path path() {
    return mount;
  }

  @Override
  public void close() throws IOException, InterruptedException {
    String why = run("umount", mount.toString());
    if (why != null && run("umount", "-l", mount.toString()) == null) {
      why = null;
    }
    if (why != null) {
      throw new AssertionError("cannot unmount " + mount + ": " + why);
    }
  }

  /** Runs a command; null when it exits 0, else why not. */
  private static String run(String... cmd) throws IOException, InterruptedException {
    Process p;
    try {
      p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    } catch (IOException e) {
      return e.getMessage();
    }
    if (!p.waitFor(30, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      return cmd[0] + " did not finish in 30 s";
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    return p.exitValue() == 0 ? null : cmd[0] + " exited " + p.exitValue() + ": " + out;
  }
}
