package io.ferry.chunk;

import io.ferry.codec.ChunkHint;
import io.ferry.format.TensorInfo;
import io.ferry.format.safetensors.SafetensorsHeader;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.List;

/**
 * Where a file is cut into chunks. Tensor files: the header is a chunk; each tensor is a chunk; a tensor bigger than
 * {@link #MAX_TENSOR_CHUNK} is split into row ranges (whole rows of its first dimension, at most that size each;
 * tensors whose rows are not whole bytes or too big are split into fixed-size pieces). Cuts depend only on each tensor's
 * own bytes and shape, never on its offset in the file, so resharding a model keeps its chunks. Other files:
 * content-defined chunking ({@link CdcChunker}).
 */
public final class ChunkPlanner {
  /** Largest chunk cut from a tensor: 64 MiB. */
  public static final long MAX_TENSOR_CHUNK = 64L << 20;

  /** A chunk to cut: bytes [start, end) of the file, with what is known of its layout. */
  public record Range(long start, long end, ChunkHint hint) {
    public long length() {
      return end - start;
    }
  }

  private final CdcChunker cdc;
  private final long maxTensorChunk;

  public ChunkPlanner(CdcChunker cdc, long maxTensorChunk) {
    this.cdc = cdc;
    this.maxTensorChunk = maxTensorChunk;
  }

  public static ChunkPlanner standard() {
    return new ChunkPlanner(new CdcChunker(CdcParams.DEFAULT), MAX_TENSOR_CHUNK);
  }

  /** Chunks of a safetensors file whose header was validated (tensors contiguous from 0 to the end). */
  public List<Range> plan(SafetensorsHeader h) {
    List<Range> out = new ArrayList<>();
    long base = h.dataStart();
    out.add(new Range(0, base, ChunkHint.OPAQUE));
    for (TensorInfo t : h.tensors()) {
      long len = t.byteLength();
      if (len == 0) {
        continue;
      }
      ChunkHint hint = new ChunkHint(t.dtype().name());
      long start = base + t.begin();
      long end = base + t.end();
      if (len <= maxTensorChunk) {
        out.add(new Range(start, end, hint));
        continue;
      }
      long step;
      long row = t.rowBytes();
      if (row > 0 && row <= maxTensorChunk) {
        step = (maxTensorChunk / row) * row;
      } else {
        step = maxTensorChunk;
      }
      for (long s = start; s < end; s += step) {
        out.add(new Range(s, Math.min(end, s + step), hint));
      }
    }
    return out;
  }

  /** Content-defined chunks of an opaque file of {@code size} bytes. */
  public List<Range> plan(FileChannel ch, long size) throws IOException {
    List<Range> out = new ArrayList<>();
    if (size == 0) {
      return out;
    }
    long prev = 0;
    for (long cut : cdc.cuts(ch, 0, size)) {
      out.add(new Range(prev, cut, ChunkHint.OPAQUE));
      prev = cut;
    }
    return out;
  }
}
