package io.ferry.derive;

import static io.ferry.derive.DerivationInputException.param;

import io.ferry.format.DType;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * What a derivation does. Each kind is a record validated on construction, before anything is read or written: the
 * constructors throw {@link IllegalArgumentException}, the {@code of} factories a {@link DerivationInputException}
 * that names the bad parameter by its key in {@link #parameters()} ({@code bits}, {@code group_size}...), so that a
 * front end can name it its own way.
 */
public sealed interface DeriveSpec {
  /** The derivation method recorded in the version: cast, quantize, dequantize or prune. */
  String method();

  /** The parameters recorded in the version. */
  Map<String, String> parameters();

  /** Which tensors may be changed. */
  TensorFilter filter();

  /**
   * Parses {@code bf16}, {@code f16} or {@code f32} (any case; also {@code fp16}, {@code float16}, {@code fp32},
   * {@code float32}).
   *
   * @param parameter the parameter's key, for the message ({@code to})
   * @throws DerivationInputException naming the parameter if the text is none of those
   */
  static DType floatTarget(String parameter, String text) throws DerivationInputException {
    String t = text == null ? "" : text.toUpperCase(Locale.ROOT);
    return switch (t) {
      case "BF16" -> DType.BF16;
      case "F16", "FP16", "FLOAT16" -> DType.F16;
      case "F32", "FP32", "FLOAT32" -> DType.F32;
      default -> throw new DerivationInputException(param(parameter), " '" + text + "' is not a supported float "
          + "type: use bf16, f16 or f32");
    };
  }

  /** Casts F32, F16, BF16 and F64 tensors to {@code to} with round-to-nearest-even. */
  record Cast(DType to, TensorFilter filter) implements DeriveSpec {
    public Cast {
      Objects.requireNonNull(to, "to");
      Objects.requireNonNull(filter, "filter");
      if (to != DType.F32 && to != DType.F16 && to != DType.BF16) {
        throw new IllegalArgumentException("to must be bf16, f16 or f32, got " + to);
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
      DerivationInputException bad = problem(bits, groupSize);
      if (bad != null) {
        throw new IllegalArgumentException(bad.getMessage(), bad);
      }
    }

    /**
     * Validating factory.
     *
     * @throws DerivationInputException naming {@code bits} or {@code group_size} if one is not valid
     */
    public static Quantize of(int bits, int groupSize, boolean symmetric, TensorFilter filter)
        throws DerivationInputException {
      DerivationInputException bad = problem(bits, groupSize);
      if (bad != null) {
        throw bad;
      }
      return new Quantize(bits, groupSize, symmetric, filter);
    }

    private static DerivationInputException problem(int bits, int groupSize) {
      if (bits != 8 && bits != 4) {
        return new DerivationInputException(param("bits"), " must be 8 or 4, got " + bits);
      }
      if (groupSize <= 0) {
        return new DerivationInputException(param("group_size"), " must be positive, got " + groupSize);
      }
      if (bits == 4 && groupSize % 2 != 0) {
        return new DerivationInputException(param("group_size"), " must be even with ", param("bits"),
            " 4 (two values per byte), got " + groupSize);
      }
      return null;
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
        throw new IllegalArgumentException("to must be bf16, f16 or f32, got " + to);
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
   * Magnitude pruning of float tensors of 2 or more dimensions (others are kept): either every element with
   * {@code |x| < threshold} becomes zero, or exactly {@code round(sparsity × n)} (halves to even) elements of smallest
   * magnitude per tensor do (ties: lower flat index first).
   *
   * @param threshold a finite positive threshold, or NaN when pruning by sparsity
   * @param sparsity a fraction in (0, 1), or NaN when pruning by threshold (0 of either would zero nothing and make
   *     a version identical to its source: refused)
   */
  record Prune(double threshold, double sparsity, TensorFilter filter) implements DeriveSpec {
    public Prune {
      Objects.requireNonNull(filter, "filter");
      DerivationInputException bad = problem(threshold, sparsity);
      if (bad != null) {
        throw new IllegalArgumentException(bad.getMessage(), bad);
      }
    }

    /**
     * Validating factory; null means "not given".
     *
     * @throws DerivationInputException naming {@code threshold} or {@code sparsity} if not exactly one is given or
     *     the one given is out of range
     */
    public static Prune of(Double threshold, Double sparsity, TensorFilter filter) throws DerivationInputException {
      // NaN stands for "not given" in the record: a NaN given is out of range, not absent
      if (threshold != null && threshold.isNaN()) {
        throw new DerivationInputException(param("threshold"), " must be a finite number > 0, got NaN");
      }
      if (sparsity != null && sparsity.isNaN()) {
        throw new DerivationInputException(param("sparsity"), " must be in (0, 1), got NaN");
      }
      double t = threshold == null ? Double.NaN : threshold;
      double s = sparsity == null ? Double.NaN : sparsity;
      DerivationInputException bad = problem(t, s);
      if (bad != null) {
        throw bad;
      }
      return new Prune(t, s, filter);
    }

    private static DerivationInputException problem(double threshold, double sparsity) {
      boolean byT = !Double.isNaN(threshold);
      boolean byS = !Double.isNaN(sparsity);
      if (byT == byS) {
        return new DerivationInputException("give exactly one of ", param("threshold"), " and ", param("sparsity"));
      }
      if (byT && !(threshold > 0 && threshold < Double.POSITIVE_INFINITY)) {
        return new DerivationInputException(param("threshold"), " must be a finite number > 0, got " + threshold
            + (threshold == 0 ? " (it would zero nothing)" : ""));
      }
      if (byS && !(sparsity > 0 && sparsity < 1)) {
        return new DerivationInputException(param("sparsity"), " must be in (0, 1), got " + sparsity
            + (sparsity == 0 ? " (it would zero nothing)" : ""));
      }
      return null;
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
