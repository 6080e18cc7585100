package io.ferry.format.gguf;

import io.ferry.format.DType;
import java.util.Map;

/**
 * ggml's tensor type ids as GGUF files number them ({@code enum ggml_type} in {@code ggml.h}), mapped to Ferry's
 * {@link DType}s. Ids that ggml retired from GGUF files are named so that the refusal says what the file holds.
 */
final class GgmlTypes {
  private static final DType[] BY_ID = new DType[43];
  private static final Map<Integer, String> RETIRED = Map.of(
      4, "Q4_2 (support removed from ggml)",
      5, "Q4_3 (support removed from ggml)",
      31, "Q4_0_4_4 (removed from GGUF files: ggml repacks Q4_0 at load time)",
      32, "Q4_0_4_8 (removed from GGUF files: ggml repacks Q4_0 at load time)",
      33, "Q4_0_8_8 (removed from GGUF files: ggml repacks Q4_0 at load time)",
      36, "IQ4_NL_4_4 (removed from GGUF files: ggml repacks IQ4_NL at load time)",
      37, "IQ4_NL_4_8 (removed from GGUF files: ggml repacks IQ4_NL at load time)",
      38, "IQ4_NL_8_8 (removed from GGUF files: ggml repacks IQ4_NL at load time)");

  static {
    put(0, DType.F32);
    put(1, DType.F16);
    put(2, DType.Q4_0);
    put(3, DType.Q4_1);
    put(6, DType.Q5_0);
    put(7, DType.Q5_1);
    put(8, DType.Q8_0);
    put(9, DType.Q8_1);
    put(10, DType.Q2_K);
    put(11, DType.Q3_K);
    put(12, DType.Q4_K);
    put(13, DType.Q5_K);
    put(14, DType.Q6_K);
    put(15, DType.Q8_K);
    put(16, DType.IQ2_XXS);
    put(17, DType.IQ2_XS);
    put(18, DType.IQ3_XXS);
    put(19, DType.IQ1_S);
    put(20, DType.IQ4_NL);
    put(21, DType.IQ3_S);
    put(22, DType.IQ2_S);
    put(23, DType.IQ4_XS);
    put(24, DType.I8);
    put(25, DType.I16);
    put(26, DType.I32);
    put(27, DType.I64);
    put(28, DType.F64);
    put(29, DType.IQ1_M);
    put(30, DType.BF16);
    put(34, DType.TQ1_0);
    put(35, DType.TQ2_0);
    put(39, DType.MXFP4);
    put(40, DType.NVFP4);
    put(41, DType.Q1_0);
    put(42, DType.Q2_0);
  }

  private GgmlTypes() {}

  private static void put(int id, DType t) {
    BY_ID[id] = t;
  }

  /** The type of this id, or null if ggml has none (any more). */
  static DType byId(int id) {
    return id >= 0 && id < BY_ID.length ? BY_ID[id] : null;
  }

  /** What an id without a type is, for the error message. */
  static String describeUnknown(int id) {
    String retired = RETIRED.get(id);
    return retired != null ? "ggml type " + id + ", " + retired
        : "unknown ggml type " + id + " (known: 0-3, 6-30, 34, 35, 39-42)";
  }

  /** The id of a type, or -1 if GGUF files cannot hold it. */
  static int idOf(DType t) {
    for (int i = 0; i < BY_ID.length; i++) {
      if (BY_ID[i] == t) {
        return i;
      }
    }
    return -1;
  }
}
