package io.ferry.scan;

import io.ferry.error.InvalidInputException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Which files of a model a push or a pull takes, by their path in the model ({@code /}-separated, relative). Immutable
 * and thread-safe.
 *
 * <p><b>Globs</b> ({@code --include}, {@code --exclude}) match the whole path: {@code *} and {@code ?} match within one
 * path component, {@code **} across directories ({@code **}{@code /} also matches no directory), {@code [abc]}, {@code
 * [a-z]} and {@code [!a]} match one character of a set, and a backslash makes the next character literal. A file is
 * taken when it matches at least one include glob (or there is none) and no exclude glob.
 *
 * <p><b>Ignore rules</b> (the lines of a push source's {@code .ferryignore}) are read like {@code .gitignore}: blank
 * lines and lines starting with {@code #} are skipped; a rule without a {@code /} (other than a trailing one) matches
 * a file or directory name at any depth, one with a {@code /} matches from the source's root; a trailing {@code /}
 * matches directories only; a file inside an ignored directory is ignored; {@code !} before a rule takes back what the
 * rules before it ignored; the last rule that matches decides.
 *
 * <p>Matching takes time proportional to the path's length times the glob's, whatever the glob: a glob is a list of
 * parts, run over the path's characters once while keeping the set of parts reached, never by backtracking.
 */
public final class PathFilter {
  /** Globs and rules longer than this are refused. */
  public static final int MAX_GLOB_CHARS = 4096;
  /** More globs or rules than this are refused. */
  public static final int MAX_GLOBS = 10_000;

  /** Takes every file. */
  public static final PathFilter ALL = new PathFilter(List.of(), List.of(), List.of(), List.of(), List.of());

  private final List<String> includeText;
  private final List<String> excludeText;
  private final List<Glob> include;
  private final List<Glob> exclude;
  private final List<Rule> ignore;

  /** One ignore rule: the glob of the names it matches, whether it takes back, whether it matches directories only. */
  private record Rule(Glob glob, boolean negated, boolean directoryOnly) {}

  private PathFilter(List<String> includeText, List<String> excludeText, List<Glob> include, List<Glob> exclude,
      List<Rule> ignore) {
    this.includeText = List.copyOf(includeText);
    this.excludeText = List.copyOf(excludeText);
    this.include = List.copyOf(include);
    this.exclude = List.copyOf(exclude);
    this.ignore = List.copyOf(ignore);
  }

  /**
   * A filter of include and exclude globs (either list may be empty).
   *
   * @throws InvalidInputException for an empty, overlong or malformed glob, or too many
   */
  public static PathFilter of(List<String> include, List<String> exclude) throws InvalidInputException {
    return new PathFilter(include, exclude, compile("--include", include), compile("--exclude", exclude), List.of());
  }

  /**
   * A filter that takes the files matching at least one of {@code globs} ({@code push --opaque}), whose errors name
   * {@code option}.
   *
   * @throws InvalidInputException for an empty, overlong or malformed glob, or too many
   */
  public static PathFilter anyOf(String option, List<String> globs) throws InvalidInputException {
    return new PathFilter(globs, List.of(), compile(option, globs), List.of(), List.of());
  }

  /**
   * This filter with the rules of an ignore file added (see the class comment).
   *
   * @param lines the file's lines
   * @param source where they come from, for errors
   * @throws InvalidInputException for an overlong or malformed rule, or too many
   */
  public PathFilter withIgnoreRules(List<String> lines, String source) throws InvalidInputException {
    if (lines.size() > MAX_GLOBS) {
      throw new InvalidInputException(source + ": " + lines.size() + " lines, more than " + MAX_GLOBS);
    }
    List<Rule> rules = new ArrayList<>(ignore);
    int n = 0;
    for (String raw : lines) {
      n++;
      String line = stripTrailingSpaces(raw);
      String rule = line;
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      if (line.length() > MAX_GLOB_CHARS) {
        throw new InvalidInputException(source + " line " + n + ": longer than " + MAX_GLOB_CHARS + " characters");
      }
      boolean negated = line.startsWith("!");
      if (negated) {
        line = line.substring(1);
      }
      boolean dirOnly = line.endsWith("/");
      while (line.endsWith("/")) {
        line = line.substring(0, line.length() - 1);
      }
      if (line.isEmpty()) {
        continue;
      }
      boolean anchored = line.contains("/");
      if (line.startsWith("/")) {
        line = line.substring(1);
      }
      Glob glob = Glob.compile(line, source + " line " + n + ": rule '" + rule + "'", !anchored);
      rules.add(new Rule(glob, negated, dirOnly));
    }
    return new PathFilter(includeText, excludeText, include, exclude, rules);
  }

  /** Whether this filter takes every file. */
  public boolean takesAll() {
    return include.isEmpty() && exclude.isEmpty() && ignore.isEmpty();
  }

  /** Whether the file at {@code path} (relative, {@code /}-separated) is taken. */
  public boolean test(String path) {
    if (!include.isEmpty() && include.stream().noneMatch(g -> g.matches(path))) {
      return false;
    }
    if (exclude.stream().anyMatch(g -> g.matches(path))) {
      return false;
    }
    return !ignored(path, false);
  }

  /**
   * Whether nothing under the directory {@code dir} can be taken, so a walk may skip it: an ignore rule ignores it and
   * no rule takes anything back.
   */
  public boolean skipsDirectory(String dir) {
    return ignore.stream().noneMatch(Rule::negated) && ignored(dir, true);
  }

  private boolean ignored(String path, boolean isDirectory) {
    if (ignore.isEmpty()) {
      return false;
    }
    boolean ignored = false;
    for (Rule r : ignore) {
      if (r.glob().matchesOrIsUnder(path, isDirectory || !r.directoryOnly())) {
        ignored = !r.negated();
      }
    }
    return ignored;
  }

  /**
   * For a filter that selects none of {@code paths}: a hint naming each include glob that matches a directory those
   * paths lie in, which it does not select since a glob matches whole paths ({@code ; 'sub' is a directory:
   * --include 'sub/**' selects the files under it}), or "" if there is none.
   */
  public String directoryHint(List<String> paths) {
    StringBuilder b = new StringBuilder();
    for (String g : includeText) {
      String dir = g.startsWith("/") ? g.substring(1) : g;
      while (dir.endsWith("/")) {
        dir = dir.substring(0, dir.length() - 1);
      }
      Glob glob;
      try {
        glob = dir.isEmpty() ? null : Glob.compile(dir, "--include: glob '" + g + "'", false);
      } catch (InvalidInputException e) {
        glob = null;
      }
      Glob matching = glob;
      if (matching != null && paths.stream().anyMatch(p -> matching.matchesOrIsUnder(p, false))) {
        b.append("; '").append(g).append("' is a directory: --include '").append(dir)
            .append("/**' selects the files under it");
      }
    }
    return b.toString();
  }

  /** The globs as options, e.g. {@code --include '*.json' --exclude 'a/**'}, for messages. */
  public String describe() {
    StringBuilder b = new StringBuilder();
    includeText.forEach(g -> b.append(b.length() == 0 ? "" : " ").append("--include '").append(g).append('\''));
    excludeText.forEach(g -> b.append(b.length() == 0 ? "" : " ").append("--exclude '").append(g).append('\''));
    return b.toString();
  }

  @Override
  public String toString() {
    String globs = describe();
    return takesAll() ? "every file" : ignore.isEmpty() ? globs
        : globs.isEmpty() ? "the ignore rules" : globs + " with the ignore rules";
  }

  private static List<Glob> compile(String option, List<String> globs) throws InvalidInputException {
    if (globs.size() > MAX_GLOBS) {
      throw new InvalidInputException(option + ": " + globs.size() + " globs, more than " + MAX_GLOBS);
    }
    List<Glob> out = new ArrayList<>();
    for (String g : globs) {
      if (g == null || g.isEmpty()) {
        throw new InvalidInputException(option + ": an empty glob matches no file; write '**' for every file");
      }
      if (g.length() > MAX_GLOB_CHARS) {
        throw new InvalidInputException(option + ": a glob of " + g.length() + " characters, more than "
            + MAX_GLOB_CHARS);
      }
      String glob = g.startsWith("/") ? g.substring(1) : g;
      out.add(Glob.compile(glob, option + ": glob '" + g + "'", false));
    }
    return out;
  }

  /**
   * A compiled glob: its parts, matched against a path's characters (code points) in one pass that keeps the set of
   * parts reached.
   */
  private static final class Glob {
    /** A {@code **}{@code /} that starts a component: no directory, or any number of them. */
    private static final byte DIRS = 0;
    /** Another {@code **}: any characters. */
    private static final byte ANY = 1;
    /** A {@code *}: any characters but {@code /}. */
    private static final byte STAR = 2;
    /** A {@code ?}: one character but {@code /}. */
    private static final byte ONE = 3;
    /** A class of characters, which never holds {@code /}. */
    private static final byte CLASS = 4;
    /** A character matched as it is. */
    private static final byte CHAR = 5;

    private final byte[] kinds;
    private final int[] chars;
    private final Pattern[] classes;

    private Glob(byte[] kinds, int[] chars, Pattern[] classes) {
      this.kinds = kinds;
      this.chars = chars;
      this.classes = classes;
    }

    /**
     * The glob's parts (see the class comment of {@link PathFilter}).
     *
     * @param where the option or rule and the glob as given, for errors
     * @param atAnyDepth whether the glob matches at any depth, as if it started with {@code **}{@code /}
     * @throws InvalidInputException for a class of characters that is not one, such as {@code [z-a]}
     */
    static Glob compile(String glob, String where, boolean atAnyDepth) throws InvalidInputException {
      int n = glob.length() + (atAnyDepth ? 1 : 0);
      byte[] kinds = new byte[n];
      int[] chars = new int[n];
      Pattern[] classes = new Pattern[n];
      int parts = 0;
      if (atAnyDepth) {
        kinds[parts++] = DIRS;
      }
      int i = 0;
      while (i < glob.length()) {
        int c = glob.codePointAt(i);
        if (c == '*' && i + 1 < glob.length() && glob.charAt(i + 1) == '*') {
          boolean atStart = i == 0 || glob.charAt(i - 1) == '/';
          int after = i + 2;
          if (atStart && after < glob.length() && glob.charAt(after) == '/') {
            kinds[parts++] = DIRS;
            i = after + 1;
          } else {
            kinds[parts++] = ANY;
            i = after;
          }
          continue;
        }
        switch (c) {
          case '*' -> kinds[parts++] = STAR;
          case '?' -> kinds[parts++] = ONE;
          case '\\' -> {
            if (i + 1 < glob.length()) {
              i++;
              c = glob.codePointAt(i);
            }
            kinds[parts] = CHAR;
            chars[parts++] = c;
          }
          case '[' -> {
            int close = classEnd(glob, i);
            if (close < 0) {
              kinds[parts] = CHAR;
              chars[parts++] = c;
            } else {
              String body = glob.substring(i + 1, close);
              try {
                classes[parts] = Pattern.compile(characterClass(body), Pattern.DOTALL);
              } catch (PatternSyntaxException e) {
                throw new InvalidInputException(where + " holds a class of characters that is not one: ["
                    + body + "]: " + e.getDescription().toLowerCase(Locale.ROOT)
                    + " (a range goes from a lower character to a higher one, as in [a-z])");
              }
              kinds[parts++] = CLASS;
              i = close;
            }
          }
          default -> {
            kinds[parts] = CHAR;
            chars[parts++] = c;
          }
        }
        i += Character.charCount(c);
      }
      return new Glob(Arrays.copyOf(kinds, parts), Arrays.copyOf(chars, parts), Arrays.copyOf(classes, parts));
    }

    /** Whether the glob matches the whole of {@code path}. */
    boolean matches(String path) {
      return run(path, false, true);
    }

    /** Whether the glob matches a directory that {@code path} lies in, or (when {@code whole}) {@code path} itself. */
    boolean matchesOrIsUnder(String path, boolean whole) {
      return run(path, true, whole);
    }

    /**
     * Runs the glob over {@code path}. The states are the parts reached ({@code at}) and the {@code **}{@code /} parts
     * inside the directories they match ({@code inDirs}); each character of the path moves every state once.
     */
    private boolean run(String path, boolean directories, boolean whole) {
      int n = kinds.length;
      boolean[] at = new boolean[n + 1];
      boolean[] inDirs = new boolean[n + 1];
      boolean[] nextAt = new boolean[n + 1];
      boolean[] nextInDirs = new boolean[n + 1];
      at[0] = true;
      skipEmpty(at);
      for (int i = 0; i < path.length(); ) {
        int c = path.codePointAt(i);
        if (c == '/' && directories && at[n]) {
          return true; // the directory that ends here matches
        }
        Arrays.fill(nextAt, false);
        Arrays.fill(nextInDirs, false);
        boolean any = false;
        for (int k = 0; k < n; k++) {
          if (inDirs[k] || at[k] && kinds[k] == DIRS) {
            nextInDirs[k] = true;
            nextAt[k + 1] |= c == '/';
            any = true;
          } else if (at[k]) {
            int to = switch (kinds[k]) {
              case ANY -> k;
              case STAR -> c == '/' ? -1 : k;
              case ONE -> c == '/' ? -1 : k + 1;
              case CLASS -> c != '/' && classes[k].matcher(Character.toString(c)).matches() ? k + 1 : -1;
              default -> chars[k] == c ? k + 1 : -1;
            };
            if (to >= 0) {
              nextAt[to] = true;
              any = true;
            }
          }
        }
        if (!any) {
          return false;
        }
        boolean[] t = at;
        at = nextAt;
        nextAt = t;
        t = inDirs;
        inDirs = nextInDirs;
        nextInDirs = t;
        skipEmpty(at);
        i += Character.charCount(c);
      }
      return whole && at[n];
    }

    /** Adds to {@code at} the parts reached from it without a character: past a {@code *}, {@code **}, {@code **}/. */
    private void skipEmpty(boolean[] at) {
      for (int k = 0; k < kinds.length; k++) {
        if (at[k] && (kinds[k] == STAR || kinds[k] == ANY || kinds[k] == DIRS)) {
          at[k + 1] = true;
        }
      }
    }
  }

  /** The index of the {@code ]} closing the class that opens at {@code open}, or -1. */
  static int classEnd(String glob, int open) {
    int i = open + 1;
    if (i < glob.length() && (glob.charAt(i) == '!' || glob.charAt(i) == '^')) {
      i++;
    }
    if (i < glob.length() && glob.charAt(i) == ']') {
      i++; // a ']' first is a member
    }
    for (; i < glob.length(); i++) {
      if (glob.charAt(i) == ']') {
        return i;
      }
      if (glob.charAt(i) == '/') {
        return -1;
      }
    }
    return -1;
  }

  /** The regular expression of the class of characters whose body (between the brackets) is {@code body}. */
  static String characterClass(String body) {
    StringBuilder b = new StringBuilder("(?!/)[");
    int i = 0;
    if (!body.isEmpty() && (body.charAt(0) == '!' || body.charAt(0) == '^')) {
      b.append('^');
      i = 1;
    }
    for (int c; i < body.length(); i += Character.charCount(c)) {
      c = body.codePointAt(i); // whole, not as two halves that each match nothing
      boolean first = i == 0 || (i == 1 && b.charAt(b.length() - 1) == '^');
      if (c == '-' && !first && i < body.length() - 1) {
        b.append('-');
      } else if (Character.isLetterOrDigit(c)) {
        b.appendCodePoint(c);
      } else {
        b.append('\\').appendCodePoint(c);
      }
    }
    return b.append(']').toString();
  }

  private static String stripTrailingSpaces(String s) {
    int end = s.length();
    while (end > 0 && (s.charAt(end - 1) == ' ' || s.charAt(end - 1) == '\t' || s.charAt(end - 1) == '\r')) {
      end--;
    }
    return s.substring(0, end);
  }
}
