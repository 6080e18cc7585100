package io.ferry.store.hdfs;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import io.ferry.store.Backend;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.StoreOptions;
import io.ferry.store.refs.NumberedRefStore;
import io.ferry.store.refs.RefLogFormat;
import io.ferry.testkit.RefStoreContract;
import java.net.URI;
import java.nio.file.Path;
import io.ferry.store.RefStore;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FilterFileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * Runs the {@link RefStoreContract} against hdfs:// on the shared MiniDFSCluster (3 DataNodes, replication 1: see
 * {@link MiniHdfs#settings(int)}). The NameNode calls of a read are counted by a client of its own, so the class runs
 * beside the others; its methods run concurrently (each has a store of its own).
 */
@Execution(ExecutionMode.CONCURRENT)
class HdfsRefStoreTest extends RefStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    return HdfsBackend.open(hdfs.hdfs(MiniHdfs.freshPath("hdfs-RefStore")),
        StoreOptions.createIfMissing().withSettings(hdfs.settings(1)));
  }

  @Override
  protected URI storeUri(Backend backend) {
    return URI.create(backend.uri());
  }

  @Override
  protected Map<String, String> storeSettings(Backend backend) {
    return MiniHdfs.shared().settings(1);
  }

  /** A client of the test's store that counts the NameNode calls a record store makes to read. */
  private static final class CountingFileSystem extends FilterFileSystem {
    final AtomicLong calls = new AtomicLong();

    CountingFileSystem(FileSystem fs) {
      super(fs);
    }

    @Override
    public Map<String, byte[]> getXAttrs(org.apache.hadoop.fs.Path p) throws IOException {
      calls.incrementAndGet();
      return super.getXAttrs(p);
    }

    @Override
    public FSDataInputStream open(org.apache.hadoop.fs.Path p, int bufferSize) throws IOException {
      calls.incrementAndGet();
      return super.open(p, bufferSize);
    }

    @Override
    public FileStatus getFileStatus(org.apache.hadoop.fs.Path p) throws IOException {
      calls.incrementAndGet();
      return super.getFileStatus(p);
    }
  }

  /**
   * Refs of the store under test as a second process sees them (nothing cached), reading through {@code fs}. The pool
   * of one thread keeps the count exact.
   */
  private RefStore coldRefs(CountingFileSystem fs, ExecutorService pool) {
    HdfsBackend b = (HdfsBackend) backend;
    return new NumberedRefStore(new HdfsRecordStore(fs, b.root(), b.uri(), b.settings(), pool),
        NumberedRefStore.Layout.HDFS);
  }

  /** Opens a second instance of the store under test: nothing cached. */
  private HdfsBackend cold() throws Exception {
    return HdfsBackend.open(URI.create(backend.uri()),
        StoreOptions.existing().withSettings(MiniHdfs.shared().settings(1)));
  }

  @Test
  void getCostsOneNameNodeCallWarmAFewWithTheTipAndLogarithmicallyManyWithout() throws Exception {
    String ref = "llama/tags/many";
    int moves = 200;
    ChunkId cur = null;
    for (int i = 0; i < moves; i++) {
      ChunkId next = id("v" + i);
      assertThat(cas(ref, cur, next)).isIn(CasResult.NEW, CasResult.UPDATED);
      cur = next;
    }
    ExecutorService pool = Executors.newSingleThreadExecutor();
    try {
      CountingFileSystem fs = new CountingFileSystem(((HdfsBackend) backend).fileSystem());
      RefStore cold = coldRefs(fs, pool);
      assertThat(cold.get(ref)).contains(cur);
      assertThat(fs.calls.get()).as("NameNode calls of a first get() with an up-to-date tip: the tip, its entry and "
          + "the next").isEqualTo(3);
      fs.calls.set(0);
      assertThat(cold.get(ref)).contains(cur);
      assertThat(fs.calls.get()).as("NameNode calls of the next get()").isEqualTo(1);

      backend.records().delete(NumberedRefStore.tipKey(ref));
      fs.calls.set(0);
      assertThat(coldRefs(fs, pool).get(ref)).contains(cur);
      int log2 = 64 - Long.numberOfLeadingZeros(moves);
      assertThat(fs.calls.get()).as("NameNode calls of get() without a tip, %d entries", moves)
          .isLessThanOrEqualTo(2L * log2 + 1);

      assertThat(cas(ref, cur, id("after"))).isEqualTo(CasResult.UPDATED);
      fs.calls.set(0);
      assertThat(coldRefs(fs, pool).get(ref)).contains(id("after"));
      assertThat(fs.calls.get()).as("the next move restored the tip").isEqualTo(3);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void logsWrittenByTheHdfsRefStoreOfFormat1StillRead() throws Exception {
    FileSystem fs = ((HdfsBackend) backend).fileSystem();
    org.apache.hadoop.fs.Path log = new org.apache.hadoop.fs.Path(((HdfsBackend) backend).root(),
        "refs/org/llama/tags/prod/_log");
    fs.mkdirs(log);
    ChunkId a = id("a");
    ChunkId b = id("b");
    RefLogEntry first = new RefLogEntry(null, a, "alice", java.time.Instant.parse("2026-11-01T10:00:00Z"), "push");
    RefLogEntry second = new RefLogEntry(a, b, "bob", java.time.Instant.parse("2026-11-02T10:00:00Z"), "promote");
    org.apache.hadoop.fs.Path e1 = new org.apache.hadoop.fs.Path(log, "00000000000000000001");
    fs.create(e1, false).close();
    fs.setXAttr(e1, "user.ferry.entry", RefLogFormat.encode(first));
    try (var out = fs.create(new org.apache.hadoop.fs.Path(log, "00000000000000000002"), false)) {
      out.write(RefLogFormat.encode(second));
    }
    fs.setXAttr(log, "user.ferry.head", ("2 " + b.hex()).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    try (HdfsBackend cold = cold()) {
      assertThat(cold.refs().get("org/llama/tags/prod")).contains(b);
      assertThat(cold.refs().list("")).containsExactly("org/llama/tags/prod");
      assertThat(cold.refs().log("org/llama/tags/prod")).containsExactly(first, second);
      ChunkId c = id("c");
      assertThat(cold.refs().compareAndSet("org/llama/tags/prod", b, c,
          new RefLogEntry(b, c, "carol", java.time.Instant.now(), "next"))).isEqualTo(CasResult.UPDATED);
      assertThat(fs.getXAttrs(new org.apache.hadoop.fs.Path(log, "00000000000000000003")))
          .as("the new entry is laid out as format 1 has it").containsKey("user.ferry.entry");
    }
    assertThat(refs.log("org/llama/tags/prod")).hasSize(3);
  }
}
