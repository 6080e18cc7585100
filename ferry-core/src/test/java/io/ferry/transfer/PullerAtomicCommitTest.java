package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.codec.Codecs;
import io.ferry.objects.ObjectDatabase;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pull is atomic across files (issue 9, item 7): a rename that fails midway leaves DEST byte-identical to before,
 * and when undoing fails too the error names exactly the files that changed.
 */
@Timeout(60)
class PullerAtomicCommitTest {
  @TempDir Path tmp;

  private Repository repo;
  private LocalBackend backend;
  private ExecutorService pool;
  private ObjectDatabase db;
  private Snapshot snapshot;
  private VersionRef version;
  private Path dest;
  private List<String> files;

  @BeforeEach
  void modelAndAnOlderCopyOfIt() throws IOException {
    Path storeDir = tmp.resolve("store");
    repo = Ferry.open(storeDir.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    Path src = tmp.resolve("src");
    Files.createDirectories(src.resolve("d"));
    for (String f : List.of("a.txt", "b.txt", "c.txt", "d/e.txt")) {
      Files.writeString(src.resolve(f), "new " + f);
    }
    repo.push(src, "m", PushOptions.builder().message("new").build());
    version = repo.resolve("m");
    snapshot = repo.snapshot(version);
    files = snapshot.files().stream().map(FileEntry::path).toList();
    backend = LocalBackend.open(storeDir, StoreOptions.existing());
    db = new ObjectDatabase(backend.chunks(), Codecs.standard());
    pool = Executors.newFixedThreadPool(4);
    dest = tmp.resolve("dest");
    Files.createDirectories(dest.resolve("d"));
    for (String f : List.of("a.txt", "b.txt", "c.txt", "d/e.txt")) {
      Files.writeString(dest.resolve(f), "old " + f);
    }
    Files.writeString(dest.resolve("unrelated.txt"), "not in the version");
  }

  @AfterEach
  void close() throws Exception {
    pool.shutdownNow();
    backend.close();
    repo.close();
  }

  /** A renamer that fails on the calls numbered in {@code failing} (counting from 1). */
  private static Puller.Renamer failingOn(Set<Integer> failing) {
    AtomicInteger calls = new AtomicInteger();
    return (from, to) -> {
      if (failing.contains(calls.incrementAndGet())) {
        throw new IOException("injected rename failure " + from.getFileName() + " -> " + to.getFileName());
      }
      Puller.ATOMIC_RENAME.rename(from, to);
    };
  }

  private void pull(Puller.Renamer renamer) throws IOException {
    new Puller(db, pool, TransferListener.NONE, renamer).pull(snapshot, db.locator(version.version().packs()), dest,
        PullOptions.defaults().withExisting(PullOptions.Existing.MERGE));
  }

  /**
   * A snapshot (from a store some other client wrote) with a file under a name pulls keep for their lock or temporary
   * files: refused before anything is written, where it used to pull "successfully" without the file.
   */
  @Test
  void aFileNamedLikeAPullsLockOrTemporaryFileIsRefused() throws IOException {
    Map<String, String> before = Trees.of(dest);
    for (String name : List.of(".ferry-pull.lock", "d/.ferry-0123456789abcdef.tmp", ".ferry-0123456789abcdef.old")) {
      FileEntry f = snapshot.files().get(0);
      Snapshot forged = new Snapshot(List.of(new FileEntry(name, f.size(), f.sha256(), f.format(), f.dataStart(),
          f.metadata(), f.tensors(), f.chunks())));
      assertThatThrownBy(() -> new Puller(db, pool, TransferListener.NONE, Puller.ATOMIC_RENAME).pull(forged,
          db.locator(version.version().packs()), dest, PullOptions.defaults().withExisting(
              PullOptions.Existing.MERGE)))
          .as(name)
          .isInstanceOf(io.ferry.error.InvalidInputException.class)
          .hasMessageContaining("'" + name + "' has a name reserved for the lock and temporary files of pulls");
      assertThat(Trees.of(dest)).as(name).isEqualTo(before);
    }
  }

  /**
   * A snapshot (from a store some other client wrote) that holds a file and, under the same name, a directory: no
   * directory tree can hold both, so it is refused before anything is written, naming both.
   */
  @Test
  void aFileThatIsAlsoADirectoryOfTheVersionIsRefused() throws IOException {
    Map<String, String> before = Trees.of(dest);
    FileEntry f = snapshot.files().get(0);
    for (List<String> names : List.of(List.of("x", "x/y"), List.of("d/e.txt", "d/e.txt/z/w"),
        List.of("p", "p/r", "p-q"))) {
      List<FileEntry> entries = names.stream().map(n -> new FileEntry(n, f.size(), f.sha256(), f.format(),
          f.dataStart(), f.metadata(), f.tensors(), f.chunks())).toList();
      assertThatThrownBy(() -> new Puller(db, pool, TransferListener.NONE, Puller.ATOMIC_RENAME).pull(
          new Snapshot(entries), db.locator(version.version().packs()), dest, PullOptions.defaults().withExisting(
              PullOptions.Existing.MERGE)))
          .as(names.toString())
          .isInstanceOf(io.ferry.error.InvalidInputException.class)
          .hasMessageContaining("'" + names.get(0) + "' is both a file and a directory of the version")
          .hasMessageContaining("'" + names.get(1) + "'");
      assertThat(Trees.of(dest)).as(names.toString()).isEqualTo(before);
    }
  }

  @Test
  void aRenameFailingMidwayLeavesDestByteIdentical() throws IOException {
    Map<String, String> before = Trees.of(dest);
    // one rename per file puts it into place (the original keeps a second name by a hard link): fail the third
    assertThatThrownBy(() -> pull(failingOn(Set.of(3))))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("injected rename failure");
    assertThat(Trees.of(dest)).isEqualTo(before);
  }

  @Test
  void aRenameFailingOnTheFirstOrLastFileLeavesDestByteIdentical() throws IOException {
    Map<String, String> before = Trees.of(dest);
    assertThatThrownBy(() -> pull(failingOn(Set.of(1)))).hasMessageContaining("injected rename failure");
    assertThat(Trees.of(dest)).isEqualTo(before);
    assertThatThrownBy(() -> pull(failingOn(Set.of(files.size())))).hasMessageContaining("injected rename failure");
    assertThat(Trees.of(dest)).isEqualTo(before);
  }

  @Test
  void whenUndoingFailsTheErrorNamesExactlyTheFilesThatChanged() throws IOException {
    // calls 1 and 2 put the first two files in place; 3 (the third) fails; undo: 4 gives the second file its
    // original back (fails), 5 the first
    assertThatThrownBy(() -> pull(failingOn(Set.of(3, 4))))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("undoing it failed too")
        .hasMessageContaining("changed: " + dest.resolve(files.get(1)) + " holds the pulled file")
        .hasMessageContaining("every other file is as it was")
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain(dest.resolve(files.get(0)).toString()));
    assertThat(Files.readString(dest.resolve(files.get(0)))).isEqualTo("old " + files.get(0));
    assertThat(Files.readString(dest.resolve(files.get(1)))).isEqualTo("new " + files.get(1));
    assertThat(Files.readString(dest.resolve(files.get(2)))).isEqualTo("old " + files.get(2));
    Path parent = dest.resolve(files.get(1)).getParent();
    try (var leftovers = Files.list(parent)) {
      List<Path> aside = leftovers.filter(p -> p.getFileName().toString().endsWith(".old")).toList();
      assertThat(aside).hasSize(1);
      assertThat(Files.readString(aside.get(0))).isEqualTo("old " + files.get(1));
    }
    try (var all = Files.walk(dest)) {
      assertThat(all.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList()).isEmpty();
    }
  }

  @Test
  void aPullThatSucceedsLeavesNoMovedAsideFiles() throws IOException {
    pull(Puller.ATOMIC_RENAME);
    assertThat(Trees.of(dest)).containsOnlyKeys("a.txt", "b.txt", "c.txt", "d", "d/e.txt", "unrelated.txt");
    for (String f : files) {
      assertThat(Files.readString(dest.resolve(f))).isEqualTo("new " + f);
    }
  }
}
