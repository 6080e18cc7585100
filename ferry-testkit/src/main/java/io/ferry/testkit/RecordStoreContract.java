package io.ferry.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.store.Backend;
import io.ferry.store.RecordStore;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
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
 * The contract of {@link RecordStore}, which every backend must pass: core builds ref logs and push leases on it, so a
 * backend that fails here loses moves or leases. A backend's test extends this class and implements {@link
 * #newBackend}, the one hook; backend-specific tests go in the subclass.
 *
 * <p>Random sizes and contents come from a seeded random; a failing test reports its seed ({@code -Dferry.seed=}).
 */
public abstract class RecordStoreContract {
  /** The test's seeded random. */
  @RegisterExtension protected final TestRandom random = new TestRandom();

  /** A fresh empty directory for the backend under test. */
  @TempDir protected Path scratch;

  /** The backend under test, opened before each test and closed after it. */
  protected Backend backend;

  /** {@code backend.records()}. */
  protected RecordStore records;

  /** Opens a new, empty backend for one test; see {@link ChunkStoreContract#newBackend}. */
  protected abstract Backend newBackend(Path scratch) throws Exception;

  @BeforeEach
  final void openBackend() throws Exception {
    backend = newBackend(scratch);
    records = backend.records();
  }

  @AfterEach
  final void closeBackend() throws Exception {
    if (backend != null) {
      backend.close();
    }
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void absentRecordIsEmpty() throws Exception {
    assertThat(records.read("leases/none")).isEmpty();
    assertThat(records.list("")).isEmpty();
    assertThat(records.list("leases/")).isEmpty();
    assertThat(records.describe()).isNotBlank();
  }

  @Test
  void createThenReadAndList() throws Exception {
    assertThat(records.create("leases/a", utf8("first"))).isTrue();
    assertThat(records.read("leases/a")).hasValueSatisfying(v -> assertThat(v).isEqualTo(utf8("first")));
    assertThat(records.list("leases/")).containsExactly("leases/a");
    assertThat(records.list("")).as("no file of the store leaks into the records").containsExactly("leases/a");
  }

  /** What a resent create of one's own record finds (its first answer lost) is one's own; another's is not. */
  @Test
  void createOwnTakesTheSameContentAsItsOwnAndRefusesOther() throws Exception {
    assertThat(records.createOwn("leases/own", utf8("mine"))).isTrue();
    assertThat(records.createOwn("leases/own", utf8("mine"))).as("the same content again").isTrue();
    assertThat(records.createOwn("leases/own", utf8("theirs"))).as("other content").isFalse();
    assertThat(records.read("leases/own")).hasValueSatisfying(v -> assertThat(v).isEqualTo(utf8("mine")));
  }

  @Test
  void createOfAnExistingKeyReturnsFalseAndChangesNothing() throws Exception {
    assertThat(records.create("refs/x/head/k", utf8("one"))).isTrue();
    assertThat(records.create("refs/x/head/k", utf8("two, longer than one"))).isFalse();
    assertThat(records.create("refs/x/head/k", new byte[0])).isFalse();
    assertThat(new String(records.read("refs/x/head/k").orElseThrow(), StandardCharsets.UTF_8)).isEqualTo("one");
    assertThat(records.list("refs/")).containsExactly("refs/x/head/k");
  }

  @Test
  void emptyRecordsExist() throws Exception {
    assertThat(records.create("ref-names/m/head", new byte[0])).isTrue();
    assertThat(records.read("ref-names/m/head")).hasValueSatisfying(v -> assertThat(v).isEmpty());
    assertThat(records.list("ref-names/")).containsExactly("ref-names/m/head");
    assertThat(records.create("ref-names/m/head", new byte[0])).isFalse();
  }

  @Test
  void replaceIsWholeAndCreatesWhenAbsent() throws Exception {
    records.replace("leases/r", utf8("v1"));
    assertThat(records.read("leases/r").orElseThrow()).isEqualTo(utf8("v1"));
    byte[] big = random.bytes(50_000);
    records.replace("leases/r", big);
    assertThat(records.read("leases/r").orElseThrow()).isEqualTo(big);
    records.replace("leases/r", utf8("v3"));
    assertThat(records.read("leases/r").orElseThrow()).as("a short record replaces a long one whole")
        .isEqualTo(utf8("v3"));
    records.replace("leases/r", new byte[0]);
    assertThat(records.read("leases/r").orElseThrow()).isEmpty();
    records.replace("leases/r", utf8("v5"));
    assertThat(records.read("leases/r").orElseThrow()).isEqualTo(utf8("v5"));
    assertThat(records.create("leases/r", utf8("no"))).isFalse();
    assertThat(records.list("leases/")).containsExactly("leases/r");
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void readersNeverSeeATornOrMissingRecordWhileItIsReplaced() throws Exception {
    byte[] small = utf8("small record");
    byte[] large = random.bytes(20_000);
    records.create("leases/hot", small);
    AtomicBoolean stop = new AtomicBoolean();
    List<Callable<Integer>> tasks = new ArrayList<>();
    tasks.add(() -> {
      try {
        for (int i = 0; i < 40; i++) {
          records.replace("leases/hot", i % 2 == 0 ? large : small);
        }
      } finally {
        stop.set(true);
      }
      return 0;
    });
    for (int t = 0; t < 2; t++) {
      tasks.add(() -> {
        int reads = 0;
        while (!stop.get()) {
          Optional<byte[]> v = records.read("leases/hot");
          assertThat(v).as("a replaced record is never absent").isPresent();
          assertThat(Arrays.equals(v.get(), small) || Arrays.equals(v.get(), large))
              .as("read %d is the old or the new record, whole (%d bytes)", reads, v.get().length).isTrue();
          reads++;
        }
        return reads;
      });
    }
    for (Future<Integer> f : ChunkStoreContract.runAll(tasks)) {
      f.get();
    }
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void ofConcurrentCreatesExactlyOneWins() throws Exception {
    int threads = 8;
    int rounds = 5;
    for (int round = 0; round < rounds; round++) {
      String key = "refs/race/head/_log/" + round;
      CyclicBarrier start = new CyclicBarrier(threads);
      List<Callable<Boolean>> tasks = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        byte[] mine = utf8("writer " + t + " of round " + round);
        tasks.add(() -> {
          start.await(30, TimeUnit.SECONDS);
          return records.create(key, mine);
        });
      }
      int winners = 0;
      int winner = -1;
      List<Future<Boolean>> results = ChunkStoreContract.runAll(tasks);
      for (int t = 0; t < threads; t++) {
        if (results.get(t).get()) {
          winners++;
          winner = t;
        }
      }
      assertThat(winners).as("creates of %s that returned true", key).isEqualTo(1);
      assertThat(new String(records.read(key).orElseThrow(), StandardCharsets.UTF_8))
          .as("the record holds the winner's content").isEqualTo("writer " + winner + " of round " + round);
    }
    assertThat(records.list("refs/race/")).hasSize(rounds);
  }

  @Test
  void listByPrefixIsSortedAndKeepsToThePrefix() throws Exception {
    List<String> keys = List.of("refs/org/m/tags/v1/_log/00000000000000000001", "refs/org/m/head/tip",
        "refs/org/m2/head/tip", "refs/m/head/_log/00000000000000000002", "refs/m/head/_log/00000000000000000001",
        "leases/push-1", "leases/push-10", "leases/push-2", "ref-names/org/m/head", "refs-other/x", "a", "b/c-d.e_f");
    for (String k : keys) {
      assertThat(records.create(k, utf8(k))).as(k).isTrue();
    }
    assertThat(records.list("")).isEqualTo(keys.stream().sorted().toList());
    assertThat(records.list("refs/")).containsExactly("refs/m/head/_log/00000000000000000001",
        "refs/m/head/_log/00000000000000000002", "refs/org/m/head/tip", "refs/org/m/tags/v1/_log/00000000000000000001",
        "refs/org/m2/head/tip");
    assertThat(records.list("refs/org/m/")).as("a directory-like prefix does not take refs/org/m2")
        .containsExactly("refs/org/m/head/tip", "refs/org/m/tags/v1/_log/00000000000000000001");
    assertThat(records.list("refs/org/m")).as("a string prefix, not only whole segments")
        .containsExactly("refs/org/m/head/tip", "refs/org/m/tags/v1/_log/00000000000000000001",
            "refs/org/m2/head/tip");
    assertThat(records.list("leases/push-1")).containsExactly("leases/push-1", "leases/push-10");
    assertThat(records.list("refs")).hasSize(6);
    assertThat(records.list("refs/m/head/_log/00000000000000000002")).hasSize(1);
    assertThat(records.list("nothing/")).isEmpty();
    assertThat(records.list("refs/no/such/")).isEmpty();
    assertThat(records.list("b/")).containsExactly("b/c-d.e_f");
    for (String k : keys) {
      assertThat(new String(records.read(k).orElseThrow(), StandardCharsets.UTF_8)).isEqualTo(k);
    }
  }

  @Test
  void readAllKeepsTheOrderAndReportsAbsentKeys() throws Exception {
    records.create("leases/1", utf8("one"));
    records.create("leases/3", utf8("three"));
    List<Optional<byte[]>> got = records.readAll(List.of("leases/3", "leases/2", "leases/1", "leases/3"));
    assertThat(got).hasSize(4);
    assertThat(got.get(0).orElseThrow()).isEqualTo(utf8("three"));
    assertThat(got.get(1)).isEmpty();
    assertThat(got.get(2).orElseThrow()).isEqualTo(utf8("one"));
    assertThat(got.get(3).orElseThrow()).isEqualTo(utf8("three"));
    assertThat(records.readAll(List.of())).isEmpty();
  }

  @Test
  void deleteIsIdempotentAndTheKeyCanBeCreatedAgain() throws Exception {
    records.create("leases/d", utf8("x"));
    records.create("leases/keep", utf8("y"));
    records.delete("leases/d");
    assertThat(records.read("leases/d")).isEmpty();
    assertThat(records.list("leases/")).containsExactly("leases/keep");
    records.delete("leases/d");
    records.delete("leases/never");
    assertThat(records.create("leases/d", utf8("again"))).isTrue();
    assertThat(records.read("leases/d").orElseThrow()).isEqualTo(utf8("again"));
  }

  @Test
  void invalidKeysAreRejectedAndNothingIsWritten() throws Exception {
    for (String bad : new String[] {"", "/a", "a/", "a//b", "./a", "a/../b", "..", "a b", "a\u0000b", "é",
        "a\\b", "objects/ab", "tmp/x", "ferry-store.json", "a/" + "y".repeat(RecordStore.MAX_SEGMENT_LENGTH + 1),
        longestKey() + "z"}) {
      assertThatThrownBy(() -> records.create(bad, utf8("x"))).as("create('%s')", bad)
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> records.replace(bad, utf8("x"))).as("replace('%s')", bad)
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> records.read(bad)).as("read('%s')", bad).isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> records.delete(bad)).as("delete('%s')", bad)
          .isInstanceOf(IllegalArgumentException.class);
    }
    String longest = longestKey();
    assertThat(records.create(longest, utf8("x"))).as("a key of the maximum length").isTrue();
    assertThat(records.list("")).containsExactly(longest);
  }

  /** A valid key of {@link RecordStore#MAX_KEY_LENGTH} characters, in segments of the longest length allowed. */
  private static String longestKey() {
    StringBuilder k = new StringBuilder("k");
    while (k.length() < RecordStore.MAX_KEY_LENGTH) {
      int seg = Math.min(RecordStore.MAX_SEGMENT_LENGTH, RecordStore.MAX_KEY_LENGTH - k.length() - 1);
      k.append('/').append("s".repeat(Math.max(seg, 1)));
    }
    return k.substring(0, RecordStore.MAX_KEY_LENGTH);
  }

  @Test
  void recordsOfOneMebibyteAreKeptWholeAndLargerOnesRefused() throws Exception {
    byte[] max = random.bytes(RecordStore.MAX_RECORD_BYTES);
    assertThat(records.create("leases/big", max)).isTrue();
    assertThat(records.read("leases/big").orElseThrow()).isEqualTo(max);
    byte[] other = random.bytes(RecordStore.MAX_RECORD_BYTES);
    records.replace("leases/big", other);
    assertThat(records.read("leases/big").orElseThrow()).isEqualTo(other);
    byte[] over = new byte[RecordStore.MAX_RECORD_BYTES + 1];
    assertThatThrownBy(() -> records.create("leases/over", over)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> records.replace("leases/big", over)).isInstanceOf(IllegalArgumentException.class);
    assertThat(records.read("leases/over")).isEmpty();
    assertThat(records.read("leases/big").orElseThrow()).isEqualTo(other);
  }

  @Test
  void manyKeysListCompletely() throws Exception {
    Set<String> made = new HashSet<>();
    List<Callable<Integer>> tasks = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      int thread = t;
      tasks.add(() -> {
        for (int i = 0; i < 40; i++) {
          records.create("leases/t" + thread + "/" + i, utf8(thread + ":" + i));
        }
        return 0;
      });
      for (int i = 0; i < 40; i++) {
        made.add("leases/t" + thread + "/" + i);
      }
    }
    for (Future<Integer> f : ChunkStoreContract.runAll(tasks)) {
      f.get();
    }
    List<String> listed = records.list("leases/");
    assertThat(listed).isSorted().hasSize(made.size());
    assertThat(new HashSet<>(listed)).isEqualTo(made);
  }
}
