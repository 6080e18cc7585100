package io.ferry.chunk;

import io.ferry.codec.ChunkHint;
import io.ferry.format.FileLayout;
import io.ferry.format.Region;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.List;

/**
 * Where a file is cut into chunks. A file some format read is cut from its {@link FileLayout}, whatever the format:
 * each run of header and padding regions between two tensors is one chunk (never split: the safetensors header is a
 * chunk of its own), unless it is longer than {@link #MAX_CHUNK}, when it is cut every {@link #MAX_TENSOR_CHUNK}
 * bytes from its start (such a run could never be stored whole, so no stored file was cut otherwise); each tensor is
 * a chunk; a tensor bigger than {@link #MAX_TENSOR_CHUNK} is split into row ranges
 * (whole rows of its first dimension, at most that size each; tensors whose rows are not whole bytes or too big are
 * split into fixed-size pieces); empty regions make no chunk. Cuts inside a tensor depend only on its own bytes and
 * shape, never on its offset in the file, so resharding a model keeps its chunks. Other files: content-defined
 * chunking ({@link CdcChunker}).
 *
 * <p>Part of the storage format: the same layout must give the same cuts in every Ferry version. Immutable and
 * thread-safe.
 */
public final class ChunkPlanner {
  /** Largest chunk cut from a tensor: 64 MiB. */
  public static final long MAX_TENSOR_CHUNK = 64L << 20;
  /** Largest chunk a push reads into one buffer: a header run above it is cut into pieces. */
  public static final long MAX_CHUNK = Integer.MAX_VALUE - 64;

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

  /** Chunks of a file a format read; they cover the file exactly, in order. */
  public List<Range> plan(FileLayout layout) {
    List<Range> out = new ArrayList<>();
    long runStart = -1;
    long runEnd = -1;
    for (Region r : layout.regions()) {
      if (r.length() == 0) {
        continue;
      }
      if (!(r instanceof Region.Tensor t)) {
        if (runStart < 0) {
          runStart = r.start();
        }
        runEnd = r.end();
        continue;
      }
      if (runStart >= 0) {
        addRun(out, runStart, runEnd);
        runStart = -1;
      }
      ChunkHint hint = new ChunkHint(t.dtype().name());
      long start = t.start();
      long end = t.end();
      if (t.length() <= maxTensorChunk) {
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
    if (runStart >= 0) {
      addRun(out, runStart, runEnd);
    }
    return out;
  }

  /**
   * A run of header and padding bytes: one chunk, or pieces of {@link #MAX_TENSOR_CHUNK} when it is over
   * {@link #MAX_CHUNK} (bytes an ONNX data file's initializers leave between them can be gigabytes).
   */
  private static void addRun(List<Range> out, long start, long end) {
    if (end - start <= MAX_CHUNK) {
      out.add(new Range(start, end, ChunkHint.OPAQUE));
      return;
    }
    for (long s = start; s < end; s += MAX_TENSOR_CHUNK) {
      out.add(new Range(s, Math.min(end, s + MAX_TENSOR_CHUNK), ChunkHint.OPAQUE));
    }
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
