package io.ferry.transfer;

import io.ferry.error.InvalidInputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Refuses, before anything is written, a version two of whose paths would be one file (or a file and a directory) in
 * DEST: a file system that does not tell apart names that differ only in case (exFAT, FAT, NTFS, macOS's by
 * default, ext4 and tmpfs directories with casefold) or only in Unicode normalization (macOS's) would write
 * {@code a.bin} over {@code A.bin} and the pull would end as if both were there.
 *
 * <p>Paths that no such file system would confuse are not looked at again, and the file system is asked nothing
 * then. Otherwise a probe file, made and removed in the nearest directory of DEST that exists (a directory made
 * later takes its parent's rules), is looked up spelled in the other case, and one with an accented letter spelled
 * decomposed: a hit says how the file system compares names. Stateless and thread-safe.
 */
public final class NameClashes {
  /** How the file system under a directory compares names. */
  interface Probe {
    /** The rules of the file system for names in the existing directory {@code dir}. */
    Rules rules(Path dir) throws IOException;
  }

  /** Whether names that differ only in case, or only in Unicode normalization, are one name. */
  record Rules(boolean foldsCase, boolean normalizes) {
    static final Rules EXACT = new Rules(false, false);

    String key(String path) {
      String k = normalizes ? Normalizer.normalize(path, Normalizer.Form.NFC) : path;
      return foldsCase ? k.toUpperCase(Locale.ROOT).toLowerCase(Locale.ROOT) : k;
    }
  }

  private static final Rules LOOSEST = new Rules(true, true);

  private NameClashes() {}

  /**
   * Refuses {@code files} (paths relative to {@code dest}, {@code /} between names) if two would be one file, or a
   * file and a directory, in {@code dest} as its file system compares names.
   *
   * @throws InvalidInputException naming both paths and DEST
   */
  public static void check(Path dest, Collection<String> files) throws IOException {
    check(dest, files, NameClashes::probe);
  }

  static void check(Path dest, Collection<String> files, Probe probe) throws IOException {
    // every path and every directory on the way, by the loosest key any file system uses
    Map<String, String> byKey = new HashMap<>();
    List<String[]> suspects = new ArrayList<>();
    for (String file : files) {
      for (int slash = file.indexOf('/'); ; slash = file.indexOf('/', slash + 1)) {
        String p = slash < 0 ? file : file.substring(0, slash);
        String other = byKey.putIfAbsent(LOOSEST.key(p), p);
        if (other != null && !other.equals(p)) {
          suspects.add(new String[] {other, p});
        }
        if (slash < 0) {
          break;
        }
      }
    }
    Map<Path, Rules> rules = new HashMap<>();
    for (String[] pair : suspects) {
      Path dir = existing(dest.resolve(commonParent(pair[0], pair[1])));
      Rules r = rules.get(dir);
      if (r == null) {
        r = dir == null ? Rules.EXACT : probe.rules(dir);
        rules.put(dir, r);
      }
      if (r.key(pair[0]).equals(r.key(pair[1]))) {
        throw new InvalidInputException(dest + ": the version's paths '" + pair[0] + "' and '" + pair[1]
            + "' would be one " + (files.contains(pair[0]) && files.contains(pair[1]) ? "file" : "entry")
            + " there: its file system does not tell apart names that differ only in "
            + (r.foldsCase() ? "case" : "Unicode normalization") + "; nothing was written: pull into a directory"
            + " on a file system that does, or leave one of them out (--exclude)");
      }
    }
  }

  /** The directories both paths share, joined with {@code /}; empty when none. */
  private static String commonParent(String a, String b) {
    int end = 0;
    for (int i = 0; i < Math.min(a.length(), b.length()) && a.charAt(i) == b.charAt(i); i++) {
      if (a.charAt(i) == '/') {
        end = i;
      }
    }
    return a.substring(0, end);
  }

  /** {@code p} or its nearest ancestor that is a directory; null if none is. */
  private static Path existing(Path p) {
    for (Path q = p.toAbsolutePath(); q != null; q = q.getParent()) {
      if (Files.isDirectory(q)) {
        return q;
      }
    }
    return null;
  }

  /** Asks the file system under {@code dir} with probe files, which it removes. */
  static Rules probe(Path dir) throws IOException {
    return new Rules(twoSpellings(dir, "a", "A"), twoSpellings(dir, "\u00e9", "e\u0301"));
  }

  /** Whether a file named with {@code written} at its end is found under the name ending with {@code asked}. */
  private static boolean twoSpellings(Path dir, String written, String asked) throws IOException {
    Path made;
    try {
      made = Files.createTempFile(dir, ".ferry-name-probe-", "-" + written);
    } catch (InvalidPathException | IOException e) {
      return false; // a name this file system (or the JVM's encoding of names) cannot hold: nothing to confuse
    }
    try {
      String name = made.getFileName().toString();
      Path other = dir.resolve(name.substring(0, name.length() - written.length()) + asked);
      return Files.exists(other, LinkOption.NOFOLLOW_LINKS);
    } catch (InvalidPathException e) {
      return false;
    } finally {
      Files.deleteIfExists(made);
    }
  }
}
