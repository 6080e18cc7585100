package io.ferry.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class TensorInfoTest {
  @Test
  void matrix() {
    TensorInfo t = new TensorInfo("w", DType.F32, List.of(3L, 4L), 16, 64);
    assertThat(t.elements()).isEqualTo(12);
    assertThat(t.byteLength()).isEqualTo(48);
    assertThat(t.rows()).isEqualTo(3);
    assertThat(t.rowBytes()).isEqualTo(16);
  }

  @Test
  void scalar() {
    TensorInfo t = new TensorInfo("s", DType.BF16, List.of(), 0, 2);
    assertThat(t.elements()).isEqualTo(1);
    assertThat(t.rows()).isEqualTo(1);
    assertThat(t.rowBytes()).isEqualTo(-1);
  }

  @Test
  void emptyTensor() {
    TensorInfo t = new TensorInfo("e", DType.F16, List.of(0L, 5L), 8, 8);
    assertThat(t.elements()).isZero();
    assertThat(t.rows()).isZero();
    assertThat(t.rowBytes()).isEqualTo(10);
  }

  @Test
  void subByteRows() {
    assertThat(new TensorInfo("v", DType.F4, List.of(8L), 0, 4).rowBytes()).isEqualTo(-1);
    assertThat(new TensorInfo("v", DType.F32, List.of(8L), 0, 32).rowBytes()).isEqualTo(4);
    assertThat(new TensorInfo("m", DType.F4, List.of(3L, 4L), 0, 6).rowBytes()).isEqualTo(2);
    assertThat(new TensorInfo("m", DType.F4, List.of(4L, 3L), 0, 6).rowBytes()).isEqualTo(-1);
    assertThat(new TensorInfo("m", DType.F6_E3M2, List.of(2L, 4L), 0, 6).rowBytes()).isEqualTo(3);
  }

  @Test
  void copiesShape() {
    List<Long> shape = new ArrayList<>(List.of(2L, 2L));
    TensorInfo t = new TensorInfo("w", DType.U8, shape, 0, 4);
    shape.add(7L);
    assertThat(t.shape()).containsExactly(2L, 2L);
    assertThatThrownBy(() -> t.shape().add(1L)).isInstanceOf(UnsupportedOperationException.class);
  }

  @Test
  void validates() {
    assertThatThrownBy(() -> new TensorInfo(null, DType.U8, List.of(), 0, 1)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> new TensorInfo("x", null, List.of(), 0, 1)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> new TensorInfo("x", DType.U8, null, 0, 1)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> new TensorInfo("x", DType.U8, List.of(1L), 5, 4))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'x'");
    assertThatThrownBy(() -> new TensorInfo("x", DType.U8, List.of(1L), -1, 0))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new TensorInfo("x", DType.U8, List.of(-1L), 0, 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("negative");
  }
}
