package io.ferry.lease;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.id.ChunkId;
import io.ferry.error.ConflictException;
import io.ferry.store.ForwardingRecordStore;
import io.ferry.store.RecordStore;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LeasesTest {
  private static final LeaseSettings SETTINGS =
      new LeaseSettings(Duration.ofMinutes(10), Duration.ofMinutes(1), Duration.ofMillis(20));

  @TempDir Path dir;
  private LocalBackend backend;
  private final MovableClock clock = new MovableClock(Instant.parse("2030-01-01T00:00:00Z"));

  @BeforeEach
  void open() throws Exception {
    backend = LocalBackend.open(dir.resolve("store"), StoreOptions.createIfMissing());
  }

  @AfterEach
  void close() throws Exception {
    backend.close();
  }

  private Leases leases() {
    return new Leases(backend.records(), clock, SETTINGS, "test");
  }

  /** {@link Lease#awaitNoGc} on another thread. */
  private static CompletableFuture<Void> awaitNoGcAsync(Lease push) {
    return CompletableFuture.runAsync(() -> {
      try {
        push.awaitNoGc();
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
  }

  private static ChunkId id(int n) {
    return ChunkId.of(ByteBuffer.wrap(new byte[] {(byte) n}));
  }

  @Test
  void aLivePushLeaseProtectsWhatItDeclaredAndWhatWasWrittenSinceItBegan() throws Exception {
    try (Leases mine = leases(); Leases gc = leases(); Lease push = mine.take(Lease.Kind.PUSH, "push m")) {
      push.protect(List.of(id(1), id(2)));
      Leases.Protection p = gc.pushProtection(null);
      assertThat(p.ids()).containsExactlyInAnyOrder(id(1), id(2));
      assertThat(p.earliestStart()).contains(push.started().minus(SETTINGS.skew()));
      assertThat(p.leases()).isEqualTo(1);
      assertThat(gc.pushProtection(push.id()).ids()).as("except the holder's own").isEmpty();
    }
    try (Leases gc = leases()) {
      assertThat(gc.pushProtection(null).leases()).as("released").isZero();
      assertThat(backend.records().list("leases/")).isEmpty();
    }
  }

  @Test
  void declarationsLargerThanOneRecordAreSplitAndAllCount() throws Exception {
    try (Leases mine = leases(); Lease push = mine.take(Lease.Kind.PUSH, "push big")) {
      List<ChunkId> many = new java.util.ArrayList<>();
      for (int i = 0; i < Lease.IDS_PER_RECORD * 2 + 5; i++) {
        many.add(ChunkId.of(ByteBuffer.wrap(Integer.toString(i).getBytes(StandardCharsets.UTF_8))));
      }
      push.protect(many);
      assertThat(backend.records().list("leases/push/" + push.id() + "/ids-")).hasSize(3);
      assertThat(mine.pushProtection(null).ids()).hasSize(many.size());
    }
  }

  @Test
  void anExpiredLeaseProtectsNothingAndGcRemovesItsRecords() throws Exception {
    // the holder stops renewing (its renewals are minutes apart; the clock jumps past them)
    Leases stuck = leases();
    Lease held = stuck.take(Lease.Kind.PUSH, "stuck");
    held.protect(List.of(id(4)));
    try (Leases gc = leases()) {
      assertThat(gc.pushProtection(null).ids()).containsExactly(id(4));
      clock.advance(SETTINGS.ttl().plus(SETTINGS.skew()).plusSeconds(1));
      assertThat(gc.pushProtection(null).ids()).as("after expiry plus skew").isEmpty();
      assertThatThrownBy(held::checkHeld).isInstanceOf(ConflictException.class).hasMessageContaining("lapsed");
      assertThat(gc.removeExpired(clock.instant())).isEqualTo(1);
      assertThat(backend.records().list("leases/")).isEmpty();
    } finally {
      stuck.close();
    }
  }

  @Test
  void aLeaseOfAProcessOfThisMachineThatIsGoneIsDeadAtOnce() throws Exception {
    Process p = new ProcessBuilder("true").start();
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    long deadPid = p.pid();
    Leases.Holder here = Leases.Holder.current();
    String json = "{\"kind\":\"push\",\"owner\":\"x\",\"what\":\"killed push\",\"started\":\"" + clock.instant()
        + "\",\"expires\":\"" + clock.instant().plus(SETTINGS.ttl()) + "\",\"host\":\"" + here.host() + "\",\"pid\":"
        + deadPid + ",\"pidStart\":-1}";
    RecordStore r = backend.records();
    r.create("leases/push/0000000000001-killed/lease", json.getBytes(StandardCharsets.UTF_8));
    r.create("leases/push/0000000000001-killed/ids-00000001", (id(5).hex() + "\n").getBytes(StandardCharsets.US_ASCII));
    String other = json.replace(here.host(), "another-machine").replace("killed push", "remote push");
    r.create("leases/push/0000000000002-remote/lease", other.getBytes(StandardCharsets.UTF_8));
    try (Leases gc = leases()) {
      Leases.Protection prot = gc.pushProtection(null);
      assertThat(prot.leases()).as("only the remote lease, which only expiry can end").isEqualTo(1);
      assertThat(prot.ids()).doesNotContain(id(5));
      assertThat(gc.removeExpired(clock.instant())).isEqualTo(1);
      assertThat(r.list("leases/push/0000000000001-killed/")).isEmpty();
    }
  }

  @Test
  void aPushWaitsWhileAGcIsDeletingAndGoesOnWhenItEnds() throws Exception {
    try (Leases gcSide = leases(); Leases pushSide = leases()) {
      Lease gc = gcSide.take(Lease.Kind.GC, "gc");
      Lease push = pushSide.take(Lease.Kind.PUSH, "push");
      CompletableFuture<Void> waited = awaitNoGcAsync(push);
      assertThatThrownBy(() -> waited.get(300, TimeUnit.MILLISECONDS)).as("still waiting while the gc lease lives")
          .isInstanceOf(java.util.concurrent.TimeoutException.class);
      gc.close();
      waited.get(30, TimeUnit.SECONDS);
      push.close();
    }
  }

  /**
   * A push that waits for a gc says so, once, naming the gc's lease, its holder and when it expires: a gc killed on
   * another machine holds every push for its lease's time, and the push said nothing (its progress line just stopped).
   */
  @Test
  void aPushWaitingForAGcSaysWhoseLeaseAndUntilWhen() throws Exception {
    java.util.concurrent.LinkedBlockingQueue<String> notices = new java.util.concurrent.LinkedBlockingQueue<>();
    try (Leases gcSide = leases();
        Leases pushSide = new Leases(backend.records(), clock, SETTINGS, "test", notices::add)) {
      Lease gc = gcSide.take(Lease.Kind.GC, "gc, grace PT0S");
      Lease push = pushSide.take(Lease.Kind.PUSH, "push");
      CompletableFuture<Void> waited = awaitNoGcAsync(push);
      String notice = notices.poll(30, TimeUnit.SECONDS);
      assertThat(notice).isNotNull().startsWith("waiting for gc lease ").contains("'gc, grace PT0S'")
          .contains("held by pid " + ProcessHandle.current().pid()).contains(" to end (it expires at ")
          .contains("unless renewed");
      assertThat(waited).isNotDone();
      gc.close();
      waited.get(30, TimeUnit.SECONDS);
      assertThat(notices).as("said once").isEmpty();
      push.close();
    }
  }

  /**
   * A gc lease record that expires further ahead than any holder's lease reaches (whoever may write records could
   * plant one): a push fails at once naming it, instead of waiting for ever and saying nothing.
   */
  @Test
  void aGcLeaseThatExpiresBeyondAnyHoldersReachIsAnErrorNotAnEndlessWait() throws Exception {
    String record = "{\"kind\":\"gc\",\"owner\":\"gc\",\"host\":\"elsewhere\",\"pid\":1,\"pidStart\":1,"
        + "\"what\":\"gc\",\"started\":\"2026-12-04T00:00:00Z\",\"expires\":\"9999-01-01T00:00:00Z\"}";
    assertThat(backend.records().create("leases/gc/planted/lease", record.getBytes(StandardCharsets.UTF_8))).isTrue();
    try (Leases pushSide = leases()) {
      Lease push = pushSide.take(Lease.Kind.PUSH, "push");
      CompletableFuture<Void> waited = awaitNoGcAsync(push);
      assertThatThrownBy(() -> waited.get(30, TimeUnit.SECONDS))
          .hasRootCauseInstanceOf(java.io.IOException.class)
          .rootCause()
          .hasMessageContaining("gc lease planted in ")
          .hasMessageContaining("held by pid 1 on elsewhere")
          .hasMessageContaining("expires at 9999-01-01T00:00:00Z, further ahead than any holder's lease reaches")
          .hasMessageEndingWith("ferry gc removes such records");
      push.close();
      // and gc does: the record goes, the push lease taken since stays
      Lease again = pushSide.take(Lease.Kind.PUSH, "push again");
      assertThat(pushSide.removeExpired(clock.instant())).isEqualTo(1);
      assertThat(backend.records().read("leases/gc/planted/lease")).isEmpty();
      again.awaitNoGc();
      again.close();
    }
  }

  @Test
  void settingsAreChecked() {
    assertThatThrownBy(() -> new LeaseSettings(Duration.ofDays(2), Duration.ZERO, Duration.ofSeconds(1)))
        .hasMessageContaining("ttl must be positive and at most PT24H");
    assertThatThrownBy(() -> new LeaseSettings(Duration.ZERO, Duration.ZERO, Duration.ofSeconds(1)))
        .hasMessageContaining("ttl");
    assertThatThrownBy(() -> new LeaseSettings(Duration.ofMinutes(1), Duration.ofSeconds(30), Duration.ofSeconds(1)))
        .hasMessageContaining("skew");
  }

  /**
   * A store client that retries a create whose answer was lost sees the record it wrote itself on the retry and says
   * it exists (an S3 PUT with If-None-Match did this in a fault-injection test): the lease and its declarations are
   * still taken, and a record someone else wrote under the same key is still a collision.
   */
  @Test
  void aCreateWhoseAnswerWasLostIsRecognisedAsOwnAndACollisionIsNot() throws Exception {
    RecordStore d = backend.records();
    java.util.concurrent.atomic.AtomicBoolean foreign = new java.util.concurrent.atomic.AtomicBoolean();
    RecordStore lossy = new ForwardingRecordStore(d) {
      @Override
      public boolean create(String key, byte[] content) throws java.io.IOException {
        if (foreign.get()) {
          d.create(key, "someone else's".getBytes(StandardCharsets.UTF_8));
        } else {
          d.create(key, content); // written, then the answer is lost and the retry finds it
        }
        return false;
      }
    };
    Leases leases = new Leases(lossy, clock, SETTINGS, "test");
    try {
      try (Lease l = leases.take(Lease.Kind.PUSH, "push after a lost answer")) {
        l.protect(List.of(id(1), id(2)));
        Leases.Protection p = leases().pushProtection(null);
        assertThat(p.leases()).isEqualTo(1);
        assertThat(p.ids()).contains(id(1), id(2));
      }
      foreign.set(true);
      assertThatThrownBy(() -> leases.take(Lease.Kind.PUSH, "a real collision"))
          .hasMessageContaining("already exists");
    } finally {
      leases.close();
    }
  }

  /**
   * A renewal that was writing the lease record while the lease was closed wrote it back after the close removed it:
   * in a process that goes on (a server), a gc lease that came back held every push for its ttl.
   */
  @Test
  void aRenewalWritingWhileTheLeaseIsClosedLeavesNoRecord() throws Exception {
    RecordStore d = backend.records();
    java.util.concurrent.CountDownLatch renewing = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch deleted = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch replaced = new java.util.concurrent.CountDownLatch(1);
    RecordStore slow = new ForwardingRecordStore(d) {
      @Override
      public void replace(String key, byte[] content) throws java.io.IOException {
        if (renewing.getCount() > 0) {
          renewing.countDown();
          try {
            // the close removes the lease's records while this renewal is under way
            assertThat(deleted.await(30, TimeUnit.SECONDS)).isTrue();
          } catch (InterruptedException e) {
            throw new java.io.InterruptedIOException();
          }
          d.replace(key, content);
          replaced.countDown();
          return;
        }
        d.replace(key, content);
      }

      @Override
      public void delete(String key) throws java.io.IOException {
        d.delete(key);
        deleted.countDown();
      }
    };
    Leases leases = new Leases(slow, clock, new LeaseSettings(Duration.ofMillis(400), Duration.ZERO,
        Duration.ofMillis(20)), "test");
    try {
      Lease gc = leases.take(Lease.Kind.GC, "gc");
      assertThat(renewing.await(30, TimeUnit.SECONDS)).as("a renewal began").isTrue();
      gc.close();
      assertThat(replaced.await(30, TimeUnit.SECONDS)).as("the renewal wrote").isTrue();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (!d.list("leases/").isEmpty() && System.nanoTime() < deadline) {
        Thread.onSpinWait();
      }
      assertThat(d.list("leases/")).as("records of the closed lease").isEmpty();
    } finally {
      leases.close();
    }
  }

  /**
   * A lease that lapsed (its renewals were late: the process was paused, the store did not answer) may have been
   * counted dead and passed over; a renewal that succeeds afterwards made it held again, so a gc went on deleting
   * what pushes had meanwhile made sure of, or a push published what a gc had meanwhile deleted.
   */
  @Test
  void aLeaseThatLapsedStaysLapsedWhenALateRenewalSucceeds() throws Exception {
    RecordStore d = backend.records();
    java.util.concurrent.atomic.AtomicBoolean late = new java.util.concurrent.atomic.AtomicBoolean();
    java.util.concurrent.CountDownLatch renewedLate = new java.util.concurrent.CountDownLatch(1);
    RecordStore watched = new ForwardingRecordStore(d) {
      @Override
      public void replace(String key, byte[] content) throws java.io.IOException {
        boolean afterLapse = late.get();
        d.replace(key, content);
        if (afterLapse) {
          renewedLate.countDown();
        }
      }
    };
    Leases leases = new Leases(watched, clock, new LeaseSettings(Duration.ofMillis(400), Duration.ZERO,
        Duration.ofMillis(20)), "test");
    try (Lease gc = leases.take(Lease.Kind.GC, "gc")) {
      clock.advance(Duration.ofSeconds(5)); // no renewal for far longer than the ttl
      late.set(true);
      assertThat(renewedLate.await(30, TimeUnit.SECONDS)).as("a renewal after the lapse").isTrue();
      assertThatThrownBy(gc::checkHeld).isInstanceOf(ConflictException.class).hasMessageContaining("lapsed");
    } finally {
      leases.close();
    }
  }
}
