package io.ferry.store.hdfs;

import io.ferry.store.RecordStore;
import io.ferry.concurrent.Futures;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Options;
import org.apache.hadoop.fs.ParentNotDirectoryException;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.fs.XAttrSetFlag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The records of an {@link HdfsBackend}: record {@code k} is the file {@code <root>/k}, so the keys under {@code refs/}
 * are the ref-log files HDFS stores have always had. Keys whose first segment is reserved ({@link
 * RecordStore#RESERVED}: {@code objects}, {@code tmp}, the marker) are refused, so records never mix with objects.
 *
 * <p>Where a record's bytes are: records of 1 to {@value #MAX_XATTR_RECORD} bytes are an empty file carrying them in
 * the extended attribute {@value #RECORD_ATTR}, so writing one needs no DataNode and reading one is a single NameNode
 * call; empty and larger records, and every record when the NameNode has extended attributes disabled, are the file's
 * data (created with {@code SYNC_BLOCK} under {@code ferry.hdfs.sync=hsync}). A reader takes the attribute when the
 * file has one, else the data.
 *
 * <ul>
 *   <li>{@link #create}: the complete file is written under a unique name in {@code tmp/}, then renamed onto the key
 *       with {@code rename(src, dst, NONE)}, which the NameNode performs atomically and refuses when {@code dst}
 *       exists: of racing creators exactly one wins, and no reader sees a partial record.
 *   <li>{@link #replace}: a record that exists and fits an attribute is replaced by one {@code setXAttr} (atomic at
 *       the NameNode); otherwise the complete file is written in {@code tmp/} and renamed with {@code OVERWRITE},
 *       which swaps the file in one NameNode operation, so a reader sees the old or the new record, never none.
 *   <li>{@link #list}: walks the directories under the prefix's last {@code /} with paged listings.
 * </ul>
 *
 * <p>A create that loses (the key exists) keeps its temporary file when the record was in an attribute: the empty file
 * is a spare that the next such record reuses, setting its attribute instead of creating a file. Of racing writers all
 * but one lose, and creating a file is the dearest step of a create (over WebHDFS it goes through a DataNode), so a
 * contended ref costs its losers two NameNode calls per attempt instead of five. Spares are reused only while young
 * (well inside the age at which an open removes leftover temporary files) and are removed by {@link #close}.
 *
 * <p>Thread-safe; any number of processes may share the records.
 */
final class HdfsRecordStore implements RecordStore {
  private static final Logger LOG = LoggerFactory.getLogger(HdfsRecordStore.class);

  /** How many times a create makes the record's directory again when a delete keeps removing it. */
  private static final int PUBLISH_ATTEMPTS = 100;
  /** The attribute holding a record's bytes (named when it held only ref-log entries). */
  static final String RECORD_ATTR = "user.ferry.entry";
  /** The largest record kept in an attribute (the NameNode's default limit for name and value is 16 KiB). */
  static final int MAX_XATTR_RECORD = 8192;
  /** How many spare temporary files a store keeps at most. */
  static final int MAX_SPARES = 16;
  /** Spares older than this are not reused (an open elsewhere removes temporary files a day old). */
  static final Duration SPARE_LIFETIME = Duration.ofHours(1);

  /** An empty temporary file that a lost create left, made at {@code madeNanos} ({@link System#nanoTime()}). */
  private record Spare(Path path, long madeNanos) {}

  private final FileSystem fs;
  private final Path root;
  private final Path tmp;
  private final String uri;
  private final boolean hsync;
  private final ExecutorService lookups;
  /** Empty temporary files left by lost creates, oldest first, each with the time it was made. */
  private final Deque<Spare> spares = new ArrayDeque<>();
  private volatile boolean xattrsUnavailable;
  private volatile boolean closed;

  HdfsRecordStore(FileSystem fs, Path root, String uri, HdfsSettings settings, ExecutorService lookups) {
    this.fs = fs;
    this.root = root;
    this.tmp = new Path(root, "tmp");
    this.uri = uri;
    this.hsync = settings.hsync();
    this.lookups = lookups;
  }

  @Override
  public String describe() {
    return uri;
  }

  Path path(String key) {
    return new Path(root, RecordStore.checkKey(key));
  }

  @Override
  public boolean create(String key, byte[] content) throws IOException {
    ensureOpen();
    Path target = path(key);
    RecordStore.checkContent(key, content);
    try {
      Temp temp = writeTemp(content);
      return publish(temp.path(), target, Options.Rename.NONE, temp.inAttribute());
    } catch (IOException e) {
      throw NameNodeRefusal.named(uri, "writing record " + key, e);
    }
  }

  @Override
  public void replace(String key, byte[] content) throws IOException {
    ensureOpen();
    Path target = path(key);
    RecordStore.checkContent(key, content);
    try {
      overwrite(target, content);
    } catch (IOException e) {
      throw NameNodeRefusal.named(uri, "writing record " + key, e);
    }
  }

  private void overwrite(Path target, byte[] content) throws IOException {
    if (fitsAttribute(content)) {
      try {
        fs.setXAttr(target, RECORD_ATTR, content, EnumSet.of(XAttrSetFlag.CREATE, XAttrSetFlag.REPLACE));
        return;
      } catch (FileNotFoundException absent) {
        // not there yet: publish a new file below
      } catch (UnsupportedOperationException | IOException e) {
        noXattrs(e);
      }
    }
    publish(writeTemp(content).path(), target, Options.Rename.OVERWRITE, false);
  }

  private boolean fitsAttribute(byte[] content) {
    return !xattrsUnavailable && content.length > 0 && content.length <= MAX_XATTR_RECORD;
  }

  /**
   * Renames a complete temporary file onto the record's path, creating the parent directories if needed; removes the
   * temporary file unless it was published.
   *
   * @param spare whether {@code temp} is an empty file that may be kept as a spare if the record exists
   * @return false if {@code mode} is {@code NONE} and the record exists
   */
  private boolean publish(Path temp, Path target, Options.Rename mode, boolean spare) throws IOException {
    boolean published = false;
    try {
      for (int attempt = 0; ; attempt++) {
        try {
          FileUtil.rename(fs, temp, target, mode);
          published = true;
          return true;
        } catch (FileAlreadyExistsException exists) {
          if (spare && keepSpare(temp)) {
            published = true;
          }
          return false;
        } catch (FileNotFoundException | ParentNotDirectoryException e) {
          // no parent directory: make it; again if a delete removed it, emptied, before the rename (but not when the
          // temporary file is what is missing)
          if (attempt >= PUBLISH_ATTEMPTS || attempt > 0
              && (e instanceof ParentNotDirectoryException || !fs.exists(temp))) {
            throw e;
          }
          fs.mkdirs(target.getParent());
        }
      }
    } finally {
      if (!published) {
        try {
          fs.delete(temp, false);
        } catch (IOException e) {
          LOG.debug("{}: could not remove the temporary file {}", uri, temp, e);
        }
      }
    }
  }

  /**
   * Keeps a temporary file that a lost create made, for {@link #reuseSpare}; false if there are enough (the caller
   * removes it then).
   */
  private boolean keepSpare(Path temp) {
    synchronized (spares) {
      if (closed || spares.size() >= MAX_SPARES) {
        return false;
      }
      spares.addLast(new Spare(temp, System.nanoTime()));
      return true;
    }
  }

  /** A young spare with its attribute set to {@code content}, or null if there is none. */
  private Path reuseSpare(byte[] content) {
    while (true) {
      Spare spare;
      synchronized (spares) {
        spare = spares.pollLast();
      }
      if (spare == null) {
        return null;
      }
      if (System.nanoTime() - spare.madeNanos() < SPARE_LIFETIME.toNanos()) {
        try {
          fs.setXAttr(spare.path(), RECORD_ATTR, content, EnumSet.of(XAttrSetFlag.CREATE, XAttrSetFlag.REPLACE));
          return spare.path();
        } catch (IOException | RuntimeException e) {
          LOG.debug("{}: spare temporary file {} not reusable: {}", uri, spare.path(), e.toString());
        }
      }
      try {
        fs.delete(spare.path(), false);
      } catch (IOException e) {
        LOG.debug("{}: could not remove the temporary file {}", uri, spare.path(), e);
      }
    }
  }

  /** A temporary file holding a complete record: in an attribute of an otherwise empty file, or as its data. */
  private record Temp(Path path, boolean inAttribute) {}

  /** Writes a complete record to a temporary file: in an attribute of an empty file (a spare if any), or as data. */
  private Temp writeTemp(byte[] content) throws IOException {
    boolean inAttr = fitsAttribute(content);
    if (inAttr) {
      Path spare = reuseSpare(content);
      if (spare != null) {
        return new Temp(spare, true);
      }
    }
    Path temp = new Path(tmp, "record-" + Long.toHexString(ThreadLocalRandom.current().nextLong())
        + HdfsBackend.TEMP_SUFFIX);
    try {
      Durability.write(fs, temp, hsync && !inAttr,
          inAttr ? new java.nio.ByteBuffer[0] : new java.nio.ByteBuffer[] {java.nio.ByteBuffer.wrap(content)});
      if (inAttr) {
        try {
          fs.setXAttr(temp, RECORD_ATTR, content);
        } catch (UnsupportedOperationException | IOException e) {
          noXattrs(e);
          fs.delete(temp, false);
          return writeTemp(content);
        }
      }
      return new Temp(temp, inAttr);
    } catch (IOException | RuntimeException e) {
      try {
        fs.delete(temp, false);
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  /** Switches to records in file data if the NameNode has extended attributes disabled; rethrows anything else. */
  private void noXattrs(Exception e) throws IOException {
    if (e instanceof FileNotFoundException f) {
      throw f;
    }
    if (e instanceof UnsupportedOperationException
        || String.valueOf(e.getMessage()).contains("XAttr") && String.valueOf(e.getMessage()).contains("disabled")) {
      LOG.debug("{}: extended attributes unavailable, records go in file data: {}", uri, e.toString());
      xattrsUnavailable = true;
      return;
    }
    throw (IOException) e;
  }

  @Override
  public Optional<byte[]> read(String key) throws IOException {
    ensureOpen();
    Path p = path(key);
    try {
      return read(key, p);
    } catch (IOException e) {
      throw NameNodeRefusal.named(uri, "reading record " + key, e);
    }
  }

  private Optional<byte[]> read(String key, Path p) throws IOException {
    if (!xattrsUnavailable) {
      try {
        Map<String, byte[]> attrs = fs.getXAttrs(p);
        byte[] inAttr = attrs == null ? null : attrs.get(RECORD_ATTR);
        if (inAttr != null) {
          return Optional.of(inAttr);
        }
      } catch (FileNotFoundException e) {
        return Optional.empty();
      } catch (UnsupportedOperationException | IOException e) {
        noXattrs(e);
      }
    }
    try (InputStream in = fs.open(p)) {
      return Optional.of(in.readNBytes(MAX_RECORD_BYTES + 1));
    } catch (FileNotFoundException e) {
      return absentUnlessDirectory(key, p);
    } catch (IOException e) {
      throw readFailed(key, p, e);
    }
  }

  /**
   * The error of a record's data that no DataNode served, naming the record and the store: replicas that all fail
   * HDFS's checksum are damage, DataNodes that do not answer are said in one line; Hadoop's error is the cause.
   */
  private IOException readFailed(String key, Path p, IOException e) {
    if (e instanceof java.io.InterruptedIOException) {
      return e;
    }
    switch (DataNodeErrors.classifyRead(fs, p, 0, 1, e)) {
      case DAMAGED:
        return new io.ferry.error.CorruptStoreException(uri, "record " + key + ": " + DataNodeErrors.damaged(p, 0), e);
      case UNAVAILABLE:
        return new IOException(uri + ": cannot read record " + key + ": " + DataNodeErrors.unavailable(), e);
      default:
        return e;
    }
  }

  /**
   * Empty for a record that is not there. A directory at a record's path (made by hand or by a tool) is damage, not
   * absence: read as absent, a ref whose last log entry it replaced silently went back to the entry before, or lost
   * its value, and a move of it failed with Hadoop's "must both be directories".
   */
  private Optional<byte[]> absentUnlessDirectory(String key, Path p) throws IOException {
    try {
      if (fs.getFileStatus(p).isDirectory()) {
        throw new io.ferry.error.CorruptStoreException(uri, "record " + key + ": its path " + p.toUri().getPath()
            + " is a directory, not a file");
      }
    } catch (FileNotFoundException absent) {
      // not there
    }
    return Optional.empty();
  }

  @Override
  public List<Optional<byte[]>> readAll(List<String> keys) throws IOException {
    if (keys.size() <= 1) {
      return RecordStore.super.readAll(keys);
    }
    List<Future<Optional<byte[]>>> reads = new ArrayList<>(keys.size());
    try {
      for (String k : keys) {
        reads.add(lookups.submit(() -> read(k)));
      }
      List<Optional<byte[]>> out = new ArrayList<>(keys.size());
      for (Future<Optional<byte[]>> f : reads) {
        out.add(Futures.await(f, "reading records of " + uri));
      }
      return out;
    } finally {
      reads.forEach(f -> f.cancel(true));
    }
  }

  @Override
  public List<String> list(String prefix) throws IOException {
    ensureOpen();
    int slash = prefix.lastIndexOf('/');
    String base = slash < 0 ? "" : prefix.substring(0, slash);
    if (!base.isEmpty()) {
      try {
        RecordStore.checkKey(base);
      } catch (IllegalArgumentException noRecordCanMatch) {
        return List.of();
      }
    }
    List<String> out = new ArrayList<>();
    try {
      walk(base.isEmpty() ? root : new Path(root, base), base, prefix, out);
    } catch (IOException e) {
      throw NameNodeRefusal.named(uri, "listing records under '" + prefix + "'", e);
    }
    out.sort(null);
    return out;
  }

  /** Collects the keys under {@code dir} (whose key is {@code dirKey}, "" for the root) that start with prefix. */
  private void walk(Path dir, String dirKey, String prefix, List<String> out) throws IOException {
    RemoteIterator<FileStatus> children;
    try {
      children = fs.listStatusIterator(dir);
      while (children.hasNext()) {
        FileStatus c = children.next();
        String name = c.getPath().getName();
        if (dirKey.isEmpty() && RESERVED.contains(name)) {
          continue;
        }
        String key = dirKey.isEmpty() ? name : dirKey + "/" + name;
        if (c.isDirectory()) {
          String under = key + "/";
          if (under.startsWith(prefix) || prefix.startsWith(under)) {
            walk(c.getPath(), key, prefix, out);
          }
        } else if (key.startsWith(prefix)) {
          out.add(key);
        }
      }
    } catch (FileNotFoundException gone) {
      // no such directory (or it was removed while listing): no records under it
    }
  }

  /**
   * Deletes the record, then the directories it leaves empty up to the store's top-level ones ({@code leases},
   * {@code refs}, ...; see {@link HdfsBackend#removeEmptyDirectories}): a push's lease and a removed
   * ref leave nothing behind (10,000 pushes would otherwise leave 10,000 empty lease directories for every gc to list,
   * and a failed push would not leave the store as it found it). Each removal is the NameNode's non-recursive delete,
   * which refuses a directory that holds anything, so a record created meanwhile stays; a create whose directory such a
   * delete removed makes it again ({@link #publish}).
   */
  @Override
  public void delete(String key) throws IOException {
    ensureOpen();
    Path p = path(key);
    try {
      if (fs.delete(p, false)) {
        HdfsBackend.removeEmptyDirectories(fs, p.getParent(), root, uri);
      }
    } catch (IOException e) {
      throw NameNodeRefusal.named(uri, "deleting record " + key, e);
    }
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException(uri + " is closed");
    }
  }

  /** Removes the spare temporary files (best effort: what remains is removed as a leftover a day later). */
  @Override
  public void close() {
    List<Spare> left;
    synchronized (spares) {
      closed = true;
      left = new ArrayList<>(spares);
      spares.clear();
    }
    for (Spare spare : left) {
      try {
        fs.delete(spare.path(), false);
      } catch (IOException | RuntimeException e) {
        LOG.debug("{}: could not remove the temporary file {}", uri, spare.path(), e);
      }
    }
  }
}
