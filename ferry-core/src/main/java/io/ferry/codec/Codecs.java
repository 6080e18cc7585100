package io.ferry.codec;

import java.io.IOException;

/** The codecs a repository knows, by frame id. Immutable and thread-safe. */
public final class Codecs {
  private final Codec none = new NoneCodec();
  private final ZstdCodec zstd;
  private final FloatCodec floatCodec = new FloatCodec();

  public Codecs(int zstdLevel) {
    this.zstd = new ZstdCodec(zstdLevel);
  }

  /** Default codecs: zstd level 3. */
  public static Codecs standard() {
    return new Codecs(3);
  }

  public Codec none() {
    return none;
  }

  public ZstdCodec zstd() {
    return zstd;
  }

  /** The byte-plane codec for float tensors ({@link FloatCodec}); its encode returns null for other chunks. */
  public FloatCodec floatCodec() {
    return floatCodec;
  }

  /** The codec of a frame id. */
  public Codec byId(int id) throws IOException {
    switch (id) {
      case NoneCodec.ID:
        return none;
      case ZstdCodec.ID:
        return zstd;
      case FloatCodec.ID:
        return floatCodec;
      default:
        throw new IOException("unknown codec id " + id + " (written by a newer Ferry?)");
    }
  }
}
