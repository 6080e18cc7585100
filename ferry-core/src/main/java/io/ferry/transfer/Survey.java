package io.ferry.transfer;

import io.ferry.id.ChunkId;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * What a pull finds in its destination before it writes: the version's files already there byte for byte (size and
 * SHA-256; they are not written again, so a repeated pull is a check, not a copy), files that differ from the
 * version's, files the version does not have, and what interrupted pulls left behind (their temporary files).
 *
 * <p>A file's temporary name is derived from its path and content ({@link #tempName}), so a pull that was killed and
 * is run again finds the file it was writing and keeps every chunk range already in it whose SHA-256 is the chunk's id
 * ({@link #holds}); temporary files of other versions are removed (by a pull of some files or a merge, those of
 * other versions of the files it pulls). Nothing is followed through links.
 */
final class Survey {
  /** The names pulls give their temporary files: {@code .ferry-<16 hex>.tmp} and {@code .old}. */
  static final Pattern TEMP = io.ferry.version.SafePaths.RESERVED_NAME;

  private static final int IO = 1 << 20;

  private final Set<String> identical;
  private final List<String> differing;
  private final List<String> others;
  private final Set<String> otherDirs;
  private final List<Path> leftovers;

  private Survey(Set<String> identical, List<String> differing, List<String> others, Set<String> otherDirs,
      List<Path> leftovers) {
    this.identical = identical;
    this.differing = differing;
    this.others = others;
    this.otherDirs = otherDirs;
    this.leftovers = leftovers;
  }

  /**
   * Looks at {@code dest}: every file there when {@code wholeVersion}, else only the version's own paths. Reads each
   * of the version's files that is already there with the right size, to compare its SHA-256. With {@code
   * keepOthers} (a merge, which keeps what the version does not have), and in a pull of some files, only the temporary
   * files of this version's files (of this version or another: {@link #tempPrefix}) are leftovers to remove; a file
   * named like another pull's is kept like any other file.
   */
  static Survey of(Snapshot snapshot, Path dest, boolean wholeVersion, boolean keepOthers) throws IOException {
    Map<String, FileEntry> wanted = new HashMap<>();
    Set<String> wantedDirs = new HashSet<>();
    Set<String> temps = new HashSet<>();
    Set<String> tempPrefixes = new HashSet<>();
    for (FileEntry f : snapshot.files()) {
      wanted.put(f.path(), f);
      temps.add(parentOf(f.path()) + tempName(f));
      tempPrefixes.add(parentOf(f.path()) + tempPrefix(f.path()));
      for (String d = parentOf(f.path()); !d.isEmpty(); d = parentOf(d.substring(0, d.length() - 1))) {
        wantedDirs.add(d.substring(0, d.length() - 1));
      }
    }
    Set<String> identical = new HashSet<>();
    List<String> differing = new ArrayList<>();
    List<String> others = new ArrayList<>();
    Set<String> otherDirs = new TreeSet<>();
    List<Path> leftovers = new ArrayList<>();
    if (!Files.isDirectory(dest)) {
      return new Survey(identical, differing, others, otherDirs, leftovers);
    }
    if (!wholeVersion) {
      for (FileEntry f : snapshot.files()) {
        Path p = dest.resolve(f.path());
        BasicFileAttributes a = attributes(p);
        if (a != null) {
          classify(f, p, a, identical, differing);
        }
        // what interrupted pulls of other versions of this file left (its directory was checked to be no link)
        Path dir = p.getParent();
        if (Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
          try (var found = Files.newDirectoryStream(dir, tempPrefix(f.path()) + "????????.tmp")) {
            for (Path t : found) {
              String name = t.getFileName().toString();
              if (TEMP.matcher(name).matches() && !name.equals(tempName(f))
                  && !Files.isDirectory(t, LinkOption.NOFOLLOW_LINKS)) {
                leftovers.add(t);
              }
            }
          }
        }
      }
      return new Survey(identical, differing, others, otherDirs, leftovers);
    }
    Destination.walk(dest, new Destination.Visitor() {
      @Override
      public void directory(String rel) {
        if (!wantedDirs.contains(rel)) {
          otherDirs.add(rel);
        }
      }

      @Override
      public void file(String rel, Path file, BasicFileAttributes attrs) throws IOException {
        if (rel.equals(DestinationLock.NAME)) {
          return; // the pull's own lock
        }
        FileEntry f = wanted.get(rel);
        if (f != null) {
          classify(f, file, attrs, identical, differing);
        } else if (TEMP.matcher(file.getFileName().toString()).matches()
            && (!keepOthers || temps.contains(rel) || tempOfPath(rel, tempPrefixes))) {
          if (!temps.contains(rel) || !attrs.isRegularFile()) {
            leftovers.add(file);
          }
        } else if (!io.ferry.version.SafePaths.isToolState(rel)) {
          others.add(rel);
        }
      }
    });
    others.sort(null);
    differing.sort(null);
    return new Survey(identical, differing, others, otherDirs, leftovers);
  }

  private static void classify(FileEntry f, Path p, BasicFileAttributes a, Set<String> identical,
      List<String> differing) throws IOException {
    if (a.isRegularFile() && a.size() == f.size() && f.sha256().equals(sha256(p))) {
      identical.add(f.path());
    } else if (!a.isDirectory()) {
      differing.add(f.path());
    }
  }

  /** The version's paths already in DEST byte for byte. */
  Set<String> identical() {
    return identical;
  }

  /** Whether DEST holds files that differ from the version's or that the version does not have. */
  boolean conflicts() {
    return !differing.isEmpty() || !others.isEmpty();
  }

  /**
   * The message of a refused pull: the files in the way (the first ten of each kind) and the two ways on.
   *
   * @param command the command as the user gave it ({@link PullOptions#command()})
   */
  String refusal(Path dest, String command) {
    return Destination.refusal(dest, differing, others, "the version", command);
  }

  /** Removes the temporary files of interrupted pulls of other versions (and of this one that cannot be resumed). */
  void removeLeftovers() throws IOException {
    for (Path p : leftovers) {
      Files.deleteIfExists(p);
    }
  }

  /**
   * After a forced pull: removes the files the version does not have (links themselves, never their targets), then
   * the directories it does not have, deepest first, where they ended up empty.
   */
  void removeOthers(Path dest) throws IOException {
    Destination.remove(dest.toRealPath(), others, new ArrayList<>(otherDirs), "pull");
  }

  /**
   * The temporary name of a file being pulled: {@code .ferry-<16 hex>.tmp}, the hex from the file's path, size and
   * SHA-256, so the same file of the same content always gets it (a rerun finds it) and no other file does.
   */
  static String tempName(FileEntry f) {
    MessageDigest md = ChunkId.sha256();
    md.update((f.path() + "\n" + f.size() + "\n" + f.sha256()).getBytes(StandardCharsets.UTF_8));
    return tempPrefix(f.path()) + HexFormat.of().formatHex(md.digest(), 0, 4) + ".tmp";
  }

  /**
   * The start of the temporary name of every version of the file at {@code path}: {@code .ferry-} and 8 hex digits
   * from the path alone, so that a pull of some files finds what interrupted pulls of other versions of those very
   * files left, without looking at anything else.
   */
  static String tempPrefix(String path) {
    MessageDigest md = ChunkId.sha256();
    md.update(path.getBytes(StandardCharsets.UTF_8));
    return ".ferry-" + HexFormat.of().formatHex(md.digest(), 0, 4);
  }

  /** Whether the file at {@code rel} has the temporary name of some version of a file at one of {@code paths}. */
  private static boolean tempOfPath(String rel, Set<String> tempPrefixes) {
    return rel.endsWith(".tmp") && rel.length() > TEMP_SUFFIX
        && tempPrefixes.contains(rel.substring(0, rel.length() - TEMP_SUFFIX));
  }

  /** The part of a temporary name after its {@link #tempPrefix}: 8 hex digits and {@code .tmp}. */
  private static final int TEMP_SUFFIX = 12;

  /**
   * Whether an interrupted pull of this file left its temporary file, to be completed; false if there is none that
   * can be. A file at the temporary name is completed only if it is what this user's interrupted pull left: a regular
   * file of the right size, of this process's user, with one link (its chunks are then each checked against their
   * ids before they are kept). Anything else is
   * removed (the name only: a link's target is never touched) and the file is made anew, since the name is known in
   * advance: in a directory others may write to, someone else's file there would become the pulled file (theirs to
   * rewrite after the pull checked it), and a hard link to a file elsewhere would have that file overwritten.
   */
  static boolean resumable(Path temp, FileEntry f) throws IOException {
    Map<String, Object> a;
    try {
      a = Files.readAttributes(temp, "unix:isRegularFile,size,nlink,uid", LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return false;
    } catch (UnsupportedOperationException | IllegalArgumentException e) {
      // no owner or link count to check on this platform: start over
      Files.deleteIfExists(temp);
      return false;
    }
    boolean own = Boolean.TRUE.equals(a.get("isRegularFile"))
        && ((Number) a.get("size")).longValue() == f.size()
        && ((Number) a.get("nlink")).intValue() == 1
        && ((Number) a.get("uid")).intValue() == processUid();
    if (!own) {
      Files.deleteIfExists(temp);
    }
    return own;
  }

  /** This process's user id (the owner of its {@code /proc/self}), or -1 where it cannot be read. */
  private static int processUid() {
    try {
      return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).intValue();
    } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return -1;
    }
  }

  /** Whether {@code ch} already holds chunk {@code c} at {@code at}: the SHA-256 of that range is its id. */
  static boolean holds(FileChannel ch, long at, ChunkRef c) throws IOException {
    MessageDigest md = ChunkId.sha256();
    ByteBuffer buf = ByteBuffer.allocate((int) Math.min(IO, Math.max(1, c.length())));
    long done = 0;
    while (done < c.length()) {
      buf.clear().limit((int) Math.min(buf.capacity(), c.length() - done));
      int n = ch.read(buf, at + done);
      if (n < 0) {
        return false;
      }
      md.update(buf.flip());
      done += n;
    }
    return ChunkId.fromBytes(md.digest()).equals(c.id());
  }

  private static String sha256(Path p) throws IOException {
    MessageDigest md = ChunkId.sha256();
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
      ByteBuffer buf = ByteBuffer.allocate(IO);
      long at = 0;
      while (true) {
        buf.clear();
        int n = ch.read(buf, at);
        if (n < 0) {
          break;
        }
        md.update(buf.flip());
        at += n;
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  private static String parentOf(String path) {
    int slash = path.lastIndexOf('/');
    return slash < 0 ? "" : path.substring(0, slash + 1);
  }

  private static BasicFileAttributes attributes(Path p) throws IOException {
    try {
      return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return null;
    }
  }
}
