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

  @Test
  void aFormatsOwnTableListsViewsInsideTensorRegions() {
    List<Region> regions = List.of(new Region.Header(0, 8), t("storage0", 8, 20), new Region.Header(20, 24),
        t("storage1", 24, 24), t("storage2", 24, 30));
    // views relative to dataStart 4: two names share storage0 (tied weights), one is a slice of it
    List<TensorInfo> views = List.of(new TensorInfo("w", DType.F32, List.of(3L), 4, 16),
        new TensorInfo("tied", DType.F32, List.of(3L), 4, 16), new TensorInfo("slice", DType.U8, List.of(2L), 10, 12),
        new TensorInfo("empty", DType.U8, List.of(0L), 20, 20), new TensorInfo("last", DType.U8, List.of(6L), 20, 26));
    FileLayout l = new FileLayout("x", "f.x", 30, 4, regions, FormatMetadata.NONE, views);
    assertThat(l.tensors()).isEqualTo(views);
    assertThat(l.tensorRegions()).extracting(Region.Tensor::name).containsExactly("storage0", "storage1", "storage2");
    // without a table, the table is the tensor regions
    assertThat(new FileLayout("x", "f.x", 30, 4, regions, FormatMetadata.NONE).tensors())
        .extracting(TensorInfo::name).containsExactly("storage0", "storage1", "storage2");

    assertThatThrownBy(() -> new FileLayout("x", "f.x", 30, 4, regions, FormatMetadata.NONE,
        List.of(new TensorInfo("across", DType.U8, List.of(8L), 14, 22))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("f.x: tensor 'across' at bytes [18, 26) is not inside one tensor region of the layout");
    assertThatThrownBy(() -> new FileLayout("x", "f.x", 30, 4, regions, FormatMetadata.NONE,
        List.of(new TensorInfo("header", DType.U8, List.of(2L), 0, 2))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("f.x: tensor 'header' at bytes [4, 6) is not inside one tensor region of the layout");
    assertThatThrownBy(() -> new FileLayout("x", "f.x", 30, 4, regions, FormatMetadata.NONE,
        List.of(new TensorInfo("a", DType.U8, List.of(1L), 4, 5), new TensorInfo("a", DType.U8, List.of(1L), 5, 6))))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("f.x: tensor 'a' appears twice in the table");
  }
}
