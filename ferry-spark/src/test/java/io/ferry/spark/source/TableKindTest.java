package io.ferry.spark.source;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/**
 * The {@code table} option: absent means the chunks table; given blank ({@code table=''}, from an unset variable) it
 * is refused as {@code values=''} and {@code verify=''} are, where it was read as absent and gave the chunks table.
 */
class TableKindTest {
  @Test
  void aBlankTableIsRefusedAndAnAbsentOneIsTheChunksTable() {
    assertThat(TableKind.fromOption(null)).isEqualTo(TableKind.CHUNKS);
    assertThat(TableKind.fromOption(" Tensors ")).isEqualTo(TableKind.TENSORS);
    for (String blank : new String[] {"", "  "}) {
      assertThatThrownBy(() -> TableKind.fromOption(blank)).isInstanceOf(IllegalArgumentException.class)
          .hasMessage("option table='" + blank + "': expected one of chunks, versions, tensors");
    }
  }
}
