package io.ferry.derive;

import io.ferry.derive.TensorReport.Action;
import io.ferry.derive.TensorReport.Output;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Objects;

/**
 * {@link DeriveSpec.Cast}: F32, F16, BF16 and F64 tensors become {@code to} with round-to-nearest-even (F64 through
 * round-to-odd to float first, so that it is rounded once); other tensors and tensors already of that type are kept.
 * The error is measured between the source values and the values written.
 */
final class CastTransform implements TensorTransform {
  private final DType to;

  CastTransform(DeriveSpec.Cast spec) {
    this.to = Objects.requireNonNull(spec, "spec").to();
  }

  @Override
  public TensorPlan plan(TensorInfo t) {
    if (!FLOATS.contains(t.dtype())) {
      return TensorPlan.kept(t, notFloat(t));
    }
    if (t.dtype() == to) {
      return TensorPlan.kept(t, "already " + to);
    }
    return TensorPlan.changed(t, Action.CAST, List.of(new Output(t.name(), to, t.shape())));
  }

  /** The reason a tensor that is not of a float type is kept. */
  static String notFloat(TensorInfo t) {
    return "not F32, F16, BF16 or F64 (" + t.dtype() + ")";
  }

  @Override
  public DerivationInputException nothingToDo(String what, List<TensorPlan> plans) {
    return new DerivationInputException("nothing to cast in " + what + ": no F32, F16, BF16 or F64 tensor other "
        + "than " + to + " passes the filters");
  }

  @Override
  public long unit(TensorPlan plan) {
    return 1;
  }

  @Override
  public Worker worker(TensorPlan plan, int maxElements) {
    return new CastWorker(plan.source().dtype(), to, maxElements);
  }

  private static final class CastWorker implements Worker {
    private final DType from;
    private final DType to;
    private final int[] fbits;
    private final double[] a;
    private final double[] b;

    CastWorker(DType from, DType to, int max) {
      this.from = from;
      this.to = to;
      this.fbits = new int[max];
      this.a = new double[max];
      this.b = new double[max];
    }

    @Override
    public void apply(Block block, ErrorMetrics.Accumulator metrics) {
      ByteBuffer in = block.in().get(0);
      ByteBuffer out = block.out().get(0);
      int n = block.elements();
      int at = in.position();
      switch (from) { // source values (exact as doubles) and the float each rounds through
        case F32 -> {
          for (int i = 0; i < n; i++) {
            fbits[i] = in.getInt(at + 4 * i);
            a[i] = Float.intBitsToFloat(fbits[i]);
          }
        }
        case F16 -> {
          for (int i = 0; i < n; i++) {
            float f = FloatBits.halfToFloat(in.getShort(at + 2 * i));
            fbits[i] = Float.floatToRawIntBits(f);
            a[i] = f;
          }
        }
        case BF16 -> {
          for (int i = 0; i < n; i++) {
            fbits[i] = (in.getShort(at + 2 * i) & 0xffff) << 16;
            a[i] = Float.intBitsToFloat(fbits[i]);
          }
        }
        default -> {
          for (int i = 0; i < n; i++) {
            double d = in.getDouble(at + 8 * i);
            a[i] = d;
            fbits[i] = Float.floatToRawIntBits(to == DType.F32 ? (float) d : FloatBits.roundToOdd(d));
          }
        }
      }
      switch (to) {
        case F32 -> {
          for (int i = 0; i < n; i++) {
            out.putInt(4 * i, fbits[i]);
            b[i] = Float.intBitsToFloat(fbits[i]);
          }
        }
        case BF16 -> {
          for (int i = 0; i < n; i++) {
            short h = FloatBits.floatToBf16(fbits[i]);
            out.putShort(2 * i, h);
            b[i] = FloatBits.bf16ToFloat(h);
          }
        }
        default -> {
          for (int i = 0; i < n; i++) {
            short h = FloatBits.floatToHalf(Float.intBitsToFloat(fbits[i]));
            out.putShort(2 * i, h);
            b[i] = FloatBits.halfToFloat(h);
          }
        }
      }
      metrics.addAll(a, b, n);
    }
  }
}
