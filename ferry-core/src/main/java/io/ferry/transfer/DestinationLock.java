package io.ferry.transfer;

import io.ferry.error.ConflictException;
import io.ferry.error.InvalidInputException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One pull at a time into a directory: an exclusive lock ({@link FileLock}) on the file {@value #NAME} at DEST's root,
 * held from before the pull looks at DEST until its last rename; then the file is removed. Two pulls into one
 * directory each compared DEST with their version before either wrote, then both renamed their files into place and
 * exited 0, leaving a mix of two versions; the second now fails at once, before it writes anything.
 *
 * <p>The operating system releases the lock when its process dies, so a pull killed with {@code kill -9} leaves the
 * file but no lock: the next pull takes the file over and removes it. The holder writes its process id into the file
 * (named in the refusal), and before removing the file marks it released ({@value #RELEASED}): a pull that opened
 * the file just before it was removed, and locked it once it was released, sees the mark and opens the name again
 * instead of holding a lock on a file nobody else can see. Pulls in one process are kept apart by a set of the
 * directories they hold (a JVM's file locks are per process, and closing any channel of the file would release one).
 *
 * <p>The name is reserved ({@link io.ferry.version.SafePaths#RESERVED_NAME}): a push refuses a file so named, and a
 * pull neither compares nor removes it as one of DEST's files. Processes on other machines writing into a network file
 * system are kept apart only where it implements POSIX locks (NFSv4 does).
 */
final class DestinationLock implements AutoCloseable {
  /** The lock file's name at DEST's root. */
  static final String NAME = ".ferry-pull.lock";
  /** What a holder writes over its process id before removing the file. */
  static final String RELEASED = "released\n";
  /** How often a pull opens the name again after finding a released file before taking that file over. */
  private static final int REOPENS = 20;

  private static final Set<Path> HELD = ConcurrentHashMap.newKeySet();

  private final Path dir;
  private final Path file;
  private final FileChannel channel;
  private final FileLock lock;

  private DestinationLock(Path dir, Path file, FileChannel channel, FileLock lock) {
    this.dir = dir;
    this.file = file;
    this.channel = channel;
    this.lock = lock;
  }

  /**
   * Takes the lock of DEST, which must be a directory, or fails at once.
   *
   * @throws ConflictException if another pull holds it
   */
  static DestinationLock take(Path dest) throws IOException {
    Path dir = dest.toRealPath();
    if (!HELD.add(dir)) {
      throw held(dest, String.valueOf(ProcessHandle.current().pid()));
    }
    try {
      return lock(dest, dir);
    } catch (IOException | RuntimeException | Error e) {
      HELD.remove(dir);
      throw e;
    }
  }

  private static DestinationLock lock(Path dest, Path dir) throws IOException {
    Path file = dir.resolve(NAME);
    for (int opened = 0; ; opened++) {
      FileChannel ch;
      try {
        ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE,
            LinkOption.NOFOLLOW_LINKS);
      } catch (IOException e) {
        if (Files.isSymbolicLink(file)) {
          throw new InvalidInputException(file + ": is a symbolic link, not a lock file a pull made; nothing was"
              + " written: remove it and pull again");
        }
        throw new IOException(file + ": cannot open it to keep other pulls out of " + dest + ": "
            + io.ferry.error.FileErrors.reason(e), e);
      }
      try {
        FileLock lock;
        try {
          lock = ch.tryLock();
        } catch (OverlappingFileLockException sameProcess) {
          lock = null;
        }
        if (lock == null) {
          throw held(dest, holder(ch));
        }
        requireOwnKind(file, ch);
        if (!content(ch).equals(RELEASED) || opened >= REOPENS) {
          ch.truncate(0);
          ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
          return new DestinationLock(dir, file, ch, lock);
        }
        // the last holder released this file and removed its name (or died doing so): open the name again
        ch.close();
      } catch (IOException | RuntimeException e) {
        ch.close();
        if (e instanceof ConflictException || e instanceof InvalidInputException) {
          throw e;
        }
        throw new IOException(file + ": cannot lock it to keep other pulls out of " + dest + ": " + e.getMessage(),
            e);
      }
    }
  }

  /**
   * Refuses to write into a file at the lock's name that is not one a pull made: a hard link to a file elsewhere (whose
   * content writing the process id would destroy), something other than a regular file, or a file of more bytes than
   * a lock holds. (A symbolic link is refused when it is opened: the name is never followed.)
   */
  private static void requireOwnKind(Path file, FileChannel ch) throws IOException {
    Map<String, Object> a = Files.readAttributes(file, "unix:isRegularFile,nlink,size", LinkOption.NOFOLLOW_LINKS);
    int links = ((Number) a.get("nlink")).intValue();
    long size = ((Number) a.get("size")).longValue();
    if (!Boolean.TRUE.equals(a.get("isRegularFile")) || links != 1 || size > 64 || ch.size() > 64) {
      throw new InvalidInputException(file + ": is not a lock file a pull made (" + (links != 1 ? links + " links"
          : size + " bytes") + "); nothing was written: remove it and pull again");
    }
  }

  private static ConflictException held(Path dest, String holder) {
    return new ConflictException(dest + ": another pull is writing into this directory (" + NAME + " is locked"
        + (holder.isEmpty() ? "" : " by process " + holder) + "); nothing was written: wait for it to end, or pull"
        + " into another directory");
  }

  private static String content(FileChannel ch) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(64);
    while (b.hasRemaining() && ch.read(b, b.position()) > 0) {
      // at most 64 bytes: a process id or the release mark
    }
    return new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII);
  }

  /** The process id the holder wrote, or "" if none can be read. */
  private static String holder(FileChannel ch) {
    try {
      String s = content(ch).strip();
      return !s.isEmpty() && s.length() < 20 && s.chars().allMatch(Character::isDigit) ? s : "";
    } catch (IOException e) {
      return "";
    }
  }

  /** Marks the file released, removes it, then releases the lock. */
  @Override
  public void close() throws IOException {
    try {
      channel.truncate(0);
      channel.write(ByteBuffer.wrap(RELEASED.getBytes(StandardCharsets.US_ASCII)), 0);
      Files.deleteIfExists(file);
    } finally {
      try {
        lock.release();
      } finally {
        try {
          channel.close();
        } finally {
          HELD.remove(dir);
        }
      }
    }
  }
}
