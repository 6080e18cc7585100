package io.ferry.repo;

import io.ferry.id.ChunkId;
import io.ferry.format.DType;
import io.ferry.store.RefLogEntry;
import io.ferry.version.Version;
import java.util.List;
import java.util.Map;

/** Immutable results of repository operations. */
public final class Results {
  private Results() {}

  /** A version and its id. */
  public record VersionRef(ChunkId id, Version version) {}

  /**
   * Outcome of a push.
   *
   * @param upToDate true if the content equals the head's and no version was made
   * @param newStoredBytes bytes of chunk frames, packs and the snapshot this push added to the store: for a new
   *     version, the {@link io.ferry.version.VersionStats#newStoredBytes} it records (the version record itself, which
   *     cannot count its own size, is not included)
   * @param newChunks chunks this push added
   */
  public record PushResult(ChunkId versionId, Version version, boolean upToDate, long newStoredBytes,
      long newChunks) {}

  /**
   * One model as listed by {@code ls}.
   *
   * @param logicalBytes bytes of the head's files; {@link #UNKNOWN} when its head version cannot be read (only in a
   *     listing that reports damaged versions instead of failing: {@link Repository#models(java.util.function.Consumer,
   *     java.util.function.Consumer)})
   * @param versions the number of versions, or {@link #UNKNOWN} when a version of the walk cannot be read (as above)
   */
  public record ModelSummary(String model, ChunkId head, Map<String, ChunkId> tags, long logicalBytes,
      long versions) {
    /** The size or count of a model whose versions cannot be read. */
    public static final long UNKNOWN = -1;
  }

  /** Outcome of moving a tag. */
  public record TagResult(String ref, ChunkId oldId, ChunkId newId, io.ferry.store.CasResult result) {}

  /**
   * Kinds of change in a diff. {@link #RENAMED}: a file, or a tensor that B holds under another name with the same
   * dtype, shape and bytes (tensors are matched by name first).
   */
  public enum Change { ADDED, REMOVED, CHANGED, RESHAPED, DTYPE_CHANGED, RENAMED }

  /**
   * A tensor-level difference; a and b describe the tensor on each side (null where absent). A tensor is matched by
   * its name across the two versions, whichever file holds it (a model sharded anew moves tensors between files);
   * a name that several files of either version hold (a diffusers model's {@code unet/} and {@code vae/}) is matched
   * within each file, and {@code file} names that file (else it is null). A tensor of A that B no longer holds under
   * its name but holds under a new one, with the same dtype, shape and bytes, is {@link Change#RENAMED}: {@code name}
   * is its name in B and {@code renamedFrom} its name in A (null for every other change); empty tensors are never
   * paired so. {@code sameBytes}: whether both sides hold the same bytes in the same order (a tensor only reshaped or
   * retyped, or renamed); false where a side is missing.
   */
  public record TensorDiff(String name, Change change, DType dtypeA, List<Long> shapeA, DType dtypeB,
      List<Long> shapeB, long bytesA, long bytesB, String file, String renamedFrom, boolean sameBytes) {
    /** A difference of a tensor that was not renamed and whose bytes differ (or are on one side only). */
    public TensorDiff(String name, Change change, DType dtypeA, List<Long> shapeA, DType dtypeB, List<Long> shapeB,
        long bytesA, long bytesB, String file) {
      this(name, change, dtypeA, shapeA, dtypeB, shapeB, bytesA, bytesB, file, null, false);
    }

    /** A difference of a tensor whose name one file holds. */
    public TensorDiff(String name, Change change, DType dtypeA, List<Long> shapeA, DType dtypeB, List<Long> shapeB,
        long bytesA, long bytesB) {
      this(name, change, dtypeA, shapeA, dtypeB, shapeB, bytesA, bytesB, null);
    }
  }

  /**
   * A file-level difference. A file of A that B holds under another path, byte for byte (and no longer under its
   * own), is {@link Change#RENAMED}: {@code path} is its path in B, {@code renamedFrom} its path in A (null for every
   * other change). Empty files are never paired so: any two are the same bytes. A file both hold at {@code path} with
   * the same bytes, stored as different kinds ({@code formatA} and {@code formatB}: a safetensors file pushed again
   * with {@code --opaque}), is {@link Change#CHANGED} with {@code sameBytes}; so is a file whose bytes and kind both
   * changed, without {@code sameBytes} (until 2026-12-07 its kinds were left out). The formats are null for every
   * other difference.
   */
  public record FileDiff(String path, Change change, long sizeA, long sizeB, String renamedFrom, String formatA,
      String formatB, boolean sameBytes) {
    /** A file both hold at {@code path}, stored as kinds {@code formatA} and {@code formatB}. */
    public FileDiff {
      if ((formatA == null) != (formatB == null) || sameBytes && formatA == null) {
        throw new IllegalArgumentException(path + ": formats " + formatA + " and " + formatB
            + (sameBytes ? " of the same bytes" : ""));
      }
    }

    /** A file added, removed or changed in place, stored as the same kind. */
    public FileDiff(String path, Change change, long sizeA, long sizeB) {
      this(path, change, sizeA, sizeB, null);
    }

    /** A file added, removed, changed in place or renamed, stored as the same kind. */
    public FileDiff(String path, Change change, long sizeA, long sizeB, String renamedFrom) {
      this(path, change, sizeA, sizeB, renamedFrom, null, null, false);
    }
  }

  /**
   * A metadata entry of a file that both versions hold at {@code path} and that differs ({@link Change#ADDED},
   * {@link Change#REMOVED} or {@link Change#CHANGED}): a GGUF key-value pair, a safetensors {@code __metadata__} key,
   * an ONNX property, a checkpoint's {@code value.*}; values as the snapshot records them (null on the side without
   * the key).
   */
  public record MetadataDiff(String path, String key, Change change, String valueA, String valueB) {}

  /**
   * An unchanged tensor whose name one file of each version holds, held by another file in B than in A (a model
   * sharded anew): {@code fileA} and {@code fileB}.
   */
  public record TensorMove(String name, String fileA, String fileB) {}

  /**
   * A diff of two versions; {@code metadata} lists the metadata entries that differ in the files both versions hold at
   * one path, by path then key; {@code moved} the unchanged tensors (counted in {@code unchangedTensors}) that another
   * file holds in B, by name.
   */
  public record Diff(ChunkId a, ChunkId b, List<TensorDiff> tensors, List<FileDiff> files, long unchangedTensors,
      List<MetadataDiff> metadata, List<TensorMove> moved) {
    /** A diff without metadata differences. */
    public Diff(ChunkId a, ChunkId b, List<TensorDiff> tensors, List<FileDiff> files, long unchangedTensors) {
      this(a, b, tensors, files, unchangedTensors, List.of());
    }

    /** A diff of no tensor moved to another file. */
    public Diff(ChunkId a, ChunkId b, List<TensorDiff> tensors, List<FileDiff> files, long unchangedTensors,
        List<MetadataDiff> metadata) {
      this(a, b, tensors, files, unchangedTensors, metadata, List.of());
    }
  }

  /**
   * What verify checked and found.
   *
   * @param errors one line per damaged or missing object (at most {@link Verifier#MAX_ERRORS}), each naming the first
   *     version and file found to use it as {@code model@id//path}
   * @param damagedVersions the versions ({@code model@id}) those errors name, each once, in the order found
   * @param indexProblems damaged parts of the store-wide small-chunk index, one line each (a store-wide verify only):
   *     a hint for dedup, so no model is hurt, but bytes the store holds are damaged; {@code ferry index backfill}
   *     repairs them
   * @param damagedObjects how many of the objects the errors name are stored with bytes that fail their id (those
   *     {@code verify --delete-damaged} deletes); the others are missing
   * @param damagedRefLogs the refs whose logs the errors say are damaged (a store-wide verify only), each once, sorted:
   *     no object is damaged for them, so copying versions back does not repair them
   * @param layoutDamage how many of the errors are damage to the store's layout ({@link
   *     io.ferry.store.ChunkStore#layoutDamage}), each saying what to move or replace; no object is damaged for them
   */
  public record VerifyReport(long versions, long chunks, long bytes, List<String> errors,
      List<String> damagedVersions, List<String> indexProblems, int damagedObjects, List<String> damagedRefLogs,
      int layoutDamage) {
    /** Copies the lists. */
    public VerifyReport {
      errors = List.copyOf(errors);
      damagedVersions = List.copyOf(damagedVersions);
      indexProblems = List.copyOf(indexProblems);
      damagedRefLogs = List.copyOf(damagedRefLogs);
    }

    /** A report that names no damaged version, ref log or layout and no index problem. */
    public VerifyReport(long versions, long chunks, long bytes, List<String> errors) {
      this(versions, chunks, bytes, errors, List.of(), List.of(), 0, List.of(), 0);
    }

    /** Whether some error is about an object (damaged or missing), not the store's layout nor a ref's log only. */
    public boolean objectErrors() {
      return !damagedVersions.isEmpty() || errors.size() > damagedRefLogs.size() + layoutDamage;
    }

    /** Whether nothing is damaged or missing: no error and no index problem. */
    public boolean ok() {
      return errors.isEmpty() && indexProblems.isEmpty();
    }

    /** The errors, then the index problems: everything verify found, one line each. */
    public List<String> problems() {
      List<String> all = new java.util.ArrayList<>(errors);
      all.addAll(indexProblems);
      return all;
    }
  }

  /**
   * An object whose stored bytes failed its own id, as {@code verify --delete-damaged} met it.
   *
   * @param kind {@code chunk}, {@code snapshot}, {@code version} or {@code pack}
   * @param defect what the check found (the error without the object's id)
   * @param uses what it held: {@code model@id//file bytes [a, b) (tensor 't')} for a chunk, the versions of a
   *     snapshot, the refs that reach a version, the versions that list a pack (at most {@link #MAX_USES}, then one
   *     line saying how many more)
   * @param kept why it was not deleted, or null if it was
   */
  public record DamagedObject(ChunkId id, String kind, String defect, List<String> uses, String kept) {
    /** At most this many uses are listed per object. */
    public static final int MAX_USES = 20;

    /** Copies the list. */
    public DamagedObject {
      uses = List.copyOf(uses);
    }
  }

  /**
   * What {@code verify --delete-damaged} did: the verify it ran first, the damaged objects it deleted under a gc lease,
   * and those it kept (a pack, an object that is healthy by the time it was checked again, one it could not read
   * again); {@code restore} says how to bring the deleted ones back.
   */
  public record RepairReport(VerifyReport verify, List<DamagedObject> deleted, List<DamagedObject> kept,
      List<String> restore) {
    /** Copies the lists. */
    public RepairReport {
      deleted = List.copyOf(deleted);
      kept = List.copyOf(kept);
      restore = List.copyOf(restore);
    }
  }

  /**
   * What gc found and removed (or would remove, in a dry run).
   *
   * @param keptYoung unreferenced objects kept because they are younger than the grace period
   * @param keptForPushes unreferenced objects kept, whatever their age, because a running push declared them or
   *     wrote them after it began, or a ref-log entry made after it began names their version (see docs/gc.md)
   * @param leftoversRemoved what writes interrupted before the grace period left behind and gc removed (a local
   *     store's temporary files, a Cassandra store's parts of a chunk never completed; {@link
   *     io.ferry.store.ChunkStore#removeAbandoned}); 0 in a dry run, which removes nothing
   */
  public record GcReport(long liveObjects, long deadObjects, long deadBytes, long keptYoung, long keptForPushes,
      long leftoversRemoved, boolean dryRun) {}

  /** Store-wide figures. */
  public record StoreStats(long models, long versions, long logicalBytes, long uniqueBytes, long storedBytes,
      long chunks, long packs, long objects) {
    /** logical / unique: how much dedup saves. */
    public double dedupRatio() {
      return uniqueBytes == 0 ? 1.0 : (double) logicalBytes / uniqueBytes;
    }

    /** stored / unique: what codecs keep of the unique bytes. */
    public double compressionRatio() {
      return uniqueBytes == 0 ? 1.0 : (double) storedBytes / uniqueBytes;
    }
  }

  /** A ref log entry with the ref it belongs to. */
  public record RefMove(String ref, RefLogEntry entry) {}

  /** Outcome of copying a version to another store. */
  public record CopyResult(ChunkId version, int versionsSent, long objectsSent, long bytesSent, List<String> refsMoved) {}
}
