package io.ferry.format;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * What a {@link TensorFormat} found in one file: the byte ranges of its header, padding and tensors, and its metadata.
 * This is all that chunking and snapshots need to know of a format. Immutable.
 *
 * <p>Guaranteed by the constructor, so a buggy format cannot make a bad plan: the regions are in file order and cover
 * {@code [0, size)} exactly, each beginning where the one before ends (empty regions are allowed, for empty tensors);
 * tensor names are distinct; every tensor lies at or after {@code dataStart}, which lies in {@code [0, size]}.
 *
 * @param format the name of the format that read the file ({@link TensorFormat#name()}), recorded in snapshots
 * @param fileName the name used in messages
 * @param size the size of the file in bytes
 * @param dataStart the offset that the format's tensor offsets count from (safetensors: 8 + header length);
 *     snapshots record tensors relative to it
 * @param regions the regions in file order
 * @param metadata the format's typed metadata, {@link FormatMetadata#NONE} if it has none
 */
public record FileLayout(String format, String fileName, long size, long dataStart, List<Region> regions,
    FormatMetadata metadata) {
  /**
   * Copies the regions and checks the guarantees above.
   *
   * @throws NullPointerException if an argument or a region is null
   * @throws IllegalArgumentException naming the file, the region and the offsets if a guarantee does not hold
   */
  public FileLayout {
    Objects.requireNonNull(format, "format");
    Objects.requireNonNull(fileName, "fileName");
    Objects.requireNonNull(metadata, "metadata");
    regions = List.copyOf(Objects.requireNonNull(regions, "regions"));
    if (size < 0 || dataStart < 0 || dataStart > size) {
      throw new IllegalArgumentException(
          fileName + ": data start " + dataStart + " is outside the file of " + size + " bytes");
    }
    long at = 0;
    Set<String> names = new HashSet<>();
    for (int i = 0; i < regions.size(); i++) {
      Region r = regions.get(i);
      if (r.start() != at) {
        throw new IllegalArgumentException(fileName + ": region " + i + " (" + r + ") starts at byte " + r.start()
            + " but the regions before it end at " + at + " (" + format + " layouts must cover the file in order)");
      }
      if (r instanceof Region.Tensor t) {
        if (!names.add(t.name())) {
          throw new IllegalArgumentException(fileName + ": tensor '" + t.name() + "' appears twice in the layout");
        }
        if (t.start() < dataStart) {
          throw new IllegalArgumentException(fileName + ": tensor '" + t.name() + "' starts at byte " + t.start()
              + ", before the data start " + dataStart);
        }
      }
      at = r.end();
    }
    if (at != size) {
      throw new IllegalArgumentException(
          fileName + ": regions end at byte " + at + " but the file has " + size + " bytes");
    }
  }

  /** The tensor regions, in file order. */
  public List<Region.Tensor> tensorRegions() {
    List<Region.Tensor> out = new ArrayList<>();
    for (Region r : regions) {
      if (r instanceof Region.Tensor t) {
        out.add(t);
      }
    }
    return out;
  }

  /** The tensors with offsets relative to {@link #dataStart()}, in file order, as snapshots record them. */
  public List<TensorInfo> tensors() {
    List<TensorInfo> out = new ArrayList<>();
    for (Region r : regions) {
      if (r instanceof Region.Tensor t) {
        out.add(t.info(dataStart));
      }
    }
    return out;
  }

  /** The metadata if it is of the given type (a format's own metadata record), else empty. */
  public <M extends FormatMetadata> Optional<M> metadata(Class<M> type) {
    return type.isInstance(metadata) ? Optional.of(type.cast(metadata)) : Optional.empty();
  }
}
