package io.ferry.derive;

import io.ferry.derive.TensorReport.Action;
import io.ferry.derive.TensorReport.Output;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Objects;

/**
 * {@link DeriveSpec.Prune}: magnitude pruning of float tensors of 2 or more dimensions (1-D and scalar tensors, biases
 * and norms' scales, are kept), written in their own dtype with zeroed elements as +0.
 * By threshold, every {@code |x| < threshold} becomes zero in one pass. By sparsity, exactly {@code round(sparsity ×
 * n)} (halves to even) elements of smallest magnitude (ties: lower flat index first; NaN ranks above infinity) become
 * zero: the k-th smallest magnitude is found by radix selection over the magnitude bits, 16 bits per read-only pass
 * with a 65,536-entry histogram (2 passes for F32, 1 for 16-bit types, 4 for F64), then a writing pass zeroes what is
 * below it and the first ties.
 */
final class PruneTransform implements TensorTransform {
  private final DeriveSpec.Prune spec;

  PruneTransform(DeriveSpec.Prune spec) {
    this.spec = Objects.requireNonNull(spec, "spec");
  }

  @Override
  public TensorPlan plan(TensorInfo t) {
    if (!FLOATS.contains(t.dtype())) {
      return TensorPlan.kept(t, CastTransform.notFloat(t));
    }
    if (t.shape().size() < 2) {
      // Biases, norms' scales and scalars: zeroing the smallest of them breaks a model instead of thinning it.
      return TensorPlan.kept(t, t.shape().size() + "-D, only tensors of 2 or more dimensions are pruned");
    }
    return TensorPlan.changed(t, Action.PRUNED, List.of(new Output(t.name(), t.dtype(), t.shape())));
  }

  @Override
  public DerivationInputException nothingToDo(String what, List<TensorPlan> plans) {
    return new DerivationInputException("nothing to prune in " + what + ": no F32, F16, BF16 or F64 tensor of 2 or "
        + "more dimensions passes the filters");
  }

  @Override
  public long unit(TensorPlan plan) {
    return 1;
  }

  @Override
  public String unchanged(TensorPlan plan) {
    return spec.bySparsity() ? "the elements to zero are already +0" : "nothing below the threshold";
  }

  @Override
  public Worker worker(TensorPlan plan, int maxElements) {
    DType dt = plan.source().dtype();
    if (!spec.bySparsity()) {
      double threshold = spec.threshold();
      return new PruneWorker(dt, maxElements) {
        @Override
        boolean zero(ByteBuffer in, int i, double x) {
          return Math.abs(x) < threshold;
        }
      };
    }
    long n = plan.source().elements();
    // halves to even, as torch.nn.utils.prune counts (Python's round): half up zeroed a one-element tensor at 0.5
    return new SparsityWorker(dt, maxElements, Math.min(n, (long) Math.rint(spec.sparsity() * n)));
  }

  /** Copies a block and zeroes the elements {@link #zero} picks. */
  private abstract static class PruneWorker implements Worker {
    final DType dt;
    private final int size;
    private final double[] x;
    private final double[] y;
    /** Whether an element whose bytes were not already +0 was zeroed (-0.0 written as +0 counts). */
    private boolean altered;

    PruneWorker(DType dt, int max) {
      this.dt = dt;
      this.size = dt.bits() / 8;
      this.x = new double[max];
      this.y = new double[max];
    }

    /** Whether element {@code i} of the block, of value {@code x}, becomes zero; called in element order. */
    abstract boolean zero(ByteBuffer in, int i, double x);

    @Override
    public void apply(Block block, ErrorMetrics.Accumulator metrics) {
      int n = block.elements();
      ByteBuffer in = block.in().get(0);
      ByteBuffer out = block.out().get(0);
      out.put(0, in, in.position(), n * size);
      FloatBits.decode(in, dt, x, n);
      for (int i = 0; i < n; i++) {
        boolean z = zero(in, i, x[i]);
        if (z) {
          for (int j = 0; j < size; j++) {
            altered |= out.get(i * size + j) != 0;
            out.put(i * size + j, (byte) 0);
          }
        }
        y[i] = z ? 0 : x[i];
      }
      metrics.addAll(x, y, n);
      metrics.unchanged(!altered);
    }
  }

  /** Zeroes exactly k elements of smallest magnitude, lower index first among equals. */
  private static final class SparsityWorker extends PruneWorker {
    private final long k;
    private final int passes;
    private long[] hist;
    private long prefix;
    private long mask;
    private long rank;
    private long tiesLeft;

    SparsityWorker(DType dt, int max, long k) {
      super(dt, max);
      this.k = k;
      this.passes = k > 0 ? dt.bits() / 16 : 0;
      this.rank = k - 1;
    }

    private int shift(int pass) {
      return dt.bits() - 16 * (pass + 1);
    }

    @Override
    public int scanPasses() {
      return passes;
    }

    @Override
    public void scan(int pass, Block block) {
      if (hist == null) {
        hist = new long[1 << 16];
      }
      ByteBuffer in = block.in().get(0);
      int sh = shift(pass);
      for (int i = 0; i < block.elements(); i++) {
        long key = key(in, dt, i);
        if ((key & mask) == prefix) {
          hist[(int) ((key >>> sh) & 0xffff)]++;
        }
      }
    }

    @Override
    public void endScan(int pass) {
      long cum = 0;
      int d = 0;
      while (cum + hist[d] <= rank) {
        cum += hist[d];
        d++;
      }
      rank -= cum;
      prefix |= (long) d << shift(pass);
      mask |= 0xffffL << shift(pass);
      java.util.Arrays.fill(hist, 0);
      if (pass == passes - 1) {
        tiesLeft = rank + 1;
      }
    }

    @Override
    boolean zero(ByteBuffer in, int i, double x) {
      if (k == 0) {
        return false;
      }
      long key = key(in, dt, i);
      if (Long.compareUnsigned(key, prefix) < 0) {
        return true;
      }
      if (key == prefix && tiesLeft > 0) {
        tiesLeft--;
        return true;
      }
      return false;
    }

    /** The magnitude of element i as an unsigned key ordered like |x| (NaN above infinity). */
    private static long key(ByteBuffer in, DType t, int i) {
      int p = in.position();
      return switch (t) {
        case F32 -> in.getInt(p + 4 * i) & 0x7fffffffL;
        case F64 -> in.getLong(p + 8 * i) & 0x7fffffffffffffffL;
        default -> in.getShort(p + 2 * i) & 0x7fffL;
      };
    }
  }
}
