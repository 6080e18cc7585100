package io.ferry.derive;

import static io.ferry.derive.DerivationInputException.param;

import io.ferry.id.ChunkId;
import io.ferry.error.FerryException;
import io.ferry.error.InvalidInputException;
import io.ferry.error.MissingObjectException;
import io.ferry.error.NotFoundException;
import io.ferry.format.DType;
import io.ferry.format.hf.HfIndex;
import io.ferry.format.TensorInfo;
import io.ferry.format.safetensors.SafetensorsWriter;
import io.ferry.read.ModelReader;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.PushResult;
import io.ferry.repo.Results.VersionRef;
import io.ferry.scan.LocalTrees;
import io.ferry.transfer.TransferListener;
import io.ferry.store.FileWrites;
import io.ferry.version.Derivation;
import io.ferry.version.FileEntry;
import io.ferry.version.RefSpec;
import io.ferry.version.SafePaths;
import io.ferry.version.Version;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.DirectoryIteratorException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Executor;
import java.util.function.Function;

/**
 * Makes a derived version from a stored one. The method is a {@link TensorTransform} chosen by the {@link DeriveSpec};
 * the Deriver drives it: it plans every tensor (bad input fails here, before anything is written), writes safetensors
 * files with the source's file names into a temporary directory, streaming each changed tensor through the transform
 * in blocks of whole rows (at most about {@value #BLOCK_ELEMENTS} elements, never across a stored chunk; longer rows
 * by the transform's {@link TensorTransform#unit units}) on the repository's workers, copies kept tensors and the
 * other files, has {@link HfIndex#rewrite} rewrite a Hugging Face index, writes the {@link DerivationReport}
 * ({@value DerivationReport#FILE}), and pushes the directory with the report's {@link Derivation} and the source as
 * second parent, so unchanged tensors dedup against the source. The temporary directory is removed in every case; a
 * failure leaves the store unchanged.
 *
 * <p>Thread-safe: each call has its own directory and buffers.
 */
public final class Deriver {
  /** Name of the per-tensor report in a derived version ({@link DerivationReport#FILE}). */
  public static final String DERIVATION_FILE = DerivationReport.FILE;
  /** Format name of {@link #DERIVATION_FILE} ({@link DerivationReport#FORMAT}). */
  public static final String REPORT_FORMAT = DerivationReport.FORMAT;
  /** Elements of a source tensor processed at once (larger tensors go by row ranges). */
  static final int BLOCK_ELEMENTS = 1 << 20;
  /** Derivations that keep a quantized version's quantized tensors, scales and zero points as they are. */
  private static final Set<String> KEEPS_QUANTIZATION = Set.of("cast", "prune");

  private final Repository repo;
  private final Executor workers;
  private final int threads;
  private final Path tempParent;

  /**
   * @param repo the store to read and push into
   * @param workers where tensors are processed besides the calling thread (the repository's {@link
   *     Repository#workers()}); never waited on for anything but the tasks given to it
   * @param threads tensors processed at once, the calling thread included (at least 1)
   * @param tempParent where the temporary directory goes; null for {@code java.io.tmpdir}
   */
  public Deriver(Repository repo, Executor workers, int threads, Path tempParent) {
    this.repo = Objects.requireNonNull(repo, "repo");
    this.workers = Objects.requireNonNull(workers, "workers");
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    }
    this.threads = threads;
    this.tempParent = tempParent;
  }

  /** A deriver on the repository's workers. */
  public Deriver(Repository repo, int threads, Path tempParent) {
    this(repo, repo.workers(), threads, tempParent);
  }

  /** A deriver with one thread per core, the repository's workers and the system temporary directory. */
  public static Deriver of(Repository repo) {
    return new Deriver(repo, Runtime.getRuntime().availableProcessors(), null);
  }

  /**
   * Derives {@code target} ({@code model} or {@code model:tag}) from {@code sourceRef}.
   *
   * @param message the version message; null or empty for one that describes the derivation
   * @throws DerivationInputException for a bad target name, a derivation with nothing to do, a quantized tensor with
   *     a non-finite value, a dequantization of a version that was not quantized, or a source whose tensor files are
   *     all of another format than safetensors (GGUF, ONNX, PyTorch), whose tensors derive cannot transform (beside
   *     safetensors files, such files are kept as they are, and the report lists them)
   * @throws InvalidInputException for a derived tensor whose name the source already uses, or a damaged report of
   *     the quantization to undo
   * @throws NotFoundException if the source does not exist
   */
  public DeriveResult derive(String sourceRef, String target, DeriveSpec spec, String message,
      TransferListener listener) throws IOException {
    Objects.requireNonNull(spec, "spec");
    checkTarget(target);
    VersionRef src = repo.resolve(sourceRef);
    String exact = src.version().model() + "@" + src.id().hex();
    try (ModelReader reader = openSource(src); Run run = new Run(reader, spec, src)) {
      plan(run, sourceRef);
      WorkDir work = newTempDir();
      Path dir = work.dir();
      Thread onExit = removeOnExit(work);
      DeriveResult result;
      try {
        result = writeAndPush(run, dir, sourceRef, target, message, listener, exact);
      } catch (IOException | RuntimeException | Error e) {
        try {
          work.remove();
        } catch (IOException cleanup) {
          e.addSuppressed(cleanup);
        }
        throw e;
      } finally {
        keepOnExit(onExit);
      }
      try {
        work.remove();
      } catch (IOException e) {
        throw new IOException("derived version " + result.push().versionId().hex() + " was published, but its "
            + "temporary directory " + dir + " could not be removed: " + e.getMessage(), e);
      }
      return result;
    }
  }

  /**
   * The safetensors files whose tensors a derivation of {@code sourceRef} writes, in the order of the source's
   * snapshot: the units a cluster derive hands to its workers ({@link #writeTensorFiles}). Plans the whole derivation
   * first, so bad input fails here, before anything is written.
   *
   * @throws DerivationInputException as {@link #derive} does
   */
  public List<String> tensorFiles(String sourceRef, DeriveSpec spec) throws IOException {
    Objects.requireNonNull(spec, "spec");
    VersionRef src = repo.resolve(sourceRef);
    try (ModelReader reader = openSource(src); Run run = new Run(reader, spec, src)) {
      plan(run, sourceRef);
      return run.files.stream().map(fp -> fp.source().path()).toList();
    }
  }

  /**
   * Writes the derived versions of the tensor files {@code paths} of {@code sourceRef} (of {@link #tensorFiles}) into
   * {@code dir}, under their paths in the version, exactly as {@link #derive} writes them: a cluster derive's worker
   * writes its share of the files with it, stores them, and hands back their entries and the metrics. Writes nothing
   * into the store.
   *
   * @return the error metrics of each changed tensor of those files, by source tensor name
   * @throws InvalidInputException if a path is not a tensor file of the derivation
   */
  public Map<String, ErrorMetrics> writeTensorFiles(String sourceRef, DeriveSpec spec, Path dir, Set<String> paths)
      throws IOException {
    Objects.requireNonNull(spec, "spec");
    VersionRef src = repo.resolve(sourceRef);
    try (ModelReader reader = openSource(src); Run run = new Run(reader, spec, src, Set.copyOf(paths))) {
      plan(run, sourceRef);
      Set<String> known = new HashSet<>();
      run.files.forEach(fp -> known.add(fp.source().path()));
      for (String p : paths) {
        if (!known.contains(p)) {
          throw new InvalidInputException("derive of " + run.model() + ": '" + p + "' is not one of its tensor files "
              + known);
        }
      }
      ErrorMetrics[] metrics = reading(run, sourceRef, () -> run.writeTensorFiles(dir));
      Map<String, ErrorMetrics> out = new HashMap<>();
      for (int i = 0; i < metrics.length; i++) {
        if (metrics[i] != null) {
          out.put(run.jobs.get(i).plan().source().name(), metrics[i]);
        }
      }
      return out;
    }
  }

  /**
   * Finishes a derivation whose tensor files were written by {@link #writeTensorFiles} and stored in this store by
   * others (the executors of a cluster derive): writes the other files and the report from {@code metrics}, and pushes
   * them with the {@code stored} files as one version, with the same derivation record, report and snapshot as {@link
   * #derive} makes from the same source. Plans again first, so a spec that changed is refused.
   *
   * @param src the version the files were derived from, as {@code sourceRef} named it when the derivation was
   *     planned: a tag moved since then would otherwise give the derived files of one version the record and the
   *     other files of another
   * @param sourceRef the source as the user named it, for the version's message and for errors
   * @param metrics the metrics of every changed tensor, by source tensor name, as {@link #writeTensorFiles} returned
   * @param stored the entries of every tensor file, as a push of the written files made them
   * @param storedPacks the packs holding their small chunks
   * @throws InvalidInputException if a changed tensor has no metrics or a tensor file no entry
   */
  public DeriveResult publish(VersionRef src, String sourceRef, String target, DeriveSpec spec, String message,
      TransferListener listener, Map<String, ErrorMetrics> metrics, List<FileEntry> stored, List<ChunkId> storedPacks)
      throws IOException {
    Objects.requireNonNull(src, "src");
    Objects.requireNonNull(spec, "spec");
    checkTarget(target);
    String exact = src.version().model() + "@" + src.id().hex();
    try (ModelReader reader = openSource(src); Run run = new Run(reader, spec, src, Set.of())) {
      plan(run, sourceRef);
      Set<String> have = new HashSet<>();
      stored.forEach(f -> have.add(f.path()));
      for (FilePlan fp : run.files) {
        if (!have.contains(fp.source().path())) {
          throw new InvalidInputException("derive of " + run.model() + ": no stored entry for tensor file '"
              + fp.source().path() + "'");
        }
      }
      ErrorMetrics[] all = new ErrorMetrics[run.jobs.size()];
      for (int i = 0; i < all.length; i++) {
        TensorPlan p = run.jobs.get(i).plan();
        if (p.changes()) {
          all[i] = metrics.get(p.source().name());
          if (all[i] == null) {
            throw new InvalidInputException("derive of " + run.model() + ": no metrics for changed tensor '"
                + p.source().name() + "'");
          }
        }
      }
      WorkDir work = newTempDir();
      Path dir = work.dir();
      Thread onExit = removeOnExit(work);
      try {
        long start = System.nanoTime();
        DerivationReport report = reading(run, sourceRef, () -> run.writeRest(dir, all));
        long written = System.nanoTime();
        String msg = message == null || message.isEmpty()
            ? spec.method() + " " + spec.parameters() + " of " + sourceRef : message;
        PushResult pushed = repo.push(dir, target, PushOptions.builder().message(msg)
            .derivation(report.derivation()).derivedFrom(exact).listener(listener).stored(stored, storedPacks)
            .build());
        return new DeriveResult(pushed, report, run.allSourceTensorBytes(), written - start,
            System.nanoTime() - written);
      } finally {
        keepOnExit(onExit);
        work.remove();
      }
    }
  }

  private DeriveResult writeAndPush(Run run, Path dir, String sourceRef, String target, String message,
      TransferListener listener, String exact) throws IOException {
    long start = System.nanoTime();
    DerivationReport report = reading(run, sourceRef, () -> run.write(dir));
    long written = System.nanoTime();
    DeriveSpec spec = run.spec;
    String msg = message == null || message.isEmpty()
        ? spec.method() + " " + spec.parameters() + " of " + sourceRef : message;
    PushResult pushed = repo.push(dir, target, PushOptions.builder().message(msg).derivation(report.derivation())
        .derivedFrom(exact).listener(listener).build());
    return new DeriveResult(pushed, report, run.sourceTensorBytes, written - start, System.nanoTime() - written);
  }

  /**
   * Refuses a target that is not {@code model} or {@code model:tag}, naming it: what {@link #derive} and {@link
   * #publish} check first, for callers (the Spark job) that write a derivation's chunks before they publish it.
   *
   * @throws DerivationInputException naming {@code target}
   */
  public static void checkTarget(String target) throws DerivationInputException {
    RefSpec t;
    try {
      t = RefSpec.parse(target);
    } catch (InvalidInputException e) {
      throw new DerivationInputException(e, param("target"), " '" + target + "': " + e.getMessage());
    }
    if (t.selectsVersion() || t.path() != null) {
      throw new DerivationInputException(param("target"), " '" + target + "' must be a model or model:tag");
    }
  }

  /** A step of a derivation that reads its source. */
  @FunctionalInterface
  private interface SourceRead<T> {
    T run() throws IOException;
  }

  /**
   * A reader of the source version {@code src}, which reports an object found missing as it is: {@link #reading}
   * reports it, under the ref the user gave.
   */
  private ModelReader openSource(VersionRef src) throws IOException {
    return repo.open(src.version().model() + "@" + src.id().hex()).reportingMissing(e -> e);
  }

  /**
   * Runs a step that reads the source of {@code run}; an object of the source found missing is reported as the
   * repository reports it ({@link Repository#missing}): the version is gone when no ref reaches it (a gc removed part
   * of it), damaged otherwise. An object missing from another version (the one a dequantization compares with) is
   * reported as it is.
   */
  private <T> T reading(Run run, String sourceRef, SourceRead<T> step) throws IOException {
    try {
      return step.run();
    } catch (MissingObjectException e) {
      if (e.id() != null && !objectOf(run.reader, e.id())) {
        throw e;
      }
      throw repo.missing(e, run.reader, sourceRef);
    }
  }

  /** Plans {@code run}, reporting a missing object of its source as {@link #reading} does. */
  private void plan(Run run, String sourceRef) throws IOException {
    reading(run, sourceRef, () -> {
      run.plan();
      return null;
    });
  }

  /** Whether {@code id} is the snapshot, a pack or a chunk of the version {@code reader} reads. */
  private static boolean objectOf(ModelReader reader, ChunkId id) {
    if (reader.version().snapshot().equals(id) || reader.version().packs().contains(id)) {
      return true;
    }
    for (FileEntry f : reader.snapshot().files()) {
      for (io.ferry.version.ChunkRef c : f.chunks()) {
        if (c.id().equals(id)) {
          return true;
        }
      }
    }
    return false;
  }

  // ------------------------------------------------------------------ one derivation

  /** One output safetensors file and its tensors' plans. */
  private record FilePlan(FileEntry source, Map<String, String> metadata, List<TensorPlan> plans) {}

  /** A planned tensor with its outputs placed in its file (byte ranges relative to the data section). */
  private record Job(TensorPlan plan, List<TensorInfo> outputs) {}

  /** An output file and the offset of its data section. */
  private record Target(Path file, FileChannel channel, long dataStart) {}

  /**
   * A write error of a derived file with the file in front: the JDK says only "No space left on device", which did
   * not tell that the temporary directory, not the store, was full. Subclasses (an interruption) stay as they are.
   */
  private static IOException naming(Path file, IOException e) {
    return e.getClass() == IOException.class ? new IOException(file + ": " + e.getMessage(), e) : e;
  }

  /** The bytes of the small file {@code path} of the version {@code r} reads. */
  private static byte[] fileBytes(ModelReader r, String path) throws IOException {
    ByteBuffer raw = r.readFile(path);
    byte[] bytes = new byte[raw.remaining()];
    raw.get(bytes);
    return bytes;
  }

  private final class Run implements AutoCloseable {
    final ModelReader reader;
    final DeriveSpec spec;
    final VersionRef src;
    final List<FilePlan> files = new ArrayList<>();
    final List<Job> jobs = new ArrayList<>();
    /** The source's tensor files other than safetensors, kept as they are, with the reason. */
    final Map<String, String> keptFiles = new LinkedHashMap<>();
    /** Tensors of the source that others absorb: neither written nor reported. */
    final Set<String> absorbed = new HashSet<>();
    final SegmentBuffers buffers = new SegmentBuffers(threads);
    TensorTransform transform;
    /** The version the error is measured against instead of the source (a dequantization's original), or null. */
    ModelReader compared;
    ChunkId comparedId;
    /**
     * The quantized version whose report a dequantization of a cast or a prune of it reads (the source itself is not
     * kept here), or null.
     */
    ModelReader quantized;
    /** The tensors of the safetensors files of the source and of the comparison version, by name. */
    Map<String, ModelReader.Located> sourceAt = Map.of();
    Map<String, ModelReader.Located> comparedAt = Map.of();
    long sourceTensorBytes;

    /** The tensor files this run writes; null for all of them. */
    final Set<String> only;

    Run(ModelReader reader, DeriveSpec spec, VersionRef src) {
      this(reader, spec, src, null);
    }

    Run(ModelReader reader, DeriveSpec spec, VersionRef src, Set<String> only) {
      this.reader = reader;
      this.spec = spec;
      this.src = src;
      this.only = only;
    }

    boolean writes(FilePlan fp) {
      return only == null || only.contains(fp.source().path());
    }

    String model() {
      return src.version().model() + "@" + src.id().shortHex(12);
    }

    private static String name(ModelReader r) {
      return r.version().model() + "@" + r.versionId().shortHex(12);
    }

    /**
     * The scales and zero points of the quantized tensors of a file that a quantization wrote (its metadata says
     * {@link QuantLayout#NAME}), which a cast or a prune keeps as they are: they are not weights, and casting or
     * zeroing them would change every value of their groups. Quantizing such a file again is refused: its metadata
     * can describe one quantization only. Empty for other files and for a dequantization, which reads them.
     */
    private Set<String> quantizationCompanions(FileEntry f) throws DerivationInputException {
      if (spec instanceof DeriveSpec.Dequantize || !QuantLayout.NAME.equals(f.metadata().get("ferry.quantization"))) {
        return Set.of();
      }
      if (spec instanceof DeriveSpec.Quantize) {
        throw new DerivationInputException(model() + "//" + f.path() + " is already quantized (" + QuantLayout.NAME
            + ", " + f.metadata().get("ferry.quantization.bits") + " bits, group size "
            + f.metadata().get("ferry.quantization.group_size") + "): quantize the version it was made from, or "
            + "dequantize it first");
      }
      Map<String, DType> dtypes = new HashMap<>();
      f.tensors().forEach(t -> dtypes.put(t.name(), t.dtype()));
      Set<String> out = new HashSet<>();
      for (TensorInfo t : f.tensors()) {
        for (String suffix : List.of(QuantLayout.SCALE, QuantLayout.ZERO_POINT)) {
          if (t.name().endsWith(suffix)) {
            DType base = dtypes.get(t.name().substring(0, t.name().length() - suffix.length()));
            if (base == DType.U8 || base == DType.I8) {
              out.add(t.name());
            }
          }
        }
      }
      return out;
    }

    /**
     * Refuses a source whose {@value DerivationReport#FILE} is not a derivation report: the derived version gets its
     * own report under that name, and a file of the model's own there was left out of it without a word.
     */
    private void checkReportName() throws IOException {
      FileEntry f = reader.snapshot().file(DerivationReport.FILE).orElse(null);
      if (f == null) {
        return;
      }
      String where = model() + "//" + DerivationReport.FILE;
      String why;
      if (f.size() > io.ferry.limits.Limits.MAX_READ_TEXT_CHARS) {
        why = where + " is " + f.size() + " bytes";
      } else {
        try {
          DerivationReport.fromJson(fileBytes(reader, f.path()), where);
          return;
        } catch (InvalidInputException e) {
          why = e.getMessage();
        }
      }
      throw new DerivationInputException(why + ": it is not the report of a derivation, and derive writes its report"
          + " under that name; rename the file and push the model again to derive from it");
    }

    void plan() throws IOException {
      for (FileEntry f : reader.snapshot().files()) {
        // the files are written under these paths: checked again, as a pull checks them (DESIGN invariant 6)
        SafePaths.check(f.path(), model());
      }
      checkReportName();
      sourceAt = safetensorsTensors(reader);
      transform = transform();
      Set<String> names = new HashSet<>();
      Map<String, String> fileOf = new HashMap<>();
      for (FileEntry f : reader.snapshot().files()) {
        for (TensorInfo t : f.format().equals(FileEntry.SAFETENSORS) ? f.tensors() : List.<TensorInfo>of()) {
          String first = fileOf.putIfAbsent(t.name(), f.path());
          if (first != null) {
            // the version's reader, the report and the index name tensors by name only: the second would be read
            // from the first's file
            throw new DerivationInputException(model() + ": tensor '" + t.name() + "' is in both " + first + " and "
                + f.path() + ": derive tells tensors apart by name; derive each file from a version of its own");
          }
        }
      }
      List<TensorPlan> all = new ArrayList<>();
      boolean safetensors = reader.snapshot().files().stream()
          .anyMatch(f -> f.format().equals(FileEntry.SAFETENSORS) && !f.tensors().isEmpty());
      for (FileEntry f : reader.snapshot().files()) {
        if (!f.format().equals(FileEntry.SAFETENSORS) && !f.tensors().isEmpty()) {
          String what = article(f.format()) + " " + f.format() + " file of " + f.tensors().size() + " tensors";
          if (!safetensors) {
            throw new DerivationInputException(model() + "//" + f.path() + " is " + what + ": derive transforms the "
                + "tensors of safetensors files only, and this version has none");
          }
          // a checkpoint in another format beside the safetensors weights (pytorch_model.bin next to
          // model.safetensors, as many Hugging Face repositories hold both) is kept as it is, and reported so
          keptFiles.put(f.path(), what + ", kept as it is (with the source's values): derive transforms the "
              + "tensors of safetensors files only");
        }
        if (!f.format().equals(FileEntry.SAFETENSORS)) {
          continue;
        }
        Set<String> companions = quantizationCompanions(f);
        List<TensorPlan> plans = new ArrayList<>();
        for (TensorInfo t : f.tensors()) {
          names.add(t.name());
          String why = companions.contains(t.name())
              ? "scale or zero point of a tensor quantized with " + QuantLayout.NAME
              : spec.filter().rejects(t.name());
          TensorPlan p = why != null ? TensorPlan.kept(t, why) : transform.plan(t);
          if (p == null) {
            absorbed.add(t.name());
          } else {
            plans.add(p);
          }
        }
        all.addAll(plans);
        files.add(new FilePlan(f, transform.fileMetadata(f.metadata(), plans), plans));
      }
      for (FilePlan fp : files) {
        long at = 0;
        for (TensorPlan p : fp.plans()) {
          List<TensorInfo> placed = new ArrayList<>();
          for (TensorReport.Output o : p.outputs()) {
            if (!o.name().equals(p.source().name()) && names.contains(o.name())) {
              throw new InvalidInputException("cannot write '" + o.name() + "' for tensor '" + p.source().name()
                  + "': the source already has a tensor of that name");
            }
            long len = o.byteLength();
            placed.add(new TensorInfo(o.name(), o.dtype(), o.shape(), at, at + len));
            at += len;
          }
          jobs.add(new Job(p, placed));
        }
      }
      if (all.stream().noneMatch(TensorPlan::changes)) {
        Map<String, Integer> dtypes = new TreeMap<>();
        for (TensorPlan p : all) {
          dtypes.merge(p.source().dtype().name() + (p.source().shape().size() == 2 ? " 2-D" : ""), 1, Integer::sum);
        }
        throw transform.nothingToDo(model() + " (tensors: " + dtypes + ")", all);
      }
    }

    private TensorTransform transform() throws IOException {
      if (spec instanceof DeriveSpec.Cast c) {
        return new CastTransform(c);
      }
      if (spec instanceof DeriveSpec.Quantize q) {
        return new QuantizeTransform(q);
      }
      if (spec instanceof DeriveSpec.Prune p) {
        return new PruneTransform(p);
      }
      DeriveSpec.Dequantize d = (DeriveSpec.Dequantize) spec;
      // a cast or a prune keeps the quantized tensors, their scales and zero points as they are (only float weights
      // change): the quantization to undo is recorded by the version they were derived from, or by its own source
      ModelReader at = reader;
      Derivation made = src.version().derivation();
      StringBuilder via = new StringBuilder();
      while (made != null && KEEPS_QUANTIZATION.contains(made.method())
          && at.snapshot().file(DerivationReport.FILE).isPresent()) {
        ModelReader from = openVersion(made.source());
        via.append(via.length() == 0 ? "; it is " : ", ").append("a ").append(made.method()).append(" of ")
            .append(from == null ? made.source() + ", which this store does not hold" : name(from));
        if (quantized != null) {
          quantized.close();
        }
        quantized = from;
        at = from;
        if (from == null) {
          break;
        }
        made = at.version().derivation();
      }
      if (at == null || at.snapshot().file(DerivationReport.FILE).isEmpty() || made == null
          || !made.method().equals("quantize")) {
        throw new DerivationInputException(model() + " was not made by ",
            param("method:quantize", "a quantize derivation"), " (no " + DerivationReport.FILE + " of a "
                + "quantization" + via + "): nothing to dequantize");
      }
      DerivationReport quantization = DerivationReport.fromJson(fileBytes(at, DerivationReport.FILE),
          name(at) + "//" + DerivationReport.FILE);
      if (!quantization.method().equals("quantize")) {
        throw new InvalidInputException(name(at) + "//" + DerivationReport.FILE + " records a '"
            + quantization.method() + "' derivation, not the quantization its version says it is: nothing to "
            + "dequantize");
      }
      openOriginal(made.source());
      return new DequantizeTransform(d, quantization, model(), lookup(sourceAt),
          compared == null ? null : lookup(comparedAt));
    }

    /** The version {@code source} (a version id) of this store, open; null when it is not one. */
    private ModelReader openVersion(String source) throws IOException {
      if (!ChunkId.isValid(source)) {
        return null;
      }
      ChunkId id = ChunkId.parse(source);
      try {
        return repo.open(repo.objects().version(id).model() + "@" + id.hex());
      } catch (FerryException e) {
        return null;
      }
    }

    /** Opens the version that was quantized, when this store holds it. */
    private void openOriginal(String source) throws IOException {
      if (!ChunkId.isValid(source)) {
        return;
      }
      ChunkId id = ChunkId.parse(source);
      try {
        Version v = repo.objects().version(id);
        compared = repo.open(v.model() + "@" + id.hex());
        comparedId = id;
        comparedAt = safetensorsTensors(compared);
      } catch (FerryException e) {
        // not in this store: sparsity only
      }
    }

    private Function<String, TensorInfo> lookup(Map<String, ModelReader.Located> at) {
      return name -> {
        ModelReader.Located l = at.get(name);
        return l == null ? null : l.info();
      };
    }

    /** Writes the derived files and the report into {@code dir}; returns the report. */
    DerivationReport write(Path dir) throws IOException {
      return writeRest(dir, writeTensorFiles(dir));
    }

    /**
     * Writes the tensor files this run covers ({@link #writes}) into {@code dir}; returns the metrics of each job, in
     * job order: null for a kept tensor and for the jobs of files not written.
     */
    ErrorMetrics[] writeTensorFiles(Path dir) throws IOException {
      Target[] targets = new Target[jobs.size()];
      List<FileChannel> channels = new ArrayList<>();
      ErrorMetrics[] metrics = new ErrorMetrics[jobs.size()];
      try {
        int j = 0;
        List<Integer> mine = new ArrayList<>();
        for (FilePlan fp : files) {
          if (!writes(fp)) {
            j += fp.plans().size();
            continue;
          }
          Path out = dir.resolve(fp.source().path());
          Files.createDirectories(out.getParent());
          List<TensorInfo> outs = new ArrayList<>();
          for (int i = 0; i < fp.plans().size(); i++) {
            outs.addAll(jobs.get(j + i).outputs());
          }
          ByteBuffer header = SafetensorsWriter.header(fp.metadata(), outs);
          FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
              StandardOpenOption.READ);
          channels.add(ch);
          long dataStart = header.remaining();
          long end = outs.isEmpty() ? 0 : outs.get(outs.size() - 1).end();
          try {
            FileWrites.write(header, ch, 0);
            if (end > 0) {
              FileWrites.write(ByteBuffer.allocate(1), ch, dataStart + end - 1);
            }
          } catch (IOException e) {
            throw naming(out, e);
          }
          for (int i = 0; i < fp.plans().size(); i++, j++) {
            targets[j] = new Target(out, ch, dataStart);
            mine.add(j);
          }
        }
        for (int i : mine) {
          sourceTensorBytes += jobs.get(i).plan().inputs().stream().mapToLong(TensorInfo::byteLength).sum();
        }
        ParallelLoop loop = new ParallelLoop();
        loop.run(workers, threads, mine.size(), k -> {
          int i = mine.get(k);
          metrics[i] = process(jobs.get(i), targets[i], loop);
        });
      } finally {
        buffers.clear();
        for (FileChannel ch : channels) {
          ch.close();
        }
      }
      return metrics;
    }

    /** The bytes of the source tensors every job reads. */
    long allSourceTensorBytes() {
      long n = 0;
      for (Job job : jobs) {
        n += job.plan().inputs().stream().mapToLong(TensorInfo::byteLength).sum();
      }
      return n;
    }

    /**
     * Writes the files other than tensor files (copied, or a Hugging Face index rewritten) and the report, made from
     * every job's {@code metrics} (in job order; null for kept tensors), into {@code dir}; returns the report.
     */
    DerivationReport writeRest(Path dir, ErrorMetrics[] metrics) throws IOException {
      Map<String, List<TensorInfo>> replaced = new HashMap<>();
      absorbed.forEach(n -> replaced.put(n, List.of()));
      jobs.forEach(job -> replaced.put(job.plan().source().name(), job.outputs()));
      for (FileEntry f : reader.snapshot().files()) {
        if (f.format().equals(FileEntry.SAFETENSORS) || f.path().equals(DerivationReport.FILE)) {
          continue;
        }
        Path out = dir.resolve(f.path());
        Files.createDirectories(out.getParent());
        if (out.getFileName().toString().equals(HfIndex.FILE_NAME)) {
          Files.write(out, HfIndex.rewrite(f.path(), fileBytes(reader, f.path()), replaced),
              StandardOpenOption.CREATE_NEW);
          continue;
        }
        try (FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
          reader.copyFile(f.path(), ch);
        }
      }
      ErrorMetrics overall = ErrorMetrics.empty();
      List<TensorReport> reports = new ArrayList<>();
      for (int i = 0; i < jobs.size(); i++) {
        TensorPlan p = jobs.get(i).plan();
        if (metrics[i] != null && metrics[i].unchanged()) {
          // written byte for byte as it was (a prune with nothing to zero, an empty tensor): kept, not changed
          reports.add(p.keptReport(p.elements() == 0 ? "no elements" : transform.unchanged(p)));
          continue;
        }
        if (metrics[i] != null) {
          overall = overall.plus(metrics[i]);
        }
        reports.add(p.report(metrics[i] == null ? null : metrics[i].figures()));
      }
      if (reports.stream().noneMatch(TensorReport::changed)) {
        Set<String> why = new TreeSet<>();
        reports.forEach(r -> why.add(r.reason()));
        throw new DerivationInputException("nothing to " + spec.method() + " in " + model() + ": every tensor "
            + "would be written as it is (" + String.join("; ", why) + ")");
      }
      DerivationReport report = new DerivationReport(spec.method(), spec.parameters(), src.id(),
          src.version().model(), comparedId, overall.figures(), reports, keptFiles);
      Files.write(dir.resolve(DerivationReport.FILE), report.toJson(), StandardOpenOption.CREATE_NEW);
      return report;
    }

    /** Writes one tensor's outputs; returns its metrics, or null for a kept tensor. */
    private ErrorMetrics process(Job job, Target t, ParallelLoop loop) throws IOException {
      TensorPlan p = job.plan();
      if (!p.changes()) {
        copy(p.source(), t, t.dataStart() + job.outputs().get(0).begin());
        return null;
      }
      ErrorMetrics.Accumulator acc = new ErrorMetrics.Accumulator();
      long elements = p.elements();
      if (elements == 0) {
        acc.unchanged(p.outputs().equals(List.of(new TensorReport.Output(p.source().name(), p.source().dtype(),
            p.source().shape()))));
        return acc.result();
      }
      List<RowCursor> in = new ArrayList<>();
      RowCursor ref = null;
      try {
        // a tensor whose rows are longer than a block is seen as runs of the transform's units (elements for a cast,
        // groups for a quantization), and a unit longer than a block comes in parts: read whole, a [1, n] tensor held
        // its n elements in the segment and several times as many in working arrays
        long firstDim = p.shape().isEmpty() ? 1 : p.shape().get(0);
        long rowElements = elements / firstDim;
        long unit = rowElements <= BLOCK_ELEMENTS ? rowElements : transform.unit(p);
        if (unit < 1 || rowElements % unit != 0) {
          throw new IllegalStateException("tensor '" + p.source().name() + "': a unit of " + unit + " elements does "
              + "not divide its rows of " + rowElements);
        }
        long units = elements / unit;
        for (TensorInfo i : p.inputs()) {
          in.add(new RowCursor(reader, located(reader, i), units, buffers));
        }
        ref = p.reference() == null ? null
            : new RowCursor(compared, located(compared, p.reference()), units, buffers);
        Walk walk = new Walk(units, unit, in.get(0).rowBytes(), RowCursor.storedStep(p.source()));
        TensorTransform.Worker w = transform.worker(p, walk.maxElements());
        for (int pass = 0; pass < w.scanPasses(); pass++) {
          for (Span s = walk.next(null); s != null && !loop.failed(); s = walk.next(s)) {
            w.scan(pass, block(s, walk, in, ref, List.of()));
          }
          w.endScan(pass);
        }
        List<ByteBuffer> outs = new ArrayList<>();
        for (TensorInfo o : job.outputs()) {
          outs.add(ByteBuffer.allocate(Math.toIntExact(walk.maxBytes(o))).order(ByteOrder.LITTLE_ENDIAN));
        }
        for (Span s = walk.next(null); s != null && !loop.failed(); s = walk.next(s)) {
          for (int i = 0; i < outs.size(); i++) {
            outs.get(i).clear().limit(Math.toIntExact(walk.bytes(job.outputs().get(i), s)[1]));
          }
          w.apply(block(s, walk, in, ref, outs), acc);
          for (int i = 0; i < outs.size(); i++) {
            TensorInfo o = job.outputs().get(i);
            try {
              FileWrites.write(outs.get(i).rewind(), t.channel(), t.dataStart() + o.begin() + walk.bytes(o, s)[0]);
            } catch (IOException e) {
              throw naming(t.file(), e);
            }
          }
        }
        return acc.result();
      } finally {
        in.forEach(RowCursor::close);
        if (ref != null) {
          ref.close();
        }
      }
    }

    /**
     * Writes a tensor as it is, one stored chunk at a time, whatever its rows: a tensor whose rows are larger than a
     * chunk is copied in the chunks it is stored in, not row by row (which held a whole row and decoded each chunk a
     * row straddles once for each of its rows).
     */
    private void copy(TensorInfo info, Target t, long base) throws IOException {
      long length = info.byteLength();
      if (length == 0) {
        return;
      }
      try (RowCursor cursor = new RowCursor(reader, located(reader, info), 1, buffers)) {
        long step = RowCursor.storedStep(info);
        for (long b = 0; b < length; b += step) {
          ByteBuffer bytes = cursor.bytes(b, Math.min(length, b + step));
          try {
            FileWrites.write(bytes, t.channel(), base + b);
          } catch (IOException e) {
            throw naming(t.file(), e);
          }
        }
      }
    }

    /** Where tensor {@code t} of the source, or of the comparison version, is. */
    private ModelReader.Located located(ModelReader r, TensorInfo t) {
      ModelReader.Located l = (r == reader ? sourceAt : comparedAt).get(t.name());
      if (l == null || !l.info().equals(t)) {
        throw new IllegalStateException("tensor '" + t.name() + "' is not a tensor of a safetensors file of "
            + r.versionId().shortHex(12));
      }
      return l;
    }

    @Override
    public void close() {
      if (compared != null) {
        compared.close();
      }
      if (quantized != null) {
        quantized.close();
      }
    }
  }

  /** The tensors of the safetensors files of a version by name (the first of a name: {@code plan} refuses others). */
  private static Map<String, ModelReader.Located> safetensorsTensors(ModelReader r) {
    Map<String, ModelReader.Located> at = new HashMap<>();
    for (ModelReader.Located l : r.tensors()) {
      if (l.file().format().equals(FileEntry.SAFETENSORS)) {
        at.putIfAbsent(l.info().name(), l);
      }
    }
    return at;
  }

  /**
   * Elements {@code [e0, e1)} of each unit (row) {@code [u0, u1)} of a tensor: whole units ({@code e0 = 0}, {@code e1}
   * the unit), or a part of one unit ({@code u1 = u0 + 1}).
   */
  record Span(long u0, long u1, long e0, long e1) {}

  /**
   * The blocks a tensor seen as {@code units} units (rows) of {@code unit} elements is processed in, in order: whole
   * units, up to {@value #BLOCK_ELEMENTS} elements and never across a stored piece of the source (of {@code step}
   * bytes, units of {@code rowBytes}) where a unit fits in one; or, for units longer than that, parts of
   * {@value #BLOCK_ELEMENTS} elements of one unit.
   */
  record Walk(long units, long unit, long rowBytes, long step) {
    boolean parts() {
      return unit > BLOCK_ELEMENTS;
    }

    long unitsPerBlock() {
      return Math.max(1, BLOCK_ELEMENTS / unit);
    }

    int maxElements() {
      return (int) Math.min(units * unit, parts() ? BLOCK_ELEMENTS : Math.min(units, unitsPerBlock()) * unit);
    }

    /** The span after {@code s} (the first when null), or null after the last. */
    Span next(Span s) {
      if (parts()) {
        boolean fresh = s == null || s.e1() == unit;
        long u = s == null ? 0 : fresh ? s.u1() : s.u0();
        long e0 = fresh ? 0 : s.e1();
        return u >= units ? null : new Span(u, u + 1, e0, Math.min(unit, e0 + BLOCK_ELEMENTS));
      }
      long r0 = s == null ? 0 : s.u1();
      if (r0 >= units) {
        return null;
      }
      long pieceEnd = Math.max(r0 + 1, (r0 * rowBytes / step + 1) * step / rowBytes);
      long r1 = Math.min(Math.min(units, r0 + unitsPerBlock()), pieceEnd);
      return new Span(r0, r1, 0, unit);
    }

    /** Whether tensor {@code t} holds one element per unit (a group's scale), which a part of a unit gets whole. */
    boolean perUnit(TensorInfo t) {
      return parts() && t.elements() == units;
    }

    /**
     * Where the bytes of span {@code s} are in tensor {@code t} (an input or output of the plan, with as many rows as
     * there are units): {offset, length}.
     */
    long[] bytes(TensorInfo t, Span s) {
      long rb = t.byteLength() / units;
      if (s.e0() == 0 && s.e1() == unit || perUnit(t)) {
        return new long[] {s.u0() * rb, (s.u1() - s.u0()) * rb};
      }
      // rb * e / unit, with rb / unit (bytes per element: 1/2 for 4-bit values) reduced first, as rb * e overflows
      // for a long group (a row of 2^30 F64 elements)
      long g = gcd(rb, unit);
      long num = rb / g;
      long den = unit / g;
      if (s.e0() % den != 0 || s.e1() % den != 0) {
        throw new IllegalStateException("tensor '" + t.name() + "': elements [" + s.e0() + ", " + s.e1() + ") of a "
            + "unit of " + unit + " are not whole bytes of its " + rb);
      }
      return new long[] {s.u0() * rb + s.e0() / den * num, (s.e1() - s.e0()) / den * num};
    }

    private static long gcd(long a, long b) {
      return b == 0 ? a : gcd(b, a % b);
    }

    /** The most bytes of tensor {@code t} a span holds. */
    long maxBytes(TensorInfo t) {
      long rb = t.byteLength() / units;
      if (!parts() || perUnit(t)) {
        return Math.min(units, parts() ? 1 : unitsPerBlock()) * rb;
      }
      return (rb * BLOCK_ELEMENTS + unit - 1) / unit;
    }
  }

  private static TensorTransform.Block block(Span s, Walk walk, List<RowCursor> in, RowCursor ref,
      List<ByteBuffer> out) throws IOException {
    List<ByteBuffer> data = new ArrayList<>(in.size());
    for (RowCursor c : in) {
      data.add(read(c, s, walk));
    }
    long elements = (s.u1() - s.u0() - 1) * walk.unit() + s.e1() - s.e0();
    return new TensorTransform.Block(s.u0() * walk.unit() + s.e0(), Math.toIntExact(s.u1() - s.u0()),
        Math.toIntExact(elements), data, ref == null ? null : read(ref, s, walk), out);
  }

  private static ByteBuffer read(RowCursor c, Span s, Walk walk) throws IOException {
    long[] at = walk.bytes(c.tensor(), s);
    return c.bytes(at[0], at[0] + at[1]);
  }

  /**
   * A fresh directory under {@code tempParent} (made if absent) or the system's temporary directory, locked as in use;
   * first removes the directories there of derives that were killed.
   */
  private WorkDir newTempDir() throws IOException {
    Path parent;
    if (tempParent == null) {
      parent = Path.of(System.getProperty("java.io.tmpdir"));
    } else {
      if (Files.exists(tempParent) && !Files.isDirectory(tempParent)) {
        // Files.createDirectories said only "<path>: already exists"
        throw new DerivationInputException(param("temp_dir", "the temporary directory"), " '" + tempParent
            + "' is a file, not a directory");
      }
      parent = Files.createDirectories(tempParent);
    }
    WorkDir.removeKilled(parent);
    return WorkDir.create(parent);
  }

  /**
   * A derive's temporary directory ({@code ferry-derive-<n>}) and, beside it, {@code ferry-derive-<n>.<pid>.lock}, on
   * which the derive holds a POSIX file lock while it uses the directory. The lock dies with its process, so a derive
   * killed with SIGKILL (the out-of-memory killer, {@code kill -9}), which no shutdown hook outlives, leaves a lock
   * that the next derive with the same parent directory can take: it then removes that directory, which held derived
   * files as large as the model for good. The lock file is locked before it gets its name, so a lock found free is
   * one whose derive is gone. Lock files of this process are never opened by the scan: closing any descriptor of a
   * file releases every POSIX lock the process holds on it, so a scan that looked at a running derive's lock of the
   * same process (a server running two derives) would release it.
   */
  private record WorkDir(Path dir, Path lockFile, FileChannel lock) {
    private static final String PREFIX = "ferry-derive-";
    private static final String LOCK = ".lock";

    static WorkDir create(Path parent) throws IOException {
      Path dir = Files.createTempDirectory(parent, PREFIX);
      Path lockFile = parent.resolve(dir.getFileName() + "." + ProcessHandle.current().pid() + LOCK);
      Path locking = parent.resolve(dir.getFileName() + ".locking");
      FileChannel ch = null;
      try {
        ch = FileChannel.open(locking, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW);
        ch.lock();
        Files.move(locking, lockFile, StandardCopyOption.ATOMIC_MOVE);
        return new WorkDir(dir, lockFile, ch);
      } catch (IOException | RuntimeException e) {
        if (ch != null) {
          ch.close();
        }
        Files.deleteIfExists(locking);
        LocalTrees.delete(dir);
        throw e;
      }
    }

    /** Removes the directories under {@code parent} whose derives are gone: their lock files are not locked. */
    static void removeKilled(Path parent) {
      try (DirectoryStream<Path> locks = Files.newDirectoryStream(parent, PREFIX + "*" + LOCK)) {
        for (Path lockFile : locks) {
          String name = lockFile.getFileName().toString();
          String stem = name.substring(0, name.length() - LOCK.length());
          int dot = stem.lastIndexOf('.');
          if (dot < 0 || stem.substring(dot + 1).equals(Long.toString(ProcessHandle.current().pid()))) {
            continue; // not a derive's lock, or one of this process, which is running
          }
          Path dir = parent.resolve(stem.substring(0, dot));
          try {
            if (!Files.getOwner(lockFile, LinkOption.NOFOLLOW_LINKS).getName()
                .equals(System.getProperty("user.name"))) {
              // another user's: in a shared temporary directory, a lock someone else made (and left free) must not
              // make us remove a directory of ours, such as a running derive's
              continue;
            }
          } catch (IOException removedMeanwhile) {
            continue;
          }
          try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
            if (ch.tryLock() != null) {
              LocalTrees.delete(dir);
              Files.deleteIfExists(lockFile);
            }
          } catch (IOException | OverlappingFileLockException inUseOrGone) {
            // held by a derive of this process, or removed meanwhile: left alone
          }
        }
      } catch (IOException | DirectoryIteratorException e) {
        // an unreadable temporary directory: what killed derives left stays, as before
      }
    }

    /** Removes the directory, then its lock file, and releases the lock. */
    void remove() throws IOException {
      try {
        LocalTrees.delete(dir);
        Files.deleteIfExists(lockFile);
      } finally {
        lock.close();
      }
    }
  }

  /**
   * Has a shutdown of the JVM (SIGTERM, Ctrl-C) remove {@code work}, which holds derived files as large as the model:
   * a derive stopped midway left it behind in the temporary directory, one model's worth per interruption.
   */
  private static Thread removeOnExit(WorkDir work) {
    Thread hook = new Thread(() -> {
      try {
        work.remove();
      } catch (IOException | RuntimeException e) {
        // the JVM is exiting while workers may still write here: what could not be removed stays
      }
    }, "ferry-derive-cleanup");
    Runtime.getRuntime().addShutdownHook(hook);
    return hook;
  }

  /** Undoes {@link #removeOnExit} once the directory is removed here (or the JVM is already shutting down). */
  private static void keepOnExit(Thread hook) {
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException shuttingDown) {
      // the hook runs or ran: nothing to undo
    }
  }


  /** "a" or "an" before a format's name, as it is read ("an onnx file", "a gguf file"). */
  private static String article(String word) {
    return !word.isEmpty() && "aeio".indexOf(word.charAt(0)) >= 0 ? "an" : "a";
  }
}
