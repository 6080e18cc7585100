package io.ferry.format;

import java.util.Map;

/**
 * What a format knows about a file besides its tensors, as a typed value of the format (for example
 * {@link io.ferry.format.safetensors.SafetensorsMetadata} for the safetensors {@code __metadata__} map). Snapshots
 * record it through {@link #asStrings()}. Implementations are immutable.
 */
public interface FormatMetadata {
  /** No metadata. */
  FormatMetadata NONE = Map::of;

  /**
   * The metadata as a snapshot records it: a string map. Part of the snapshot, so of the snapshot id: the same file
   * must give the same map in every Ferry version.
   */
  Map<String, String> asStrings();
}
