package io.ferry.store.hdfs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.transfer.PullOptions;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.VerifyReport;
import io.ferry.store.StoreOptions;
import io.ferry.store.StoredObject;
import io.ferry.testkit.DirectoryState;
import io.ferry.testkit.ModelGenerator;
import io.ferry.transfer.TransferListener;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ferry's repository over a real HDFS: push and pull byte-identical through {@code hdfs://} (opened by URI through
 * the ServiceLoader, as the CLI does), a DataNode stopped in the middle of a pull, bytes altered inside HDFS, and
 * how stores are opened.
 */
class HdfsRepositoryTest {
  @TempDir Path work;

  private static StoreOptions create(MiniHdfs hdfs) {
    return StoreOptions.createIfMissing().withSettings(hdfs.settings());
  }

  private Path model(String name, long bytes, long seed) throws Exception {
    Path dir = work.resolve(name);
    ModelGenerator.writeHfModel(dir, ModelGenerator.transformer(bytes, DType.BF16, seed), bytes / 3);
    return dir;
  }

  @Test
  void pushAndPullAreByteIdenticalOverHdfsAndWebHdfs() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    Path src = model("src", 24L << 20, 1);
    String path = MiniHdfs.freshPath("e2e");
    try (Repository repo = Ferry.open(hdfs.hdfs(path).toString(), create(hdfs), RepositoryOptions.defaults())) {
      assertThat(repo.push(src, "llama:prod", PushOptions.builder().message("first").build()).upToDate()).isFalse();
      assertThat(repo.push(src, "llama", PushOptions.builder().message("again").build()).upToDate()).isTrue();
      Path out = work.resolve("out-hdfs");
      repo.pull("llama:prod", out, PullOptions.defaults().withVerify(true));
      assertThat(DirectoryState.of(out)).isEqualTo(DirectoryState.of(src));
      VerifyReport report = repo.verify(null, TransferListener.NONE);
      assertThat(report.errors()).isEmpty();
      assertThat(report.chunks()).isPositive();
    }
    try (Repository repo = Ferry.open(hdfs.webhdfs(path).toString(), StoreOptions.existing(),
        RepositoryOptions.defaults())) {
      Path out = work.resolve("out-webhdfs");
      repo.pull("llama:prod", out, PullOptions.defaults().withVerify(true));
      assertThat(DirectoryState.of(out)).isEqualTo(DirectoryState.of(src));
    }
  }

  @Test
  void aDataNodeStoppedInTheMiddleOfAPullDoesNotStopIt() throws Exception {
    try (MiniHdfs hdfs = MiniHdfs.start()) {
      Path src = model("src", 32L << 20, 2);
      URI uri = hdfs.hdfs("/fault");
      try (Repository repo = Ferry.open(uri.toString(), create(hdfs), RepositoryOptions.defaults())) {
        repo.push(src, "llama:prod", PushOptions.builder().message("v1").build());
      }
      AtomicLong total = new AtomicLong();
      AtomicLong done = new AtomicLong();
      AtomicLong afterStop = new AtomicLong();
      AtomicBoolean stopped = new AtomicBoolean();
      TransferListener stopOneDataNode = new TransferListener() {
        @Override
        public void phase(String name, long totalBytes) {
          total.set(totalBytes);
        }

        @Override
        public void progress(long bytes) {
          if (stopped.get()) {
            afterStop.addAndGet(bytes);
          } else if (done.addAndGet(bytes) >= total.get() / 4 && stopped.compareAndSet(false, true)) {
            hdfs.cluster().stopDataNode(0);
          }
        }
      };
      Path out = work.resolve("out");
      try (Repository repo = Ferry.open(uri.toString(), StoreOptions.existing(),
          RepositoryOptions.defaults().withParallelism(4))) {
        repo.pull("llama:prod", out, PullOptions.defaults().withVerify(true).withListener(stopOneDataNode));
      }
      assertThat(stopped).as("a DataNode was stopped during the pull").isTrue();
      assertThat(afterStop.get()).as("bytes pulled after the DataNode stopped").isPositive();
      assertThat(hdfs.cluster().getDataNodes()).hasSize(MiniHdfs.DATANODES - 1);
      assertThat(DirectoryState.of(out)).isEqualTo(DirectoryState.of(src));
    }
  }

  @Test
  void bytesAlteredInsideHdfsAreDetectedAndNamed() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    Path src = model("src", 8L << 20, 3);
    URI uri = hdfs.hdfs(MiniHdfs.freshPath("corrupt"));
    try (Repository repo = Ferry.open(uri.toString(), create(hdfs), RepositoryOptions.defaults())) {
      repo.push(src, "llama:prod", PushOptions.builder().message("v1").build());
      HdfsBackend backend = (HdfsBackend) repo.backend();
      StoredObject victim = biggestObject(backend);
      long at = victim.size() / 2;
      flipByte(backend.fileSystem(), ((HdfsChunkStore) backend.chunks()).pathOf(victim.id()), at);

      Path out = work.resolve("out");
      assertThatThrownBy(() -> repo.pull("llama:prod", out, PullOptions.defaults().withVerify(true)))
          .isInstanceOfSatisfying(CorruptObjectException.class, e -> {
            assertThat(e.kind().exitCode()).isEqualTo(3);
            assertThat(e.getMessage()).contains(victim.id().hex()).contains(uri.toString());
          });
      VerifyReport report = repo.verify("llama:prod", TransferListener.NONE);
      assertThat(report.errors()).hasSize(1);
      assertThat(report.errors().get(0)).contains(victim.id().hex()).contains(uri.toString());
    }
  }

  /**
   * The temporary file of a put killed mid-write (a push or copy stopped with SIGKILL) is removed by the next gc once
   * it is older than the grace period; before, only a store opened 24 hours later removed it, and gc never did.
   * Records' temporary files (spares in use by other processes among them) stay.
   */
  @Test
  void gcRemovesWhatAKilledPutLeftInTmp() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    Path src = model("src", 1L << 20, 5);
    URI uri = hdfs.hdfs(MiniHdfs.freshPath("killed-put"));
    try (Repository repo = Ferry.open(uri.toString(), create(hdfs), RepositoryOptions.defaults())) {
      repo.push(src, "llama:prod", PushOptions.builder().message("v1").build());
      HdfsBackend backend = (HdfsBackend) repo.backend();
      FileSystem fs = backend.fileSystem();
      org.apache.hadoop.fs.Path tmp = new org.apache.hadoop.fs.Path(backend.root(), "tmp");
      org.apache.hadoop.fs.Path put = new org.apache.hadoop.fs.Path(tmp, "0123456789abcdef-5eed5eed5eed.tmp");
      org.apache.hadoop.fs.Path record = new org.apache.hadoop.fs.Path(tmp, "record-5eed5eed.tmp");
      for (org.apache.hadoop.fs.Path p : List.of(put, record)) {
        try (FSDataOutputStream out = fs.create(p, false)) {
          out.write(new byte[1000]);
        }
        fs.setTimes(p, System.currentTimeMillis() - 7_200_000L, -1);
      }
      repo.gc(java.time.Duration.ofHours(3), false);
      assertThat(fs.exists(put)).as("younger than the grace period").isTrue();
      repo.gc(java.time.Duration.ofHours(1), false);
      assertThat(fs.exists(put)).as("older than the grace period").isFalse();
      assertThat(fs.exists(record)).as("not a put's").isTrue();
      assertThat(repo.verify("llama:prod", TransferListener.NONE).errors()).isEmpty();
    }
  }

  /** The store's biggest object (a loose chunk of the model's largest tensor). */
  private static StoredObject biggestObject(HdfsBackend backend) throws IOException {
    List<StoredObject> objects = new ArrayList<>();
    backend.chunks().list(objects::add);
    return objects.stream().max(Comparator.comparingLong(StoredObject::size)).orElseThrow();
  }

  /**
   * A directory where an object's file belongs (made by hand or by a tool) is not the object: a push that needs the
   * object fails naming the object and the path, where it took "exists" for "stored", succeeded and left a version
   * that could never be read.
   */
  @Test
  void aDirectoryWhereAnObjectBelongsFailsThePushNamingIt() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    Path src = model("src", 2L << 20, 4);
    URI uri = hdfs.hdfs(MiniHdfs.freshPath("dir-object"));
    try (Repository repo = Ferry.open(uri.toString(), create(hdfs), RepositoryOptions.defaults())) {
      repo.push(src, "llama:prod", PushOptions.builder().message("v1").build());
      HdfsBackend backend = (HdfsBackend) repo.backend();
      StoredObject victim = biggestObject(backend);
      org.apache.hadoop.fs.Path path = ((HdfsChunkStore) backend.chunks()).pathOf(victim.id());
      FileSystem fs = backend.fileSystem();
      assertThat(fs.delete(path, false)).isTrue();
      assertThat(fs.mkdirs(new org.apache.hadoop.fs.Path(path, "sub"))).isTrue();

      assertThatThrownBy(() -> repo.push(src, "copy:prod", PushOptions.builder().message("again").build()))
          .isInstanceOfSatisfying(CorruptObjectException.class, e -> assertThat(e.getMessage())
              .contains(victim.id().hex()).contains(uri.toString()).contains(path.toUri().getPath())
              .contains("is a directory"));
      assertThat(repo.refsOf("copy")).as("no ref moved").isEmpty();
      assertThat(fs.getFileStatus(path).isDirectory()).isTrue();
    }
  }

  /**
   * A push that runs out of room (the store directory's space quota, the "disk full" of an HDFS tenant, or its
   * namespace quota of files and directories) fails naming the quota, and leaves the store's tree exactly as it found
   * it: no object, no fan-out directory, no lease or other record, no temporary file; the model then pushes once the
   * quota is lifted. And a push that lands leaves no
   * directory of its lease behind.
   */
  @Test
  void aPushStoppedByAQuotaLeavesTheStoreAsItWas() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    Path first = model("first", 4L << 20, 5);
    Path src = model("quota", 24L << 20, 4);
    String path = MiniHdfs.freshPath("quota");
    // 1 MiB blocks (the NameNode's least), so that the quota counts blocks of that size, not of 128 MiB
    StoreOptions options = StoreOptions.createIfMissing()
        .withSettings(java.util.Map.of("dfs.replication", "3", "dfs.blocksize", "1048576"));
    try (Repository repo = Ferry.open(hdfs.hdfs(path).toString(), options, RepositoryOptions.defaults())) {
      repo.push(first, "small:prod", PushOptions.builder().message("before the quota").build());
      HdfsBackend backend = (HdfsBackend) repo.backend();
      org.apache.hadoop.hdfs.DistributedFileSystem dfs = hdfs.cluster().getFileSystem();
      org.apache.hadoop.fs.Path root = backend.root();
      java.util.Map<String, Long> before = tree(dfs, root);
      assertThat(before.keySet()).as("what a landed push leaves under leases/").filteredOn(k -> k.startsWith("/leases"))
          .containsExactly("/leases");
      long dontSet = org.apache.hadoop.hdfs.protocol.HdfsConstants.QUOTA_DONT_SET;
      long reset = org.apache.hadoop.hdfs.protocol.HdfsConstants.QUOTA_RESET;
      org.apache.hadoop.fs.ContentSummary used = dfs.getContentSummary(root);
      // room for a few objects, not for the model's: in bytes (a block being written counts whole, three replicas),
      // then in files and directories (where even the gc lease that removes a failed push's objects is a new file)
      long[][] quotas = {
          {dontSet, used.getSpaceConsumed() + (12L << 20)},
          {used.getFileCount() + used.getDirectoryCount() + 6, dontSet}};
      for (long[] quota : quotas) {
        dfs.setQuota(root, quota[0], quota[1]);
        try {
          assertThatThrownBy(() -> repo.push(src, "llama:prod", PushOptions.builder().message("over").build()))
              .satisfies(e -> assertThat(e.getMessage()).contains(repo.uri()).contains("writing object")
                  .contains("refused").contains("quota").contains(root.toUri().getPath() + " is exceeded")
                  .doesNotContain("\n"));
          assertThat(tree(dfs, root)).as("the store's tree after a push over quota %s", List.of(quota[0], quota[1]))
              .isEqualTo(before);
        } finally {
          dfs.setQuota(root, quota[0] == dontSet ? dontSet : reset, quota[1] == dontSet ? dontSet : reset);
        }
      }
      // over WebHDFS the DataNode that takes a write answers with the NameNode's refusal
      dfs.setQuota(root, dontSet, used.getSpaceConsumed() + (12L << 20));
      try (Repository web = Ferry.open(hdfs.webhdfs(path).toString(), StoreOptions.existing()
          .withSettings(java.util.Map.of("dfs.blocksize", "1048576")), RepositoryOptions.defaults())) {
        assertThatThrownBy(() -> web.push(src, "llama:prod", PushOptions.builder().message("over").build()))
            .satisfies(e -> assertThat(e.getMessage()).contains(web.uri()).contains("writing object")
                .contains("refused").contains("quota").contains(root.toUri().getPath() + " is exceeded")
                .doesNotContain("\n"));
      } finally {
        dfs.setQuota(root, dontSet, reset);
      }
      assertThat(tree(dfs, root)).as("the store's tree after a push over quota through WebHDFS").isEqualTo(before);
      repo.push(src, "llama:prod", PushOptions.builder().message("after").build());
      Path out = work.resolve("out-quota");
      repo.pull("llama:prod", out, PullOptions.defaults().withVerify(true));
      assertThat(DirectoryState.of(out)).isEqualTo(DirectoryState.of(src));
      assertThat(repo.verify(null, TransferListener.NONE).errors()).isEmpty();
    }
  }

  /**
   * Opening a store that has its directories writes nothing, so a NameNode in safe mode (read-only; every NameNode is
   * after a start until the DataNodes have reported enough blocks) and a user who may only read the store still pull
   * from it, though a killed push left a temporary file older than a day, which an open removes where it may. A push
   * fails naming the cause and changes nothing. Before, every open made the store's top-level directories, which the
   * NameNode refuses in safe mode even where they exist, and removed such files, which a reader may not: `ferry ls`
   * and `ferry pull` failed.
   */
  @Test
  void aStoreIsReadInSafeModeAndByAUserWhoMayNotWriteIt() throws Exception {
    try (MiniHdfs hdfs = MiniHdfs.start()) {
      Path src = model("src", 2L << 20, 6);
      Path other = model("other", 1L << 20, 7);
      URI uri = hdfs.hdfs("/read-only");
      try (Repository repo = Ferry.open(uri.toString(), create(hdfs), RepositoryOptions.defaults())) {
        repo.push(src, "llama:prod", PushOptions.builder().message("v1").build());
      }
      org.apache.hadoop.hdfs.DistributedFileSystem dfs = hdfs.cluster().getFileSystem();
      org.apache.hadoop.fs.Path root = new org.apache.hadoop.fs.Path("/read-only");
      org.apache.hadoop.fs.Path stale = new org.apache.hadoop.fs.Path(root, "tmp/0123456789abcdef-5eed.tmp");
      try (FSDataOutputStream out = dfs.create(stale, false)) {
        out.write(new byte[100]);
      }
      dfs.setTimes(stale, System.currentTimeMillis() - (HdfsBackend.STALE_TEMP_HOURS + 1) * 3_600_000L, -1);
      java.util.Map<String, Long> before = tree(dfs, root);

      dfs.setSafeMode(org.apache.hadoop.fs.SafeModeAction.ENTER);
      try {
        pullAndFailToPush(uri, src, other, "safe mode");
      } finally {
        dfs.setSafeMode(org.apache.hadoop.fs.SafeModeAction.LEAVE);
      }
      assertThat(tree(dfs, root)).as("the store after safe mode").isEqualTo(before);
      org.apache.hadoop.security.UserGroupInformation.createRemoteUser("reader")
          .doAs((java.security.PrivilegedExceptionAction<Void>) () -> {
            pullAndFailToPush(uri, src, other, "Permission denied: user=reader");
            return null;
          });
      assertThat(tree(dfs, root)).as("the store after its reader").isEqualTo(before);
    }
  }

  /**
   * HDFS's permission checks, met by a user who may only read a store, an object whose file is mode 000 and a store
   * directory of mode 000: each error is one line naming the store, what was read or written and "permission denied"
   * (exit 1), over hdfs:// and WebHDFS alike, and the push leaves the store as it was. It was Hadoop's
   * AccessControlException, naming a user and an inode, with the NameNode's stack trace over hdfs://.
   */
  @Test
  void permissionErrorsNameTheStoreWhatWasDeniedAndTheDefect() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    String path = MiniHdfs.freshPath("denied");
    Path src = model("src", 1L << 20, 11);
    Path other = model("other", 1L << 20, 12);
    io.ferry.id.ChunkId version;
    try (Repository repo = Ferry.open(hdfs.hdfs(path).toString(), create(hdfs), RepositoryOptions.defaults())) {
      version = repo.push(src, "llama:prod", PushOptions.builder().message("v1").build()).versionId();
    }
    org.apache.hadoop.hdfs.DistributedFileSystem dfs = hdfs.cluster().getFileSystem();
    org.apache.hadoop.fs.Path root = new org.apache.hadoop.fs.Path(path);
    java.util.Map<String, Long> before = tree(dfs, root);
    org.apache.hadoop.security.UserGroupInformation reader =
        org.apache.hadoop.security.UserGroupInformation.createRemoteUser("reader");
    for (URI uri : new URI[] {hdfs.hdfs(path), hdfs.webhdfs(path)}) {
      reader.doAs((java.security.PrivilegedExceptionAction<Void>) () -> {
        try (Repository repo = Ferry.open(uri.toString(), StoreOptions.existing(), RepositoryOptions.defaults())) {
          assertThatThrownBy(() -> repo.push(other, "llama:prod", PushOptions.builder().message("v2").build()))
              .isInstanceOfSatisfying(IOException.class, e -> assertThat(e.getMessage()).contains(uri.toString())
                  .contains("permission denied writing").contains("Permission denied: user=reader")
                  .doesNotContain("\n"));
        }
        return null;
      });
      assertThat(tree(dfs, root)).as("the store after its reader's push").isEqualTo(before);
    }
    org.apache.hadoop.fs.Path object = new org.apache.hadoop.fs.Path(path + "/objects/" + version.hex().substring(0, 2)
        + "/" + version.hex().substring(2));
    dfs.setPermission(object, new org.apache.hadoop.fs.permission.FsPermission((short) 0));
    for (URI uri : new URI[] {hdfs.hdfs(path), hdfs.webhdfs(path)}) {
      reader.doAs((java.security.PrivilegedExceptionAction<Void>) () -> {
        try (Repository repo = Ferry.open(uri.toString(), StoreOptions.existing(), RepositoryOptions.defaults())) {
          assertThatThrownBy(() -> repo.resolve("llama:prod"))
              .isInstanceOfSatisfying(IOException.class, e -> assertThat(e.getMessage()).contains(uri.toString())
                  .contains("permission denied reading object " + version.hex()).doesNotContain("\n"));
        }
        return null;
      });
    }
    dfs.setPermission(root, new org.apache.hadoop.fs.permission.FsPermission((short) 0));
    for (URI uri : new URI[] {hdfs.hdfs(path), hdfs.webhdfs(path)}) {
      reader.doAs((java.security.PrivilegedExceptionAction<Void>) () -> {
        assertThatThrownBy(() -> Ferry.open(uri.toString(), StoreOptions.existing(), RepositoryOptions.defaults()))
            .isInstanceOfSatisfying(IOException.class, e -> assertThat(e.getMessage()).contains(uri.toString())
                .contains("permission denied").doesNotContain("\n"));
        return null;
      });
    }
  }

  /** Pulls llama:prod (the model in {@code src}), then pushes {@code other}, which must fail with {@code why}. */
  private void pullAndFailToPush(URI uri, Path src, Path other, String why) throws Exception {
    try (Repository repo = Ferry.open(uri.toString(), StoreOptions.existing(), RepositoryOptions.defaults())) {
      Path out = work.resolve("out-" + Integer.toHexString(why.hashCode()));
      repo.pull("llama:prod", out, PullOptions.defaults().withVerify(true));
      assertThat(DirectoryState.of(out)).isEqualTo(DirectoryState.of(src));
      assertThatThrownBy(() -> repo.push(other, "llama:prod", PushOptions.builder().message("v2").build()))
          .satisfies(e -> assertThat(e.getMessage()).contains(uri.toString()).contains(why).doesNotContain("\n"));
    }
  }

  /** Every path under {@code root} (directories included, as -1) with its length. */
  private static java.util.Map<String, Long> tree(FileSystem fs, org.apache.hadoop.fs.Path root) throws Exception {
    java.util.Map<String, Long> out = new java.util.TreeMap<>();
    java.util.ArrayDeque<org.apache.hadoop.fs.Path> todo = new java.util.ArrayDeque<>(List.of(root));
    while (!todo.isEmpty()) {
      for (org.apache.hadoop.fs.FileStatus st : fs.listStatus(todo.pop())) {
        String rel = st.getPath().toUri().getPath().substring(root.toUri().getPath().length());
        out.put(rel, st.isDirectory() ? -1L : st.getLen());
        if (st.isDirectory()) {
          todo.push(st.getPath());
        }
      }
    }
    return out;
  }

  /** Rewrites an HDFS file with one byte inverted, as a disk or a buggy tool would. */
  static void flipByte(FileSystem fs, org.apache.hadoop.fs.Path p, long at) throws Exception {
    byte[] all;
    try (FSDataInputStream in = fs.open(p)) {
      all = in.readAllBytes();
    }
    all[(int) at] ^= (byte) 0xff;
    try (FSDataOutputStream out = fs.create(p, true)) {
      out.write(all);
    }
  }

  /**
   * An init the NameNode refuses (a replication above its maximum, asked for in the settings) leaves the place as it
   * found it, over hdfs:// and WebHDFS, in a new directory and in an empty one: it left the store's directories without
   * a marker, a damaged store ("its marker is missing") that every later init refused, whatever its settings.
   */
  @Test
  void anInitTheNameNodeRefusesLeavesThePlaceAsItWas() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    FileSystem fs = hdfs.cluster().getFileSystem();
    for (boolean web : new boolean[] {false, true}) {
      for (boolean rootThere : new boolean[] {false, true}) {
        String path = MiniHdfs.freshPath("refused-init");
        URI uri = web ? hdfs.webhdfs(path) : hdfs.hdfs(path);
        org.apache.hadoop.fs.Path root = new org.apache.hadoop.fs.Path(path);
        if (rootThere) {
          fs.mkdirs(root);
        }
        assertThatThrownBy(() -> HdfsBackend.open(uri, StoreOptions.createIfMissing()
            .withSettings(java.util.Map.of("dfs.replication", "600")))).as("%s", uri)
            .hasMessageContaining("replication factor of 600");
        assertThat(fs.exists(root)).as("%s", uri).isEqualTo(rootThere);
        if (rootThere) {
          assertThat(fs.listStatus(root)).as("%s", uri).isEmpty();
        }
        try (HdfsBackend b = HdfsBackend.open(uri, StoreOptions.createIfMissing().withSettings(hdfs.settings(1)))) {
          assertThat(fs.exists(new org.apache.hadoop.fs.Path(root, HdfsBackend.MARKER))).as("%s", uri).isTrue();
        }
      }
    }
  }

  /**
   * Refusals of the NameNode at init that are none of permission, safe mode or quota (a replication above its maximum,
   * a block size below its minimum, a file where a parent directory of the store belongs) failed with Hadoop's message
   * alone, which names a path of the NameNode but not the store. They now start with the store's URI, over hdfs://
   * and WebHDFS.
   */
  @Test
  void refusalsOfTheNameNodeAtInitNameTheStore() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    FileSystem fs = hdfs.cluster().getFileSystem();
    for (boolean web : new boolean[] {false, true}) {
      java.util.Map<String, java.util.Map<String, String>> cases = java.util.Map.of(
          "replication factor of 600", java.util.Map.of("dfs.replication", "600"),
          "block size", java.util.Map.of("dfs.blocksize", "512"));
      for (java.util.Map.Entry<String, java.util.Map<String, String>> c : cases.entrySet()) {
        String path = MiniHdfs.freshPath("refused");
        URI uri = web ? hdfs.webhdfs(path) : hdfs.hdfs(path);
        assertThatThrownBy(() -> HdfsBackend.open(uri, StoreOptions.createIfMissing().withSettings(c.getValue())))
            .as("%s %s", uri, c.getValue()).isInstanceOf(IOException.class).hasMessageStartingWith(uri + ": ")
            .hasMessageContaining(c.getKey());
      }
      String file = MiniHdfs.freshPath("a-file");
      fs.create(new org.apache.hadoop.fs.Path(file)).close();
      URI under = web ? hdfs.webhdfs(file + "/store") : hdfs.hdfs(file + "/store");
      assertThatThrownBy(() -> HdfsBackend.open(under, create(hdfs))).as("%s", under)
          .isInstanceOf(IOException.class).hasMessageStartingWith(under + ": ").hasMessageContaining(file);
    }
  }

  /**
   * A Hadoop setting Hadoop cannot use fails the open naming the store and the settings given: it failed with Hadoop's
   * words alone ("Invalid checksum type: userOpt=null, default=CRC32C:0, effective=null", "Invalid parameter range:
   * replication = 0 < 1"), as an internal error.
   */
  @Test
  void aHadoopSettingHadoopCannotUseIsNamedWithTheStore() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    URI over = hdfs.hdfs(MiniHdfs.freshPath("bad-setting"));
    URI web = hdfs.webhdfs(MiniHdfs.freshPath("bad-setting"));
    for (java.util.Map.Entry<URI, String> c : java.util.Map.of(over, "dfs.bytes-per-checksum", web, "dfs.replication")
        .entrySet()) {
      assertThatThrownBy(() -> HdfsBackend.open(c.getKey(), StoreOptions.createIfMissing()
          .withSettings(java.util.Map.of(c.getValue(), "0")))).as("%s", c.getKey())
          .isInstanceOf(InvalidInputException.class).hasMessageStartingWith(c.getKey() + ": ")
          .hasMessageContaining("(Hadoop settings given: " + c.getValue() + "=0)");
    }
  }

  @Test
  void storesAreOpenedOnlyWhereAStoreIsOrIsAskedFor() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    String path = MiniHdfs.freshPath("open");
    assertThatThrownBy(() -> Ferry.openBackend(hdfs.hdfs(path).toString(), StoreOptions.existing()))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("no Ferry store");
    try (HdfsBackend b = HdfsBackend.open(hdfs.hdfs(path + "?dfs.replication=2&ferry.hdfs.sync=hflush"),
        StoreOptions.createIfMissing())) {
      assertThat(b.settings().configuration().get("dfs.replication")).isEqualTo("2");
      assertThat(b.settings().hsync()).isFalse();
      assertThat(b.fileSystem().exists(new org.apache.hadoop.fs.Path(b.root(), HdfsBackend.MARKER))).isTrue();
      Path junk = work.resolve("junk");
      Files.writeString(junk, "x");
      b.fileSystem().copyFromLocalFile(new org.apache.hadoop.fs.Path(junk.toUri()),
          new org.apache.hadoop.fs.Path(hdfs.hdfs("/t/not-a-store/file")));
    }
    assertThatThrownBy(() -> Ferry.openBackend(hdfs.hdfs("/t/not-a-store").toString(),
        StoreOptions.createIfMissing())).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("not a Ferry store");
    assertThatThrownBy(() -> Ferry.openBackend("hdfs://localhost:1", StoreOptions.existing()))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("no absolute path");
    assertThatThrownBy(() -> HdfsBackend.open(hdfs.hdfs(path + "?ferry.hdfs.sync=sometimes"),
        StoreOptions.existing())).isInstanceOf(InvalidInputException.class).hasMessageContaining("ferry.hdfs.sync");
  }
}
