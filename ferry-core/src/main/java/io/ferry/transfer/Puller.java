package io.ferry.transfer;

import io.ferry.chunk.Frame;
import io.ferry.codec.Codec;
import io.ferry.error.CorruptObjectException;
import io.ferry.repo.ObjectDatabase;
import io.ferry.repo.PullOptions;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.SafePaths;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
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
 * Writes a snapshot's files into a directory: plans every chunk, fetches them with the repository's workers, checks
 * each frame's CRC (and with {@code verify} the SHA-256 of every byte), and writes with positional writes into
 * preallocated temporary files that get their final names only when complete (and, with {@link
 * PullOptions#fsync()}, forced to disk). Memory stays bounded: a
 * stored chunk is read as a memory map (local) or a buffer per worker, and compressed chunks decode straight into a
 * map of the destination.
 */
public final class Puller {
  private final ObjectDatabase db;
  private final ExecutorService pool;
  private final TransferListener listener;
  private final ByteBudget budget = ByteBudget.forHeap();

  public Puller(ObjectDatabase db, ExecutorService pool, TransferListener listener) {
    this.db = db;
    this.pool = pool;
    this.listener = listener;
  }

  /** Pulls every file of the snapshot into {@code dest}, replacing files of the same names. */
  public void pull(Snapshot snapshot, ObjectDatabase.Locator locator, Path dest, PullOptions opts)
      throws IOException {
    boolean verify = opts.verify();
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
              writeChunk(locator.locate(c.id()), c, ch, at, verify);
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

  private static final int SLICE = ObjectDatabase.SLICE;

  private void writeChunk(ObjectDatabase.Location loc, ChunkRef c, FileChannel out, long at, boolean verify)
      throws IOException {
    String where = db.describe(loc);
    if (!loc.packed()) {
      ByteBuffer head = db.store().read(loc.object(), 0, Frame.HEADER_LENGTH);
      Frame.Header h = Frame.parseHeader(head, c.id(), where);
      if (h.codecId() == io.ferry.codec.NoneCodec.ID) {
        if (h.rawLength() != c.length() || h.storedLength() != c.length()) {
          throw new CorruptObjectException(c.id(), where,
              "frame holds " + h.rawLength() + " bytes, the snapshot expects " + c.length());
        }
        streamUncompressed(loc, h, out, at, verify, where);
        listener.progress(c.length());
        return;
      }
    }
    ByteBuffer frame = db.readFrame(loc);
    Frame.Header h = Frame.parseHeader(frame, c.id(), where);
    ByteBuffer payload = frame.duplicate().position(frame.position() + Frame.HEADER_LENGTH);
    Frame.checkPayload(h, payload, c.id(), where);
    if (h.rawLength() != c.length()) {
      throw new CorruptObjectException(c.id(), where,
          "frame holds " + h.rawLength() + " bytes, the snapshot expects " + c.length());
    }
    Codec codec = db.codecs().byId(h.codecId());
    if (codec.id() == io.ferry.codec.NoneCodec.ID) {
      if (verify) {
        db.checkSha(loc, payload);
      }
      write(payload.duplicate(), out, at);
    } else {
      MappedByteBuffer dst = out.map(FileChannel.MapMode.READ_WRITE, at, c.length());
      try {
        codec.decode(payload, dst);
      } catch (IOException e) {
        throw new CorruptObjectException(c.id(), where, "codec " + codec.name() + ": " + e.getMessage());
      }
      if (verify) {
        db.checkSha(loc, dst.flip());
      }
    }
    listener.progress(c.length());
  }

  /**
   * Copies an uncompressed loose chunk in slices through one reused buffer per worker: read, checksum (and hash),
   * write. Memory stays at one slice per worker and nothing is mapped. The bytes reach the temporary file before the
   * checksum of the whole payload is known; a mismatch fails the pull, and the temporary file is removed, so no
   * corrupt byte ever gets a final name.
   */
  private void streamUncompressed(ObjectDatabase.Location loc, Frame.Header h, FileChannel out, long at,
      boolean verify, String where) throws IOException {
    ByteBuffer buf = db.slice();
    java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
    java.security.MessageDigest sha = verify ? io.ferry.chunk.ChunkId.sha256() : null;
    long n = h.storedLength();
    for (long off = 0; off < n; off += SLICE) {
      buf.clear().limit((int) Math.min(SLICE, n - off));
      db.store().readInto(loc.object(), Frame.HEADER_LENGTH + off, buf);
      buf.flip();
      crc.update(buf.duplicate());
      if (sha != null) {
        sha.update(buf.duplicate());
      }
      write(buf, out, at + off);
    }
    if ((int) crc.getValue() != h.payloadCrc()) {
      throw new CorruptObjectException(loc.chunk(), where, String.format(
          "checksum failed (hardware problem?) : expected=%08x actual=%08x", h.payloadCrc(), (int) crc.getValue()));
    }
    if (sha != null) {
      io.ferry.chunk.ChunkId actual = io.ferry.chunk.ChunkId.fromBytes(sha.digest());
      if (!actual.equals(loc.chunk())) {
        throw new CorruptObjectException(loc.chunk(), where, "content hashes to " + actual);
      }
    }
  }

  private static void write(ByteBuffer src, FileChannel out, long at) throws IOException {
    long pos = at;
    while (src.hasRemaining()) {
      pos += out.write(src, pos);
    }
  }
}
