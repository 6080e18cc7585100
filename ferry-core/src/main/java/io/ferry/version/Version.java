package io.ferry.version;

import io.ferry.id.ChunkId;
import java.time.Instant;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * An immutable version, like a git commit. Its id is the SHA-256 of its canonical JSON ({@link ObjectJson}).
 *
 * @param snapshot the id of its snapshot
 * @param parents ids of parent versions (empty for the first)
 * @param model the model it was pushed to
 * @param seq 1 for a first version, parent's seq + 1 otherwise (the number of versions in its history)
 * @param logLength how many versions {@code log MODEL@id} lists from this one (itself, then its first parents pushed to
 *     the same model), recorded at push so that {@code ls} counts a model's versions without walking them; 0 where
 *     unknown (versions pushed before Ferry recorded it), and then counted by walking
 * @param packs the packs that hold this version's small chunks (the pack indexes map chunk ids to frames)
 * @param derivation how it was derived, or null
 */
public record Version(ChunkId snapshot, List<ChunkId> parents, String model, String message, String author,
    Instant time, long seq, long logLength, List<ChunkId> packs, VersionStats stats, Map<String, String> metadata,
    Derivation derivation) {
  public Version {
    Objects.requireNonNull(snapshot, "snapshot");
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(message, "message");
    Objects.requireNonNull(author, "author");
    Objects.requireNonNull(time, "time");
    Objects.requireNonNull(stats, "stats");
    if (logLength < 0) {
      throw new IllegalArgumentException("logLength " + logLength);
    }
    parents = List.copyOf(parents);
    packs = packs.stream().distinct().sorted().toList();
    // sorted as stored, so that show and --json list the keys in one order (Map.copyOf's varies from run to run)
    metadata = Collections.unmodifiableSortedMap(new TreeMap<>(Map.copyOf(metadata)));
  }
}
