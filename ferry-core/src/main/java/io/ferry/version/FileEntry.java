package io.ferry.version;

import io.ferry.format.FileLayout;
import io.ferry.format.TensorInfo;
import io.ferry.format.torch.TorchMetadata;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * One file of a snapshot.
 *
 * @param path relative, normalized, '/'-separated (see {@link SafePaths})
 * @param size bytes
 * @param sha256 hex SHA-256 of the whole file (what Hugging Face shows as the LFS oid)
 * @param format {@code safetensors} or {@code opaque}
 * @param dataStart for safetensors, where the data section starts (8 + header length); tensor offsets are relative to
 *     it. 0 for opaque files.
 * @param metadata the safetensors {@code __metadata__}, empty otherwise
 * @param tensors the tensor table in file order, empty for opaque files
 * @param chunks the chunks that make up the file, in order; their lengths add up to {@code size}
 */
public record FileEntry(String path, long size, String sha256, String format, long dataStart,
    Map<String, String> metadata, List<TensorInfo> tensors, List<ChunkRef> chunks) {
  /** The format of safetensors files (see {@link io.ferry.format.safetensors.SafetensorsFormat#NAME}). */
  public static final String SAFETENSORS = "safetensors";
  /** The format of files no format claimed. */
  public static final String OPAQUE = "opaque";

  public FileEntry {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(sha256, "sha256");
    Objects.requireNonNull(format, "format");
    // sorted as stored, so that show and --json list the keys in one order (Map.copyOf's varies from run to run)
    metadata = Collections.unmodifiableSortedMap(new TreeMap<>(Map.copyOf(metadata)));
    tensors = List.copyOf(tensors);
    chunks = List.copyOf(chunks);
    long sum = 0;
    for (ChunkRef c : chunks) {
      sum += c.length();
    }
    if (sum != size) {
      throw new IllegalArgumentException(path + ": chunks add up to " + sum + " bytes, the file has " + size);
    }
  }

  /**
   * The entry of a file a format read: its format's name, data start, metadata (as strings) and tensors (relative to
   * the data start, in file order) come from the layout, its size too.
   */
  public static FileEntry of(String path, String sha256, FileLayout layout, List<ChunkRef> chunks) {
    return new FileEntry(path, layout.size(), sha256, layout.format(), layout.dataStart(),
        layout.metadata().asStrings(), layout.tensors(), chunks);
  }

  /** The entry of an opaque file: no data start, metadata or tensors. */
  public static FileEntry opaque(String path, long size, String sha256, List<ChunkRef> chunks) {
    return new FileEntry(path, size, sha256, OPAQUE, 0, Map.of(), List.of(), chunks);
  }

  /**
   * The bytes of a tensor of this file's elements, as {@code show} and {@code diff} give them: its byte range, but
   * for a view of a PyTorch storage that is not a row-major run of it (whose range is the span it touches: an
   * expanded {@code [3, 4]} F32 view of 4 floats spans 16 bytes, a column of a {@code [6, 8]} matrix 164), its element
   * count times its element size, as torch's {@code nbytes}.
   */
  public long tensorBytes(TensorInfo t) {
    if (TorchMetadata.strides(format, metadata, t.name()) == null) {
      return t.byteLength();
    }
    return t.dtype().byteLength(t.elements());
  }

  /** Offsets of each chunk in the file: {@code offsets()[i]} is where chunk i starts; one extra entry = size. */
  public long[] chunkOffsets() {
    long[] off = new long[chunks.size() + 1];
    for (int i = 0; i < chunks.size(); i++) {
      off[i + 1] = off[i] + chunks.get(i).length();
    }
    return off;
  }

  /**
   * Index of the chunk that holds byte {@code pos} of the file, given {@link #chunkOffsets()}; a position past the
   * end gives the last chunk, and an empty file gives 0.
   */
  public static int chunkAt(long[] offsets, long pos) {
    int lo = 0;
    int hi = offsets.length - 2;
    while (lo < hi) {
      int mid = (lo + hi + 1) >>> 1;
      if (offsets[mid] <= pos) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return Math.max(lo, 0);
  }
}
