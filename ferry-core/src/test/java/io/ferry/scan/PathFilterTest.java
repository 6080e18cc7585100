package io.ferry.scan;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;
import java.util.List;
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
}
