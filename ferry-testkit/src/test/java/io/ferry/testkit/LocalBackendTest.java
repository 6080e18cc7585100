package io.ferry.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.id.ChunkId;
import io.ferry.error.InvalidInputException;
import io.ferry.store.Backend;
import io.ferry.store.BackendProvider;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.StoreOptions;
import io.ferry.store.StoredObject;
import io.ferry.store.local.LocalBackend;
import io.ferry.store.refs.RefLogFormat;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.Callable;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Tests of the local backend beyond the shared contracts: layout, opening rules, torn logs, failure cleanup. */
class LocalBackendTest {
  @RegisterExtension final TestRandom random = new TestRandom();
  @TempDir Path scratch;
  Path root;
  LocalBackend backend;

  @BeforeEach
  void open() throws IOException {
    root = scratch.resolve("store");
    backend = LocalBackend.open(root, StoreOptions.createIfMissing());
  }

  @AfterEach
  void close() throws IOException {
    backend.close();
  }

  private static ChunkId id(String s) {
    return ChunkId.of(s.getBytes(StandardCharsets.UTF_8));
  }

  private CasResult cas(String ref, ChunkId expected, ChunkId next) throws IOException {
    return backend.refs().compareAndSet(ref, expected, next,
        new RefLogEntry(expected, next, "test", Instant.now(), "why"));
  }

  @Test
  void missingStoreIsRefusedWithoutCreatingIt() {
    Path none = scratch.resolve("none");
    assertThatThrownBy(() -> LocalBackend.open(none, StoreOptions.existing()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessage("no Ferry store at " + none + " (run 'ferry init' or pass --store)");
    assertThat(none).doesNotExist();
  }

  @Test
  void regularFileIsRefused() throws IOException {
    Path file = Files.writeString(scratch.resolve("file"), "hello");
    assertThatThrownBy(() -> LocalBackend.open(file, StoreOptions.createIfMissing()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessage(file + " is a regular file, not a Ferry store directory");
    assertThat(Files.readString(file)).isEqualTo("hello");
  }

  @Test
  void nonEmptyDirectoryWithoutMarkerIsRefusedAndUntouched() throws IOException {
    Path dir = Files.createDirectory(scratch.resolve("home"));
    Files.writeString(dir.resolve("notes.txt"), "mine");
    Map<String, String> before = DirectoryState.of(dir);
    assertThatThrownBy(() -> LocalBackend.open(dir, StoreOptions.createIfMissing()))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("not a Ferry store");
    assertThat(DirectoryState.of(dir)).isEqualTo(before);
  }

  @Test
  void emptyDirectoryIsInitializedOnlyWhenAsked() throws IOException {
    Path dir = Files.createDirectory(scratch.resolve("empty"));
    assertThatThrownBy(() -> LocalBackend.open(dir, StoreOptions.existing()))
        .isInstanceOf(InvalidInputException.class).hasMessageStartingWith("no Ferry store at");
    try (LocalBackend b = LocalBackend.open(dir, StoreOptions.createIfMissing())) {
      assertThat(Files.readString(dir.resolve("ferry-store.json")))
          .isEqualTo("{\"format\":\"ferry-store\",\"version\":1,\"id\":\"" + b.markerId().orElseThrow() + "\"}");
      assertThat(b.markerId().orElseThrow()).matches("[0-9a-f]{32}");
      assertThat(dir.resolve("objects")).isDirectory();
      assertThat(dir.resolve("refs")).isDirectory();
      assertThat(dir.resolve("tmp")).isDirectory();
      assertThat(b.uri()).startsWith("file:");
      assertThat(b.chunks().describe()).isEqualTo(b.uri());
    }
  }

  @Test
  void markerOfAnotherVersionIsRefused() throws IOException {
    backend.close();
    Files.writeString(root.resolve("ferry-store.json"), "{\"format\":\"ferry-store\",\"version\":2}");
    assertThatThrownBy(() -> LocalBackend.open(root, StoreOptions.existing()))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("version 2");
  }

  @Test
  void objectsAndRefsSurviveReopening() throws IOException {
    byte[] c = random.bytes(1000);
    ChunkId id = ChunkId.of(c);
    backend.chunks().put(id, ByteBuffer.wrap(c));
    cas("org/llama/tags/prod", null, id);
    backend.close();
    backend = LocalBackend.open(root, StoreOptions.existing());
    assertThat(backend.chunks().get(id)).isEqualTo(ByteBuffer.wrap(c));
    assertThat(backend.refs().get("org/llama/tags/prod")).contains(id);
    String hex = id.hex();
    assertThat(root.resolve("objects").resolve(hex.substring(0, 2)).resolve(hex.substring(2))).isRegularFile();
    assertThat(root.resolve("refs/org/llama/tags/prod.log")).isRegularFile();
  }

  @Test
  void providerIsFoundByServiceLoaderForFileUris() throws IOException {
    backend.close();
    BackendProvider found = null;
    for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) {
      if (p.supports("file")) {
        found = p;
      }
    }
    assertThat(found).isNotNull();
    try (Backend b = found.open(URI.create("file:" + root.toAbsolutePath()), StoreOptions.existing())) {
      assertThat(b.uri()).isEqualTo(root.toUri().toString());
    }
    try (Backend b = found.open(URI.create(backend.uri()), StoreOptions.existing())) {
      assertThat(b.refs().list("")).isEmpty();
    }
    BackendProvider p = found;
    assertThatThrownBy(() -> p.open(URI.create("file:relative/path"), StoreOptions.existing()))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("file:relative/path");
  }

  @Test
  void readsAreHeapCopiesNeverMaps() throws IOException {
    // a map per read would make a model of many small chunks exhaust vm.max_map_count, and a truncated object a SIGBUS
    byte[] big = random.bytes(3 << 20);
    ChunkId bigId = ChunkId.of(big);
    backend.chunks().put(bigId, ByteBuffer.wrap(big));
    ByteBuffer b = backend.chunks().get(bigId);
    assertThat(b).isNotInstanceOf(MappedByteBuffer.class);
    assertThat(b.hasArray()).isTrue();
    assertThat(b).isEqualTo(ByteBuffer.wrap(big));
    ByteBuffer r = backend.chunks().read(bigId, 100, (2 << 20) + 7);
    assertThat(r).isNotInstanceOf(MappedByteBuffer.class);
    assertThat(r).isEqualTo(ByteBuffer.wrap(big, 100, (2 << 20) + 7));
    byte[] small = random.bytes(100);
    ChunkId smallId = ChunkId.of(small);
    backend.chunks().put(smallId, ByteBuffer.wrap(small));
    assertThat(backend.chunks().get(smallId).hasArray()).isTrue();
  }

  @Test
  void listIgnoresTemporaryAndForeignFiles() throws IOException {
    byte[] c = random.bytes(10);
    ChunkId id = ChunkId.of(c);
    backend.chunks().put(id, ByteBuffer.wrap(c));
    Files.writeString(root.resolve("tmp/0123-abc.tmp"), "partial");
    Files.createDirectories(root.resolve("objects/zz"));
    Files.writeString(root.resolve("objects/zz/" + "0".repeat(62)), "x");
    Files.writeString(root.resolve("objects/" + id.hex().substring(0, 2) + "/short"), "x");
    Files.writeString(root.resolve("objects/README"), "x");
    List<StoredObject> listed = new ArrayList<>();
    backend.chunks().list(listed::add);
    assertThat(listed).extracting(StoredObject::id).containsExactly(id);
  }

  @Test
  void failedPutRemovesItsTemporaryFile() throws IOException {
    byte[] c = random.bytes(100_000);
    ChunkId id = ChunkId.of(c);
    Path fanOut = root.resolve("objects").resolve(id.hex().substring(0, 2));
    Files.writeString(fanOut, "a file where the fan-out directory should be");
    assertThatThrownBy(() -> backend.chunks().put(id, ByteBuffer.wrap(c))).isInstanceOf(IOException.class);
    assertThat(root.resolve("tmp")).isEmptyDirectory();
    assertThat(backend.chunks().contains(id)).isFalse();
  }

  @Test
  void tornLastLineIsIgnoredThenTruncatedByTheNextWriter() throws IOException {
    String ref = "llama/tags/prod";
    ChunkId a = id("a");
    ChunkId b = id("b");
    ChunkId c = id("c");
    cas(ref, null, a);
    cas(ref, a, b);
    Path log = root.resolve("refs/llama/tags/prod.log");
    byte[] intact = Files.readAllBytes(log);
    byte[] next = RefLogFormat.encode(new RefLogEntry(b, c, "crashed", Instant.now(), "torn"));
    for (byte[] torn : List.of(
        Arrays.copyOf(next, next.length - 1),
        Arrays.copyOf(next, next.length / 2),
        new byte[300],
        zeroedCrc(next))) {
      Files.write(log, intact);
      Files.write(log, torn, StandardOpenOption.APPEND);
      assertThat(backend.refs().get(ref)).as("value with a torn tail").contains(b);
      assertThat(backend.refs().log(ref)).hasSize(2);
      assertThat(backend.refs().list("")).containsExactly(ref);
      Map<String, String> before = DirectoryState.of(root);
      assertThat(cas(ref, a, c)).isEqualTo(CasResult.LOCK_FAILURE);
      assertThat(DirectoryState.of(root)).as("a failed move leaves the torn tail alone").isEqualTo(before);
    }
    assertThat(cas(ref, b, c)).isEqualTo(CasResult.UPDATED);
    byte[] after = Files.readAllBytes(log);
    assertThat(Arrays.copyOf(after, intact.length)).isEqualTo(intact);
    assertThat(new String(after, intact.length, after.length - intact.length, StandardCharsets.UTF_8))
        .endsWith("\n").doesNotContain("crashed").hasLineCount(1);
    assertThat(backend.refs().log(ref)).extracting(RefLogEntry::newId).containsExactly(a, b, c);

    // a whole last line whose checksum alone fails is no tear but damage: the ref must not fall back to b unseen
    byte[] afterC = Files.readAllBytes(log);
    Files.write(log, corruptCrc(next), StandardOpenOption.APPEND);
    assertThatThrownBy(() -> backend.refs().get(ref)).isInstanceOf(io.ferry.error.CorruptRefException.class)
        .hasMessageContaining("line 4 of " + log).hasMessageContaining("damage, not an append a crash tore")
        .hasMessageContaining("CRC32C mismatch");
    assertThatThrownBy(() -> cas(ref, c, a)).isInstanceOf(io.ferry.error.CorruptRefException.class);
    assertThat(Files.readAllBytes(log)).as("nothing written over the damage")
        .isEqualTo(concat(afterC, corruptCrc(next)));
  }

  private static byte[] concat(byte[] x, byte[] y) {
    byte[] out = Arrays.copyOf(x, x.length + y.length);
    System.arraycopy(y, 0, out, x.length, y.length);
    return out;
  }

  /** What a crash may leave where the line's first sector was not written: zeros in place of its checksum. */
  private static byte[] zeroedCrc(byte[] line) {
    byte[] copy = line.clone();
    Arrays.fill(copy, 0, 8, (byte) 0);
    return copy;
  }

  private static byte[] corruptCrc(byte[] line) {
    byte[] copy = line.clone();
    copy[0] = (byte) (copy[0] == '0' ? '1' : '0');
    return copy;
  }

  /**
   * A last entry whose newline became another byte is damage, not a torn append: the entry is whole, so a crash did
   * not leave it. Reads, moves and log refuse it; nothing is truncated or written over it.
   */
  @Test
  void aWholeLastEntryWhoseNewlineIsAnotherByteIsDamage() throws IOException {
    String ref = "llama/head";
    cas(ref, null, id("a"));
    cas(ref, id("a"), id("b"));
    Path log = root.resolve("refs/llama/head.log");
    byte[] all = Files.readAllBytes(log);
    for (byte b : new byte[] {0x0b, ' ', '}', (byte) 0xff}) {
      all[all.length - 1] = b;
      Files.write(log, all);
      for (org.assertj.core.api.ThrowableAssert.ThrowingCallable read : List.<org.assertj.core.api.ThrowableAssert
          .ThrowingCallable>of(() -> backend.refs().get(ref), () -> backend.refs().log(ref),
          () -> cas(ref, id("a"), id("c")), () -> cas(ref, id("b"), id("c")))) {
        assertThatThrownBy(read).as("newline turned into %02x", b).isInstanceOf(io.ferry.error.CorruptRefException.class)
            .hasMessageContaining("line 2 of " + log).hasMessageContaining("its newline is byte " + (b & 0xff));
      }
      assertThat(Files.readAllBytes(log)).as("nothing written over the damage").isEqualTo(all);
    }
  }

  @Test
  void damageInsideTheLogIsReportedByLog() throws IOException {
    String ref = "llama/head";
    cas(ref, null, id("a"));
    Path log = root.resolve("refs/llama/head.log");
    byte[] first = Files.readAllBytes(log);
    cas(ref, id("a"), id("b"));
    byte[] all = Files.readAllBytes(log);
    all[20] ^= 1;
    Files.write(log, all);
    assertThat(backend.refs().get(ref)).contains(id("b"));
    assertThatThrownBy(() -> backend.refs().log(ref)).isInstanceOf(io.ferry.error.CorruptRefException.class)
        .hasMessageContaining("damaged").hasMessageContaining("line 1 of " + log);
    assertThat(first).isNotEmpty();
  }

  @Test
  void failedAndNoOpMovesLeaveTheStoreUnchanged() throws IOException {
    cas("llama/head", null, id("a"));
    Map<String, String> before = DirectoryState.of(root);
    assertThat(cas("llama/tags/prod", id("a"), id("b"))).isEqualTo(CasResult.LOCK_FAILURE);
    assertThat(cas("org/new/head", id("a"), null)).isEqualTo(CasResult.LOCK_FAILURE);
    assertThat(cas("org/new/head", null, null)).isEqualTo(CasResult.NO_CHANGE);
    assertThat(cas("llama/head", id("x"), id("b"))).isEqualTo(CasResult.LOCK_FAILURE);
    assertThat(cas("llama/head", null, id("b"))).isEqualTo(CasResult.LOCK_FAILURE);
    assertThat(cas("llama/head", id("a"), id("a"))).isEqualTo(CasResult.NO_CHANGE);
    assertThatThrownBy(() -> cas("../escape/head", null, id("a"))).isInstanceOf(InvalidInputException.class);
    assertThatThrownBy(() -> cas("org/x.log/head", null, id("a"))).isInstanceOf(InvalidInputException.class);
    assertThat(DirectoryState.of(root)).isEqualTo(before);
  }

  @Test
  void tenThousandEntryLogResolvesInUnderTwoMilliseconds() throws IOException {
    String ref = "llama/head";
    ChunkId prev = id("0");
    cas(ref, null, prev);
    Path log = root.resolve("refs/llama/head.log");
    try (OutputStream out = Files.newOutputStream(log, StandardOpenOption.APPEND)) {
      for (int i = 1; i <= 10_000; i++) {
        ChunkId next = id(Integer.toString(i));
        out.write(RefLogFormat.encode(new RefLogEntry(prev, next, "bulk", Instant.now(), "entry " + i)));
        prev = next;
      }
    }
    assertThat(backend.refs().log(ref)).hasSize(10_001);
    for (int i = 0; i < 2000; i++) {
      assertThat(backend.refs().get(ref)).contains(prev);
    }
    long[] nanos = new long[201];
    for (int i = 0; i < nanos.length; i++) {
      long t0 = System.nanoTime();
      backend.refs().get(ref);
      nanos[i] = System.nanoTime() - t0;
    }
    Arrays.sort(nanos);
    assertThat(nanos[nanos.length / 2]).as("median nanoseconds of get() on a 10,001-entry log")
        .isLessThan(2_000_000L);
    assertThat(cas(ref, prev, id("last"))).isEqualTo(CasResult.UPDATED);
  }

  @Test
  void twoBackendsInOneJvmShareRefsSafely() throws Exception {
    String ref = "llama/tags/shared";
    try (LocalBackend second = LocalBackend.open(root, StoreOptions.existing())) {
      List<Callable<Integer>> tasks = new ArrayList<>();
      for (LocalBackend b : List.of(backend, second)) {
        String label = b == backend ? "first" : "second";
        tasks.add(() -> {
          for (int i = 0; i < 100; i++) {
            ChunkId next = id(label + i);
            while (true) {
              ChunkId cur = b.refs().get(ref).orElse(null);
              if (b.refs().compareAndSet(ref, cur, next, new RefLogEntry(cur, next, label, Instant.now(), ""))
                  .isSuccess()) {
                break;
              }
            }
          }
          return 0;
        });
      }
      for (Future<Integer> f : ChunkStoreContract.runAll(tasks)) {
        f.get();
      }
    }
    List<RefLogEntry> log = backend.refs().log(ref);
    assertThat(log).hasSize(200);
    for (int i = 1; i < log.size(); i++) {
      assertThat(log.get(i).oldId()).isEqualTo(log.get(i - 1).newId());
    }
  }

  @Test
  void openingRemovesStaleTemporaryFilesOnly() throws IOException {
    backend.close();
    Path stale = Files.writeString(root.resolve("tmp/0123456789abcdef-1.tmp"), "left by a crash");
    Files.setLastModifiedTime(stale, java.nio.file.attribute.FileTime.from(
        Instant.now().minus(java.time.Duration.ofHours(LocalBackend.STALE_TEMP_HOURS + 1))));
    Path fresh = Files.writeString(root.resolve("tmp/0123456789abcdef-2.tmp"), "a put in progress");
    backend = LocalBackend.open(root, StoreOptions.existing());
    assertThat(stale).doesNotExist();
    assertThat(fresh).exists();
  }

  /**
   * A push or gc killed between making its lease's directory and writing the lease left that directory empty, and
   * nothing removed it: gc deletes the records of dead leases, and an empty directory holds none. Opening the store
   * removes empty directories of records as old as stale temporary files; younger ones and ones holding a record stay.
   */
  @Test
  void openingRemovesStaleEmptyRecordDirectoriesOnly() throws IOException {
    backend.records().create("leases/push/live/lease", "{}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
    backend.close();
    java.nio.file.attribute.FileTime old = java.nio.file.attribute.FileTime.from(
        Instant.now().minus(java.time.Duration.ofHours(LocalBackend.STALE_TEMP_HOURS + 1)));
    Path killed = Files.createDirectories(root.resolve("records/leases/gc/killed"));
    Files.setLastModifiedTime(killed, old);
    Path fresh = Files.createDirectories(root.resolve("records/leases/push/being-made"));
    Path live = root.resolve("records/leases/push/live");
    Files.setLastModifiedTime(live, old);
    backend = LocalBackend.open(root, StoreOptions.existing());
    assertThat(killed).doesNotExist();
    assertThat(fresh).isDirectory();
    assertThat(live.resolve("lease")).exists();
    assertThat(backend.records().read("leases/push/live/lease")).isPresent();
  }

  @Test
  void closedBackendRefusesUse() throws IOException {
    backend.close();
    assertThatThrownBy(() -> backend.refs().get("llama/head")).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> backend.chunks().contains(id("a"))).isInstanceOf(IllegalStateException.class);
  }
}
