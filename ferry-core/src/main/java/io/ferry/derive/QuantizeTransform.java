package io.ferry.derive;

import static io.ferry.derive.DerivationInputException.param;

import io.ferry.derive.TensorReport.Action;
import io.ferry.derive.TensorReport.Output;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * {@link DeriveSpec.Quantize}: each 2-D float tensor whose last dimension the group size divides becomes three tensors
 * of layout {@link QuantLayout} (values, {@code .scale}, and {@code .zero_point} when asymmetric); its file's metadata
 * says so. The error is measured between the source values and the dequantized float32 values.
 */
final class QuantizeTransform implements TensorTransform {
  private final DeriveSpec.Quantize spec;
  private final QuantLayout layout;

  QuantizeTransform(DeriveSpec.Quantize spec) {
    this.spec = Objects.requireNonNull(spec, "spec");
    this.layout = new QuantLayout(spec.bits(), spec.groupSize(), spec.symmetric());
  }

  @Override
  public TensorPlan plan(TensorInfo t) {
    if (!FLOATS.contains(t.dtype())) {
      return TensorPlan.kept(t, CastTransform.notFloat(t));
    }
    if (t.shape().size() != 2) {
      return TensorPlan.kept(t, t.shape().size() + "-D, only 2-D tensors are quantized");
    }
    long rows = t.shape().get(0);
    long cols = t.shape().get(1);
    if (t.elements() == 0) {
      return TensorPlan.kept(t, "no elements");
    }
    if (cols % spec.groupSize() != 0) {
      // recorded in ferry-derivation.json as written since format ferry-derivation/1: keep the text
      return TensorPlan.kept(t, "last dimension " + cols + " is not a multiple of --group-size " + spec.groupSize());
    }
    long groups = cols / spec.groupSize();
    List<Output> outs = new java.util.ArrayList<>();
    outs.add(new Output(t.name(), layout.valuesType(), List.of(rows, layout.valueRowBytes(cols))));
    outs.add(new Output(t.name() + QuantLayout.SCALE, DType.F32, List.of(rows, groups)));
    if (!spec.symmetric()) {
      outs.add(new Output(t.name() + QuantLayout.ZERO_POINT, DType.U8, List.of(rows, groups)));
    }
    return TensorPlan.changed(t, Action.QUANTIZED, outs);
  }

  @Override
  public Map<String, String> fileMetadata(Map<String, String> source, List<TensorPlan> plans) {
    if (plans.stream().noneMatch(p -> p.action() == Action.QUANTIZED)) {
      return source;
    }
    Map<String, String> meta = new LinkedHashMap<>(source);
    // transformers refuses a safetensors file whose metadata has no format; one without metadata gets torch's.
    meta.putIfAbsent("format", "pt");
    meta.put("ferry.quantization", QuantLayout.NAME);
    meta.put("ferry.quantization.bits", Integer.toString(spec.bits()));
    meta.put("ferry.quantization.group_size", Integer.toString(spec.groupSize()));
    meta.put("ferry.quantization.symmetric", Boolean.toString(spec.symmetric()));
    return meta;
  }

  @Override
  public DerivationInputException nothingToDo(String what, List<TensorPlan> plans) {
    Set<Long> cols = new TreeSet<>();
    boolean candidates = false;
    boolean empty = false;
    for (TensorPlan p : plans) {
      TensorInfo t = p.source();
      if (FLOATS.contains(t.dtype()) && t.shape().size() == 2) {
        boolean passes;
        try {
          passes = spec.filter().rejects(t.name()) == null;
        } catch (DerivationInputException e) {
          // planning searched every name before this, so a regex that gives up gave up there first
          return e;
        }
        if (t.elements() == 0) {
          // kept for having no elements, whatever the group size: not a reason to blame --group-size
          empty |= passes;
          continue;
        }
        cols.add(t.shape().get(1));
        candidates |= passes;
      }
    }
    if (candidates) {
      return new DerivationInputException(param("group_size"), " " + spec.groupSize() + " divides the last "
          + "dimension of none of the 2-D float tensors of " + what + " (last dimensions: " + cols + ")");
    }
    if (empty) {
      return new DerivationInputException("nothing to quantize in " + what + ": the 2-D F32, F16, BF16 or F64 "
          + "tensors that pass the filters have no elements");
    }
    return new DerivationInputException("nothing to quantize in " + what + ": no 2-D F32, F16, BF16 or F64 tensor "
        + "passes the filters");
  }

  /** A group: each is quantized on its own (its scale and zero point from its own values). */
  @Override
  public long unit(TensorPlan plan) {
    return spec.groupSize();
  }

  @Override
  public Worker worker(TensorPlan plan, int maxElements) {
    return new QuantizeWorker(plan.source(), maxElements);
  }

  /**
   * Quantizes blocks of whole rows or groups, or, for groups longer than a block (a per-row scale of a long row), the
   * parts of each group in two passes: the first finds each group's range, the second quantizes.
   */
  private final class QuantizeWorker implements Worker {
    private final TensorInfo info;
    private final long cols;
    private final int group;
    private final double[] x;
    private final double[] y;
    private final float[] deq;
    /** Per group, when groups come in parts: its range, and where its first non-finite or largest value is. */
    private final double[] lo;
    private final double[] hi;
    private final long[] at;
    private final double[] value;

    QuantizeWorker(TensorInfo info, int max) {
      this.info = info;
      this.cols = info.shape().get(1);
      this.group = spec.groupSize();
      this.x = new double[max];
      this.y = new double[max];
      this.deq = new float[max];
      int groups = max < group ? Math.toIntExact(info.elements() / group) : 0;
      this.lo = new double[groups];
      this.hi = new double[groups];
      this.at = new long[groups];
      this.value = new double[groups];
    }

    @Override
    public int scanPasses() {
      return lo.length > 0 ? 1 : 0;
    }

    @Override
    public void scan(int pass, Block block) {
      int n = block.elements();
      FloatBits.decode(block.in().get(0), info.dtype(), x, n);
      long first = block.firstElement();
      int g = Math.toIntExact(first / group);
      if (first % group == 0) {
        at[g] = first;
      }
      for (int i = 0; i < n; i++) {
        double v = x[i];
        if (!Double.isFinite(value[g])) {
          break; // the first non-finite value is the one to report
        }
        if (!Double.isFinite(v) || Math.abs(v) > Math.abs(value[g])) {
          at[g] = first + i;
          value[g] = v;
        }
        if (Double.isFinite(v)) {
          lo[g] = Math.min(lo[g], v);
          hi[g] = Math.max(hi[g], v);
        }
      }
    }

    @Override
    public void apply(Block block, ErrorMetrics.Accumulator metrics) throws DerivationInputException {
      int n = block.elements();
      FloatBits.decode(block.in().get(0), info.dtype(), x, n);
      ByteBuffer q = block.out().get(0);
      ByteBuffer scales = block.out().get(1);
      ByteBuffer zps = spec.symmetric() ? null : block.out().get(2);
      if (lo.length > 0) {
        int g = Math.toIntExact(block.firstElement() / group);
        float scale = layout.scale(lo[g], hi[g]);
        if (!Double.isFinite(value[g]) || !layout.representable(lo[g], hi[g], scale)) {
          throw unquantizable(at[g], value[g], lo[g], hi[g]);
        }
        int zp = layout.zeroPoint(lo[g], scale);
        scales.putFloat(scale);
        if (zps != null) {
          zps.put((byte) zp);
        }
        int bad = layout.quantizeRun(x, 0, n, scale, zp, q, deq);
        if (bad >= 0) {
          throw unquantizable(block.firstElement() + bad, x[bad], lo[g], hi[g]);
        }
      } else {
        int len = n / block.rows();
        for (int r = 0; r < block.rows(); r++) {
          int bad = layout.quantizeRow(x, r * len, len, q, scales, zps, deq);
          if (bad >= 0) {
            int g0 = r * len + bad - bad % group;
            double l = 0;
            double h = 0;
            for (int i = g0; i < g0 + group; i++) {
              l = Math.min(l, x[i]);
              h = Math.max(h, x[i]);
            }
            throw unquantizable(block.firstElement() + (long) r * len + bad, x[r * len + bad], l, h);
          }
        }
      }
      for (int i = 0; i < n; i++) {
        y[i] = deq[i];
      }
      metrics.addAll(x, y, n);
    }

    /**
     * The error for value {@code v} at element {@code index} of the tensor (row-major), in a group whose values (and
     * 0) lie in {@code [lo, hi]}.
     */
    private DerivationInputException unquantizable(long index, double v, double lo, double hi) {
      long row = index / cols;
      long col = index % cols;
      String where = "tensor '" + info.name() + "' holds " + v + " at row " + row + ", column " + col + ": ";
      if (Double.isFinite(v) && Math.abs(v) <= Float.MAX_VALUE && !spec.symmetric()) {
        // the zero point is a whole step: rounded, it moves one end of the grid up to half a step past the range
        long first = col - col % group;
        QuantLayout sym = new QuantLayout(spec.bits(), group, true);
        float s = sym.scale(lo, hi);
        boolean symmetricTakes = Float.isFinite(s) && Float.isFinite(s * (spec.bits() == 8 ? 127 : 7));
        return new DerivationInputException(where + "its group (row " + row + ", columns " + first + " to "
            + (first + group - 1) + ") spans [" + lo + ", " + hi + "], and the asymmetric grid over that range ("
            + (spec.bits() == 8 ? 255 : 15) + " steps of its scale, from a whole-step zero point) reaches beyond "
            + "float32's largest (" + Float.MAX_VALUE + "): the value would dequantize to infinity (",
            symmetricTakes ? param("symmetric", "a symmetric quantization") : "",
            symmetricTakes ? " takes it, or " : "", "leave the tensor out with ",
            param("exclude", "an exclude filter"), ")");
      }
      String why = !Double.isFinite(v) ? "a non-finite value cannot be quantized"
          : Math.abs(v) > Float.MAX_VALUE
              ? "a value beyond float32's range (" + Float.MAX_VALUE + ") cannot be quantized (its scale is float32)"
              : "a value this close to float32's largest (" + Float.MAX_VALUE + ") cannot be quantized: it would "
                  + "dequantize to infinity (float32 scale × q overflows)";
      return new DerivationInputException(where + why + " (leave the tensor out with ",
          param("exclude", "an exclude filter"), ")");
    }
  }
}
