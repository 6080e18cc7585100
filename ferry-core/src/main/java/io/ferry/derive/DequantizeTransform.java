package io.ferry.derive;

import io.ferry.derive.TensorReport.Action;
import io.ferry.derive.TensorReport.Output;
import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * {@link DeriveSpec.Dequantize}: every tensor that the quantization's report lists as quantized becomes a float
 * tensor of its original shape again (as {@code to}, or its type before quantization; F64 comes back as F32); its
 * scales and zero points are absorbed (neither written nor reported) and the files lose their quantization metadata.
 * When the version that was quantized is at hand, the error is measured against its tensors; otherwise only sparsity.
 */
final class DequantizeTransform implements TensorTransform {
  private final DType to;
  private final String where;
  private final QuantLayout layout;
  private final int group;
  private final boolean symmetric;
  private final Map<String, TensorReport> quantized = new HashMap<>();
  private final Function<String, TensorInfo> sourceTensors;
  private final Function<String, TensorInfo> originalTensors;

  /**
   * @param quantization the report of the quantization that made the source
   * @param where the source, for messages
   * @param sourceTensors the source's tensors by name (null when absent)
   * @param originalTensors the tensors of the version that was quantized by name (null when absent), or null when
   *     that version is not at hand
   * @throws InvalidInputException if the report's layout is not {@link QuantLayout#NAME} or its parameters are not
   *     those of a valid quantization
   */
  DequantizeTransform(DeriveSpec.Dequantize spec, DerivationReport quantization, String where,
      Function<String, TensorInfo> sourceTensors, Function<String, TensorInfo> originalTensors)
      throws InvalidInputException {
    this.to = Objects.requireNonNull(spec, "spec").to();
    this.where = where;
    Map<String, String> params = quantization.parameters();
    String name = params.getOrDefault("layout", "");
    if (!QuantLayout.NAME.equals(name)) {
      throw new InvalidInputException(where + ": unknown quantization layout '" + name + "', expected "
          + QuantLayout.NAME);
    }
    this.symmetric = Boolean.parseBoolean(params.get("symmetric"));
    DeriveSpec.Quantize q;
    try {
      q = DeriveSpec.Quantize.of(integer(params, "bits"), integer(params, "group_size"), symmetric, TensorFilter.ALL);
    } catch (InvalidInputException e) {
      throw new InvalidInputException(where + ": the quantization's parameters " + params + " are not valid: "
          + e.getMessage(), e);
    }
    this.layout = new QuantLayout(q.bits(), q.groupSize(), q.symmetric());
    this.group = q.groupSize();
    for (TensorReport t : quantization.tensors()) {
      if (t.action() == Action.QUANTIZED) {
        quantized.put(t.name(), t);
      }
    }
    this.sourceTensors = Objects.requireNonNull(sourceTensors, "sourceTensors");
    this.originalTensors = originalTensors;
  }

  @Override
  public TensorPlan plan(TensorInfo t) throws InvalidInputException {
    TensorReport q = quantized.get(t.name());
    if (q == null) {
      // only the tensors a quantized tensor reads are absorbed: a symmetric quantization writes no zero points, so a
      // tensor named W.zero_point beside it is the source's own and is kept
      String base = strip(t.name(), QuantLayout.SCALE);
      if (base == null && !symmetric) {
        base = strip(t.name(), QuantLayout.ZERO_POINT);
      }
      return base != null && quantized.containsKey(base) ? null : TensorPlan.kept(t, "not quantized");
    }
    DType src = q.sourceDtype();
    List<Long> shape = q.shape();
    if (!FLOATS.contains(src) || shape.size() != 2 || shape.get(0) == 0 || shape.get(1) == 0
        || shape.get(1) % group != 0) {
      throw new InvalidInputException(where + ": " + DerivationReport.FILE + " says tensor '" + t.name()
          + "' was quantized from " + src + " " + shape + ", which " + QuantLayout.NAME + " with group size " + group
          + " does not quantize (a non-empty 2-D F32, F16, BF16 or F64 tensor whose last dimension the group "
          + "divides)");
    }
    long rows = shape.get(0);
    long groups = shape.get(1) / group;
    DType out = to != null ? to : src != DType.F64 ? src : DType.F32;
    List<TensorInfo> inputs = new ArrayList<>();
    inputs.add(expect(t, t, layout.valuesType(), List.of(rows, layout.valueRowBytes(shape.get(1)))));
    inputs.add(expect(t, companion(t, QuantLayout.SCALE), DType.F32, List.of(rows, groups)));
    if (!symmetric) {
      inputs.add(expect(t, companion(t, QuantLayout.ZERO_POINT), DType.U8, List.of(rows, groups)));
    }
    TensorInfo reference = null;
    TensorInfo o = originalTensors == null ? null : originalTensors.apply(t.name());
    if (o != null && o.shape().equals(shape) && FLOATS.contains(o.dtype())) {
      reference = o;
    }
    return new TensorPlan(t, Action.DEQUANTIZED, null, t.dtype(), shape, inputs, reference, reference != null,
        List.of(new Output(t.name(), out, shape)));
  }

  /** {@code stored}, if it has the dtype and shape the layout gives it for quantized tensor {@code t}. */
  private TensorInfo expect(TensorInfo t, TensorInfo stored, DType dtype, List<Long> shape)
      throws InvalidInputException {
    if (stored.dtype() != dtype || !stored.shape().equals(shape)) {
      throw new InvalidInputException(where + ": tensor '" + stored.name() + "' is " + stored.dtype() + " "
          + stored.shape() + ", but " + DerivationReport.FILE + " (" + layout.describe() + ", '" + t.name()
          + "' quantized from " + quantized.get(t.name()).shape() + ") makes it " + dtype + " " + shape);
    }
    return stored;
  }

  private TensorInfo companion(TensorInfo t, String suffix) throws InvalidInputException {
    TensorInfo c = sourceTensors.apply(t.name() + suffix);
    if (c == null) {
      throw new InvalidInputException(where + ": quantized tensor '" + t.name() + "' has no '" + t.name() + suffix
          + "' tensor");
    }
    return c;
  }

  private static int integer(Map<String, String> params, String key) throws InvalidInputException {
    String v = params.get(key);
    try {
      return Integer.parseInt(v == null ? "" : v);
    } catch (NumberFormatException e) {
      throw new InvalidInputException(key + (v == null ? " is missing" : " '" + v + "' is not an integer"));
    }
  }

  private static String strip(String name, String suffix) {
    return name.endsWith(suffix) ? name.substring(0, name.length() - suffix.length()) : null;
  }

  @Override
  public Map<String, String> fileMetadata(Map<String, String> source, List<TensorPlan> plans) {
    Map<String, String> meta = new LinkedHashMap<>(source);
    meta.keySet().removeIf(k -> k.startsWith("ferry.quantization"));
    return meta;
  }

  @Override
  public DerivationInputException nothingToDo(String what, List<TensorPlan> plans) {
    return new DerivationInputException("nothing to dequantize in " + what);
  }

  /** A group: each is dequantized with its own scale and zero point. */
  @Override
  public long unit(TensorPlan plan) {
    return group;
  }

  @Override
  public Worker worker(TensorPlan plan, int maxElements) {
    return new DequantizeWorker(plan, maxElements);
  }

  /** Dequantizes blocks of whole rows or groups, or parts of a group longer than a block (its scale given whole). */
  private final class DequantizeWorker implements Worker {
    private final boolean parts;
    private final DType out;
    private final DType reference;
    private final float[] vals;
    private final double[] a;
    private final double[] y;
    private final String scaleName;
    private final long groupsPerRow;

    DequantizeWorker(TensorPlan plan, int max) {
      this.scaleName = plan.source().name() + QuantLayout.SCALE;
      this.groupsPerRow = plan.outputs().get(0).shape().get(1) / group;
      this.parts = max < group;
      this.out = plan.outputs().get(0).dtype();
      this.reference = plan.reference() == null ? null : plan.reference().dtype();
      this.vals = new float[max];
      this.a = reference == null ? null : new double[max];
      this.y = new double[max];
    }

    @Override
    public void apply(Block block, ErrorMetrics.Accumulator metrics) throws DerivationInputException {
      int n = block.elements();
      ByteBuffer q = block.in().get(0);
      ByteBuffer scales = block.in().get(1);
      ByteBuffer zps = symmetric ? null : block.in().get(2);
      checkScales(block.firstElement() / group, scales, parts ? 1 : n / group);
      int firstScale = scales.position();
      if (parts) {
        layout.dequantizeRun(q, scales.getFloat(scales.position()), zps == null ? 0 : zps.get(zps.position()) & 0xff,
            n, vals, 0);
      } else {
        int len = n / block.rows();
        for (int r = 0; r < block.rows(); r++) {
          layout.dequantizeRow(q, scales, zps, len, vals, r * len);
        }
      }
      ByteBuffer o = block.out().get(0);
      for (int i = 0; i < n; i++) {
        if (Float.isInfinite(vals[i])) {
          throw overflow(block.firstElement() + i, scales.getFloat(firstScale + (parts ? 0 : 4 * (i / group))));
        }
        y[i] = FloatBits.encode(vals[i], out, o);
      }
      if (reference != null) {
        FloatBits.decode(block.reference(), reference, a, n);
        metrics.addAll(a, y, n);
      } else {
        for (int i = 0; i < n; i++) {
          metrics.addUncompared(y[i]);
        }
      }
    }

    /**
     * The refusal of element {@code at} of the tensor (row-major), which its group's finite {@code scale} makes
     * infinite: (q − zero point) × scale is beyond float32's range, so the scale is not one a quantization wrote.
     */
    private DerivationInputException overflow(long at, float scale) {
      long cols = groupsPerRow * group;
      long g = at / group;
      return new DerivationInputException(where + ": tensor '" + scaleName + "' holds " + scale + " at row "
          + g / groupsPerRow + ", column " + g % groupsPerRow + ": with it, element [" + at / cols + ", " + at % cols
          + "] of '" + scaleName.substring(0, scaleName.length() - QuantLayout.SCALE.length()) + "' dequantizes to "
          + "infinity ((q − zero point) × scale is beyond float32's largest, " + Float.MAX_VALUE + "); a "
          + "quantization never writes such a scale");
    }

    /**
     * Refuses a NaN, infinite or negative scale among the {@code count} at the buffer's position (the first is the
     * tensor's group {@code first}, row-major): every value of its group would dequantize to NaN or infinity, or with
     * its sign flipped (a quantization writes the range of a group over its steps, never below 0).
     */
    private void checkScales(long first, ByteBuffer scales, int count) throws DerivationInputException {
      for (int g = 0; g < count; g++) {
        float s = scales.getFloat(scales.position() + 4 * g);
        if (!Float.isFinite(s) || s < 0) {
          long at = first + g;
          throw new DerivationInputException(where + ": tensor '" + scaleName + "' holds " + s + " at row "
              + at / groupsPerRow + ", column " + at % groupsPerRow + ": " + (s < 0 ? "the scale of a group is "
              + "never negative (its values would dequantize with their signs flipped)" : "the scale of a group "
              + "must be finite (its values would dequantize to NaN or infinity)"));
        }
      }
    }
  }
}
