package io.ferry.repo;

import io.ferry.codec.CodecPolicy;
import io.ferry.scan.PathFilter;
import io.ferry.transfer.TransferListener;
import io.ferry.version.Derivation;
import io.ferry.id.ChunkId;
import io.ferry.version.FileEntry;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Options of a push. Build with {@link #builder()}.
 *
 * @param message the version message
 * @param author who pushes; null means the repository's default author
 * @param codec how chunks are encoded
 * @param derivation how the version was derived, or null
 * @param derivedFrom a ref whose version becomes a second parent (lineage across models), or null
 * @param metadata free-form version metadata
 * @param files which files of the source to push (the source's {@code .ferryignore} applies besides)
 * @param detached the version gets no parent link to the head (a fresh line of history; the head still moves to it),
 *     and it is made even when the head has the same content: what was pushed before stays reachable only through its
 *     tags, so gc can free a version once its tags are deleted (training checkpoints)
 * @param tagOnce the push's tag must be new: if it exists, the push is up to date when the tagged version has the same
 *     content, and refused otherwise ({@link io.ferry.error.InvalidInputException}, nothing published)
 * @param stored files whose chunks others already stored in the target store (the executors of a cluster derive),
 *     added to the snapshot as they are, next to the source's files; empty for an ordinary push. The push checks, under
 *     its lease, that every chunk they name exists before it publishes, as it does for its own. Checks that span
 *     files (a Hugging Face index against its shards) cannot run on a source that holds only part of the model and are
 *     skipped: the caller vouches for them ({@link io.ferry.derive.Deriver#publish} writes the index by rewriting the
 *     source's checked index for the tensors it planned).
 * @param storedPacks the packs holding the small chunks of {@code stored}, listed by the version
 * @param opaque the files (by path in the source, as {@code files}) stored as their bytes without being read as a
 *     format, or null for none: a pickle the torch format refuses, which its users load trusting where it came from
 */
public record PushOptions(String message, String author, CodecPolicy codec, Derivation derivation,
    String derivedFrom, Map<String, String> metadata, TransferListener listener, PathFilter files, boolean detached,
    boolean tagOnce, List<FileEntry> stored, List<ChunkId> storedPacks, PathFilter opaque) {
  public PushOptions {
    stored = List.copyOf(Objects.requireNonNull(stored, "stored"));
    storedPacks = List.copyOf(Objects.requireNonNull(storedPacks, "storedPacks"));
    files = files == null ? PathFilter.ALL : files;
    Objects.requireNonNull(message, "message");
    Objects.requireNonNull(codec, "codec");
    for (Map.Entry<String, String> e : Objects.requireNonNull(metadata, "metadata").entrySet()) {
      if (e.getKey() == null || e.getValue() == null) {
        throw new NullPointerException("metadata: the entry " + e.getKey() + "=" + e.getValue() + " has a null key or"
            + " value");
      }
    }
    metadata = Map.copyOf(metadata);
    listener = listener == null ? TransferListener.NONE : listener;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Builder of {@link PushOptions}; every setter may be called once. */
  public static final class Builder {
    private String message = "";
    private String author;
    private CodecPolicy codec = CodecPolicy.AUTO;
    private Derivation derivation;
    private String derivedFrom;
    private Map<String, String> metadata = Map.of();
    private TransferListener listener;
    private PathFilter files = PathFilter.ALL;
    private boolean detached;
    private boolean tagOnce;
    private List<FileEntry> stored = List.of();
    private List<ChunkId> storedPacks = List.of();
    private PathFilter opaque;

    public Builder message(String m) {
      this.message = Objects.requireNonNull(m, "message");
      return this;
    }

    public Builder author(String a) {
      this.author = a;
      return this;
    }

    public Builder codec(CodecPolicy c) {
      this.codec = Objects.requireNonNull(c, "codec");
      return this;
    }

    public Builder derivation(Derivation d) {
      this.derivation = d;
      return this;
    }

    public Builder derivedFrom(String ref) {
      this.derivedFrom = ref;
      return this;
    }

    public Builder metadata(Map<String, String> m) {
      this.metadata = Objects.requireNonNull(m, "metadata");
      return this;
    }

    public Builder listener(TransferListener l) {
      this.listener = l;
      return this;
    }

    /** Which files of the source to push (default: every file). */
    public Builder files(PathFilter f) {
      this.files = Objects.requireNonNull(f, "files");
      return this;
    }

    /** See {@link PushOptions#detached()}. */
    public Builder detached(boolean d) {
      this.detached = d;
      return this;
    }

    /** See {@link PushOptions#tagOnce()}. */
    public Builder tagOnce(boolean t) {
      this.tagOnce = t;
      return this;
    }

    /** See {@link PushOptions#stored()} and {@link PushOptions#storedPacks()}. */
    public Builder stored(List<FileEntry> files, List<ChunkId> packs) {
      this.stored = Objects.requireNonNull(files, "files");
      this.storedPacks = Objects.requireNonNull(packs, "packs");
      return this;
    }

    /** See {@link PushOptions#opaque()}. */
    public Builder opaque(PathFilter o) {
      this.opaque = o;
      return this;
    }

    public PushOptions build() {
      return new PushOptions(message, author, codec, derivation, derivedFrom, metadata, listener, files, detached,
          tagOnce, stored, storedPacks, opaque);
    }
  }
}
