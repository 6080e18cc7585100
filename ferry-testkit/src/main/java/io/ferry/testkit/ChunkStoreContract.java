package io.ferry.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.id.ChunkId;
import io.ferry.error.MissingObjectException;
import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.StoredObject;
import java.io.EOFException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The contract of {@link ChunkStore}, which every backend must pass (like Lucene's {@code BaseDirectoryTestCase}). A
 * backend's test extends this class and implements {@link #newBackend}; backend-specific tests go in the subclass.
 *
 * <p>Random sizes and contents come from a seeded random; a failing test reports its seed ({@code -Dferry.seed=}).
 */
public abstract class ChunkStoreContract {
  /** The test's seeded random. */
  @RegisterExtension protected final TestRandom random = new TestRandom();

  /** A fresh empty directory for the backend under test. */
  @TempDir protected Path scratch;

  /** The backend under test, opened before each test and closed after it. */
  protected Backend backend;

  /** {@code backend.chunks()}. */
  protected ChunkStore store;

  /**
   * Opens a new, empty backend for one test. {@code scratch} is an empty directory the backend may use (or ignore,
   * e.g. a remote backend using a fresh bucket or keyspace per test).
   */
  protected abstract Backend newBackend(Path scratch) throws Exception;

  /**
   * Whether, of concurrent puts of one id, exactly one returns true. Backends that can only say "created or not
   * known" (e.g. an object store without conditional writes) may return false here, documenting why; then the test
   * checks that at least one put returns true.
   */
  protected boolean putReportsCreationExactlyOnce() {
    return true;
  }

  @BeforeEach
  final void openBackend() throws Exception {
    backend = newBackend(scratch);
    store = backend.chunks();
  }

  @AfterEach
  final void closeBackend() throws Exception {
    if (backend != null) {
      backend.close();
    }
  }

  /** Random content of {@code n} bytes. */
  protected byte[] content(int n) {
    return random.bytes(n);
  }

  /** Puts content under its SHA-256 and returns the id. */
  protected ChunkId putContent(byte[] content) throws Exception {
    ChunkId id = ChunkId.of(content);
    assertThat(store.put(id, ByteBuffer.wrap(content))).as("put of new object %s", id).isTrue();
    return id;
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  @Test
  void putThenGetReturnsTheContent() throws Exception {
    byte[] c = content(1000 + random.random().nextInt(5000));
    ChunkId id = ChunkId.of(c);
    assertThat(store.contains(id)).isFalse();
    assertThat(store.put(id, ByteBuffer.wrap(c))).isTrue();
    assertThat(store.contains(id)).isTrue();
    assertThat(store.size(id)).isEqualTo(c.length);
    ByteBuffer got = store.get(id);
    assertThat(got.position()).isZero();
    assertThat(got.limit()).isEqualTo(c.length);
    assertThat(bytes(got)).isEqualTo(c);
  }

  @Test
  void removeAbandonedNeverRemovesAnObject() throws Exception {
    byte[] c = content(2000);
    ChunkId id = putContent(c);
    store.removeAbandoned(java.time.Instant.now().plus(java.time.Duration.ofDays(1)));
    assertThat(store.contains(id)).isTrue();
    assertThat(bytes(store.get(id))).isEqualTo(c);
  }

  @Test
  void secondPutIsANoOpAndKeepsTheFirstContent() throws Exception {
    byte[] first = content(3000);
    ChunkId id = putContent(first);
    assertThat(store.put(id, ByteBuffer.wrap(first))).as("put of existing object").isFalse();
    assertThat(store.put(id, ByteBuffer.wrap(content(10)))).as("put of existing id, other bytes").isFalse();
    assertThat(bytes(store.get(id))).isEqualTo(first);
    assertThat(store.size(id)).isEqualTo(first.length);
  }

  @Test
  void emptyObject() throws Exception {
    ChunkId id = putContent(new byte[0]);
    assertThat(store.contains(id)).isTrue();
    assertThat(store.size(id)).isZero();
    assertThat(store.get(id).remaining()).isZero();
    assertThat(store.read(id, 0, 0).remaining()).isZero();
    assertThatThrownBy(() -> store.read(id, 0, 1)).isInstanceOf(EOFException.class);
    List<StoredObject> listed = listAll();
    assertThat(listed).extracting(StoredObject::id).containsExactly(id);
    assertThat(listed.get(0).size()).isZero();
  }

  @Test
  void oneByteObject() throws Exception {
    byte[] c = {(byte) random.random().nextInt()};
    ChunkId id = putContent(c);
    assertThat(store.size(id)).isEqualTo(1);
    assertThat(bytes(store.get(id))).isEqualTo(c);
    assertThat(bytes(store.read(id, 1, 0))).isEmpty();
  }

  @Test
  void multiMebibyteObject() throws Exception {
    int n = 5 * 1024 * 1024 + random.random().nextInt(1 << 20);
    byte[] c = content(n);
    ChunkId id = putContent(c);
    assertThat(store.size(id)).isEqualTo(n);
    assertThat(store.get(id)).isEqualTo(ByteBuffer.wrap(c));
    int off = random.random().nextInt(n / 2);
    int len = random.random().nextInt(n - off);
    assertThat(store.read(id, off, len)).isEqualTo(ByteBuffer.wrap(c, off, len));
  }

  @Test
  void putConcatenatesGatheredParts() throws Exception {
    Random r = random.random();
    List<ByteBuffer> parts = new ArrayList<>();
    ByteBuffer expected = ByteBuffer.allocate(200_000);
    for (int i = 0; i < 12; i++) {
      int n = i % 4 == 0 ? 0 : r.nextInt(16_000);
      byte[] b = content(n + 7);
      expected.put(b, 7, n);
      ByteBuffer part;
      if (i % 2 == 0) {
        part = ByteBuffer.allocateDirect(b.length).put(b).flip();
      } else {
        part = ByteBuffer.wrap(b);
      }
      parts.add(part.position(7));
    }
    expected.flip();
    ChunkId id = ChunkId.of(expected);
    assertThat(store.put(id, parts.toArray(ByteBuffer[]::new))).isTrue();
    assertThat(store.size(id)).isEqualTo(expected.remaining());
    assertThat(store.get(id)).isEqualTo(expected);
  }

  @Test
  void rangeReadsOfSmallAndLargeObjects() throws Exception {
    for (int n : new int[] {100, 70_000, 300_000 + random.random().nextInt(100_000)}) {
      byte[] c = content(n);
      ChunkId id = putContent(c);
      assertRange(id, c, 0, Math.min(n, 10));
      assertRange(id, c, 0, n);
      assertRange(id, c, n / 3, n / 3);
      assertRange(id, c, n - 5, 5);
      assertRange(id, c, n, 0);
      assertRange(id, c, n / 2, 0);
      assertRange(id, c, 1, n - 1);
      for (int i = 0; i < 20; i++) {
        int off = random.random().nextInt(n + 1);
        assertRange(id, c, off, random.random().nextInt(n - off + 1));
      }
      assertThatThrownBy(() -> store.read(id, n - 1, 2)).isInstanceOf(EOFException.class)
          .hasMessageContaining(id.hex());
      assertThatThrownBy(() -> store.read(id, n + 1, 0)).isInstanceOf(EOFException.class);
      assertThatThrownBy(() -> store.read(id, 0, n + 1)).isInstanceOf(EOFException.class);
      assertThatThrownBy(() -> store.read(id, Long.MAX_VALUE - 2, 10)).isInstanceOf(EOFException.class);
      assertThatThrownBy(() -> store.readInto(id, n - 1, ByteBuffer.allocate(2))).isInstanceOf(EOFException.class)
          .hasMessageContaining(id.hex());
    }
  }

  private void assertRange(ChunkId id, byte[] c, long off, int len) throws Exception {
    ByteBuffer got = store.read(id, off, len);
    assertThat(got.position()).as("position of read(%d, %d)", off, len).isZero();
    assertThat(got.limit()).as("limit of read(%d, %d)", off, len).isEqualTo(len);
    assertThat(got).as("read(%d, %d) of %d bytes", off, len, c.length)
        .isEqualTo(ByteBuffer.wrap(c, (int) off, len));
    for (ByteBuffer dst : new ByteBuffer[] {ByteBuffer.allocate(len + 3), ByteBuffer.allocateDirect(len + 3)}) {
      dst.position(3);
      store.readInto(id, off, dst);
      assertThat(dst.position()).as("position after readInto(%d, %d)", off, len).isEqualTo(len + 3);
      assertThat(dst.flip().position(3)).as("readInto(%d, %d) of %d bytes", off, len, c.length)
          .isEqualTo(ByteBuffer.wrap(c, (int) off, len));
    }
  }

  @Test
  void missingObjectIsReported() throws Exception {
    ChunkId id = ChunkId.of(content(10));
    assertThat(store.contains(id)).isFalse();
    assertThatThrownBy(() -> store.read(id, 0, 1)).isInstanceOfSatisfying(MissingObjectException.class,
        e -> assertThat(e.id()).isEqualTo(id));
    assertThatThrownBy(() -> store.size(id)).isInstanceOfSatisfying(MissingObjectException.class,
        e -> assertThat(e.id()).isEqualTo(id));
    assertThatThrownBy(() -> store.get(id)).isInstanceOf(MissingObjectException.class)
        .hasMessageContaining(id.hex());
    assertThatThrownBy(() -> store.readInto(id, 0, ByteBuffer.allocate(1)))
        .isInstanceOfSatisfying(MissingObjectException.class, e -> assertThat(e.id()).isEqualTo(id));
  }

  @Test
  void missingListsAbsentIdsInOrder() throws Exception {
    ChunkId a = putContent(content(10));
    ChunkId b = ChunkId.of(content(11));
    ChunkId c = putContent(content(12));
    ChunkId d = ChunkId.of(content(13));
    assertThat(store.missing(List.of(d, a, b, c))).containsExactly(d, b);
    assertThat(store.missing(List.of())).isEmpty();
  }

  @Test
  void deleteRemovesAndIsIdempotent() throws Exception {
    ChunkId keep = putContent(content(100));
    byte[] c = content(200);
    ChunkId id = putContent(c);
    store.delete(id);
    assertThat(store.contains(id)).isFalse();
    assertThatThrownBy(() -> store.get(id)).isInstanceOf(MissingObjectException.class);
    assertThat(listAll()).extracting(StoredObject::id).containsExactly(keep);
    store.delete(id);
    store.delete(ChunkId.of(content(5)));
    assertThat(store.put(id, ByteBuffer.wrap(c))).as("put after delete creates again").isTrue();
    assertThat(bytes(store.get(id))).isEqualTo(c);
  }

  /**
   * How a damaged object is repaired ({@code ferry verify --delete-damaged}, then a push or copy): an object whose
   * stored bytes are wrong, read in every way (so that whatever a store or cache keeps of it is filled), deleted, then
   * put again with the right bytes. Every read after that gives the new bytes, and the store reports it missing in
   * between, so a push asking which ids it lacks stores it again.
   */
  @Test
  void anObjectDeletedForItsDamageIsStoredAgainWithItsRightBytes() throws Exception {
    byte[] right = content(5000);
    byte[] damaged = content(4000);
    ChunkId id = ChunkId.of(right);
    assertThat(store.put(id, ByteBuffer.wrap(damaged))).isTrue();
    assertThat(bytes(store.get(id))).isEqualTo(damaged);
    assertThat(bytes(store.read(id, 100, 50))).isEqualTo(java.util.Arrays.copyOfRange(damaged, 100, 150));
    assertThat(store.size(id)).isEqualTo(damaged.length);
    assertThat(store.missing(List.of(id))).isEmpty();
    assertThat(store.put(id, ByteBuffer.wrap(right))).as("a put of a held id keeps what is held").isFalse();

    store.delete(id);
    assertThat(store.missing(List.of(id))).containsExactly(id);
    assertThat(store.contains(id)).isFalse();
    assertThat(store.put(id, ByteBuffer.wrap(right))).as("put after delete creates again").isTrue();

    assertThat(store.size(id)).isEqualTo(right.length);
    assertThat(bytes(store.get(id))).isEqualTo(right);
    assertThat(bytes(store.read(id, 100, 50))).isEqualTo(java.util.Arrays.copyOfRange(right, 100, 150));
    ByteBuffer into = ByteBuffer.allocate(64);
    store.readInto(id, 4900, into);
    assertThat(into.array()).isEqualTo(java.util.Arrays.copyOfRange(right, 4900, 4964));
    assertThat(store.missing(List.of(id))).isEmpty();
  }

  @Test
  void listReportsEveryObjectWithItsSize() throws Exception {
    Map<ChunkId, Integer> expected = new HashMap<>();
    for (int i = 0; i < 50; i++) {
      byte[] c = content(random.random().nextInt(3000));
      expected.put(putContent(c), c.length);
    }
    Map<ChunkId, Long> listed = new HashMap<>();
    store.list(o -> {
      assertThat(o.modified()).isNotNull();
      assertThat(listed.put(o.id(), o.size())).as("listed twice: %s", o.id()).isNull();
    });
    assertThat(listed).hasSize(expected.size());
    expected.forEach((id, n) -> assertThat(listed.get(id)).as("size of %s", id).isEqualTo(n.longValue()));
  }

  /**
   * Whether the store lists ids by prefix ({@link ChunkStore#listIds} answers true for prefixes of two digits or more):
   * those that keep their objects under their ids' leading digits or list keys by prefix say so, and are held to it.
   */
  protected boolean listsIdsByPrefix() {
    return false;
  }

  /** Where a store lists ids by prefix, it lists exactly the objects list() reports with that prefix. */
  @Test
  void listIdsByPrefixFindsWhatListFindsWithThatPrefix() throws Exception {
    List<ChunkId> put = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      put.add(putContent(content(1 + random.random().nextInt(200))));
    }
    List<ChunkId> all = new ArrayList<>();
    store.list(o -> all.add(o.id()));
    ChunkId some = put.get(random.random().nextInt(put.size()));
    for (String prefix : new String[] {some.hex().substring(0, 2), some.hex().substring(0, 4), some.hex(),
        some.hex().substring(0, 5).equals("00000") ? "fffff" : "00000"}) {
      List<ChunkId> listed = new ArrayList<>();
      boolean answered = store.listIds(prefix, listed::add);
      if (listsIdsByPrefix()) {
        assertThat(answered).as("ids listed by the prefix %s", prefix).isTrue();
      }
      if (answered) {
        assertThat(listed).as("ids starting with %s", prefix)
            .containsExactlyInAnyOrderElementsOf(all.stream().filter(id -> id.hex().startsWith(prefix)).toList());
      } else {
        assertThat(listed).as("nothing reported by a store that cannot list by prefix").isEmpty();
      }
    }
  }

  /**
   * How many objects {@link #listStreamsEveryObject} puts and lists: 2,000 by default, past two pages of the listings
   * that page a flat key space (S3's and the HTTP store's 1,000 keys, Cassandra's 1,000 rows). A store whose listing
   * pages per fan-out directory (256 of them, each listed in pages of its own) returns fewer, enough to fill most
   * directories and leave some absent, and says so.
   */
  protected int objectsToList() {
    return 2000;
  }

  @Test
  void listStreamsEveryObject() throws Exception {
    List<byte[]> contents = new ArrayList<>();
    for (int i = 0; i < objectsToList(); i++) {
      contents.add(content(32 + random.random().nextInt(64)));
    }
    // put from eight threads: the listing is what is tested, and remote stores spend their time in round trips
    Set<ChunkId> expected = java.util.concurrent.ConcurrentHashMap.newKeySet();
    java.util.concurrent.ExecutorService putters = java.util.concurrent.Executors.newFixedThreadPool(8);
    try {
      List<java.util.concurrent.Future<?>> puts = new ArrayList<>();
      for (byte[] c : contents) {
        puts.add(putters.submit(() -> expected.add(putContent(c))));
      }
      for (java.util.concurrent.Future<?> f : puts) {
        f.get(5, TimeUnit.MINUTES);
      }
    } finally {
      putters.shutdownNow();
    }
    Set<ChunkId> seen = new HashSet<>();
    int[] calls = {0};
    store.list(o -> {
      calls[0]++;
      seen.add(o.id());
    });
    assertThat(calls[0]).isEqualTo(expected.size());
    assertThat(seen).isEqualTo(expected);
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void concurrentPutsOfOneIdAllSucceedAndOneCreates() throws Exception {
    int threads = 8;
    for (int round = 0; round < 5; round++) {
      byte[] c = content(100_000 + random.random().nextInt(200_000));
      ChunkId id = ChunkId.of(c);
      CyclicBarrier start = new CyclicBarrier(threads);
      List<Callable<Boolean>> tasks = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        tasks.add(() -> {
          start.await(30, TimeUnit.SECONDS);
          return store.put(id, ByteBuffer.wrap(c));
        });
      }
      int created = 0;
      for (Future<Boolean> f : runAll(tasks)) {
        if (f.get()) {
          created++;
        }
      }
      if (putReportsCreationExactlyOnce()) {
        assertThat(created).as("puts that returned true in round %d", round).isEqualTo(1);
      } else {
        assertThat(created).as("puts that returned true in round %d", round).isGreaterThanOrEqualTo(1);
      }
      assertThat(store.get(id)).isEqualTo(ByteBuffer.wrap(c));
    }
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void concurrentPutsOfManyIdsAreAllListed() throws Exception {
    int threads = 8;
    int perThread = 100;
    Set<ChunkId> expected = ConcurrentHashMap.newKeySet();
    List<Callable<Boolean>> tasks = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      long seed = random.random().nextLong();
      tasks.add(() -> {
        Random r = new Random(seed);
        for (int i = 0; i < perThread; i++) {
          byte[] c = new byte[r.nextInt(2000)];
          r.nextBytes(c);
          ChunkId id = ChunkId.of(c);
          store.put(id, ByteBuffer.wrap(c));
          expected.add(id);
        }
        return true;
      });
    }
    for (Future<Boolean> f : runAll(tasks)) {
      f.get();
    }
    assertThat(listAll()).extracting(StoredObject::id).containsExactlyInAnyOrderElementsOf(expected);
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void readersNeverSeeAPartialObject() throws Exception {
    byte[] c = content(4 * 1024 * 1024);
    ChunkId id = ChunkId.of(c);
    AtomicBoolean done = new AtomicBoolean();
    List<Callable<Boolean>> tasks = new ArrayList<>();
    tasks.add(() -> {
      try {
        return store.put(id, ByteBuffer.wrap(c));
      } finally {
        done.set(true);
      }
    });
    for (int t = 0; t < 3; t++) {
      tasks.add(() -> {
        int seen = 0;
        while (!done.get() || seen == 0) {
          try {
            ByteBuffer b = store.get(id);
            assertThat(b.remaining()).as("size of a read that raced the put").isEqualTo(c.length);
            assertThat(b.get(c.length - 1)).isEqualTo(c[c.length - 1]);
            seen++;
          } catch (MissingObjectException notYetPublished) {
            // the put has not published the object yet: fine, as long as no prefix is ever visible
          }
        }
        return true;
      });
    }
    for (Future<Boolean> f : runAll(tasks)) {
      f.get();
    }
    assertThat(store.get(id)).isEqualTo(ByteBuffer.wrap(c));
  }

  @Test
  void readResultStaysValidAfterDelete() throws Exception {
    byte[] c = content(100_000);
    ChunkId id = putContent(c);
    ByteBuffer b = store.get(id);
    store.delete(id);
    assertThat(b).isEqualTo(ByteBuffer.wrap(c));
  }

  @Test
  void closeTwiceIsHarmless() throws Exception {
    putContent(content(10));
    backend.close();
    backend.close();
    backend = null;
  }

  /** Lists every object of the store. */
  protected List<StoredObject> listAll() throws Exception {
    List<StoredObject> out = Collections.synchronizedList(new ArrayList<>());
    store.list(out::add);
    return out;
  }

  /** Runs the tasks on their own threads and waits for all of them. */
  protected static <T> List<Future<T>> runAll(List<Callable<T>> tasks) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(tasks.size());
    try {
      List<Future<T>> futures = pool.invokeAll(tasks, 240, TimeUnit.SECONDS);
      for (Future<T> f : futures) {
        assertThat(f.isCancelled()).as("a task timed out").isFalse();
      }
      return futures;
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * Puts of objects that share a first byte (one fan-out directory where stores have them), racing a put and delete of
   * another such object (a gc or a failed push beside a push, which may remove the emptied directory), all succeed and
   * stay readable until deleted.
   */
  @Test
  @Timeout(value = 180, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void putsSucceedWhileDeletesEmptyTheirDirectory() throws Exception {
    int rounds = 24;
    ChunkId churn = ChunkId.parse("ce" + "f".repeat(62));
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      Future<?> deleter = pool.submit(() -> {
        for (int i = 0; i < rounds; i++) {
          store.put(churn, ByteBuffer.wrap(content(8)));
          store.delete(churn);
        }
        return null;
      });
      Future<Integer> putter = pool.submit(() -> {
        int done = 0;
        for (int i = 0; i < rounds; i++) {
          ChunkId id = ChunkId.parse("ce" + String.format("%062x", i));
          byte[] c = content(16);
          assertThat(store.put(id, ByteBuffer.wrap(c))).as("put %d", i).isTrue();
          assertThat(bytes(store.read(id, 0, c.length))).as("object %d", i).isEqualTo(c);
          store.delete(id);
          done++;
        }
        return done;
      });
      deleter.get();
      assertThat(putter.get()).isEqualTo(rounds);
    } finally {
      pool.shutdownNow();
    }
    assertThat(store.contains(churn)).isFalse();
  }

}
