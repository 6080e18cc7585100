package io.ferry.codec;

import io.ferry.error.InvalidInputException;
import java.nio.ByteBuffer;
import java.util.Locale;

/**
 * How push chooses a codec per chunk: {@code none}, {@code zstd}, or {@code auto} (try zstd on samples of the chunk
 * and keep it only where it saves at least {@link #MIN_SAVING}).
 */
public enum CodecPolicy {
  NONE,
  ZSTD,
  AUTO;

  /** A codec is kept only if it stores at most this fraction of the raw bytes. */
  public static final double MIN_SAVING = 0.97;
  private static final int SAMPLE = 64 * 1024;

  /** Parses what users type ({@code none|zstd|auto}). */
  public static CodecPolicy parse(String s) throws InvalidInputException {
    try {
      return valueOf(s.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException | NullPointerException e) {
      throw new InvalidInputException("unknown codec '" + s + "': expected none, zstd or auto");
    }
  }

  /**
   * Encodes one chunk: returns the codec chosen and its payload. For {@code none} the payload is a view of {@code raw}.
   */
  public Encoded encode(ByteBuffer raw, ChunkHint hint, Codecs codecs) {
    switch (this) {
      case NONE:
        return new Encoded(codecs.none(), raw.slice());
      case ZSTD:
        return keepIfSmaller(codecs.zstd(), raw, hint, codecs, 1.0);
      default:
        if (raw.remaining() < 512 || !sampleCompresses(raw, codecs.zstd(), hint)) {
          return new Encoded(codecs.none(), raw.slice());
        }
        return keepIfSmaller(codecs.zstd(), raw, hint, codecs, MIN_SAVING);
    }
  }

  private static Encoded keepIfSmaller(Codec c, ByteBuffer raw, ChunkHint hint, Codecs codecs, double limit) {
    ByteBuffer enc = c.encode(raw, hint);
    if (enc == null || enc.remaining() > raw.remaining() * limit) {
      return new Encoded(codecs.none(), raw.slice());
    }
    return new Encoded(c, enc);
  }

  private static boolean sampleCompresses(ByteBuffer raw, Codec c, ChunkHint hint) {
    int n = raw.remaining();
    if (n <= 3 * SAMPLE) {
      ByteBuffer enc = c.encode(raw, hint);
      return enc != null && enc.remaining() <= n * MIN_SAVING;
    }
    long in = 0;
    long out = 0;
    for (int i = 0; i < 3; i++) {
      int at = raw.position() + (int) ((long) (n - SAMPLE) * i / 2);
      ByteBuffer s = raw.duplicate().position(at).limit(at + SAMPLE);
      ByteBuffer enc = c.encode(s, hint);
      if (enc == null) {
        return false;
      }
      in += SAMPLE;
      out += enc.remaining();
    }
    return out <= in * MIN_SAVING;
  }

  /** A codec and the bytes it produced. */
  public record Encoded(Codec codec, ByteBuffer payload) {}
}
