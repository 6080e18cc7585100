package io.ferry.codec;

import java.io.IOException;
import java.nio.ByteBuffer;

/** Stores bytes as they are. Its encode returns a view of the input: no copy. */
public final class NoneCodec implements Codec {
  public static final int ID = 0;

  @Override
  public int id() {
    return ID;
  }

  @Override
  public String name() {
    return "none";
  }

  @Override
  public ByteBuffer encode(ByteBuffer raw, ChunkHint hint) {
    return raw.slice();
  }

  @Override
  public void decode(ByteBuffer payload, ByteBuffer out) throws IOException {
    if (payload.remaining() != out.remaining()) {
      throw new IOException("stored length " + payload.remaining() + " != raw length " + out.remaining());
    }
    out.put(payload.duplicate());
  }
}
