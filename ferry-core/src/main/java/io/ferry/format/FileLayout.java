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
 * <p>The tensor table the snapshot records is normally the tensor regions themselves. A format whose tensors are
 * views into shared buffers (a PyTorch checkpoint: tensors are views of storages, several may share one) gives its
 * own table instead: the regions are then the buffers (chunks follow them), and each tensor of the table lies inside
 * one tensor region, so that its chunks are that region's chunks. Its names are distinct too; ranges may overlap.
 *
 * @param format the name of the format that read the file ({@link TensorFormat#name()}), recorded in snapshots
 * @param fileName the name used in messages
 * @param size the size of the file in bytes
 * @param dataStart the offset that the format's tensor offsets count from (safetensors: 8 + header length);
 *     snapshots record tensors relative to it
 * @param regions the regions in file order
 * @param metadata the format's typed metadata, {@link FormatMetadata#NONE} if it has none
 * @param tensors the tensor table the snapshot records, offsets relative to {@code dataStart}: the tensor regions in
 *     file order (pass null to get them), or a format's own table of views into them (see above)
 */
public record FileLayout(String format, String fileName, long size, long dataStart, List<Region> regions,
    FormatMetadata metadata, List<TensorInfo> tensors) {
  /** A layout whose tensor table is its tensor regions, in file order. */
  public FileLayout(String format, String fileName, long size, long dataStart, List<Region> regions,
      FormatMetadata metadata) {
    this(format, fileName, size, dataStart, regions, metadata, null);
  }

  /**
   * Copies the regions and the table and checks the guarantees above.
   *
   * @throws NullPointerException if an argument but {@code tensors}, a region or a tensor is null
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
    List<TensorInfo> own = regionTable(regions, dataStart);
    if (tensors == null) {
      tensors = own;
    } else {
      tensors = List.copyOf(tensors);
      if (!tensors.equals(own)) {
        checkViews(fileName, dataStart, regions, tensors);
      }
    }
  }

  private static List<TensorInfo> regionTable(List<Region> regions, long dataStart) {
    List<TensorInfo> out = new ArrayList<>();
    for (Region r : regions) {
      if (r instanceof Region.Tensor t) {
        out.add(t.info(dataStart));
      }
    }
    return out;
  }

  /** A table of views: distinct names, each tensor inside one tensor region. */
  private static void checkViews(String fileName, long dataStart, List<Region> regions, List<TensorInfo> tensors) {
    List<Region.Tensor> buffers = new ArrayList<>();
    for (Region r : regions) {
      if (r instanceof Region.Tensor t) {
        buffers.add(t);
      }
    }
    long[] starts = new long[buffers.size()];
    for (int i = 0; i < starts.length; i++) {
      starts[i] = buffers.get(i).start();
    }
    Set<String> names = new HashSet<>();
    for (TensorInfo t : tensors) {
      if (!names.add(t.name())) {
        throw new IllegalArgumentException(fileName + ": tensor '" + t.name() + "' appears twice in the table");
      }
      long from = dataStart + t.begin();
      long to = dataStart + t.end();
      int lo = 0;
      int hi = starts.length - 1;
      int i = -1;
      while (lo <= hi) {
        int mid = (lo + hi) >>> 1;
        if (starts[mid] <= from) {
          i = mid;
          lo = mid + 1;
        } else {
          hi = mid - 1;
        }
      }
      if (i < 0 || to > buffers.get(i).end()) {
        throw new IllegalArgumentException(fileName + ": tensor '" + t.name() + "' at bytes [" + from + ", " + to
            + ") is not inside one tensor region of the layout");
      }
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

  /** The metadata if it is of the given type (a format's own metadata record), else empty. */
  public <M extends FormatMetadata> Optional<M> metadata(Class<M> type) {
    return type.isInstance(metadata) ? Optional.of(type.cast(metadata)) : Optional.empty();
  }
}
