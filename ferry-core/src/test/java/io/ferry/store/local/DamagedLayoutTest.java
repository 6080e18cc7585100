package io.ferry.store.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A store whose objects, refs, records or tmp directory was replaced by something else is refused naming the path
 * and what is there, rather than with only "already exists", and the open changes nothing.
 */
class DamagedLayoutTest {
  @TempDir Path tmp;

  private Path store() throws IOException {
    Path dir = tmp.resolve("store");
    LocalBackend.open(dir, StoreOptions.createIfMissing()).close();
    return dir;
  }

  @Test
  void aFileWhereTmpWasIsNamedWithWhatToDo() throws IOException {
    Path dir = store();
    Path t = dir.resolve("tmp");
    Files.delete(t);
    Files.writeString(t, "not a directory");
    assertThatThrownBy(() -> LocalBackend.open(dir, StoreOptions.existing())).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("store " + dir + " is damaged: " + t + " is a file")
        .hasMessageContaining("move it away");
    assertThat(Files.readString(t)).isEqualTo("not a directory");
  }

  @Test
  void aFifoOrADanglingLinkWhereADirectoryWasIsNamed() throws Exception {
    Path dir = store();
    Path records = dir.resolve("records");
    Files.delete(records);
    assertThat(new ProcessBuilder("mkfifo", records.toString()).start().waitFor()).isZero();
    assertThatThrownBy(() -> LocalBackend.open(dir, StoreOptions.existing())).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining(records + " is a FIFO, socket or device")
        .hasMessageContaining("put the store's records directory back");
    Files.delete(records);
    Files.createDirectory(records);

    Path refs = dir.resolve("refs");
    Files.delete(refs);
    Files.createSymbolicLink(refs, tmp.resolve("gone"));
    assertThatThrownBy(() -> LocalBackend.open(dir, StoreOptions.existing())).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining(refs + " is a symbolic link to nothing");
    assertThat(tmp.resolve("gone")).doesNotExist();
  }

  /**
   * A tmp directory replaced by a link to someone's directory: opening the store removed every regular file there
   * older than a day, as if each were a temporary file of a killed put, and a gc every file older than its grace.
   * Only files named as Ferry names its temporary files are removed, and links in tmp are not followed.
   */
  @Test
  void openingAndCollectingRemoveOnlyFerrysOwnTemporaryFiles() throws Exception {
    Path dir = store();
    Path home = Files.createDirectory(tmp.resolve("home"));
    Path notes = Files.writeString(home.resolve("notes.txt"), "mine");
    Path draft = Files.writeString(home.resolve("draft.tmp"), "mine too");
    Path killedPut = Files.writeString(home.resolve("0123456789abcdef-5f3a.tmp"), "half an object");
    java.nio.file.attribute.FileTime old = java.nio.file.attribute.FileTime.from(
        java.time.Instant.now().minus(java.time.Duration.ofDays(3)));
    for (Path p : new Path[] {notes, draft, killedPut}) {
      Files.setLastModifiedTime(p, old);
    }
    Files.delete(dir.resolve("tmp"));
    Files.createSymbolicLink(dir.resolve("tmp"), home);
    try (LocalBackend b = LocalBackend.open(dir, StoreOptions.existing())) {
      assertThat(notes).hasContent("mine");
      assertThat(draft).hasContent("mine too");
      assertThat(killedPut).as("a killed put's temporary file").doesNotExist();
      Files.setLastModifiedTime(notes, java.nio.file.attribute.FileTime.from(java.time.Instant.now()));
      b.chunks().removeAbandoned(java.time.Instant.now().plusSeconds(60));
      assertThat(notes).hasContent("mine");
      assertThat(draft).hasContent("mine too");
    }
  }

  /**
   * A store moved, deleted or unmounted while a process (a server) has it open: reads said it was empty ("no models",
   * no such model) and a write made its directories again wherever its path led, then failed with a bare path.
   */
  @Test
  void aStoreThatIsGoneWhileOpenIsSaidToBeGoneAndIsNotMadeAgain() throws Exception {
    Path dir = tmp.resolve("store");
    try (LocalBackend b = LocalBackend.open(dir, StoreOptions.createIfMissing())) {
      byte[] content = "chunk".getBytes(java.nio.charset.StandardCharsets.UTF_8);
      io.ferry.id.ChunkId id = io.ferry.id.ChunkId.of(content);
      b.chunks().put(id, java.nio.ByteBuffer.wrap(content));
      Files.move(dir, tmp.resolve("moved"));
      String gone = "store " + b.uri() + " has lost its ";
      assertThatThrownBy(() -> b.refs().list("")).isInstanceOf(IOException.class)
          .hasMessageContaining(gone + "refs directory").hasMessageContaining("moved, deleted or unmounted");
      assertThatThrownBy(() -> b.refs().get("m/head")).hasMessageContaining(gone + "refs directory");
      assertThatThrownBy(() -> b.chunks().size(id)).hasMessageContaining(gone + "objects directory");
      assertThatThrownBy(() -> b.records().create("leases/push/x/lease", new byte[] {1}))
          .hasMessageContaining(gone + "records directory");
      assertThatThrownBy(() -> b.refs().compareAndSet("m/head", null, id, new io.ferry.store.RefLogEntry(null, id,
          "t", java.time.Instant.EPOCH, "test"))).hasMessageContaining(gone + "refs directory");
      assertThat(dir).as("nothing made again at the store's path").doesNotExist();
    }
  }
  /**
   * A fan-out directory of objects/ replaced by a link to a directory outside the store: gc listed the objects there
   * and deleted those it did not need, outside the store. Listing and deleting now refuse it, naming the link, and
   * the files it leads to are left alone.
   */
  @Test
  void aFanOutDirectoryThatIsALinkIsRefusedAndNothingBehindItIsDeleted() throws Exception {
    Path dir = store();
    byte[] content = "chunk".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    io.ferry.id.ChunkId id = io.ferry.id.ChunkId.of(content);
    Path fanOut = dir.resolve("objects").resolve(id.hex().substring(0, 2));
    Path outside = tmp.resolve("elsewhere");
    try (LocalBackend b = LocalBackend.open(dir, StoreOptions.existing())) {
      b.chunks().put(id, java.nio.ByteBuffer.wrap(content));
      Files.move(fanOut, outside);
      Files.createSymbolicLink(fanOut, outside);
      assertThatThrownBy(() -> b.chunks().list(o -> { })).isInstanceOf(io.ferry.error.CorruptStoreException.class)
          .hasMessageContaining(fanOut + " is a symbolic link (to " + outside + ")")
          .hasMessageContaining("gc would delete through it");
      assertThatThrownBy(() -> b.chunks().delete(id)).isInstanceOf(io.ferry.error.CorruptStoreException.class)
          .hasMessageContaining(fanOut + " is a symbolic link");
    }
    assertThat(outside.resolve(id.hex().substring(2))).hasBinaryContent(content);
  }

  /**
   * A directory of records replaced by a link to a directory outside the store: a listing read the records there, a
   * delete removed them, a write left records there, and a link below a listed directory hid the records behind it
   * (a push's lease, from gc). Every call but a read now refuses it, naming the link, and the files it leads to are
   * left alone.
   */
  @Test
  void aDirectoryOfRecordsThatIsALinkIsRefusedAndNothingBehindItIsDeleted() throws Exception {
    Path dir = store();
    byte[] lease = "{}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    Path leases = dir.resolve("records").resolve("leases");
    Path one = leases.resolve("push").resolve("one");
    Path outside = tmp.resolve("elsewhere");
    try (LocalBackend b = LocalBackend.open(dir, StoreOptions.existing())) {
      b.records().create("leases/push/one/lease", lease);
      Files.move(one, outside);
      Files.createSymbolicLink(one, outside);
      assertThatThrownBy(() -> b.records().list("leases/push/"))
          .isInstanceOf(io.ferry.error.CorruptStoreException.class)
          .hasMessageContaining(one + " is a symbolic link (to " + outside + ")");
      assertThatThrownBy(() -> b.records().delete("leases/push/one/lease"))
          .isInstanceOf(io.ferry.error.CorruptStoreException.class)
          .hasMessageContaining(one + " is a symbolic link (to " + outside + ")");
      Files.delete(one);
      Files.move(outside, one);
      Path moved = tmp.resolve("leases-elsewhere");
      Files.move(leases, moved);
      Files.createSymbolicLink(leases, moved);
      assertThatThrownBy(() -> b.records().list("leases/push/"))
          .isInstanceOf(io.ferry.error.CorruptStoreException.class)
          .hasMessageContaining(leases + " is a symbolic link (to " + moved + ")");
      assertThatThrownBy(() -> b.records().delete("leases/push/one/lease"))
          .isInstanceOf(io.ferry.error.CorruptStoreException.class)
          .hasMessageContaining(leases + " is a symbolic link");
      assertThatThrownBy(() -> b.records().create("leases/gc/two/lease", lease))
          .isInstanceOf(io.ferry.error.CorruptStoreException.class)
          .hasMessageContaining(leases + " is a symbolic link");
      assertThatThrownBy(() -> b.records().replace("leases/push/one/lease", new byte[0]))
          .isInstanceOf(io.ferry.error.CorruptStoreException.class)
          .hasMessageContaining(leases + " is a symbolic link");
      assertThat(moved.resolve("push").resolve("one").resolve("lease")).hasBinaryContent(lease);
      assertThat(moved.resolve("gc")).as("no record written behind the link").doesNotExist();
    }
  }

  /**
   * A symbolic link below records/ that loops (to itself, or through another link) is damage as any other link
   * there: a listing names it and what it points to, and the link is left as it was.
   */
  @Test
  void aLinkThatLoopsBelowRecordsIsNamed() throws Exception {
    Path dir = store();
    Path push = dir.resolve("records").resolve("leases").resolve("push");
    try (LocalBackend b = LocalBackend.open(dir, StoreOptions.existing())) {
      b.records().create("leases/push/one/lease", new byte[1]);
      Path self = push.resolve("self");
      Files.createSymbolicLink(self, self.getFileName());
      assertThatThrownBy(() -> b.records().list("leases/push/"))
          .isInstanceOf(io.ferry.error.CorruptStoreException.class)
          .hasMessageContaining(self + " is a symbolic link (to self)").hasMessageContaining("it leads to nothing");
      assertThatThrownBy(() -> b.records().list(""))
          .isInstanceOf(io.ferry.error.CorruptStoreException.class)
          .hasMessageContaining(self + " is a symbolic link (to self)");
      Files.delete(self);
      Path a = push.resolve("one").resolve("a");
      Files.createSymbolicLink(a, Path.of("b"));
      Files.createSymbolicLink(push.resolve("one").resolve("b"), Path.of("a"));
      assertThatThrownBy(() -> b.records().list("leases/push/one/"))
          .isInstanceOf(io.ferry.error.CorruptStoreException.class)
          .hasMessageMatching("(?s).*one/[ab] is a symbolic link \\(to [ab]\\).*");
      assertThat(Files.isSymbolicLink(a)).isTrue();
    }
  }

  /** records/ itself may be a link (records kept on another volume): every listing sees the records behind it. */
  @Test
  void recordsThemselvesMayBeALink() throws Exception {
    Path dir = store();
    Path records = dir.resolve("records");
    Path elsewhere = tmp.resolve("records-elsewhere");
    Files.move(records, elsewhere);
    Files.createSymbolicLink(records, elsewhere);
    try (LocalBackend b = LocalBackend.open(dir, StoreOptions.existing())) {
      b.records().create("leases/push/one/lease", new byte[1]);
      assertThat(b.records().list("leases/push/")).containsExactly("leases/push/one/lease");
      assertThat(b.records().list("")).containsExactly("leases/push/one/lease");
      assertThat(b.records().list("lea")).containsExactly("leases/push/one/lease");
      b.records().delete("leases/push/one/lease");
      assertThat(b.records().list("")).isEmpty();
    }
  }

  /**
   * A file where the store keeps a directory of objects or of records: a put or a record's write failed with only
   * "objects/ab: already exists", and verify reported the store clean. Both now name the path and what it is.
   */
  @Test
  void aFileWhereADirectoryOfObjectsOrRecordsGoesIsNamed() throws Exception {
    Path dir = store();
    byte[] content = "chunk".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    io.ferry.id.ChunkId id = io.ferry.id.ChunkId.of(content);
    Path fanOut = dir.resolve("objects").resolve(id.hex().substring(0, 2));
    Path leases = dir.resolve("records").resolve("leases");
    Files.writeString(fanOut, "not a directory");
    Files.writeString(leases, "not a directory");
    try (LocalBackend b = LocalBackend.open(dir, StoreOptions.existing())) {
      assertThatThrownBy(() -> b.chunks().put(id, java.nio.ByteBuffer.wrap(content)))
          .isInstanceOf(io.ferry.error.CorruptStoreException.class)
          .hasMessageContaining(fanOut + " is a file where the store keeps a directory");
      assertThat(b.chunks().layoutDamage()).singleElement().asString()
          .contains(fanOut + " is a file where the store keeps a directory of objects");
      assertThatThrownBy(() -> b.records().create("leases/push/one/lease", new byte[1]))
          .isInstanceOf(io.ferry.error.CorruptStoreException.class)
          .hasMessageContaining(leases + " is a file where the store keeps a directory");
    }
    assertThat(fanOut).hasContent("not a directory");
    assertThat(leases).hasContent("not a directory");
  }

  /**
   * A file where the store keeps a model's directory of refs (refs/m): reading or moving its head failed with only
   * "refs/m/head.log: Not a directory" (exit 1). It is damage to the ref now, naming the file (exit 3).
   */
  @Test
  void aFileWhereADirectoryOfRefsGoesIsNamed() throws Exception {
    Path dir = store();
    Path model = dir.resolve("refs").resolve("m");
    Files.writeString(model, "not a directory");
    io.ferry.id.ChunkId id = io.ferry.id.ChunkId.of(new byte[1]);
    try (LocalBackend b = LocalBackend.open(dir, StoreOptions.existing())) {
      assertThatThrownBy(() -> b.refs().get("m/head")).isInstanceOf(io.ferry.error.CorruptRefException.class)
          .hasMessageContaining(model + " is a file where the store keeps a directory of refs");
      assertThatThrownBy(() -> b.refs().compareAndSet("m/head", null, id,
          new io.ferry.store.RefLogEntry(null, id, "someone", java.time.Instant.EPOCH, "test")))
          .isInstanceOf(io.ferry.error.CorruptRefException.class)
          .hasMessageContaining(model + " is a file where the store keeps a directory of refs");
    }
    assertThat(model).hasContent("not a directory");
  }
}
