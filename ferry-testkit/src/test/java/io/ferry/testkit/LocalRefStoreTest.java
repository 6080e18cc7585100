package io.ferry.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.CorruptRefException;
import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackend;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Runs the {@link RefStoreContract} against the local backend. */
class LocalRefStoreTest extends RefStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    return LocalBackend.open(scratch.resolve("store"), StoreOptions.createIfMissing());
  }

  /** Rewrites line {@code n} of {@code refs/<ref>.log}. */
  @Override
  protected void rewriteEntry(String ref, int n, UnaryOperator<byte[]> change) throws Exception {
    rewriteLine(((LocalBackend) backend).root().resolve("refs").resolve(ref + ".log"), n, change);
  }

  /**
   * A ref log that is not a regular file (a directory or a fifo put in its place) is damage, reported naming the file,
   * by every read and move: a fifo used to make them wait forever, a directory to fail with a bare "Is a directory".
   */
  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void aLogThatIsNotAFileIsReportedAsDamage() throws Exception {
    Path tags = ((LocalBackend) backend).root().resolve("refs/llama/tags");
    Files.createDirectories(tags.resolve("dir.log"));
    Process mkfifo = new ProcessBuilder("mkfifo", tags.resolve("fifo.log").toString()).start();
    Assumptions.assumeTrue(mkfifo.waitFor() == 0, "mkfifo is needed for this test");
    for (String ref : List.of("llama/tags/dir", "llama/tags/fifo")) {
      Path log = tags.resolve(ref.substring(ref.lastIndexOf('/') + 1) + ".log");
      for (ThrowingCallable read : List.<ThrowingCallable>of(() -> refs.get(ref), () -> refs.log(ref),
          () -> cas(ref, null, id("a")), () -> cas(ref, id("a"), id("b")))) {
        assertThatThrownBy(read).as(ref).isInstanceOf(CorruptRefException.class)
            .hasMessageContaining(log.toString()).hasMessageContaining("not a regular file");
      }
    }
    assertThat(refs.list("llama/")).isEmpty();
    // left out of listings, so that one damaged ref hides no other, but named for verify
    assertThat(refs.unreadable()).containsExactly("llama/tags/dir", "llama/tags/fifo");
  }

  /**
   * A ref's lock file that is not a regular file (a fifo, a directory or a symbolic link put in its place) is damage,
   * named by every move: a fifo made the move (and a push) wait forever, and a link failed it with a bare "Too many
   * levels of symbolic links" naming no file. The link's target is not touched.
   */
  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void aLockFileThatIsNotAFileIsReportedAsDamage() throws Exception {
    Path tags = ((LocalBackend) backend).root().resolve("refs/llama/tags");
    Files.createDirectories(tags.resolve("dir.lock"));
    Process mkfifo = new ProcessBuilder("mkfifo", tags.resolve("fifo.lock").toString()).start();
    Assumptions.assumeTrue(mkfifo.waitFor() == 0, "mkfifo is needed for this test");
    Path outside = Files.writeString(((LocalBackend) backend).root().resolveSibling("outside.txt"), "theirs");
    Files.createSymbolicLink(tags.resolve("link.lock"), outside);
    for (String tag : List.of("dir", "fifo", "link")) {
      String ref = "llama/tags/" + tag;
      assertThatThrownBy(() -> cas(ref, null, id("a"))).as(ref).isInstanceOf(CorruptRefException.class)
          .hasMessageContaining(tags.resolve(tag + ".lock").toString()).hasMessageContaining("not a regular file");
      assertThat(refs.get(ref)).as(ref).isEmpty();
    }
    assertThat(Files.readString(outside)).isEqualTo("theirs");
  }

  /**
   * A ref log that is a symbolic link, or that lies in a directory linked out of the store, is damage: reads and moves
   * refuse it naming the file, and no move appends to, or creates, a file outside the store (in a shared store anyone
   * who may write its refs could otherwise have another user's tag write into that user's files).
   */
  @Test
  void aLogReachedThroughALinkIsDamageAndNothingOutsideIsWritten() throws Exception {
    Path root = ((LocalBackend) backend).root();
    Path outside = Files.createDirectories(scratch.resolve("outside"));
    Path victim = Files.writeString(outside.resolve("victim.txt"), "not a ref log\n");
    Path tags = Files.createDirectories(root.resolve("refs/llama/tags"));
    Files.createSymbolicLink(tags.resolve("linked.log"), victim);
    Files.createSymbolicLink(tags.resolve("dangling.log"), outside.resolve("made.txt"));
    Files.createSymbolicLink(root.resolve("refs/away"), outside);
    for (String ref : List.of("llama/tags/linked", "llama/tags/dangling", "away/tags/prod")) {
      for (ThrowingCallable read : List.<ThrowingCallable>of(() -> refs.get(ref), () -> refs.log(ref),
          () -> cas(ref, null, id("a")), () -> cas(ref, id("a"), id("b")))) {
        assertThatThrownBy(read).as(ref).isInstanceOf(CorruptRefException.class)
            .hasMessageContaining(ref.startsWith("away") ? root.resolve("refs/away").toString() : ref + ".log")
            .hasMessageMatching("(?s).*(symbolic link|leads outside the store's refs).*");
      }
    }
    assertThat(victim).hasContent("not a ref log\n");
    try (java.util.stream.Stream<Path> s = Files.list(outside)) {
      assertThat(s).containsExactly(victim);
    }
    assertThat(refs.list("llama/")).isEmpty();
    assertThat(refs.unreadable()).containsExactly("llama/tags/dangling", "llama/tags/linked");
    // a linked directory that stays inside the refs is only another name for a place in the store
    Files.createSymbolicLink(root.resolve("refs/alias"), root.resolve("refs/llama"));
    assertThat(cas("alias/tags/prod", null, id("a"))).isEqualTo(io.ferry.store.CasResult.NEW);
    assertThat(refs.get("llama/tags/prod")).contains(id("a"));
  }

  /** A local log is one append-only file: a crash during an append tears its last line. */
  @Override
  protected boolean lastEntryMayBeTorn() {
    return true;
  }
}
