package io.ferry.server.web;

import io.ferry.chunk.ChunkPlanner;
import io.ferry.derive.ErrorMetrics;
import io.ferry.derive.FloatBits;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import io.ferry.id.ChunkId;
import io.ferry.read.ModelReader;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.Change;
import io.ferry.repo.Results.Diff;
import io.ferry.repo.Results.FileDiff;
import io.ferry.repo.Results.TensorDiff;
import io.ferry.repo.Results.TensorMove;
import io.ferry.repo.Results.VersionRef;
import io.ferry.server.http.HttpError;
import io.ferry.server.http.MemoryBudget;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The tensor-by-tensor difference of two versions with the magnitude of each change: the core's {@link
 * Repository#diff} says which tensors were added, removed, reshaped, retyped or changed; for a changed tensor this
 * then reads both versions' values, a stored chunk's worth of rows at a time (at most {@link #BLOCK} bytes of each
 * side held at once, taken from the server's memory budget), and measures the relative Frobenius norm of the
 * difference and the cosine with core's {@link ErrorMetrics}. Results are cached by version pair (a bounded LRU), so a
 * page reloaded or the JSON API asked again does not read the weights again. Thread-safe; shared by the JSON API
 * ({@code GET /v1/diff}) and the diff page.
 */
public final class WeightDiff {
  /** Most bytes of one side read at once: one stored chunk of a large tensor. */
  static final long BLOCK = ChunkPlanner.MAX_TENSOR_CHUNK;
  /** Version pairs kept in the cache. */
  static final int CACHE_PAIRS = 32;
  /** Tensor entries kept in the cache over all pairs (a pair with more is computed but not kept). */
  static final long CACHE_TENSORS = 200_000;
  private static final int BATCH = 8192;

  /**
   * A measured diff.
   *
   * @param a version A's id
   * @param b version B's id
   * @param tensors every tensor of either version, changed or not, in the order of B's files then those only in A
   * @param files files added, removed or changed
   * @param moved unchanged tensors that another file holds in B than in A (a model sharded anew), by name
   */
  public record Result(ChunkId a, ChunkId b, List<TensorDelta> tensors, List<FileDiff> files,
      List<TensorMove> moved) {
    public Result {
      Objects.requireNonNull(a, "a");
      Objects.requireNonNull(b, "b");
      tensors = List.copyOf(tensors);
      files = List.copyOf(files);
      moved = List.copyOf(moved);
    }

    /** Tensors that differ. */
    public long changedCount() {
      return tensors.stream().filter(TensorDelta::changed).count();
    }
  }

  private final Repository repo;
  private final MemoryBudget budget;
  private final LinkedHashMap<String, Result> cache = new LinkedHashMap<>(16, 0.75f, true);
  private long cachedTensors;

  public WeightDiff(Repository repo, MemoryBudget budget) {
    this.repo = Objects.requireNonNull(repo, "repo");
    this.budget = Objects.requireNonNull(budget, "budget");
  }

  /**
   * The measured diff of the versions {@code a} and {@code b} name (any ref text: {@code model}, {@code model:tag},
   * {@code model@id}), from the cache when this pair was measured before.
   */
  public Result diff(String a, String b) throws IOException, HttpError, InterruptedException {
    VersionRef va = repo.resolve(a);
    VersionRef vb = repo.resolve(b);
    String key = va.id().hex() + ":" + vb.id().hex();
    synchronized (cache) {
      Result r = cache.get(key);
      if (r != null) {
        return r;
      }
    }
    Result r = measure(va, vb);
    synchronized (cache) {
      if (r.tensors().size() <= CACHE_TENSORS && cache.put(key, r) == null) {
        cachedTensors += r.tensors().size();
      }
      var it = cache.entrySet().iterator();
      while ((cache.size() > CACHE_PAIRS || cachedTensors > CACHE_TENSORS) && it.hasNext()) {
        cachedTensors -= it.next().getValue().tensors().size();
        it.remove();
      }
    }
    return r;
  }

  /**
   * The diff of the versions {@code a} and {@code b} name if this pair was measured and is still cached, else empty:
   * resolves both (failing as {@link #diff} does for a reference to no version) and measures nothing.
   */
  public java.util.Optional<Result> ifCached(String a, String b) throws IOException, HttpError {
    String key = repo.resolve(a).id().hex() + ":" + repo.resolve(b).id().hex();
    synchronized (cache) {
      return java.util.Optional.ofNullable(cache.get(key));
    }
  }

  /** Whether the pair's diff is in the cache (for tests). */
  boolean cached(ChunkId a, ChunkId b) {
    synchronized (cache) {
      return cache.containsKey(a.hex() + ":" + b.hex());
    }
  }

  private static String exact(VersionRef v) {
    return v.version().model() + "@" + v.id().hex();
  }

  private Result measure(VersionRef va, VersionRef vb) throws IOException, HttpError, InterruptedException {
    Diff d = repo.diff(exact(va), exact(vb));
    // a name several files hold is matched within each file (TensorDiff#file), and shown with it
    Map<String, TensorDiff> changed = new HashMap<>();
    for (TensorDiff t : d.tensors()) {
      changed.put(key(t.name(), t.file()), t);
    }
    List<TensorDelta> out = new ArrayList<>();
    try (ModelReader ra = repo.open(exact(va)); ModelReader rb = repo.open(exact(vb))) {
      for (ModelReader.Located l : rb.tensors()) {
        TensorInfo t = l.info();
        TensorDiff c = changed.remove(t.name());
        if (c == null) {
          c = changed.remove(key(t.name(), l.file().path()));
        }
        if (c == null) {
          boolean shared = ra.heldBySeveralFiles(t.name()) || rb.heldBySeveralFiles(t.name());
          out.add(new TensorDelta(shown(t.name(), shared ? l.file().path() : null), null, t.dtype(), t.shape(),
              t.dtype(), t.shape(), 0, 1, 0));
        } else if (c.change() == Change.CHANGED) {
          ModelReader.Located a = c.file() == null ? ra.tensor(t.name()) : ra.tensor(c.file(), t.name());
          out.add(measured(ra, rb, a, l, shown(t.name(), c.file())));
        } else {
          out.add(unmeasured(c));
        }
      }
      for (TensorDiff c : d.tensors()) {
        if (changed.containsKey(c.name())) {
          out.add(unmeasured(c));
        }
      }
    }
    return new Result(va.id(), vb.id(), out, d.files(), d.moved());
  }

  private static String key(String name, String file) {
    return file == null ? name : name + "\0" + file;
  }

  /** A tensor's name as the diff shows it: with its file when several files hold the name. */
  private static String shown(String name, String file) {
    return file == null ? name : name + " (" + file + ")";
  }


  private static TensorDelta unmeasured(TensorDiff c) {
    return new TensorDelta(shown(c.name(), c.file()), c.change(), c.dtypeA(), c.shapeA(), c.dtypeB(), c.shapeB(), Double.NaN,
        Double.NaN, 0);
  }

  private TensorDelta measured(ModelReader ra, ModelReader rb, ModelReader.Located a, ModelReader.Located b,
      String shown) throws IOException, HttpError, InterruptedException {
    TensorInfo t = b.info();
    ErrorMetrics m = metrics(ra, rb, a, b);
    if (m == null) {
      return new TensorDelta(shown, Change.CHANGED, t.dtype(), t.shape(), t.dtype(), t.shape(), Double.NaN,
          Double.NaN, 0);
    }
    return new TensorDelta(shown, Change.CHANGED, t.dtype(), t.shape(), t.dtype(), t.shape(), m.relFrobenius(),
        m.cosine(), m.elements());
  }

  /**
   * Streams both tensors (same dtype and shape) a block of rows at a time; null if the type is not numeric or either
   * is a non-contiguous view of a checkpoint's storage (not measured: reading it as a range was refused, and the whole
   * diff failed with it).
   */
  private ErrorMetrics metrics(ModelReader ra, ModelReader rb, ModelReader.Located a, ModelReader.Located b)
      throws IOException, HttpError, InterruptedException {
    TensorInfo t = b.info();
    int width = width(t.dtype());
    if (width == 0 || !ra.rowMajor(a) || !rb.rowMajor(b)) {
      return null; // a view of a checkpoint's storage that is not contiguous is not a byte range of its elements
    }
    ErrorMetrics.Accumulator acc = new ErrorMetrics.Accumulator();
    double[] xa = new double[BATCH];
    double[] xb = new double[BATCH];
    long rowBytes = t.shape().isEmpty() ? -1 : t.rowBytes();
    if (rowBytes <= 0 || rowBytes > BLOCK) {
      if (t.byteLength() > BLOCK) {
        return null; // a single row above a block: not measured rather than held whole
      }
      try (MemoryBudget.Lease lease = budget.take(2 * t.byteLength())) {
        add(acc, ra.read(a), rb.read(b), t.dtype(), width, xa, xb);
      }
      return acc.result();
    }
    long rows = t.rows();
    long step = Math.max(1, BLOCK / rowBytes);
    try (MemoryBudget.Lease lease = budget.take(2 * Math.min(rows, step) * rowBytes)) {
      for (long r = 0; r < rows; r += step) {
        long to = Math.min(rows, r + step);
        add(acc, ra.readRows(a, r, to), rb.readRows(b, r, to), t.dtype(), width, xa, xb);
      }
    }
    return acc.result();
  }

  private static void add(ErrorMetrics.Accumulator acc, ByteBuffer a, ByteBuffer b, DType type, int width,
      double[] xa, double[] xb) {
    a.order(ByteOrder.LITTLE_ENDIAN);
    b.order(ByteOrder.LITTLE_ENDIAN);
    int count = Math.min(a.remaining(), b.remaining()) / width;
    int pa = a.position();
    int pb = b.position();
    for (int i = 0; i < count; i += BATCH) {
      int n = Math.min(BATCH, count - i);
      for (int k = 0; k < n; k++) {
        xa[k] = value(a, pa + (i + k) * width, type);
        xb[k] = value(b, pb + (i + k) * width, type);
      }
      acc.addAll(xa, xb, n);
    }
  }

  /** Bytes per element of the numeric types measured, 0 for others (packed, quantized, complex). */
  static int width(DType t) {
    return switch (t) {
      case BOOL, U8, I8 -> 1;
      case F16, BF16, I16, U16 -> 2;
      case F32, I32, U32 -> 4;
      case F64, I64, U64 -> 8;
      default -> 0;
    };
  }

  private static double unsigned(long v) {
    return v >= 0 ? v : (v >>> 1) * 2.0 + (v & 1);
  }

  private static double value(ByteBuffer buf, int at, DType t) {
    return switch (t) {
      case BOOL, U8 -> buf.get(at) & 0xff;
      case I8 -> buf.get(at);
      case F16 -> FloatBits.halfToFloat(buf.getShort(at));
      case BF16 -> FloatBits.bf16ToFloat(buf.getShort(at));
      case I16 -> buf.getShort(at);
      case U16 -> buf.getShort(at) & 0xffff;
      case F32 -> buf.getFloat(at);
      case I32 -> buf.getInt(at);
      case U32 -> buf.getInt(at) & 0xffffffffL;
      case F64 -> buf.getDouble(at);
      case I64 -> buf.getLong(at);
      case U64 -> unsigned(buf.getLong(at));
      default -> throw new IllegalArgumentException("dtype " + t + " is not measured");
    };
  }
}
