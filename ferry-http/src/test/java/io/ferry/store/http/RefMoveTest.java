package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Writes go to one server at a time: the first that is up, the next only when the first could not be reached; a
 * move or create whose answer is lost is resolved by reading back, and never applied twice.
 */
@Timeout(60)
class RefMoveTest {
  static final String REF = "org/m/tags/prod";
  static final ChunkId A = ChunkId.of("a".getBytes(StandardCharsets.UTF_8));
  static final ChunkId B = ChunkId.of("b".getBytes(StandardCharsets.UTF_8));

  @TempDir Path tmp;
  private ServerGroup group;
  private HttpBackend client;

  @BeforeEach
  void start() throws IOException {
    group = new ServerGroup(tmp.resolve("store"), 2, null);
    client = group.client("?probe_min_ms=20", Map.of());
  }

  @AfterEach
  void stop() throws IOException {
    client.close();
    group.close();
  }

  private static RefLogEntry entry(ChunkId from, ChunkId to) {
    return new RefLogEntry(from, to, "alice", Instant.parse("2026-12-01T10:00:00.123Z"), "promote");
  }

  @Test
  void movesGoToTheFirstServerAndToTheNextOnlyWhenTheFirstCannotBeReached() throws IOException {
    long second = group.get(1).requests.get();
    assertThat(client.refs().compareAndSet(REF, null, A, entry(null, A))).isEqualTo(CasResult.NEW);
    assertThat(group.get(1).requests.get()).isEqualTo(second);
    group.get(0).stop();
    try (HttpBackend fresh = group.client("", Map.of())) {
      second = group.get(1).requests.get();
      assertThat(fresh.refs().compareAndSet(REF, A, B, entry(A, B))).isEqualTo(CasResult.UPDATED);
      assertThat(group.get(1).requests.get()).as("the move alone, no reads to resolve it").isEqualTo(second + 1);
      assertThat(fresh.refs().compareAndSet(REF, A, A, entry(A, A))).isEqualTo(CasResult.LOCK_FAILURE);
    }
    assertThat(group.store.refs().get(REF)).contains(B);
  }

  @Test
  void aMoveWhoseAnswerWasLostIsFoundInTheLogAndNotAppliedTwice() throws IOException {
    client.refs().compareAndSet(REF, null, A, entry(null, A));
    group.get(0).dropRefAnswers.set(1);
    assertThat(client.refs().compareAndSet(REF, A, B, entry(A, B))).isEqualTo(CasResult.UPDATED);
    assertThat(group.store.refs().get(REF)).contains(B);
    assertThat(group.store.refs().log(REF)).containsExactly(entry(null, A), entry(A, B));
  }

  @Test
  void aMoveThatGot503IsSentAgainOnceTheRefStillHasTheExpectedValue() throws IOException {
    client.refs().compareAndSet(REF, null, A, entry(null, A));
    group.get(0).allStatus.set(503);
    assertThat(client.refs().compareAndSet(REF, A, B, entry(A, B))).isEqualTo(CasResult.UPDATED);
    assertThat(group.store.refs().log(REF)).containsExactly(entry(null, A), entry(A, B));
    assertThat(client.stats().get(0).down()).isTrue();
  }

  @Test
  void aCreateWhoseAnswerWasLostReturnsFalseWithTheRecordInPlace() throws IOException {
    group.get(0).dropCreateAnswers.set(1);
    byte[] content = "lease of push 1".getBytes(StandardCharsets.UTF_8);
    assertThat(client.records().create("leases/m/one", content)).isFalse();
    assertThat(group.store.records().read("leases/m/one")).hasValueSatisfying(v -> assertThat(v).isEqualTo(content));
    assertThat(client.records().create("leases/m/one", content)).isFalse();
    assertThat(client.records().create("leases/m/two", content)).isTrue();
  }
}
