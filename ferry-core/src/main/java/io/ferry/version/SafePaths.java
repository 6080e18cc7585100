package io.ferry.version;

import io.ferry.error.InvalidInputException;

/**
 * File paths inside a snapshot: relative, '/'-separated, normalized. Rejected: empty paths or components, {@code .}
 * and {@code ..} components, {@code .git} components ({@link #isGit}: git's own directory, in any case and in the
 * spellings HFS+ and NTFS take for it; a file pulled there, into a clone, could run as a git hook; git refuses such
 * paths in its trees for the same reason, and a push never stores one), absolute paths, drive letters ({@code C:}), backslashes, NUL and other control characters. Checked on push
 * and again on pull before anything is written (DESIGN invariant 6).
 */
public final class SafePaths {
  /**
   * The names pulls give their temporary files in DEST ({@code .ferry-<16 hex>.tmp}, and {@code .old} for a file being
   * replaced), and the lock a pull holds at DEST's root ({@code .ferry-pull.lock}): a pull removes such files that are
   * not its own, so a push refuses a file of such a name.
   */
  public static final java.util.regex.Pattern RESERVED_NAME =
      java.util.regex.Pattern.compile("\\.ferry-([0-9a-f]{16}\\.(tmp|old)|pull\\.lock)");

  /**
   * The name Ferry's Python client downloads a file under ({@code .<16 hex>.ferry-part} beside it), which an
   * interrupted download leaves: a push refuses it, as it would store a part of a file under a name no model has.
   */
  public static final java.util.regex.Pattern CLIENT_PART_NAME =
      java.util.regex.Pattern.compile("\\.[0-9a-f]{16}\\.ferry-part");

  private SafePaths() {}

  /**
   * Returns the path if it is safe ({@link #check}) and its file name is not one of the {@link #RESERVED_NAME}s or a
   * {@link #CLIENT_PART_NAME}: what a push may store.
   */
  public static String checkPushable(String path, String where) throws InvalidInputException {
    check(path, where);
    String name = path.substring(path.lastIndexOf('/') + 1);
    if (RESERVED_NAME.matcher(name).matches()) {
      throw new InvalidInputException(where + ": the file name '" + name + "' is reserved for the temporary files of"
          + " pulls (a pull removes such files it finds); rename the file to push it");
    }
    if (CLIENT_PART_NAME.matcher(name).matches()) {
      throw new InvalidInputException(where + ": '" + name + "' is a file that Ferry's Python client was downloading"
          + " (an interrupted download leaves it): run the download again to finish it, or delete the file");
    }
    return path;
  }

  /**
   * Returns the path if it is safe.
   *
   * @param where what the path belongs to, for the error (a file, a snapshot)
   */
  public static String check(String path, String where) throws InvalidInputException {
    String why = defect(path);
    if (why != null) {
      throw new InvalidInputException(where + ": unsafe file path '" + printable(path) + "': " + why);
    }
    return path;
  }

  private static String defect(String p) {
    if (p == null || p.isEmpty()) {
      return "empty";
    }
    if (p.length() > 4096) {
      return "longer than 4096 characters";
    }
    if (p.startsWith("/")) {
      return "absolute";
    }
    if (p.length() >= 2 && p.charAt(1) == ':' && Character.isLetter(p.charAt(0))) {
      return "starts with a drive letter";
    }
    for (int i = 0; i < p.length(); i++) {
      char c = p.charAt(i);
      if (c == 0) {
        return "contains NUL";
      }
      if (c < 0x20 || c == 0x7f) {
        return "contains a control character";
      }
      if (c == '\\') {
        return "contains a backslash";
      }
    }
    for (String part : p.split("/", -1)) {
      if (part.isEmpty()) {
        return "has an empty component";
      }
      if (part.equals(".") || part.equals("..")) {
        return "has a '" + part + "' component";
      }
      if (isGit(part)) {
        return "has a '" + printable(part) + "' component (git's own directory, where a file could run as a git hook)";
      }
    }
    return null;
  }

  /**
   * Whether a path component names git's directory on some file system, as git itself refuses such tree entries:
   * {@code .git} in any case; with the characters HFS+ ignores in names (zero-width and direction marks, U+FEFF); with
   * the trailing dots and spaces NTFS drops; or NTFS's short name {@code git~1}.
   */
  public static boolean isGit(String part) {
    StringBuilder b = new StringBuilder(part.length());
    for (int i = 0; i < part.length(); i++) {
      char c = part.charAt(i);
      boolean ignorable = c >= '\u200c' && c <= '\u200f' || c >= '\u202a' && c <= '\u202e'
          || c >= '\u206a' && c <= '\u206f' || c == '\ufeff';
      if (!ignorable) {
        b.append(c);
      }
    }
    int end = b.length();
    while (end > 0 && (b.charAt(end - 1) == '.' || b.charAt(end - 1) == ' ')) {
      end--;
    }
    String name = b.substring(0, end);
    return name.equalsIgnoreCase(".git") || name.equalsIgnoreCase("git~1");
  }

  /**
   * Whether a path ({@code /}-separated, relative) lies in the state of a tool beside a model: Hugging Face's download
   * tool ({@code .cache/huggingface/…}, which {@code hf download --local-dir} keeps beside a model) or the staging
   * area of Ferry's background checkpoint pushes ({@code .ferry-staging/…}, staged copies of checkpoints, their logs
   * and locks). A push skips it, and a pull neither counts nor removes such files that the version does not hold.
   */
  public static boolean isToolState(String path) {
    return path.startsWith(".cache/huggingface/") || path.contains("/.cache/huggingface/")
        || path.startsWith(".ferry-staging/") || path.contains("/.ferry-staging/");
  }

  private static String printable(String p) {
    if (p == null) {
      return "null";
    }
    StringBuilder b = new StringBuilder();
    for (char c : p.toCharArray()) {
      if (c < 0x20 || c == 0x7f) {
        b.append(String.format("\\u%04x", (int) c));
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }
}
