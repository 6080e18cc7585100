package io.ferry.store.local;

import io.ferry.id.ChunkId;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.CorruptStoreException;
import io.ferry.error.MissingObjectException;
import io.ferry.store.ChunkStore;
import io.ferry.store.FileWrites;
import io.ferry.store.StoredObject;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * The objects of a {@link LocalBackend}: one file per object under {@code objects/ab/cdef...}.
 *
 * <p>A put writes a unique temporary file in {@code tmp/} with gathering writes, forces it to disk, and publishes it
 * with a hard link to the final name (files get the default permissions of the process, so a store can be shared by
 * a group). {@code link(2)} fails if the name exists, so exactly one of any number of
 * concurrent puts of one id (threads or processes) creates the object and returns true; the others return false. On
 * file systems without hard links the fallback is an atomic rename, after which "exactly one true" is not guaranteed
 * (every put still succeeds and the object is still whole). The temporary file is removed whatever happens. A name
 * taken by something that is not a regular file (a fifo, a directory) is damage: the put fails with a {@link
 * CorruptObjectException} naming it, rather than report the object held.
 *
 * <p>Reads copy into a new heap buffer, in slices of at most {@value #READ_SLICE} bytes (the JDK reads a heap buffer
 * through a temporary direct buffer of the read's size and keeps it per thread). Nothing is memory-mapped: a
 * mapping lives until the garbage collector finds its buffer, so reading many objects between collections once ran
 * past the kernel's limit of mappings per process ({@code vm.max_map_count}) and crashed the JVM, and a mapped file
 * that shrinks turns a read into a fault instead of an error. {@link #readInto} reads straight into the caller's
 * buffer.
 *
 * <p>Thread-safe.
 */
final class LocalChunkStore implements ChunkStore {
  /** The most one positional read into a heap buffer asks for. */
  static final int READ_SLICE = 1 << 20;

  static final String TEMP_SUFFIX = ".tmp";

  /**
   * The names of the temporary files the local store writes in {@code tmp/}: a put's, a record's ({@link
   * LocalRecordStore}) and the store marker's ({@link LocalBackend}). Only these are removed as abandoned: {@code
   * tmp/} may be a link to a directory that holds other files.
   */
  private static final Pattern TEMP_NAME = Pattern.compile(
      "(?:[0-9a-f]{16}-[0-9a-f]{1,16}|record-[0-9]+-[0-9]+-[0-9a-f]{1,16}|marker-[0-9a-f]{1,16}-[0-9]+)\\.tmp");

  /** How often a put makes its fan-out directory again when deletes keep removing it under it. */
  private static final int PUBLISH_ATTEMPTS = 100;

  private final Path objects;
  private final Path tmp;
  private final String uri;
  private final java.time.Clock clock;
  private volatile boolean linksUnsupported;
  private volatile boolean closed;

  LocalChunkStore(Path objects, Path tmp, String uri, java.time.Clock clock) {
    this.clock = clock;
    this.objects = objects;
    this.tmp = tmp;
    this.uri = uri;
  }

  @Override
  public String describe() {
    return uri;
  }

  @Override
  public boolean trusted() {
    return true;
  }

  Path pathOf(ChunkId id) {
    String hex = id.hex();
    return objects.resolve(hex.substring(0, 2)).resolve(hex.substring(2));
  }

  @Override
  public boolean contains(ChunkId id) throws IOException {
    ensureOpen();
    return Files.isRegularFile(pathOf(id));
  }

  @Override
  public boolean put(ChunkId id, ByteBuffer... parts) throws IOException {
    ensureOpen();
    Path target = pathOf(id);
    if (Files.isRegularFile(target)) {
      return false;
    }
    Path temp = tmp.resolve(id.shortHex(16) + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong())
        + TEMP_SUFFIX);
    try {
      try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW)) {
        long at = 0;
        for (ByteBuffer p : parts) {
          at = FileWrites.write(p, ch, at);
        }
        ch.force(true);
      } catch (IOException e) {
        throw Durable.named(e, uri + ": writing object " + id.hex());
      }
      // the object's age is read by gc against the repository's clock: stamp it with the same clock
      Files.setLastModifiedTime(temp, FileTime.from(clock.instant()));
      Path fanOut = target.getParent();
      boolean created;
      for (int attempt = 1; ; attempt++) {
        Durable.createDirectoriesIn(objects, fanOut, uri);
        try {
          created = publish(temp, target);
          if (!created) {
            requireObjectAt(id, target);
          }
          break;
        } catch (NoSuchFileException e) {
          // a delete emptied the fan-out directory and removed it between our mkdir and our link (another put may
          // have made it again since): while our temporary file is there, the missing file was the directory
          if (attempt == PUBLISH_ATTEMPTS || !Files.isRegularFile(temp)) {
            throw e;
          }
        } catch (IOException e) {
          removeIfEmpty(fanOut); // a failed put leaves the tree as it found it
          throw e;
        }
      }
      if (created) {
        try {
          Durable.syncDirectory(fanOut);
        } catch (NoSuchFileException e) {
          // a delete of this same id came after our link and removed the emptied directory: nothing left to sync
        }
      }
      return created;
    } finally {
      Files.deleteIfExists(temp);
    }
  }

  private boolean publish(Path temp, Path target) throws IOException {
    if (!linksUnsupported) {
      try {
        Files.createLink(target, temp);
        return true;
      } catch (FileAlreadyExistsException e) {
        return false;
      } catch (UnsupportedOperationException e) {
        linksUnsupported = true;
      } catch (FileSystemException e) {
        if (Files.exists(target)) {
          return false;
        }
        if (Durable.crossDevice(e)) {
          throw Durable.splitStore(uri, objects, tmp, e);
        }
        if (!"Operation not permitted".equals(e.getReason())) {
          throw e;
        }
        linksUnsupported = true;
      }
    }
    if (Files.exists(target)) {
      return false;
    }
    Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
    return true;
  }

  /** Removes a fan-out directory this put may have made, unless it holds objects (or is gone). */
  private static void removeIfEmpty(Path fanOut) {
    try {
      Files.delete(fanOut);
    } catch (IOException heldOrGone) {
      // it holds objects, or another delete removed it
    }
  }

  /**
   * Checks that what took an object's name is an object: a fifo or a directory there is damage, which a put cannot
   * store over and must not report as the object held (the push would find it missing when it checks before it
   * publishes).
   */
  private void requireObjectAt(ChunkId id, Path target) throws IOException {
    BasicFileAttributes a;
    try {
      a = Files.readAttributes(target, BasicFileAttributes.class);
    } catch (NoSuchFileException deletedMeanwhile) {
      return; // a delete removed the object since: the check before publishing finds it missing
    }
    if (!a.isRegularFile()) {
      throw new CorruptObjectException(id, uri, target + " is not a regular file (" + kind(a) + ")");
    }
  }

  @Override
  public long size(ChunkId id) throws IOException {
    ensureOpen();
    Path p = pathOf(id);
    try {
      BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
      if (!a.isRegularFile()) {
        // a fifo's size is 0 and a directory's that of its entries: neither is the object's
        throw new CorruptObjectException(id, uri, p + " is not a regular file (" + kind(a) + ")");
      }
      return a.size();
    } catch (NoSuchFileException e) {
      Durable.requireBase(objects, uri);
      throw new MissingObjectException(id, uri);
    }
  }

  /** What a path that is not a regular file is, for messages. */
  private static String kind(BasicFileAttributes a) {
    return a.isDirectory() ? "a directory" : a.isSymbolicLink() ? "a symbolic link" : "a fifo, socket or device";
  }

  @Override
  public ByteBuffer read(ChunkId id, long offset, int length) throws IOException {
    ensureOpen();
    if (offset < 0 || length < 0) {
      throw new IllegalArgumentException("negative range: offset " + offset + ", length " + length + " of " + id);
    }
    FileChannel ch = open(id);
    try (ch) {
      long size = ch.size();
      if (offset > size || length > size - offset) {
        throw new EOFException("object " + id + " in " + uri + ": range [" + offset + ", " + (offset + length)
            + ") runs past the end of the object (" + size + " bytes)");
      }
      ByteBuffer out = ByteBuffer.allocate(length);
      while (out.hasRemaining()) {
        ByteBuffer slice = out.duplicate();
        slice.limit(Math.min(out.limit(), out.position() + READ_SLICE));
        int n = ch.read(slice, offset + out.position());
        out.position(slice.position());
        if (n < 0) {
          throw new EOFException("object " + id + " in " + uri + " ended at byte " + (offset + out.position())
              + " while reading [" + offset + ", " + (offset + length) + ")");
        }
      }
      return out.flip();
    }
  }

  /**
   * Opens an object for reading. An object that is not a regular file (a fifo or a directory put in its place) is
   * damage: opening a fifo would wait forever for a writer.
   */
  private FileChannel open(ChunkId id) throws IOException {
    Path p = pathOf(id);
    try {
      BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
      if (!a.isRegularFile()) {
        throw new CorruptObjectException(id, uri, p + " is not a regular file (" + kind(a) + ")");
      }
      return FileChannel.open(p, StandardOpenOption.READ);
    } catch (NoSuchFileException e) {
      Durable.requireBase(objects, uri);
      throw new MissingObjectException(id, uri);
    }
  }

  /** A positional read into the caller's buffer: one kernel copy from the page cache, no memory map. */
  @Override
  public void readInto(ChunkId id, long offset, ByteBuffer dst) throws IOException {
    ensureOpen();
    int length = dst.remaining();
    if (offset < 0) {
      throw new IllegalArgumentException("negative offset " + offset + " of " + id);
    }
    FileChannel ch = open(id);
    try (ch) {
      long size = ch.size();
      if (offset > size || length > size - offset) {
        throw new EOFException("object " + id + " in " + uri + ": range [" + offset + ", " + (offset + length)
            + ") runs past the end of the object (" + size + " bytes)");
      }
      long pos = offset;
      while (dst.hasRemaining()) {
        // into a heap buffer, at most READ_SLICE at a time: the JDK reads a heap buffer through a temporary direct
        // buffer of the same size, which it then keeps for the thread (a 64 MiB chunk's worth per worker)
        ByteBuffer into = dst.isDirect() || dst.remaining() <= READ_SLICE ? dst
            : dst.duplicate().limit(dst.position() + READ_SLICE);
        int n = ch.read(into, pos);
        if (into != dst && n > 0) {
          dst.position(dst.position() + n);
        }
        if (n < 0) {
          throw new EOFException("object " + id + " in " + uri + " ended at byte " + pos + " while reading ["
              + offset + ", " + (offset + length) + ")");
        }
        pos += n;
      }
    }
  }

  @Override
  public void list(Consumer<StoredObject> sink) throws IOException {
    ensureOpen();
    try (DirectoryStream<Path> fanOuts = Files.newDirectoryStream(objects)) {
      for (Path fanOut : fanOuts) {
        String prefix = fanOut.getFileName().toString();
        if (prefix.length() != 2 || !isLowerHex(prefix) || !requireFanOut(fanOut)) {
          continue;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(fanOut)) {
          for (Path file : files) {
            String hex = prefix + file.getFileName();
            if (hex.length() != ChunkId.HEX_LENGTH || !isLowerHex(hex)) {
              continue;
            }
            BasicFileAttributes attrs;
            try {
              attrs = Files.readAttributes(file, BasicFileAttributes.class);
            } catch (NoSuchFileException deletedMeanwhile) {
              continue;
            }
            if (attrs.isRegularFile()) {
              sink.accept(new StoredObject(ChunkId.parse(hex), attrs.size(), attrs.lastModifiedTime().toInstant()));
            }
          }
        } catch (NoSuchFileException deletedMeanwhile) {
          // a fan-out directory emptied and removed by a delete while listing: nothing to list in it
        }
      }
    }
  }

  /** Reads the one fan-out directory that the prefix's first two digits name (a prefix that short lists them all). */
  @Override
  public boolean listIds(String hexPrefix, Consumer<ChunkId> sink) throws IOException {
    ensureOpen();
    if (hexPrefix.length() < 2) {
      return false;
    }
    if (hexPrefix.length() > ChunkId.HEX_LENGTH || !isLowerHex(hexPrefix)) {
      throw new IllegalArgumentException("'" + hexPrefix + "' is not a prefix of an id in lower-case hex");
    }
    Path fanOut = objects.resolve(hexPrefix.substring(0, 2));
    if (!requireFanOut(fanOut)) {
      Durable.requireBase(objects, uri);
      return true;
    }
    String rest = hexPrefix.substring(2);
    try (DirectoryStream<Path> files = Files.newDirectoryStream(fanOut, rest + "*")) {
      for (Path file : files) {
        String hex = hexPrefix.substring(0, 2) + file.getFileName();
        if (hex.length() == ChunkId.HEX_LENGTH && isLowerHex(hex) && Files.isRegularFile(file)) {
          sink.accept(ChunkId.parse(hex));
        }
      }
    } catch (NoSuchFileException deletedMeanwhile) {
      // emptied and removed by a delete since it was looked at: no object has the prefix
    }
    return true;
  }

  /**
   * Each fan-out directory of {@code objects/} that is a symbolic link, named with its target (reads and puts of the
   * objects behind it follow it, so only this look finds it before a gc refuses it), or that is not a directory at
   * all (a file there makes every put of an object of that prefix fail).
   */
  @Override
  public List<String> layoutDamage() throws IOException {
    ensureOpen();
    List<String> out = new ArrayList<>();
    try (DirectoryStream<Path> fanOuts = Files.newDirectoryStream(objects)) {
      for (Path fanOut : fanOuts) {
        String prefix = fanOut.getFileName().toString();
        if (prefix.length() != 2 || !isLowerHex(prefix)) {
          continue;
        }
        try {
          if (!requireFanOut(fanOut) && Files.exists(fanOut, LinkOption.NOFOLLOW_LINKS)) {
            out.add("store " + uri + " is damaged: " + fanOut + " is " + Durable.whatIs(fanOut) + " where the store"
                + " keeps a directory of objects, so no object whose id begins with " + prefix + " can be stored:"
                + " move it out of the store");
          }
        } catch (CorruptStoreException e) {
          out.add(e.getMessage());
        }
      }
    }
    Collections.sort(out);
    return out;
  }

  /**
   * Whether {@code fanOut} is a fan-out directory to look into: false if it is gone or is not a directory (a stray
   * file, left alone). A symbolic link there is damage: gc would delete through it, outside the store.
   *
   * @throws CorruptStoreException naming the link and its target
   */
  private boolean requireFanOut(Path fanOut) throws IOException {
    BasicFileAttributes a;
    try {
      a = Files.readAttributes(fanOut, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException deletedMeanwhile) {
      return false;
    }
    if (a.isSymbolicLink()) {
      String target;
      try {
        target = String.valueOf(Files.readSymbolicLink(fanOut));
      } catch (IOException e) {
        target = "unreadable";
      }
      throw new CorruptStoreException(uri, fanOut + " is a symbolic link (to " + target + ") where the store keeps a"
          + " directory of objects; Ferry does not follow links there, since gc would delete through it outside the"
          + " store: replace the link with the directory it points to");
    }
    return a.isDirectory();
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

  @Override
  public void delete(ChunkId id) throws IOException {
    deleteIfPresent(id);
  }

  /** Removes the object; false if it was absent, also when a delete running at the same moment removed it first. */
  @Override
  public boolean deleteIfPresent(ChunkId id) throws IOException {
    ensureOpen();
    Path p = pathOf(id);
    if (!requireFanOut(p.getParent())) {
      return false;
    }
    if (!Files.deleteIfExists(p)) {
      return false;
    }
    Path fanOut = p.getParent();
    try {
      // the last object of its directory: remove the directory too, so that a failed push, which deletes the objects
      // it created, leaves the store as it found it (a put racing with this makes the directory again)
      Files.delete(fanOut);
      Durable.syncDirectory(objects);
      return true;
    } catch (DirectoryNotEmptyException | NoSuchFileException stillUsedOrGone) {
      // it holds other objects, or another delete removed it
    }
    try {
      Durable.syncDirectory(fanOut);
    } catch (NoSuchFileException removedByAnotherDelete) {
      // emptied and removed meanwhile by a delete that syncs the objects directory
    }
    return true;
  }

  /**
   * Deletes temporary files in {@code tmp/} last modified longer ago than {@code age}: what puts interrupted by a
   * crash left behind. Returns how many were deleted.
   */
  int removeTemporaryFilesOlderThan(Duration age) throws IOException {
    return (int) removeAbandoned(clock.instant().minus(age));
  }

  /**
   * Removes the temporary files in {@code tmp/} last modified before {@code olderThan}: those of puts and record
   * writes that were killed mid-write. Other files there are left alone, and so are links.
   */
  @Override
  public long removeAbandoned(Instant olderThan) throws IOException {
    ensureOpen();
    long removed = 0;
    try (DirectoryStream<Path> files = Files.newDirectoryStream(tmp)) {
      for (Path f : files) {
        if (!TEMP_NAME.matcher(f.getFileName().toString()).matches()) {
          continue;
        }
        BasicFileAttributes attrs;
        try {
          attrs = Files.readAttributes(f, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException publishedMeanwhile) {
          continue;
        }
        if (attrs.isRegularFile() && attrs.lastModifiedTime().toInstant().isBefore(olderThan)
            && Files.deleteIfExists(f)) {
          removed++;
        }
      }
    }
    if (removed > 0) {
      Durable.syncDirectory(tmp);
    }
    return removed;
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException(uri + " is closed");
    }
  }

  @Override
  public void close() {
    closed = true;
  }
}
