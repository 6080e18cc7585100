package io.ferry.store.hdfs;

import io.ferry.concurrent.DaemonThreads;
import io.ferry.error.CorruptStoreException;
import io.ferry.error.InvalidInputException;
import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.RecordStore;
import io.ferry.store.RefStore;
import io.ferry.store.StoreMarker;
import io.ferry.store.StoreOptions;
import io.ferry.store.refs.NumberedRefStore;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.PathIsNotEmptyDirectoryException;
import org.apache.hadoop.fs.RemoteIterator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Ferry store in a directory of HDFS, reached over Hadoop RPC ({@code hdfs://namenode:port/path}) or over HTTP
 * ({@code webhdfs://namenode:httpport/path}).
 *
 * <p>Layout under the root, like the local store's:
 *
 * <pre>
 * ferry-store.json                 marker: {"format":"ferry-store","version":1,"id":"&lt;32 hex&gt;"}
 * objects/ab/cdef...               one file per object: 2 hex digits of fan-out, then the other 62 digits of the id
 * refs/&lt;ref name&gt;/_log/&lt;seq&gt;      one immutable file per move of a ref, seq = 1, 2, 3... as 20 digits
 * refs/&lt;ref name&gt;/tip            hint: the seq and value of a recent entry (see {@link NumberedRefStore})
 * leases/...                       other records core keeps (see {@link HdfsRecordStore})
 * tmp/                             files being written; published by an atomic rename
 * </pre>
 *
 * <p>Refs are core's {@link NumberedRefStore} (layout {@link NumberedRefStore.Layout#HDFS}) over this backend's
 * {@link HdfsRecordStore}, whose records are files under the root.
 *
 * <p>Every name is published by one atomic NameNode operation ({@code rename} onto a path that does not exist), so
 * readers never see a partial object or log entry, and a crash at any point leaves at worst a file in {@code tmp/}.
 * Temporary files older than {@value #STALE_TEMP_HOURS} hours are removed when the store is opened.
 *
 * <p>Owns one Hadoop {@link FileSystem} client (made with {@link FileSystem#newInstance}, never the process-wide
 * cache) and a small pool of lookup threads; {@link #close()} releases both and is idempotent. Thread-safe; several
 * processes may share one store.
 */
public final class HdfsBackend implements Backend {
  private static final Logger LOG = LoggerFactory.getLogger(HdfsBackend.class);

  /** Name of the marker file at the root of a store ({@link StoreMarker#NAME}). */
  public static final String MARKER = StoreMarker.NAME;
  /** The store format version this code writes and reads ({@link StoreMarker#FORMAT_VERSION}). */
  public static final int FORMAT_VERSION = StoreMarker.FORMAT_VERSION;
  /** Age after which a temporary file is taken for one left over by a crash. */
  public static final int STALE_TEMP_HOURS = 24;

  static final String TEMP_SUFFIX = ".tmp";
  /** The directories a store always has; emptied directories below them are removed, these never. */
  static final String[] TOP_LEVEL = {"objects", "refs", "tmp", "leases"};

  private final FileSystem fs;
  private final Path root;
  private final String uri;
  private final HdfsSettings settings;
  private final ExecutorService lookups;
  private final HdfsChunkStore chunks;
  private final HdfsRecordStore records;
  private final NumberedRefStore refs;
  private final AtomicBoolean closed = new AtomicBoolean();
  private Optional<String> markerId = Optional.empty();

  private HdfsBackend(FileSystem fs, Path root, String uri, HdfsSettings settings) {
    this.fs = fs;
    this.root = root;
    this.uri = uri;
    this.settings = settings;
    this.lookups = Executors.newFixedThreadPool(settings.lookupThreads(), DaemonThreads.named("ferry-hdfs-lookup"));
    Path tmp = new Path(root, "tmp");
    this.chunks = new HdfsChunkStore(fs, new Path(root, "objects"), tmp, uri, settings, lookups);
    this.records = new HdfsRecordStore(fs, root, uri, settings, lookups);
    this.refs = new NumberedRefStore(records, NumberedRefStore.Layout.HDFS);
  }

  /**
   * Opens the store named by {@code uri}, creating it when {@code options.create()} is set.
   *
   * @throws InvalidInputException if the URI is not usable, if there is no store and {@code create} is false, if the
   *     root is a file or a non-empty directory without a marker, or if the marker is not one this code reads
   */
  public static HdfsBackend open(URI uri, StoreOptions options) throws IOException {
    HdfsSettings settings = HdfsSettings.of(uri, options.settings(), System.getenv());
    FileSystem fs;
    try {
      fs = FileSystem.newInstance(settings.fileSystemUri(), settings.configuration());
    } catch (IOException | IllegalArgumentException e) {
      IOException unreachable = unreachable(settings, e);
      if (unreachable != null) {
        throw unreachable;
      }
      InvalidInputException invalid = invalidSetting(settings, e);
      if (invalid != null) {
        throw invalid;
      }
      throw e;
    }
    try {
      Path root = new Path(settings.fileSystemUri().toString() + settings.rootPath());
      String name = settings.displayUri();
      Optional<String> id = prepare(fs, root, name, options);
      HdfsBackend backend = new HdfsBackend(fs, root, name, settings);
      backend.markerId = id;
      try {
        backend.removeTemporaryFilesOlderThan(Duration.ofHours(STALE_TEMP_HOURS));
      } catch (IOException refused) {
        if (refused instanceof java.io.InterruptedIOException) {
          backend.close();
          throw refused;
        }
        // housekeeping, refused to a user who may only read the store or by a NameNode in safe mode: the files stay
        // for an open that may remove them, and the store is as usable as with them
        LOG.debug("{}: temporary files older than {} hours not removed: {}", name, STALE_TEMP_HOURS,
            refused.toString());
      }
      return backend;
    } catch (IOException | RuntimeException e) {
      try {
        fs.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      IOException unreachable = unreachable(settings, e);
      if (unreachable != null) {
        throw unreachable;
      }
      InvalidInputException invalid = invalidSetting(settings, e);
      if (invalid != null) {
        throw invalid;
      }
      if (e instanceof IOException io) {
        throw NameNodeRefusal.namedAtOpen(settings.displayUri(), "opening the store", io);
      }
      throw e;
    }
  }

  /**
   * The error of an open that could not reach the NameNode (refused, timed out, unknown host, or an HTTP server where
   * the NameNode's RPC was expected), naming the store and the cause in one line (Hadoop's own message names only
   * host and port, and a wiki page, or a length of 1213486160); null for any other error.
   */
  private static IOException unreachable(HdfsSettings settings, Exception e) {
    if (e instanceof InvalidInputException) {
      return null;
    }
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof DataNodeErrors.DataNodesUnavailableException) {
        return null; // the NameNode answered; its message says what failed
      }
      if (t instanceof java.net.ConnectException || t instanceof java.net.SocketTimeoutException
          || t instanceof java.net.UnknownHostException || t instanceof java.net.NoRouteToHostException) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause().getClass() == root.getClass()) {
          root = root.getCause();
        }
        return new IOException(settings.displayUri() + ": cannot reach the NameNode at "
            + settings.fileSystemUri().getAuthority() + " (" + root.getClass().getSimpleName() + ": "
            + root.getMessage() + ")", e);
      }
      if (t.getMessage() != null && t.getMessage().contains(HTTP_AS_RPC_LENGTH)) {
        // the first four bytes of the answer, "HTTP", read as the length of an RPC response
        return new IOException(settings.displayUri() + ": the server at " + settings.fileSystemUri().getAuthority()
            + " answers in HTTP, not in Hadoop's RPC: that is a web port (the NameNode's is often 9870); give its RPC"
            + " port (fs.defaultFS, often 8020), or webhdfs:// with the web port", e);
      }
    }
    return null;
  }

  /**
   * The error of an open that Hadoop refused because a setting's value does not parse (a {@code NumberFormatException}
   * whose message, {@code For input string: "abc"}, named neither the setting nor the store), naming the store and the
   * Hadoop settings given with that value; or because Hadoop found a value it cannot use ({@code
   * IllegalArgumentException}, when Hadoop settings were given), naming the store and listing the settings given; null
   * for any other error.
   */
  private static InvalidInputException invalidSetting(HdfsSettings settings, Exception e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof NumberFormatException) {
        java.util.List<String> given = new java.util.ArrayList<>();
        for (java.util.Map.Entry<String, String> s : settings.hadoopKeys().entrySet()) {
          if (t.getMessage() != null && t.getMessage().contains("\"" + s.getValue().trim() + "\"")) {
            given.add(s.getKey() + "=" + s.getValue());
          }
        }
        return new InvalidInputException(settings.displayUri() + ": a Hadoop setting has a value that is not a number"
            + (given.isEmpty() ? "" : " (" + String.join(", ", given) + ")") + ": " + t.getMessage());
      }
      if (t instanceof IllegalArgumentException && !settings.hadoopKeys().isEmpty()) {
        // Hadoop's own words ("Invalid checksum type: userOpt=null, default=CRC32C:0, effective=null" for
        // dfs.bytes-per-checksum=0) named neither the store nor the setting, and the command failed as an internal
        // error
        java.util.List<String> given = new java.util.ArrayList<>();
        settings.hadoopKeys().forEach((k, v) -> given.add(k + "=" + v));
        return new InvalidInputException(settings.displayUri() + ": Hadoop refused to open the store (Hadoop settings"
            + " given: " + String.join(", ", given) + "): " + t.getMessage());
      }
    }
    return null;
  }

  /** Hadoop's error when an RPC client reads an HTTP answer: "HTTP" taken as a big-endian length. */
  private static final String HTTP_AS_RPC_LENGTH = "RPC response has a length of " + 0x48545450;

  private static Optional<String> prepare(FileSystem fs, Path root, String uri, StoreOptions options)
      throws IOException {
    FileStatus rootStatus = status(fs, root);
    if (rootStatus != null && rootStatus.isFile()) {
      throw new InvalidInputException(uri + " is a file, not a Ferry store directory");
    }
    Optional<String> id = StoreMarker.openOrCreate(new Site(fs, root, uri), options.create());
    java.util.Set<String> present = new java.util.HashSet<>();
    for (FileStatus child : fs.listStatus(root)) {
      if (child.isDirectory()) {
        present.add(child.getPath().getName());
      }
    }
    // only the directories a store lacks (one made before leases/ existed): the open of a store that has them writes
    // nothing, so a user who may only read it, and a NameNode in safe mode (which refuses even a mkdirs of a directory
    // that exists), can still open it
    for (String sub : TOP_LEVEL) {
      if (!present.contains(sub)) {
        fs.mkdirs(new Path(root, sub));
      }
    }
    return id;
  }

  /**
   * Removes {@code dir}, then each parent in turn while it is empty, up to but not including the store's top-level
   * directories ({@link #TOP_LEVEL}, which open makes and nothing removes). Stops at the first directory that holds
   * anything (the NameNode refuses a non-recursive delete of a directory that is not empty, so whatever another client
   * put there meanwhile stays) or that is gone. Best effort: a directory left behind costs an inode and nothing else,
   * so a failure is logged, never thrown.
   */
  static void removeEmptyDirectories(FileSystem fs, Path dir, Path root, String uri) {
    int keep = root.depth() + 1;
    for (Path d = dir; d != null && d.depth() > keep; d = d.getParent()) {
      try {
        if (!fs.delete(d, false)) {
          return;
        }
      } catch (PathIsNotEmptyDirectoryException stillUsed) {
        return;
      } catch (IOException | RuntimeException e) {
        if (!String.valueOf(e.getMessage()).contains("non empty")
            && !String.valueOf(e.getMessage()).contains("not empty")) {
          LOG.debug("{}: could not remove the empty directory {}: {}", uri, d, e.toString());
        }
        return;
      }
    }
  }

  private static FileStatus status(FileSystem fs, Path p) throws IOException {
    try {
      return fs.getFileStatus(p);
    } catch (FileNotFoundException e) {
      return null;
    }
  }

  /** A directory of HDFS as a place for a store. */
  private record Site(FileSystem fs, Path root, String uri) implements StoreMarker.Site {
    @Override
    public String describe() {
      return uri;
    }

    @Override
    public String markerName() {
      return uri + "/" + MARKER;
    }

    /**
     * The marker's bytes. A marker the NameNode lists but no DataNode serves fails naming the store and the marker:
     * damaged replicas as damage ({@link CorruptStoreException}), DataNodes that do not answer in one line with
     * Hadoop's error as the cause (it was Hadoop's block error, or over WebHDFS "cannot reach the NameNode" though
     * the NameNode had answered).
     */
    @Override
    public Optional<byte[]> readMarker() throws IOException {
      Path marker = new Path(root, MARKER);
      try (InputStream in = fs.open(marker)) {
        return Optional.of(in.readNBytes(64 * 1024));
      } catch (FileNotFoundException absent) {
        // HDFS's "Path is not a file" too: a directory in the marker's place is a damaged store, not a missing marker
        // (read as one, the open said that the store's directory was no Ferry store)
        FileStatus found = status(fs, marker);
        if (found != null && found.isDirectory()) {
          throw new CorruptStoreException(uri, "its marker " + marker.toUri().getPath() + " is a directory, not a"
              + " file");
        }
        return Optional.empty();
      } catch (IOException e) {
        if (e instanceof java.io.InterruptedIOException || status(fs, marker) == null) {
          throw e;
        }
        // the NameNode answers and lists the marker: what failed may be its DataNodes
        switch (DataNodeErrors.classifyRead(fs, marker, 0, 1, e)) {
          case DAMAGED:
            throw new CorruptStoreException(uri, "its marker " + MARKER + ": " + DataNodeErrors.damaged(marker, 0),
                e);
          case UNAVAILABLE:
            throw new DataNodeErrors.DataNodesUnavailableException(uri + ": cannot read the store marker " + MARKER
                + ": " + DataNodeErrors.unavailable(), e);
          default:
            throw e;
        }
      }
    }

    @Override
    public boolean isEmpty() throws IOException {
      try {
        return !fs.listStatusIterator(root).hasNext();
      } catch (FileNotFoundException absent) {
        return true;
      }
    }

    /** Whether the store's top-level directories are there ({@code objects}, {@code refs}, {@code leases}). */
    @Override
    public boolean holdsStore() throws IOException {
      for (String sub : new String[] {"objects", "refs", "leases"}) {
        FileStatus s = status(fs, new Path(root, sub));
        if (s == null || !s.isDirectory()) {
          return false;
        }
      }
      return true;
    }

    /**
     * Creates the directories, then publishes the marker last with a rename, so a half-made store has no marker. If
     * the marker cannot be written (the NameNode refuses a replication or block size the settings ask for), the
     * directories it made are removed again: left, they made the place a damaged store ("its marker is missing"),
     * which every later init refused.
     */
    @Override
    public boolean publish(byte[] marker) throws IOException {
      boolean rootWasThere = status(fs, root) != null;
      try {
        return publishMarker(marker);
      } catch (IOException | RuntimeException e) {
        removeMade(rootWasThere);
        throw e;
      }
    }

    private boolean publishMarker(byte[] marker) throws IOException {
      Path tmp = new Path(root, "tmp");
      fs.mkdirs(tmp);
      for (String sub : TOP_LEVEL) {
        fs.mkdirs(new Path(root, sub));
      }
      Path temp = new Path(tmp, "marker-" + Long.toHexString(ThreadLocalRandom.current().nextLong()) + TEMP_SUFFIX);
      try {
        Durability.write(fs, temp, true, java.nio.ByteBuffer.wrap(marker));
        if (fs.rename(temp, new Path(root, MARKER))) {
          return true;
        }
        if (!fs.exists(new Path(root, MARKER))) {
          throw new IOException("could not publish the store marker " + new Path(root, MARKER));
        }
        return false;
      } finally {
        fs.delete(temp, false);
      }
    }

    /**
     * Removes the empty top-level directories of a store whose marker could not be published, and the root if it was
     * not there before; nothing if another process published a marker meanwhile. Best effort, as the deletes are
     * non-recursive: whatever holds anything stays.
     */
    private void removeMade(boolean rootWasThere) {
      try {
        if (fs.exists(new Path(root, MARKER))) {
          return;
        }
      } catch (IOException | RuntimeException e) {
        return;
      }
      java.util.List<Path> made = new java.util.ArrayList<>();
      for (String sub : TOP_LEVEL) {
        made.add(new Path(root, sub));
      }
      if (!rootWasThere) {
        made.add(root);
      }
      for (Path dir : made) {
        try {
          fs.delete(dir, false);
        } catch (IOException | RuntimeException e) {
          LOG.debug("{}: could not remove {} of a store whose marker was not published: {}", uri, dir, e.toString());
        }
      }
    }
  }

  /** Deletes files in {@code tmp/} older than {@code age}: what puts and moves killed midway left. */
  int removeTemporaryFilesOlderThan(Duration age) throws IOException {
    long cutoff = System.currentTimeMillis() - age.toMillis();
    int removed = 0;
    RemoteIterator<FileStatus> it = fs.listStatusIterator(new Path(root, "tmp"));
    while (it.hasNext()) {
      FileStatus f = it.next();
      if (f.isFile() && f.getPath().getName().endsWith(TEMP_SUFFIX) && f.getModificationTime() < cutoff
          && fs.delete(f.getPath(), false)) {
        removed++;
      }
    }
    if (removed > 0) {
      LOG.debug("removed {} stale temporary files from {}/tmp", removed, uri);
    }
    return removed;
  }

  /** The Hadoop client this backend uses (for tests and tools in this package). */
  FileSystem fileSystem() {
    return fs;
  }

  /** The store's root directory. */
  Path root() {
    return root;
  }

  HdfsSettings settings() {
    return settings;
  }

  @Override
  public ChunkStore chunks() {
    return chunks;
  }

  /** The records of this store: files under its root (see {@link HdfsRecordStore}). */
  @Override
  public RecordStore records() {
    return records;
  }

  @Override
  public RefStore refs() {
    return refs;
  }

  @Override
  public Optional<String> markerId() {
    return markerId;
  }

  @Override
  public String uri() {
    return uri;
  }

  @Override
  public void close() throws IOException {
    if (closed.compareAndSet(false, true)) {
      try {
        refs.close();
        records.close();
        chunks.close();
      } finally {
        lookups.shutdownNow();
        fs.close();
      }
    }
  }

  @Override
  public String toString() {
    return "HdfsBackend[" + uri + "]";
  }
}
