package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A derive stopped midway (SIGTERM, as a terminal's Ctrl-C or a job scheduler sends) left its temporary directory
 * behind, holding derived files as large as the model: one model's worth of disk per interruption.
 */
class DeriveInterruptTest {
  @TempDir Path tmp;

  @Test
  void aDeriveStoppedMidwayRemovesItsTemporaryDirectory() throws Exception {
    Path store = DeriveSupport.storeWith(tmp, "m:v1", new Tensor("big.weight", DType.F32, new long[] {8192, 1024}, 1));
    Path work = Files.createDirectories(tmp.resolve("work"));
    stopMidway(store, work, false);
    try (Stream<Path> left = Files.list(work)) {
      assertThat(left).as("left in --temp-dir").isEmpty();
    }
  }

  /**
   * A derive killed (SIGKILL: the kernel's out-of-memory killer, {@code kill -9}) cannot remove its temporary
   * directory, which held a model's worth of derived files for good: the next derive with the same temporary
   * directory removes it, as its owner is gone.
   */
  @Test
  void theNextDeriveRemovesTheTemporaryDirectoryOfAKilledOne() throws Exception {
    Path store = DeriveSupport.storeWith(tmp, "m:v1", new Tensor("big.weight", DType.F32, new long[] {8192, 1024}, 1));
    Path work = Files.createDirectories(tmp.resolve("work"));
    Path killed = stopMidway(store, work, true);
    assertThat(killed.resolve("model.safetensors")).as("what the killed derive left").exists();
    DeriveSupport.Run next = DeriveSupport.ferry(store, "derive", "cast", "m:v1", "--to", "bf16", "--as", "c:v1",
        "--temp-dir", work.toString());
    assertThat(next.code()).as("%s", next.err()).isZero();
    try (Stream<Path> left = Files.list(work)) {
      assertThat(left).as("left in --temp-dir").isEmpty();
    }
  }

  /**
   * A free lock file that another user made beside a directory of ours (in a shared temporary directory, anyone can
   * make one next to a running derive's directory) does not make a derive remove that directory.
   */
  @Test
  void aFreeLockOfAnotherUserRemovesNothing() throws Exception {
    Path store = DeriveSupport.storeWith(tmp, "m:v1", new Tensor("w", DType.F32, new long[] {64, 64}, 1));
    Path work = Files.createDirectories(tmp.resolve("work"));
    Path running = Files.createDirectory(work.resolve("ferry-derive-123"));
    Files.writeString(running.resolve("model.safetensors"), "a running derive's");
    Path planted = Files.createFile(work.resolve("ferry-derive-123.1.lock"));
    try {
      Files.setOwner(planted, FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByName("nobody"));
    } catch (IOException e) {
      Assumptions.abort("cannot give a file to another user here: " + e);
    }
    DeriveSupport.Run r = DeriveSupport.ferry(store, "derive", "cast", "m:v1", "--to", "bf16", "--as", "c:v1",
        "--temp-dir", work.toString());
    assertThat(r.code()).as("%s", r.err()).isZero();
    assertThat(running.resolve("model.safetensors")).exists();
  }

  /** Starts a derive in its own process and stops it (SIGTERM, or SIGKILL) as it writes; its temporary directory. */
  private Path stopMidway(Path store, Path work, boolean kill) throws Exception {
    try (WatchService watch = FileSystems.getDefault().newWatchService()) {
      work.register(watch, StandardWatchEventKinds.ENTRY_CREATE);
      Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
          System.getProperty("java.class.path"), FerryCli.class.getName(), "derive", "prune", "m:v1", "--sparsity",
          "0.5", "--as", "p:v1", "--threads", "1", "--temp-dir", work.toString(), "--store", store.toString())
          .redirectErrorStream(true).redirectOutput(tmp.resolve("out.txt").toFile()).start();
      // stopped once the derived file exists in its temporary directory: the tensor is being derived into it
      Path dir = null;
      while (dir == null) {
        WatchKey created = watch.poll(60, TimeUnit.SECONDS);
        assertThat(created).as("the derive made its temporary directory").isNotNull();
        for (var e : created.pollEvents()) {
          Path made = work.resolve((Path) e.context());
          if (Files.isDirectory(made)) {
            dir = made;
          }
        }
        created.reset();
      }
      dir.register(watch, StandardWatchEventKinds.ENTRY_CREATE);
      while (!Files.exists(dir.resolve("model.safetensors"))) {
        WatchKey next = watch.poll(60, TimeUnit.SECONDS);
        assertThat(next).as("the derive began to write").isNotNull();
        next.pollEvents();
        next.reset();
      }
      if (kill) {
        p.destroyForcibly();
      } else {
        p.destroy();
      }
      assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
      assertThat(p.exitValue()).as("stopped before it finished: %s", Files.readString(tmp.resolve("out.txt")))
          .isNotZero();
      return dir;
    }
  }
}
