package io.ferry.format.safetensors;

import io.ferry.format.TensorInfo;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The parsed header of a safetensors file. Immutable.
 *
 * <p>Guarantees: {@link #tensors()} is sorted by {@code begin}, then {@code end} (so empty tensors come before a
 * tensor starting at the same offset), then name; it never contains the {@code __metadata__} entry.
 * {@link #metadata()} is an unmodifiable map in file order, empty when the file has none. A header returned by
 * {@link SafetensorsReader} has also been validated completely: the tensors tile {@code [0, fileSize - dataStart())}.
 *
 * @param fileName the name used in error messages (usually the file's name, or its path within a model)
 * @param headerLength N, the length of the JSON header in bytes (including any padding)
 * @param metadata the {@code __metadata__} string map
 * @param tensors the tensors, offsets relative to {@link #dataStart()}
 * @param fileSize the size of the whole file in bytes
 */
public record SafetensorsHeader(
    String fileName, long headerLength, Map<String, String> metadata, List<TensorInfo> tensors, long fileSize) {

  /** Order of {@link #tensors()}: begin, then end, then name. */
  static final Comparator<TensorInfo> FILE_ORDER = Comparator.comparingLong(TensorInfo::begin)
      .thenComparingLong(TensorInfo::end)
      .thenComparing(TensorInfo::name);

  /**
   * Copies metadata and tensors and sorts the tensors into file order.
   *
   * @throws NullPointerException if any argument, metadata key or value, or tensor is null
   * @throws IllegalArgumentException if headerLength or fileSize is negative
   */
  public SafetensorsHeader {
    Objects.requireNonNull(fileName, "fileName");
    if (headerLength < 0 || fileSize < 0) {
      throw new IllegalArgumentException(
          fileName + ": negative header length " + headerLength + " or file size " + fileSize);
    }
    Map<String, String> meta = new LinkedHashMap<>();
    Objects.requireNonNull(metadata, "metadata").forEach((k, v) ->
        meta.put(Objects.requireNonNull(k, "metadata key"), Objects.requireNonNull(v, "metadata value")));
    metadata = Collections.unmodifiableMap(meta);
    List<TensorInfo> sorted = new ArrayList<>(Objects.requireNonNull(tensors, "tensors"));
    sorted.forEach(t -> Objects.requireNonNull(t, "tensor"));
    sorted.sort(FILE_ORDER);
    tensors = List.copyOf(sorted);
  }

  /** The file offset of the data section: {@code 8 + headerLength}. */
  public long dataStart() {
    return 8 + headerLength;
  }
}
