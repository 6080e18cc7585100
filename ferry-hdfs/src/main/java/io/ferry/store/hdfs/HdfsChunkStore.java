package io.ferry.store.hdfs;

import io.ferry.id.ChunkId;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.MissingObjectException;
import io.ferry.store.ChunkStore;
import io.ferry.store.StoredObject;
import java.io.EOFException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.fs.StreamCapabilities;

/**
 * The objects of an {@link HdfsBackend}: one HDFS file per object under {@code objects/ab/cdef...}.
 *
 * <p>A put writes a uniquely named file in {@code tmp/} ({@code create} with overwrite off), forces it to the
 * DataNodes ({@code hsync}, or {@code hflush} if so configured) and closes it, then publishes it with {@code
 * rename(tmp, objects/ab/cdef...)}. The NameNode performs a rename atomically and refuses it when the target exists,
 * so readers see the whole object or none, and of any number of concurrent puts of one id (threads or processes)
 * exactly one rename succeeds and returns true; the others remove their temporary file and return false. Cost: five
 * NameNode calls (exists, create, addBlock, complete, rename) and one write pipeline through {@code dfs.replication}
 * DataNodes.
 *
 * <p>Reads are positional reads ({@code pread}) into heap buffers. An object read several times (a pack, whose index
 * and chunks are read as ranges) keeps an open input stream, shared by concurrent readers, in a small LRU of {@code
 * ferry.hdfs.open-files} entries, so a range read costs no NameNode call. A stream that fails is dropped and the read
 * retried once on a fresh one (the object may have been deleted by another process, or its blocks moved).
 *
 * <p>{@link #missing} checks in parallel; a batch with many ids in one fan-out directory lists that directory
 * instead of asking for each id. {@link #list} streams the fan-out directories page by page ({@code
 * dfs.ls.limit} entries per call).
 *
 * <p>Thread-safe.
 */
final class HdfsChunkStore implements ChunkStore {
  /** A batch with at least this many ids in one fan-out directory lists the directory. */
  static final int LIST_THRESHOLD = 32;
  /** How many times a put makes its fan-out directory again when deletes keep removing it. */
  private static final int PUBLISH_ATTEMPTS = 100;

  private final FileSystem fs;
  private final Path objects;
  private final Path tmp;
  private final String uri;
  private final boolean hsync;
  private final ExecutorService lookups;
  private final OpenFiles openFiles;
  /** Fan-out directories this store's puts made: a delete that empties one of them removes it. */
  private final Set<String> madeFanOuts = ConcurrentHashMap.newKeySet();
  private volatile boolean closed;

  HdfsChunkStore(FileSystem fs, Path objects, Path tmp, String uri, HdfsSettings settings, ExecutorService lookups) {
    this.fs = fs;
    this.objects = objects;
    this.tmp = tmp;
    this.uri = uri;
    this.hsync = settings.hsync();
    this.lookups = lookups;
    this.openFiles = new OpenFiles(fs, settings.openFiles(), uri);
  }

  @Override
  public String describe() {
    return uri;
  }

  Path pathOf(ChunkId id) {
    String hex = id.hex();
    return new Path(new Path(objects, hex.substring(0, 2)), hex.substring(2));
  }

  @Override
  public boolean contains(ChunkId id) throws IOException {
    ensureOpen();
    try {
      return isFile(pathOf(id));
    } catch (IOException e) {
      throw NameNodeRefusal.named(uri, "looking up object " + id, e);
    }
  }

  /** True if a file is at {@code p}: a directory where an object belongs is not the object (see {@link #put}). */
  private boolean isFile(Path p) throws IOException {
    try {
      return fs.getFileStatus(p).isFile();
    } catch (FileNotFoundException e) {
      return false;
    }
  }

  @Override
  public List<ChunkId> missing(Collection<ChunkId> ids) throws IOException {
    ensureOpen();
    if (ids.size() <= 2) {
      return ChunkStore.super.missing(ids);
    }
    Map<String, List<ChunkId>> byFanOut = new LinkedHashMap<>();
    for (ChunkId id : ids) {
      byFanOut.computeIfAbsent(id.hex().substring(0, 2), k -> new ArrayList<>()).add(id);
    }
    Set<ChunkId> present = ConcurrentHashMap.newKeySet();
    List<Future<?>> work = new ArrayList<>();
    for (Map.Entry<String, List<ChunkId>> group : byFanOut.entrySet()) {
      if (group.getValue().size() >= LIST_THRESHOLD) {
        work.add(lookups.submit(() -> {
          Set<String> names = new HashSet<>();
          try {
            RemoteIterator<FileStatus> it = fs.listStatusIterator(new Path(objects, group.getKey()));
            while (it.hasNext()) {
              FileStatus f = it.next();
              if (f.isFile()) {
                names.add(f.getPath().getName());
              }
            }
          } catch (FileNotFoundException noFanOutYet) {
            return null;
          }
          for (ChunkId id : group.getValue()) {
            if (names.contains(id.hex().substring(2))) {
              present.add(id);
            }
          }
          return null;
        }));
      } else {
        for (ChunkId id : group.getValue()) {
          work.add(lookups.submit(() -> {
            if (isFile(pathOf(id))) {
              present.add(id);
            }
            return null;
          }));
        }
      }
    }
    try {
      awaitAll(work);
    } catch (IOException e) {
      throw NameNodeRefusal.named(uri, "looking up objects", e);
    }
    List<ChunkId> out = new ArrayList<>();
    for (ChunkId id : ids) {
      if (!present.contains(id)) {
        out.add(id);
      }
    }
    return out;
  }

  private void awaitAll(List<Future<?>> work) throws IOException {
    try {
      for (Future<?> f : work) {
        f.get();
      }
    } catch (InterruptedException e) {
      work.forEach(f -> f.cancel(true));
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while looking up objects in " + uri);
    } catch (ExecutionException e) {
      work.forEach(f -> f.cancel(true));
      if (e.getCause() instanceof IOException io) {
        throw io;
      }
      throw new IOException("lookup in " + uri + " failed: " + e.getCause(), e.getCause());
    }
  }

  @Override
  public boolean put(ChunkId id, ByteBuffer... parts) throws IOException {
    ensureOpen();
    try {
      return write(id, parts);
    } catch (IOException e) {
      throw NameNodeRefusal.named(uri, "writing object " + id, e);
    }
  }

  private boolean write(ChunkId id, ByteBuffer... parts) throws IOException {
    Path target = pathOf(id);
    if (existsAsFile(id, target)) {
      return false;
    }
    Path temp = new Path(tmp, id.shortHex(16) + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong())
        + HdfsBackend.TEMP_SUFFIX);
    boolean created;
    try {
      try {
        Durability.write(fs, temp, hsync, parts);
      } catch (IOException e) {
        throw writeFailed(id, e);
      }
      created = publish(id, temp, target);
    } catch (IOException | RuntimeException e) {
      try {
        fs.delete(temp, false);
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    if (!created) {
      fs.delete(temp, false);
    }
    return created;
  }

  /**
   * The error of a write that failed, naming the object and the store: Hadoop's names neither (a DataNode that the
   * NameNode still counts as live but is down is "127.0.0.1:9864: Connection refused"). When no DataNode could take
   * the write, the message says so in a few words and Hadoop's (the NameNode's several lines and stack trace) is only
   * the cause. Interruptions pass as they are.
   */
  private IOException writeFailed(ChunkId id, IOException e) {
    if (e instanceof InterruptedIOException) {
      return e;
    }
    IOException denied = NameNodeRefusal.named(uri, "writing object " + id, e);
    if (denied != e) {
      return denied;
    }
    String unavailable = DataNodeErrors.writeUnavailable(e);
    return new IOException(uri + ": could not write object " + id + ": "
        + (unavailable != null ? unavailable : e.getMessage()), e);
  }

  /**
   * Renames the complete temporary file to its final name; false if another put published it first. The rename comes
   * first: where the fan-out directory exists (in any store past a few hundred objects, all 256 do) a put costs no
   * call for it. A rename into a missing directory fails; the directory is then made (and remembered as made here,
   * for {@link #delete}) and the rename tried again, again if a delete of its last object removed it meanwhile.
   */
  private boolean publish(ChunkId id, Path temp, Path target) throws IOException {
    for (int attempt = 0; ; attempt++) {
      if (fs.rename(temp, target)) {
        return true;
      }
      if (existsAsFile(id, target)) {
        return false;
      }
      if (attempt >= PUBLISH_ATTEMPTS || !fs.exists(temp)) {
        throw new IOException("could not publish object " + id + " in " + uri + ": rename of " + temp + " to "
            + target + " returned false, and the target does not exist");
      }
      fs.mkdirs(target.getParent());
      madeFanOuts.add(target.getParent().getName());
    }
  }

  /** The name of a put's temporary file: 16 hex digits of the id, '-', a random hex number, ".tmp". */
  private static final java.util.regex.Pattern PUT_TEMP =
      java.util.regex.Pattern.compile("[0-9a-f]{16}-[0-9a-f]{1,16}" + java.util.regex.Pattern.quote(HdfsBackend.TEMP_SUFFIX));

  /**
   * Removes the temporary files of puts (in {@code tmp/}) last modified before {@code olderThan}: what a push or copy
   * killed mid-write left, up to a chunk's size each. Other files there (records being written, spare record files,
   * the marker) are not this store's and stay.
   */
  @Override
  public long removeAbandoned(Instant olderThan) throws IOException {
    ensureOpen();
    long removed = 0;
    RemoteIterator<FileStatus> it;
    try {
      it = fs.listStatusIterator(tmp);
      while (it.hasNext()) {
        FileStatus f = it.next();
        if (f.isFile() && PUT_TEMP.matcher(f.getPath().getName()).matches()
            && f.getModificationTime() < olderThan.toEpochMilli() && fs.delete(f.getPath(), false)) {
          removed++;
        }
      }
    } catch (FileNotFoundException noTmp) {
      return removed;
    } catch (IOException e) {
      throw NameNodeRefusal.named(uri, "removing abandoned temporary files", e);
    }
    return removed;
  }

  /**
   * True if the object's file exists, false if nothing is at its path. Anything else at the path (a directory, made by
   * hand or by a tool) is damage: a put that took "exists" for "the object is there" let a push succeed with a version
   * whose object could never be read, and a rename onto a directory would move the object into it.
   */
  private boolean existsAsFile(ChunkId id, Path target) throws IOException {
    FileStatus status;
    try {
      status = fs.getFileStatus(target);
    } catch (FileNotFoundException e) {
      return false;
    }
    if (!status.isFile()) {
      throw new CorruptObjectException(id, uri, "its path " + target.toUri().getPath() + " is a directory, not a"
          + " file; remove it (the object is then missing, and a push or copy of it stores it again)");
    }
    return true;
  }

  @Override
  public long size(ChunkId id) throws IOException {
    ensureOpen();
    try {
      return fs.getFileStatus(pathOf(id)).getLen();
    } catch (FileNotFoundException e) {
      throw new MissingObjectException(id, uri);
    } catch (IOException e) {
      throw NameNodeRefusal.named(uri, "reading object " + id, e);
    }
  }

  /**
   * Positional read straight into the caller's buffer ({@code ByteBufferPositionedReadable}, which DFS input streams
   * implement): pulls stream 8 MiB slices through one direct buffer per worker, and {@link #read} would allocate a
   * fresh heap array per slice and copy it once more.
   */
  @Override
  public void readInto(ChunkId id, long offset, ByteBuffer dst) throws IOException {
    ensureOpen();
    int length = dst.remaining();
    if (offset < 0) {
      throw new IllegalArgumentException("negative offset " + offset + " of " + id);
    }
    int start = dst.position();
    readRange(id, offset, length, in -> {
      try {
        if (in.hasCapability(StreamCapabilities.PREADBYTEBUFFER)) {
          in.readFully(offset, dst);
        } else {
          byte[] tmp = new byte[length];
          in.readFully(offset, tmp, 0, length);
          dst.put(tmp);
        }
      } catch (EOFException e) {
        throw e;
      } catch (IOException e) {
        dst.position(start);
        throw e;
      }
      return null;
    });
  }

  @Override
  public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
    ensureOpen();
    if (offset < 0 || length < 0) {
      throw new IllegalArgumentException("negative range: offset " + offset + ", length " + length + " of " + id);
    }
    ByteBuffer read = readRange(id, offset, length, in -> {
      byte[] out = new byte[length];
      in.readFully(offset, out, 0, length);
      return ByteBuffer.wrap(out);
    });
    return read != null ? read : ByteBuffer.wrap(new byte[0]);
  }

  /** A read of a range from an object's open file, for {@link #readRange}. */
  private interface RangeReader<T> {
    T read(FSDataInputStream in) throws IOException;
  }

  /**
   * Checks that {@code [offset, offset + length)} lies inside the object, then reads it with {@code reader} (not for
   * an empty range, which gives null) from the object's shared open file. A read that fails is retried once on a
   * fresh open when that may help ({@link #worthAnotherOpen}); the failure that ends it is {@link #readFailed}'s.
   */
  private <T> T readRange(ChunkId id, long offset, int length, RangeReader<T> reader) throws IOException {
    for (int attempt = 0; ; attempt++) {
      OpenFiles.Handle h;
      try {
        h = openFiles.acquire(id, pathOf(id));
      } catch (IOException e) {
        throw NameNodeRefusal.named(uri, "reading object " + id, e);
      }
      boolean inside = false;
      try {
        long size = h.length();
        if (offset > size || length > size - offset) {
          throw new EOFException("object " + id + " in " + uri + ": range [" + offset + ", " + (offset + length)
              + ") runs past the end of the object (" + size + " bytes)");
        }
        inside = true;
        return length > 0 ? reader.read(h.in()) : null;
      } catch (EOFException e) {
        if (!inside) {
          throw e;
        }
        // the object's length covers the range, so it was the answer that ended early, not the object
        openFiles.evict(h);
        throw readFailed(id, offset, length, e);
      } catch (IOException e) {
        openFiles.evict(h);
        if (attempt > 0 || !worthAnotherOpen(e)) {
          throw readFailed(id, offset, length, e);
        }
      } finally {
        openFiles.release(h);
      }
    }
  }

  /**
   * Whether a read that failed may succeed through a new open of the object (a handle kept open since before its
   * DataNodes restarted). Not after an interruption, nor after Hadoop has given up on the block's every replica
   * itself: it waited through its own retries (about 20 s by default) and a new open would wait as long again.
   */
  private static boolean worthAnotherOpen(IOException e) {
    return !(e instanceof InterruptedIOException || e instanceof org.apache.hadoop.hdfs.BlockMissingException
        || e instanceof org.apache.hadoop.fs.ChecksumException);
  }

  /**
   * The error of a read that failed (twice, unless another open could not help), naming the object and the store:
   * replicas that all fail HDFS's checksum are damage ({@link CorruptObjectException}, as a checksum failure of
   * Ferry's own); DataNodes that do not answer are said in one line, with Hadoop's error as the cause. Ferry's errors
   * and interruptions pass as they are.
   */
  private IOException readFailed(ChunkId id, long offset, int length, IOException e) {
    if (e instanceof io.ferry.error.FerryException || e instanceof InterruptedIOException) {
      return e;
    }
    IOException denied = NameNodeRefusal.named(uri, "reading object " + id, e);
    if (denied != e) {
      return denied;
    }
    switch (DataNodeErrors.classifyRead(fs, pathOf(id), offset, length, e)) {
      case DAMAGED: {
        CorruptObjectException damaged = new CorruptObjectException(id, uri, DataNodeErrors.damaged(pathOf(id),
            offset));
        damaged.initCause(e);
        return damaged;
      }
      case UNAVAILABLE:
        return new IOException(uri + ": cannot read object " + id + ": " + DataNodeErrors.unavailable(offset, length),
            e);
      default:
        return e;
    }
  }

  /** The DataNodes of the blocks that hold the range, from the NameNode ({@code getFileBlockLocations}). */
  @Override
  public List<String> hosts(ChunkId id, long offset, long length) throws IOException {
    ensureOpen();
    Path p = pathOf(id);
    org.apache.hadoop.fs.BlockLocation[] blocks;
    try {
      blocks = fs.getFileBlockLocations(fs.getFileStatus(p), offset, Math.max(1, length));
    } catch (FileNotFoundException e) {
      throw new MissingObjectException(id, uri);
    } catch (IOException e) {
      throw NameNodeRefusal.named(uri, "reading object " + id, e);
    }
    java.util.LinkedHashSet<String> hosts = new java.util.LinkedHashSet<>();
    for (org.apache.hadoop.fs.BlockLocation b : blocks) {
      hosts.addAll(List.of(b.getHosts()));
    }
    return List.copyOf(hosts);
  }

  @Override
  public void list(Consumer<StoredObject> sink) throws IOException {
    ensureOpen();
    try {
      listObjects(sink);
    } catch (IOException e) {
      throw NameNodeRefusal.named(uri, "listing objects", e);
    }
  }

  private void listObjects(Consumer<StoredObject> sink) throws IOException {
    RemoteIterator<FileStatus> fanOuts = fs.listStatusIterator(objects);
    while (fanOuts.hasNext()) {
      FileStatus fanOut = fanOuts.next();
      String prefix = fanOut.getPath().getName();
      if (!fanOut.isDirectory() || prefix.length() != 2 || !isLowerHex(prefix)) {
        continue;
      }
      listFanOut(prefix, "", sink);
    }
  }

  /** The objects of one fan-out directory whose ids start with {@code fanOut + rest}. */
  private void listFanOut(String fanOut, String rest, Consumer<StoredObject> sink) throws IOException {
    try {
      RemoteIterator<FileStatus> files = fs.listStatusIterator(new Path(objects, fanOut));
      while (files.hasNext()) {
        FileStatus f = files.next();
        String name = f.getPath().getName();
        String hex = fanOut + name;
        if (f.isFile() && name.startsWith(rest) && hex.length() == ChunkId.HEX_LENGTH && isLowerHex(hex)) {
          sink.accept(new StoredObject(ChunkId.parse(hex), f.getLen(), Instant.ofEpochMilli(f.getModificationTime())));
        }
      }
    } catch (FileNotFoundException removedMeanwhile) {
      // a fan-out directory removed while listing, or never made: nothing to list in it
    }
  }

  /** Lists the one fan-out directory the prefix names (one NameNode listing), for prefixes of two digits or more. */
  @Override
  public boolean listIds(String hexPrefix, Consumer<ChunkId> sink) throws IOException {
    ensureOpen();
    if (hexPrefix.length() < 2 || !isLowerHex(hexPrefix)) {
      return false;
    }
    try {
      listFanOut(hexPrefix.substring(0, 2), hexPrefix.substring(2), o -> sink.accept(o.id()));
    } catch (IOException e) {
      throw NameNodeRefusal.named(uri, "listing objects starting with " + hexPrefix, e);
    }
    return true;
  }

  private static boolean isLowerHex(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
        return false;
      }
    }
    return true;
  }

  /**
   * Deletes the object, then its fan-out directory if this store's puts made that directory and this was its last
   * object, so that a failed push (which deletes what it wrote) leaves the store's tree as it found it. Directories
   * that were there before are left alone: there are at most 256 of them, and trying to remove one on every delete of
   * a gc would cost a NameNode call per object. A put whose directory such a delete removed makes it again ({@link
   * #publish}).
   */
  @Override
  public void delete(ChunkId id) throws IOException {
    ensureOpen();
    openFiles.evict(id);
    Path p = pathOf(id);
    try {
      if (fs.delete(p, false) && madeFanOuts.contains(p.getParent().getName())) {
        HdfsBackend.removeEmptyDirectories(fs, p.getParent(), objects.getParent(), uri);
      }
    } catch (IOException e) {
      throw NameNodeRefusal.named(uri, "deleting object " + id, e);
    }
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException(uri + " is closed");
    }
  }

  @Override
  public void close() throws IOException {
    closed = true;
    openFiles.close();
  }
}
