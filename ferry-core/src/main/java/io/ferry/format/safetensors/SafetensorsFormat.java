package io.ferry.format.safetensors;

import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.Region;
import io.ferry.format.TensorFormat;
import io.ferry.format.TensorInfo;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Safetensors as a {@link TensorFormat}: files ending in {@code .safetensors}, read and validated by
 * {@link SafetensorsReader}. The layout is the header ({@code [0, 8 + N)}: length field and JSON, padding spaces
 * included) followed by the tensors in file order.
 *
 * <p>Recognised by its file name only: the format has no magic number (a length and a {@code '{'}), so a probe of the
 * bytes would claim opaque files by accident, and files of other names were always stored opaque, which their
 * snapshot ids depend on.
 */
public final class SafetensorsFormat implements TensorFormat {
  /** The format's name, as snapshots record it. */
  public static final String NAME = "safetensors";

  /** Creates the format; it holds no state. */
  public SafetensorsFormat() {}

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public Set<String> extensions() {
    return Set.of(".safetensors");
  }

  /** @throws io.ferry.error.InvalidInputException with {@link SafetensorsReader}'s messages */
  @Override
  public FileLayout read(FormatInput in) throws IOException {
    return layout(SafetensorsReader.read(in.name(), in.channel()));
  }

  /** The layout of a validated header: the header region, then each tensor. */
  public static FileLayout layout(SafetensorsHeader h) {
    List<Region> regions = new ArrayList<>(h.tensors().size() + 1);
    regions.add(new Region.Header(0, h.dataStart()));
    for (TensorInfo t : h.tensors()) {
      regions.add(Region.Tensor.of(t, h.dataStart()));
    }
    return new FileLayout(NAME, h.fileName(), h.fileSize(), h.dataStart(), regions,
        new SafetensorsMetadata(h.metadata()));
  }
}
