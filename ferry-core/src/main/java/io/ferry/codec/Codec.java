package io.ferry.codec;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A lossless transform of a chunk's bytes, recorded in the chunk's frame by its {@link #id()}. Implementations are
 * stateless and thread-safe.
 */
public interface Codec {
  /** The byte stored in frames; never reused for another codec. */
  int id();

  /** The name users type, e.g. {@code zstd}. */
  String name();

  /**
   * Encodes the remaining bytes of {@code raw} (its position is not moved). Returns {@code null} when this codec
   * does not apply to the chunk (for example a float codec on opaque bytes); the caller then stores it otherwise.
   * The result may live in a buffer the codec reuses: it is valid until the calling thread's next {@code encode}, so
   * callers write or copy it before encoding again.
   */
  ByteBuffer encode(ByteBuffer raw, ChunkHint hint);

  /**
   * Decodes {@code payload} into exactly {@code out.remaining()} bytes of {@code out}, advancing its position.
   *
   * @throws IOException if the payload does not decode to exactly that many bytes
   */
  void decode(ByteBuffer payload, ByteBuffer out) throws IOException;
}
