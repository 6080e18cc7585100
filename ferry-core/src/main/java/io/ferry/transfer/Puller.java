package io.ferry.transfer;

import io.ferry.error.CorruptObjectException;
import io.ferry.read.ChunkReader;
import io.ferry.read.Locator;
import io.ferry.objects.ObjectDatabase;
import io.ferry.transfer.PullOptions;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.SafePaths;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;

/**
 * Writes a snapshot's files into a directory: plans every chunk and has the repository's workers copy each one with
 * {@link ChunkReader#copyTo(io.ferry.read.Location, long, ChunkReader.Check, FileChannel, long)}, which checks its
 * frame and CRC (and with {@link PullOptions#verify()} the SHA-256 of every byte) on the way, into preallocated
 * temporary files that get their final names only when complete (and, with {@link PullOptions#fsync()}, forced to
 * disk). Memory stays bounded: the byte budget limits the chunks in flight, uncompressed chunks stream through one
 * reused buffer per worker, and compressed chunks decode straight into a map of the destination.
 */
public final class Puller {
  private final ChunkReader reader;
  private final ExecutorService pool;
  private final TransferListener listener;
  private final ByteBudget budget = ByteBudget.forHeap();

  public Puller(ObjectDatabase db, ExecutorService pool, TransferListener listener) {
    this.reader = db.reader();
    this.pool = pool;
    this.listener = listener;
  }

  /** Pulls every file of the snapshot into {@code dest}, replacing files of the same names. */
  public void pull(Snapshot snapshot, Locator locator, Path dest, PullOptions opts)
      throws IOException {
    ChunkReader.Check check = opts.verify() ? ChunkReader.Check.CONTENT : ChunkReader.Check.FRAME;
    for (FileEntry f : snapshot.files()) {
      SafePaths.check(f.path(), "snapshot");
    }
    List<Path> madeDirs = new ArrayList<>();
    makeDirs(dest, madeDirs);
    listener.phase("pull", snapshot.logicalBytes());
    List<Path> temps = new ArrayList<>();
    List<FileChannel> open = new ArrayList<>();
    try {
      List<Future<?>> futures = new ArrayList<>();
      List<Path> finals = new ArrayList<>();
      for (FileEntry f : snapshot.files()) {
        Path target = dest.resolve(f.path());
        if (!target.normalize().startsWith(dest.normalize())) {
          throw new CorruptObjectException(null, "snapshot", "file path escapes the destination: " + f.path());
        }
        makeDirs(target.getParent(), madeDirs);
        Path tmp = target.resolveSibling("." + target.getFileName() + ".ferry-" + UUID.randomUUID() + ".tmp");
        temps.add(tmp);
        finals.add(target);
        FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
            StandardOpenOption.WRITE);
        open.add(ch);
        if (f.size() > 0) {
          ch.write(ByteBuffer.allocate(1), f.size() - 1);
        }
        long[] offsets = f.chunkOffsets();
        for (int i = 0; i < f.chunks().size(); i++) {
          ChunkRef c = f.chunks().get(i);
          long at = offsets[i];
          futures.add(pool.submit(() -> {
            int taken = budget.acquire(c.length());
            try {
              reader.copyTo(locator.locate(c.id()), c.length(), check, ch, at);
              listener.progress(c.length());
            } finally {
              budget.release(taken);
            }
            return null;
          }));
        }
      }
      for (Future<?> fu : futures) {
        try {
          Futures.await(fu, "pulling");
        } catch (IOException | RuntimeException e) {
          for (Future<?> other : futures) {
            other.cancel(false);
          }
          for (Future<?> other : futures) {
            try {
              other.get();
            } catch (Exception ignored) {
              // the first failure is the one reported
            }
          }
          throw e;
        }
      }
      for (int i = 0; i < finals.size(); i++) {
        if (opts.fsync()) {
          open.get(i).force(true);
        }
        open.get(i).close();
        Files.move(temps.get(i), finals.get(i), StandardCopyOption.ATOMIC_MOVE,
            StandardCopyOption.REPLACE_EXISTING);
      }
      temps.clear();
      madeDirs.clear();
    } finally {
      for (FileChannel ch : open) {
        ch.close();
      }
      for (Path t : temps) {
        Files.deleteIfExists(t);
      }
      // a failed pull also removes the directories it created, deepest first (only if empty)
      for (int i = madeDirs.size() - 1; i >= 0; i--) {
        try {
          Files.deleteIfExists(madeDirs.get(i));
        } catch (java.nio.file.DirectoryNotEmptyException keep) {
          // something else put a file there meanwhile: keep it
        }
      }
    }
  }

  /** Creates a directory and its missing parents, recording those it created (outermost first). */
  private static void makeDirs(Path dir, List<Path> made) throws IOException {
    List<Path> missing = new ArrayList<>();
    for (Path p = dir.toAbsolutePath(); p != null && !Files.isDirectory(p); p = p.getParent()) {
      missing.add(p);
    }
    for (int i = missing.size() - 1; i >= 0; i--) {
      try {
        Files.createDirectory(missing.get(i));
        made.add(missing.get(i));
      } catch (java.nio.file.FileAlreadyExistsException e) {
        if (!Files.isDirectory(missing.get(i))) {
          throw new io.ferry.error.InvalidInputException(missing.get(i) + " exists and is not a directory");
        }
      }
    }
  }
}
