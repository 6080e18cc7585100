package io.ferry.derive;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.chunk.ChunkId;
import io.ferry.error.FerryException;
import io.ferry.error.InvalidInputException;
import io.ferry.error.NotFoundException;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import io.ferry.format.hf.HfIndex;
import io.ferry.format.safetensors.SafetensorsWriter;
import io.ferry.read.ModelReader;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.PushResult;
import io.ferry.repo.Results.VersionRef;
import io.ferry.transfer.TransferListener;
import io.ferry.version.Derivation;
import io.ferry.version.FileEntry;
import io.ferry.version.RefSpec;
import io.ferry.version.Version;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

/**
 * Makes a derived version from a stored one: reads the source tensor by tensor (whole tensors up to {@value
 * #BLOCK_ELEMENTS} elements, larger ones by row ranges), transforms them on a bounded pool of threads (one tensor per
 * thread), writes safetensors files with the source's file names into a temporary directory (copying the other files,
 * rewriting the weight map of a Hugging Face index when tensor names are added or removed), writes the per-tensor
 * report {@value #DERIVATION_FILE}, and pushes the directory with a {@link Derivation} and the source as second
 * parent, so unchanged tensors dedup against the source. The temporary directory is removed in every case; a failure
 * leaves the store unchanged.
 *
 * <p>Thread-safe: each call uses its own threads and directory, released before it returns.
 */
public final class Deriver {
  /** Name of the per-tensor report in a derived version. */
  public static final String DERIVATION_FILE = "ferry-derivation.json";
  /** Format name of {@link #DERIVATION_FILE}. */
  public static final String REPORT_FORMAT = "ferry-derivation/1";
  /** Elements of a source tensor processed at once (larger tensors go by row ranges). */
  static final int BLOCK_ELEMENTS = 1 << 20;
  private static final Set<DType> FLOATS = EnumSet.of(DType.F32, DType.F16, DType.BF16, DType.F64);
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private final Repository repo;
  private final int threads;
  private final Path tempParent;

  /**
   * @param repo the store to read and push into
   * @param threads tensors processed at once (at least 1)
   * @param tempParent where the temporary directory goes; null for {@code java.io.tmpdir}
   */
  public Deriver(Repository repo, int threads, Path tempParent) {
    this.repo = Objects.requireNonNull(repo, "repo");
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    }
    this.threads = threads;
    this.tempParent = tempParent;
  }

  /** A deriver with one thread per core and the system temporary directory. */
  public static Deriver of(Repository repo) {
    return new Deriver(repo, Runtime.getRuntime().availableProcessors(), null);
  }

  /**
   * Derives {@code target} ({@code model} or {@code model:tag}) from {@code sourceRef}.
   *
   * @throws InvalidInputException for a bad target name, a derivation with nothing to do, a quantized tensor with a
   *     non-finite value, or a dequantization of a version that was not quantized
   * @throws NotFoundException if the source does not exist
   */
  public DeriveResult derive(String sourceRef, String target, DeriveSpec spec, String message,
      TransferListener listener) throws IOException {
    Objects.requireNonNull(spec, "spec");
    checkTarget(target);
    VersionRef src = repo.resolve(sourceRef);
    String exact = src.version().model() + "@" + src.id().hex();
    try (ModelReader reader = repo.open(exact)) {
      Run run = new Run(reader, spec, src);
      try {
        run.plan();
        Path dir = tempParent == null ? Files.createTempDirectory("ferry-derive-")
            : Files.createTempDirectory(Files.createDirectories(tempParent), "ferry-derive-");
        DeriveResult result;
        try {
          result = writeAndPush(run, dir, sourceRef, target, message, listener, exact);
        } catch (IOException | RuntimeException | Error e) {
          try {
            deleteTree(dir);
          } catch (IOException cleanup) {
            e.addSuppressed(cleanup);
          }
          throw e;
        }
        try {
          deleteTree(dir);
        } catch (IOException e) {
          throw new IOException("derived version " + result.push().versionId().hex() + " was published, but its "
              + "temporary directory " + dir + " could not be removed: " + e.getMessage(), e);
        }
        return result;
      } finally {
        if (run.original != null) {
          run.original.close();
        }
      }
    }
  }

  private DeriveResult writeAndPush(Run run, Path dir, String sourceRef, String target, String message,
      TransferListener listener, String exact) throws IOException {
    long start = System.nanoTime();
    run.write(dir);
    long written = System.nanoTime();
    DeriveSpec spec = run.spec;
    Map<String, String> params = new LinkedHashMap<>(spec.parameters());
    params.put("tensors_changed", Long.toString(run.reports().stream().filter(TensorReport::changed).count()));
    params.put("tensors_kept", Long.toString(run.reports().stream().filter(r -> !r.changed()).count()));
    params.put("details", DERIVATION_FILE);
    if (run.original != null) {
      params.put("compared_with", run.originalId.hex());
    }
    Derivation d = new Derivation(spec.method(), params, run.src.id().hex(), run.overall().asMap());
    String msg = message == null || message.isEmpty() ? defaultMessage(spec, sourceRef) : message;
    PushResult pushed = repo.push(dir, target, PushOptions.builder().message(msg).derivation(d)
        .derivedFrom(exact).listener(listener).build());
    return new DeriveResult(pushed, run.src.id(), run.originalId, run.overall(), run.reports(),
        run.sourceTensorBytes, written - start, System.nanoTime() - written);
  }

  private static String defaultMessage(DeriveSpec spec, String sourceRef) {
    return spec.method() + " " + spec.parameters() + " of " + sourceRef;
  }

  private static void checkTarget(String target) throws InvalidInputException {
    RefSpec t;
    try {
      t = RefSpec.parse(target);
    } catch (InvalidInputException e) {
      throw new InvalidInputException("--as '" + target + "': " + e.getMessage(), e);
    }
    if (t.idPrefix() != null || t.path() != null) {
      throw new InvalidInputException("--as '" + target + "' must be a model or model:tag");
    }
  }

  // ------------------------------------------------------------------ one derivation

  /** What happens to one source tensor. */
  private static final class Plan {
    final ModelReader.Located src;
    final TensorReport.Action action;
    final String reason;
    final List<TensorInfo> outs = new ArrayList<>();
    final DType outType;
    DType reportedSource;
    List<Long> logicalShape;
    ErrorMetrics metrics;
    boolean compared = true;

    Plan(ModelReader.Located src, TensorReport.Action action, String reason, DType outType) {
      this.src = src;
      this.action = action;
      this.reason = reason;
      this.outType = outType;
      this.reportedSource = src.info().dtype();
      this.logicalShape = src.info().shape();
    }

    TensorInfo info() {
      return src.info();
    }
  }

  /** One output safetensors file. */
  private record FilePlan(FileEntry source, Map<String, String> metadata, List<Plan> plans) {}

  private final class Run {
    final ModelReader reader;
    final DeriveSpec spec;
    final VersionRef src;
    final List<FilePlan> files = new ArrayList<>();
    final List<Plan> all = new ArrayList<>();
    long sourceTensorBytes;
    QuantLayout quant;
    boolean quantSymmetric;
    /** Dequantize: the version that was quantized, when this store holds it. */
    ModelReader original;
    ChunkId originalId;
    Map<String, JsonNode> quantized = Map.of();
    final SegmentBuffers buffers = new SegmentBuffers(threads);

    Run(ModelReader reader, DeriveSpec spec, VersionRef src) {
      this.reader = reader;
      this.spec = spec;
      this.src = src;
    }

    void plan() throws IOException {
      if (spec instanceof DeriveSpec.Quantize q) {
        quant = new QuantLayout(q.bits(), q.groupSize(), q.symmetric());
      } else if (spec instanceof DeriveSpec.Dequantize) {
        loadQuantization();
      }
      Set<String> names = new HashSet<>();
      for (FileEntry f : reader.snapshot().files()) {
        if (!f.format().equals(FileEntry.SAFETENSORS)) {
          continue;
        }
        Map<String, String> meta = new LinkedHashMap<>(f.metadata());
        List<Plan> plans = new ArrayList<>();
        for (TensorInfo t : f.tensors()) {
          names.add(t.name());
          Plan p = planTensor(reader.tensor(t.name()));
          if (p != null) {
            plans.add(p);
            all.add(p);
          }
        }
        if (spec instanceof DeriveSpec.Quantize q
            && plans.stream().anyMatch(p -> p.action == TensorReport.Action.QUANTIZED)) {
          meta.put("ferry.quantization", QuantLayout.NAME);
          meta.put("ferry.quantization.bits", Integer.toString(q.bits()));
          meta.put("ferry.quantization.group_size", Integer.toString(q.groupSize()));
          meta.put("ferry.quantization.symmetric", Boolean.toString(q.symmetric()));
        }
        if (spec instanceof DeriveSpec.Dequantize) {
          meta.keySet().removeIf(k -> k.startsWith("ferry.quantization"));
        }
        files.add(new FilePlan(f, meta, plans));
      }
      for (FilePlan fp : files) {
        long at = 0;
        for (Plan p : fp.plans()) {
          List<TensorInfo> placed = new ArrayList<>();
          for (TensorInfo o : p.outs) {
            if (!o.name().equals(p.info().name()) && names.contains(o.name())
                && !(spec instanceof DeriveSpec.Dequantize)) {
              throw new InvalidInputException("cannot write '" + o.name() + "' for tensor '" + p.info().name()
                  + "': the source already has a tensor of that name");
            }
            long len = o.dtype().byteLength(o.elements());
            placed.add(new TensorInfo(o.name(), o.dtype(), o.shape(), at, at + len));
            at += len;
          }
          p.outs.clear();
          p.outs.addAll(placed);
        }
      }
      if (all.stream().noneMatch(p -> p.action != TensorReport.Action.KEPT)) {
        throw new InvalidInputException(nothingToDo());
      }
    }

    private String nothingToDo() {
      Map<String, Integer> dtypes = new java.util.TreeMap<>();
      for (Plan p : all) {
        dtypes.merge(p.info().dtype().name() + (p.info().shape().size() == 2 ? " 2-D" : ""), 1, Integer::sum);
      }
      String what = src.version().model() + "@" + src.id().shortHex(12) + " (tensors: " + dtypes + ")";
      if (spec instanceof DeriveSpec.Cast c) {
        return "nothing to cast in " + what + ": no F32, F16, BF16 or F64 tensor other than " + c.to()
            + " passes the filters";
      }
      if (spec instanceof DeriveSpec.Quantize q) {
        boolean any2d = all.stream().anyMatch(p -> FLOATS.contains(p.info().dtype()) && p.info().shape().size() == 2
            && q.filter().rejects(p.info().name()) == null);
        if (any2d) {
          Set<Long> cols = new java.util.TreeSet<>();
          all.stream().filter(p -> FLOATS.contains(p.info().dtype()) && p.info().shape().size() == 2)
              .forEach(p -> cols.add(p.info().shape().get(1)));
          return "--group-size " + q.groupSize() + " divides the last dimension of none of the 2-D float tensors of "
              + what + " (last dimensions: " + cols + ")";
        }
        return "nothing to quantize in " + what + ": no 2-D F32, F16, BF16 or F64 tensor passes the filters";
      }
      if (spec instanceof DeriveSpec.Prune) {
        return "nothing to prune in " + what + ": no F32, F16, BF16 or F64 tensor passes the filters";
      }
      return "nothing to dequantize in " + what;
    }

    private void loadQuantization() throws IOException {
      String model = src.version().model() + "@" + src.id().shortHex(12);
      if (reader.snapshot().file(DERIVATION_FILE).isEmpty() || src.version().derivation() == null
          || !src.version().derivation().method().equals("quantize")) {
        throw new InvalidInputException(model + " was not made by 'ferry derive quantize' (no " + DERIVATION_FILE
            + " of a quantization): nothing to dequantize");
      }
      JsonNode report = JSON.readTree(reader.readFile(DERIVATION_FILE).array());
      JsonNode params = report.path("parameters");
      if (!QuantLayout.NAME.equals(params.path("layout").asText())) {
        throw new InvalidInputException(model + ": unknown quantization layout '" + params.path("layout").asText()
            + "', expected " + QuantLayout.NAME);
      }
      quantSymmetric = params.path("symmetric").asBoolean();
      quant = new QuantLayout(params.path("bits").asInt(), params.path("group_size").asInt(), quantSymmetric);
      Map<String, JsonNode> q = new HashMap<>();
      for (JsonNode t : report.path("tensors")) {
        if (t.path("action").asText().equals(TensorReport.Action.QUANTIZED.label())) {
          q.put(t.path("name").asText(), t);
        }
      }
      quantized = q;
      String source = src.version().derivation().source();
      if (source != null && source.length() == 64) {
        try {
          ChunkId id = ChunkId.parse(source);
          Version v = repo.objects().version(id);
          original = repo.open(v.model() + "@" + id.hex());
          originalId = id;
        } catch (FerryException e) {
          // the quantized version's source is not in this store: no comparison
        }
      }
    }

    /** Null for tensors that belong to another one (scales, zero points of a dequantized tensor). */
    private Plan planTensor(ModelReader.Located l) throws InvalidInputException {
      TensorInfo t = l.info();
      String why = spec.filter().rejects(t.name());
      if (spec instanceof DeriveSpec.Dequantize d) {
        JsonNode q = quantized.get(t.name());
        if (q == null) {
          String base = t.name().endsWith(QuantLayout.SCALE) ? t.name().substring(0, t.name().length() - 6)
              : t.name().endsWith(QuantLayout.ZERO_POINT) ? t.name().substring(0, t.name().length() - 11) : null;
          if (base != null && quantized.containsKey(base)) {
            return null;
          }
          return kept(l, "not quantized");
        }
        DType srcType = DType.parse(q.path("source_dtype").asText()).orElse(DType.F32);
        DType to = d.to() != null ? d.to() : FLOATS.contains(srcType) && srcType != DType.F64 ? srcType : DType.F32;
        List<Long> shape = new ArrayList<>();
        q.path("shape").forEach(n -> shape.add(n.asLong()));
        Plan p = new Plan(l, TensorReport.Action.DEQUANTIZED, null, to);
        p.reportedSource = t.dtype();
        p.logicalShape = shape;
        p.outs.add(new TensorInfo(t.name(), to, shape, 0, 0));
        return p;
      }
      if (why != null) {
        return kept(l, why);
      }
      if (!FLOATS.contains(t.dtype())) {
        return kept(l, "not F32, F16, BF16 or F64 (" + t.dtype() + ")");
      }
      if (spec instanceof DeriveSpec.Cast c) {
        if (t.dtype() == c.to()) {
          return kept(l, "already " + c.to());
        }
        Plan p = new Plan(l, TensorReport.Action.CAST, null, c.to());
        p.outs.add(new TensorInfo(t.name(), c.to(), t.shape(), 0, 0));
        return p;
      }
      if (spec instanceof DeriveSpec.Quantize q) {
        if (t.shape().size() != 2) {
          return kept(l, t.shape().size() + "-D, only 2-D tensors are quantized");
        }
        long rows = t.shape().get(0);
        long cols = t.shape().get(1);
        if (t.elements() == 0) {
          return kept(l, "no elements");
        }
        if (cols % q.groupSize() != 0) {
          return kept(l, "last dimension " + cols + " is not a multiple of --group-size " + q.groupSize());
        }
        if (cols > Integer.MAX_VALUE / 8) {
          return kept(l, "rows of " + cols + " elements are too long to quantize");
        }
        Plan p = new Plan(l, TensorReport.Action.QUANTIZED, null, quant.valuesType());
        p.outs.add(new TensorInfo(t.name(), quant.valuesType(), List.of(rows, quant.valueRowBytes(cols)), 0, 0));
        p.outs.add(new TensorInfo(t.name() + QuantLayout.SCALE, DType.F32, List.of(rows, cols / q.groupSize()), 0, 0));
        if (!q.symmetric()) {
          p.outs.add(new TensorInfo(t.name() + QuantLayout.ZERO_POINT, DType.U8, List.of(rows, cols / q.groupSize()),
              0, 0));
        }
        return p;
      }
      Plan p = new Plan(l, TensorReport.Action.PRUNED, null, t.dtype());
      p.outs.add(new TensorInfo(t.name(), t.dtype(), t.shape(), 0, 0));
      return p;
    }

    private Plan kept(ModelReader.Located l, String why) {
      Plan p = new Plan(l, TensorReport.Action.KEPT, why, l.info().dtype());
      p.outs.add(new TensorInfo(l.info().name(), l.info().dtype(), l.info().shape(), 0, 0));
      return p;
    }

    void write(Path dir) throws IOException {
      Map<Plan, Target> targets = new LinkedHashMap<>();
      List<FileChannel> channels = new ArrayList<>();
      ExecutorService pool = Executors.newFixedThreadPool(threads, io.ferry.concurrent.DaemonThreads.named("ferry-derive"));
      try {
        for (FilePlan fp : files) {
          Path out = dir.resolve(fp.source().path());
          Files.createDirectories(out.getParent());
          List<TensorInfo> outs = new ArrayList<>();
          fp.plans().forEach(p -> outs.addAll(p.outs));
          ByteBuffer header = SafetensorsWriter.header(fp.metadata(), outs);
          FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
              StandardOpenOption.READ);
          channels.add(ch);
          long dataStart = header.remaining();
          writeFully(ch, header, 0);
          long end = outs.isEmpty() ? 0 : outs.get(outs.size() - 1).end();
          if (end > 0) {
            writeFully(ch, ByteBuffer.allocate(1), dataStart + end - 1);
          }
          for (Plan p : fp.plans()) {
            targets.put(p, new Target(ch, dataStart));
            sourceTensorBytes += p.info().byteLength();
          }
        }
        for (Plan p : all) {
          if (p.action == TensorReport.Action.DEQUANTIZED) {
            sourceTensorBytes += companions(p).stream().mapToLong(TensorInfo::byteLength).sum();
          }
        }
        List<Future<ErrorMetrics>> futures = new ArrayList<>();
        List<Plan> order = new ArrayList<>(targets.keySet());
        for (Plan p : order) {
          Target t = targets.get(p);
          futures.add(pool.submit(() -> process(p, t)));
        }
        for (int i = 0; i < futures.size(); i++) {
          order.get(i).metrics = await(futures.get(i), futures);
        }
      } finally {
        pool.shutdownNow();
        for (FileChannel ch : channels) {
          ch.close();
        }
      }
      for (FileEntry f : reader.snapshot().files()) {
        if (f.format().equals(FileEntry.SAFETENSORS) || f.path().equals(DERIVATION_FILE)) {
          continue;
        }
        Path out = dir.resolve(f.path());
        Files.createDirectories(out.getParent());
        if (out.getFileName().toString().equals(HfIndex.FILE_NAME)) {
          Files.write(out, rewriteIndex(reader.readFile(f.path())), StandardOpenOption.CREATE_NEW);
          continue;
        }
        try (FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
          reader.copyFile(f.path(), ch);
        }
      }
      Files.write(dir.resolve(DERIVATION_FILE), report(), StandardOpenOption.CREATE_NEW);
    }

    private ErrorMetrics process(Plan p, Target t) throws IOException {
      return switch (p.action) {
        case KEPT -> {
          copy(p, t);
          yield null;
        }
        case CAST -> cast(p, t);
        case QUANTIZED -> quantize(p, t);
        case DEQUANTIZED -> dequantize(p, t);
        case PRUNED -> ((DeriveSpec.Prune) spec).bySparsity() ? pruneToSparsity(p, t) : pruneBelow(p, t);
      };
    }

    // -------------------------------------------------------------- transforms

    private void copy(Plan p, Target t) throws IOException {
      TensorInfo info = p.info();
      if (info.byteLength() == 0) {
        return;
      }
      RowCursor cursor = new RowCursor(reader, info, buffers);
      try (cursor) {
        long base = t.dataStart + p.outs.get(0).begin();
        long rowBytes = info.byteLength() / cursor.rows();
        long per = cursor.segmentRows();
        for (long r0 = 0; r0 < cursor.rows(); r0 += per) {
          writeFully(t.ch, cursor.rows(r0, Math.min(cursor.rows(), r0 + per)), base + r0 * rowBytes);
        }
      }
    }

    private ErrorMetrics cast(Plan p, Target t) throws IOException {
      DType from = p.info().dtype();
      DType to = p.outType;
      int outSize = to.bits() / 8;
      long base = t.dataStart + p.outs.get(0).begin();
      ErrorMetrics.Accumulator acc = new ErrorMetrics.Accumulator();
      Blocks blocks = new Blocks(reader, p.info(), buffers);
      try (blocks) {
        int max = blocks.maxBlockElements();
        int[] fbits = new int[max];
        double[] a = new double[max];
        double[] b = new double[max];
        blocks.forEach((first, n, in) -> {
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
          ByteBuffer out = ByteBuffer.allocate(n * outSize).order(ByteOrder.LITTLE_ENDIAN);
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
          acc.addAll(a, b, n);
          writeFully(t.ch, out, base + first * outSize);
        });
        return acc.result();
      }
    }

    private ErrorMetrics quantize(Plan p, Target t) throws IOException {
      TensorInfo info = p.info();
      int cols = Math.toIntExact(info.shape().get(1));
      DeriveSpec.Quantize q = (DeriveSpec.Quantize) spec;
      int groups = cols / q.groupSize();
      long qRow = quant.valueRowBytes(cols);
      TensorInfo qOut = p.outs.get(0);
      TensorInfo sOut = p.outs.get(1);
      TensorInfo zOut = q.symmetric() ? null : p.outs.get(2);
      ErrorMetrics.Accumulator acc = new ErrorMetrics.Accumulator();
      Blocks blocks = new Blocks(reader, info, buffers);
      try (blocks) {
        double[] x = new double[blocks.maxBlockElements()];
        double[] y = new double[x.length];
        float[] deq = new float[x.length];
        blocks.forEach((first, n, in) -> {
          decode(in, info.dtype(), x, n);
          int rows = n / cols;
          long r0 = first / cols;
          ByteBuffer qb = ByteBuffer.allocate((int) (rows * qRow)).order(ByteOrder.LITTLE_ENDIAN);
          ByteBuffer sb = ByteBuffer.allocate(rows * groups * 4).order(ByteOrder.LITTLE_ENDIAN);
          ByteBuffer zb = ByteBuffer.allocate(q.symmetric() ? 0 : rows * groups);
          for (int r = 0; r < rows; r++) {
            int bad = quant.quantizeRow(x, r * cols, cols, qb, sb, zb, deq);
            if (bad >= 0) {
              throw new InvalidInputException("tensor '" + info.name() + "' holds " + x[r * cols + bad] + " at row "
                  + (r0 + r) + ", column " + bad + ": a non-finite value cannot be quantized (leave the tensor out "
                  + "with --exclude)");
            }
          }
          for (int i = 0; i < n; i++) {
            y[i] = deq[i];
          }
          acc.addAll(x, y, n);
          writeFully(t.ch, qb.flip(), t.dataStart + qOut.begin() + r0 * qRow);
          writeFully(t.ch, sb.flip(), t.dataStart + sOut.begin() + r0 * groups * 4L);
          if (zOut != null) {
            writeFully(t.ch, zb.flip(), t.dataStart + zOut.begin() + r0 * groups);
          }
        });
        return acc.result();
      }
    }

    private List<TensorInfo> companions(Plan p) throws NotFoundException {
      List<TensorInfo> out = new ArrayList<>();
      out.add(reader.tensor(p.info().name() + QuantLayout.SCALE).info());
      if (!quantSymmetric) {
        out.add(reader.tensor(p.info().name() + QuantLayout.ZERO_POINT).info());
      }
      return out;
    }

    private ErrorMetrics dequantize(Plan p, Target t) throws IOException {
      TensorInfo info = p.info();
      long rows = p.logicalShape.get(0);
      int cols = Math.toIntExact(p.logicalShape.get(1));
      String scaleName = info.name() + QuantLayout.SCALE;
      String zpName = info.name() + QuantLayout.ZERO_POINT;
      boolean hasZp = !quantSymmetric;
      TensorInfo orig = null;
      if (original != null) {
        try {
          TensorInfo o = original.tensor(info.name()).info();
          if (o.shape().equals(p.logicalShape) && FLOATS.contains(o.dtype())) {
            orig = o;
          }
        } catch (NotFoundException e) {
          // not in the original: sparsity only
        }
      }
      p.compared = orig != null;
      DType to = p.outType;
      int outSize = to.bits() / 8;
      long base = t.dataStart + p.outs.get(0).begin();
      ErrorMetrics.Accumulator acc = new ErrorMetrics.Accumulator();
      RowCursor qc = new RowCursor(reader, info, buffers);
      RowCursor sc = new RowCursor(reader, reader.tensor(scaleName).info(), buffers);
      RowCursor zc = hasZp ? new RowCursor(reader, reader.tensor(zpName).info(), buffers) : null;
      RowCursor oc = orig == null ? null : new RowCursor(original, orig, buffers);
      try (qc; sc; zc; oc) {
        long per = Math.max(1, BLOCK_ELEMENTS / Math.max(1, cols));
        float[] vals = new float[(int) Math.min(rows, per) * cols];
        double[] a = orig == null ? null : new double[vals.length];
        double[] y = new double[vals.length];
        for (long r0 = 0; r0 < rows; r0 += per) {
          long r1 = Math.min(rows, r0 + per);
          int n = (int) ((r1 - r0) * cols);
          ByteBuffer qb = qc.rows(r0, r1);
          ByteBuffer sb = sc.rows(r0, r1);
          ByteBuffer zb = zc == null ? null : zc.rows(r0, r1);
          for (int r = 0; r < r1 - r0; r++) {
            quant.dequantizeRow(qb, sb, zb, cols, vals, r * cols);
          }
          if (orig != null) {
            decode(oc.rows(r0, r1), orig.dtype(), a, n);
          }
          ByteBuffer out = ByteBuffer.allocate(n * outSize).order(ByteOrder.LITTLE_ENDIAN);
          for (int i = 0; i < n; i++) {
            y[i] = encode(vals[i], to, out);
          }
          if (a != null) {
            acc.addAll(a, y, n);
          } else {
            for (int i = 0; i < n; i++) {
              acc.addUncompared(y[i]);
            }
          }
          writeFully(t.ch, out.flip(), base + r0 * cols * outSize);
        }
        return acc.result();
      }
    }

    private ErrorMetrics pruneBelow(Plan p, Target t) throws IOException {
      double threshold = ((DeriveSpec.Prune) spec).threshold();
      DType dt = p.info().dtype();
      int size = dt.bits() / 8;
      long base = t.dataStart + p.outs.get(0).begin();
      ErrorMetrics.Accumulator acc = new ErrorMetrics.Accumulator();
      Blocks blocks = new Blocks(reader, p.info(), buffers);
      try (blocks) {
        double[] x = new double[blocks.maxBlockElements()];
        double[] y = new double[x.length];
        blocks.forEach((first, n, in) -> {
          ByteBuffer out = ByteBuffer.allocate(n * size).put(in.duplicate()).flip();
          decode(in, dt, x, n);
          for (int i = 0; i < n; i++) {
            boolean zero = Math.abs(x[i]) < threshold;
            if (zero) {
              zeroElement(out, i, size);
            }
            y[i] = zero ? 0 : x[i];
          }
          acc.addAll(x, y, n);
          writeFully(t.ch, out, base + first * size);
        });
        return acc.result();
      }
    }

    private ErrorMetrics pruneToSparsity(Plan p, Target t) throws IOException {
      double sparsity = ((DeriveSpec.Prune) spec).sparsity();
      DType dt = p.info().dtype();
      int size = dt.bits() / 8;
      int keyBits = dt.bits();
      long n = p.info().elements();
      long k = Math.min(n, Math.round(sparsity * n));
      long base = t.dataStart + p.outs.get(0).begin();
      Blocks blocks = new Blocks(reader, p.info(), buffers);
      try (blocks) {
        // radix select: the k-th smallest magnitude key (1-based), 16 bits per pass from the top
        long prefix = 0;
        long mask = 0;
        long rank = k - 1;
        if (k > 0) {
          for (int shift = keyBits - 16; shift >= 0; shift -= 16) {
            long[] hist = new long[1 << 16];
            final long pf = prefix;
            final long mk = mask;
            final int sh = shift;
            blocks.forEach((first, cnt, in) -> {
              for (int i = 0; i < cnt; i++) {
                long key = key(in, dt, i);
                if ((key & mk) == pf) {
                  hist[(int) ((key >>> sh) & 0xffff)]++;
                }
              }
            });
            long cum = 0;
            int d = 0;
            while (cum + hist[d] <= rank) {
              cum += hist[d];
              d++;
            }
            rank -= cum;
            prefix |= (long) d << shift;
            mask |= 0xffffL << shift;
          }
        }
        final long kth = prefix;
        final long[] tiesLeft = {k > 0 ? rank + 1 : 0};
        final boolean pruneAny = k > 0;
        ErrorMetrics.Accumulator acc = new ErrorMetrics.Accumulator();
        double[] x = new double[blocks.maxBlockElements()];
        double[] y = new double[x.length];
        blocks.forEach((first, cnt, in) -> {
          ByteBuffer out = ByteBuffer.allocate(cnt * size).put(in.duplicate()).flip();
          decode(in, dt, x, cnt);
          for (int i = 0; i < cnt; i++) {
            boolean zero = false;
            if (pruneAny) {
              long key = key(in, dt, i);
              if (Long.compareUnsigned(key, kth) < 0) {
                zero = true;
              } else if (key == kth && tiesLeft[0] > 0) {
                tiesLeft[0]--;
                zero = true;
              }
            }
            if (zero) {
              zeroElement(out, i, size);
            }
            y[i] = zero ? 0 : x[i];
          }
          acc.addAll(x, y, cnt);
          writeFully(t.ch, out, base + first * size);
        });
        return acc.result();
      }
    }

    // -------------------------------------------------------------- outputs

    List<TensorReport> reports() {
      List<TensorReport> out = new ArrayList<>();
      for (Plan p : all) {
        List<TensorReport.Output> outs = new ArrayList<>();
        for (TensorInfo o : p.outs) {
          outs.add(new TensorReport.Output(o.name(), o.dtype(), o.shape()));
        }
        out.add(new TensorReport(p.info().name(), p.action, p.reason, p.reportedSource, p.logicalShape, outs,
            p.metrics, p.compared));
      }
      return out;
    }

    ErrorMetrics overall() {
      ErrorMetrics m = ErrorMetrics.empty();
      for (Plan p : all) {
        if (p.metrics != null) {
          m = m.plus(p.metrics);
        }
      }
      return m;
    }

    private byte[] report() throws IOException {
      ObjectNode root = JSON.createObjectNode();
      root.put("format", REPORT_FORMAT).put("method", spec.method());
      ObjectNode params = root.putObject("parameters");
      spec.parameters().forEach(params::put);
      root.put("source", src.id().hex()).put("source_model", src.version().model());
      if (originalId != null) {
        root.put("compared_with", originalId.hex());
      }
      metricsJson(root.putObject("overall"), overall());
      ArrayNode ts = root.putArray("tensors");
      for (TensorReport r : reports()) {
        ObjectNode n = ts.addObject().put("name", r.name()).put("action", r.action().label());
        if (r.reason() != null) {
          n.put("reason", r.reason());
        }
        n.put("source_dtype", r.sourceDtype().name());
        ArrayNode shape = n.putArray("shape");
        r.shape().forEach(shape::add);
        if (r.changed()) {
          ArrayNode outs = n.putArray("outputs");
          for (TensorReport.Output o : r.outputs()) {
            ObjectNode on = outs.addObject().put("name", o.name()).put("dtype", o.dtype().name());
            ArrayNode os = on.putArray("shape");
            o.shape().forEach(os::add);
          }
          if (!r.compared()) {
            n.put("compared", false);
          }
          metricsJson(n.putObject("metrics"), r.metrics());
        }
      }
      return (JSON.writeValueAsString(root) + "\n").getBytes(StandardCharsets.UTF_8);
    }

    private byte[] rewriteIndex(ByteBuffer raw) throws IOException {
      byte[] bytes = new byte[raw.remaining()];
      raw.get(bytes);
      JsonNode root = JSON.readTree(bytes);
      if (!(root instanceof ObjectNode obj) || !root.path("weight_map").isObject()) {
        return bytes;
      }
      Map<String, Plan> byName = new HashMap<>();
      for (Plan p : all) {
        byName.put(p.info().name(), p);
      }
      Set<String> consumed = new HashSet<>();
      for (String q : quantized.keySet()) {
        consumed.add(q + QuantLayout.SCALE);
        consumed.add(q + QuantLayout.ZERO_POINT);
      }
      ObjectNode wm = JSON.createObjectNode();
      long total = 0;
      for (var it = root.path("weight_map").fields(); it.hasNext(); ) {
        var e = it.next();
        Plan p = byName.get(e.getKey());
        if (p == null) {
          if (!consumed.contains(e.getKey())) {
            wm.set(e.getKey(), e.getValue());
          }
          continue;
        }
        for (TensorInfo o : p.outs) {
          wm.set(o.name(), e.getValue());
          total += o.byteLength();
        }
      }
      obj.set("weight_map", wm);
      if (obj.path("metadata").has("total_size")) {
        ((ObjectNode) obj.get("metadata")).put("total_size", total);
      }
      return (JSON.writeValueAsString(obj) + "\n").getBytes(StandardCharsets.UTF_8);
    }
  }

  private static void metricsJson(ObjectNode n, ErrorMetrics m) {
    n.put("elements", m.elements());
    m.asMap().forEach(n::put);
  }

  /** An output file and the offset of its data section. */
  private record Target(FileChannel ch, long dataStart) {}

  // ------------------------------------------------------------------ blocks of a tensor

  @FunctionalInterface
  private interface BlockFn {
    /** {@code n} elements starting at element {@code first}, little-endian at {@code data}'s position. */
    void accept(long first, int n, ByteBuffer data) throws IOException;
  }

  /** A float tensor in blocks of whole rows of at most about {@link #BLOCK_ELEMENTS} elements, via a RowCursor. */
  private static final class Blocks implements AutoCloseable {
    private final TensorInfo info;
    private final RowCursor cursor;
    private final long rows;
    private final long rowElements;
    private final long rowsPerBlock;

    Blocks(ModelReader reader, TensorInfo info, SegmentBuffers buffers) {
      this.info = info;
      this.cursor = new RowCursor(reader, info, buffers);
      this.rows = cursor.rows();
      this.rowElements = rows == 0 ? 0 : info.elements() / rows;
      this.rowsPerBlock = rowElements == 0 ? 1 : Math.max(1, BLOCK_ELEMENTS / rowElements);
    }

    @Override
    public void close() {
      cursor.close();
    }

    int maxBlockElements() {
      return (int) Math.min(info.elements(), rowsPerBlock * rowElements);
    }

    void forEach(BlockFn fn) throws IOException {
      if (info.elements() == 0) {
        return;
      }
      long seg = cursor.segmentRows();
      for (long r0 = 0, r1; r0 < rows; r0 = r1) {
        r1 = Math.min(Math.min(rows, r0 + rowsPerBlock), (r0 / seg + 1) * seg); // never across a stored chunk
        fn.accept(r0 * rowElements, Math.toIntExact((r1 - r0) * rowElements), cursor.rows(r0, r1));
      }
    }
  }

  // ------------------------------------------------------------------ element helpers

  /** Decodes {@code n} little-endian floats at {@code in}'s position (absolute reads) into {@code dst}. */
  static void decode(ByteBuffer in, DType t, double[] dst, int n) {
    int p = in.position();
    switch (t) {
      case F32 -> {
        for (int i = 0; i < n; i++) {
          dst[i] = in.getFloat(p + 4 * i);
        }
      }
      case F64 -> {
        for (int i = 0; i < n; i++) {
          dst[i] = in.getDouble(p + 8 * i);
        }
      }
      case F16 -> {
        for (int i = 0; i < n; i++) {
          dst[i] = FloatBits.halfToFloat(in.getShort(p + 2 * i));
        }
      }
      case BF16 -> {
        for (int i = 0; i < n; i++) {
          dst[i] = FloatBits.bf16ToFloat(in.getShort(p + 2 * i));
        }
      }
      default -> throw new IllegalArgumentException("not a float type handled here: " + t);
    }
  }

  /** Writes {@code v} as {@code to} (round to nearest even) and returns the value written. */
  static double encode(float v, DType to, ByteBuffer out) {
    switch (to) {
      case F32 -> {
        out.putFloat(v);
        return v;
      }
      case BF16 -> {
        short h = FloatBits.floatToBf16(Float.floatToRawIntBits(v));
        out.putShort(h);
        return FloatBits.bf16ToFloat(h);
      }
      case F16 -> {
        short h = FloatBits.floatToHalf(v);
        out.putShort(h);
        return FloatBits.halfToFloat(h);
      }
      default -> throw new IllegalArgumentException("cannot write " + to);
    }
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

  private static void zeroElement(ByteBuffer out, int i, int size) {
    int p = out.position() + i * size;
    for (int j = 0; j < size; j++) {
      out.put(p + j, (byte) 0);
    }
  }

  private static void writeFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
    while (b.hasRemaining()) {
      pos += ch.write(b, pos);
    }
  }

  private static ErrorMetrics await(Future<ErrorMetrics> f, List<Future<ErrorMetrics>> all) throws IOException {
    try {
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      all.forEach(x -> x.cancel(true));
      throw new InterruptedIOException("interrupted while deriving");
    } catch (ExecutionException e) {
      all.forEach(x -> x.cancel(true));
      Throwable c = e.getCause();
      if (c instanceof IOException io) {
        throw io;
      }
      if (c instanceof UncheckedIOException u) {
        throw u.getCause();
      }
      if (c instanceof RuntimeException r) {
        throw r;
      }
      throw new IOException(c);
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
