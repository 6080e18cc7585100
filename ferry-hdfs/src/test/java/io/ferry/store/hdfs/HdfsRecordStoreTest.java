package io.ferry.store.hdfs;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.store.Backend;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.RecordStoreContract;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.hadoop.fs.CreateFlag;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FilterFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.util.Progressable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * Runs the {@link RecordStoreContract} against hdfs:// on the shared MiniDFSCluster (3 DataNodes, replication 1: see
 * {@link MiniHdfs#settings(int)}).
 *
 * <p>Its methods run concurrently: each has a store of its own.
 */
@Execution(ExecutionMode.CONCURRENT)
class HdfsRecordStoreTest extends RecordStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    return HdfsBackend.open(hdfs.hdfs(MiniHdfs.freshPath("hdfs-RecordStore")),
        StoreOptions.createIfMissing().withSettings(hdfs.settings(1)));
  }

  /** A client of the test's store that counts the files it creates. */
  private static final class CountingFileSystem extends FilterFileSystem {
    final AtomicLong creates = new AtomicLong();

    CountingFileSystem(FileSystem fs) {
      super(fs);
    }

    @Override
    public FSDataOutputStream create(org.apache.hadoop.fs.Path f, FsPermission permission,
        EnumSet<CreateFlag> flags, int bufferSize, short replication, long blockSize, Progressable progress)
        throws IOException {
      creates.incrementAndGet();
      return super.create(f, permission, flags, bufferSize, replication, blockSize, progress);
    }
  }

  /**
   * A directory where a record belongs is named as damage when read. Read as absent, a directory in place of a ref's
   * last log entry silently took the ref back to its previous value (or, for its first entry, made it vanish).
   */
  @Test
  void aDirectoryWhereARecordBelongsIsDamageNotAbsence() throws Exception {
    HdfsBackend b = (HdfsBackend) backend;
    io.ferry.id.ChunkId v1 = io.ferry.id.ChunkId.of(java.nio.ByteBuffer.wrap(new byte[] {1}));
    io.ferry.id.ChunkId v2 = io.ferry.id.ChunkId.of(java.nio.ByteBuffer.wrap(new byte[] {2}));
    String ref = "llama/tags/prod";
    java.time.Instant now = java.time.Instant.now();
    assertThat(b.refs().compareAndSet(ref, null, v1, new io.ferry.store.RefLogEntry(null, v1, "t", now, "one")))
        .isEqualTo(io.ferry.store.CasResult.NEW);
    assertThat(b.refs().compareAndSet(ref, v1, v2, new io.ferry.store.RefLogEntry(v1, v2, "t", now, "two")))
        .isEqualTo(io.ferry.store.CasResult.UPDATED);
    String last = records.list("refs/" + ref + "/_log/").get(1);
    org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(b.root(), last);
    assertThat(b.fileSystem().delete(p, false)).isTrue();
    assertThat(b.fileSystem().mkdirs(p)).isTrue();

    org.assertj.core.api.Assertions.assertThatThrownBy(() -> records.read(last)).isInstanceOf(IOException.class)
        .hasMessageContaining(last).hasMessageContaining(p.toUri().getPath()).hasMessageContaining("directory");
    // opened anew, as by another process: this store instance remembers the highest entry it has seen
    try (HdfsBackend fresh = HdfsBackend.open(java.net.URI.create(b.uri()), StoreOptions.existing()
        .withSettings(MiniHdfs.shared().settings(1)))) {
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> fresh.refs().get(ref))
          .hasStackTraceContaining(p.toUri().getPath());
    }
    assertThat(records.read("refs/absent/_log/00000000000000000001")).isEmpty();

    // a ref whose only entry is replaced: the listing of refs (ferry ls, verify) found no entry and no ref; it is
    // listed as a ref with a log, and reading it names the damage
    String other = "other/tags/stable";
    assertThat(b.refs().compareAndSet(other, null, v1, new io.ferry.store.RefLogEntry(null, v1, "t", now, "one")))
        .isEqualTo(io.ferry.store.CasResult.NEW);
    org.apache.hadoop.fs.Path only = new org.apache.hadoop.fs.Path(b.root(),
        records.list("refs/" + other + "/_log/").get(0));
    assertThat(b.fileSystem().delete(only, false)).isTrue();
    assertThat(b.fileSystem().mkdirs(only)).isTrue();
    try (HdfsBackend fresh = HdfsBackend.open(java.net.URI.create(b.uri()), StoreOptions.existing()
        .withSettings(MiniHdfs.shared().settings(1)))) {
      assertThat(fresh.refs().listLogged("other/")).containsExactly(other);
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> fresh.refs().get(other))
          .isInstanceOf(io.ferry.error.CorruptRefException.class).hasStackTraceContaining(only.toUri().getPath());
    }
  }

  private List<FileStatus> temporaryFiles() throws IOException {
    HdfsBackend b = (HdfsBackend) backend;
    return List.of(b.fileSystem().listStatus(new org.apache.hadoop.fs.Path(b.root(), "tmp")));
  }

  @Test
  void aLostCreateLeavesASpareThatTheNextCreateReusesAndCloseRemoves() throws Exception {
    HdfsBackend b = (HdfsBackend) backend;
    CountingFileSystem fs = new CountingFileSystem(b.fileSystem());
    ExecutorService pool = Executors.newSingleThreadExecutor();
    try {
      HdfsRecordStore store = new HdfsRecordStore(fs, b.root(), b.uri(), b.settings(), pool);
      assertThat(store.create("refs/r/_log/1", bytes("first"))).isTrue();
      assertThat(store.create("refs/r/_log/1", bytes("second"))).as("create of an existing key").isFalse();
      assertThat(fs.creates.get()).isEqualTo(2);
      assertThat(temporaryFiles()).as("the loser's empty file, kept as a spare").hasSize(1);
      assertThat(store.read("refs/r/_log/1")).hasValueSatisfying(v -> assertThat(v).isEqualTo(bytes("first")));

      assertThat(store.create("refs/r/_log/2", bytes("third"))).isTrue();
      assertThat(fs.creates.get()).as("files created: the spare was reused").isEqualTo(2);
      assertThat(temporaryFiles()).isEmpty();
      assertThat(store.read("refs/r/_log/2")).hasValueSatisfying(v -> assertThat(v).isEqualTo(bytes("third")));
      assertThat(records.read("refs/r/_log/2")).as("through the backend's own client")
          .hasValueSatisfying(v -> assertThat(v).isEqualTo(bytes("third")));

      for (int i = 0; i < 20; i++) {
        assertThat(store.create("refs/r/_log/2", bytes("late " + i))).isFalse();
      }
      assertThat(fs.creates.get()).as("files created by 20 more lost creates: one, reused by the others").isEqualTo(3);
      assertThat(temporaryFiles()).hasSize(1);
      assertThat(store.read("refs/r/_log/2")).hasValueSatisfying(v -> assertThat(v).isEqualTo(bytes("third")));
      assertThat(store.list("refs/r/")).containsExactly("refs/r/_log/1", "refs/r/_log/2");
      store.close();
      assertThat(temporaryFiles()).as("close removes the spares").isEmpty();
    } finally {
      pool.shutdownNow();
    }
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
