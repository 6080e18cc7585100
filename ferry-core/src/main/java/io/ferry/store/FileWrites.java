package io.ferry.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;

/**
 * Writes to files that keep memory bounded. The JDK writes a heap buffer through a temporary direct buffer of the
 * write's whole size (and keeps it per thread when it is small enough), so one write of a 64 MiB heap buffer costs
 * 64 MiB of native memory for the call; heap buffers go in slices of {@value #SLICE} bytes instead, which reuse the
 * JDK's per-thread buffer that the launcher caps at that size ({@code -Djdk.nio.maxCachedBufferSize}).
 *
 * <p>Direct buffers go in slices of {@value #DIRECT_SLICE} bytes. A pull's workers write the decoded chunks of one
 * file at once, and one write of a whole 64 MiB chunk holds the file's lock while the kernel copies it (the other
 * worker spins on it). Measured on fresh {@code ferry pull}s of a 1.94 GiB model stored with the default codec, 2
 * cores, interleaved: with 64 MiB (and 16 MiB) writes 2.4 to 5.6 s, 1.8 to 5.6 CPU-seconds in the kernel; with writes
 * of 1, 2, 4 or 8 MiB 1.7 to 1.9 s, 1.0 to 1.2 CPU-seconds in the kernel (BENCHMARKS.md).
 */
public final class FileWrites {
  /** The largest piece of a heap buffer written at once. */
  public static final int SLICE = 1 << 20;
  /** The largest piece of a direct buffer written at once. */
  public static final int DIRECT_SLICE = 4 << 20;

  private FileWrites() {}

  /** A positional write of all of {@code src} at {@code at}; returns the position after it. */
  public static long write(ByteBuffer src, FileChannel out, long at) throws IOException {
    long pos = at;
    while (src.hasRemaining()) {
      int n;
      int most = most(src);
      if (src.remaining() <= most) {
        n = out.write(src, pos);
      } else {
        ByteBuffer slice = src.duplicate();
        slice.limit(slice.position() + most);
        n = out.write(slice, pos);
        src.position(src.position() + n);
      }
      pos += n;
    }
    return pos;
  }

  /** Writes all of {@code src} to a channel (stdout, say, which may be a file), in the same slices. */
  public static void write(ByteBuffer src, WritableByteChannel out) throws IOException {
    int end = src.limit();
    try {
      while (src.position() < end) {
        src.limit(Math.min(end, src.position() + most(src)));
        while (src.hasRemaining()) {
          out.write(src);
        }
      }
    } finally {
      src.limit(end);
    }
  }

  private static int most(ByteBuffer src) {
    return src.isDirect() ? DIRECT_SLICE : SLICE;
  }
}
