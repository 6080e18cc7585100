package io.ferry.spark.jobs;

import io.ferry.derive.DeriveSpec;
import io.ferry.derive.TensorFilter;
import java.io.IOException;
import java.io.Serializable;
import java.util.Objects;

/**
 * A derivation as executors receive it: the method and the options {@code ferry derive} takes, turned into core's
 * {@link DeriveSpec} (which validates them) on each side.
 *
 * @param method {@code cast}, {@code quantize}, {@code dequantize} or {@code prune}
 * @param to target dtype of a cast or dequantize ({@code bf16}, {@code f16}, {@code f32}), or null
 * @param bits bits of a quantization (4 or 8)
 * @param groupSize elements per scale along a row of a quantization (positive; the CLI's default is 128)
 * @param symmetric whether a quantization is symmetric
 * @param threshold prune threshold, or null
 * @param sparsity prune sparsity, or null
 * @param include regex of tensor names to derive, or null for all
 * @param exclude regex of tensor names to keep as they are, or null
 */
public record DeriveArgs(String method, String to, int bits, int groupSize, boolean symmetric, Double threshold,
    Double sparsity, String include, String exclude) implements Serializable {
  private static final long serialVersionUID = 1L;

  public DeriveArgs {
    Objects.requireNonNull(method, "method");
  }

  /** A quantization of every tensor core's quantizer takes. */
  public static DeriveArgs quantize(int bits, int groupSize) {
    return new DeriveArgs("quantize", null, bits, groupSize, true, null, null, null, null);
  }

  /** A cast of every float tensor to {@code to}. */
  public static DeriveArgs cast(String to) {
    return new DeriveArgs("cast", to, 0, 0, false, null, null, null, null);
  }

  /** Core's spec, validated. */
  public DeriveSpec spec() throws IOException {
    TensorFilter filter = TensorFilter.of(include, exclude);
    return switch (method) {
      case "cast" -> new DeriveSpec.Cast(DeriveSpec.floatTarget("to", to), filter);
      case "quantize" -> DeriveSpec.Quantize.of(bits, groupSize, symmetric, filter);
      case "dequantize" -> new DeriveSpec.Dequantize(to == null ? null : DeriveSpec.floatTarget("to", to));
      case "prune" -> DeriveSpec.Prune.of(threshold, sparsity, filter);
      default -> throw new IllegalArgumentException("derive method '" + method + "': expected cast, quantize, "
          + "dequantize or prune");
    };
  }
}
