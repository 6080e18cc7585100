package io.ferry.format;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Objects;

/**
 * A file handed to a {@link TensorFormat}: an open channel, its size, and the name that errors give (the file's path
 * inside the model). The caller owns and closes the channel; a format reads with positional reads only and leaves the
 * channel's position alone. What a format makes of a file depends only on the bytes it reads through the channel,
 * the size and the name: a push checks that a file still gives its layout by reading those bytes again, not by
 * parsing it again, so a format must not map the channel (the channel a push gives refuses to be mapped).
 *
 * @param name the file's name in messages, usually its relative path in the model
 * @param channel the open file
 * @param size the file's size in bytes
 */
public record FormatInput(String name, FileChannel channel, long size) {
  /**
   * Checks the arguments.
   *
   * @throws NullPointerException if name or channel is null
   * @throws IllegalArgumentException if size is negative
   */
  public FormatInput {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(channel, "channel");
    if (size < 0) {
      throw new IllegalArgumentException(name + ": negative size " + size);
    }
  }

  /** A read into a heap buffer takes at most this many bytes at a time ({@link #readFully}). */
  private static final int HEAP_READ = 1 << 20;

  /**
   * Fills {@code dst} from {@code position} on. A heap buffer is filled at most {@value #HEAP_READ} bytes at a time:
   * the JDK reads into a heap buffer through a temporary direct buffer as big as the read, and the central directory
   * of a PyTorch checkpoint of 300,000 tensors, 46 MB read at once, cost as much native memory beside the heap.
   *
   * @throws EOFException naming the file and the offset if the file ends first
   */
  public void readFully(ByteBuffer dst, long position) throws IOException {
    long pos = position;
    int end = dst.limit();
    while (dst.hasRemaining()) {
      if (!dst.isDirect()) {
        dst.limit(Math.min(end, dst.position() + HEAP_READ));
      }
      int n;
      try {
        n = channel.read(dst, pos);
      } finally {
        dst.limit(end);
      }
      if (n < 0) {
        throw new EOFException(name + ": file ended at byte " + pos + " (it was " + size + " bytes when opened)");
      }
      pos += n;
    }
  }
}
