package io.ferry.repo;

import io.ferry.objects.ObjectDatabase;

import io.ferry.id.ChunkId;
import io.ferry.read.ModelReader;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import io.ferry.format.torch.TorchMetadata;
import io.ferry.repo.Results.Change;
import io.ferry.repo.Results.Diff;
import io.ferry.repo.Results.FileDiff;
import io.ferry.repo.Results.MetadataDiff;
import io.ferry.repo.Results.TensorDiff;
import io.ferry.repo.Results.TensorMove;
import io.ferry.repo.Results.VersionRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Tensor-level, file-level and metadata differences between two versions, from their snapshots, but for the slices of
 * checkpoint storages whose chunks changed, whose bytes are read to tell. Thread-safe.
 */
final class Differ {
  private final ObjectDatabase db;

  Differ(ObjectDatabase db) {
    this.db = db;
  }

  /** Tensor-level and file-level differences between two versions. */
  Diff diff(VersionRef va, VersionRef vb) throws IOException {
    Snapshot sa = db.snapshot(va.version().snapshot());
    Snapshot sb = db.snapshot(vb.version().snapshot());
    // names several files of either version hold are matched within each file: keyed "name\0file", which sorts
    // them by name, then file
    Set<String> shared = sharedNames(sa);
    shared.addAll(sharedNames(sb));
    Map<String, TensorContent> ta = tensors(sa, shared);
    Map<String, TensorContent> tb = tensors(sb, shared);
    List<TensorDiff> out = new ArrayList<>();
    List<TensorMove> moved = new ArrayList<>();
    long same = 0;
    Set<String> names = new TreeSet<>(ta.keySet());
    names.addAll(tb.keySet());
    try (SliceReaders readers = new SliceReaders(va, sa, vb, sb)) {
      Map<String, String> renamedFrom = renames(names, ta, tb, readers);
      Set<String> renamedAway = new HashSet<>(renamedFrom.values());
      for (String n : names) {
        TensorContent x = ta.get(n);
        TensorContent y = tb.get(n);
        Change c;
        if (x == null && renamedFrom.containsKey(n)) {
          TensorContent was = ta.get(renamedFrom.get(n));
          if (was.info.name().equals(y.info.name())) {
            // a name several files hold, moved with its file: unchanged, as a tensor of a name one file holds is
            same++;
            continue;
          }
          out.add(new TensorDiff(y.info.name(), Change.RENAMED, was.info.dtype(), was.info.shape(),
              y.info.dtype(), y.info.shape(), was.bytes, y.bytes, shared.contains(y.info.name()) ? y.file : null,
              was.info.name(), true));
          continue;
        } else if (y == null && renamedAway.contains(n)) {
          continue;
        } else if (x == null) {
          c = Change.ADDED;
        } else if (y == null) {
          c = Change.REMOVED;
        } else if (x.info.dtype() != y.info.dtype()) {
          c = Change.DTYPE_CHANGED;
        } else if (!x.info.shape().equals(y.info.shape())) {
          c = Change.RESHAPED;
        } else if (!x.sameBytesAs(y) && !readers.sameBytes(x, y)) {
          c = Change.CHANGED;
        } else {
          same++;
          if (!x.file.equals(y.file)) {
            // a name one file of each holds (a name several hold is matched within its file)
            moved.add(new TensorMove(y.info.name(), x.file, y.file));
          }
          continue;
        }
        TensorContent any = x != null ? x : y;
        out.add(new TensorDiff(any.info.name(), c, x == null ? null : x.info.dtype(),
            x == null ? null : x.info.shape(), y == null ? null : y.info.dtype(), y == null ? null : y.info.shape(),
            x == null ? 0 : x.bytes, y == null ? 0 : y.bytes,
            shared.contains(any.info.name()) ? any.file : null, null, x != null && y != null && x.sameBytesAs(y)));
      }
    }
    List<FileDiff> files = new ArrayList<>();
    List<MetadataDiff> meta = new ArrayList<>();
    Map<String, FileEntry> fa = new TreeMap<>();
    sa.files().forEach(f -> fa.put(f.path(), f));
    Map<String, FileEntry> fb = new TreeMap<>();
    sb.files().forEach(f -> fb.put(f.path(), f));
    Set<String> paths = new TreeSet<>(fa.keySet());
    paths.addAll(fb.keySet());
    for (String p : paths) {
      FileEntry x = fa.get(p);
      FileEntry y = fb.get(p);
      if (x == null) {
        files.add(new FileDiff(p, Change.ADDED, 0, y.size()));
      } else if (y == null) {
        files.add(new FileDiff(p, Change.REMOVED, x.size(), 0));
      } else if (!x.sha256().equals(y.sha256())) {
        // bytes and kind both changed (a file that now reads as a format, or no longer does): said with its kinds
        boolean kinds = !x.format().equals(y.format());
        files.add(new FileDiff(p, Change.CHANGED, x.size(), y.size(), null, kinds ? x.format() : null,
            kinds ? y.format() : null, false));
        metadata(p, x.metadata(), y.metadata(), meta);
      } else if (!x.format().equals(y.format())) {
        // the same bytes read as another kind (pushed with --opaque, or by a Ferry that reads the format): its
        // tensors appear or vanish, and this says why
        files.add(new FileDiff(p, Change.CHANGED, x.size(), y.size(), null, x.format(), y.format(), true));
      }
    }
    List<FileDiff> paired = renames(files, fa, fb);
    // a tensor that moved with its file, the file renamed, is said by the file's line
    Set<String> renamedFiles = new HashSet<>();
    paired.stream().filter(f -> f.change() == Change.RENAMED)
        .forEach(f -> renamedFiles.add(f.renamedFrom() + "\0" + f.path()));
    moved.removeIf(m -> renamedFiles.contains(m.fileA() + "\0" + m.fileB()));
    return new Diff(va.id(), vb.id(), out, paired, same, meta, moved);
  }

  /**
   * The metadata entries of the file at {@code path} that differ between A's {@code x} and B's {@code y}, by key: a
   * GGUF file whose tensors are the same but whose {@code llama.context_length} changed was only "file changed".
   */
  private static void metadata(String path, Map<String, String> x, Map<String, String> y, List<MetadataDiff> out) {
    Set<String> keys = new TreeSet<>(x.keySet());
    keys.addAll(y.keySet());
    for (String k : keys) {
      String va = x.get(k);
      String vb = y.get(k);
      if (va == null) {
        out.add(new MetadataDiff(path, k, Change.ADDED, null, vb));
      } else if (vb == null) {
        out.add(new MetadataDiff(path, k, Change.REMOVED, va, null));
      } else if (!va.equals(vb)) {
        out.add(new MetadataDiff(path, k, Change.CHANGED, va, vb));
      }
    }
  }

  /**
   * Tensors of B (by key) that are tensors of A renamed: each name only A holds paired with a name only B holds whose
   * tensor has the same dtype, shape and bytes (and is not empty), in name order on both sides, so the result does not
   * depend on file order; a tensor of A repeated under two new names is renamed to the first, the other is added. A
   * slice of a checkpoint's storage is matched by the digest of its bytes, which its chunks cannot tell: the storage
   * may have changed elsewhere.
   */
  private static Map<String, String> renames(Set<String> names, Map<String, TensorContent> ta,
      Map<String, TensorContent> tb, SliceReaders readers) throws IOException {
    List<String> added = new ArrayList<>();
    Set<String> kinds = new HashSet<>(); // the dtypes and shapes added: a slice of another is not read
    for (String n : names) {
      TensorContent y = tb.get(n);
      if (y != null && !ta.containsKey(n) && y.info.byteLength() > 0) {
        added.add(n);
        kinds.add(y.info.dtype() + " " + y.info.shape());
      }
    }
    Map<String, String> out = new HashMap<>();
    if (added.isEmpty()) {
      return out;
    }
    Map<Content, ArrayDeque<String>> removed = new HashMap<>();
    Set<String> removedKinds = new HashSet<>();
    for (String n : names) {
      TensorContent x = ta.get(n);
      String kind = x == null ? null : x.info.dtype() + " " + x.info.shape();
      if (x != null && !tb.containsKey(n) && x.info.byteLength() > 0 && kinds.contains(kind)) {
        removed.computeIfAbsent(readers.content(x, true), k -> new ArrayDeque<>()).add(n);
        removedKinds.add(kind);
      }
    }
    if (removed.isEmpty()) {
      return out;
    }
    for (String n : added) {
      TensorContent y = tb.get(n);
      if (removedKinds.contains(y.info.dtype() + " " + y.info.shape())) {
        ArrayDeque<String> from = removed.get(readers.content(y, false));
        if (from != null && !from.isEmpty()) {
          out.put(n, from.poll());
        }
      }
    }
    return out;
  }

  /**
   * What makes two tensors the same values under any name.
   *
   * @param digest the SHA-256 of a checkpoint slice's bytes (its chunks then empty), else null
   */
  private record Content(DType dtype, List<Long> shape, List<ChunkId> chunks, long lead, String strides,
      String digest) {}

  /**
   * The diff's files with each removed file that an added one repeats byte for byte (same SHA-256 and size, not
   * empty) shown as renamed to it instead: the removed and added paths paired in path order, so the result does not
   * depend on how the snapshots list them. A file whose bytes a second added path repeats is renamed to the first
   * and the other stays added (a copy).
   */
  private static List<FileDiff> renames(List<FileDiff> files, Map<String, FileEntry> fa, Map<String, FileEntry> fb) {
    Map<String, ArrayDeque<String>> removedByContent = new HashMap<>();
    for (FileDiff f : files) {
      FileEntry x = fa.get(f.path());
      if (f.change() == Change.REMOVED && x.size() > 0) {
        removedByContent.computeIfAbsent(x.sha256() + "/" + x.size(), k -> new ArrayDeque<>())
            .add(f.path());
      }
    }
    if (removedByContent.isEmpty()) {
      return files;
    }
    Map<String, String> renamedFrom = new HashMap<>(); // added path -> removed path
    for (FileDiff f : files) {
      FileEntry y = fb.get(f.path());
      if (f.change() == Change.ADDED && y.size() > 0) {
        ArrayDeque<String> from = removedByContent.get(y.sha256() + "/" + y.size());
        if (from != null && !from.isEmpty()) {
          renamedFrom.put(f.path(), from.poll());
        }
      }
    }
    Set<String> renamed = new HashSet<>(renamedFrom.values());
    List<FileDiff> out = new ArrayList<>(files.size() - renamed.size());
    for (FileDiff f : files) {
      String old = renamedFrom.get(f.path()); // paths are unique in the list: only an added one has an entry
      if (old != null) {
        out.add(new FileDiff(f.path(), Change.RENAMED, f.sizeB(), f.sizeB(), old));
      } else if (!renamed.contains(f.path())) {
        out.add(f);
      }
    }
    return out;
  }

  /**
   * What a tensor's values are made of: the chunks its bytes lie in, where in the first of them it starts, and, for
   * a view of a PyTorch storage that is not a row-major run of it, its strides. A tensor of a safetensors, GGUF or
   * ONNX file is its chunks exactly (it starts at the first one's start), but a checkpoint's tensor is a view of a
   * storage, which is the chunk: {@code w} and {@code w.t()}, or {@code flat[0:4]} and {@code flat[4:8]}, lie in the
   * same chunks with the same dtype and shape, so chunks alone said such a tensor was unchanged when its values were
   * not.
   *
   * @param lead bytes from the start of the first chunk to the tensor's first byte (0 without chunks)
   * @param strides the strides a checkpoint records for a non-contiguous view, else null
   * @param bytes the bytes of its elements ({@link FileEntry#tensorBytes})
   * @param from its first byte in its file
   * @param whole whether its range is its chunks exactly (then other chunks are other bytes); a slice of a
   *     checkpoint's storage shares its chunks with the rest of the storage
   */
  private record TensorContent(TensorInfo info, List<ChunkId> chunks, String file, long lead, String strides,
      long bytes, long from, boolean whole) {
    /** Whether the two hold the same bytes in the same order, whatever their dtypes and shapes. */
    boolean sameBytesAs(TensorContent o) {
      return chunks.equals(o.chunks) && lead == o.lead && info.byteLength() == o.info.byteLength()
          && Objects.equals(strides, o.strides);
    }

    Content content() {
      return new Content(info.dtype(), info.shape(), chunks, lead, strides, null);
    }
  }

  /**
   * Reads the bytes of tensors whose chunks cannot tell: two slices of checkpoint storages (views of the same dtype,
   * shape and strides) in other chunks may still hold the same bytes, as {@code flat[0:4]} does when only
   * {@code flat[7]} changed. Each side's reader is opened at its first use.
   */
  private final class SliceReaders implements java.io.Closeable {
    private final VersionRef va;
    private final Snapshot sa;
    private final VersionRef vb;
    private final Snapshot sb;
    private ModelReader ra;
    private ModelReader rb;

    SliceReaders(VersionRef va, Snapshot sa, VersionRef vb, Snapshot sb) {
      this.va = va;
      this.sa = sa;
      this.vb = vb;
      this.sb = sb;
    }

    /** Whether {@code x} (of A) and {@code y} (of B), of one dtype and shape, hold the same bytes in the same order. */
    boolean sameBytes(TensorContent x, TensorContent y) throws IOException {
      if (x.whole && y.whole || !Objects.equals(x.strides, y.strides)
          || x.info.byteLength() != y.info.byteLength()) {
        return false;
      }
      open();
      return Arrays.equals(digest(ra, x), digest(rb, y));
    }

    /** What {@code t} (of A if {@code ofA}, else of B) holds: its chunks, or for a slice the digest of its bytes. */
    Content content(TensorContent t, boolean ofA) throws IOException {
      if (t.whole) {
        return t.content();
      }
      open();
      return new Content(t.info.dtype(), t.info.shape(), List.of(), 0, t.strides,
          HexFormat.of().formatHex(digest(ofA ? ra : rb, t)));
    }

    private void open() throws IOException {
      if (ra == null) {
        ra = new ModelReader(db.reader(), va.id(), va.version(), sa, db.locator(va.version().packs()));
        rb = new ModelReader(db.reader(), vb.id(), vb.version(), sb, db.locator(vb.version().packs()));
      }
    }

    /** The SHA-256 of a tensor's bytes, each chunk they lie in read and decoded once. */
    private byte[] digest(ModelReader r, TensorContent t) throws IOException {
      MessageDigest sha;
      try {
        sha = MessageDigest.getInstance("SHA-256");
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException(e);
      }
      r.copyRange(t.file, t.from, t.from + t.info.byteLength(), new WritableByteChannel() {
        @Override
        public int write(ByteBuffer src) {
          int n = src.remaining();
          sha.update(src);
          return n;
        }

        @Override
        public boolean isOpen() {
          return true;
        }

        @Override
        public void close() {}
      });
      return sha.digest();
    }

    @Override
    public void close() {
      if (ra != null) {
        ra.close();
        rb.close();
      }
    }
  }

  /** Tensor names that more than one file of {@code s} holds. */
  private static Set<String> sharedNames(Snapshot s) {
    Map<String, String> first = new HashMap<>();
    Set<String> out = new HashSet<>();
    for (FileEntry f : s.files()) {
      for (TensorInfo t : f.tensors()) {
        String was = first.putIfAbsent(t.name(), f.path());
        if (was != null && !was.equals(f.path())) {
          out.add(t.name());
        }
      }
    }
    return out;
  }

  private static Map<String, TensorContent> tensors(Snapshot s, Set<String> shared) {
    Map<String, TensorContent> out = new LinkedHashMap<>();
    for (FileEntry f : s.files()) {
      long[] offsets = f.chunkOffsets();
      for (TensorInfo t : f.tensors()) {
        long from = f.dataStart() + t.begin();
        long to = f.dataStart() + t.end();
        List<ChunkId> ids = new ArrayList<>();
        // an empty tensor has no chunk (it is not the chunk its offset falls in, which is a neighbour's)
        int first = from == to ? f.chunks().size() : FileEntry.chunkAt(offsets, from);
        for (int i = first; i < f.chunks().size() && offsets[i] < to; i++) {
          ids.add(f.chunks().get(i).id());
        }
        long lead = first < f.chunks().size() ? from - offsets[first] : 0;
        boolean whole = lead == 0 && (ids.isEmpty() || offsets[first + ids.size()] == to);
        String strides = from == to ? null : TorchMetadata.strides(f.format(), f.metadata(), t.name());
        out.put(shared.contains(t.name()) ? t.name() + "\0" + f.path() : t.name(), new TensorContent(t, ids,
            f.path(), lead, strides, f.tensorBytes(t), from, whole));
      }
    }
    return out;
  }
}
