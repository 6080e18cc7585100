package io.ferry.store.hdfs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.CorruptStoreException;
import io.ferry.error.FerryException;
import io.ferry.format.DType;
import io.ferry.id.ChunkId;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.transfer.TransferListener;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.DFSTestUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Damage an HDFS store can hold beyond altered bytes (which {@code HdfsRepositoryTest} covers): every replica of a
 * block failing HDFS's own checksum (damaged disks), and a garbage store marker. Each is integrity damage (exit 3)
 * naming the object or the marker and the store, as on every other store.
 */
class HdfsDamageTest {
  @TempDir Path work;

  private Path model(String name, long seed) throws Exception {
    Path dir = work.resolve(name);
    ModelGenerator.writeHfModel(dir, ModelGenerator.transformer(1L << 20, DType.BF16, seed), 1L << 20);
    return dir;
  }

  /** Overwrites the block of {@code file} on every DataNode, leaving HDFS's checksums as they were. */
  private static void corruptEveryReplica(MiniHdfs hdfs, org.apache.hadoop.fs.Path file) throws Exception {
    FileSystem fs = hdfs.cluster().getFileSystem();
    org.apache.hadoop.hdfs.protocol.ExtendedBlock block = DFSTestUtil.getFirstBlock(fs, file);
    for (int dn = 0; dn < MiniHdfs.DATANODES; dn++) {
      hdfs.cluster().corruptReplica(dn, block);
    }
  }

  private static org.apache.hadoop.fs.Path objectPath(String store, ChunkId id) {
    return new org.apache.hadoop.fs.Path(store + "/objects/" + id.hex().substring(0, 2) + "/" + id.hex().substring(2));
  }

  /**
   * A version and a snapshot whose every replica fails HDFS's checksum: the read is a corrupt object (exit 3) naming
   * the object and the store, and verify reports both. It was Hadoop's "Could not obtain block" (exit 1), naming a
   * block and DataNodes but neither the object nor the store.
   */
  @Test
  void replicasThatAllFailHdfsChecksumAreADamagedObjectNamedWithItsStore() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    String path = MiniHdfs.freshPath("replicas");
    URI uri = hdfs.hdfs(path);
    Path src = model("src", 1);
    VersionRef pushed;
    try (Repository repo = Ferry.open(uri.toString(), StoreOptions.createIfMissing().withSettings(hdfs.settings()),
        RepositoryOptions.defaults())) {
      ChunkId id = repo.push(src, "llama:prod", PushOptions.builder().message("v1").build()).versionId();
      pushed = repo.resolve("llama@" + id.hex());
      repo.push(model("other", 2), "other:prod", PushOptions.builder().message("o").build());
    }
    ChunkId version = pushed.id();
    ChunkId snapshot = pushed.version().snapshot();
    corruptEveryReplica(hdfs, objectPath(path, version));
    corruptEveryReplica(hdfs, objectPath(path, snapshot));

    StoreOptions quick = StoreOptions.existing().withSettings(MiniHdfs.QUICK_RETRIES);
    try (Repository repo = Ferry.open(uri.toString(), quick, RepositoryOptions.defaults())) {
      assertThatThrownBy(() -> repo.resolve("llama:prod"))
          .isInstanceOfSatisfying(CorruptObjectException.class, e -> {
            assertThat(e.kind().exitCode()).isEqualTo(3);
            assertThat(e.id()).isEqualTo(version);
            assertThat(e.getMessage()).contains(version.hex()).contains(uri.toString())
                .contains("fails HDFS's own checksum").doesNotContain("\n");
          });
      assertThatThrownBy(() -> repo.objects().snapshot(snapshot))
          .isInstanceOfSatisfying(CorruptObjectException.class, e -> assertThat(e.getMessage())
              .contains(snapshot.hex()).contains(uri.toString()).contains("fails HDFS's own checksum"));
      assertThat(repo.resolve("other:prod").id()).as("the other model reads").isNotEqualTo(version);
      assertThat(String.join("\n", repo.verify(null, TransferListener.NONE).errors())).contains(version.hex());
    }
  }

  /**
   * A store marker that is garbage, or whose every replica fails HDFS's checksum, is a damaged store (exit 3) naming
   * the store and the marker; the store is left as it was. The garbage marker exited 1 as bad input.
   */
  @Test
  void aDamagedMarkerIsADamagedStoreNamedWithItsMarker() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    String path = MiniHdfs.freshPath("marker");
    URI uri = hdfs.hdfs(path);
    try (Repository repo = Ferry.open(uri.toString(), StoreOptions.createIfMissing().withSettings(hdfs.settings()),
        RepositoryOptions.defaults())) {
      repo.push(model("src", 3), "llama:prod", PushOptions.builder().message("v1").build());
    }
    FileSystem fs = hdfs.cluster().getFileSystem();
    org.apache.hadoop.fs.Path marker = new org.apache.hadoop.fs.Path(path + "/" + HdfsBackend.MARKER);
    try (FSDataOutputStream out = fs.create(marker, true)) {
      out.write("\u007fELF garbage".getBytes(StandardCharsets.UTF_8));
    }
    java.util.Map<String, Long> before = MiniHdfs.files(fs, new org.apache.hadoop.fs.Path(path));
    for (URI u : new URI[] {uri, hdfs.webhdfs(path)}) {
      assertThatThrownBy(() -> Ferry.open(u.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults()))
          .isInstanceOfSatisfying(CorruptStoreException.class, e -> {
            assertThat(e.kind()).isEqualTo(FerryException.Kind.INTEGRITY);
            assertThat(e.getMessage()).contains(u.toString()).contains(HdfsBackend.MARKER).contains("not valid JSON");
          });
    }
    assertThat(MiniHdfs.files(fs, new org.apache.hadoop.fs.Path(path))).as("the store after the opens")
        .isEqualTo(before);

    try (FSDataOutputStream out = fs.create(marker, true)) {
      out.write(io.ferry.store.StoreMarker.content());
    }
    corruptEveryReplica(hdfs, marker);
    StoreOptions quick = StoreOptions.existing().withSettings(MiniHdfs.QUICK_RETRIES);
    // over WebHDFS the DataNode cut its answer short, and the marker's first bytes read as one that is not JSON
    for (URI u : new URI[] {uri, hdfs.webhdfs(path)}) {
      assertThatThrownBy(() -> Ferry.open(u.toString(), quick, RepositoryOptions.defaults()))
          .isInstanceOfSatisfying(CorruptStoreException.class, e -> assertThat(e.getMessage())
              .contains(u.toString()).contains(HdfsBackend.MARKER).contains("fails HDFS's own checksum"));
    }
  }

  /**
   * A ref-log entry that is garbage, whose every replica fails HDFS's checksum, or whose path is a directory: the
   * listing goes on around the ref and hands its damage, naming the ref and the store, to the caller (ls exits 3), as
   * on a local store. The unreadable replicas and the directory were a store error that ended the whole listing.
   */
  @Test
  void aDamagedRefLogIsNamedAndTheOtherModelsAreListed() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    String path = MiniHdfs.freshPath("reflog");
    URI uri = hdfs.hdfs(path);
    try (Repository repo = Ferry.open(uri.toString(), StoreOptions.createIfMissing().withSettings(hdfs.settings()),
        RepositoryOptions.defaults())) {
      repo.push(model("src", 4), "llama:prod", PushOptions.builder().message("v1").build());
      repo.push(model("other", 5), "other:prod", PushOptions.builder().message("o").build());
    }
    FileSystem fs = hdfs.cluster().getFileSystem();
    org.apache.hadoop.fs.Path entry =
        new org.apache.hadoop.fs.Path(path + "/refs/llama/head/_log/00000000000000000001");
    byte[] good = fs.getXAttr(entry, HdfsRecordStore.RECORD_ATTR);
    StoreOptions quick = StoreOptions.existing().withSettings(MiniHdfs.QUICK_RETRIES);
    java.util.List<Runnable> damages = java.util.List.of(
        () -> {
          try {
            fs.setXAttr(entry, HdfsRecordStore.RECORD_ATTR, "garbage".getBytes(StandardCharsets.UTF_8));
          } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        },
        () -> {
          try {
            fs.delete(entry, false);
            try (FSDataOutputStream out = fs.create(entry, false)) {
              out.write(good);
            }
            corruptEveryReplica(hdfs, entry);
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
        },
        () -> {
          try {
            fs.delete(entry, false);
            fs.mkdirs(entry);
          } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        });
    for (Runnable damage : damages) {
      damage.run();
      try (Repository repo = Ferry.open(uri.toString(), quick, RepositoryOptions.defaults())) {
        java.util.List<io.ferry.error.CorruptRefException> damaged = new java.util.ArrayList<>();
        java.util.List<FerryException> versions = new java.util.ArrayList<>();
        assertThat(repo.models(damaged::add, versions::add)).extracting(m -> m.model())
            .as("the models listed").contains("other");
        assertThat(damaged).singleElement().satisfies(e -> {
          assertThat(e.ref()).isEqualTo("llama/head");
          assertThat(e.kind().exitCode()).isEqualTo(3);
          assertThat(e.getMessage()).contains(uri.toString()).doesNotContain("\n");
        });
        assertThat(versions).isEmpty();
      }
    }
  }

  /**
   * Over WebHDFS, an object whose every replica fails HDFS's checksum is a damaged object (exit 3) naming the object
   * and the store, as over hdfs://. The DataNode cut its answer short at the damaged bytes, and the read said the
   * object was truncated.
   */
  @Test
  void overWebHdfsReplicasThatAllFailHdfsChecksumAreADamagedObject() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    String path = MiniHdfs.freshPath("web-replicas");
    URI uri = hdfs.webhdfs(path);
    ChunkId version;
    try (Repository repo = Ferry.open(hdfs.hdfs(path).toString(),
        StoreOptions.createIfMissing().withSettings(hdfs.settings()), RepositoryOptions.defaults())) {
      version = repo.push(model("src", 6), "llama:prod", PushOptions.builder().message("v1").build()).versionId();
    }
    corruptEveryReplica(hdfs, objectPath(path, version));
    try (Repository repo = Ferry.open(uri.toString(), StoreOptions.existing().withSettings(MiniHdfs.QUICK_RETRIES),
        RepositoryOptions.defaults())) {
      assertThatThrownBy(() -> repo.resolve("llama:prod"))
          .isInstanceOfSatisfying(CorruptObjectException.class, e -> {
            assertThat(e.kind().exitCode()).isEqualTo(3);
            assertThat(e.id()).isEqualTo(version);
            assertThat(e.getMessage()).contains(version.hex()).contains(uri.toString())
                .contains("fails HDFS's own checksum").doesNotContain("truncated").doesNotContain("\n");
          });
    }
  }

  /**
   * A directory where an object belongs is a damaged object naming its path, over hdfs:// and WebHDFS alike. A read
   * said the object was missing over hdfs://, and truncated over WebHDFS (which gives a directory length 0), while a
   * push of it refused the directory.
   */
  @Test
  void aDirectoryWhereAnObjectBelongsIsADamagedObjectOverEitherClient() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    String path = MiniHdfs.freshPath("object-dir");
    ChunkId version;
    try (Repository repo = Ferry.open(hdfs.hdfs(path).toString(),
        StoreOptions.createIfMissing().withSettings(hdfs.settings()), RepositoryOptions.defaults())) {
      version = repo.push(model("src", 7), "llama:prod", PushOptions.builder().message("v1").build()).versionId();
    }
    FileSystem fs = hdfs.cluster().getFileSystem();
    org.apache.hadoop.fs.Path object = objectPath(path, version);
    fs.delete(object, false);
    fs.mkdirs(object);
    for (URI uri : new URI[] {hdfs.hdfs(path), hdfs.webhdfs(path)}) {
      try (Repository repo = Ferry.open(uri.toString(), StoreOptions.existing(), RepositoryOptions.defaults())) {
        assertThatThrownBy(() -> repo.resolve("llama:prod"))
            .isInstanceOfSatisfying(CorruptObjectException.class, e -> {
              assertThat(e.id()).isEqualTo(version);
              assertThat(e.getMessage()).contains(uri.toString()).contains(object.toUri().getPath())
                  .contains("is a directory");
            });
      }
    }
  }
  /**
   * A directory at the path of a ref's last log entry (made by hand or by a tool) is reported by verify, naming the
   * ref, the store, the entry and the path, as get and ls report it. The log's listing does not show a directory, so
   * the log read as one entry shorter and verify found nothing.
   */
  @Test
  void verifyReportsADirectoryAtTheLastEntryOfARefLog() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    String path = MiniHdfs.freshPath("entry-dir");
    URI uri = hdfs.hdfs(path);
    try (Repository repo = Ferry.open(uri.toString(), StoreOptions.createIfMissing().withSettings(hdfs.settings()),
        RepositoryOptions.defaults())) {
      repo.push(model("src", 8), "llama:prod", PushOptions.builder().message("v1").build());
      repo.push(model("src2", 9), "llama:prod", PushOptions.builder().message("v2").build());
    }
    FileSystem fs = hdfs.cluster().getFileSystem();
    org.apache.hadoop.fs.Path entry =
        new org.apache.hadoop.fs.Path(path + "/refs/llama/tags/prod/_log/00000000000000000002");
    assertThat(fs.delete(entry, false)).isTrue();
    assertThat(fs.mkdirs(entry)).isTrue();
    try (Repository repo = Ferry.open(uri.toString(), StoreOptions.existing(), RepositoryOptions.defaults())) {
      assertThat(repo.verify(null, TransferListener.NONE).errors()).anySatisfy(e -> assertThat(e)
          .contains("llama/tags/prod").contains(uri.toString()).contains("entry 2")
          .contains(entry.toUri().getPath()).contains("directory"));
    }
    // an entry before the last: the log was said to miss it ("there is no record"), not to hold a directory there
    org.apache.hadoop.fs.Path first =
        new org.apache.hadoop.fs.Path(path + "/refs/llama/head/_log/00000000000000000001");
    assertThat(fs.delete(entry, false)).isTrue();
    assertThat(fs.delete(first, false)).isTrue();
    assertThat(fs.mkdirs(first)).isTrue();
    try (Repository repo = Ferry.open(uri.toString(), StoreOptions.existing(), RepositoryOptions.defaults())) {
      assertThat(repo.verify(null, TransferListener.NONE).errors()).anySatisfy(e -> assertThat(e)
          .contains("llama/head").contains(uri.toString()).contains("entry 1")
          .contains(first.toUri().getPath()).contains("is a directory"));
    }
  }
  /**
   * A directory where the store marker belongs is a damaged store naming the marker, over hdfs:// and WebHDFS alike,
   * and an open that may create the store changes nothing. The marker read as absent, and the open said the directory
   * was not empty and not a Ferry store, though it held the store's objects and refs.
   */
  @Test
  void aDirectoryWhereTheMarkerBelongsIsADamagedStore() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    String path = MiniHdfs.freshPath("marker-dir");
    URI uri = hdfs.hdfs(path);
    try (Repository repo = Ferry.open(uri.toString(), StoreOptions.createIfMissing().withSettings(hdfs.settings()),
        RepositoryOptions.defaults())) {
      repo.push(model("src", 10), "llama:prod", PushOptions.builder().message("v1").build());
    }
    FileSystem fs = hdfs.cluster().getFileSystem();
    org.apache.hadoop.fs.Path marker = new org.apache.hadoop.fs.Path(path + "/" + HdfsBackend.MARKER);
    assertThat(fs.delete(marker, false)).isTrue();
    assertThat(fs.mkdirs(marker)).isTrue();
    java.util.Map<String, Long> before = MiniHdfs.files(fs, new org.apache.hadoop.fs.Path(path));
    for (URI u : new URI[] {uri, hdfs.webhdfs(path)}) {
      assertThatThrownBy(() -> Ferry.open(u.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults()))
          .isInstanceOfSatisfying(CorruptStoreException.class, e -> {
            assertThat(e.kind()).isEqualTo(FerryException.Kind.INTEGRITY);
            assertThat(e.getMessage()).contains(u.toString()).contains(marker.toUri().getPath())
                .contains("is a directory");
          });
    }
    assertThat(MiniHdfs.files(fs, new org.apache.hadoop.fs.Path(path))).as("the store after the opens")
        .isEqualTo(before);
    assertThat(fs.getFileStatus(marker).isDirectory()).isTrue();
  }

  /** A store whose marker went missing is damage saying what the marker holds, not "not a Ferry store" (exit 1). */
  @Test
  void aStoreThatLostItsMarkerIsADamagedStore() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    String path = MiniHdfs.freshPath("marker-lost");
    URI uri = hdfs.hdfs(path);
    try (Repository repo = Ferry.open(uri.toString(), StoreOptions.createIfMissing().withSettings(hdfs.settings()),
        RepositoryOptions.defaults())) {
      repo.push(model("src", 10), "llama:prod", PushOptions.builder().message("v1").build());
    }
    FileSystem fs = hdfs.cluster().getFileSystem();
    assertThat(fs.delete(new org.apache.hadoop.fs.Path(path + "/" + HdfsBackend.MARKER), false)).isTrue();
    java.util.Map<String, Long> before = MiniHdfs.files(fs, new org.apache.hadoop.fs.Path(path));
    assertThatThrownBy(() -> Ferry.open(uri.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults()))
        .isInstanceOfSatisfying(CorruptStoreException.class, e -> assertThat(e.getMessage()).contains(uri.toString())
            .contains("is missing").contains("\"format\":\"ferry-store\""));
    assertThat(MiniHdfs.files(fs, new org.apache.hadoop.fs.Path(path))).as("the store after the open")
        .isEqualTo(before);
  }
}
