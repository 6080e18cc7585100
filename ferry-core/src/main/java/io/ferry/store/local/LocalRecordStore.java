package io.ferry.store.local;

import io.ferry.error.CorruptStoreException;
import io.ferry.store.RecordStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * The records of a {@link LocalBackend}: one file per record under {@code records/}, the key's segments as
 * directories. A record is written to a temporary file and fsynced, then published by a hard link ({@link #create}:
 * the link fails if the name exists, so of racing creators exactly one wins, also across processes) or by an atomic
 * rename ({@link #replace}); the directory is fsynced after either. Deleting a directory's last record removes the
 * directory (and its parents that end up empty), so that the directory every push's lease gets does not outlive it,
 * and so does a create or replace that fails (a full disk) in directories it made; a create or replace that finds its
 * directory removed meanwhile makes it again. A directory of records that is a symbolic link is damage, which every
 * call but {@link #read} refuses (see {@link #requireNoLink}); {@code records/} itself may be a link. Thread-safe; safe
 * to share between processes.
 */
final class LocalRecordStore implements RecordStore {
  private static final AtomicLong TEMP_COUNTER = new AtomicLong();
  private static final int MAX_ATTEMPTS = 100;

  private final Path root;
  private final Path tmp;
  private final String uri;

  LocalRecordStore(Path root, Path tmp, String uri) {
    this.root = root;
    this.tmp = tmp;
    this.uri = uri;
  }

  @Override
  public String describe() {
    return uri;
  }

  private Path file(String key) {
    return root.resolve(RecordStore.checkKey(key));
  }

  private Path writeTemp(String key, byte[] content) throws IOException {
    RecordStore.checkContent(key, content);
    Path t = tmp.resolve("record-" + ProcessHandle.current().pid() + "-" + TEMP_COUNTER.incrementAndGet() + "-"
        + Long.toHexString(System.nanoTime()) + LocalChunkStore.TEMP_SUFFIX);
    try (FileChannel ch = FileChannel.open(t, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW)) {
      ByteBuffer b = ByteBuffer.wrap(content);
      while (b.hasRemaining()) {
        ch.write(b);
      }
      ch.force(true);
    } catch (IOException e) {
      Files.deleteIfExists(t);
      throw Durable.named(e, uri + ": writing record " + key);
    }
    return t;
  }

  @Override
  public boolean create(String key, byte[] content) throws IOException {
    Path f = file(key);
    requireNoLink(f.getParent());
    if (Files.exists(f)) {
      return false;
    }
    RecordStore.checkContent(key, content);
    Path t = null;
    try {
      for (int attempt = 1; ; attempt++) {
        if (!parents(f, attempt)) {
          continue;
        }
        t = t != null ? t : writeTemp(key, content);
        try {
          Files.createLink(f, t);
          break;
        } catch (FileAlreadyExistsException e) {
          return false;
        } catch (NoSuchFileException e) {
          giveUpAfter(attempt, e);
          t = Files.exists(t) ? t : null; // removed as abandoned by a gc with no grace period: written again
        } catch (FileSystemException e) {
          throw Durable.crossDevice(e) ? Durable.splitStore(uri, root, tmp, e) : e;
        }
      }
    } catch (IOException | RuntimeException e) {
      removeEmptyDirectoriesAfter(e, f.getParent());
      throw e;
    } finally {
      if (t != null) {
        Files.deleteIfExists(t);
      }
    }
    Durable.syncDirectory(f.getParent());
    return true;
  }

  /**
   * Makes the directories of a record's path. False if a delete removed one of them meanwhile (it had just been
   * emptied), and the caller makes them again, a bounded number of times.
   */
  private boolean parents(Path f, int attempt) throws IOException {
    try {
      Durable.createDirectoriesIn(root, f.getParent(), uri);
      return true;
    } catch (FileAlreadyExistsException | NoSuchFileException e) {
      giveUpAfter(attempt, e);
      return false;
    }
  }

  /** Rethrows {@code e} once a record's directories were made again {@link #MAX_ATTEMPTS} times. */
  private static void giveUpAfter(int attempt, IOException e) throws IOException {
    if (attempt >= MAX_ATTEMPTS) {
      throw e;
    }
  }

  @Override
  public void replace(String key, byte[] content) throws IOException {
    Path f = file(key);
    RecordStore.checkContent(key, content);
    requireNoLink(f.getParent());
    Path t = null;
    try {
      for (int attempt = 1; ; attempt++) {
        if (!parents(f, attempt)) {
          continue;
        }
        t = t != null ? t : writeTemp(key, content);
        try {
          Files.move(t, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
          break;
        } catch (AtomicMoveNotSupportedException e) {
          throw Durable.splitStore(uri, root, tmp, e);
        } catch (NoSuchFileException e) {
          giveUpAfter(attempt, e);
          t = Files.exists(t) ? t : null; // removed as abandoned by a gc with no grace period: written again
        }
      }
    } catch (IOException | RuntimeException e) {
      removeEmptyDirectoriesAfter(e, f.getParent());
      throw e;
    } finally {
      if (t != null) {
        Files.deleteIfExists(t);
      }
    }
    Durable.syncDirectory(f.getParent());
  }

  @Override
  public Optional<byte[]> read(String key) throws IOException {
    try {
      return Optional.of(Files.readAllBytes(file(key)));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  @Override
  public List<String> list(String prefix) throws IOException {
    int slash = prefix.lastIndexOf('/');
    Path base = slash < 0 ? root : root.resolve(prefix.substring(0, slash));
    if (!base.normalize().startsWith(root)) {
      return List.of();
    }
    requireNoLink(base);
    if (!Files.isDirectory(base)) {
      return List.of();
    }
    List<String> out = new ArrayList<>();
    // base may be records/ itself as a link, which Files.walk would not go into: walk where it leads; links below it
    // are not followed (following them, the walk took a directory a delete removed and another made for a loop); one
    // that leads to no file (a loop, or a link to nothing) is refused as a link to a directory is: it may stand where
    // a directory of records was, and passing over it hid what that held
    Path start = Files.isSymbolicLink(base) ? base.toRealPath() : base;
    try (Stream<Path> s = Files.walk(start)) {
      s.filter(p -> {
        if (Files.isSymbolicLink(p) && !Files.isRegularFile(p)) {
          throw new java.io.UncheckedIOException(linked(p));
        }
        return Files.isRegularFile(p);
      }).forEach(p -> {
        String key = root.relativize(base.resolve(start.relativize(p))).toString()
            .replace(java.io.File.separatorChar, '/');
        if (key.startsWith(prefix)) {
          out.add(key);
        }
      });
    } catch (NoSuchFileException baseRemovedMeanwhile) {
      // its last record was deleted: look again
      return list(prefix);
    } catch (java.io.UncheckedIOException e) {
      if (e.getCause() instanceof NoSuchFileException) {
        return list(prefix);
      }
      throw e.getCause();
    }
    Collections.sort(out);
    return out;
  }

  @Override
  public void delete(String key) throws IOException {
    Path f = file(key);
    requireNoLink(f.getParent());
    if (Files.deleteIfExists(f)) {
      removeEmptyDirectories(f.getParent());
    }
  }

  /**
   * Refuses {@code dir} when it or a directory between it and {@code records/} is a symbolic link: listing through a
   * link to a directory outside the store read the records there (and a link below the directory listed hid the
   * records behind it: a push's lease, from gc), a delete removed files there, and a write left there records that
   * no delete would then remove (a gc's lease, which holds up every push until it expires). {@code records/} itself
   * may be a link (records kept on another volume, with {@code tmp/}).
   *
   * @throws CorruptStoreException naming the link and its target
   */
  private void requireNoLink(Path dir) throws IOException {
    Path at = root;
    for (Path part : root.relativize(dir)) {
      if (part.toString().isEmpty()) {
        return;
      }
      at = at.resolve(part);
      if (Files.isSymbolicLink(at)) {
        throw linked(at);
      }
    }
  }

  private CorruptStoreException linked(Path link) {
    String target;
    try {
      target = String.valueOf(Files.readSymbolicLink(link));
    } catch (IOException e) {
      target = "unreadable";
    }
    return new CorruptStoreException(uri, link + " is a symbolic link (to " + target + ") where the store keeps a"
        + " directory of records; Ferry does not follow links there, since gc would miss the leases behind it and"
        + " deletes would remove files outside the store: " + (Files.exists(link) ? "replace the link with the"
        + " directory it points to" : "it leads to nothing (a loop, or a target that is gone); remove it, or put the"
        + " directory of records it stood for in its place"));
  }

  /**
   * After a failed write, removes the directories made for it; what cannot be removed is told beside {@code e}. The
   * write may have failed making them (a file system out of inodes made {@code records/leases/} and refused
   * {@code push/} in it), so the removal starts at the deepest of them that is there.
   */
  private void removeEmptyDirectoriesAfter(Exception e, Path dir) {
    try {
      while (!dir.equals(root) && !Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
        dir = dir.getParent();
      }
      if (dir.equals(root)) {
        return;
      }
      removeEmptyDirectories(dir);
    } catch (IOException | RuntimeException cleanup) {
      e.addSuppressed(cleanup);
    }
  }

  /**
   * Removes {@code dir} and its parents below the root while they are empty: after a delete of their last record,
   * and after a write that failed (a full disk) in the directories made for it, which nothing would remove later.
   */
  private void removeEmptyDirectories(Path dir) throws IOException {
    try {
      while (!dir.equals(root)) {
        Files.delete(dir);
        dir = dir.getParent();
      }
    } catch (DirectoryNotEmptyException stillUsed) {
      // it holds other records
    } catch (NoSuchFileException removedByAnotherDelete) {
      return;
    }
    try {
      Durable.syncDirectory(dir);
    } catch (NoSuchFileException removedByAnotherDelete) {
      // emptied and removed meanwhile by a delete that syncs its own parent
    }
  }

  /**
   * Removes the directories under {@code records/} that hold nothing and were last modified before {@code olderThan}:
   * a process killed between making a record's directories and linking the record (a push or gc killed as it took
   * its lease) leaves them, and no delete of a record removes them. A create or replace that finds its directory
   * removed makes it again. Best effort: what cannot be removed (a store this user may only read) stays. Returns how
   * many were removed.
   */
  int removeEmptyDirectoriesOlderThan(Instant olderThan) {
    List<Path> dirs;
    try (Stream<Path> s = Files.walk(root)) {
      dirs = s.filter(p -> !p.equals(root) && Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)).toList();
    } catch (IOException | java.io.UncheckedIOException removedMeanwhileOrUnreadable) {
      return 0; // a concurrent delete removed a directory, or this user may not list one: the next open looks again
    }
    int removed = 0;
    for (int i = dirs.size() - 1; i >= 0; i--) { // children before their parents
      Path dir = dirs.get(i);
      try {
        if (Files.getLastModifiedTime(dir, LinkOption.NOFOLLOW_LINKS).toInstant().isBefore(olderThan)) {
          Files.delete(dir);
          removed++;
        }
      } catch (IOException inUseOrRemovedMeanwhileOrReadOnly) {
        // it holds records, another process removed it, or this user may only read the store
      }
    }
    return removed;
  }

  @Override
  public void close() {}
}
