package io.ferry.store;

import io.ferry.id.ChunkId;
import java.time.Instant;
import java.util.Objects;

/** One object as listed by a {@link ChunkStore}: its id, stored size and the time it was written. */
public record StoredObject(ChunkId id, long size, Instant modified) {
  public StoredObject {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(modified, "modified");
    if (size < 0) {
      throw new IllegalArgumentException("negative size " + size + " for " + id);
    }
  }
}
