package io.ferry.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Runs the {@link RecordStoreContract} against the local backend. */
class LocalRecordStoreTest extends RecordStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return LocalBackend.open(scratch.resolve("store"), StoreOptions.createIfMissing());
  }

  /**
   * Every push keeps its lease under a directory of its own ({@code leases/push/<id>/}); deleting a directory's last
   * record removes the directory, so that pushes, failed or not, do not leave one empty directory each behind.
   */
  @Test
  void deletingTheLastRecordOfADirectoryRemovesIt() throws Exception {
    Path root = scratch.resolve("store/records");
    byte[] x = "x".getBytes(StandardCharsets.UTF_8);
    assertThat(records.create("leases/push/0001-a/lease", x)).isTrue();
    assertThat(records.create("leases/push/0001-a/ids-00000001", x)).isTrue();
    assertThat(records.create("leases/gc/0002-b/lease", x)).isTrue();
    records.delete("leases/push/0001-a/lease");
    assertThat(root.resolve("leases/push/0001-a")).isDirectory();
    records.delete("leases/push/0001-a/ids-00000001");
    assertThat(root.resolve("leases/push")).doesNotExist();
    assertThat(root.resolve("leases/gc/0002-b")).isDirectory();
    records.delete("leases/gc/0002-b/lease");
    try (var left = Files.list(root)) {
      assertThat(left).isEmpty();
    }
    assertThat(root).isDirectory();
    assertThat(records.create("leases/push/0001-a/lease", x)).isTrue();
    records.replace("leases/push/0001-a/lease", x);
    assertThat(records.list("leases/")).containsExactly("leases/push/0001-a/lease");
  }

  /** A create or replace that races with the delete of its directory's last record still lands. */
  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void createsAndReplacesRacingDeletesOfTheirDirectoryLand() throws Exception {
    List<Callable<Void>> tasks = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      String key = "leases/push/race/k" + t;
      boolean replace = t % 2 == 1;
      tasks.add(() -> {
        for (int i = 0; i < 300; i++) {
          byte[] v = ("v" + i).getBytes(StandardCharsets.UTF_8);
          if (replace) {
            records.replace(key, v);
          } else {
            assertThat(records.create(key, v)).isTrue();
          }
          assertThat(records.read(key)).hasValueSatisfying(b -> assertThat(b).isEqualTo(v));
          records.delete(key);
        }
        return null;
      });
    }
    for (Future<Void> f : ChunkStoreContract.runAll(tasks)) {
      f.get();
    }
    assertThat(records.list("")).isEmpty();
  }
  /**
   * A listing never fails because the directory it lists, or one under it, was emptied and removed meanwhile (a gc
   * lists the leases while pushes end and delete theirs).
   */
  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void listingsRacingDeletesOfTheirDirectoriesSucceed() throws Exception {
    List<Callable<Void>> tasks = new ArrayList<>();
    java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
    for (int t = 0; t < 4; t++) {
      String key = "leases/push/p" + t + "/lease";
      tasks.add(() -> {
        try {
          for (int i = 0; i < 300; i++) {
            assertThat(records.create(key, "x".getBytes(StandardCharsets.UTF_8))).isTrue();
            records.delete(key);
          }
        } finally {
          done.set(true);
        }
        return null;
      });
    }
    for (String prefix : new String[] {"leases/push/", "leases/push/p0/"}) {
      tasks.add(() -> {
        while (!done.get()) {
          assertThat(records.list(prefix)).allSatisfy(k -> assertThat(k).startsWith(prefix));
        }
        return null;
      });
    }
    for (Future<Void> f : ChunkStoreContract.runAll(tasks)) {
      f.get();
    }
    assertThat(records.list("leases/")).isEmpty();
  }
}
