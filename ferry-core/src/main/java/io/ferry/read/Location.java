package io.ferry.read;

import io.ferry.id.ChunkId;
import java.util.Objects;

/**
 * Where the stored frame of a chunk is: a loose object named by the chunk's id, or the range {@code [offset, offset +
 * length)} of a pack.
 *
 * @param chunk the chunk whose frame this is
 * @param object the stored object holding the frame: the chunk itself (loose) or a pack
 * @param offset where the frame starts in {@code object}; 0 for a loose object
 * @param length the frame's length in the pack; -1 for a loose object (the whole object is the frame)
 */
public record Location(ChunkId chunk, ChunkId object, long offset, int length) {
  public Location {
    Objects.requireNonNull(chunk, "chunk");
    Objects.requireNonNull(object, "object");
    if (chunk.equals(object)) {
      if (offset != 0 || length != -1) {
        throw new IllegalArgumentException("loose object " + chunk + " located at offset " + offset + ", length "
            + length + "; a loose frame is the whole object");
      }
    } else if (offset < 0 || length < 0) {
      throw new IllegalArgumentException("chunk " + chunk + " located in pack " + object + " at offset " + offset
          + " with length " + length);
    }
  }

  /** The chunk stored as an object of its own. */
  public static Location loose(ChunkId chunk) {
    return new Location(chunk, chunk, 0, -1);
  }

  /** The chunk's frame at {@code [offset, offset + length)} of {@code pack}. */
  public static Location inPack(ChunkId chunk, ChunkId pack, long offset, int length) {
    return new Location(chunk, pack, offset, length);
  }

  /** Whether the frame is a range of a pack rather than an object of its own. */
  public boolean packed() {
    return !chunk.equals(object);
  }
}
