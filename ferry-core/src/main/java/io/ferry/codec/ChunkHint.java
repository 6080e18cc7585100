package io.ferry.codec;

/**
 * What the chunker knows about a chunk's bytes, for codecs that use layout (a float codec splits values into byte
 * planes).
 *
 * @param dtype the safetensors dtype name of the tensor the chunk holds (e.g. {@code BF16}), or null for opaque
 *     bytes, headers and chunks that mix tensors
 */
public record ChunkHint(String dtype) {
  /** Bytes with no known layout. */
  public static final ChunkHint OPAQUE = new ChunkHint(null);
}
