package io.ferry.spark.source;

import io.ferry.format.TensorInfo;
import io.ferry.format.torch.TorchMetadata;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The part of one tensor that one stored chunk holds: a row of the {@code ferry} table. Small and serializable: it is
 * what a read plan sends to executors, which read {@code [fileOffset, fileOffset + length)} of {@code file} through
 * core's verified read path.
 *
 * @param file path of the file in the version
 * @param tensor tensor name
 * @param dtype the tensor's dtype name ({@code F32}, {@code BF16}, ...)
 * @param shape the tensor's shape
 * @param chunk hex id of the chunk that holds these bytes
 * @param fileOffset where the bytes start in the file
 * @param tensorOffset where they start in the tensor
 * @param length how many bytes
 * @param rowStart first row (first dimension) held, or -1 when a part of a tensor does not start and end on rows, and
 *     for a non-contiguous PyTorch view
 * @param rowEnd end of the rows held (exclusive), or -1
 */
public record ChunkSlice(String file, String tensor, String dtype, long[] shape, String chunk, long fileOffset,
    long tensorOffset, long length, long rowStart, long rowEnd) implements Serializable {
  private static final long serialVersionUID = 1L;

  public ChunkSlice {
    Objects.requireNonNull(file, "file");
    Objects.requireNonNull(tensor, "tensor");
    Objects.requireNonNull(dtype, "dtype");
    Objects.requireNonNull(shape, "shape");
    Objects.requireNonNull(chunk, "chunk");
    if (fileOffset < 0 || tensorOffset < 0 || length < 0) {
      throw new IllegalArgumentException("slice of tensor '" + tensor + "' in " + file + ": negative offset or length"
          + " (file offset " + fileOffset + ", tensor offset " + tensorOffset + ", length " + length + ")");
    }
  }

  /**
   * Every slice of every tensor of a snapshot, in file order: for each tensor, one slice per chunk its bytes overlap.
   * Tensors are chunked on tensor boundaries, so a small tensor is one slice and a big one one slice per row range.
   * Empty tensors give one empty slice on no chunk (an empty chunk id), so that every tensor has a row. A PyTorch view
   * that is not a row-major run of its storage (or may not be: its strides are not recorded) has no rows: the bytes it
   * spans in the file are not its rows in order.
   */
  public static List<ChunkSlice> of(Snapshot snapshot) {
    List<ChunkSlice> out = new ArrayList<>();
    for (FileEntry f : snapshot.files()) {
      if (f.tensors().isEmpty()) {
        continue;
      }
      long[] offsets = f.chunkOffsets();
      for (TensorInfo t : f.tensors()) {
        long from = f.dataStart() + t.begin();
        long to = from + t.byteLength();
        long[] shape = t.shape().stream().mapToLong(Long::longValue).toArray();
        boolean strided = TorchMetadata.strides(f.format(), f.metadata(), t.name()) != null;
        long rowBytes = strided ? -1 : t.rowBytes();
        if (t.byteLength() == 0) {
          // no bytes, so no chunk: the chunk at its offset is a neighbour's, whose damage is not this tensor's
          out.add(new ChunkSlice(f.path(), t.name(), t.dtype().name(), shape, "", from, 0, 0, 0, t.rows()));
          continue;
        }
        int i = FileEntry.chunkAt(offsets, from);
        do {
          ChunkRef c = f.chunks().isEmpty() ? null : f.chunks().get(i);
          long lo = Math.max(from, offsets[i]);
          long hi = c == null ? lo : Math.min(to, offsets[i] + c.length());
          long rs = -1;
          long re = -1;
          if (rowBytes > 0 && (lo - from) % rowBytes == 0 && (hi - from) % rowBytes == 0) {
            rs = (lo - from) / rowBytes;
            re = (hi - from) / rowBytes;
          } else if (lo == from && hi == to && !strided) {
            rs = 0;
            re = t.rows();
          }
          out.add(new ChunkSlice(f.path(), t.name(), t.dtype().name(), shape,
              c == null ? "" : c.id().hex(), lo, lo - from, Math.max(0, hi - lo), rs, re));
          i++;
        } while (i < f.chunks().size() && offsets[i] < to);
      }
    }
    return out;
  }
}
