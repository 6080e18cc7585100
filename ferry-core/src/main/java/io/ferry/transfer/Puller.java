package io.ferry.transfer;

import io.ferry.error.InvalidInputException;
import io.ferry.objects.ObjectDatabase;
import io.ferry.read.ChunkBuffers;
import io.ferry.read.ChunkOwners;
import io.ferry.read.ChunkReader;
import io.ferry.read.Locator;
import io.ferry.store.FileWrites;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.SafePaths;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;

/**
 * Writes a snapshot's files into a directory DEST, and nowhere else.
 *
 * <p><b>Containment.</b> DEST itself may be a symbolic link to a directory (the caller's choice, as with {@code cp});
 * below it, every existing path component the version needs as a directory is checked without following links: a
 * symbolic link or any other non-directory there is refused with an {@link InvalidInputException} naming it, before
 * anything is written, and so is a directory where the version has a file. Temporary files are created with {@code
 * CREATE_NEW} and no-follow; a symbolic link at a file's own name is replaced by the file (a rename never follows a
 * link), and what it pointed to is left alone. The checks assume no other process swaps directories for links while
 * the pull runs (Java has no {@code openat}); docs/threat-model.md says so.
 *
 * <p><b>Writing.</b> Every file is first written under a short temporary name ({@code .ferry-<16 hex>.tmp}, so any
 * file name the file system takes can be pulled) in its final directory, preallocated and filled by the repository's
 * workers with {@link ChunkReader#copyTo(io.ferry.read.Location, long, ChunkReader.Check,
 * ChunkReader.PositionalSink, long, ChunkReader.Scratch)}, which checks each frame and CRC (with {@link
 * PullOptions#verify()} the SHA-256 of every byte too) and writes with positional writes, never through a memory map:
 * a full disk is an {@link IOException} naming the file, not a fault. Memory stays bounded: the chunks in flight
 * share one pool of buffers.
 *
 * <p><b>All files or none.</b> Once every file is complete (and, with {@link PullOptions#fsync()}, forced to disk),
 * each existing file of the same name is kept under a second, temporary name (a hard link; a rename where the file
 * system has no hard links) and the new file renamed into place, atomically replacing it. If any step fails, what
 * was done is undone in reverse (originals get their names back, new files are removed), the temporary files and the
 * directories the pull created (DEST included) are removed, and DEST is as it was; if an undo step fails too, the
 * error lists exactly which files changed and where their previous content is. On success the second names are
 * removed.
 *
 * <p>A failure in a worker, {@link Error}s included, fails the pull: no failure leaves it waiting.
 */
public final class Puller {
  /**
   * Small chunks pulled by one task, at most ({@link #groupEnd}): a task per tiny chunk cost a thread hand-off and a
   * reopening of the file.
   */
  static final int GROUP_BYTES = 1 << 20;
  static final int GROUP_CHUNKS = 256;

  /**
   * Renames a file or link to another name in the same directory, replacing a file or link there, atomically and
   * without following links (rename(2)). A seam so that tests can make a rename fail.
   */
  @FunctionalInterface
  interface Renamer extends Placement.Renamer {}

  static final Renamer ATOMIC_RENAME = Placement.ATOMIC::rename;

  private final ChunkReader reader;
  private final ExecutorService pool;
  private final TransferListener listener;
  private final Renamer renamer;
  private final long flushStep;

  public Puller(ObjectDatabase db, ExecutorService pool, TransferListener listener) {
    this(db, pool, listener, ATOMIC_RENAME, FlushBehind.stepFromSystemProperty());
  }

  Puller(ObjectDatabase db, ExecutorService pool, TransferListener listener, Renamer renamer) {
    this(db, pool, listener, renamer, FlushBehind.stepFromSystemProperty());
  }

  /** {@code flushStep}: see {@link FlushBehind}; 0 turns it off. */
  Puller(ObjectDatabase db, ExecutorService pool, TransferListener listener, Renamer renamer, long flushStep) {
    this.reader = db.reader();
    this.pool = pool;
    this.listener = listener;
    this.renamer = renamer;
    this.flushStep = flushStep;
  }

  /** A file written under its temporary name, waiting for its final one. */
  private record Staged(FileEntry entry, Path target, Path temp, OpenWhileUsed file, boolean resumed,
      FlushBehind.File flush) {}

  /**
   * Pulls every file of the snapshot into {@code dest} (created if missing), replacing files of the same names; all
   * of them or, on failure, none (see the class comment).
   *
   * @throws InvalidInputException if DEST is not a directory, or a link or non-directory is where the version has a
   *     directory, or a directory is where it has a file
   */
  public void pull(Snapshot snapshot, Locator locator, Path dest, PullOptions opts) throws IOException {
    pull(snapshot, locator, dest, opts, true);
  }

  /**
   * As {@link #pull(Snapshot, Locator, Path, PullOptions)}; with {@code wholeVersion} false (a pull of some files of
   * a version) the other files in DEST are not looked at and never removed.
   */
  public void pull(Snapshot snapshot, Locator locator, Path dest, PullOptions opts, boolean wholeVersion)
      throws IOException {
    ChunkReader.Check check = opts.verify() ? ChunkReader.Check.CONTENT : ChunkReader.Check.FRAME;
    for (FileEntry f : snapshot.files()) {
      SafePaths.check(f.path(), "snapshot");
      String name = f.path().substring(f.path().lastIndexOf('/') + 1);
      if (SafePaths.RESERVED_NAME.matcher(name).matches()) {
        // a push never stores such a name: pulls keep their lock and temporary files under it, and remove those
        // they find, so the file would not stay in DEST
        throw new InvalidInputException("snapshot: file '" + f.path() + "' has a name reserved for the lock and"
            + " temporary files of pulls; nothing was written: pull the other files with --exclude '" + f.path()
            + "'");
      }
    }
    Set<String> paths = new HashSet<>();
    snapshot.files().forEach(f -> paths.add(f.path()));
    for (FileEntry f : snapshot.files()) {
      for (int slash = f.path().indexOf('/'); slash >= 0; slash = f.path().indexOf('/', slash + 1)) {
        String dir = f.path().substring(0, slash);
        if (paths.contains(dir)) {
          // no tree holds both (a push cannot make such a snapshot; a store another client wrote can)
          throw new InvalidInputException("snapshot: '" + dir + "' is both a file and a directory of the version"
              + " (it holds the file '" + f.path() + "'); nothing was written");
        }
      }
    }
    if (Files.exists(dest) && !Files.isDirectory(dest)) {
      throw new InvalidInputException(dest + ": exists and is not a directory; pull writes into a directory");
    }
    Destination.check(dest, snapshot.files().stream().map(FileEntry::path).toList());
    ChunkReader.Scratch scratch = ChunkBuffers.forFiles(snapshot.files());
    List<Path> madeDirs = new ArrayList<>();
    List<Staged> staged = new ArrayList<>();
    DestinationLock lock = null;
    FlushBehind flushBehind = new FlushBehind(flushStep);
    try {
      makeDest(dest, madeDirs);
      // from before DEST is looked at until the last rename: a second pull into DEST fails here, having written
      // nothing
      lock = DestinationLock.take(dest);
      Survey survey = Survey.of(snapshot, dest, wholeVersion, opts.existing() == PullOptions.Existing.MERGE);
      if (opts.existing() == PullOptions.Existing.REFUSE && survey.conflicts()) {
        throw new InvalidInputException(survey.refusal(dest, opts.command()));
      }
      survey.removeLeftovers();
      Set<Path> checkedDirs = new HashSet<>();
      for (FileEntry f : snapshot.files()) {
        if (survey.identical().contains(f.path())) {
          continue;
        }
        Path target = makeParents(dest, f.path(), checkedDirs, madeDirs);
        Path temp = target.resolveSibling(Survey.tempName(f));
        boolean resumed = Survey.resumable(temp, f);
        if (!resumed) {
          // sized and closed at once: a file not being written holds no descriptor, so a model of thousands of
          // files pulls under any ulimit; each task opens it again
          FileChannel ch = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
              LinkOption.NOFOLLOW_LINKS);
          Staged created;
          try {
            created = new Staged(f, target, temp, reopened(temp, target, f.size()), false,
                flushBehind.track(temp, f.size()));
          } catch (IOException | RuntimeException e) {
            ch.close();
            Files.deleteIfExists(temp);
            throw e;
          }
          staged.add(created);
          try (ch) {
            if (f.size() > 0) {
              sink(ch, target).write(ByteBuffer.allocate(1), f.size() - 1);
            }
          }
        } else {
          staged.add(new Staged(f, target, temp, reopened(temp, target, f.size()), true, null));
        }
      }
      listener.phase("pull", snapshot.logicalBytes());
      listener.files(survey.identical().size() + staged.size());
      for (FileEntry f : snapshot.files()) {
        if (survey.identical().contains(f.path())) {
          listener.progress(f.size());
          listener.fileDone();
        }
      }
      TaskGroup tasks = new TaskGroup(pool);
      List<List<Group>> byFile = new ArrayList<>();
      for (Staged s : staged) {
        List<Group> groups = new ArrayList<>();
        byFile.add(groups);
        long[] offsets = s.entry.chunkOffsets();
        java.util.concurrent.atomic.AtomicInteger chunksLeft = new java.util.concurrent.atomic.AtomicInteger(
            s.entry.chunks().size());
        if (s.entry.chunks().isEmpty()) {
          listener.fileDone();
        }
        List<ChunkRef> chunks = s.entry.chunks();
        for (int first = 0; first < chunks.size(); ) {
          int from = first;
          int to = groupEnd(chunks, first);
          first = to;
          long bytes = offsets[to] - offsets[from];
          groups.add(new Group(bytes, () -> {
            long wrote = s.file.use(ch -> {
              ChunkReader.PositionalSink sink = sink(ch, s.target);
              long n = 0;
              for (int i = from; i < to; i++) {
                ChunkRef c = chunks.get(i);
                if (s.resumed && Survey.holds(ch, offsets[i], c)) {
                  continue;
                }
                try {
                  reader.copyTo(locator.locate(c.id()), c.length(), check, sink, offsets[i], scratch);
                } catch (IOException e) {
                  throw ChunkOwners.in(e, s.entry, offsets[i], offsets[i + 1]);
                }
                n += c.length();
              }
              return n;
            });
            if (wrote > 0 && s.flush != null) {
              s.flush.wrote(wrote);
            }
            for (int i = from; i < to; i++) {
              listener.progress(chunks.get(i).length());
            }
            if (chunksLeft.addAndGet(from - to) == 0) {
              listener.fileDone();
            }
          }));
        }
      }
      for (Group g : interleaved(byFile, Group::bytes)) {
        tasks.submit(g.task());
      }
      tasks.await("pulling into " + dest);
      flushBehind.close();
      if (opts.fsync()) {
        for (Staged s : staged) {
          try {
            s.file.use(ch -> {
              ch.force(true);
              return null;
            });
          } catch (IOException e) {
            throw new IOException(s.target + ": " + e.getMessage(), e);
          }
        }
      }
      commit(staged, dest);
      if (opts.existing() == PullOptions.Existing.FORCE) {
        survey.removeOthers(dest);
      }
      DestinationLock done = lock;
      lock = null;
      done.close();
    } catch (Throwable t) {
      flushBehind.close();
      discard(staged, lock, madeDirs, t);
      throw t;
    }
  }

  // ---------------------------------------------------------------- containment

  /**
   * Makes sure every directory of {@code path} below DEST exists as a real directory (created if missing, recorded
   * in {@code made}); returns the file's target path.
   */
  private static Path makeParents(Path dest, String path, Set<Path> checkedDirs, List<Path> made) throws IOException {
    String[] parts = path.split("/");
    Path p = dest;
    for (int i = 0; i < parts.length - 1; i++) {
      p = p.resolve(parts[i]);
      if (checkedDirs.contains(p)) {
        continue;
      }
      BasicFileAttributes a = attributes(p);
      if (a == null) {
        try {
          Files.createDirectory(p);
          made.add(p);
          checkedDirs.add(p);
          continue;
        } catch (FileAlreadyExistsException raced) {
          a = attributes(p);
          if (a == null) {
            throw raced;
          }
        }
      }
      Destination.requireDirectory(p, a, path);
      checkedDirs.add(p);
    }
    return p.resolve(parts[parts.length - 1]);
  }

  private static InvalidInputException directoryInTheWay(Path target, String file) {
    return Placement.directoryInTheWay(target, file);
  }

  /** The attributes of {@code p} itself (a link is not followed), or null if nothing is there. */
  private static BasicFileAttributes attributes(Path p) throws IOException {
    try {
      return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return null;
    }
  }

  /** Creates DEST and its missing parents (links above DEST are followed: the caller chose that path). */
  private static void makeDest(Path dest, List<Path> made) throws IOException {
    List<Path> missing = new ArrayList<>();
    for (Path p = dest.toAbsolutePath(); p != null && !Files.isDirectory(p); p = p.getParent()) {
      missing.add(p);
    }
    for (int i = missing.size() - 1; i >= 0; i--) {
      try {
        Files.createDirectory(missing.get(i));
        made.add(missing.get(i));
      } catch (FileAlreadyExistsException e) {
        Path p = missing.get(i);
        if (!Files.isDirectory(p)) {
          if (Files.isSymbolicLink(p)) {
            String to;
            try {
              to = " to " + Files.readSymbolicLink(p);
            } catch (IOException unreadable) {
              to = "";
            }
            throw new InvalidInputException(p + ": is a symbolic link" + to + ", which leads to no directory (nothing"
                + " is there, or not a directory); pull into a directory, or make the one it names");
          }
          throw new InvalidInputException(p + ": exists and is not a directory");
        }
      }
    }
  }

  /** One task of a pull: a group of consecutive chunks of one file, and the bytes they make. */
  private record Group(long bytes, TaskGroup.Task task) {}

  /**
   * The tasks of every file in the order a pull submits them: each time the next task of the file with the fewest
   * bytes submitted so far (the earlier file on a tie), so that the workers running at once write different files
   * whenever the model has several. A buffered write takes its file's inode lock for the whole copy (ext4, xfs), so two
   * workers writing one file take turns and the waiting one spins on the lock's owner: in a default-codec pull of a
   * two-shard model submitted file after file, {@code rwsem_spin_on_owner} was 15% of the samples, and 2% with the
   * files interleaved. Each file is still written front to back.
   */
  static <T> List<T> interleaved(List<List<T>> byFile, java.util.function.ToLongFunction<T> bytes) {
    List<T> out = new ArrayList<>();
    int[] next = new int[byFile.size()];
    long[] submitted = new long[byFile.size()];
    java.util.PriorityQueue<Integer> fewest = new java.util.PriorityQueue<>((a, b) -> submitted[a] != submitted[b]
        ? Long.compare(submitted[a], submitted[b]) : Integer.compare(a, b));
    for (int f = 0; f < byFile.size(); f++) {
      if (!byFile.get(f).isEmpty()) {
        fewest.add(f);
      }
    }
    while (!fewest.isEmpty()) {
      int f = fewest.poll();
      T task = byFile.get(f).get(next[f]++);
      out.add(task);
      submitted[f] += bytes.applyAsLong(task);
      if (next[f] < byFile.get(f).size()) {
        fewest.add(f);
      }
    }
    return out;
  }

  /**
   * The end (exclusive) of the group of chunks from {@code first} that one task pulls: consecutive chunks of the file
   * while they add up to at most {@link #GROUP_BYTES} and {@link #GROUP_CHUNKS}; a bigger chunk is a group of its own.
   * Measured on a pull of 300,000 tensors of 8 bytes (a chunk each): one task per chunk 8.5 s, mostly the hand-off of
   * each task and the temporary file opened, checked and closed again for each.
   */
  static int groupEnd(List<ChunkRef> chunks, int first) {
    long bytes = chunks.get(first).length();
    int end = first + 1;
    while (end < chunks.size() && end - first < GROUP_CHUNKS && bytes + chunks.get(end).length() <= GROUP_BYTES) {
      bytes += chunks.get(end).length();
      end++;
    }
    return end;
  }

  /**
   * A pull's temporary file, opened again (read and write, never through a link) by each task that writes it, and
   * checked to be the very file the pull created or resumes: its file key (device and inode) is taken now and
   * compared after every opening, with its size, so a name swapped for another file (a hard link to a file elsewhere,
   * say) by whoever else writes in DEST is refused, not written. (A new file given the freed inode of the deleted
   * one passes the key check: writing into it reaches nothing outside DEST, and one of another size is refused.)
   */
  private static OpenWhileUsed reopened(Path temp, Path target, long size) throws IOException {
    Object key = Files.readAttributes(temp, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
    return new OpenWhileUsed(() -> {
      FileChannel ch;
      try {
        ch = FileChannel.open(temp, StandardOpenOption.WRITE, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
      } catch (NoSuchFileException e) {
        throw new IOException(target + ": its temporary file " + temp.getFileName()
            + " was removed while the pull wrote it", e);
      }
      BasicFileAttributes now = attributes(temp);
      if (now == null || key != null && !key.equals(now.fileKey()) || now.size() != size) {
        ch.close();
        throw new IOException(target + ": its temporary file " + temp.getFileName()
            + " was replaced by another file while the pull wrote it");
      }
      return ch;
    });
  }

  /** Positional writes into a temporary file; a failure (a full disk) names the file being pulled. */
  private static ChunkReader.PositionalSink sink(FileChannel ch, Path target) {
    return (src, at) -> {
      try {
        FileWrites.write(src, ch, at);
      } catch (ClosedChannelException e) {
        throw e;
      } catch (IOException e) {
        throw new IOException(target + ": " + e.getMessage(), e);
      }
    };
  }

  // ---------------------------------------------------------------- commit, undo, clean-up

  /** Renames the staged files into place, all or none ({@link Placement}). */
  private void commit(List<Staged> staged, Path dest) throws IOException {
    List<Placement.Move> moves = new ArrayList<>(staged.size());
    for (Staged s : staged) {
      moves.add(new Placement.Move(s.temp, s.target, s.entry.path()));
    }
    Placement.commit(moves, dest, renamer, "pull");
  }

  /** After a failure: closes and removes the temporary files, then the directories the pull made (if empty). */
  private static void discard(List<Staged> staged, DestinationLock lock, List<Path> madeDirs, Throwable failure) {
    for (Staged s : staged) {
      try {
        Files.deleteIfExists(s.temp);
      } catch (IOException e) {
        failure.addSuppressed(e);
      }
    }
    if (lock != null) {
      try {
        lock.close();
      } catch (IOException e) {
        failure.addSuppressed(e);
      }
    }
    for (int i = madeDirs.size() - 1; i >= 0; i--) {
      try {
        Files.deleteIfExists(madeDirs.get(i));
      } catch (DirectoryNotEmptyException keep) {
        // a file the pull could not take back, or one another process put there: keep it
      } catch (IOException e) {
        failure.addSuppressed(e);
      }
    }
  }
}
