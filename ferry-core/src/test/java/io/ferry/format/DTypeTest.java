package io.ferry.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class DTypeTest {
  @Test
  void bitSizes() {
    assertThat(DType.BOOL.bits()).isEqualTo(8);
    assertThat(DType.U8.bits()).isEqualTo(8);
    assertThat(DType.F16.bits()).isEqualTo(16);
    assertThat(DType.BF16.bits()).isEqualTo(16);
    assertThat(DType.I32.bits()).isEqualTo(32);
    assertThat(DType.F64.bits()).isEqualTo(64);
    assertThat(DType.C64.bits()).isEqualTo(64);
    assertThat(DType.F8_E4M3FNUZ.bits()).isEqualTo(8);
    assertThat(DType.F8_E8M0.bits()).isEqualTo(8);
    assertThat(DType.F4.bits()).isEqualTo(4);
    assertThat(DType.F6_E2M3.bits()).isEqualTo(6);
    assertThat(DType.F6_E3M2.bits()).isEqualTo(6);
  }

  @Test
  void floats() {
    assertThat(DType.values()).filteredOn(DType::isFloat).containsExactlyInAnyOrder(DType.F16, DType.BF16,
        DType.F32, DType.F64, DType.F8_E4M3, DType.F8_E5M2, DType.F8_E8M0, DType.F8_E4M3FNUZ, DType.F8_E5M2FNUZ,
        DType.F4, DType.F6_E2M3, DType.F6_E3M2);
  }

  @Test
  void parseIsExact() {
    for (DType t : DType.values()) {
      assertThat(DType.parse(t.name())).contains(t);
    }
    assertThat(DType.parse("f32")).isEmpty();
    assertThat(DType.parse("F32 ")).isEmpty();
    assertThat(DType.parse("F128")).isEmpty();
    assertThat(DType.parse("")).isEmpty();
    assertThat(DType.parse(null)).isEmpty();
  }

  @Test
  void byteLengthOfWholeBytes() {
    assertThat(DType.F32.byteLength(10)).isEqualTo(40);
    assertThat(DType.BOOL.byteLength(3)).isEqualTo(3);
    assertThat(DType.C64.byteLength(2)).isEqualTo(16);
    assertThat(DType.F4.byteLength(6)).isEqualTo(3);
    assertThat(DType.F6_E2M3.byteLength(4)).isEqualTo(3);
    assertThat(DType.F6_E3M2.byteLength(0)).isZero();
  }

  @Test
  void byteLengthRefusesPartialBytesLikeTheReference() {
    assertThatThrownBy(() -> DType.F4.byteLength(3)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("12 bits");
    assertThatThrownBy(() -> DType.F6_E2M3.byteLength(2)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> DType.F32.byteLength(-1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> DType.F64.byteLength(Long.MAX_VALUE / 8)).isInstanceOf(ArithmeticException.class);
  }

  /** ONNX's UINT4, INT4, UINT2, INT2 and COMPLEX128: packed as ONNX packs them, and no safetensors dtypes. */
  @Test
  void onnxTypesSafetensorsLacks() {
    assertThat(DType.U4.byteLength(6)).isEqualTo(3);
    assertThat(DType.I4.byteLength(0)).isZero();
    assertThat(DType.I2.byteLength(8)).isEqualTo(2);
    assertThat(DType.U2.bits()).isEqualTo(2);
    assertThat(DType.C128.byteLength(2)).isEqualTo(32);
    assertThatThrownBy(() -> DType.I4.byteLength(3)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> DType.U2.byteLength(6)).isInstanceOf(IllegalArgumentException.class);
    for (String name : new String[] {"U4", "I4", "U2", "I2", "C128"}) {
      assertThat(DType.parse(name)).isPresent();
      assertThat(DType.parseSafetensors(name)).isEmpty();
      assertThat(DType.parse(name).orElseThrow().isFloat()).isFalse();
    }
    assertThat(DType.values()).filteredOn(t -> !t.isSafetensors() && !t.isBlock())
        .containsExactly(DType.U4, DType.I4, DType.U2, DType.I2, DType.C128);
  }

  @Test
  void ggmlBlockTypesCountWholeBlocks() {
    assertThat(DType.Q4_0.isBlock()).isTrue();
    assertThat(DType.F32.isBlock()).isFalse();
    assertThat(DType.F32.blockSize()).isEqualTo(1);
    assertThat(DType.Q4_0.blockSize()).isEqualTo(32);
    assertThat(DType.Q4_0.blockBytes()).isEqualTo(18);
    assertThat(DType.Q4_K.bits()).isEqualTo(144 * 8);
    assertThat(DType.Q6_K.byteLength(4096 * 2)).isEqualTo(32 * 210);
    assertThat(DType.MXFP4.byteLength(64)).isEqualTo(34);
    assertThat(DType.F4.blockBytes()).isEqualTo(-1);
    assertThat(DType.Q8_0.isFloat()).isFalse();
    assertThatThrownBy(() -> DType.Q8_0.byteLength(33)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("33 elements of Q8_0 are not a whole number of blocks of 32");
    assertThat(DType.parse("Q4_K")).contains(DType.Q4_K);
    assertThat(DType.parseSafetensors("Q4_K")).isEmpty();
    assertThat(DType.parseSafetensors("F32")).contains(DType.F32);
  }

  @Test
  void rowsOfBlockTypesAreWholeBlocks() {
    assertThat(new TensorInfo("w", DType.Q4_0, java.util.List.of(3L, 64L), 0, 3 * 36).rowBytes()).isEqualTo(36);
    assertThat(new TensorInfo("b", DType.Q4_0, java.util.List.of(64L), 0, 36).rowBytes()).isEqualTo(-1);
    assertThat(new TensorInfo("e", DType.Q4_K, java.util.List.of(2L, 3L, 256L), 0, 6 * 144).rowBytes())
        .isEqualTo(3 * 144);
  }
}
