package io.ferry.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.ferry.id.ChunkId;
import io.ferry.error.CorruptRefException;
import io.ferry.error.FerryException;
import io.ferry.error.InvalidInputException;
import io.ferry.store.Backend;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefStore;
import io.ferry.store.StoreOptions;
import io.ferry.store.refs.NumberedRefStore;
import io.ferry.store.refs.RefLogFormat;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.UnaryOperator;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The contract of {@link RefStore}, which every backend must pass. A backend's test extends this class and
 * implements {@link #newBackend}; for the multi-process test it may override {@link #storeUri}.
 *
 * <p>Decisions this contract pins down for every backend:
 *
 * <ul>
 *   <li>A move to the value the ref already has returns {@link CasResult#NO_CHANGE} and is <b>not</b> logged (like
 *       git's reflog, which records moves, not attempts).
 *   <li>Deleting a ref appends an entry with {@code new = null}; the ref is then absent for {@code get} and {@code
 *       list}, its log remains, and it can be created again with {@code expected = null}.
 *   <li>Log times are kept to at least millisecond precision.
 * </ul>
 */
public abstract class RefStoreContract {
  /** The test's seeded random. */
  @RegisterExtension protected final TestRandom random = new TestRandom();

  /** A fresh empty directory for the backend under test. */
  @TempDir protected Path scratch;

  /** The backend under test, opened before each test and closed after it. */
  protected Backend backend;

  /** {@code backend.refs()}. */
  protected RefStore refs;

  /** Opens a new, empty backend for one test; see {@link ChunkStoreContract#newBackend}. */
  protected abstract Backend newBackend(Path scratch) throws Exception;

  /**
   * The URI by which another process opens the same store through {@link java.util.ServiceLoader} (see {@link
   * RefMover}); by default {@link Backend#uri()}.
   */
  protected URI storeUri(Backend backend) throws Exception {
    return URI.create(backend.uri());
  }

  /** Settings the child processes of the multi-process test open the store with; none by default. */
  protected Map<String, String> storeSettings(Backend backend) throws Exception {
    return Map.of();
  }

  /**
   * Rewrites line {@code n} (1 for the first) of a log kept as one file of newline-ended lines, such as a local
   * store's {@code refs/<ref>.log}: for {@link #rewriteEntry} of stores that keep a ref's log that way.
   */
  protected static void rewriteLine(Path log, int n, UnaryOperator<byte[]> change) throws java.io.IOException {
    byte[] all = Files.readAllBytes(log);
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    int line = 1;
    int from = 0;
    for (int i = 0; i < all.length; i++) {
      if (all[i] == '\n') {
        byte[] bytes = Arrays.copyOfRange(all, from, i);
        out.write(line == n ? change.apply(bytes) : bytes);
        out.write('\n');
        line++;
        from = i + 1;
      }
    }
    out.write(all, from, all.length - from);
    Files.write(log, out.toByteArray());
  }

  /**
   * Rewrites entry {@code n} (1 for the oldest) of a ref's log in place, as a failing disk or a hand edit would: the
   * entry's line ({@link RefLogFormat}, without its newline) becomes {@code change} of it. The default handles stores
   * built on {@link NumberedRefStore} by replacing the entry's record (keeping a nonce line if there is one); other
   * backends override it.
   */
  protected void rewriteEntry(String ref, int n, UnaryOperator<byte[]> change) throws Exception {
    if (!(refs instanceof NumberedRefStore numbered)) {
      throw new UnsupportedOperationException(getClass().getName() + " must override rewriteEntry for "
          + refs.getClass().getName());
    }
    String key = NumberedRefStore.entryKey(numbered.layout(), ref, n);
    byte[] body = numbered.records().read(key).orElseThrow(() -> new AssertionError("no record " + key));
    int nl = 0;
    while (nl < body.length && body[nl] != '\n') {
      nl++;
    }
    byte[] line = change.apply(Arrays.copyOfRange(body, 0, nl));
    byte[] out = new byte[line.length + body.length - nl];
    System.arraycopy(line, 0, out, 0, line.length);
    System.arraycopy(body, nl, out, line.length, body.length - nl);
    numbered.records().replace(key, out);
  }

  /**
   * Whether a damaged last entry is what a crash during an append leaves, to be skipped by readers (the local store's
   * append-only file); false where entries appear whole or not at all (numbered logs), so that any damaged entry is
   * corruption.
   */
  protected boolean lastEntryMayBeTorn() {
    return false;
  }

  /** Extra JVM options for the child processes (e.g. {@code --add-opens}); none by default. */
  protected List<String> childJvmOptions() {
    return List.of();
  }

  @BeforeEach
  final void openBackend() throws Exception {
    backend = newBackend(scratch);
    refs = backend.refs();
  }

  @AfterEach
  final void closeBackend() throws Exception {
    if (backend != null) {
      backend.close();
    }
  }

  /** A distinct id for a name. */
  protected static ChunkId id(String s) {
    return ChunkId.of(s.getBytes(StandardCharsets.UTF_8));
  }

  protected static Instant now() {
    return Instant.now().truncatedTo(ChronoUnit.MILLIS);
  }

  /** Moves {@code name} from {@code expected} to {@code next} with a log entry by "test". */
  protected CasResult cas(String name, ChunkId expected, ChunkId next) throws Exception {
    return refs.compareAndSet(name, expected, next, new RefLogEntry(expected, next, "test", now(), "move"));
  }

  @Test
  void absentRefIsEmpty() throws Exception {
    assertThat(refs.get("llama/head")).isEmpty();
    assertThat(refs.log("llama/head")).isEmpty();
    assertThat(refs.list("")).isEmpty();
  }

  @Test
  void createWithExpectedNull() throws Exception {
    ChunkId a = id("a");
    assertThat(cas("llama/head", null, a)).isEqualTo(CasResult.NEW);
    assertThat(refs.get("llama/head")).contains(a);
    assertThat(cas("llama/head", null, id("b"))).isEqualTo(CasResult.LOCK_FAILURE);
    assertThat(refs.get("llama/head")).contains(a);
    assertThat(refs.log("llama/head")).hasSize(1);
  }

  @Test
  void updateNeedsTheCurrentValue() throws Exception {
    ChunkId a = id("a");
    ChunkId b = id("b");
    ChunkId c = id("c");
    cas("llama/tags/prod", null, a);
    assertThat(cas("llama/tags/prod", a, b)).isEqualTo(CasResult.UPDATED);
    assertThat(refs.get("llama/tags/prod")).contains(b);
    List<RefLogEntry> before = refs.log("llama/tags/prod");
    assertThat(cas("llama/tags/prod", a, c)).as("stale expected value").isEqualTo(CasResult.LOCK_FAILURE);
    assertThat(cas("llama/tags/prod", c, c)).as("wrong expected, same next").isEqualTo(CasResult.LOCK_FAILURE);
    assertThat(cas("llama/tags/prod", c, null)).as("delete with wrong expected").isEqualTo(CasResult.LOCK_FAILURE);
    assertThat(refs.get("llama/tags/prod")).contains(b);
    assertThat(refs.log("llama/tags/prod")).isEqualTo(before);
  }

  @Test
  void expectedValueOnAbsentRefFails() throws Exception {
    assertThat(cas("llama/head", id("a"), id("b"))).isEqualTo(CasResult.LOCK_FAILURE);
    assertThat(cas("llama/head", id("a"), null)).isEqualTo(CasResult.LOCK_FAILURE);
    assertThat(refs.get("llama/head")).isEmpty();
    assertThat(refs.log("llama/head")).isEmpty();
    assertThat(refs.list("")).isEmpty();
  }

  @Test
  void sameValueIsNoChangeAndNotLogged() throws Exception {
    ChunkId a = id("a");
    cas("llama/head", null, a);
    assertThat(cas("llama/head", a, a)).isEqualTo(CasResult.NO_CHANGE);
    assertThat(refs.get("llama/head")).contains(a);
    assertThat(refs.log("llama/head")).hasSize(1);
    assertThat(cas("other/head", null, null)).as("absent stays absent").isEqualTo(CasResult.NO_CHANGE);
    assertThat(refs.list("")).containsExactly("llama/head");
  }

  @Test
  void deleteThenRecreate() throws Exception {
    ChunkId a = id("a");
    ChunkId b = id("b");
    cas("llama/tags/prod", null, a);
    cas("llama/head", null, a);
    assertThat(cas("llama/tags/prod", a, null)).isEqualTo(CasResult.DELETED);
    assertThat(refs.get("llama/tags/prod")).isEmpty();
    assertThat(refs.list("")).containsExactly("llama/head");
    assertThat(refs.list("llama/tags/")).isEmpty();
    assertThat(cas("llama/tags/prod", a, b)).as("move of a deleted ref").isEqualTo(CasResult.LOCK_FAILURE);
    assertThat(cas("llama/tags/prod", null, null)).isEqualTo(CasResult.NO_CHANGE);
    assertThat(cas("llama/tags/prod", null, b)).isEqualTo(CasResult.NEW);
    assertThat(refs.get("llama/tags/prod")).contains(b);
    List<RefLogEntry> log = refs.log("llama/tags/prod");
    assertThat(log).extracting(RefLogEntry::oldId).containsExactly(null, a, null);
    assertThat(log).extracting(RefLogEntry::newId).containsExactly(a, null, b);
  }

  @Test
  void deletedRefsAreListedWithTheirLogs() throws Exception {
    ChunkId a = id("a");
    cas("llama/head", null, a);
    cas("llama/tags/prod", null, a);
    cas("llama/tags/old", null, a);
    cas("llama/tags/old", a, null);
    cas("gone/head", null, a);
    cas("gone/head", a, null);
    assertThat(refs.list("")).containsExactly("llama/head", "llama/tags/prod");
    assertThat(refs.listLogged("")).as("existing and deleted refs, sorted")
        .containsExactly("gone/head", "llama/head", "llama/tags/old", "llama/tags/prod");
    assertThat(refs.listLogged("llama/tags/")).containsExactly("llama/tags/old", "llama/tags/prod");
    assertThat(refs.listLogged("gone/")).containsExactly("gone/head");
    assertThat(refs.listLogged("nothing/")).isEmpty();
    assertThat(refs.log("gone/head")).extracting(RefLogEntry::newId).containsExactly(a, null);
  }

  @Test
  void logKeepsEveryMoveOldestFirst() throws Exception {
    ChunkId a = id("a");
    ChunkId b = id("b");
    Instant t1 = now().minusSeconds(60);
    Instant t2 = now();
    String why = "promote: eval 0.91 → 0.93\nsecond line \"quoted\" ∆";
    assertThat(refs.compareAndSet("org/llama/tags/prod", null, a, new RefLogEntry(null, a, "alice", t1, "first")))
        .isEqualTo(CasResult.NEW);
    assertThat(refs.compareAndSet("org/llama/tags/prod", a, b, new RefLogEntry(a, b, "bob@example.org", t2, why)))
        .isEqualTo(CasResult.UPDATED);
    assertThat(refs.log("org/llama/tags/prod")).containsExactly(
        new RefLogEntry(null, a, "alice", t1, "first"),
        new RefLogEntry(a, b, "bob@example.org", t2, why));
    assertThat(refs.log("org/llama/head")).isEmpty();
  }

  @Test
  void entryMustDescribeTheMove() throws Exception {
    ChunkId a = id("a");
    cas("llama/head", null, a);
    assertThatThrownBy(() -> refs.compareAndSet("llama/head", a, id("b"),
        new RefLogEntry(a, id("c"), "test", now(), "wrong new id"))).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> refs.compareAndSet("llama/head", a, id("b"),
        new RefLogEntry(null, id("b"), "test", now(), "wrong old id"))).isInstanceOf(IllegalArgumentException.class);
    assertThat(refs.get("llama/head")).contains(a);
    assertThat(refs.log("llama/head")).hasSize(1);
  }

  @Test
  void listByPrefixIsSorted() throws Exception {
    List<String> names = List.of("org/model/tags/v1", "org/model/head", "org/model/tags/prod", "org/other/head",
        "model/head", "model/tags/Prod-2", "org/model2/head");
    for (String n : names) {
      assertThat(cas(n, null, id(n))).isEqualTo(CasResult.NEW);
    }
    assertThat(refs.list("org/model/")).containsExactly("org/model/head", "org/model/tags/prod",
        "org/model/tags/v1");
    assertThat(refs.list("org/model/tags/")).containsExactly("org/model/tags/prod", "org/model/tags/v1");
    assertThat(refs.list("")).isEqualTo(names.stream().sorted().toList());
    assertThat(refs.list("org/")).hasSize(5);
    assertThat(refs.list("nothing/")).isEmpty();
    for (String n : names) {
      assertThat(refs.get(n)).as(n).contains(id(n));
    }
  }

  @Test
  void invalidNamesAreRejected() throws Exception {
    for (String bad : new String[] {"", "llama", "llama/", "/llama/head", "../llama/head", "llama/../head",
        "_llama/head", "a/b/c/head", "llama/tags/head/tags/x", "llama/tags/", "llama/tags/.hidden", "llama/tags/a/b",
        "llama\u0000/head", "llama/heads", "llama/tags/x y"}) {
      assertThatThrownBy(() -> refs.get(bad)).as("get('%s')", bad).isInstanceOf(InvalidInputException.class);
      assertThatThrownBy(() -> cas(bad, null, id("a"))).as("cas('%s')", bad)
          .isInstanceOf(InvalidInputException.class);
      assertThatThrownBy(() -> refs.log(bad)).as("log('%s')", bad).isInstanceOf(InvalidInputException.class);
    }
    assertThat(refs.list("")).isEmpty();
  }

  /** Hugging Face repo ids are model names: upper case, dots and one org/ prefix, kept as they are. */
  @Test
  void huggingFaceStyleNamesAreKeptAsTheyAre() throws Exception {
    String head = "meta-llama/Llama-3.1-8B/head";
    String tag = "meta-llama/Llama-3.1-8B/tags/Prod";
    assertThat(cas(head, null, id("a")).isSuccess()).isTrue();
    assertThat(cas(tag, null, id("b")).isSuccess()).isTrue();
    assertThat(refs.get(head)).contains(id("a"));
    assertThat(refs.list("meta-llama/")).containsExactlyInAnyOrder(head, tag);
    assertThat(refs.log(tag)).hasSize(1);
  }

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void contendedIncrementsLoseNoMove() throws Exception {
    int threads = 8;
    int moves = 200;
    String ref = "llama/tags/counter";
    CyclicBarrier start = new CyclicBarrier(threads);
    List<Callable<Integer>> tasks = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      int thread = t;
      tasks.add(() -> {
        start.await(30, TimeUnit.SECONDS);
        int lost = 0;
        for (int i = 0; i < moves; i++) {
          ChunkId next = id("t" + thread + ":" + i);
          while (true) {
            ChunkId cur = refs.get(ref).orElse(null);
            CasResult r = cas(ref, cur, next);
            if (r == CasResult.NEW || r == CasResult.UPDATED) {
              break;
            }
            assertThat(r).as("outcome of a move to a fresh value").isEqualTo(CasResult.LOCK_FAILURE);
            lost++;
          }
        }
        return lost;
      });
    }
    for (Future<Integer> f : ChunkStoreContract.runAll(tasks)) {
      f.get();
    }
    assertChained(ref, threads * moves);
    // a log past 1,000 entries: a numbered log's first whole read wrote the segment of entries 1..1000, which a fresh
    // reader takes instead of those entries, to the same log
    List<RefLogEntry> whole = refs.log(ref);
    if (refs instanceof NumberedRefStore numbered) {
      assertThat(numbered.records().read(NumberedRefStore.segmentKey(numbered.layout(), ref, 1000)))
          .as("segment of entries 1..1000").isPresent();
    }
    try (Backend cold = reopen()) {
      assertThat(cold.refs().log(ref)).isEqualTo(whole);
      cold.refs().checkLog(ref);
    }
  }

  /**
   * Two child JVMs move one ref at the same time. They are released together once both have opened the store (a JVM
   * that starts late would otherwise find the other done), and the test checks that their moves did overlap, so that
   * what passes is a real race: 200 moves each, every one a read and a compare-and-swap that the other may win.
   */
  @Test
  @Timeout(value = 600, unit = TimeUnit.SECONDS)
  void twoProcessesMovingOneRefLoseNoMove() throws Exception {
    int moves = 200;
    String ref = "org/llama/tags/prod";
    List<String> labels = List.of("p1", "p2");
    List<Process> children = new ArrayList<>();
    List<Path> logs = new ArrayList<>();
    List<Path> ready = new ArrayList<>();
    try {
      for (String label : labels) {
        Path out = Files.createTempFile("refmover-" + label + "-", ".log");
        logs.add(out);
        Path flag = scratch.resolve("refmover-" + label + ".ready");
        ready.add(flag);
        children.add(startMover(ref, moves, label, out, flag));
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      for (int i = 0; i < children.size(); i++) {
        while (!Files.exists(ready.get(i))) {
          assertThat(children.get(i).isAlive()).as("child %d still starting; its output:%n%s", i,
              Files.readString(logs.get(i))).isTrue();
          assertThat(System.nanoTime()).as("child %d opened the store within 120 s", i).isLessThan(deadline);
          LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
      }
      for (Process p : children) {
        p.getOutputStream().write("go\n".getBytes(StandardCharsets.US_ASCII));
        p.getOutputStream().flush();
      }
      for (int i = 0; i < children.size(); i++) {
        Process p = children.get(i);
        assertThat(p.waitFor(500, TimeUnit.SECONDS)).as("child %d finished", i).isTrue();
        assertThat(p.exitValue()).as("exit code of child %d; its output:%n%s", i, Files.readString(logs.get(i)))
            .isZero();
      }
      List<RefLogEntry> log = assertChained(ref, 2 * moves);
      Map<String, Integer> perLabel = new HashMap<>();
      int switches = 0;
      String last = null;
      for (RefLogEntry e : log) {
        String[] why = e.why().split(" ");
        int i = Integer.parseInt(why[1]);
        int prev = perLabel.getOrDefault(why[0], -1);
        assertThat(i).as("moves of %s in order", why[0]).isEqualTo(prev + 1);
        perLabel.put(why[0], i);
        if (last != null && !last.equals(why[0])) {
          switches++;
        }
        last = why[0];
      }
      assertThat(perLabel).containsOnlyKeys(labels.toArray(new String[0]));
      assertThat(switches).as("changes of mover along the log (2 or more: the processes moved at the same time, so "
          + "their moves raced); children's reports: %s / %s", Files.readString(logs.get(0)).strip(),
          Files.readString(logs.get(1)).strip()).isGreaterThanOrEqualTo(2);
    } finally {
      for (Process p : children) {
        p.destroyForcibly();
      }
      for (Path l : logs) {
        Files.deleteIfExists(l);
      }
    }
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void aMoverKilledMidwayLeavesAConsistentRef() throws Exception {
    String ref = "llama/tags/crash";
    Path out = Files.createTempFile("refmover-victim-", ".log");
    Process p = startMover(ref, 1_000_000, "victim", out);
    try {
      // killed at whatever step of a move it is in once it has made some: how many says nothing about consistency,
      // and a slow store on a loaded machine (WebHDFS beside a Cassandra node on two cores) makes 100 in over 60 s
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
      while (refs.log(ref).size() < 25) {
        assertThat(p.isAlive()).as("mover still running; its output:%n%s", Files.readString(out)).isTrue();
        assertThat(System.nanoTime()).as("mover made 25 moves within 90 s").isLessThan(deadline);
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
      }
    } finally {
      p.destroyForcibly();
      p.waitFor(30, TimeUnit.SECONDS);
      Files.deleteIfExists(out);
    }
    List<RefLogEntry> log = assertChained(ref, refs.log(ref).size());
    ChunkId last = log.get(log.size() - 1).newId();
    assertThat(cas(ref, last, id("after the crash"))).isEqualTo(CasResult.UPDATED);
    assertThat(refs.log(ref)).hasSize(log.size() + 1);
  }

  /** Makes {@code moves} moves of a ref, to values {@code id(ref + i)}; returns the values in order. */
  private List<ChunkId> moves(String ref, int moves) throws Exception {
    List<ChunkId> values = new ArrayList<>();
    ChunkId cur = null;
    for (int i = 0; i < moves; i++) {
      ChunkId next = id(ref + i);
      assertThat(cas(ref, cur, next)).isIn(CasResult.NEW, CasResult.UPDATED);
      values.add(next);
      cur = next;
    }
    return values;
  }

  /** Changes the first hex digit of the entry's new id: its checksum no longer matches. */
  private static byte[] flipDigitOfNewId(byte[] line) {
    String s = new String(line, StandardCharsets.UTF_8);
    int at = s.indexOf("\"new\":\"") + 7;
    assertThat(at).as("the entry has a new id: %s", s).isGreaterThan(6);
    byte[] out = line.clone();
    out[at] = (byte) (out[at] == '0' ? '1' : '0');
    return out;
  }

  /** Asserts that a read failed as an integrity error naming the ref, the store and the entry. */
  private void assertCorrupt(ThrowingCallable read, String ref, long entry, String defect) {
    assertThatThrownBy(read).isInstanceOfSatisfying(CorruptRefException.class, e -> {
      assertThat(e.kind()).isEqualTo(FerryException.Kind.INTEGRITY);
      assertThat(e.kind().exitCode()).isEqualTo(3);
      assertThat(e.ref()).isEqualTo(ref);
      assertThat(e.entry()).isEqualTo(entry);
      assertThat(e.getMessage()).contains("'" + ref + "'").contains(backend.uri()).contains("entry " + entry)
          .contains(defect);
    });
  }

  @Test
  void aChangedDigitInAnOlderEntryIsAnIntegrityError() throws Exception {
    String ref = "org/llama/tags/prod";
    List<ChunkId> values = moves(ref, 4);
    refs.checkLog(ref);
    rewriteEntry(ref, 2, RefStoreContract::flipDigitOfNewId);
    assertCorrupt(() -> refs.log(ref), ref, 2, "CRC32C");
    assertCorrupt(() -> refs.checkLog(ref), ref, 2, "CRC32C");
    assertThat(refs.get(ref)).as("reads of the intact end of the log still work").contains(values.get(3));
    assertThat(refs.list("")).containsExactly(ref);
  }

  @Test
  void aGarbledEntryInTheMiddleIsAnIntegrityError() throws Exception {
    String ref = "llama/head";
    moves(ref, 3);
    rewriteEntry(ref, 1, line -> "this is not a ref log entry at all".getBytes(StandardCharsets.UTF_8));
    assertCorrupt(() -> refs.log(ref), ref, 1, "not");
    assertCorrupt(() -> refs.checkLog(ref), ref, 1, "not");
  }

  @Test
  void anEntryThatDoesNotChainIsAnIntegrityError() throws Exception {
    String ref = "llama/tags/dev";
    List<ChunkId> values = moves(ref, 3);
    rewriteEntry(ref, 3, line -> {
      RefLogEntry e = RefLogFormat.decode(line, 0, line.length);
      byte[] forged = RefLogFormat.encode(new RefLogEntry(id("elsewhere"), e.newId(), e.who(), e.when(), e.why()));
      return Arrays.copyOf(forged, forged.length - 1);
    });
    assertCorrupt(() -> refs.log(ref), ref, 3, "old id");
    assertCorrupt(() -> refs.checkLog(ref), ref, 3, "old id");
    rewriteEntry(ref, 3, line -> {
      RefLogEntry e = RefLogFormat.decode(line, 0, line.length);
      byte[] fixed = RefLogFormat.encode(new RefLogEntry(values.get(1), e.newId(), e.who(), e.when(), e.why()));
      return Arrays.copyOf(fixed, fixed.length - 1);
    });
    assertThat(refs.log(ref)).hasSize(3);
    rewriteEntry(ref, 1, line -> {
      RefLogEntry e = RefLogFormat.decode(line, 0, line.length);
      byte[] forged = RefLogFormat.encode(new RefLogEntry(id("before"), e.newId(), e.who(), e.when(), e.why()));
      return Arrays.copyOf(forged, forged.length - 1);
    });
    assertCorrupt(() -> refs.checkLog(ref), ref, 1, "from nothing");
  }

  /**
   * A whole last entry whose checksum alone fails (a flipped digit of its id) is damage in every store: a crash can
   * tear an append, but never into a whole entry under a wrong checksum, so even where torn appends are skipped the
   * ref must not silently fall back to its previous value. The damaged ref is still one with a log: listing the
   * logged refs names it beside the others, so that ls, verify and gc meet its damage and go on with the others.
   */
  @Test
  void aWholeLastEntryWhoseChecksumFailsIsCorruptionForEveryStore() throws Exception {
    String ref = "llama/tags/last";
    List<ChunkId> values = moves(ref, 3);
    moves("other/head", 1);
    rewriteEntry(ref, 3, RefStoreContract::flipDigitOfNewId);
    try (Backend cold = reopen()) {
      assertThat(cold.refs().listLogged("")).containsExactly(ref, "other/head");
      assertCorrupt(() -> cold.refs().get(ref), ref, 3, "CRC32C");
      assertCorrupt(() -> cold.refs().compareAndSet(ref, values.get(2), id("x"),
          new RefLogEntry(values.get(2), id("x"), "test", now(), "move")), ref, 3, "CRC32C");
    }
    assertCorrupt(() -> refs.log(ref), ref, 3, "CRC32C");
    assertCorrupt(() -> refs.checkLog(ref), ref, 3, "CRC32C");
  }

  /**
   * A whole last entry whose JSON a flip broke (a quote turned into another byte, a key misspelt, a brace gone from
   * inside) is damage in every store, like one whose checksum alone fails: no crash leaves a newline-ended line free of
   * zeros that is not the line written, so the ref must not fall back to its previous value unseen.
   */
  @Test
  void aWholeLastEntryWhoseJsonIsDamagedIsCorruptionForEveryStore() throws Exception {
    List<UnaryOperator<byte[]>> flips = List.of(
        line -> replaceFirst(line, "\"who\":", "\"who\"="),
        line -> replaceFirst(line, "\"why\"", "\"wh\u00ff\""),
        line -> replaceFirst(line, "\"old\"", "old\""),
        line -> {
          // the JSON's closing brace: the last byte of the line a crash cannot leave torn this way
          byte[] out = line.clone();
          int brace = new String(out, StandardCharsets.ISO_8859_1).lastIndexOf('}');
          assertThat(brace).as("the entry's closing brace").isPositive();
          out[brace] = ']';
          return out;
        });
    for (int f = 0; f < flips.size(); f++) {
      String ref = "llama/tags/flip-" + f;
      List<ChunkId> values = moves(ref, 3);
      rewriteEntry(ref, 3, flips.get(f));
      try (Backend cold = reopen()) {
        assertCorrupt(() -> cold.refs().get(ref), ref, 3, "CRC32C");
        assertCorrupt(() -> cold.refs().compareAndSet(ref, values.get(2), id("x"),
            new RefLogEntry(values.get(2), id("x"), "test", now(), "move")), ref, 3, "CRC32C");
        assertCorrupt(() -> cold.refs().compareAndSet(ref, values.get(1), id("x"),
            new RefLogEntry(values.get(1), id("x"), "test", now(), "move")), ref, 3, "CRC32C");
      }
      assertCorrupt(() -> refs.log(ref), ref, 3, "CRC32C");
      assertCorrupt(() -> refs.checkLog(ref), ref, 3, "CRC32C");
    }
  }

  /** {@code line} with the first {@code from} (UTF-8) replaced by {@code to}; fails if the line lacks it. */
  private static byte[] replaceFirst(byte[] line, String from, String to) {
    String s = new String(line, StandardCharsets.UTF_8);
    assertThat(s).as("the entry to damage").contains(from);
    return s.replaceFirst(java.util.regex.Pattern.quote(from), java.util.regex.Matcher.quoteReplacement(to))
        .getBytes(StandardCharsets.UTF_8);
  }

  /**
   * Where appends can tear ({@link #lastEntryMayBeTorn}), what a crash leaves of a last entry is skipped and the next
   * move writes over it: the entry cut short, zeros where its first bytes were not written, zeros inside its JSON.
   */
  @Test
  void aTornLastEntryIsSkippedWhereAppendsCanTear() throws Exception {
    assumeTrue(lastEntryMayBeTorn(), "appends to this store's logs cannot tear");
    List<UnaryOperator<byte[]>> tears = List.of(
        line -> Arrays.copyOf(line, line.length / 2),
        line -> {
          byte[] out = line.clone();
          Arrays.fill(out, 0, 8, (byte) 0);
          return out;
        },
        line -> {
          byte[] out = line.clone();
          Arrays.fill(out, out.length / 2, Math.min(out.length, out.length / 2 + 16), (byte) 0);
          return out;
        });
    for (int t = 0; t < tears.size(); t++) {
      String ref = "llama/tags/torn-" + t;
      List<ChunkId> values = moves(ref, 3);
      rewriteEntry(ref, 3, tears.get(t));
      assertThat(refs.get(ref)).as("tear %d: the torn last entry is skipped", t).contains(values.get(1));
      assertThat(refs.log(ref)).hasSize(2);
      refs.checkLog(ref);
      assertThat(cas(ref, values.get(1), id("after the tear " + t))).isEqualTo(CasResult.UPDATED);
      assertChained(ref, 3);
    }
  }

  @Test
  void twoDamagedEntriesAtTheEndAreCorruptionForEveryStore() throws Exception {
    String ref = "llama/tags/two";
    moves(ref, 4);
    rewriteEntry(ref, 3, RefStoreContract::flipDigitOfNewId);
    rewriteEntry(ref, 4, RefStoreContract::flipDigitOfNewId);
    try (Backend cold = reopen()) {
      assertThatThrownBy(() -> cold.refs().get(ref)).isInstanceOfSatisfying(CorruptRefException.class,
          e -> assertThat(e.getMessage()).contains("'" + ref + "'").contains(backend.uri()));
    }
    assertCorrupt(() -> refs.log(ref), ref, 3, "CRC32C");
  }

  @Test
  void aMissingEntryOfANumberedLogIsAnIntegrityError() throws Exception {
    assumeTrue(refs instanceof NumberedRefStore, "only numbered logs have entries that can go missing");
    NumberedRefStore numbered = (NumberedRefStore) refs;
    String ref = "llama/tags/gap";
    moves(ref, 3);
    numbered.records().delete(NumberedRefStore.entryKey(numbered.layout(), ref, 2));
    assertCorrupt(() -> refs.log(ref), ref, 2, "never removed");
    assertCorrupt(() -> refs.checkLog(ref), ref, 2, "never removed");
  }

  @Test
  void aStaleOrMissingHintStillFindsTheTrueHead() throws Exception {
    assumeTrue(refs instanceof NumberedRefStore, "only numbered logs have a hint");
    NumberedRefStore numbered = (NumberedRefStore) refs;
    String ref = "llama/tags/hint";
    List<ChunkId> values = moves(ref, 37);
    String tip = NumberedRefStore.tipKey(ref);
    for (String hint : new String[] {"1 " + values.get(0).hex() + "\n", "36 -\n", "999 " + values.get(5).hex(),
        "garbage", ""}) {
      numbered.records().replace(tip, hint.getBytes(StandardCharsets.US_ASCII));
      try (Backend cold = reopen()) {
        assertThat(cold.refs().get(ref)).as("head with hint '%s'", hint.trim()).contains(values.get(36));
      }
    }
    numbered.records().delete(tip);
    try (Backend cold = reopen()) {
      assertThat(cold.refs().get(ref)).as("head without a hint").contains(values.get(36));
      assertThat(cold.refs().compareAndSet(ref, values.get(36), id("next"),
          new RefLogEntry(values.get(36), id("next"), "test", now(), "move"))).isEqualTo(CasResult.UPDATED);
    }
    assertChained(ref, 38);
  }

  /** Opens the store under test a second time (a fresh instance: nothing cached); the caller closes it. */
  protected Backend reopen() throws Exception {
    return RefMover.open(storeUri(backend), new StoreOptions(false, storeSettings(backend)));
  }

  /**
   * Starts a {@link RefMover} child JVM on this store, its output going to {@code out}: the same class path, the
   * {@link #childJvmOptions()}, the {@link #storeUri} and the {@link #storeSettings}.
   */
  protected Process startMover(String ref, int moves, String label, Path out) throws Exception {
    return startMover(ref, moves, label, out, null);
  }

  /**
   * As {@link #startMover(String, int, String, Path)}; with {@code ready} not null, the mover creates that file once
   * it has opened the store and waits for a line on its standard input before its first move ({@link
   * RefMover#READY_PROPERTY}).
   */
  protected Process startMover(String ref, int moves, String label, Path out, Path ready) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = new ArrayList<>(List.of(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"));
    command.addAll(childJvmOptions());
    if (ready != null) {
      command.add("-D" + RefMover.READY_PROPERTY + "=" + ready.toAbsolutePath());
    }
    command.addAll(List.of("-cp", System.getProperty("java.class.path"), RefMover.class.getName(),
        storeUri(backend).toString(), ref, Integer.toString(moves), label));
    storeSettings(backend).forEach((k, v) -> command.add(k + "=" + v));
    return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
  }

  /** Asserts the ref's log holds exactly {@code moves} moves, each from the previous one's value; returns it. */
  protected List<RefLogEntry> assertChained(String ref, int moves) throws Exception {
    List<RefLogEntry> log = refs.log(ref);
    assertThat(log).as("entries in the log of %s", ref).hasSize(moves);
    ChunkId prev = null;
    Set<ChunkId> seen = new HashSet<>();
    for (int i = 0; i < log.size(); i++) {
      RefLogEntry e = log.get(i);
      assertThat(e.oldId()).as("old of entry %d equals new of entry %d", i, i - 1).isEqualTo(prev);
      assertThat(e.newId()).as("new of entry %d", i).isNotNull();
      assertThat(seen.add(e.newId())).as("value of entry %d is fresh", i).isTrue();
      prev = e.newId();
    }
    assertThat(refs.get(ref)).isEqualTo(Optional.ofNullable(prev));
    return log;
  }
}
