package io.ferry.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * Writes to files that keep memory bounded. The JDK writes a heap buffer through a temporary direct buffer of the
 * write's whole size (and keeps it per thread when it is small enough), so one write of a 64 MiB heap buffer costs
 * 64 MiB of native memory for the call; heap buffers go in slices of {@value #SLICE} bytes instead, which reuse the
 * JDK's per-thread buffer that the launcher caps at that size ({@code -Djdk.nio.maxCachedBufferSize}).
 */
public final class FileWrites {
  /** The largest piece of a heap buffer written at once. */
  public static final int SLICE = 1 << 20;

  private FileWrites() {}

  /** A positional write of all of {@code src} at {@code at}; returns the position after it. */
  public static long write(ByteBuffer src, FileChannel out, long at) throws IOException {
    long pos = at;
    while (src.hasRemaining()) {
      int n;
      if (src.isDirect() || src.remaining() <= SLICE) {
        n = out.write(src, pos);
      } else {
        ByteBuffer slice = src.duplicate();
        slice.limit(slice.position() + SLICE);
        n = out.write(slice, pos);
        src.position(src.position() + n);
      }
      pos += n;
    }
    return pos;
  }
}
