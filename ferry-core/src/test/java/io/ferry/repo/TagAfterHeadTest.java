package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.id.ChunkId;
import io.ferry.store.Backend;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A push moves the head, then its tag. What happens when the tag cannot follow: a tag that must be new (a checkpoint's
 * step) created by another push in between, or a tag move that fails (a full disk). The head goes back and the push
 * fails as one that changed nothing; a checkpoint reported stored is never replaced by another.
 */
class TagAfterHeadTest {
  @TempDir Path tmp;

  private Path storeDir;
  private Path a;
  private Path b;
  private ChunkId before;
  private ChunkId other;

  @BeforeEach
  void twoSources() throws IOException {
    storeDir = tmp.resolve("store");
    a = Files.createDirectories(tmp.resolve("a"));
    Files.writeString(a.resolve("config.json"), "{\"a\": 1}");
    b = Files.createDirectories(tmp.resolve("b"));
    Files.writeString(b.resolve("config.json"), "{\"b\": 2}");
    Path first = Files.createDirectories(tmp.resolve("first"));
    Files.writeString(first.resolve("config.json"), "{\"first\": 0}");
    try (Repository repo = Ferry.open(storeDir.toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      before = repo.push(first, "run", PushOptions.builder().message("first").build()).versionId();
      other = repo.push(b, "elsewhere", PushOptions.builder().message("b").build()).versionId();
    }
  }

  /** The local store's refs, with something done right after one ref's successful move, or moves of a ref failing. */
  private static final class Hooked extends ForwardingRefStore {
    volatile String after;
    volatile Runnable action;
    volatile String failing;
    volatile boolean failAllAfterHead;
    volatile String before;
    volatile Runnable beforeAction;
    private volatile boolean headMoved;

    Hooked(RefStore d) {
      super(d);
    }

    @Override
    public CasResult compareAndSet(String name, ChunkId expected, ChunkId next, RefLogEntry entry)
        throws IOException {
      if (name.equals(failing) || failAllAfterHead && headMoved) {
        throw new IOException("No space left on device");
      }
      if (name.equals(before) && beforeAction != null) {
        Runnable once = beforeAction;
        beforeAction = null;
        once.run();
      }
      CasResult r = d.compareAndSet(name, expected, next, entry);
      if (r.isSuccess() && name.equals(RefNames.head("run"))) {
        headMoved = true;
      }
      if (r.isSuccess() && name.equals(after) && action != null) {
        Runnable once = action;
        action = null;
        once.run();
      }
      return r;
    }
  }

  private static PushOptions step(int n) {
    return PushOptions.builder().message("step " + n).tagOnce(true).build();
  }

  @Test
  void aStepTagAnotherPushCreatedAfterTheHeadMovedIsNotReplaced() throws IOException {
    String stepRef = RefNames.tag("run", "step-7");
    try (Backend local = Ferry.openBackend(storeDir.toString(), StoreOptions.existing())) {
      Hooked refs = new Hooked(local.refs());
      refs.after = RefNames.head("run");
      refs.action = () -> {
        try {
          // the other push's tag lands between this push's head move and its tag move
          local.refs().compareAndSet(stepRef, null, other, new RefLogEntry(null, other, "rival", Instant.now(),
              "push: step 7"));
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      };
      try (Repository repo = Repository.open(SwappedBackend.withRefs(local, refs), RepositoryOptions.defaults())) {
        assertThatThrownBy(() -> repo.push(a, "run:step-7", step(7)))
            .isInstanceOf(InvalidInputException.class)
            .hasMessageContaining("run:step-7 already exists").hasMessageContaining("nothing was published");
      }
      assertThat(local.refs().get(stepRef)).as("the other push's step stays").contains(other);
      assertThat(local.refs().get(RefNames.head("run"))).as("the head went back").contains(before);
      assertThat(local.refs().log(RefNames.head("run"))).as("its log says so")
          .anySatisfy(e -> assertThat(e.why()).contains("push undone: run:step-7 was taken meanwhile"));
    }
  }

  /**
   * Two checkpoint pushes of one run at once (from two machines): the other one moves {@code latest} between this
   * push's reading it and moving it. This push failed, "nothing changed", although its step was published; it reads
   * the run again and leaves {@code latest} at the highest step.
   */
  @Test
  void aCheckpointPushWhoseLatestMoveLosesARaceReadsTheRunAgain() throws IOException {
    try (Backend local = Ferry.openBackend(storeDir.toString(), StoreOptions.existing())) {
      Hooked refs = new Hooked(local.refs());
      refs.before = RefNames.tag("run", io.ferry.checkpoint.Checkpoints.LATEST);
      String[] rival = new String[1];
      refs.beforeAction = () -> {
        try (Repository other = Ferry.open(storeDir.toString())) {
          rival[0] = new io.ferry.checkpoint.Checkpoints(other).push(b, "run", 8, "step 8",
              io.ferry.checkpoint.Checkpoints.Retention.ALL, io.ferry.transfer.TransferListener.NONE)
              .checkpoint().id().hex();
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      };
      try (Repository repo = Repository.open(SwappedBackend.withRefs(local, refs), RepositoryOptions.defaults())) {
        io.ferry.checkpoint.Checkpoints run = new io.ferry.checkpoint.Checkpoints(repo);
        run.push(a, "run", 7, "step 7", io.ferry.checkpoint.Checkpoints.Retention.ALL,
            io.ferry.transfer.TransferListener.NONE);
        assertThat(rival[0]).as("the other push ran").isNotNull();
        assertThat(run.list("run")).extracting(io.ferry.checkpoint.Checkpoints.Checkpoint::step)
            .containsExactly(7L, 8L);
        assertThat(local.refs().get(refs.before).map(ChunkId::hex)).contains(rival[0]);

        // latest exists now: the move of this push's expects step 8, the other push moved it on to step 10
        refs.beforeAction = () -> {
          try (Repository other = Ferry.open(storeDir.toString())) {
            rival[0] = new io.ferry.checkpoint.Checkpoints(other).push(b, "run", 10, "step 10",
                io.ferry.checkpoint.Checkpoints.Retention.ALL, io.ferry.transfer.TransferListener.NONE)
                .checkpoint().id().hex();
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        };
        run.push(a, "run", 9, "step 9", io.ferry.checkpoint.Checkpoints.Retention.ALL,
            io.ferry.transfer.TransferListener.NONE);
        assertThat(run.latest("run").step()).isEqualTo(10);
        assertThat(local.refs().get(refs.before).map(ChunkId::hex)).contains(rival[0]);
      }
    }
  }

  @Test
  void aTagMoveThatFailsMovesTheHeadBack() throws IOException {
    try (Backend local = Ferry.openBackend(storeDir.toString(), StoreOptions.existing())) {
      Hooked refs = new Hooked(local.refs());
      refs.failing = RefNames.tag("run", "prod");
      try (Repository repo = Repository.open(SwappedBackend.withRefs(local, refs), RepositoryOptions.defaults())) {
        assertThatThrownBy(() -> repo.push(a, "run:prod", PushOptions.builder().message("second").build()))
            .hasMessageContaining("No space left on device")
            .hasMessageContaining("the head of run was moved back: nothing was published");
      }
      assertThat(local.refs().get(RefNames.head("run"))).contains(before);
      assertThat(local.refs().get(RefNames.tag("run", "prod"))).isEmpty();
    }
  }

  @Test
  void aCopyWhoseTagMoveFailsMovesTheTargetsHeadBackAndRemovesWhatItSent() throws IOException {
    Path targetDir = tmp.resolve("target");
    try (Repository source = Ferry.open(storeDir.toString())) {
      source.push(a, "run:prod", PushOptions.builder().message("second").build());
      try (Repository created = Ferry.open(targetDir.toString(), StoreOptions.createIfMissing(),
          RepositoryOptions.defaults())) {
        // an empty store to copy into
      }
      try (Backend local = Ferry.openBackend(targetDir.toString(), StoreOptions.existing())) {
        List<ChunkId> objectsBefore = new java.util.ArrayList<>();
        local.chunks().list(o -> objectsBefore.add(o.id()));
        Hooked refs = new Hooked(local.refs());
        refs.failing = RefNames.tag("run", "prod");
        try (Repository target = Repository.open(SwappedBackend.withRefs(local, refs), RepositoryOptions.defaults())) {
          assertThatThrownBy(() -> source.copyTo("run:prod", target, false, io.ferry.transfer.TransferListener.NONE))
              .hasMessageContaining("No space left on device");
        }
        assertThat(local.refs().get(RefNames.head("run"))).as("the head went back").isEmpty();
        assertThat(local.refs().get(RefNames.tag("run", "prod"))).isEmpty();
        List<ChunkId> objectsAfter = new java.util.ArrayList<>();
        local.chunks().list(o -> objectsAfter.add(o.id()));
        assertThat(objectsAfter).as("what the copy sent is gone again").containsExactlyInAnyOrderElementsOf(
            objectsBefore);
      }
      try (Repository target = Ferry.open(targetDir.toString())) {
        source.copyTo("run:prod", target, false, io.ferry.transfer.TransferListener.NONE);
        assertThat(target.resolve("run:prod").id()).isEqualTo(source.resolve("run:prod").id());
      }
    }
  }

  @Test
  void whenTheHeadCannotGoBackEitherThePushSaysItIsHalfDoneAndHowToFinish() throws IOException {
    ChunkId pushed;
    try (Backend local = Ferry.openBackend(storeDir.toString(), StoreOptions.existing())) {
      Hooked refs = new Hooked(local.refs());
      refs.failAllAfterHead = true;
      try (Repository repo = Repository.open(SwappedBackend.withRefs(local, refs), RepositoryOptions.defaults())) {
        assertThatThrownBy(() -> repo.push(a, "run:prod", PushOptions.builder().message("second").build()))
            .hasMessageContaining("half done").hasMessageContaining("is the head of run")
            .hasMessageContaining("No space left on device").hasMessageContaining("to finish it: ferry tag run:prod ");
      }
      pushed = local.refs().get(RefNames.head("run")).orElseThrow();
      assertThat(pushed).isNotEqualTo(before);
    }
    try (Repository repo = Ferry.open(storeDir.toString())) {
      assertThat(repo.verify(null, io.ferry.transfer.TransferListener.NONE).errors())
          .as("the version the head names keeps its objects").isEmpty();
      assertThat(repo.resolve("run").id()).isEqualTo(pushed);
    }
  }
}
