package io.ferry.version;

import io.ferry.id.ChunkId;
import java.util.Objects;

/** One chunk of a file, in file order: its id and raw length. Offsets follow from the lengths before it. */
public record ChunkRef(ChunkId id, long length) {
  public ChunkRef {
    Objects.requireNonNull(id, "id");
    if (length < 0) {
      throw new IllegalArgumentException("negative chunk length " + length);
    }
  }
}
