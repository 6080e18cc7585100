package io.ferry.store.local;

import io.ferry.error.CorruptStoreException;
import io.ferry.error.InvalidInputException;
import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.RefStore;
import io.ferry.store.StoreMarker;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A Ferry store in a directory on local disk: the embedded default ({@code file:} URIs).
 *
 * <p>Layout under the root:
 *
 * <pre>
 * ferry-store.json          marker: {"format":"ferry-store","version":1,"id":"&lt;32 hex&gt;"}
 * objects/ab/cdef...        one file per object: 2 hex digits of fan-out, then the other 62 digits of the id
 * refs/&lt;ref name&gt;.log      one append-only log per ref, e.g. refs/org/llama/tags/prod.log (see {@link LocalRefStore})
 * refs/&lt;ref name&gt;.lock     the ref's lock file (OS advisory lock)
 * records/&lt;key&gt;            small records core keeps its leases in (see {@link LocalRecordStore})
 * tmp/                      temporary files of puts in progress
 * </pre>
 *
 * <p>Several threads and several processes may use one store at once: objects are published with atomic links and
 * refs are moved under an in-JVM lock plus an OS file lock. Use one {@code LocalBackend} per store and JVM: POSIX file
 * locks belong to the process, so two instances in one JVM exclude each other only through the JVM's overlap check,
 * and one instance closing its lock file can drop the OS lock the other holds (see {@link LocalRefStore}).
 *
 * <p>Temporary files of puts that crashed are removed when the store is opened, once older than {@value
 * #STALE_TEMP_HOURS} hours (younger ones may belong to a put in progress in another process).
 *
 * <p>Thread-safe. {@link #close()} releases every file handle and lock; it is idempotent.
 */
public final class LocalBackend implements Backend {
  /** Name of the marker file at the root of a store ({@link StoreMarker#NAME}). */
  public static final String MARKER = StoreMarker.NAME;
  /** The store format version this code writes and reads ({@link StoreMarker#FORMAT_VERSION}). */
  public static final int FORMAT_VERSION = StoreMarker.FORMAT_VERSION;

  /** Age after which a temporary file is considered left over by a crash. */
  public static final int STALE_TEMP_HOURS = 24;

  /** The directories a store is made of, created before its marker. */
  private static final java.util.List<String> SKELETON = java.util.List.of("objects", "refs", "records", "tmp");

  /** How the temporary file of a marker being written is named (then a number, the pid and the temp suffix). */
  private static final String MARKER_TEMP = "marker-";

  private final Path root;
  private final String uri;
  private final LocalChunkStore chunks;
  private final LocalRefStore refs;
  private final LocalRecordStore records;
  private final AtomicBoolean closed = new AtomicBoolean();
  private Optional<String> markerId = Optional.empty();

  private LocalBackend(Path root, java.time.Clock clock) {
    this.root = root;
    this.uri = root.toUri().toString();
    this.chunks = new LocalChunkStore(root.resolve("objects"), root.resolve("tmp"), uri, clock);
    this.refs = new LocalRefStore(root.resolve("refs"), uri);
    this.records = new LocalRecordStore(root.resolve("records"), root.resolve("tmp"), uri);
  }

  /**
   * Opens the store at {@code root}, creating it when {@code options.create()} is set.
   *
   * @throws InvalidInputException if there is no store and {@code create} is false, if {@code root} is a regular
   *     file, if it is a non-empty directory without a marker, or if the marker is not one this code reads
   */
  public static LocalBackend open(Path root, StoreOptions options) throws IOException {
    Path dir = root.toAbsolutePath().normalize();
    if (Files.isRegularFile(dir)) {
      throw new InvalidInputException(dir + " is a regular file, not a Ferry store directory");
    }
    if (Files.exists(dir) && !Files.isDirectory(dir)) {
      throw new InvalidInputException(dir + " is not a directory, not a Ferry store");
    }
    Optional<String> id = StoreMarker.openOrCreate(new Site(dir), options.create());
    for (String sub : new String[] {"objects", "refs", "records", "tmp"}) {
      Path p = dir.resolve(sub);
      checkNotOtherThanDirectory(dir, p);
      Durable.createDirectories(p);
    }
    LocalBackend backend = new LocalBackend(dir, options.clock());
    backend.markerId = id;
    try {
      backend.chunks.removeTemporaryFilesOlderThan(java.time.Duration.ofHours(STALE_TEMP_HOURS));
    } catch (IOException mayOnlyRead) {
      // a user who may only read the store (a read-only mount, a store shared with read permission) still reads it;
      // the leftovers stay for the next writer or gc to remove
    }
    backend.records.removeEmptyDirectoriesOlderThan(
        options.clock().instant().minus(java.time.Duration.ofHours(STALE_TEMP_HOURS)));
    return backend;
  }

  /**
   * Refuses a store whose {@code objects}, {@code refs}, {@code records} or {@code tmp} is something other than a
   * directory (or a link to one), naming what it is: creating the directory would fail with only "already exists".
   */
  private static void checkNotOtherThanDirectory(Path store, Path p) throws IOException {
    if (Files.isDirectory(p)) {
      return;
    }
    String what;
    if (Files.isSymbolicLink(p)) {
      what = Files.exists(p) ? "a symbolic link to something other than a directory"
          : "a symbolic link to nothing (" + Files.readSymbolicLink(p) + ")";
    } else if (Files.isRegularFile(p)) {
      what = "a file";
    } else if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
      what = "a FIFO, socket or device";
    } else {
      return;
    }
    String name = p.getFileName().toString();
    throw new InvalidInputException("store " + store + " is damaged: " + p + " is " + what + ", where the store keeps"
        + " its " + name + " directory; " + (name.equals("tmp") ? "move it away: tmp holds only temporary files, and"
            + " the next command makes it again" : "put the store's " + name + " directory back (from a backup)"));
  }

  /** A directory as a place for a store. */
  private record Site(Path dir) implements StoreMarker.Site {
    @Override
    public String describe() {
      return dir.toString();
    }

    @Override
    public String markerName() {
      return dir.resolve(MARKER).toString();
    }

    /** The marker's bytes; a marker that is not a regular file (a fifo, a directory) is damage naming it. */
    @Override
    public Optional<byte[]> readMarker() throws IOException {
      Path marker = dir.resolve(MARKER);
      BasicFileAttributes a;
      try {
        a = Files.readAttributes(marker, BasicFileAttributes.class);
      } catch (NoSuchFileException absent) {
        return Optional.empty();
      }
      if (!a.isRegularFile()) {
        throw new CorruptStoreException(describe(), "its marker " + marker + " is "
            + (a.isDirectory() ? "a directory" : "a fifo, socket or device") + ", not a file");
      }
      return Optional.of(Files.readAllBytes(marker));
    }

    /** Whether {@code objects/}, {@code refs/} and {@code records/} are there (a git repository has the first two). */
    @Override
    public boolean holdsStore() {
      return Files.isDirectory(dir.resolve("objects"), LinkOption.NOFOLLOW_LINKS)
          && Files.isDirectory(dir.resolve("refs"), LinkOption.NOFOLLOW_LINKS)
          && Files.isDirectory(dir.resolve("records"), LinkOption.NOFOLLOW_LINKS);
    }

    /**
     * True for a directory that does not exist or holds nothing, and for one that holds only what {@link #publish}
     * makes before the marker, empty: the skeleton a creation killed before its marker leaves (ferry init, or a copy
     * to a new store), which would otherwise refuse every later command as "not a Ferry store".
     */
    @Override
    public boolean isEmpty() throws IOException {
      if (!Files.exists(dir)) {
        return true;
      }
      try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
        for (Path p : s) {
          if (!SKELETON.contains(p.getFileName().toString()) || !Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)
              || !onlyMarkerTemps(p)) {
            return false;
          }
        }
        return true;
      }
    }

    /** Whether {@code sub} holds nothing but marker temp files of an interrupted {@link #publish}. */
    private static boolean onlyMarkerTemps(Path sub) throws IOException {
      try (DirectoryStream<Path> s = Files.newDirectoryStream(sub)) {
        for (Path p : s) {
          String name = p.getFileName().toString();
          if (!sub.getFileName().toString().equals("tmp") || !name.startsWith(MARKER_TEMP)
              || !name.endsWith(LocalChunkStore.TEMP_SUFFIX) || !Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
            return false;
          }
        }
        return true;
      }
    }

    /**
     * Creates the directories and writes the marker last, durably (temp file, fsync, rename, fsync the directory). A
     * marker that cannot be written (a full disk) is an error naming the store, and the directories made here go.
     */
    @Override
    public boolean publish(byte[] marker) throws IOException {
      boolean existed = Files.isDirectory(dir);
      Durable.createDirectories(dir);
      for (String sub : SKELETON) {
        Durable.createDirectories(dir.resolve(sub));
      }
      Path tmp = dir.resolve("tmp").resolve(MARKER_TEMP + Long.toHexString(System.nanoTime()) + "-"
          + ProcessHandle.current().pid() + LocalChunkStore.TEMP_SUFFIX);
      try {
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW)) {
          java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(marker);
          while (b.hasRemaining()) {
            ch.write(b);
          }
          ch.force(true);
        } catch (IOException e) {
          Files.deleteIfExists(tmp);
          removeSkeleton(existed);
          throw Durable.named(e, "store " + dir + ": writing its marker " + MARKER);
        }
        Files.move(tmp, dir.resolve(MARKER), StandardCopyOption.ATOMIC_MOVE);
        Durable.syncDirectory(dir);
        return true;
      } finally {
        Files.deleteIfExists(tmp);
      }
    }

    /** Removes the empty directories of a creation that failed, and the store's directory if it made it. */
    private void removeSkeleton(boolean existed) {
      java.util.List<Path> made = new java.util.ArrayList<>();
      for (String sub : SKELETON) {
        made.add(dir.resolve(sub));
      }
      if (!existed) {
        made.add(dir);
      }
      for (Path p : made) {
        try {
          Files.delete(p);
        } catch (IOException heldOrGone) {
          // another creation's files are in it, or it is gone: it stays as it is
        }
      }
    }
  }

  /** The store's root directory. */
  public Path root() {
    return root;
  }

  @Override
  public ChunkStore chunks() {
    return chunks;
  }

  @Override
  public RefStore refs() {
    return refs;
  }

  @Override
  public io.ferry.store.RecordStore records() {
    return records;
  }

  /** The store's {@code file:} URI. */
  @Override
  public String uri() {
    return uri;
  }

  @Override
  public Optional<String> markerId() {
    return markerId;
  }

  @Override
  public Optional<Path> localDirectory() {
    return Optional.of(root);
  }

  @Override
  public void close() throws IOException {
    if (closed.compareAndSet(false, true)) {
      try {
        refs.close();
      } finally {
        chunks.close();
      }
    }
  }

  @Override
  public String toString() {
    return "LocalBackend[" + uri + "]";
  }
}
