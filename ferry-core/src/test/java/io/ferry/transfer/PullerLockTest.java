package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.ConflictException;
import io.ferry.error.InvalidInputException;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.version.SafePaths;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * One pull at a time into a directory ({@link DestinationLock}): two pulls of different versions into one directory
 * both renamed their files into place and exited 0, leaving a mix of the two.
 */
@Timeout(120)
class PullerLockTest {
  @TempDir Path tmp;

  private Repository repo;

  @BeforeEach
  void versions() throws IOException {
    repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    for (String v : List.of("a", "b")) {
      Path src = tmp.resolve("src-" + v);
      Files.createDirectories(src.resolve("sub"));
      byte[] big = new byte[6 << 20];
      new Random(v.hashCode()).nextBytes(big);
      Files.write(src.resolve("sub/weights.bin"), big);
      Files.writeString(src.resolve("config.json"), "{\"version\": \"" + v + "\"}");
      Files.writeString(src.resolve("only-in-" + v + ".txt"), v);
      repo.push(src, "m:" + v, PushOptions.builder().message(v).build());
    }
  }

  @AfterEach
  void close() throws IOException {
    repo.close();
  }

  @Test
  void concurrentPullsIntoOneDirectoryLeaveExactlyOneVersion() throws Exception {
    ExecutorService two = Executors.newFixedThreadPool(2);
    try {
      for (int round = 0; round < 6; round++) {
        Path dest = tmp.resolve("dest-" + round);
        CyclicBarrier start = new CyclicBarrier(2);
        List<Future<String>> pulls = new ArrayList<>();
        for (String v : List.of("a", "b")) {
          pulls.add(two.submit(() -> {
            start.await();
            try {
              repo.pull("m:" + v, dest, PullOptions.defaults().withExisting(PullOptions.Existing.FORCE));
              return v;
            } catch (ConflictException refused) {
              assertThat(refused).hasMessageContaining(dest.toString()).hasMessageContaining("another pull");
              return null;
            }
          }));
        }
        List<String> done = new ArrayList<>();
        for (Future<String> f : pulls) {
          String v = f.get(60, TimeUnit.SECONDS);
          if (v != null) {
            done.add(v);
          }
        }
        assertThat(done).as("round %d: at least one pull completes", round).isNotEmpty();
        // whichever pull ended last made the directory exactly its version (--force), with no lock left behind
        Map<String, String> tree = Trees.of(dest);
        boolean isA = tree.equals(Trees.of(tmp.resolve("src-a")));
        boolean isB = tree.equals(Trees.of(tmp.resolve("src-b")));
        assertThat(isA || isB).as("round %d: %s is one version, not a mix: %s", round, dest, tree.keySet()).isTrue();
      }
    } finally {
      two.shutdownNow();
    }
  }

  @Test
  void aPullIntoADirectoryAnotherProcessIsPullingIntoFailsAndWritesNothing() throws Exception {
    Path dest = tmp.resolve("dest");
    Files.createDirectories(dest);
    Files.writeString(dest.resolve("notes.txt"), "mine");
    Path lock = dest.resolve(DestinationLock.NAME);
    // another process holding the lock as a pull does: a POSIX lock on the file, its process id in it
    Process holder = new ProcessBuilder("python3", "-c", String.join("\n",
        "import fcntl, os, sys",
        "f = open(sys.argv[1], 'a+')",
        "fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)",
        "f.truncate(0); f.write(str(os.getpid()) + '\\n'); f.flush()",
        "print('locked', flush=True)",
        "sys.stdin.read()"), lock.toString()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    try {
      BufferedReader out = new BufferedReader(new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
      assertThat(out.readLine()).isEqualTo("locked");
      Map<String, String> before = Trees.of(dest);
      assertThatThrownBy(() -> repo.pull("m:a", dest, PullOptions.defaults().withExisting(PullOptions.Existing.MERGE)))
          .isInstanceOf(ConflictException.class)
          .hasMessageContaining(dest.toString())
          .hasMessageContaining("another pull is writing into this directory")
          .hasMessageContaining("by process " + holder.pid())
          .hasMessageContaining("nothing was written");
      assertThat(Trees.of(dest)).isEqualTo(before);
    } finally {
      holder.getOutputStream().close();
      assertThat(holder.waitFor(30, TimeUnit.SECONDS)).isTrue();
    }
    // the holder is gone and its file stays, unlocked: the next pull takes it over and removes it
    assertThat(lock).exists();
    repo.pull("m:a", dest, PullOptions.defaults().withExisting(PullOptions.Existing.MERGE));
    assertThat(lock).doesNotExist();
    assertThat(dest.resolve("notes.txt")).hasContent("mine");
    assertThat(dest.resolve("config.json")).hasContent("{\"version\": \"a\"}");
  }

  @Test
  void aLockLeftByAKilledPullOrItsReleaseMarkIsTakenOverAndRemoved() throws IOException {
    for (String left : List.of("12345\n", DestinationLock.RELEASED)) {
      Path dest = tmp.resolve("dest-" + left.strip());
      Files.createDirectories(dest);
      Files.writeString(dest.resolve(DestinationLock.NAME), left);
      repo.pull("m:b", dest, PullOptions.defaults());
      assertThat(Trees.of(dest)).isEqualTo(Trees.of(tmp.resolve("src-b")));
    }
    // a refused pull leaves no lock
    Path refused = tmp.resolve("refused");
    Files.createDirectories(refused);
    Files.writeString(refused.resolve("config.json"), "other");
    assertThatThrownBy(() -> repo.pull("m:b", refused, PullOptions.defaults()))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("nothing was written");
    assertThat(Trees.of(refused)).containsOnlyKeys("config.json");
    // a pull that fails removes the directory it made, its lock with it
    try (java.util.stream.Stream<Path> objects = Files.walk(tmp.resolve("store/objects"))) {
      for (Path o : objects.filter(Files::isRegularFile).toList()) {
        if (Files.size(o) > (1 << 20)) {
          Files.delete(o);
        }
      }
    }
    Path made = tmp.resolve("made");
    assertThatThrownBy(() -> repo.pull("m:b", made, PullOptions.defaults())).isInstanceOf(IOException.class);
    assertThat(made).doesNotExist();
  }

  @Test
  void aLinkOrForeignFileAtTheLocksNameIsRefusedAndLeftAlone() throws IOException {
    Path precious = tmp.resolve("precious.txt");
    Files.writeString(precious, "not a lock");
    Path dest = tmp.resolve("hostile");
    Files.createDirectories(dest);
    Files.createLink(dest.resolve(DestinationLock.NAME), precious);
    assertThatThrownBy(() -> repo.pull("m:a", dest, PullOptions.defaults().withExisting(PullOptions.Existing.MERGE)))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining(DestinationLock.NAME)
        .hasMessageContaining("2 links");
    assertThat(precious).hasContent("not a lock");
    Files.delete(dest.resolve(DestinationLock.NAME));
    Files.createSymbolicLink(dest.resolve(DestinationLock.NAME), precious);
    assertThatThrownBy(() -> repo.pull("m:a", dest, PullOptions.defaults().withExisting(PullOptions.Existing.MERGE)))
        .isInstanceOf(IOException.class).hasMessageContaining(DestinationLock.NAME);
    assertThat(precious).hasContent("not a lock");
    Files.delete(dest.resolve(DestinationLock.NAME));
    Files.writeString(dest.resolve(DestinationLock.NAME), "x".repeat(100));
    assertThatThrownBy(() -> repo.pull("m:a", dest, PullOptions.defaults().withExisting(PullOptions.Existing.MERGE)))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("100 bytes");
    assertThat(Trees.of(dest)).containsOnlyKeys(DestinationLock.NAME);
  }

  @Test
  void aFileThePythonClientWasDownloadingIsNotPushed() throws Exception {
    // an interrupted download of the Python client leaves its part file beside the others; pushed, it was stored as
    // a file of the model under its temporary name
    Path src = Files.createDirectories(tmp.resolve("half-downloaded/sub"));
    Files.writeString(src.resolve("config.json"), "{}");
    Files.writeString(src.resolve(".0123456789abcdef.ferry-part"), "part of a weights file");
    String before = repo.resolve("m:a").id().hex();
    assertThatThrownBy(() -> repo.push(src.getParent(), "m:a", PushOptions.builder().build()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining(".0123456789abcdef.ferry-part").hasMessageContaining("Python client");
    assertThat(repo.resolve("m:a").id().hex()).isEqualTo(before);
    // only that exact form: a name that merely ends so is a user's file
    assertThat(SafePaths.checkPushable("w.ferry-part", "model")).isEqualTo("w.ferry-part");
    assertThat(SafePaths.checkPushable(".0123456789ABCDEF.ferry-part", "model")).isNotNull();
  }

  @Test
  void theLockNameIsReservedForPushes() {
    assertThat(SafePaths.RESERVED_NAME.matcher(DestinationLock.NAME).matches()).isTrue();
    assertThatThrownBy(() -> SafePaths.checkPushable("sub/" + DestinationLock.NAME, "model"))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("reserved");
  }
}
