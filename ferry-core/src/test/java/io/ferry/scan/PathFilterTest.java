package io.ferry.scan;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.ferry.error.InvalidInputException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.junit.jupiter.api.Test;

/** Globs of --include/--exclude and the rules of .ferryignore. */
class PathFilterTest {
  private static PathFilter include(String... globs) throws InvalidInputException {
    return PathFilter.of(List.of(globs), List.of());
  }

  @Test
  void globsMatchTheWholePathWithDoubleStarAcrossDirectories() throws InvalidInputException {
    assertThat(include("*.json").test("config.json")).isTrue();
    assertThat(include("*.json").test("sub/config.json")).isFalse();
    assertThat(include("**/*.json").test("config.json")).isTrue();
    assertThat(include("**/*.json").test("a/b/config.json")).isTrue();
    assertThat(include("a/**").test("a/b/c")).isTrue();
    assertThat(include("a/**").test("ab/c")).isFalse();
    assertThat(include("a/**/z").test("a/z")).isTrue();
    assertThat(include("a/**/z").test("a/b/c/z")).isTrue();
    assertThat(include("model-0000?-of-*.safetensors").test("model-00001-of-00002.safetensors")).isTrue();
    assertThat(include("?").test("/")).isFalse();
    assertThat(include("[a-c]x").test("bx")).isTrue();
    assertThat(include("[!a-c]x").test("bx")).isFalse();
    assertThat(include("[!a-c]x").test("dx")).isTrue();
    assertThat(include("[!a]x").test("/x")).isFalse();
    assertThat(include("a.b").test("axb")).isFalse();
    assertThat(include("\\*").test("*")).isTrue();
    assertThat(include("\\*").test("x")).isFalse();
    assertThat(include("(x|y)+").test("(x|y)+")).isTrue();
    assertThat(include("[x").test("[x")).isTrue();
    PathFilter f = PathFilter.of(List.of("**/*.txt"), List.of("notes/a.txt"));
    assertThat(f.test("notes/a.txt")).isFalse();
    assertThat(f.test("notes/b.txt")).isTrue();
    assertThat(f.test("b.bin")).isFalse();
    assertThat(PathFilter.ALL.test("anything/at/all")).isTrue();
    assertThatThrownBy(() -> include("")).isInstanceOf(InvalidInputException.class).hasMessageContaining("--include");
  }

  @Test
  void ignoreRulesReadLikeGitignore() throws InvalidInputException {
    PathFilter f = PathFilter.ALL.withIgnoreRules(List.of("# comment", "", "  ", ".DS_Store", "*.log  ", "build/",
        "/top.txt", "docs/*.md", "!docs/keep.md"), ".ferryignore");
    assertThat(f.test(".DS_Store")).isFalse();
    assertThat(f.test("a/b/.DS_Store")).isFalse();
    assertThat(f.test("x.log")).isFalse();
    assertThat(f.test("d/x.log")).isFalse();
    assertThat(f.test("build")).isTrue(); // a file named build: the rule is for directories
    assertThat(f.test("build/out.bin")).isFalse();
    assertThat(f.test("src/build/out.bin")).isFalse();
    assertThat(f.test("top.txt")).isFalse();
    assertThat(f.test("sub/top.txt")).isTrue();
    assertThat(f.test("docs/a.md")).isFalse();
    assertThat(f.test("docs/keep.md")).isTrue();
    assertThat(f.test("docs/sub/a.md")).isTrue();
    assertThat(f.test("# comment")).isTrue();
    assertThat(f.test("model.safetensors")).isTrue();
    assertThat(f.skipsDirectory("build")).isFalse(); // a rule takes back: nothing is skipped whole
    PathFilter g = PathFilter.ALL.withIgnoreRules(List.of("build/", "cache"), "x");
    assertThat(g.skipsDirectory("build")).isTrue();
    assertThat(g.skipsDirectory("a/cache")).isTrue();
    assertThat(g.skipsDirectory("src")).isFalse();
  }

  /** A malformed glob is refused naming the option or the file and line, the glob and the defect. */
  @Test
  void aClassWhoseRangeIsReversedIsRefusedNamingTheGlob() throws InvalidInputException {
    String defect = "holds a class of characters that is not one: [z-a]: illegal character range (a range goes from a"
        + " lower character to a higher one, as in [a-z])";
    assertThatThrownBy(() -> include("*.json", "[z-a]*")).isInstanceOf(InvalidInputException.class)
        .hasMessage("--include: glob '[z-a]*' " + defect);
    assertThatThrownBy(() -> PathFilter.of(List.of(), List.of("/a/[z-a]"))).isInstanceOf(InvalidInputException.class)
        .hasMessage("--exclude: glob '/a/[z-a]' " + defect);
    assertThatThrownBy(() -> PathFilter.anyOf("--opaque", List.of("[!z-a]"))).isInstanceOf(InvalidInputException.class)
        .hasMessageStartingWith("--opaque: glob '[!z-a]' holds a class of characters that is not one: [!z-a]: ");
    assertThatThrownBy(() -> PathFilter.ALL.withIgnoreRules(List.of("# x", "!build/[z-a]/  "), "src/.ferryignore"))
        .isInstanceOf(InvalidInputException.class)
        .hasMessage("src/.ferryignore line 2: rule '!build/[z-a]/' " + defect);
  }

  /** What a filter says of itself ends "no files to push: ... left none". */
  @Test
  void describesItselfForMessages() throws InvalidInputException {
    PathFilter ignoring = PathFilter.ALL.withIgnoreRules(List.of("*"), ".ferryignore");
    assertThat(PathFilter.ALL).hasToString("every file");
    assertThat(ignoring).hasToString("the ignore rules");
    assertThat(PathFilter.of(List.of("*.json"), List.of())).hasToString("--include '*.json'");
    assertThat(PathFilter.of(List.of("*.json"), List.of()).withIgnoreRules(List.of("*"), ".ferryignore"))
        .hasToString("--include '*.json' with the ignore rules");
  }
  /**
   * Globs of many wildcards against long paths. Globs were regular expressions, whose backtracking took time
   * exponential in the number of {@code *} and {@code **}{@code /}: each of these ran for minutes, and the paths are
   * the store's, chosen by whoever pushed.
   */
  @Test
  void globsOfManyWildcardsTakeTimeBoundedByTheLengthOfThePath() {
    String deep = String.join("/", java.util.Collections.nCopies(200, "a"));
    assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
      assertThat(include("**/**/**/**/**/**/**/**/x").test(deep)).isFalse();
      assertThat(include("*-*-*-*-*-*-*.bin").test("-".repeat(250))).isFalse();
      assertThat(include("*a*a*a*a*a*a*a*a*b").test("a".repeat(250))).isFalse();
      assertThat(include("a/**/b/**/c/**/d/**/e").test("a/" + "b/c/d/".repeat(100))).isFalse();
      assertThat(PathFilter.of(List.of(), List.of("**/**/**/**/**/**/**/**/x")).test(deep)).isTrue();
      PathFilter rules = PathFilter.ALL.withIgnoreRules(List.of("*a*a*a*a*a*a*a*a*b", "a/**/**/**/**/**/**/**/x"),
          ".ferryignore");
      assertThat(rules.test("a".repeat(250) + "/" + deep)).isTrue();
      assertThat(rules.skipsDirectory(deep)).isFalse();
    });
  }

  /**
   * A character beyond 16 bits (an emoji, a rare CJK ideograph) in a glob matches itself, as in the Python client; the
   * regular expressions matched its two halves one at a time against whole characters, so never.
   */
  @Test
  void aCharacterBeyondSixteenBitsMatchesItself() throws InvalidInputException {
    String smile = "\uD83D\uDE00";
    assertThat(include("*" + smile + "*").test("x" + smile + "-")).isTrue();
    assertThat(include(smile + ".bin").test(smile + ".bin")).isTrue();
    assertThat(include("\\" + smile).test(smile)).isTrue();
    assertThat(include("?").test(smile)).isTrue();
    assertThat(include("??").test(smile)).isFalse();
  }

  /** A character beyond 16 bits in a class of characters is a member, as in the Python client; it matched nothing. */
  @Test
  void aCharacterBeyondSixteenBitsInAClassIsAMember() throws InvalidInputException {
    String smile = "\uD83D\uDE00";
    String grin = "\uD83D\uDE01";
    assertThat(include("[" + smile + "]").test(smile)).isTrue();
    assertThat(include("[" + smile + "x]*").test(smile + ".bin")).isTrue();
    assertThat(include("[!" + smile + "]").test(smile)).isFalse();
    assertThat(include("[!" + smile + "]").test(grin)).isTrue();
    assertThat(include("[" + smile + "-\uD83D\uDE02]").test(grin)).isTrue();
    assertThat(include("[" + smile + "]").test("\uD83D")).isFalse();
  }

  /**
   * The globs match as the regular expressions they were compiled to before (see {@link #oldRegex}), over many random
   * globs and paths of a few characters, as --include, as --exclude and as ignore rules.
   */
  @Test
  void globsMatchAsTheirRegularExpressionsDid() throws InvalidInputException {
    long seed = new Random().nextLong();
    Random random = new Random(seed);
    // no character beyond 16 bits in a glob: the regular expressions never matched one (see the test above)
    String[] globParts = {"*", "*", "**", "**/", "?", "/", "/", "a", "b", "-", "[", "]", "!", "^", "\\", "[a-b]",
        "[!a]", "[]a]", ".", "x"};
    String[] pathParts = {"a", "b", "/", "/", "-", "[", "]", "!", "*", "\\", "\uD83D\uDE00", ".", "x"};
    for (int round = 0; round < 20_000; round++) {
      String glob = random(random, globParts, 1 + random.nextInt(8));
      String where = "seed " + seed + ", glob '" + glob + "'";
      Pattern old;
      try {
        old = Pattern.compile(oldRegex(glob.startsWith("/") ? glob.substring(1) : glob), Pattern.DOTALL);
      } catch (PatternSyntaxException e) {
        assertThatThrownBy(() -> include(glob)).as(where).isInstanceOf(InvalidInputException.class);
        continue;
      }
      PathFilter included = include(glob);
      PathFilter excluded = PathFilter.of(List.of(), List.of(glob));
      List<Pattern> oldRule = new ArrayList<>();
      PathFilter rule = oldRule(glob, oldRule);
      for (int p = 0; p < 10; p++) {
        String path = random(random, pathParts, random.nextInt(10));
        boolean matches = old.matcher(path).matches();
        assertThat(included.test(path)).as(where + ", path '" + path + "'").isEqualTo(matches);
        assertThat(excluded.test(path)).as(where + ", path '" + path + "'").isEqualTo(!matches);
        if (rule != null) {
          assertThat(rule.test(path)).as(where + " as a rule, path '" + path + "'")
              .isEqualTo(!oldIgnored(oldRule.get(0), path));
        }
      }
    }
  }

  private static String random(Random random, String[] parts, int count) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < count; i++) {
      b.append(parts[random.nextInt(parts.length)]);
    }
    return b.toString();
  }

  /** The ignore filter of {@code line} as a rule, with its old regular expression put in {@code old}, or null. */
  private static PathFilter oldRule(String line, List<Pattern> old) throws InvalidInputException {
    String glob = line;
    if (glob.startsWith("!") || glob.startsWith("#") || glob.endsWith("/") || glob.endsWith(" ")) {
      return null; // negated, skipped or for directories only: not the matching this compares
    }
    boolean anchored = glob.contains("/");
    if (glob.startsWith("/")) {
      glob = glob.substring(1);
    }
    try {
      old.add(Pattern.compile((anchored ? "" : "(?:.*/)?") + oldRegex(glob), Pattern.DOTALL));
    } catch (PatternSyntaxException e) {
      return null;
    }
    return PathFilter.ALL.withIgnoreRules(List.of(line), ".ferryignore");
  }

  /** Whether the old rule matched the path or a directory it lies in. */
  private static boolean oldIgnored(Pattern rule, String path) {
    if (rule.matcher(path).matches()) {
      return true;
    }
    for (int slash = path.indexOf('/'); slash >= 0; slash = path.indexOf('/', slash + 1)) {
      if (rule.matcher(path.substring(0, slash)).matches()) {
        return true;
      }
    }
    return false;
  }

  /** The regular expression a glob was compiled to before globs were matched in one pass. */
  private static String oldRegex(String glob) {
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
          int close = PathFilter.classEnd(glob, i);
          if (close < 0) {
            re.append(Pattern.quote("["));
          } else {
            re.append(PathFilter.characterClass(glob.substring(i + 1, close)));
            i = close;
          }
        }
        default -> re.append(Pattern.quote(String.valueOf(c)));
      }
      i++;
    }
    return re.toString();
  }
}
