package io.ferry.store;

import io.ferry.id.ChunkId;
import java.time.Instant;
import java.util.Objects;

/**
 * One move of a ref: from {@code oldId} to {@code newId} (either may be null: created, deleted), by whom, when and
 * why.
 */
public record RefLogEntry(ChunkId oldId, ChunkId newId, String who, Instant when, String why) {
  public RefLogEntry {
    Objects.requireNonNull(who, "who");
    Objects.requireNonNull(when, "when");
    Objects.requireNonNull(why, "why");
  }
}
