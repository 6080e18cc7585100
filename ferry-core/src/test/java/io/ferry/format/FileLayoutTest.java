package io.ferry.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What every layout guarantees, whichever format made it. */
class FileLayoutTest {
  private static Region.Tensor t(String name, long start, long end) {
    return new Region.Tensor(name, DType.U8, List.of(end - start), start, end, end == start ? -1 : 1);
  }

  private static FileLayout layout(long size, long dataStart, Region... regions) {
    return new FileLayout("x", "f.x", size, dataStart, List.of(regions), FormatMetadata.NONE);
  }

  @Test
  void regionsMustCoverTheFileInOrder() {
    assertThatThrownBy(() -> layout(20, 8, new Region.Header(0, 8), t("a", 10, 20)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("f.x: region 1 (")
        .hasMessageContaining("starts at byte 10 but the regions before it end at 8");
    assertThatThrownBy(() -> layout(20, 8, new Region.Header(0, 8), t("a", 6, 20)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("starts at byte 6");
    assertThatThrownBy(() -> layout(21, 8, new Region.Header(0, 8), t("a", 8, 20)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("f.x: regions end at byte 20 but the file has 21 bytes");
  }

  @Test
  void tensorNamesAreDistinctAndTensorsFollowTheDataStart() {
    assertThatThrownBy(() -> layout(12, 8, new Region.Header(0, 8), t("a", 8, 10), t("a", 10, 12)))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("f.x: tensor 'a' appears twice in the layout");
    assertThatThrownBy(() -> layout(12, 9, new Region.Header(0, 8), t("a", 8, 12)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("f.x: tensor 'a' starts at byte 8, before the data start 9");
  }

  @Test
  void rowsMustDivideTheTensor() {
    assertThatThrownBy(() -> new Region.Tensor("w", DType.F32, List.of(3L), 0, 12, 5))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("tensor 'w': row size 5 does not divide its 12 bytes (expected a positive divisor, or -1 for no"
            + " rows)");
  }

  @Test
  void tensorsComeOutRelativeToTheDataStartInFileOrder() {
    FileLayout l = layout(16, 8, new Region.Header(0, 6), new Region.Padding(6, 8), t("z", 8, 8), t("b", 8, 12),
        t("a", 12, 16));
    assertThat(l.tensors()).containsExactly(new TensorInfo("z", DType.U8, List.of(0L), 0, 0),
        new TensorInfo("b", DType.U8, List.of(4L), 0, 4), new TensorInfo("a", DType.U8, List.of(4L), 4, 8));
    assertThat(l.tensorRegions()).extracting(Region.Tensor::name).containsExactly("z", "b", "a");
    assertThat(l.metadata().asStrings()).isEqualTo(Map.of());
    assertThat(l.metadata(io.ferry.format.safetensors.SafetensorsMetadata.class)).isEmpty();
  }
}
