package io.ferry.store.local;

import io.ferry.id.ChunkId;
import io.ferry.error.CorruptRefException;
import io.ferry.error.InvalidInputException;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import io.ferry.store.refs.RefLogFormat;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.Stream;

/**
 * The refs of a {@link LocalBackend}. <b>The ref's log is the ref</b>: {@code refs/<name>.log} is append-only, one
 * {@link RefLogFormat} line per move, and the ref's value is the {@code new} id of the last valid line, found by
 * reading the file backwards from its end (constant time whatever the length of the log).
 *
 * <p>{@link #compareAndSet} takes an in-JVM lock (striped by name) and then an OS advisory lock on {@code
 * refs/<name>.lock}, re-reads the value under both, compares, appends one line and forces it to disk before releasing.
 * A crash during the append leaves a torn last line (no newline, or zeros where sectors were not written): readers
 * skip it and the next writer truncates it under the lock, so a crash at any point leaves either the old or the new
 * value; a whole last line that is not an entry is damage ({@link RefLogFormat#wholeButDamaged}). OS locks are
 * released by the kernel when a process dies, so a crash never leaves a ref locked. The lock is on a separate file
 * that only writers open, because closing any handle of a file drops the process's POSIX locks on that file; and the
 * lock file is opened and closed per move under the stripe lock, so open handles do not grow with the number of refs.
 * Hence: use one {@code LocalBackend} per store in one JVM. A second one is still excluded (the JVM reports the
 * overlap and the move waits), but its closing of a lock file may drop the OS lock held by the first, letting a third
 * process in.
 *
 * <p>A log with other names (a store copied with hard links, {@code cp -al}) gets a file of its own before a move
 * appends to it, so that the move changes this store only.
 *
 * <p>Outcomes that change nothing ({@link CasResult#LOCK_FAILURE}, {@link CasResult#NO_CHANGE}) write nothing and
 * create no file. A move to the value the ref already has is {@code NO_CHANGE} and is not logged.
 *
 * <p>Names map to paths directly ({@code org/llama/tags/prod} becomes {@code refs/org/llama/tags/prod.log}); a
 * model part ending in {@code .log} or {@code .lock} would collide with a file and is refused.
 *
 * <p>Thread-safe; safe to share one store between processes.
 */
final class LocalRefStore implements RefStore {
  private static final String LOG = ".log";
  private static final String LOCK = ".lock";
  private static final int STRIPES = 64;
  private static final int FIRST_TAIL_WINDOW = 4096;

  private final Path refs;
  private final String uri;
  private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];
  private volatile boolean closed;
  /** Where {@link #refs} is once links are resolved; found on first use. */
  private volatile Path realRefs;

  LocalRefStore(Path refs, String uri) {
    this.refs = refs;
    this.uri = uri;
    for (int i = 0; i < STRIPES; i++) {
      stripes[i] = new ReentrantLock();
    }
  }

  private Path file(String name, String suffix) {
    return refs.resolve(name + suffix);
  }

  private static String checkName(String name) throws InvalidInputException {
    RefNames.checkRef(name);
    String[] parts = name.split("/");
    for (int i = 0; i < parts.length - 1; i++) {
      if (parts[i].endsWith(LOG) || parts[i].endsWith(LOCK)) {
        throw new InvalidInputException("ref name '" + name + "' cannot be stored in a local store: its part '"
            + parts[i] + "' ends with " + LOG + " or " + LOCK + ", which would collide with a ref's file");
      }
    }
    return name;
  }

  @Override
  public Optional<ChunkId> get(String name) throws IOException {
    ensureOpen();
    checkName(name);
    if (!isLog(name, file(name, LOG))) {
      Durable.requireBase(refs, uri);
      return Optional.empty();
    }
    FileChannel ch;
    try {
      ch = FileChannel.open(file(name, LOG), StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      Durable.requireBase(refs, uri);
      return Optional.empty();
    }
    try (ch) {
      Tail t = readTail(name, ch);
      return Optional.ofNullable(t.last == null ? null : t.last.newId());
    }
  }

  @Override
  public CasResult compareAndSet(String name, ChunkId expected, ChunkId next, RefLogEntry entry) throws IOException {
    ensureOpen();
    checkName(name);
    Objects.requireNonNull(entry, "entry");
    if (!Objects.equals(entry.oldId(), expected) || !Objects.equals(entry.newId(), next)) {
      throw new IllegalArgumentException("log entry " + entry + " does not describe the move of '" + name + "' from "
          + expected + " to " + next);
    }
    Path log = file(name, LOG);
    if (!isLog(name, log)) {
      if (expected != null) {
        return CasResult.LOCK_FAILURE;
      }
      if (next == null) {
        return CasResult.NO_CHANGE;
      }
    }
    ReentrantLock stripe = stripes[Math.floorMod(name.hashCode(), STRIPES)];
    stripe.lock();
    try {
      if (expected != null && !isLog(name, log)) {
        return CasResult.LOCK_FAILURE;
      }
      try (FileChannel lock = lockedChannel(name)) {
        return moveLocked(name, log, expected, next, entry);
      }
    } finally {
      stripe.unlock();
    }
  }

  private CasResult moveLocked(String name, Path log, ChunkId expected, ChunkId next, RefLogEntry entry)
      throws IOException {
    boolean created = !isLog(name, log);
    if (created && (expected != null || next == null)) {
      return expected != null ? CasResult.LOCK_FAILURE : CasResult.NO_CHANGE;
    }
    try (FileChannel ch = created
        ? FileChannel.open(log, StandardOpenOption.READ, StandardOpenOption.WRITE, StandardOpenOption.CREATE,
            LinkOption.NOFOLLOW_LINKS)
        : FileChannel.open(log, StandardOpenOption.READ, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
      Tail t = readTail(name, ch);
      ChunkId current = t.last == null ? null : t.last.newId();
      if (!Objects.equals(current, expected)) {
        return CasResult.LOCK_FAILURE;
      }
      if (Objects.equals(current, next)) {
        return CasResult.NO_CHANGE;
      }
      if (!created && hasOtherNames(log)) {
        try (FileChannel own = ownCopy(name, log, ch, t.validEnd)) {
          return append(name, log, own, false, t.validEnd, t.validEnd, current, next, entry);
        }
      }
      return append(name, log, ch, created, t.validEnd, t.size, current, next, entry);
    }
  }

  /** Appends the move's entry at {@code validEnd} (cutting a torn tail first); takes it back if the write fails. */
  private CasResult append(String name, Path log, FileChannel ch, boolean created, long validEnd, long size,
      ChunkId current, ChunkId next, RefLogEntry entry) throws IOException {
    if (validEnd < size) {
      ch.truncate(validEnd);
    }
    ByteBuffer line = ByteBuffer.wrap(RefLogFormat.encode(entry));
    long pos = validEnd;
    try {
      while (line.hasRemaining()) {
        pos += ch.write(line, pos);
      }
      ch.force(created);
      if (created) {
        Durable.syncDirectory(log.getParent());
      }
    } catch (IOException e) {
      IOException named = Durable.named(e, uri + ": moving ref '" + name + "'");
      undoAppend(ch, log, created, validEnd, named);
      throw named;
    }
    if (current == null) {
      return CasResult.NEW;
    }
    return next == null ? CasResult.DELETED : CasResult.UPDATED;
  }

  /**
   * Whether the log has other names: a store copied with hard links ({@code cp -al}, a backup made by linking) shares
   * each log with the copy, and appending in place would move the ref in both stores. False where the file system
   * keeps no link counts.
   */
  private static boolean hasOtherNames(Path log) throws IOException {
    try {
      return ((Number) Files.getAttribute(log, "unix:nlink", LinkOption.NOFOLLOW_LINKS)).longValue() > 1;
    } catch (UnsupportedOperationException | IllegalArgumentException noLinkCounts) {
      return false;
    }
  }

  /**
   * Gives a log with other names a file of its own before a move appends to it: its valid bytes go to {@code
   * <name>.log.tmp} beside it, forced, which then takes the log's name by an atomic rename, so readers see the old
   * log or the copy, both with the same entries. Runs under the ref's lock, so the fixed name is this move's alone
   * (one a crash left is removed first, and the copy is created anew); the other names keep the old file as it was.
   * Returns the copy, open for the append.
   */
  private FileChannel ownCopy(String name, Path log, FileChannel shared, long validEnd) throws IOException {
    Path copy = log.resolveSibling(log.getFileName() + ".tmp");
    FileChannel own = null;
    try {
      // what a crash left at that name goes first, by unlinking it: never written through, should it be a link
      Files.deleteIfExists(copy);
      own = FileChannel.open(copy, StandardOpenOption.READ, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW);
      for (long at = 0; at < validEnd; ) {
        at += shared.transferTo(at, validEnd - at, own);
      }
      own.force(true);
      Files.move(copy, log, StandardCopyOption.ATOMIC_MOVE);
      Durable.syncDirectory(log.getParent());
      return own;
    } catch (IOException e) {
      if (own != null) {
        own.close();
      }
      IOException named = Durable.named(e, uri + ": moving ref '" + name + "' (its log " + log + " has other"
          + " names, as in a store copied with hard links: the move gives it a file of its own first)");
      try {
        Files.deleteIfExists(copy);
      } catch (IOException cleanup) {
        named.addSuppressed(cleanup);
      }
      throw named;
    }
  }

  /**
   * Takes back an append that failed (a full disk that took part of the line, a failed force): the move is reported
   * as failed, so the log must not keep it. A push whose move failed removes the objects it wrote, and an entry that
   * reached the file (whole, if only the force failed) would name a version that is gone; a torn one changed the
   * store's files. A log this move created is removed; another is cut back to where the append began. Runs under the
   * ref's lock; what cannot be undone is added to {@code failure}.
   */
  private static void undoAppend(FileChannel ch, Path log, boolean created, long validEnd, IOException failure) {
    try {
      if (created) {
        Files.deleteIfExists(log);
      } else {
        ch.truncate(validEnd);
        ch.force(false);
      }
    } catch (IOException | RuntimeException e) {
      failure.addSuppressed(e);
    }
  }

  /**
   * Opens the ref's lock file and takes the OS lock on it; the caller holds the ref's stripe lock, so no other thread
   * of this store has the lock file open, and closing the channel afterwards cannot drop a lock this process holds.
   * Another {@code LocalBackend} of the same store in this JVM shows up as {@link OverlappingFileLockException}: then
   * wait, keeping the channel open, until it releases.
   */
  private FileChannel lockedChannel(String name) throws IOException {
    Path lockFile = file(name, LOCK);
    checkInside(name, lockFile.getParent());
    Path made = firstMissing(lockFile.getParent());
    Durable.createDirectoriesIn(refs, lockFile.getParent(), uri);
    FileChannel ch;
    try {
      requireLockFile(name, lockFile);
      try {
        // read and write: opening a fifo for writing alone waits for a reader, forever
        ch = FileChannel.open(lockFile, StandardOpenOption.READ, StandardOpenOption.WRITE,
            StandardOpenOption.CREATE, LinkOption.NOFOLLOW_LINKS);
      } catch (IOException e) {
        requireLockFile(name, lockFile);
        throw e;
      }
    } catch (IOException e) {
      // no inode or no room for the lock file (a new model's first push): the directories made for it go again
      removeEmptyUpTo(lockFile.getParent(), made, e);
      throw e;
    }
    try {
      requireLockFile(name, lockFile);
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
    try {
      while (true) {
        try {
          ch.lock();
          return ch;
        } catch (OverlappingFileLockException anotherInstanceInThisJvm) {
          LockSupport.parkNanos(200_000);
          if (Thread.interrupted()) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for the lock of ref '" + name + "' in "
                + uri);
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  /** The outermost directory from {@code dir} up to (not including) the refs directory that does not exist; or null. */
  private Path firstMissing(Path dir) {
    Path missing = null;
    for (Path d = dir; d != null && d.startsWith(refs) && !d.equals(refs); d = d.getParent()) {
      if (Files.exists(d, LinkOption.NOFOLLOW_LINKS)) {
        break;
      }
      missing = d;
    }
    return missing;
  }

  /**
   * Removes {@code dir} and its parents up to {@code top}, the outermost one this call made (null: none), as long as
   * each is empty; a directory another writer put something in meanwhile stays, and so do those above it. Never
   * throws: what cannot be removed is added to {@code failure} as suppressed.
   */
  private static void removeEmptyUpTo(Path dir, Path top, IOException failure) {
    if (top == null) {
      return;
    }
    for (Path d = dir; d != null && d.startsWith(top); d = d.getParent()) {
      try {
        Files.delete(d);
      } catch (java.nio.file.DirectoryNotEmptyException | java.nio.file.NoSuchFileException stays) {
        return;
      } catch (IOException e) {
        failure.addSuppressed(e);
        return;
      }
    }
  }

  /**
   * Refuses a ref's lock file that is not a regular file (a symbolic link, a directory, a fifo, a socket or a device)
   * as damage naming it: opening a fifo waited forever, and a link was refused with a bare "Too many levels of
   * symbolic links" that named no file.
   */
  private void requireLockFile(String name, Path lockFile) throws IOException {
    BasicFileAttributes a;
    try {
      a = Files.readAttributes(lockFile, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return;
    }
    if (!a.isRegularFile()) {
      throw new CorruptRefException(name, uri, 1, lockFile + " is not a regular file ("
          + (a.isDirectory() ? "a directory" : a.isSymbolicLink() ? "a symbolic link" : "a fifo, socket or device")
          + "); a ref's lock file is an empty file that only writers make: remove it and retry");
    }
  }

  @Override
  public List<String> list(String prefix) throws IOException {
    List<String> out = new ArrayList<>();
    for (String name : listLogged(prefix)) {
      if (get(name).isPresent()) {
        out.add(name);
      }
    }
    return out;
  }

  @Override
  public List<String> listLogged(String prefix) throws IOException {
    ensureOpen();
    String p = prefix == null ? "" : prefix;
    Path base = walkBase(p);
    if (!Files.isDirectory(base)) {
      Durable.requireBase(refs, uri);
      return List.of();
    }
    List<String> names = new ArrayList<>();
    walkLogs(base, (name, f) -> {
      if (name.startsWith(p) && Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)) {
        names.add(name);
      }
    });
    names.sort(null);
    return names;
  }

  /** Names under which a log file is not a regular file; valid ref names only (anything else is not a ref). */
  @Override
  public List<String> unreadable() throws IOException {
    ensureOpen();
    if (!Files.isDirectory(refs)) {
      return List.of();
    }
    List<String> names = new ArrayList<>();
    walkLogs(refs, (name, f) -> {
      if (!Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)) {
        names.add(name);
      }
    });
    names.sort(null);
    return names;
  }

  /** Gives every path under {@code base} named like a log, with the valid ref name it is the log of. */
  private void walkLogs(Path base, java.util.function.BiConsumer<String, Path> sink) throws IOException {
    try (Stream<Path> files = Files.walk(base)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        String rel = refs.relativize(f).toString().replace(f.getFileSystem().getSeparator(), "/");
        if (rel.endsWith(LOG)) {
          String name = rel.substring(0, rel.length() - LOG.length());
          if (RefNames.isValidRef(name)) {
            sink.accept(name, f);
          }
        }
      }
    } catch (java.io.UncheckedIOException e) {
      throw e.getCause();
    }
  }

  /** The directory that holds every ref starting with {@code prefix}: its part up to the last '/' when safe. */
  private Path walkBase(String prefix) {
    int slash = prefix.lastIndexOf('/');
    if (slash <= 0) {
      return refs;
    }
    for (String part : prefix.substring(0, slash).split("/", -1)) {
      if (part.isEmpty() || part.equals(".") || part.equals("..") || !part.matches("[A-Za-z0-9._-]+")) {
        return refs;
      }
    }
    return refs.resolve(prefix.substring(0, slash));
  }

  @Override
  public List<RefLogEntry> log(String name) throws IOException {
    ensureOpen();
    checkName(name);
    Path log = file(name, LOG);
    if (!isLog(name, log)) {
      return List.of();
    }
    byte[] all;
    try {
      try (FileChannel ch = FileChannel.open(log, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
        all = readAll(name, log, ch);
      }
    } catch (NoSuchFileException e) {
      return List.of();
    }
    List<RefLogEntry> out = new ArrayList<>();
    int damagedLine = 0;
    String defect = null;
    int from = 0;
    for (int i = 0; i < all.length; i++) {
      if (all[i] == '\n') {
        if (defect != null) {
          throw damaged(name, damagedLine, defect);
        }
        RefLogEntry e = RefLogFormat.decode(all, from, i);
        if (e == null && RefLogFormat.wholeButDamaged(all, from, i)) {
          throw damagedLast(name, out.size() + 1, RefLogFormat.defect(all, from, i));
        } else if (e == null) {
          damagedLine = out.size() + 1;
          defect = RefLogFormat.defect(all, from, i);
        } else {
          out.add(e);
        }
        from = i + 1;
      }
    }
    if (defect == null && RefLogFormat.wholeWithoutItsNewline(all, from, all.length)) {
      throw damagedLast(name, out.size() + 1, "its newline is byte " + (all[all.length - 1] & 0xff));
    }
    RefLogFormat.checkChain(name, uri, out);
    return out;
  }

  /**
   * Whether the ref's log exists; a log that is not a regular file is damage: a directory cannot be read, reading a
   * fifo would wait forever, and a symbolic link (or a linked directory on the way to the log) would have a move
   * append to, or create, a file outside the store: in a store shared by a group, anyone who may write its refs could
   * otherwise make another user's {@code ferry tag} write into that user's own files.
   */
  private boolean isLog(String name, Path log) throws IOException {
    BasicFileAttributes a;
    try {
      a = Files.readAttributes(log, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      checkInside(name, log.getParent());
      return false;
    } catch (java.nio.file.FileSystemException e) {
      // "Not a directory": something else stands where a directory of refs goes (a file at refs/<model>)
      Path dir = refs;
      for (Path part : refs.relativize(log.getParent())) {
        dir = dir.resolve(part);
        if (!Files.isDirectory(dir) && Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
          throw new CorruptRefException(name, uri, 1, dir + " is " + Durable.whatIs(dir) + " where the store keeps"
              + " a directory of refs; move it out of the store");
        }
      }
      throw e;
    }
    if (!a.isRegularFile()) {
      throw new CorruptRefException(name, uri, 1, log + " is not a regular file ("
          + (a.isDirectory() ? "a directory" : a.isSymbolicLink() ? "a symbolic link" : "a fifo, socket or device")
          + ")");
    }
    checkInside(name, log.getParent());
    return true;
  }

  /**
   * Checks that {@code dir}, or its nearest existing ancestor, lies inside the refs directory once links are
   * resolved: a directory of refs that links elsewhere is damage. The refs directory itself may be a link (a store
   * that keeps its refs on another volume).
   */
  private void checkInside(String name, Path dir) throws IOException {
    Path existing = dir;
    while (existing != null && existing.startsWith(refs) && !Files.exists(existing, LinkOption.NOFOLLOW_LINKS)) {
      existing = existing.getParent();
    }
    if (existing == null || !existing.startsWith(refs) || existing.equals(refs)) {
      return;
    }
    Path real;
    try {
      real = existing.toRealPath();
    } catch (NoSuchFileException e) {
      throw new CorruptRefException(name, uri, 1, existing + " is a link to nothing: the directories of refs are"
          + " never links");
    }
    Path realRefs = this.realRefs;
    if (realRefs == null) {
      realRefs = refs.toRealPath();
      this.realRefs = realRefs;
    }
    if (!real.startsWith(realRefs)) {
      throw new CorruptRefException(name, uri, 1, existing + " leads outside the store's refs (to " + real
          + "): the directories of refs are never links");
    }
  }

  private static byte[] readAll(String name, Path log, FileChannel ch) throws IOException {
    long size = ch.size();
    if (size > Integer.MAX_VALUE - 8) {
      throw new IOException(log + ": the log of ref '" + name + "' is " + size + " bytes, too long to read whole");
    }
    ByteBuffer all = ByteBuffer.allocate((int) size);
    while (all.hasRemaining() && ch.read(all) >= 0) {
      // until the end
    }
    return all.position() == all.capacity() ? all.array() : java.util.Arrays.copyOf(all.array(), all.position());
  }

  /**
   * The error for a damaged line that is not the last line of its log: only the last line can be torn by a crash
   * (the next writer truncates it before appending), so a bad line before it is damage.
   */
  private CorruptRefException damaged(String name, long line, String defect) {
    return new CorruptRefException(name, uri, line, "line " + line + " of " + file(name, LOG) + " is not an entry"
        + " and is not the last line (only a last line can be torn by a crash): " + defect);
  }

  /** The error for a whole line that is not an entry, wherever it is: damage, not a torn append. */
  private CorruptRefException damagedLast(String name, long line, String defect) {
    return new CorruptRefException(name, uri, line, "line " + line + " of " + file(name, LOG) + " is a whole line"
        + " that is not an entry (damage, not an append a crash tore): " + defect);
  }

  /** The last valid entry of a log, where it ends, and the file's size. */
  private record Tail(RefLogEntry last, long validEnd, long size) {}

  /**
   * Reads the log backwards from its end until a valid line is found: bytes after the last newline and lines that
   * fail their CRC are skipped (a torn append). Reads a few KiB in the usual case.
   */
  private Tail readTail(String name, FileChannel ch) throws IOException {
    while (true) {
      Tail t = tryReadTail(name, ch);
      if (t != null) {
        return t;
      }
    }
  }

  /** One attempt of {@link #readTail}; null if the file shrank meanwhile (a writer truncated a torn tail). */
  private Tail tryReadTail(String name, FileChannel ch) throws IOException {
    long size = ch.size();
    int window = (int) Math.min(size, FIRST_TAIL_WINDOW);
    while (true) {
      long start = size - window;
      byte[] buf = new byte[window];
      ByteBuffer b = ByteBuffer.wrap(buf);
      while (b.hasRemaining()) {
        if (ch.read(b, start + b.position()) < 0) {
          return null;
        }
      }
      int nl = lastNewline(buf, window - 1);
      if ((nl >= 0 || start == 0) && RefLogFormat.wholeWithoutItsNewline(buf, nl + 1, window)) {
        throw damagedLast(name, lineNumber(ch, start + nl + 1), "its newline is byte " + (buf[window - 1] & 0xff));
      }
      boolean lastLine = true;
      while (nl >= 0) {
        int prev = lastNewline(buf, nl - 1);
        if (prev < 0 && start > 0) {
          break;
        }
        RefLogEntry e = RefLogFormat.decode(buf, prev + 1, nl);
        if (e != null) {
          return new Tail(e, start + nl + 1, size);
        }
        if (RefLogFormat.wholeButDamaged(buf, prev + 1, nl)) {
          throw damagedLast(name, lineNumber(ch, start + prev + 1), RefLogFormat.defect(buf, prev + 1, nl));
        }
        if (!lastLine) {
          throw damaged(name, lineNumber(ch, start + prev + 1), RefLogFormat.defect(buf, prev + 1, nl));
        }
        lastLine = false;
        nl = prev;
      }
      if (start == 0) {
        return new Tail(null, 0, size);
      }
      window = (int) Math.min(size, Math.min((long) window * 4, Integer.MAX_VALUE - 64));
    }
  }

  /** The number (from 1) of the line that starts at byte {@code offset}: for messages about damage. */
  private static long lineNumber(FileChannel ch, long offset) throws IOException {
    long line = 1;
    ByteBuffer b = ByteBuffer.allocate(64 * 1024);
    long pos = 0;
    while (pos < offset) {
      b.clear().limit((int) Math.min(b.capacity(), offset - pos));
      int n = ch.read(b, pos);
      if (n < 0) {
        break;
      }
      for (int i = 0; i < n; i++) {
        if (b.get(i) == '\n') {
          line++;
        }
      }
      pos += n;
    }
    return line;
  }

  private static int lastNewline(byte[] buf, int from) {
    for (int i = from; i >= 0; i--) {
      if (buf[i] == '\n') {
        return i;
      }
    }
    return -1;
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
