package io.ferry.store.local;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A store copied with hard links ({@code cp -al}, a backup made by linking) shares its files with the copy: objects
 * and records are never written in place, but ref logs are appended to, and a move in the copy used to move the ref
 * in the original too, to a version the original does not hold.
 */
class HardLinkedCopyTest {
  @TempDir Path tmp;

  private static final ChunkId A = ChunkId.of("a".getBytes(StandardCharsets.UTF_8));
  private static final ChunkId B = ChunkId.of("b".getBytes(StandardCharsets.UTF_8));

  private static RefLogEntry entry(ChunkId from, ChunkId to) {
    return new RefLogEntry(from, to, "tester", Instant.parse("2030-01-01T00:00:00Z"), "test");
  }

  /** Copies the tree at {@code from} to {@code to}, each file a hard link to the original's, as {@code cp -al} does. */
  private static void linkCopy(Path from, Path to) throws IOException {
    try (Stream<Path> all = Files.walk(from)) {
      for (Path p : (Iterable<Path>) all::iterator) {
        Path q = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(q);
        } else {
          Files.createLink(q, p);
        }
      }
    }
  }

  @Test
  void aMoveInAHardLinkedCopyLeavesTheOriginalsRefAsItWas() throws IOException {
    Path original = tmp.resolve("original");
    Path copy = tmp.resolve("copy");
    try (LocalBackend store = LocalBackend.open(original, StoreOptions.createIfMissing())) {
      assertThat(store.refs().compareAndSet("m/head", null, A, entry(null, A))).isEqualTo(CasResult.NEW);
    }
    linkCopy(original, copy);
    String log = Files.readString(original.resolve("refs/m/head.log"));
    // a link at the name the move copies the log to (left there, or planted) is removed, never written through
    Path outside = Files.writeString(tmp.resolve("outside.txt"), "not the store's");
    Files.createSymbolicLink(copy.resolve("refs/m/head.log.tmp"), outside);

    try (LocalBackend store = LocalBackend.open(copy, StoreOptions.existing())) {
      assertThat(store.refs().compareAndSet("m/head", A, B, entry(A, B))).isEqualTo(CasResult.UPDATED);
      assertThat(store.refs().get("m/head")).contains(B);
      assertThat(store.refs().log("m/head")).extracting(RefLogEntry::newId).containsExactly(A, B);
    }
    assertThat(original.resolve("refs/m/head.log")).as("the original's log").hasContent(log);
    assertThat(outside).hasContent("not the store's");
    try (LocalBackend store = LocalBackend.open(original, StoreOptions.existing())) {
      assertThat(store.refs().get("m/head")).isEqualTo(Optional.of(A));
      assertThat(store.refs().compareAndSet("m/head", A, null, entry(A, null))).isEqualTo(CasResult.DELETED);
      assertThat(store.refs().list("")).isEqualTo(List.of());
    }
    try (LocalBackend store = LocalBackend.open(copy, StoreOptions.existing())) {
      assertThat(store.refs().get("m/head")).as("the copy, after a move in the original").contains(B);
    }
    try (Stream<Path> files = Files.list(copy.resolve("refs/m"))) {
      assertThat(files.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("head.log", "head.lock");
    }
  }
}
