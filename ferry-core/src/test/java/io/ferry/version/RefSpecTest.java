package io.ferry.version;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;
import org.junit.jupiter.api.Test;

/** How ref texts parse: {@code name}, {@code name:tag}, {@code name@prefix}, with {@code //path}. */
class RefSpecTest {
  @Test
  void anIdPrefixIsFourToSixtyFourAsciiHexDigitsInEitherCase() throws InvalidInputException {
    assertThat(RefSpec.parse("llama@3F2a").idPrefix()).isEqualTo("3f2a");
    assertThat(RefSpec.parse("org/llama@" + "ab".repeat(32)).idPrefix()).hasSize(64);
    for (String bad : new String[] {"3f2", "3f2g", "ab".repeat(32) + "a", "\uff13\uff19\uff15\uff10",
        "\u0663\u0663\u0663\u0663", "\uff10".repeat(64), "3f2a "}) {
      assertThatThrownBy(() -> RefSpec.parse("llama@" + bad)).as(bad).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("is not a version id prefix (4 to 64 hex digits)");
    }
  }

  @Test
  void stepsBackFollowAnyRefAndAddUp() throws InvalidInputException {
    assertThat(RefSpec.parse("llama~").back()).isEqualTo(1);
    assertThat(RefSpec.parse("llama~3").back()).isEqualTo(3);
    assertThat(RefSpec.parse("llama~0").back()).isZero();
    assertThat(RefSpec.parse("llama~~").back()).isEqualTo(2);
    assertThat(RefSpec.parse("llama~2~1").back()).isEqualTo(3);
    RefSpec tagged = RefSpec.parse("org/llama:prod~2//config.json");
    assertThat(tagged).isEqualTo(new RefSpec("org/llama", "prod", null, "config.json", 2));
    assertThat(tagged.refText()).isEqualTo("org/llama:prod~2");
    assertThat(tagged.toString()).isEqualTo("org/llama:prod~2//config.json");
    assertThat(RefSpec.parse(tagged.toString())).isEqualTo(tagged);
    assertThat(RefSpec.parse("llama@3f2a~1")).isEqualTo(new RefSpec("llama", null, "3f2a", null, 1));
    assertThat(RefSpec.parse("llama~1").selectsVersion()).isTrue();
    assertThat(RefSpec.parse("llama:prod").selectsVersion()).isFalse();
    assertThat(RefSpec.parse("llama~1").withoutBack()).isEqualTo(RefSpec.parse("llama"));
    assertThat(RefSpec.parse("llama~" + RefSpec.MAX_BACK).back()).isEqualTo(RefSpec.MAX_BACK);
    for (String bad : new String[] {"llama~x", "llama~-1", "llama~+1", "llama~1.5", "llama~ 1", "llama~\uff11",
        "llama~" + (RefSpec.MAX_BACK + 1), "llama~99999999999999999999", "llama~999999~999999", "llama~1:prod"}) {
      assertThatThrownBy(() -> RefSpec.parse(bad)).as(bad).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("is not a step back in history");
    }
    assertThatThrownBy(() -> RefSpec.parse("~1")).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("model name is empty");
    // a name missing or bad within a longer ref: the error names the ref as typed, not only "model name is empty"
    for (String[] bad : new String[][] {{":prod", "ref ':prod': model name is empty"},
        {"//config.json", "ref '//config.json': model name is empty"}, {"@3f2a", "ref '@3f2a': model name is empty"},
        {"llama:", "ref 'llama:': tag name '' is invalid"}, {"llama:a b//x", "ref 'llama:a b//x': tag name 'a b'"},
        {"ll ama~1", "ref 'll ama~1': model name 'll ama' is invalid"}}) {
      assertThatThrownBy(() -> RefSpec.parse(bad[0])).as(bad[0]).isInstanceOf(InvalidInputException.class)
          .hasMessageStartingWith(bad[1]);
    }
    assertThatThrownBy(() -> RefSpec.parse("ll ama")).hasMessageStartingWith("model name 'll ama' is invalid");
  }

  /**
   * git's {@code ^} was refused as a model name that is invalid ("model name 'm^' is invalid"), which did not say
   * that Ferry writes parents with {@code ~N}: the error names the ref and gives its Ferry form.
   */
  @Test
  void gitsCaretIsAnsweredWithTheTildeThatNamesTheFirstParent() {
    for (String[] bad : new String[][] {{"llama^", "llama~1"}, {"llama^^", "llama~2"}, {"llama^1", "llama~1"},
        {"llama:prod^//config.json", "llama:prod~1//config.json"}, {"llama@3f2a^", "llama@3f2a~1"}}) {
      assertThatThrownBy(() -> RefSpec.parse(bad[0])).as(bad[0]).isInstanceOf(InvalidInputException.class)
          .hasMessageStartingWith("ref '" + bad[0] + "': '^' is git's syntax for a parent")
          .hasMessageEndingWith(": " + bad[1]).hasMessageNotContaining("is invalid");
    }
    assertThatThrownBy(() -> RefSpec.parse("llama^2")).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("the first parent is llama~1").hasMessageContaining("ferry show llama lists its parents");
    assertThatThrownBy(() -> RefSpec.parse("llama~2^")).isInstanceOf(InvalidInputException.class)
        .hasMessageEndingWith(": llama~2~1");
    assertThatThrownBy(() -> RefSpec.parse("llama^~")).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("the first parent is llama~1");
  }
}
