package io.ferry.store.hdfs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.error.InvalidInputException;
import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.RefStore;
import io.ferry.store.StoreOptions;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
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
 * ferry-store.json                 marker: {"format":"ferry-store","version":1}
 * objects/ab/cdef...               one file per object: 2 hex digits of fan-out, then the other 62 digits of the id
 * refs/&lt;ref name&gt;/_log/&lt;seq&gt;      one immutable file per move of a ref, seq = 1, 2, 3... as 20 digits
 *                                  (see {@link HdfsRefStore})
 * tmp/                             files being written; published by an atomic rename
 * </pre>
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

  /** Name of the marker file at the root of a store. */
  public static final String MARKER = "ferry-store.json";
  /** The store format version this code writes and reads. */
  public static final int FORMAT_VERSION = 1;
  /** Age after which a temporary file is taken for one left over by a crash. */
  public static final int STALE_TEMP_HOURS = 24;

  static final String TEMP_SUFFIX = ".tmp";
  private static final String MARKER_JSON = "{\"format\":\"ferry-store\",\"version\":" + FORMAT_VERSION + "}";

  private final FileSystem fs;
  private final Path root;
  private final String uri;
  private final HdfsSettings settings;
  private final ExecutorService lookups;
  private final HdfsChunkStore chunks;
  private final HdfsRefStore refs;
  private final AtomicBoolean closed = new AtomicBoolean();

  private HdfsBackend(FileSystem fs, Path root, String uri, HdfsSettings settings) {
    this.fs = fs;
    this.root = root;
    this.uri = uri;
    this.settings = settings;
    AtomicInteger n = new AtomicInteger();
    this.lookups = Executors.newFixedThreadPool(settings.lookupThreads(), r -> {
      Thread t = new Thread(r, "ferry-hdfs-lookup-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    Path tmp = new Path(root, "tmp");
    this.chunks = new HdfsChunkStore(fs, new Path(root, "objects"), tmp, uri, settings, lookups);
    this.refs = new HdfsRefStore(fs, new Path(root, "refs"), tmp, uri, settings);
  }

  /**
   * Opens the store named by {@code uri}, creating it when {@code options.create()} is set.
   *
   * @throws InvalidInputException if the URI is not usable, if there is no store and {@code create} is false, if the
   *     root is a file or a non-empty directory without a marker, or if the marker is not one this code reads
   */
  public static HdfsBackend open(URI uri, StoreOptions options) throws IOException {
    HdfsSettings settings = HdfsSettings.of(uri, options.settings(), System.getenv());
    FileSystem fs = FileSystem.newInstance(settings.fileSystemUri(), settings.configuration());
    try {
      Path root = new Path(settings.fileSystemUri().toString() + settings.rootPath());
      String name = settings.displayUri();
      prepare(fs, root, name, options);
      HdfsBackend backend = new HdfsBackend(fs, root, name, settings);
      backend.removeTemporaryFilesOlderThan(Duration.ofHours(STALE_TEMP_HOURS));
      return backend;
    } catch (IOException | RuntimeException e) {
      try {
        fs.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  private static void prepare(FileSystem fs, Path root, String uri, StoreOptions options) throws IOException {
    Path marker = new Path(root, MARKER);
    FileStatus rootStatus = status(fs, root);
    if (rootStatus != null && rootStatus.isFile()) {
      throw new InvalidInputException(uri + " is a file, not a Ferry store directory");
    }
    if (rootStatus != null && fs.exists(marker)) {
      checkMarker(fs, marker, uri);
    } else if (rootStatus == null || isEmptyDirectory(fs, root)) {
      if (!options.create()) {
        throw new InvalidInputException("no Ferry store at " + uri + " (run 'ferry init' or pass --store)");
      }
      initialize(fs, root);
    } else {
      throw new InvalidInputException(uri + " is not empty and is not a Ferry store (no " + MARKER
          + "); refusing to use it");
    }
    for (String sub : new String[] {"objects", "refs", "tmp"}) {
      fs.mkdirs(new Path(root, sub));
    }
  }

  private static FileStatus status(FileSystem fs, Path p) throws IOException {
    try {
      return fs.getFileStatus(p);
    } catch (FileNotFoundException e) {
      return null;
    }
  }

  private static boolean isEmptyDirectory(FileSystem fs, Path dir) throws IOException {
    return !fs.listStatusIterator(dir).hasNext();
  }

  private static void checkMarker(FileSystem fs, Path marker, String uri) throws IOException {
    JsonNode json;
    try (InputStream in = fs.open(marker)) {
      json = new ObjectMapper().readTree(in.readNBytes(64 * 1024));
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new InvalidInputException(uri + "/" + MARKER + " is not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (json == null || !"ferry-store".equals(json.path("format").asText())) {
      throw new InvalidInputException(uri + "/" + MARKER
          + " is not a Ferry store marker: expected format \"ferry-store\"");
    }
    int version = json.path("version").asInt(-1);
    if (version != FORMAT_VERSION) {
      throw new InvalidInputException(uri + "/" + MARKER + " has store format version " + json.path("version")
          + "; this Ferry reads version " + FORMAT_VERSION);
    }
  }

  /** Creates the directories, then publishes the marker last with a rename, so a half-made store has no marker. */
  private static void initialize(FileSystem fs, Path root) throws IOException {
    Path tmp = new Path(root, "tmp");
    fs.mkdirs(tmp);
    for (String sub : new String[] {"objects", "refs"}) {
      fs.mkdirs(new Path(root, sub));
    }
    Path temp = new Path(tmp, "marker-" + Long.toHexString(ThreadLocalRandom.current().nextLong()) + TEMP_SUFFIX);
    try {
      try (FSDataOutputStream out = Durability.create(fs, temp, true)) {
        out.write(MARKER_JSON.getBytes(StandardCharsets.UTF_8));
      }
      if (!fs.rename(temp, new Path(root, MARKER)) && !fs.exists(new Path(root, MARKER))) {
        throw new IOException("could not publish the store marker " + new Path(root, MARKER));
      }
    } finally {
      fs.delete(temp, false);
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

  @Override
  public io.ferry.store.RecordStore records() {
    // TODO(records): the record store of this backend is being written; leases need it
    throw new UnsupportedOperationException("no record store yet in " + uri());
  }

  @Override
  public RefStore refs() {
    return refs;
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
