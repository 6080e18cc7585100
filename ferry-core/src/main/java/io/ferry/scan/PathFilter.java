package io.ferry.scan;

import io.ferry.error.InvalidInputException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

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
  private final List<Pattern> include;
  private final List<Pattern> exclude;
  private final List<Rule> ignore;

  /** One ignore rule: the pattern of the names it matches, whether it takes back, whether it matches directories only. */
  private record Rule(Pattern pattern, boolean negated, boolean directoryOnly) {}

  private PathFilter(List<String> includeText, List<String> excludeText, List<Pattern> include, List<Pattern> exclude,
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
   * @throws InvalidInputException for an empty or overlong glob, or too many
   */
  public static PathFilter of(List<String> include, List<String> exclude) throws InvalidInputException {
    return new PathFilter(include, exclude, compile("--include", include), compile("--exclude", exclude), List.of());
  }

  /**
   * A filter that takes the files matching at least one of {@code globs} ({@code push --opaque}), whose errors name
   * {@code option}.
   *
   * @throws InvalidInputException for an empty or overlong glob, or too many
   */
  public static PathFilter anyOf(String option, List<String> globs) throws InvalidInputException {
    return new PathFilter(globs, List.of(), compile(option, globs), List.of(), List.of());
  }

  /**
   * This filter with the rules of an ignore file added (see the class comment).
   *
   * @param lines the file's lines
   * @param source where they come from, for errors
   * @throws InvalidInputException for an overlong rule or too many
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
      String regex = (anchored ? "" : "(?:.*/)?") + globRegex(line);
      rules.add(new Rule(Pattern.compile(regex, Pattern.DOTALL), negated, dirOnly));
    }
    return new PathFilter(includeText, excludeText, include, exclude, rules);
  }

  /** Whether this filter takes every file. */
  public boolean takesAll() {
    return include.isEmpty() && exclude.isEmpty() && ignore.isEmpty();
  }

  /** Whether the file at {@code path} (relative, {@code /}-separated) is taken. */
  public boolean test(String path) {
    if (!include.isEmpty() && include.stream().noneMatch(p -> p.matcher(path).matches())) {
      return false;
    }
    if (exclude.stream().anyMatch(p -> p.matcher(path).matches())) {
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
      if (matchesOrIsUnder(r, path, isDirectory)) {
        ignored = !r.negated();
      }
    }
    return ignored;
  }

  /** Whether the rule matches the path, or one of the directories it lies in. */
  private static boolean matchesOrIsUnder(Rule r, String path, boolean isDirectory) {
    if ((isDirectory || !r.directoryOnly()) && r.pattern().matcher(path).matches()) {
      return true;
    }
    for (int slash = path.indexOf('/'); slash >= 0; slash = path.indexOf('/', slash + 1)) {
      if (r.pattern().matcher(path.substring(0, slash)).matches()) {
        return true;
      }
    }
    return false;
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

  private static List<Pattern> compile(String option, List<String> globs) throws InvalidInputException {
    if (globs.size() > MAX_GLOBS) {
      throw new InvalidInputException(option + ": " + globs.size() + " globs, more than " + MAX_GLOBS);
    }
    List<Pattern> out = new ArrayList<>();
    for (String g : globs) {
      if (g == null || g.isEmpty()) {
        throw new InvalidInputException(option + ": an empty glob matches no file; write '**' for every file");
      }
      if (g.length() > MAX_GLOB_CHARS) {
        throw new InvalidInputException(option + ": a glob of " + g.length() + " characters, more than "
            + MAX_GLOB_CHARS);
      }
      String glob = g.startsWith("/") ? g.substring(1) : g;
      out.add(Pattern.compile(globRegex(glob), Pattern.DOTALL));
    }
    return out;
  }

  /** The regular expression of a glob (see the class comment). */
  static String globRegex(String glob) {
    StringBuilder re = new StringBuilder();
    int i = 0;
    while (i < glob.length()) {
      char c = glob.charAt(i);
      if (c == '*' && i + 1 < glob.length() && glob.charAt(i + 1) == '*') {
        boolean atStart = i == 0 || glob.charAt(i - 1) == '/';
        int after = i + 2;
        if (atStart && after < glob.length() && glob.charAt(after) == '/') {
          re.append("(?:.*/)?");
          i = after + 1;
        } else {
          re.append(".*");
          i = after;
        }
        continue;
      }
      switch (c) {
        case '*' -> re.append("[^/]*");
        case '?' -> re.append("[^/]");
        case '\\' -> {
          if (i + 1 < glob.length()) {
            i++;
            re.append(Pattern.quote(String.valueOf(glob.charAt(i))));
          } else {
            re.append(Pattern.quote("\\"));
          }
        }
        case '[' -> {
          int close = classEnd(glob, i);
          if (close < 0) {
            re.append(Pattern.quote("["));
          } else {
            re.append(characterClass(glob.substring(i + 1, close)));
            i = close;
          }
        }
        default -> re.append(Pattern.quote(String.valueOf(c)));
      }
      i++;
    }
    return re.toString();
  }

  /** The index of the {@code ]} closing the class that opens at {@code open}, or -1. */
  private static int classEnd(String glob, int open) {
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

  private static String characterClass(String body) {
    StringBuilder b = new StringBuilder("(?!/)[");
    int i = 0;
    if (!body.isEmpty() && (body.charAt(0) == '!' || body.charAt(0) == '^')) {
      b.append('^');
      i = 1;
    }
    for (; i < body.length(); i++) {
      char c = body.charAt(i);
      boolean first = i == 0 || (i == 1 && b.charAt(b.length() - 1) == '^');
      if (c == '-' && !first && i < body.length() - 1) {
        b.append('-');
      } else if (Character.isLetterOrDigit(c)) {
        b.append(c);
      } else {
        b.append('\\').append(c);
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
