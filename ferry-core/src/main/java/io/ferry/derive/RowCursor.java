package io.ferry.derive;

import io.ferry.chunk.ChunkPlanner;
import io.ferry.format.TensorInfo;
import io.ferry.read.ModelReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Serves row ranges of one stored tensor, read one stored chunk at a time: a tensor of at most {@link
 * ChunkPlanner#MAX_TENSOR_CHUNK} bytes is one chunk and is read once; a larger one is stored as row ranges of that
 * size (see {@link ChunkPlanner}) and is read range by range, so that a compressed chunk is decoded once, not once
 * per block. Holds one segment (at most 64 MiB, off-heap above 1 MiB, from {@link SegmentBuffers}) at a time; close it
 * to give the buffer back. Not thread-safe: one cursor per tensor and thread.
 */
final class RowCursor implements AutoCloseable {
  private final SegmentBuffers buffers;
  private final ModelReader reader;
  private final TensorInfo info;
  private final long rows;
  private final long rowBytes;
  private final long segmentRows;
  /** Where the tensor is when it is read as a run of elements ({@link #elements}); null when read by rows. */
  private final ModelReader.Located run;
  private ByteBuffer segment;
  private long segStart = -1;
  private long segEnd = -1;

  RowCursor(ModelReader reader, TensorInfo info, SegmentBuffers buffers) {
    this.buffers = buffers;
    this.reader = reader;
    this.info = info;
    long rb = info.shape().isEmpty() ? -1 : info.rowBytes();
    this.rows = rb > 0 ? info.shape().get(0) : 1; // scalars and sub-byte rows: the whole tensor is one row
    this.rowBytes = rb > 0 ? rb : info.byteLength();
    if (rb <= 0 || rb > ChunkPlanner.MAX_TENSOR_CHUNK) {
      this.segmentRows = 1;
    } else if (info.byteLength() <= ChunkPlanner.MAX_TENSOR_CHUNK) {
      this.segmentRows = rows;
    } else {
      this.segmentRows = ChunkPlanner.MAX_TENSOR_CHUNK / rb;
    }
    this.run = null;
  }

  private RowCursor(ModelReader reader, ModelReader.Located run, SegmentBuffers buffers) {
    this.buffers = buffers;
    this.reader = reader;
    this.info = run.info();
    this.run = run;
    this.rowBytes = info.dtype().bits() / 8;
    this.rows = info.byteLength() / rowBytes;
    // segments of MAX_TENSOR_CHUNK bytes: a tensor whose rows are larger is stored in pieces of that size, so each
    // segment reads one stored chunk; one whose rows are smaller is stored in pieces of whole rows, whose ends a
    // segment may cross, reading (and decoding) parts of two chunks
    this.segmentRows = info.byteLength() <= ChunkPlanner.MAX_TENSOR_CHUNK ? rows
        : ChunkPlanner.MAX_TENSOR_CHUNK / rowBytes;
  }

  /**
   * A cursor that serves the elements of tensor {@code info} (of a type of whole bytes) as if it were 1-D, each
   * element a row: for transforms that treat each element on its own, so that a tensor with huge rows (shape
   * {@code [1, n]}) is read and processed a block of elements at a time rather than a whole row at once.
   */
  static RowCursor elements(ModelReader reader, TensorInfo info, SegmentBuffers buffers) throws IOException {
    if (info.dtype().bits() % 8 != 0) {
      throw new IllegalArgumentException("tensor '" + info.name() + "': " + info.dtype() + " elements are not whole "
          + "bytes");
    }
    return new RowCursor(reader, reader.tensor(info.name()), buffers);
  }

  long rows() {
    return rows;
  }

  /** Rows per stored segment: reading in steps of this many rows reads each chunk once. */
  long segmentRows() {
    return segmentRows;
  }

  /** Bytes of rows {@code [r0, r1)}, little-endian; valid until the next call. */
  ByteBuffer rows(long r0, long r1) throws IOException {
    if (r0 >= segStart && r1 <= segEnd) {
      return slice(r0, r1);
    }
    if (r1 - r0 <= segmentRows && r0 / segmentRows == (r1 - 1) / segmentRows) {
      load(r0);
      return slice(r0, r1);
    }
    ByteBuffer out = ByteBuffer.allocate(Math.toIntExact((r1 - r0) * rowBytes)).order(ByteOrder.LITTLE_ENDIAN);
    for (long r = r0; r < r1; ) {
      if (r < segStart || r >= segEnd) {
        load(r);
      }
      long e = Math.min(r1, segEnd);
      out.put(slice(r, e));
      r = e;
    }
    return out.flip();
  }

  private ByteBuffer slice(long r0, long r1) {
    int from = Math.toIntExact((r0 - segStart) * rowBytes);
    int to = Math.toIntExact((r1 - segStart) * rowBytes);
    return segment.duplicate().position(from).limit(to).slice().order(ByteOrder.LITTLE_ENDIAN);
  }

  private void load(long row) throws IOException {
    long s = row / segmentRows * segmentRows;
    long e = Math.min(rows, s + segmentRows);
    int n = Math.toIntExact((e - s) * rowBytes);
    if (segment == null || segment.capacity() < n) {
      // direct above 1 MiB: a compressed chunk then decodes straight from the mapped frame into it, with no heap copy
      buffers.give(segment);
      segment = buffers.take(n);
    }
    segment.clear().limit(n);
    if (run != null) {
      reader.readFile(run.file().path(), run.fileOffset() + s * rowBytes, segment);
    } else if (rows == 1 && segmentRows == 1 && (info.shape().isEmpty() || info.rowBytes() <= 0)) {
      reader.read(info.name(), segment);
    } else {
      reader.readRows(info.name(), s, e, segment);
    }
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
