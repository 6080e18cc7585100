package io.ferry.chunk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class CdcParamsTest {
  @Test
  void defaultIsTheDocumentedFormat() {
    assertThat(CdcParams.DEFAULT).isEqualTo(new CdcParams(256 << 10, 1 << 20, 4 << 20));
  }

  @Test
  void acceptsEqualSizes() {
    assertThat(new CdcParams(4096, 4096, 4096).avgBits()).isEqualTo(12);
  }

  @Test
  void rejectsBadSizesNamingTheValue() {
    assertThatThrownBy(() -> new CdcParams(32, 1024, 4096))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("min").hasMessageContaining("32");
    assertThatThrownBy(() -> new CdcParams(256, 1000, 4096))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("power of two").hasMessageContaining("1000");
    assertThatThrownBy(() -> new CdcParams(64, 128, 4096))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("128");
    assertThatThrownBy(() -> new CdcParams(2048, 1024, 4096))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("min (2048)");
    assertThatThrownBy(() -> new CdcParams(256, 1024, 1000))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("max (1000)");
  }

  @Test
  void chunkerRejectsAWindowSmallerThanMax() {
    assertThatThrownBy(() -> new CdcChunker(CdcParams.DEFAULT, (4 << 20) - 1))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("window");
  }
}
