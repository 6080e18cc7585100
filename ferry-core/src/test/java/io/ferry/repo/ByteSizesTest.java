package io.ferry.repo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Byte counts shown to people and read from them. */
class ByteSizesTest {
  @Test
  void showsBytesBelowOneKibibyteExactlyAndLargerCountsWithOneDecimal() {
    assertThat(ByteSizes.human(0)).isEqualTo("0 B");
    assertThat(ByteSizes.human(1023)).isEqualTo("1023 B");
    assertThat(ByteSizes.human(1536)).isEqualTo("1.5 KiB");
    assertThat(ByteSizes.human(400L << 30)).isEqualTo("400.0 GiB");
    assertThat(ByteSizes.human(Long.MAX_VALUE)).isEqualTo("8.0 EiB");
  }

  @Test
  void readsCountsWithEveryUnitInEitherCase() {
    assertThat(ByteSizes.parse("262144")).isEqualTo(262144);
    assertThat(ByteSizes.parse(" 256k ")).isEqualTo(262144);
    assertThat(ByteSizes.parse("256KiB")).isEqualTo(262144);
    assertThat(ByteSizes.parse("7b")).isEqualTo(7);
    assertThat(ByteSizes.parse("1M")).isEqualTo(1 << 20);
    assertThat(ByteSizes.parse("3gib")).isEqualTo(3L << 30);
    assertThat(ByteSizes.parse("2t")).isEqualTo(2L << 40);
    assertThat(ByteSizes.parse("-1k")).isEqualTo(-1024);
    assertThat(ByteSizes.parse("0")).isZero();
    assertThat(ByteSizes.parse("8388607t")).isEqualTo(8388607L << 40);
    assertThat(ByteSizes.parse(Long.toString(Long.MAX_VALUE))).isEqualTo(Long.MAX_VALUE);
  }

  @Test
  void refusesWhatIsNotACountAndCountsPastALongNamingTheText() {
    for (String bad : new String[] {"", "k", "-", "-k", "1x", "1.5m", "1 k", "0x10", "1kk", "+1", "m1"}) {
      assertThatThrownBy(() -> ByteSizes.parse(bad)).as("'%s'", bad).isInstanceOf(IllegalArgumentException.class)
          .hasMessage("'" + bad + "' is not a byte count: expected " + ByteSizes.FORMS);
    }
    // past a long before or after the unit: it wrapped to a small or negative count in the cache's own parser
    for (String big : new String[] {"99999999999999999999", "8388608t", "9007199254740992k", "-8388609t"}) {
      assertThatThrownBy(() -> ByteSizes.parse(big)).as("'%s'", big).isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith("'" + big + "' is too large");
    }
  }
}
