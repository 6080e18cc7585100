package io.ferry.codec;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdBufferDecompressingStreamNoFinalizer;
import com.github.luben.zstd.ZstdException;
import com.github.luben.zstd.ZstdIOException;
import java.io.IOException;
import java.nio.ByteBuffer;

/** Zstandard at a configurable level (default 3). */
public final class ZstdCodec implements Codec {
  public static final int ID = 1;
  private final int level;
  /**
   * One output buffer per thread for chunks given in direct buffers, grown to the largest chunk seen: allocating a
   * direct buffer per chunk leaves gigabytes of them waiting for a GC to free them. Hence encode's result is valid
   * until the thread's next encode. Chunks given in heap buffers get an output array per call instead (the garbage
   * collector frees heap arrays as it needs room).
   */
  private final ThreadLocal<ByteBuffer> output = new ThreadLocal<>();

  public ZstdCodec(int level) {
    if (level < 1 || level > 19) {
      throw new IllegalArgumentException("zstd level must be in 1..19, got " + level);
    }
    this.level = level;
  }

  @Override
  public int id() {
    return ID;
  }

  @Override
  public String name() {
    return "zstd";
  }

  @Override
  public ByteBuffer encode(ByteBuffer raw, ChunkHint hint) {
    return encode(raw, hint, 1.0);
  }

  /**
   * Room a first, smaller output array must have left over for its result to be the one an array of zstd's bound
   * gives: zstd stores a block as it is when its encoding does not fit the room left but the block itself does, so
   * a result is the usual one only if a whole block (128 KiB) and its header would still have fitted.
   */
  static final int HEADROOM = (128 << 10) + 1024;

  /**
   * As {@link #encode(ByteBuffer, ChunkHint)}, a chunk in a heap array encoded first into an output array of about
   * {@code expectedRatio} of its size (the ratio {@link CodecPolicy#AUTO} measured on samples of it, plus a margin)
   * rather than of zstd's bound, which is a little more than the chunk. The payload is the same either way; an
   * encode that does not fit the smaller array with {@link #HEADROOM} to spare runs again into one of the bound.
   * The 55 MB snapshot JSON of a checkpoint of 300,000 scalars compresses to about a quarter of its size: an output
   * array of its whole size beside it was a second 55 MB array on the heap at the end of that push.
   */
  public ByteBuffer encode(ByteBuffer raw, ChunkHint hint, double expectedRatio) {
    ByteBuffer src = raw.duplicate();
    if (src.isDirect()) {
      int bound = (int) Zstd.compressBound(src.remaining());
      ByteBuffer dst = output.get();
      if (dst == null || dst.capacity() < bound) {
        dst = ByteBuffer.allocateDirect(bound);
        output.set(dst);
      }
      int n = (int) Zstd.compressDirectByteBuffer(dst, 0, bound, src, src.position(), src.remaining(), level);
      return dst.duplicate().position(0).limit(n).slice();
    }
    if (src.hasArray()) {
      // Straight from the caller's array, no copy of the input, into an array of this call's own: the caller holds
      // it while it writes the payload (a push counts it in its encode budget), then it is garbage. An array kept per
      // thread would stay behind after the call: one 64 MiB chunk's worth in every worker that ever encoded one,
      // outside any budget, which is what ran a -Xmx256m derive out of heap (DeriveMemoryTest).
      int bound = (int) Zstd.compressBound(src.remaining());
      long guess = (long) (src.remaining() * Math.min(1.0, expectedRatio + 0.1)) + HEADROOM;
      if (guess < bound) {
        byte[] dst = new byte[(int) guess];
        long n;
        try {
          n = Zstd.compressByteArray(dst, 0, dst.length, src.array(), src.arrayOffset() + src.position(),
              src.remaining(), level);
        } catch (ZstdException e) {
          n = -1; // the array was too small: encoded again below
        }
        if (n >= 0 && !Zstd.isError(n) && n <= dst.length - HEADROOM) {
          return ByteBuffer.wrap(dst, 0, (int) n).slice();
        }
      }
      byte[] dst = new byte[bound];
      long n = Zstd.compressByteArray(dst, 0, bound, src.array(), src.arrayOffset() + src.position(), src.remaining(),
          level);
      if (Zstd.isError(n)) {
        throw new IllegalStateException("zstd failed to compress " + src.remaining() + " bytes: "
            + Zstd.getErrorName(n));
      }
      return ByteBuffer.wrap(dst, 0, (int) n).slice();
    }
    byte[] in = new byte[src.remaining()];
    src.get(in);
    return ByteBuffer.wrap(Zstd.compress(in, level));
  }

  @Override
  public void decode(ByteBuffer payload, ByteBuffer out) throws IOException {
    int want = out.remaining();
    long n;
    if (payload.isDirect() && out.isDirect()) {
      n = Zstd.decompressDirectByteBuffer(out, out.position(), want, payload, payload.position(), payload.remaining());
    } else if (payload.hasArray() && out.hasArray()) {
      n = Zstd.decompressByteArray(out.array(), out.arrayOffset() + out.position(), want, payload.array(),
          payload.arrayOffset() + payload.position(), payload.remaining());
    } else if (payload.hasArray()) {
      n = streamInto(payload, out, want);
    } else {
      byte[] src = new byte[payload.remaining()];
      payload.duplicate().get(src);
      byte[] dst = new byte[want];
      n = Zstd.decompressByteArray(dst, 0, want, src, 0, src.length);
      if (!Zstd.isError(n)) {
        out.duplicate().put(dst);
      }
    }
    if (Zstd.isError(n)) {
      throw new IOException("zstd payload does not decode: " + Zstd.getErrorName(n));
    }
    if (n != want) {
      throw new IOException("zstd payload decodes to " + n + " bytes, the frame says " + want);
    }
    out.position(out.position() + want);
  }

  /** Bytes a heap payload decodes through on its way into a direct buffer ({@link #streamInto}). */
  private static final int SLICE = 256 << 10;

  private static final ThreadLocal<byte[]> SLICES = ThreadLocal.withInitial(() -> new byte[SLICE]);

  /**
   * Decodes a heap payload into a direct buffer (a pull's or a verify's frame and output buffers are of those kinds)
   * through a small array per thread: zstd-jni decodes straight only array to array or direct to direct, and copying
   * both sides into new arrays of their own allocated the frame and the chunk again on the heap for every chunk (85
   * MiB for a 48 MiB chunk, which ran {@code ferry warm} of zstd chunks out of a 192 MiB heap). Returns the bytes
   * decoded, at most {@code want}, or a zstd error code.
   */
  private static long streamInto(ByteBuffer payload, ByteBuffer out, int want) throws IOException {
    byte[] slice = SLICES.get();
    ByteBuffer target = ByteBuffer.wrap(slice);
    ByteBuffer dst = out.duplicate();
    long total = 0;
    try (ZstdBufferDecompressingStreamNoFinalizer in = new ZstdBufferDecompressingStreamNoFinalizer(
        payload.duplicate())) {
      while (in.hasRemaining()) {
        target.clear();
        int r = in.read(target);
        if (r == 0) {
          throw new IOException("zstd payload ends inside a frame after decoding to " + total + " bytes");
        }
        if (total + r > want) {
          throw new IOException("zstd payload decodes to more than the " + want + " bytes the frame says");
        }
        dst.put(slice, 0, r);
        total += r;
      }
    } catch (ZstdIOException e) {
      throw new IOException("zstd payload does not decode: " + e.getMessage(), e);
    }
    return total;
  }
}
