package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.CorruptRefException;
import io.ferry.error.NotFoundException;
import io.ferry.id.ChunkId;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ids of objects that are not versions where a version is expected: one a user gives ({@code model@<id>} of a
 * snapshot or a pack) is "no version" naming the kind of object, not a parser's message or "corrupt"; a ref that
 * points at one (which a raw protocol client could set) stops gc before it removes anything, naming the ref.
 */
class WrongObjectKindTest {
  @TempDir Path tmp;

  @Test
  void anIdOfAnotherKindOfObjectIsNoVersionAndNamesTheKind() throws IOException {
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      Results.PushResult r = repo.push(model(), "m", PushOptions.builder().build());
      ChunkId snapshot = r.version().snapshot();
      assertThatThrownBy(() -> repo.resolve("m@" + snapshot.hex()))
          .isInstanceOf(NotFoundException.class)
          .hasMessage("model 'm' has no version " + snapshot.hex()
              + ": that object is a ferry-snapshot/1 object, not a version");
      ChunkId pack = r.version().packs().get(0);
      assertThatThrownBy(() -> repo.resolve("m@" + pack.hex()))
          .isInstanceOf(NotFoundException.class)
          .hasMessageEndingWith(": that object is a pack of small chunks, not a version");
      ChunkId data = bigChunk(repo, r);
      assertThatThrownBy(() -> repo.resolve("m@" + data.hex()))
          .isInstanceOf(NotFoundException.class)
          .hasMessageEndingWith(": that object is a chunk of model data, not a version");
    }
  }

  @Test
  void theFormatAnObjectDeclaresIsReadFromItsFirstBytesOnly() {
    assertThat(io.ferry.version.ObjectJson.formatOf(bytes("{\"format\":\"ferry-version/1\",\"x\":1}")))
        .isEqualTo("ferry-version/1");
    assertThat(io.ferry.version.ObjectJson.isVersion(bytes("{\"format\":\"ferry-version/1\"}"))).isTrue();
    assertThat(io.ferry.version.ObjectJson.isVersion(bytes("{\"format\":\"ferry-version/10\"}"))).isFalse();
    assertThat(io.ferry.version.ObjectJson.isVersion(bytes("{\"format\":\"ferry-snapshot/1\"}"))).isFalse();
    // model data that merely starts like an object: cut short, no closing quote, not a format name, spaces
    for (String notOne : List.of("", "{\"format\":\"", "{\"format\":\"ferry-version/1", "{\"format\":\"Ferry/1\"",
        "{\"format\":\"ferry-version/\"", "{\"format\":\"/1\"", "{ \"format\":\"ferry-version/1\"",
        "{\"format\":\"" + "a".repeat(100) + "/1\"")) {
      assertThat(io.ferry.version.ObjectJson.formatOf(bytes(notOne))).as(notOne).isNull();
    }
  }

  private static byte[] bytes(String s) {
    return s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
  }

  @Test
  void gcStopsAtARefThatPointsAtNoVersionAndRemovesNothing() throws IOException {
    Path store = tmp.resolve("store");
    try (Repository repo = Ferry.open(store.toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      Results.PushResult r = repo.push(model(), "m", PushOptions.builder().build());
      // garbage a gc with no grace would remove: another model's objects, the model removed
      Path other = model();
      Files.writeString(other.resolve("config.json"), "{\"b\": 2}");
      repo.push(other, "old", PushOptions.builder().build());
      repo.removeModel("old", true);
      ChunkId snapshot = r.version().snapshot();
      String ref = RefNames.tag("m", "junk");
      repo.backend().refs().compareAndSet(ref, null, snapshot,
          new RefLogEntry(null, snapshot, "raw client", Instant.now(), "a tag at a snapshot"));
      List<Path> before = files(store.resolve("objects"));
      assertThatThrownBy(() -> repo.gc(Duration.ZERO, false))
          .isInstanceOf(CorruptRefException.class)
          .hasMessageContaining("'" + ref + "'")
          .hasMessageContaining("it points at " + snapshot.hex() + ", which is not a version (a ferry-snapshot/1 "
              + "object); gc removes nothing");
      assertThat(files(store.resolve("objects"))).isEqualTo(before);
      repo.untag("m:junk", null);
      assertThat(repo.gc(Duration.ZERO, false).deadObjects()).as("the garbage, once the ref is gone").isPositive();
    }
  }

  /**
   * A ref whose log is not a file (a directory or a fifo where the log should be) is left out of the refs gc marks
   * from; gc with no grace then removed every object of that model. It stops instead, naming the ref.
   */
  @Test
  void gcStopsAtARefWhoseLogIsNotAFileAndRemovesNothing() throws IOException {
    Path store = tmp.resolve("store");
    try (Repository repo = Ferry.open(store.toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(model(), "m", PushOptions.builder().build());
      Path log = store.resolve("refs").resolve("m").resolve("head.log");
      Path saved = tmp.resolve("head.log");
      Files.move(log, saved);
      Files.createDirectory(log);
      List<Path> before = files(store.resolve("objects"));
      assertThatThrownBy(() -> repo.gc(Duration.ZERO, false))
          .isInstanceOf(CorruptRefException.class)
          .hasMessageContaining("'m/head'")
          .hasMessageContaining("not a regular file")
          .hasMessageContaining("gc removes nothing while a ref cannot be read");
      assertThat(files(store.resolve("objects"))).isEqualTo(before);
      // the log back: the model reads again, and gc keeps it
      Files.delete(log);
      Files.move(saved, log);
      assertThat(repo.gc(Duration.ZERO, false).deadObjects()).isZero();
      assertThat(files(store.resolve("objects"))).isEqualTo(before);
      assertThat(repo.readFile("m//config.json")).isNotNull();
    }
  }

  private ChunkId bigChunk(Repository repo, Results.PushResult r) throws IOException {
    return repo.snapshot(repo.resolve("m")).files().stream()
        .flatMap(f -> f.chunks().stream()).filter(c -> c.length() >= io.ferry.objects.ObjectDatabase.PACK_THRESHOLD)
        .findFirst().orElseThrow().id();
  }

  private Path model() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("src-" + System.nanoTime()));
    Files.writeString(dir.resolve("config.json"), "{\"a\": 1}");
    byte[] big = new byte[(int) io.ferry.objects.ObjectDatabase.PACK_THRESHOLD + 1000];
    new java.util.Random(1).nextBytes(big);
    Files.write(dir.resolve("weights.bin"), big);
    return dir;
  }

  private static List<Path> files(Path root) throws IOException {
    try (Stream<Path> s = Files.walk(root)) {
      return s.filter(Files::isRegularFile).sorted().toList();
    }
  }
}
