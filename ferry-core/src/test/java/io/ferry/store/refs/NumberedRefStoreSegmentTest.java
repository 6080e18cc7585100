package io.ferry.store.refs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.CorruptRefException;
import io.ferry.id.ChunkId;
import io.ferry.store.CasResult;
import io.ferry.store.RecordStore;
import io.ferry.store.RefLogEntry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Segments of long numbered logs: a reader of a whole log writes each whole block of entries into one record, and
 * later reads take the block from it; a damaged or wrong segment is never believed over the entries.
 */
class NumberedRefStoreSegmentTest {
  private static final int SEGMENT = 10;
  private static final String REF = "llama/head";

  private final Records records = new Records();

  @Test
  void aWholeLogIsReadFromItsSegmentsOnceAReaderWroteThem() throws IOException {
    List<RefLogEntry> moved = moves(25, "move");
    NumberedRefStore first = refs();
    records.reads.set(0);
    assertThat(first.log(REF)).isEqualTo(moved);
    assertThat(records.reads.get()).as("records read by the first reader").isEqualTo(25);
    assertThat(records.keys()).contains(segment(10), segment(20)).doesNotContain(segment(30));

    records.reads.set(0);
    assertThat(refs().log(REF)).isEqualTo(moved);
    assertThat(records.reads.get()).as("records read once the segments exist: two segments and five entries")
        .isEqualTo(7);
    refs().checkLog(REF);

    // the log grows past the next block: the next reader writes its segment
    List<RefLogEntry> more = new ArrayList<>(moved);
    more.addAll(moves(6, "more"));
    assertThat(refs().log(REF)).isEqualTo(more);
    assertThat(records.keys()).contains(segment(30));
  }

  @Test
  void aDamagedSegmentIsNotBelievedItIsReportedByCheckLogAndWrittenAgain() throws IOException {
    List<RefLogEntry> moved = moves(20, "move");
    refs().log(REF);
    byte[] good = records.read(segment(10)).orElseThrow();
    byte[] bad = good.clone();
    bad[bad.length / 2] ^= 1;
    records.replace(segment(10), bad);

    assertThatThrownBy(() -> refs().checkLog(REF)).isInstanceOfSatisfying(CorruptRefException.class,
        e -> assertThat(e.getMessage()).contains("'" + REF + "'").contains(segment(10))
            .contains("does not hold entries 1..10"));
    assertThat(refs().log(REF)).isEqualTo(moved);
    assertThat(records.read(segment(10))).hasValueSatisfying(now -> assertThat(now).isEqualTo(good));
    refs().checkLog(REF);
  }

  @Test
  void aSegmentThatDecodesButHoldsAnotherBlockLosesToTheEntries() throws IOException {
    List<RefLogEntry> moved = moves(20, "move");
    refs().log(REF);
    // the block of entries 11..20 written where entries 1..10 belong (header fixed up to match): every line decodes
    String second = new String(records.read(segment(20)).orElseThrow(), StandardCharsets.UTF_8);
    records.replace(segment(10), second.replace("ferry-ref-log-segment 11 ", "ferry-ref-log-segment 1 ")
        .getBytes(StandardCharsets.UTF_8));

    assertThatThrownBy(() -> refs().checkLog(REF)).isInstanceOf(CorruptRefException.class)
        .hasMessageContaining(segment(10));
    assertThat(refs().log(REF)).isEqualTo(moved);
    refs().checkLog(REF);
  }

  @Test
  void damagedEntriesAreStillDamageWhereNoSegmentCoversThem() throws IOException {
    moves(15, "move");
    String key = NumberedRefStore.entryKey(NumberedRefStore.Layout.INDEXED, REF, 12);
    records.replace(key, "garbage\n".getBytes(StandardCharsets.US_ASCII));
    assertThatThrownBy(() -> refs().log(REF)).isInstanceOfSatisfying(CorruptRefException.class,
        e -> assertThat(e.getMessage()).contains("entry 12").contains(key));
    records.delete(key);
    assertThatThrownBy(() -> refs().log(REF)).isInstanceOf(CorruptRefException.class)
        .hasMessageContaining("there is no record " + key);
  }

  @Test
  void aTipThatNamesNoEntryWithItsValueIsDamageThatReadsGoAround() throws IOException {
    List<RefLogEntry> moved = moves(5, "move");
    ChunkId head = moved.get(4).newId();
    String tip = NumberedRefStore.tipKey(REF);
    refs().checkLog(REF);
    for (String bad : new String[] {"garbage", "", "5 " + moved.get(3).newId().hex() + "\n", "6 " + head.hex() + "\n",
        "5 -\n", "0 -\n"}) {
      records.replace(tip, bad.getBytes(StandardCharsets.US_ASCII));
      assertThat(refs().get(REF)).as("head with tip '%s'", bad.trim()).contains(head);
      assertThatThrownBy(() -> refs().checkLog(REF)).as("checkLog with tip '%s'", bad.trim())
          .isInstanceOfSatisfying(CorruptRefException.class, e -> assertThat(e.getMessage()).contains("'" + REF + "'")
              .contains("memory://test").contains(tip));
    }
    // a tip that lags names an entry with its value, as a slow writer may leave it; no tip is a crash before it
    records.replace(tip, ("2 " + moved.get(1).newId().hex() + "\n").getBytes(StandardCharsets.US_ASCII));
    refs().checkLog(REF);
    records.delete(tip);
    refs().checkLog(REF);
  }

  /**
   * A tip (or a segment) left where a ref has no entry at all (its entries removed): listLogged, and so verify, never
   * looked at it, and gc marked without the ref. unreadable() names it and checkLog reports it, in both layouts.
   */
  @Test
  void recordsOfARefWithNoEntryAreNamedAsUnreadableAndCheckLogReportsThem() throws IOException {
    for (NumberedRefStore.Layout layout : new NumberedRefStore.Layout[] {NumberedRefStore.Layout.INDEXED,
        NumberedRefStore.Layout.HDFS}) {
      Records own = new Records();
      NumberedRefStore refs = new NumberedRefStore(own, layout, SEGMENT);
      moves(refs, 12, "move");
      refs.log(REF);
      assertThat(refs.unreadable()).as("a whole log in %s", layout).isEmpty();
      String gone = "gone/tags/prod";
      ChunkId id = ChunkId.of("v".getBytes(StandardCharsets.UTF_8));
      own.replace(NumberedRefStore.tipKey(gone), ("3 " + id.hex() + "\n").getBytes(StandardCharsets.US_ASCII));
      own.replace(NumberedRefStore.segmentKey(layout, "seg/head", SEGMENT), own.read(NumberedRefStore.segmentKey(
          layout, REF, SEGMENT)).orElseThrow());
      assertThat(refs.listLogged("")).containsExactly(REF);
      assertThat(refs.unreadable()).as("in %s", layout).containsExactly(gone, "seg/head");
      assertThatThrownBy(() -> refs.checkLog(gone)).isInstanceOfSatisfying(CorruptRefException.class,
          e -> assertThat(e.getMessage()).contains("'" + gone + "'").contains(NumberedRefStore.tipKey(gone))
              .contains("(0 entries)"));
      assertThatThrownBy(() -> refs.checkLog("seg/head")).isInstanceOf(CorruptRefException.class)
          .hasMessageContaining("but the log has 0");
    }
  }

  @Test
  void aBlockTooBigForOneRecordGetsNoSegmentAndAStoreThatRefusesWritesIsStillRead() throws IOException {
    List<RefLogEntry> big = moves(10, "x".repeat(RecordStore.MAX_RECORD_BYTES / SEGMENT));
    assertThat(refs().log(REF)).isEqualTo(big);
    assertThat(records.keys()).doesNotContain(segment(10));

    Records other = new Records();
    NumberedRefStore writer = new NumberedRefStore(other, NumberedRefStore.Layout.INDEXED, SEGMENT);
    List<RefLogEntry> moved = moves(writer, 12, "move");
    other.readOnly = true;
    assertThat(new NumberedRefStore(other, NumberedRefStore.Layout.INDEXED, SEGMENT).log(REF)).isEqualTo(moved);
    assertThat(other.keys()).doesNotContain(segment(10));
  }

  private NumberedRefStore refs() {
    return new NumberedRefStore(records, NumberedRefStore.Layout.INDEXED, SEGMENT);
  }

  private static String segment(long end) {
    return NumberedRefStore.segmentKey(NumberedRefStore.Layout.INDEXED, REF, end);
  }

  private List<RefLogEntry> moves(int n, String why) throws IOException {
    return moves(refs(), n, why);
  }

  /** {@code n} moves of {@link #REF}, from wherever it is, each to a new id. */
  private static List<RefLogEntry> moves(NumberedRefStore refs, int n, String why) throws IOException {
    List<RefLogEntry> out = new ArrayList<>();
    ChunkId at = refs.get(REF).orElse(null);
    for (int i = 0; i < n; i++) {
      ChunkId next = ChunkId.of((why.length() + ":" + i + ":" + at).getBytes(StandardCharsets.UTF_8));
      RefLogEntry e = new RefLogEntry(at, next, "ada", Instant.parse("2026-12-06T10:00:00Z").plusSeconds(i), why);
      assertThat(refs.compareAndSet(REF, at, next, e)).isIn(CasResult.NEW, CasResult.UPDATED);
      out.add(e);
      at = next;
    }
    return out;
  }

  /** Records in memory, their reads counted; with {@link #readOnly} every write fails as a read-only credential's. */
  private static final class Records implements RecordStore {
    final TreeMap<String, byte[]> map = new TreeMap<>();
    final AtomicInteger reads = new AtomicInteger();
    volatile boolean readOnly;

    synchronized List<String> keys() {
      return new ArrayList<>(map.keySet());
    }

    @Override
    public String describe() {
      return "memory://test";
    }

    @Override
    public synchronized boolean create(String key, byte[] content) throws IOException {
      check(key, content);
      return map.putIfAbsent(key, content.clone()) == null;
    }

    @Override
    public synchronized void replace(String key, byte[] content) throws IOException {
      check(key, content);
      map.put(key, content.clone());
    }

    private void check(String key, byte[] content) throws IOException {
      RecordStore.checkKey(key);
      if (content.length > MAX_RECORD_BYTES) {
        throw new IllegalArgumentException("record " + key + " is " + content.length + " bytes");
      }
      if (readOnly) {
        throw new IOException("write " + key + ": access denied");
      }
    }

    @Override
    public synchronized Optional<byte[]> read(String key) {
      reads.incrementAndGet();
      return Optional.ofNullable(map.get(key)).map(byte[]::clone);
    }

    @Override
    public synchronized List<String> list(String prefix) {
      return new ArrayList<>(map.subMap(prefix, prefix + Character.MAX_VALUE).keySet());
    }

    @Override
    public synchronized void delete(String key) {
      map.remove(key);
    }

    @Override
    public void close() {}
  }
}
