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
}
