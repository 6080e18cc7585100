package io.ferry.codec;

import io.ferry.error.InvalidInputException;
import java.nio.ByteBuffer;
import java.util.Locale;
import java.util.function.IntFunction;

/**
 * How push chooses a codec per chunk: {@code none}, {@code zstd}, {@code float} (the {@linkplain FloatCodec byte-plane
 * codec} for float tensors, else as {@code zstd}), or {@code auto}: for float dtypes try the float codec and zstd on
 * the same samples and keep the float codec where it beats zstd and saves at least {@link #MIN_SAVING}; otherwise try
 * zstd on samples of the chunk and keep it only where it saves at least that much.
 */
public enum CodecPolicy {
  NONE,
  ZSTD,
  FLOAT,
  AUTO;

  /** A codec is kept only if it stores at most this fraction of the raw bytes. */
  public static final double MIN_SAVING = 0.97;
  private static final int SAMPLE = 64 * 1024;
  /** The float codec holds about this many times the chunk on the heap while it encodes (its planes, then payload). */
  private static final int FLOAT_HEAP_FACTOR = 2;

  /** Parses what users type ({@code none|zstd|float|auto}). */
  public static CodecPolicy parse(String s) throws InvalidInputException {
    try {
      return valueOf(s.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException | NullPointerException e) {
      throw new InvalidInputException("--codec " + s + ": unknown codec, expected none, zstd, float or auto");
    }
  }

  /**
   * Encodes one chunk: returns the codec chosen and its payload. For {@code none} the payload is a view of {@code raw}.
   */
  public Encoded encode(ByteBuffer raw, ChunkHint hint, Codecs codecs) {
    return encode(raw, hint, codecs, byte[]::new);
  }

  /**
   * As {@link #encode(ByteBuffer, ChunkHint, Codecs)}, the float codec writing the chunk's payload into an array
   * {@code arrays} gives ({@link FloatCodec#encode(ByteBuffer, ChunkHint, IntFunction)}); its trials on samples and
   * the other codecs make arrays of their own.
   */
  public Encoded encode(ByteBuffer raw, ChunkHint hint, Codecs codecs, IntFunction<byte[]> arrays) {
    switch (this) {
      case NONE:
        return new Encoded(codecs.none(), raw.slice());
      case ZSTD:
        return keepIfSmaller(codecs.zstd(), raw, hint, codecs, 1.0);
      case FLOAT: {
        ByteBuffer enc = codecs.floatCodec().encode(raw, hint, arrays);
        if (enc != null && enc.remaining() < raw.remaining()) {
          return new Encoded(codecs.floatCodec(), enc);
        }
        return keepIfSmaller(codecs.zstd(), raw, hint, codecs, 1.0);
      }
      default:
        if (raw.remaining() < 512) {
          return new Encoded(codecs.none(), raw.slice());
        }
        double zstdRatio = sampleRatio(raw, codecs.zstd(), hint);
        if (FloatCodec.handles(hint) && fitsHeap(FLOAT_HEAP_FACTOR * raw.remaining())) {
          double floatRatio = sampleRatio(raw, codecs.floatCodec(), hint);
          if (floatRatio <= MIN_SAVING && floatRatio < zstdRatio) {
            ByteBuffer enc = codecs.floatCodec().encode(raw, hint, arrays);
            if (enc != null && enc.remaining() <= raw.remaining() * MIN_SAVING) {
              return new Encoded(codecs.floatCodec(), enc);
            }
          }
        }
        // zstd encodes a chunk read into a heap array into an output array of its size beside it
        if (zstdRatio > MIN_SAVING || !fitsHeap(raw.hasArray() ? 2L * raw.remaining() : raw.remaining())) {
          return new Encoded(codecs.none(), raw.slice());
        }
        ByteBuffer enc = codecs.zstd().encode(raw, hint, zstdRatio);
        if (enc.remaining() > raw.remaining() * MIN_SAVING) {
          return new Encoded(codecs.none(), raw.slice());
        }
        return new Encoded(codecs.zstd(), enc);
    }
  }

  /**
   * Whether {@code bytes} of encoder state fit in half the maximum heap. {@code auto} chooses only codecs that fit,
   * so a push with a small heap ({@code -Xmx64m}) stores big chunks with a leaner codec instead of failing; the chunk
   * id is the hash of the raw bytes, so dedup does not depend on the codec chosen.
   */
  private static boolean fitsHeap(long bytes) {
    return bytes <= Runtime.getRuntime().maxMemory() / 2;
  }

  private static Encoded keepIfSmaller(Codec c, ByteBuffer raw, ChunkHint hint, Codecs codecs, double limit) {
    ByteBuffer enc = c.encode(raw, hint);
    if (enc == null || enc.remaining() > raw.remaining() * limit) {
      return new Encoded(codecs.none(), raw.slice());
    }
    return new Encoded(c, enc);
  }

  /**
   * Stored/raw ratio of a codec on the whole chunk if it is small, else on three samples (start, middle, end) whose
   * offsets are multiples of 8 bytes, so that float elements stay aligned. Infinity if the codec does not apply.
   */
  private static double sampleRatio(ByteBuffer raw, Codec c, ChunkHint hint) {
    int n = raw.remaining();
    if (n <= 3 * SAMPLE) {
      ByteBuffer enc = c.encode(raw, hint);
      return enc == null ? Double.POSITIVE_INFINITY : (double) enc.remaining() / n;
    }
    long in = 0;
    long out = 0;
    for (int i = 0; i < 3; i++) {
      int at = raw.position() + (int) ((long) (n - SAMPLE) * i / 2 & ~7L);
      ByteBuffer s = raw.duplicate().position(at).limit(at + SAMPLE);
      ByteBuffer enc = c.encode(s, hint);
      if (enc == null) {
        return Double.POSITIVE_INFINITY;
      }
      in += SAMPLE;
      out += enc.remaining();
    }
    return (double) out / in;
  }

  /** A codec and the bytes it produced. */
  public record Encoded(Codec codec, ByteBuffer payload) {}
}
