package io.ferry.format.safetensors;

import io.ferry.format.FormatMetadata;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The {@code __metadata__} map of a safetensors file, in file order; empty when the file has none. Immutable.
 *
 * @param entries the string to string map
 */
public record SafetensorsMetadata(Map<String, String> entries) implements FormatMetadata {
  /** Copies the map, keeping its order. @throws NullPointerException if a key or value is null */
  public SafetensorsMetadata {
    Map<String, String> m = new LinkedHashMap<>();
    Objects.requireNonNull(entries, "entries").forEach((k, v) ->
        m.put(Objects.requireNonNull(k, "metadata key"), Objects.requireNonNull(v, "metadata value")));
    entries = Collections.unmodifiableMap(m);
  }

  /** The map itself: snapshots record {@code __metadata__} as it is. */
  @Override
  public Map<String, String> asStrings() {
    return entries;
  }
}
