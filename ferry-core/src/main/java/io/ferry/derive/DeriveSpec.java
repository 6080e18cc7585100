package io.ferry.derive;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * What a derivation does. Each kind is a record validated on construction: a bad argument throws {@link
 * InvalidInputException} naming the option as the CLI spells it ({@code --bits}, {@code --group-size}...), before
 * anything is read or written.
 */
public sealed interface DeriveSpec {
  /** The derivation method recorded in the version: cast, quantize, dequantize or prune. */
  String method();

  /** The parameters recorded in the version. */
  Map<String, String> parameters();

  /** Which tensors may be changed. */
  TensorFilter filter();

  /** Parses {@code bf16}, {@code f16} or {@code f32} (any case) for {@code option}. */
  static DType floatTarget(String option, String text) throws InvalidInputException {
    String t = text == null ? "" : text.toUpperCase(Locale.ROOT);
    return switch (t) {
      case "BF16" -> DType.BF16;
      case "F16", "FP16", "FLOAT16" -> DType.F16;
      case "F32", "FP32", "FLOAT32" -> DType.F32;
      default -> throw new InvalidInputException(option + " '" + text + "' is not a supported float type: use bf16, "
          + "f16 or f32");
    };
  }

  /** Casts F32, F16, BF16 and F64 tensors to {@code to} with round-to-nearest-even. */
  record Cast(DType to, TensorFilter filter) implements DeriveSpec {
    public Cast {
      Objects.requireNonNull(to, "to");
      Objects.requireNonNull(filter, "filter");
      if (to != DType.F32 && to != DType.F16 && to != DType.BF16) {
        throw new IllegalArgumentException("--to must be bf16, f16 or f32, got " + to);
      }
    }

    @Override
    public String method() {
      return "cast";
    }

    @Override
    public Map<String, String> parameters() {
      Map<String, String> p = new LinkedHashMap<>();
      p.put("to", to.name());
      filter.describe(p);
      return p;
    }
  }

  /**
   * Grouped integer quantization of 2-D float tensors (layout: {@link QuantLayout}).
   *
   * @param bits 8 or 4
   * @param groupSize consecutive elements of a row sharing a scale (and zero point); positive, even for 4 bits
   * @param symmetric scale only (zero point 0) when true; scale and zero point when false
   */
  record Quantize(int bits, int groupSize, boolean symmetric, TensorFilter filter) implements DeriveSpec {
    public Quantize {
      Objects.requireNonNull(filter, "filter");
      if (bits != 8 && bits != 4) {
        throw new IllegalArgumentException("--bits must be 8 or 4, got " + bits);
      }
      if (groupSize <= 0) {
        throw new IllegalArgumentException("--group-size must be positive, got " + groupSize);
      }
      if (bits == 4 && groupSize % 2 != 0) {
        throw new IllegalArgumentException("--group-size must be even with --bits 4 (two values per byte), got "
            + groupSize);
      }
    }

    /** Validating factory that reports bad arguments as {@link InvalidInputException}. */
    public static Quantize of(int bits, int groupSize, boolean symmetric, TensorFilter filter)
        throws InvalidInputException {
      try {
        return new Quantize(bits, groupSize, symmetric, filter);
      } catch (IllegalArgumentException e) {
        throw new InvalidInputException(e.getMessage());
      }
    }

    @Override
    public String method() {
      return "quantize";
    }

    @Override
    public Map<String, String> parameters() {
      Map<String, String> p = new LinkedHashMap<>();
      p.put("bits", Integer.toString(bits));
      p.put("group_size", Integer.toString(groupSize));
      p.put("symmetric", Boolean.toString(symmetric));
      p.put("layout", QuantLayout.NAME);
      filter.describe(p);
      return p;
    }
  }

  /** Restores the float tensors of a quantized version, as {@code to} or (null) each tensor's source type. */
  record Dequantize(DType to) implements DeriveSpec {
    public Dequantize {
      if (to != null && to != DType.F32 && to != DType.F16 && to != DType.BF16) {
        throw new IllegalArgumentException("--to must be bf16, f16 or f32, got " + to);
      }
    }

    @Override
    public String method() {
      return "dequantize";
    }

    @Override
    public TensorFilter filter() {
      return TensorFilter.ALL;
    }

    @Override
    public Map<String, String> parameters() {
      Map<String, String> p = new LinkedHashMap<>();
      p.put("to", to == null ? "source" : to.name());
      return p;
    }
  }

  /**
   * Magnitude pruning of float tensors: either every element with {@code |x| < threshold} becomes zero, or exactly
   * {@code round(sparsity × n)} elements of smallest magnitude per tensor do (ties: lower flat index first).
   *
   * @param threshold a finite non-negative threshold, or NaN when pruning by sparsity
   * @param sparsity a fraction in [0, 1), or NaN when pruning by threshold
   */
  record Prune(double threshold, double sparsity, TensorFilter filter) implements DeriveSpec {
    public Prune {
      Objects.requireNonNull(filter, "filter");
      boolean byT = !Double.isNaN(threshold);
      boolean byS = !Double.isNaN(sparsity);
      if (byT == byS) {
        throw new IllegalArgumentException("give exactly one of --threshold and --sparsity");
      }
      if (byT && (threshold < 0 || Double.isInfinite(threshold))) {
        throw new IllegalArgumentException("--threshold must be a finite number >= 0, got " + threshold);
      }
      if (byS && !(sparsity >= 0 && sparsity < 1)) {
        throw new IllegalArgumentException("--sparsity must be in [0, 1), got " + sparsity);
      }
    }

    /** Validating factory; null means "not given". */
    public static Prune of(Double threshold, Double sparsity, TensorFilter filter) throws InvalidInputException {
      try {
        return new Prune(threshold == null ? Double.NaN : threshold, sparsity == null ? Double.NaN : sparsity,
            filter);
      } catch (IllegalArgumentException e) {
        throw new InvalidInputException(e.getMessage());
      }
    }

    public boolean bySparsity() {
      return !Double.isNaN(sparsity);
    }

    @Override
    public String method() {
      return "prune";
    }

    @Override
    public Map<String, String> parameters() {
      Map<String, String> p = new LinkedHashMap<>();
      if (bySparsity()) {
        p.put("sparsity", Double.toString(sparsity));
      } else {
        p.put("threshold", Double.toString(threshold));
      }
      filter.describe(p);
      return p;
    }
  }
}
