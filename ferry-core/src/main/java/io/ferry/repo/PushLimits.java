package io.ferry.repo;

import io.ferry.chunk.ChunkPlanner;
import io.ferry.error.InvalidInputException;
import io.ferry.format.TensorInfo;
import io.ferry.id.ChunkId;
import io.ferry.limits.Limits;
import io.ferry.scan.ModelFiles.SourceFile;
import io.ferry.transfer.Pusher;
import io.ferry.version.ChunkRef;
import io.ferry.version.Derivation;
import io.ferry.version.FileEntry;
import io.ferry.version.ObjectJson;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import io.ferry.version.VersionStats;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Applies {@link Limits} to a push before it writes anything: its arguments, then every file of the validated source,
 * then the size of the snapshot and version JSON it will write, measured on stand-ins with the same shape (ids and
 * hashes have a fixed length, so the stand-in's JSON is exactly as long as the real one). The snapshot's JSON is
 * counted, never made: it is tens of MB for a source of hundreds of thousands of tensors.
 */
final class PushLimits {
  private static final ChunkId STAND_IN = new ChunkId(0, 0, 0, 0);
  private static final String STAND_IN_SHA = "0".repeat(ChunkId.HEX_LENGTH);

  private PushLimits() {}

  /** Checks the push's own arguments: message, author, metadata, derivation; and the version they make. */
  static void checkOptions(String model, PushOptions opts, String author) throws InvalidInputException {
    Limits.checkText("message", opts.message(), Limits.MAX_MESSAGE_CHARS);
    Limits.checkText("author", author, Limits.MAX_AUTHOR_CHARS);
    Limits.checkOneLine("author", author);
    Limits.checkMetadata("version metadata", opts.metadata());
    Derivation d = opts.derivation();
    if (d != null) {
      if (d.method().isBlank()) {
        // stored, it showed as a derivation without a method ("derived {} from ...", "[]" in the log)
        throw new InvalidInputException("derivation method is empty; name how the version was made (finetune,"
            + " distill, ...)");
      }
      Limits.checkText("derivation method", d.method(), Limits.MAX_KEY_CHARS);
      Limits.checkText("derivation source", d.source(), Limits.MAX_KEY_CHARS);
      Limits.checkMetadata("derivation parameters", d.parameters());
      Limits.checkCount("derivation metrics", "entries", d.metrics().size(), Limits.MAX_METADATA_ENTRIES);
      for (Map.Entry<String, Double> m : d.metrics().entrySet()) {
        Limits.checkText("derivation metric name", m.getKey(), Limits.MAX_KEY_CHARS);
        if (!Double.isFinite(m.getValue())) {
          // JSON has no number for it: stored, it became the string "NaN" or "Infinity" where readers want a number
          throw new InvalidInputException("derivation metric '" + m.getKey() + "' is " + m.getValue()
              + ": a metric must be a finite number");
        }
      }
    }
    // the largest version these arguments can make: two parents, no packs (packs are checked again at publish)
    Version v = new Version(STAND_IN, List.of(STAND_IN, STAND_IN), model, opts.message(), author, Instant.EPOCH,
        Long.MAX_VALUE, Long.MAX_VALUE, List.of(), new VersionStats(Long.MAX_VALUE, Long.MAX_VALUE, Long.MAX_VALUE,
        Integer.MAX_VALUE, Integer.MAX_VALUE), opts.metadata(), d);
    checkVersionJson(model, ObjectJson.toJson(v));
  }

  /** Checks the size of a version's JSON about to be written. */
  static void checkVersionJson(String model, byte[] json) throws InvalidInputException {
    Limits.checkJson("version of " + model, json, Limits.MAX_VERSION_JSON_BYTES);
  }

  /** Checks every file of a validated source (path, metadata, tensor names, counts) and its snapshot's size. */
  static void checkSource(Pusher.Prepared prepared) throws InvalidInputException {
    List<SourceFile> files = prepared.files();
    Limits.checkCount("the source", "files", files.size(), Limits.MAX_FILES);
    long tensors = 0;
    List<FileEntry> entries = new ArrayList<>(files.size());
    for (SourceFile f : files) {
      Limits.checkPath(f.path());
      List<ChunkRef> chunks = new ArrayList<>();
      for (ChunkPlanner.Range r : prepared.plans().get(f.path())) {
        chunks.add(new ChunkRef(STAND_IN, r.length()));
      }
      if (f.layout() == null) {
        entries.add(FileEntry.opaque(f.path(), f.size(), STAND_IN_SHA, chunks));
        continue;
      }
      Map<String, String> metadata = f.layout().metadata().asStrings();
      Limits.checkMetadata(f.path() + ": metadata", metadata);
      List<TensorInfo> ts = f.layout().tensors();
      tensors += ts.size();
      Limits.checkCount("the source", "tensors", tensors, Limits.MAX_TENSORS);
      for (TensorInfo t : ts) {
        Limits.checkTensorName(f.path(), t.name());
      }
      entries.add(FileEntry.of(f.path(), STAND_IN_SHA, f.layout(), chunks));
    }
    Limits.checkJsonLength("the snapshot of the source", ObjectJson.jsonLength(new Snapshot(entries)),
        Limits.MAX_SNAPSHOT_JSON_BYTES);
  }
}
