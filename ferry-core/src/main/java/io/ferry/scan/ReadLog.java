package io.ferry.scan;

import io.ferry.id.ChunkId;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.NonWritableChannelException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.security.MessageDigest;
import java.util.Arrays;

/**
 * The bytes a format read of a file while the scan read its layout: the ranges, in the order read, the file's size,
 * and the SHA-256 of those bytes in that order. A format reads a file only through the channel it is given
 * ({@link io.ferry.format.FormatInput}), and what it makes of the file depends on nothing else, so the same bytes in
 * those ranges, and the same size, give the same layout: {@link #check} reads them again instead of parsing the file
 * again, which for a checkpoint of 300,000 tensors would build a second tensor table while a push holds the first.
 * Holds 12 bytes a range (a format's reads of consecutive bytes are one range). Immutable once {@link #record}
 * returns it.
 */
public final class ReadLog {
  private final long size;
  private final long[] starts;
  private final int[] lengths;
  private final byte[] sha256;

  private ReadLog(long size, long[] starts, int[] lengths, byte[] sha256) {
    this.size = size;
    this.starts = starts;
    this.lengths = lengths;
    this.sha256 = sha256;
  }

  /** Reads of a file through a {@link Recorder}. */
  @FunctionalInterface
  public interface Reads<T> {
    /** Reads what it needs through {@code channel}, a view of the file that records every read. */
    T read(FileChannel channel) throws IOException;
  }

  /** What {@link #record} read, and the log of the bytes it read. */
  public record Recorded<T>(T value, ReadLog log) {}

  /**
   * Runs {@code reads} over a channel that records every byte read through it, from {@code channel} (which the caller
   * keeps, and closes); the channel given to {@code reads} refuses to be mapped or written.
   */
  public static <T> Recorded<T> record(FileChannel channel, Reads<T> reads) throws IOException {
    Recorder r = new Recorder(channel);
    T value = reads.read(r);
    return new Recorded<>(value, r.finish());
  }

  /**
   * A channel over {@code channel} that records every byte read through it, as {@link #record} does, and owns
   * {@code channel}: closing it closes {@code channel} and hands the log to {@code done}.
   */
  static FileChannel recording(FileChannel channel, java.util.function.Consumer<ReadLog> done) throws IOException {
    Recorder r;
    try {
      r = new Recorder(channel);
    } catch (IOException | RuntimeException e) {
      channel.close();
      throw e;
    }
    r.done = done;
    return r;
  }

  /** The number of ranges read. */
  public int ranges() {
    return starts.length;
  }

  /**
   * Reads the logged ranges of {@code channel} again, in the same order.
   *
   * @return null if the file has the same size and the same bytes in those ranges; else how it differs, for a message
   */
  public String check(FileChannel channel) throws IOException {
    long now = channel.size();
    if (now != size) {
      return "it has " + now + " bytes, it had " + size + " when scanned";
    }
    MessageDigest md = ChunkId.sha256();
    int longest = 1;
    for (int length : lengths) {
      longest = Math.max(longest, length);
    }
    // as big as the longest range, at most 1 MiB: a model of many small files takes no big buffer per file
    ByteBuffer buf = ByteBuffer.allocateDirect(Math.min(1 << 20, longest));
    for (int i = 0; i < starts.length; i++) {
      long pos = starts[i];
      long end = pos + lengths[i];
      while (pos < end) {
        buf.clear().limit((int) Math.min(buf.capacity(), end - pos));
        int n = channel.read(buf, pos);
        if (n < 0) {
          return "it ends at byte " + pos + ", it had " + size + " bytes when scanned";
        }
        buf.flip();
        md.update(buf);
        pos += n;
      }
    }
    return MessageDigest.isEqual(md.digest(), sha256) ? null : "other bytes where its format read it";
  }

  /**
   * A read-only view of a channel that logs and hashes what is read through it. Positional and relative reads are
   * logged; maps and writes are refused (a map would show bytes that were never logged).
   */
  private static final class Recorder extends FileChannel {
    private final FileChannel in;
    private final MessageDigest md = ChunkId.sha256();
    private long[] starts = new long[16];
    private int[] lengths = new int[16];
    private int count;

    private final long size;
    /** Takes the log when the channel closes, which then closes {@link #in}; null when the caller owns it. */
    private java.util.function.Consumer<ReadLog> done;

    Recorder(FileChannel in) throws IOException {
      this.in = in;
      this.size = in.size();
    }

    private synchronized void log(long position, ByteBuffer dst, int from, int n) {
      if (n <= 0) {
        return;
      }
      md.update(dst.duplicate().limit(from + n).position(from));
      if (count > 0 && starts[count - 1] + lengths[count - 1] == position
          && (long) lengths[count - 1] + n <= Integer.MAX_VALUE) {
        lengths[count - 1] += n;
        return;
      }
      if (count == starts.length) {
        starts = Arrays.copyOf(starts, count * 2);
        lengths = Arrays.copyOf(lengths, count * 2);
      }
      starts[count] = position;
      lengths[count] = n;
      count++;
    }

    synchronized ReadLog finish() throws IOException {
      return new ReadLog(size, Arrays.copyOf(starts, count), Arrays.copyOf(lengths, count), md.digest());
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
      int from = dst.position();
      int n = in.read(dst, position);
      log(position, dst, from, n);
      return n;
    }

    @Override
    public synchronized int read(ByteBuffer dst) throws IOException {
      long position = in.position();
      int from = dst.position();
      int n = in.read(dst);
      log(position, dst, from, n);
      return n;
    }

    @Override
    public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
      long total = 0;
      for (int i = offset; i < offset + length; i++) {
        if (!dsts[i].hasRemaining()) {
          continue;
        }
        int n = read(dsts[i]);
        if (n < 0) {
          return total == 0 ? -1 : total;
        }
        total += n;
        if (dsts[i].hasRemaining()) {
          break;
        }
      }
      return total;
    }

    @Override
    public long transferTo(long position, long count, WritableByteChannel target) throws IOException {
      ByteBuffer buf = ByteBuffer.allocate((int) Math.min(64 << 10, Math.max(1, count)));
      long done = 0;
      while (done < count) {
        buf.clear().limit((int) Math.min(buf.capacity(), count - done));
        int n = read(buf, position + done);
        if (n <= 0) {
          break;
        }
        buf.flip();
        while (buf.hasRemaining()) {
          target.write(buf);
        }
        done += n;
      }
      return done;
    }

    @Override
    public MappedByteBuffer map(MapMode mode, long position, long size) {
      throw new UnsupportedOperationException("a format reads its file with reads, never through a map");
    }

    @Override
    public int write(ByteBuffer src) {
      throw new NonWritableChannelException();
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) {
      throw new NonWritableChannelException();
    }

    @Override
    public int write(ByteBuffer src, long position) {
      throw new NonWritableChannelException();
    }

    @Override
    public long transferFrom(ReadableByteChannel src, long position, long count) {
      throw new NonWritableChannelException();
    }

    @Override
    public FileChannel truncate(long size) {
      throw new NonWritableChannelException();
    }

    @Override
    public long position() throws IOException {
      return in.position();
    }

    @Override
    public FileChannel position(long newPosition) throws IOException {
      in.position(newPosition);
      return this;
    }

    @Override
    public long size() throws IOException {
      return in.size();
    }

    @Override
    public void force(boolean metaData) throws IOException {
      in.force(metaData);
    }

    @Override
    public FileLock lock(long position, long size, boolean shared) throws IOException {
      return in.lock(position, size, shared);
    }

    @Override
    public FileLock tryLock(long position, long size, boolean shared) throws IOException {
      return in.tryLock(position, size, shared);
    }

    @Override
    protected void implCloseChannel() throws IOException {
      // the caller owns the channel it handed in, and closes it, unless this channel was opened for it (recording)
      if (done != null) {
        try {
          done.accept(finish());
        } finally {
          in.close();
        }
      }
    }
  }
}
