package io.ferry.derive;

import io.ferry.chunk.ChunkPlanner;
import io.ferry.format.TensorInfo;
import io.ferry.read.ModelReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Serves byte ranges of one stored tensor (seen as rows of equal bytes), read one stored chunk at a time: a tensor of
 * at most {@link ChunkPlanner#MAX_TENSOR_CHUNK} bytes is one chunk and is read once; a larger one is stored as pieces
 * of at most that size (whole rows where a row fits, else fixed-size pieces: see {@link ChunkPlanner}) and is read
 * piece by piece, so that a compressed chunk is decoded once, straight into the segment, not once per block, and a
 * segment is never larger than a chunk, whatever the size of a row. Holds one segment (off-heap above 1 MiB, from
 * {@link SegmentBuffers}) at a time; close it to give the buffer back. Not thread-safe: one cursor per tensor and
 * thread.
 */
final class RowCursor implements AutoCloseable {
  private final SegmentBuffers buffers;
  private final ModelReader reader;
  private final ModelReader.Located at;
  private final long rowBytes;
  /** Bytes of the tensor's stored pieces: segments start at multiples of it. */
  private final long step;
  private ByteBuffer segment;
  private long segStart = -1;
  private long segEnd = -1;

  /**
   * A cursor over tensor {@code at} seen as {@code rows} rows of equal bytes: its own first dimension, or a view of
   * its bytes as other rows (each element a row for a cast, each group for a quantization), whose row size must
   * divide its bytes.
   */
  RowCursor(ModelReader reader, ModelReader.Located at, long rows, SegmentBuffers buffers) {
    TensorInfo info = at.info();
    if (rows < 1 || info.byteLength() % rows != 0) {
      throw new IllegalArgumentException("tensor '" + info.name() + "' of " + info.byteLength() + " bytes cannot be "
          + "seen as " + rows + " rows");
    }
    this.buffers = buffers;
    this.reader = reader;
    this.at = at;
    this.rowBytes = info.byteLength() / rows;
    this.step = storedStep(info);
  }

  /** The bytes of each piece a tensor is stored in, as {@link ChunkPlanner} cuts it (the last may be shorter). */
  static long storedStep(TensorInfo info) {
    long max = ChunkPlanner.MAX_TENSOR_CHUNK;
    if (info.byteLength() <= max) {
      return Math.max(1, info.byteLength());
    }
    long rb = info.rowBytes();
    return rb > 0 && rb <= max ? max / rb * rb : max;
  }

  /** The tensor. */
  TensorInfo tensor() {
    return at.info();
  }

  /** Bytes of one row. */
  long rowBytes() {
    return rowBytes;
  }

  /**
   * Bytes {@code [from, to)} of the tensor, little-endian; valid until the next call. A range within one stored
   * piece is a slice of the segment; a range across pieces is assembled into a new buffer of its size.
   */
  ByteBuffer bytes(long from, long to) throws IOException {
    if (from >= segStart && to <= segEnd) {
      return slice(from, to);
    }
    long s = from / step * step;
    if (to <= s + step) {
      load(s);
      return slice(from, to);
    }
    ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(to - from)).order(ByteOrder.LITTLE_ENDIAN);
    for (long b = from; b < to; ) {
      if (b < segStart || b >= segEnd) {
        load(b / step * step);
      }
      long e = Math.min(to, segEnd);
      out.put(slice(b, e));
      b = e;
    }
    return out.flip();
  }

  private ByteBuffer slice(long from, long to) {
    int a = Math.toIntExact(from - segStart);
    int b = Math.toIntExact(to - segStart);
    return segment.duplicate().position(a).limit(b).slice().order(ByteOrder.LITTLE_ENDIAN);
  }

  /** Loads the stored piece that starts at byte {@code s} of the tensor. */
  private void load(long s) throws IOException {
    long e = Math.min(at.info().byteLength(), s + step);
    int n = Math.toIntExact(e - s);
    if (segment == null || segment.capacity() < n) {
      // direct above 1 MiB: a compressed chunk then decodes straight from the mapped frame into it, with no heap copy
      buffers.give(segment);
      segment = buffers.take(n);
    }
    segment.clear().limit(n);
    reader.readFile(at.file().path(), at.fileOffset() + s, segment);
    segment.flip();
    segStart = s;
    segEnd = e;
  }

  /** Gives the segment buffer back for the next tensor. */
  @Override
  public void close() {
    buffers.give(segment);
    segment = null;
    segStart = -1;
    segEnd = -1;
  }
}
