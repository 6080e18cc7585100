package io.ferry.chunk;

import io.ferry.codec.ChunkHint;
import io.ferry.codec.Codec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/** Frames in the version 1 layout, built byte by byte as writers before frame version 2 built them. */
public final class V1Frames {
  private V1Frames() {}

  /**
   * The version 1 frame of {@code raw} encoded with {@code codec}, as header and payload: a 32-byte header without
   * the chunk id, its CRC over bytes 0..27. Throws if the codec does not apply to the bytes.
   */
  public static ByteBuffer[] frame(Codec codec, byte[] raw) {
    ByteBuffer payload = codec.encode(ByteBuffer.wrap(raw), new ChunkHint("BF16"));
    if (payload == null) {
      throw new IllegalArgumentException(codec.name() + " does not apply");
    }
    ByteBuffer copy = ByteBuffer.allocate(payload.remaining()).put(payload.duplicate()).flip();
    CRC32C payloadCrc = new CRC32C();
    payloadCrc.update(copy.duplicate());
    ByteBuffer h = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN);
    h.put(new byte[] {'F', 'R', 'Y', 'C', 1, (byte) codec.id(), 0, 0});
    h.putLong(raw.length).putLong(copy.remaining()).putInt((int) payloadCrc.getValue());
    CRC32C headerCrc = new CRC32C();
    headerCrc.update(h.array(), 0, 28);
    h.putInt((int) headerCrc.getValue());
    return new ByteBuffer[] {h.flip(), copy};
  }
}
